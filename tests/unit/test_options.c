/* test_options.c -- unit tests of the SOCKLEAK_OPTIONS parser (shim/options.c). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "options.h"

#define MAX_LINES 64

/* Warnings and help lines captured from the parser. */
static char lines[MAX_LINES][1024];
static int nlines;
static char buf[4096];

static void capture(const char *msg)
{
    if (nlines < MAX_LINES)
        snprintf(lines[nlines], sizeof(lines[0]), "%s", msg);
    nlines++;
}

static int reset_capture(void **state)
{
    (void)state;
    nlines = 0;
    memset(lines, 0, sizeof(lines));
    return 0;
}

/* Each field against the default text its table row declares. */
static void check_BOOL(const char *name, const char *def, int v, const char *choices)
{
    (void)choices;
    int want = strcmp(def, "1") == 0 || strcmp(def, "true") == 0;
    if (v != want)
        fail_msg("%s is %d, default %s", name, v, def);
}

static void check_INT(const char *name, const char *def, long v, const char *choices)
{
    (void)choices;
    if (v != strtol(def, NULL, 10))
        fail_msg("%s is %ld, default %s", name, v, def);
}

static void check_STR(const char *name, const char *def, const char *v, const char *choices)
{
    (void)choices;
    if (v == NULL || strcmp(v, def) != 0)
        fail_msg("%s is \"%s\", default \"%s\"", name, v ? v : "(null)", def);
}

static void check_ENUM(const char *name, const char *def, int v, const char *choices)
{
    int index = 0;
    size_t len = strlen(def);
    for (const char *p = choices; strncmp(p, def, len) != 0 || (p[len] != '|' && p[len]);
         p = strchr(p, '|') + 1)
        index++;
    if (v != index)
        fail_msg("%s is %d, default %s (index %d in %s)", name, v, def, index, choices);
}

#define CHOICES_BOOL(name) NULL
#define CHOICES_INT(name)  NULL
#define CHOICES_STR(name)  NULL
#define CHOICES_ENUM(name) SL_ENUM_##name

static void assert_defaults(const struct sl_options *o)
{
    /* Every option, as declared in options.inc ... */
#define SL_OPTION(type, name, def, help) check_##type(#name, def, o->name, CHOICES_##type(name));
#include "options.inc"
#undef SL_OPTION
    /* ... and the ones users rely on: text to stderr, exit status untouched. */
    assert_string_equal(o->log_path, "");
    assert_int_equal(o->format, SL_FORMAT_TEXT);
    assert_int_equal(o->exitcode, 0);
    assert_int_equal(o->help, 0);
}

/* No string (or an empty one) gives the documented defaults, silently. */
static void test_options_defaults(void **state)
{
    struct sl_options o;
    (void)state;
    memset(&o, 0x5a, sizeof(o));
    assert_int_equal(sl_options_parse(&o, NULL, buf, sizeof(buf), capture), 0);
    assert_defaults(&o);
    memset(&o, 0x5a, sizeof(o));
    assert_int_equal(sl_options_parse(&o, "", buf, sizeof(buf), capture), 0);
    assert_defaults(&o);
    assert_int_equal(nlines, 0);
}

/* Each row's default text, parsed as a value, is valid (no warning). */
static void test_options_table_defaults_parse(void **state)
{
    struct sl_options o;
    (void)state;
    for (size_t i = 0; i < sl_option_count; i++) {
        char spec[256];
        snprintf(spec, sizeof(spec), "%s=%s", sl_option_table[i].name, sl_option_table[i].def);
        assert_int_equal(sl_options_parse(&o, spec, buf, sizeof(buf), capture), 0);
    }
    assert_int_equal(nlines, 0);
}

