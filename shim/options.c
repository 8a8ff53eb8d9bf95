/* options.c -- parse SOCKLEAK_OPTIONS ("key=value:key=value") against the
 * table in options.inc; bad entries warn once each and keep the default. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

#define SL_CHOICES(type, name) SL_CHOICES_##type(name)
#define SL_CHOICES_BOOL(name) NULL
#define SL_CHOICES_INT(name)  NULL
#define SL_CHOICES_STR(name)  NULL
#define SL_CHOICES_ENUM(name) SL_ENUM_##name

const struct sl_option_desc sl_option_table[] = {
#define SL_OPTION(type, name, def, help) { #type, #name, def, help, SL_CHOICES(type, name) },
#include "options.inc"
#undef SL_OPTION
};
const size_t sl_option_count = sizeof(sl_option_table) / sizeof(sl_option_table[0]);

/* Index of word (len bytes) in "a|b|c", or -1. */
static int enum_index(const char *choices, const char *word, size_t len)
{
    int i = 0;
    for (const char *p = choices; ; i++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, word, len) == 0)
            return i;
        if (bar == NULL)
            return -1;
        p = bar + 1;
    }
}

/* Convert text to the option's type; 0 on success. */
static int convert(const struct sl_option_desc *d, const char *text, long *num)
{
    if (strcmp(d->type, "BOOL") == 0) {
        if (!strcmp(text, "1") || !strcmp(text, "true")) { *num = 1; return 0; }
        if (!strcmp(text, "0") || !strcmp(text, "false")) { *num = 0; return 0; }
        return -1;
    }
    if (strcmp(d->type, "INT") == 0) {
        char *end;
        errno = 0;
        long v = strtol(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || v < 0)
            return -1;
        *num = v;
        return 0;
    }
    if (strcmp(d->type, "ENUM") == 0) {
        int i = enum_index(d->choices, text, strlen(text));
        if (i < 0)
            return -1;
        *num = i;
        return 0;
    }
    return 0;   /* STR: any text */
}

/* Store a converted value into the field for table row idx. */
static void store(struct sl_options *o, size_t idx, const char *text, long num)
{
    size_t i = 0;
#define SL_STORE_BOOL(f) o->f = (int)num
#define SL_STORE_INT(f)  o->f = num
#define SL_STORE_STR(f)  o->f = text
#define SL_STORE_ENUM(f) o->f = (int)num
#define SL_OPTION(type, name, def, help) if (i++ == idx) { SL_STORE_##type(name); return; }
#include "options.inc"
#undef SL_OPTION
    (void)text;
    (void)num;
}

static void set_defaults(struct sl_options *o)
{
    for (size_t i = 0; i < sl_option_count; i++) {
        long num = 0;
        convert(&sl_option_table[i], sl_option_table[i].def, &num);
        store(o, i, sl_option_table[i].def, num);
    }
}

static const struct sl_option_desc *lookup(const char *key, size_t *idx)
{
    for (size_t i = 0; i < sl_option_count; i++)
        if (strcmp(sl_option_table[i].name, key) == 0) {
            *idx = i;
            return &sl_option_table[i];
        }
    return NULL;
}

/* Copy at most 100 bytes of untrusted text for a warning, each byte that is
 * not printable ASCII as \xNN, so a warning stays one harmless line. */
static const char *printable(char *out, size_t len, const char *text)
{
    size_t o = 0;
    for (size_t i = 0; text[i] != '\0' && i < 100 && o + 5 < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
    }
    out[o] = '\0';
    return out;
}

/* The accepted range of each INT option: a wider value would overflow
 * (grace_ms in nanoseconds) or wrap (an exit status is 8 bits: exitcode=256
 * would exit 0 and pass CI). */
static const struct { const char *name; long min, max; } int_ranges[] = {
    { "exitcode", 0, 255 },
    { "max_sockets", 0, 1000000 },
    { "stack_depth", 1, 64 },
    { "grace_ms", 0, 7L * 24 * 3600 * 1000 },
    { "scan_ms", 0, 3600 * 1000 },
    { "snapshot_s", 0, 7L * 24 * 3600 },
};

static int int_range(const char *name, long *min, long *max)
{
    for (size_t i = 0; i < sizeof(int_ranges) / sizeof(int_ranges[0]); i++)
        if (strcmp(int_ranges[i].name, name) == 0) {
            *min = int_ranges[i].min;
            *max = int_ranges[i].max;
            return 1;
        }
    return 0;
}

/* Signals a snapshot must not take over: the program crashes, aborts or
 * stops on them, or cannot catch them at all. */
static const int refused_signals[] = {
    SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGPIPE, SIGABRT, SIGKILL, SIGSTOP,
};

