/* cli.c -- parse options and print usage from one git-style option table. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "passthrough.h"

#define HELP_COLUMN 30

void slt_usage_line(FILE *out, const char *flag, const char *help) {
    int n = fprintf(out, "    %s", flag);
    if (n >= HELP_COLUMN) { fputc('\n', out); n = 0; }
    fprintf(out, "%*s%s\n", HELP_COLUMN - n + 1, "", help);
}

static void option_usage(FILE *out, const struct slt_option *o) {
    char flag[128];
    int n = 0;
    if (o->short_name) n = snprintf(flag, sizeof(flag), "-%c, ", o->short_name);
    n += snprintf(flag + n, sizeof(flag) - n, "--%s", o->long_name);
    if (o->type == SLT_OPT_CHOICE)
        snprintf(flag + n, sizeof(flag) - n, " <%s>", o->argh);
    else if (o->type != SLT_OPT_BOOL)
        snprintf(flag + n, sizeof(flag) - n, " <%s>", o->argh);
    slt_usage_line(out, flag, o->help);
}

void slt_usage(FILE *out, const char *const *usage, const struct slt_option *opts) {
    for (int i = 0; usage[i]; i++)
        fprintf(out, "%s%s\n", i ? "   or: " : "usage: ", usage[i]);
    fputc('\n', out);
    for (const struct slt_option *o = opts; o->type != SLT_OPT_END; o++) {
        if (o->type == SLT_OPT_GROUP) { fprintf(out, "%s%s\n", o == opts ? "" : "\n", o->help); continue; }
        if (o->type == SLT_OPT_PASSTHROUGH) {
            fprintf(out, "%s%s\n", o == opts ? "" : "\n", o->help);
            slt_passthrough_usage(out);
            continue;
        }
        option_usage(out, o);
    }
    slt_usage_line(out, "-h, --help", "show this help");
}

static int has_passthrough(const struct slt_option *opts) {
    for (const struct slt_option *o = opts; o->type != SLT_OPT_END; o++)
        if (o->type == SLT_OPT_PASSTHROUGH) return 1;
    return 0;
}

static int bad(const char *const *usage, const struct slt_option *opts, const char *fmt,
               const char *a, const char *b) {
    fprintf(stderr, "sockleak: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n\n");
    slt_usage(stderr, usage, opts);
    return -1;
}

static int choice_ok(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *c = choices; *c; ) {
        const char *e = strchr(c, '|');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == n && !strncmp(c, v, n)) return 1;
        c = e ? e + 1 : c + len;
    }
    return 0;
}

/* Store value into o's variable; returns 0 or an error message. */
static const char *store(const struct slt_option *o, const char *value) {
    struct slt_strlist *l;
    char *end;
    switch (o->type) {
    case SLT_OPT_BOOL:
        *(int *)o->value = 1;
        return NULL;
    case SLT_OPT_STRING_LIST:
        l = o->value;
        l->v = realloc(l->v, (l->n + 2) * sizeof(*l->v));
        if (!l->v) return "out of memory";
        l->v[l->n++] = value;
        l->v[l->n] = NULL;
        return NULL;
    case SLT_OPT_INT:
        errno = 0;
        long n = strtol(value, &end, 10);
        if (errno || *end || end == value || n < 0) return "expects a whole number >= 0";
        *(long *)o->value = n;
        return NULL;
    case SLT_OPT_CHOICE:
        if (!choice_ok(o->argh, value)) return "has an unknown value";
        /* fall through */
    default:
        *(const char **)o->value = value;
        return NULL;
    }
}

static const struct slt_option *find_long(const struct slt_option *opts, const char *name, size_t len) {
    for (const struct slt_option *o = opts; o->type != SLT_OPT_END; o++)
        if (o->long_name && strlen(o->long_name) == len && !strncmp(o->long_name, name, len)) return o;
    return NULL;
}

static const struct slt_option *find_short(const struct slt_option *opts, int c) {
    for (const struct slt_option *o = opts; o->type != SLT_OPT_END; o++)
        if (o->short_name == c && o->type != SLT_OPT_GROUP) return o;
    return NULL;
}

/* A flag for the shim, "--grace-ms=100" or "--grace-ms 100". Returns the
 * number of extra arguments used, or -1. */
static int parse_passthrough(char **argv, int i, int argc, const char *const *usage,
                             const struct slt_option *opts) {
    char name[128], err[256];
    const char *arg = argv[i] + 2, *eq = strchr(arg, '=');
    snprintf(name, sizeof(name), "%.*s", (int)(eq ? eq - arg : (long)strlen(arg)), arg);
    int negated, used = 0;
    struct slt_passthrough *p = has_passthrough(opts) ? slt_passthrough_find(name, &negated) : NULL;
    if (!p) return bad(usage, opts, "unknown option --%s%s", name, "");
    const char *value = eq ? eq + 1 : NULL;
    if (!value && strcmp(p->type, "BOOL")) {
        if (i + 1 >= argc) return bad(usage, opts, "option --%s %s", name, "requires a value");
        value = argv[i + 1];
        used = 1;
    }
    if (slt_passthrough_set(p, value, negated, err, sizeof(err)))
        return bad(usage, opts, "option --%s %s", name, err);
    return used;
}

/* Returns the number of extra arguments used (a separate value), or -1. */
static int parse_one(char **argv, int i, int argc, const char *const *usage,
                     const struct slt_option *opts) {
    const char *arg = argv[i], *value = NULL;
    const struct slt_option *o;
    char name[128];
    if (arg[1] == '-') {
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (!(o = find_long(opts, arg + 2, len))) return parse_passthrough(argv, i, argc, usage, opts);
        snprintf(name, sizeof(name), "--%s", o->long_name);
        value = eq ? eq + 1 : NULL;
    } else {
        if (!(o = find_short(opts, arg[1]))) return bad(usage, opts, "unknown option %s%s", arg, "");
        snprintf(name, sizeof(name), "-%c", o->short_name);
        value = arg[2] ? arg + 2 : NULL;
    }
    int used = 0;
    if (o->type == SLT_OPT_BOOL && value) return bad(usage, opts, "option %s %s", name, "takes no value");
    if (o->type != SLT_OPT_BOOL && !value) {
        if (i + 1 >= argc) return bad(usage, opts, "option %s %s", name, "requires a value");
        value = argv[i + 1];
        used = 1;
    }
    const char *err = store(o, value);
    if (err) return bad(usage, opts, "option %s %s", name, err);
    return used;
}

int slt_parse_options(int argc, char **argv, const struct slt_option *opts,
                      const char *const *usage, int stop_at_arg) {
    int nargs = 0, i = 1;
    for (; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "--")) { i++; break; }
        if (a[0] != '-' || a[1] == '\0') {
            if (stop_at_arg) break;
            argv[nargs++] = a;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            slt_usage(stdout, usage, opts);
            exit(0);
        }
        int used = parse_one(argv, i, argc, usage, opts);
        if (used < 0) return -1;
        i += used;
    }
    while (i < argc) argv[nargs++] = argv[i++];
    argv[nargs] = NULL;
    return nargs;
}