/* A string setting every option (every value form) applies them all. */
static void test_options_full_valid_string(void **state)
{
    struct sl_options o;
    const char *spec =
        "log_path=/tmp/sl=report:format=json:exitcode=23:fail_on=any:"
        "report_open=false:report_inherited=true:max_sockets=0:stack_depth=64:"
        "verbose=1:grace_ms=250:scan_ms=0:snapshot_signal=SIGUSR2:snapshot_s=7:"
        "suppressions=/etc/sl.supp:help=0";
    (void)state;
    assert_int_equal(sl_options_parse(&o, spec, buf, sizeof(buf), capture), 0);
    assert_int_equal(nlines, 0);
    assert_string_equal(o.log_path, "/tmp/sl=report");
    assert_int_equal(o.format, SL_FORMAT_JSON);
    assert_int_equal(o.exitcode, 23);
    assert_int_equal(o.fail_on, SL_FAIL_ANY);
    assert_int_equal(o.report_open, 0);
    assert_int_equal(o.report_inherited, 1);
    assert_int_equal(o.max_sockets, 0);
    assert_int_equal(o.stack_depth, 64);
    assert_int_equal(o.verbose, 1);
    assert_int_equal(o.grace_ms, 250);
    assert_int_equal(o.scan_ms, 0);
    assert_string_equal(o.snapshot_signal, "SIGUSR2");
    assert_int_equal(o.snapshot_s, 7);
    assert_string_equal(o.suppressions, "/etc/sl.supp");
    assert_int_equal(o.help, 0);
}

/* Empty entries and spaces before a key are tolerated. */
static void test_options_empty_entries_and_spaces(void **state)
{
    struct sl_options o;
    (void)state;
    assert_int_equal(sl_options_parse(&o, "::verbose=1:: max_sockets=4:", buf, sizeof(buf),
                                      capture), 0);
    assert_int_equal(nlines, 0);
    assert_int_equal(o.verbose, 1);
    assert_int_equal(o.max_sockets, 4);
}

struct bad_case {
    const char *entry;   /* the bad entry */
    const char *names;   /* what the one warning must quote */
};

/* Every bad entry (unknown key, bad bool, negative, garbage or overflowing
 * int, bad enum value, missing '=', empty value) yields exactly one warning
 * naming the option; that option keeps its default and the good entries
 * around it still apply. */
static void test_options_bad_entries_warn_once_keep_default(void **state)
{
    static const struct bad_case cases[] = {
        { "no_such_option=1", "'no_such_option'" },
        { "no_such_option", "'no_such_option'" },
        { "Verbose=1", "'Verbose'" },
        { "verbose=yes", "'verbose'" },
        { "verbose=2", "'verbose'" },
        { "report_open=", "'report_open'" },
        { "exitcode=-1", "'exitcode'" },
        { "exitcode=12abc", "'exitcode'" },
        { "exitcode=abc", "'exitcode'" },
        { "exitcode=99999999999999999999999", "'exitcode'" },
        { "exitcode= ", "'exitcode'" },
        { "format=xml", "'format'" },
        { "format=JSON", "'format'" },
        { "format=text|json", "'format'" },
        { "format=", "'format'" },
        { "fail_on=close", "'fail_on'" },
        { "verbose", "'verbose'" },
        { "max_sockets", "'max_sockets'" },
    };
    struct sl_options d;
    (void)state;
    sl_options_parse(&d, NULL, buf, sizeof(buf), capture);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_options o;
        char spec[256];
        /* Good entries on both sides of the bad one. */
        snprintf(spec, sizeof(spec), "grace_ms=77:%s:scan_ms=5", cases[i].entry);
        reset_capture(NULL);
        int bad = sl_options_parse(&o, spec, buf, sizeof(buf), capture);
        if (bad != 1 || nlines != 1 || strstr(lines[0], cases[i].names) == NULL)
            fail_msg("entry \"%s\": %d bad, %d warnings, first: %s", cases[i].entry,
                     bad, nlines, nlines ? lines[0] : "(none)");
        assert_int_equal(o.grace_ms, 77);
        assert_int_equal(o.scan_ms, 5);
        assert_int_equal(o.verbose, d.verbose);
        assert_int_equal(o.report_open, d.report_open);
        assert_int_equal(o.exitcode, d.exitcode);
        assert_int_equal(o.format, d.format);
        assert_int_equal(o.fail_on, d.fail_on);
        assert_int_equal(o.max_sockets, d.max_sockets);
    }
}