int sl_signal_number(const char *name)
{
    char *end;
    if (name == NULL || *name == '\0')
        return -1;
    long n = strtol(name, &end, 10);
    if (*end == '\0')
        return n > 0 && n < NSIG ? (int)n : -1;
    if (strncmp(name, "SIG", 3) == 0)
        name += 3;
    for (int i = 1; i < NSIG; i++) {
        const char *abbrev = sigabbrev_np(i);
        if (abbrev != NULL && strcmp(abbrev, name) == 0)
            return i;
    }
    return -1;
}

static int signal_allowed(const char *name)
{
    int sig = sl_signal_number(name);
    if (sig <= 0)
        return 0;
    for (size_t i = 0; i < sizeof(refused_signals) / sizeof(refused_signals[0]); i++)
        if (sig == refused_signals[i])
            return 0;
    return 1;
}

/* Whether a converted value is in its option's range; if not, what is. */
static int in_range(const struct sl_option_desc *d, const char *text, long num,
                    char *expected, size_t size)
{
    long min, max;
    if (strcmp(d->type, "INT") == 0 && int_range(d->name, &min, &max)) {
        snprintf(expected, size, "a whole number from %ld to %ld", min, max);
        return num >= min && num <= max;
    }
    if (strcmp(d->name, "snapshot_signal") == 0) {
        snprintf(expected, size, "a signal name or number the program does not crash, "
                 "abort or stop on, e.g. SIGUSR2; not SIGSEGV, SIGBUS, SIGILL, SIGFPE, "
                 "SIGPIPE, SIGABRT, SIGKILL or SIGSTOP");
        return *text == '\0' || signal_allowed(text);
    }
    return 1;
}

/* Apply one "key=value" entry (modified in place); 0 if it was good. */
static int apply(struct sl_options *o, char *entry, void (*warn)(const char *))
{
    char msg[1024], shown[512];
    char *eq = strchr(entry, '=');
    size_t idx;
    const struct sl_option_desc *d;
    long num = 0;

    if (eq != NULL)
        *eq = '\0';
    d = lookup(entry, &idx);
    if (d == NULL) {
        snprintf(msg, sizeof(msg), "sockleak: SOCKLEAK_OPTIONS: unknown option '%s' "
                 "ignored (SOCKLEAK_OPTIONS=help=1 lists them)", printable(shown, sizeof(shown), entry));
        warn(msg);
        return -1;
    }
    char expected[256];
    snprintf(expected, sizeof(expected), "%s%s",
             strcmp(d->type, "ENUM") == 0 ? "one of " : "",
             strcmp(d->type, "ENUM") == 0 ? d->choices
             : strcmp(d->type, "BOOL") == 0 ? "0 or 1"
             : strcmp(d->type, "INT") == 0 ? "a whole number >= 0" : "text");
    if (eq == NULL || convert(d, eq + 1, &num) != 0 ||
        !in_range(d, eq + 1, num, expected, sizeof(expected))) {
        snprintf(msg, sizeof(msg), "sockleak: SOCKLEAK_OPTIONS: bad value '%s' for "
                 "option '%s' (expected %s); ignored, the default is '%s'",
                 printable(shown, sizeof(shown), eq ? eq + 1 : ""), d->name,
                 expected, d->def);
        warn(msg);
        return -1;
    }
    store(o, idx, eq + 1, num);
    return 0;
}

int sl_options_parse(struct sl_options *o, const char *spec, char *buf,
                     size_t bufsize, void (*warn)(const char *msg))
{
    int bad = 0;
    set_defaults(o);
    if (spec == NULL || *spec == '\0')
        return 0;
    if (strlen(spec) >= bufsize) {
        warn("sockleak: SOCKLEAK_OPTIONS is too long; using the defaults");
        return 1;
    }
    strcpy(buf, spec);
    for (char *save = NULL, *e = strtok_r(buf, ":", &save); e != NULL;
         e = strtok_r(NULL, ":", &save)) {
        while (*e == ' ')
            e++;
        if (*e != '\0' && apply(o, e, warn) != 0)
            bad++;
    }
    return bad;
}

void sl_options_help(void (*out)(const char *line))
{
    char line[512];
    out("sockleak: SOCKLEAK_OPTIONS=key=value:key=value... Available options:");
    for (size_t i = 0; i < sl_option_count; i++) {
        const struct sl_option_desc *d = &sl_option_table[i];
        snprintf(line, sizeof(line), "\t%-17s - %s (default: %s%s%s%s)", d->name, d->help,
                 *d->def ? d->def : "\"\"", d->choices ? "; one of " : "",
                 d->choices ? d->choices : "", "");
        out(line);
    }
}
