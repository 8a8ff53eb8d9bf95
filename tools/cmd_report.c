/* cmd_report.c -- "sockleak report FILE...": merge report files gathered elsewhere. */
#include "commands.h"

#include <stdlib.h>
#include <string.h>

static char env_supp[4096];

const char *slt_options_get(const char *spec, const char *key, char *buf, size_t len) {
    const char *found = NULL;
    size_t klen = strlen(key);
    for (const char *p = spec; p && *p; ) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > klen && !strncmp(p, key, klen) && p[klen] == '=') {
            snprintf(buf, len, "%.*s", (int)(n - klen - 1), p + klen + 1);
            found = n == klen + 1 ? NULL : buf;  /* "key=" resets to the default (none) */
        }
        p = e ? e + 1 : p + n;
    }
    return found;
}

static void add_suppressions(struct slt_strlist *l, const char *path) {
    l->v = realloc(l->v, (l->n + 2) * sizeof(*l->v));
    if (!l->v) { perror("sockleak"); exit(SLT_EXIT_ERROR); }
    l->v[l->n++] = path;
    l->v[l->n] = NULL;
}

void slt_report_flags_init(struct slt_report_flags *f) {
    memset(f, 0, sizeof(*f));
    f->a.format = "text";
    f->a.fail_on = "close_wait";
    f->a.max_sockets = 10;
    if (slt_options_get(getenv("SOCKLEAK_OPTIONS"), "suppressions", env_supp, sizeof(env_supp)))
        add_suppressions(&f->suppressions, env_supp);
}

int slt_report_flags_check(struct slt_report_flags *f) {
    char err[512];
    f->a.suppressions = f->suppressions.v;
    struct sl_suppressions s = {0};
    int rc = 0;
    for (size_t i = 0; i < f->suppressions.n && !rc; i++)
        rc = sl_suppress_load(&s, f->suppressions.v[i], err, sizeof(err));
    sl_suppress_free(&s);
    if (!rc && f->a.baseline) {
        struct slt_baseline b;
        rc = slt_baseline_load(&b, f->a.baseline, err, sizeof(err));
        if (!rc) slt_baseline_free(&b);
    }
    if (rc) fprintf(stderr, "sockleak: %s\n", err);
    return rc;
}

int slt_cmd_report(int argc, char **argv) {
    static const char *const usage[] = { "sockleak report [options] FILE...", NULL };
    struct slt_report_flags f;
    slt_report_flags_init(&f);
    const struct slt_option opts[] = {
        SLT_REPORT_OPTIONS(&f),
        OPT_END(),
    };
    int n = slt_parse_options(argc, argv, opts, usage, 0);
    if (n == 0) {
        fprintf(stderr, "sockleak report: no report files given (\"-\" reads stdin)\n\n");
        slt_usage(stderr, usage, opts);
    }
    int rc = n <= 0 || slt_report_flags_check(&f) ? SLT_EXIT_ERROR
                                                   : slt_analyze_files(&f.a, argv, n);
    free(f.suppressions.v);
    return rc;
}
