/* test_cli.c -- option tables: parsing, usage text and the flags generated from shim/options.inc. */
#include "fixtures.h"

#include "commands.h"
#include "passthrough.h"

static const char *const usage[] = { "sockleak test [options] ARGS", NULL };

static int parse(int argc, char **argv, const char **fmt, long *max, struct slt_strlist *supp,
                 int stop) {
    const struct slt_option opts[] = {
        OPT_CHOICE(0, "format", fmt, "text|json|sarif", "format"),
        OPT_INT(0, "max-sockets", max, "n", "cap"),
        OPT_STRING_LIST(0, "suppressions", supp, "file", "supp"),
        OPT_PASSTHROUGH("pass"),
        OPT_END(),
    };
    return slt_parse_options(argc, argv, opts, usage, stop);
}

/* --x=v, --x v, repeated lists; arguments kept in order around options. */
static void test_cli_parse(void **state) {
    (void)state;
    const char *fmt = "text";
    long max = 10;
    struct slt_strlist supp = {0};
    char *argv[] = { "t", "a.jsonl", "--format=json", "--max-sockets", "3", "b.jsonl",
                     "--suppressions", "s1", "--suppressions=s2", "--", "--format", NULL };
    assert_int_equal(parse(11, argv, &fmt, &max, &supp, 0), 3);
    assert_string_equal(fmt, "json");
    assert_int_equal(max, 3);
    assert_int_equal(supp.n, 2);
    assert_string_equal(supp.v[1], "s2");
    assert_string_equal(argv[0], "a.jsonl");
    assert_string_equal(argv[1], "b.jsonl");
    assert_string_equal(argv[2], "--format");
    free(supp.v);
}

/* With stop_at_arg, COMMAND's own options stay COMMAND's. */
static void test_cli_stop_at_command(void **state) {
    (void)state;
    const char *fmt = "text";
    long max = 10;
    struct slt_strlist supp = {0};
    char *argv[] = { "t", "--format", "sarif", "curl", "--format", "x", NULL };
    assert_int_equal(parse(6, argv, &fmt, &max, &supp, 1), 3);
    assert_string_equal(fmt, "sarif");
    assert_string_equal(argv[0], "curl");
    assert_string_equal(argv[1], "--format");
}

/* Unknown options, bad choices and missing values are errors. */
static void test_cli_errors(void **state) {
    (void)state;
    const char *fmt = "text";
    long max = 10;
    struct slt_strlist supp = {0};
    char *a1[] = { "t", "--nope", NULL }, *a2[] = { "t", "--format=xml", NULL },
         *a3[] = { "t", "--max-sockets", NULL }, *a4[] = { "t", "--max-sockets=-1", NULL },
         *a5[] = { "t", "--grace-ms=soon", NULL }, *a6[] = { "t", "--log-path=/x", NULL };
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w");
    assert_int_equal(parse(2, a1, &fmt, &max, &supp, 0), -1);
    assert_int_equal(parse(2, a2, &fmt, &max, &supp, 0), -1);
    assert_int_equal(parse(2, a3, &fmt, &max, &supp, 0), -1);
    assert_int_equal(parse(2, a4, &fmt, &max, &supp, 0), -1);
    assert_int_equal(parse(2, a5, &fmt, &max, &supp, 0), -1);
    assert_int_equal(parse(2, a6, &fmt, &max, &supp, 0), -1);  /* the command owns log_path */
    fclose(stderr);
    stderr = saved;
}

/* Every shim option the command does not own is a flag, in the table's order. */
static void test_cli_passthrough_from_table(void **state) {
    (void)state;
    const char *fmt = "text";
    long max = 10;
    struct slt_strlist supp = {0};
    char *argv[] = { "t", "--grace-ms", "250", "--scan-ms=50", "--no-report-open",
                     "--report-inherited", "--stack-depth=8", NULL };
    char *out = NULL;
    size_t len;
    slt_passthrough_reset();
    assert_int_equal(parse(7, argv, &fmt, &max, &supp, 0), 0);
    FILE *f = open_memstream(&out, &len);
    slt_passthrough_append(f);
    fclose(f);
    assert_string_equal(out, ":report_open=0:report_inherited=1:stack_depth=8:grace_ms=250:scan_ms=50");
    free(out);
    slt_passthrough_reset();
}

/* The usage text lists the generated flags with their help and defaults. */
static void test_cli_usage(void **state) {
    (void)state;
    const char *fmt = "text";
    const struct slt_option opts[] = {
        OPT_CHOICE(0, "format", &fmt, "text|json|sarif", "the output format"),
        OPT_PASSTHROUGH("Passed to the preload library"),
        OPT_END(),
    };
    char *out = NULL;
    size_t len;
    FILE *f = open_memstream(&out, &len);
    slt_usage(f, usage, opts);
    fclose(f);
    assert_non_null(strstr(out, "usage: sockleak test [options] ARGS"));
    assert_non_null(strstr(out, "--format <text|json|sarif>"));
    assert_non_null(strstr(out, "--grace-ms=<n>"));
    /* the default shown is the one the option table declares */
    const char *grace_def = NULL;
    char want[64];
#define SL_OPTION(type, name, def, help) if (strcmp(#name, "grace_ms") == 0) grace_def = def;
#include "options.inc"
#undef SL_OPTION
    assert_non_null(grace_def);
    snprintf(want, sizeof(want), "(default %s)", grace_def);
    assert_non_null(strstr(out, want));
    assert_null(strstr(out, "--log-path"));
    free(out);
}

/* The last value of a SOCKLEAK_OPTIONS key wins, as in the shim. */
static void test_cli_options_get(void **state) {
    (void)state;
    char buf[64];
    assert_null(slt_options_get(NULL, "suppressions", buf, sizeof(buf)));
    assert_string_equal(slt_options_get("suppressions=a:x=1:suppressions=/b", "suppressions", buf, sizeof(buf)), "/b");
    assert_null(slt_options_get("suppressions=a:suppressions=", "suppressions", buf, sizeof(buf)));
    assert_null(slt_options_get("suppressionsx=a", "suppressions", buf, sizeof(buf)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_parse),
        cmocka_unit_test(test_cli_stop_at_command),
        cmocka_unit_test(test_cli_errors),
        cmocka_unit_test(test_cli_passthrough_from_table),
        cmocka_unit_test(test_cli_usage),
        cmocka_unit_test(test_cli_options_get),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