/* A value outside its option's range is refused with one warning that
 * names the option and the range; the default stays. Values at the ends
 * of the range are accepted. */
static void test_options_out_of_range_values_are_refused(void **state)
{
    static const struct { const char *entry, *names, *range; } refused[] = {
        { "exitcode=256", "'exitcode'", "from 0 to 255" },
        { "exitcode=1000", "'exitcode'", "from 0 to 255" },
        { "stack_depth=0", "'stack_depth'", "from 1 to 64" },
        { "stack_depth=65", "'stack_depth'", "from 1 to 64" },
        { "grace_ms=9223372036854775807", "'grace_ms'", "from 0 to 604800000" },
        { "grace_ms=-5", "'grace_ms'", "" },
        { "snapshot_s=99999999999", "'snapshot_s'", "from 0 to 604800" },
        { "snapshot_s=-1", "'snapshot_s'", "" },
        { "scan_ms=3600001", "'scan_ms'", "from 0 to 3600000" },
        { "max_sockets=1000001", "'max_sockets'", "from 0 to 1000000" },
        { "snapshot_signal=SIGSEGV", "'snapshot_signal'", "not SIGSEGV" },
        { "snapshot_signal=BUS", "'snapshot_signal'", "not SIGSEGV" },
        { "snapshot_signal=SIGILL", "'snapshot_signal'", "" },
        { "snapshot_signal=SIGFPE", "'snapshot_signal'", "" },
        { "snapshot_signal=SIGPIPE", "'snapshot_signal'", "" },
        { "snapshot_signal=SIGABRT", "'snapshot_signal'", "" },
        { "snapshot_signal=9", "'snapshot_signal'", "" },
        { "snapshot_signal=SIGSTOP", "'snapshot_signal'", "" },
        { "snapshot_signal=SIGNOPE", "'snapshot_signal'", "" },
        { "snapshot_signal=0", "'snapshot_signal'", "" },
    };
    struct sl_options d;
    (void)state;
    sl_options_parse(&d, NULL, buf, sizeof(buf), capture);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct sl_options o;
        reset_capture(NULL);
        int bad = sl_options_parse(&o, refused[i].entry, buf, sizeof(buf), capture);
        if (bad != 1 || nlines != 1 || strstr(lines[0], refused[i].names) == NULL ||
            strstr(lines[0], refused[i].range) == NULL)
            fail_msg("entry \"%s\": %d bad, %d warnings, first: %s", refused[i].entry,
                     bad, nlines, nlines ? lines[0] : "(none)");
        assert_int_equal(o.exitcode, d.exitcode);
        assert_int_equal(o.stack_depth, d.stack_depth);
        assert_int_equal(o.grace_ms, d.grace_ms);
        assert_int_equal(o.snapshot_s, d.snapshot_s);
        assert_string_equal(o.snapshot_signal, d.snapshot_signal);
    }
    struct sl_options o;
    reset_capture(NULL);
    assert_int_equal(sl_options_parse(&o, "exitcode=255:stack_depth=64:grace_ms=604800000:"
                                      "snapshot_signal=SIGUSR2", buf, sizeof(buf), capture), 0);
    assert_int_equal(o.exitcode, 255);
    assert_int_equal(o.stack_depth, 64);
    assert_int_equal(o.grace_ms, 604800000);
    assert_string_equal(o.snapshot_signal, "SIGUSR2");
    assert_int_equal(sl_options_parse(&o, "exitcode=1:stack_depth=1:snapshot_signal=12",
                                      buf, sizeof(buf), capture), 0);
    assert_int_equal(o.exitcode, 1);
    assert_int_equal(o.stack_depth, 1);
}

/* Several bad entries in one string: one warning each, counted. */
static void test_options_several_bad_entries_counted(void **state)
{
    struct sl_options o, d;
    (void)state;
    sl_options_parse(&d, NULL, buf, sizeof(buf), capture);
    int bad = sl_options_parse(&o, "format=yaml:bogus=1:max_sockets=3:stack_depth=-2",
                               buf, sizeof(buf), capture);
    assert_int_equal(bad, 3);
    assert_int_equal(nlines, 3);
    assert_non_null(strstr(lines[0], "'format'"));
    assert_non_null(strstr(lines[1], "'bogus'"));
    assert_non_null(strstr(lines[2], "'stack_depth'"));
    assert_int_equal(o.format, d.format);
    assert_int_equal(o.max_sockets, 3);
    assert_int_equal(o.stack_depth, d.stack_depth);
}

/* A string too long for the buffer warns once and leaves the defaults. */
static void test_options_too_long_keeps_defaults(void **state)
{
    struct sl_options o;
    char small[16];
    (void)state;
    int bad = sl_options_parse(&o, "verbose=1:max_sockets=3", small, sizeof(small), capture);
    assert_int_equal(bad, 1);
    assert_int_equal(nlines, 1);
    assert_defaults(&o);
}

/* The caller's string is not modified (it is usually getenv's). */
static void test_options_spec_not_modified(void **state)
{
    struct sl_options o;
    char spec[] = "verbose=1:format=json";
    (void)state;
    sl_options_parse(&o, spec, buf, sizeof(buf), capture);
    assert_string_equal(spec, "verbose=1:format=json");
}

/* help=1 lists every option of the table, one line each, with its default
 * and its help text, and enum options with their choices. */
static void test_options_help_lists_every_option(void **state)
{
    (void)state;
    sl_options_help(capture);
    assert_int_equal(nlines, (int)sl_option_count + 1);
    for (size_t i = 0; i < sl_option_count; i++) {
        const struct sl_option_desc *d = &sl_option_table[i];
        int found = 0;
        for (int l = 0; l < nlines && l < MAX_LINES; l++) {
            const char *name = strstr(lines[l], d->name);
            /* The name as a word, then the help text and the default. */
            if (name == NULL || (name > lines[l] && name[-1] != '\t' && name[-1] != ' ') ||
                (name[strlen(d->name)] != ' ' && name[strlen(d->name)] != '\t'))
                continue;
            if (strstr(lines[l], d->help) == NULL)
                continue;
            char def[128];
            snprintf(def, sizeof(def), "default: %s", *d->def ? d->def : "\"\"");
            if (strstr(lines[l], def) == NULL)
                continue;
            if (d->choices && strstr(lines[l], d->choices) == NULL)
                continue;
            found++;
        }
        if (found != 1)
            fail_msg("option %s appears %d times in help", d->name, found);
    }
}

/* Untrusted bytes in a bad key or value are shown escaped: the warning is
 * one printable line (no newline or terminal escape from the environment). */
static void test_options_warning_escapes_control_bytes(void **state)
{
    (void)state;
    assert_int_equal(sl_options_parse(&(struct sl_options){ 0 }, "bo\ngus=1:format=\x1b[2Jx",
                                      buf, sizeof(buf), capture), 2);
    assert_int_equal(nlines, 2);
    for (int i = 0; i < 2; i++)
        for (const char *p = lines[i]; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
    assert_non_null(strstr(lines[0], "unknown option 'bo\\x0agus'"));
    assert_non_null(strstr(lines[1], "bad value '\\x1b[2Jx' for option 'format'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_options_defaults, reset_capture),
        cmocka_unit_test_setup(test_options_table_defaults_parse, reset_capture),
        cmocka_unit_test_setup(test_options_full_valid_string, reset_capture),
        cmocka_unit_test_setup(test_options_empty_entries_and_spaces, reset_capture),
        cmocka_unit_test_setup(test_options_bad_entries_warn_once_keep_default, reset_capture),
        cmocka_unit_test_setup(test_options_out_of_range_values_are_refused, reset_capture),
        cmocka_unit_test_setup(test_options_several_bad_entries_counted, reset_capture),
        cmocka_unit_test_setup(test_options_too_long_keeps_defaults, reset_capture),
        cmocka_unit_test_setup(test_options_spec_not_modified, reset_capture),
        cmocka_unit_test_setup(test_options_help_lists_every_option, reset_capture),
        cmocka_unit_test_setup(test_options_warning_escapes_control_bytes, reset_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
