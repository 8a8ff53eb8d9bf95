/* analyze.c -- run the reports through suppressions, grouping and the baseline; pick the writer and exit status. */
#include "analyze.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int slt_kind_fails(const char *fail_on, const char *kind) {
    if (!fail_on || !strcmp(fail_on, "close_wait")) return !strcmp(kind, "close_wait");
    if (!strcmp(fail_on, "received"))
        return !strcmp(kind, "close_wait") || !strcmp(kind, "received");
    return !strcmp(fail_on, "any");
}

static void count_totals(struct slt_analysis *a) {
    for (size_t i = 0; i < a->groups.n; i++) {
        const struct slt_group *g = &a->groups.groups[i];
        if (g->baselined) { a->known_groups++; a->known_leaks += g->n; continue; }
        a->new_groups++;
        a->new_leaks += g->n;
        if (!strcmp(g->kind, "close_wait")) a->new_close_wait += g->n;
        else if (!strcmp(g->kind, "open_at_exit")) a->new_open += g->n;
        else if (!strcmp(g->kind, "received")) a->new_received += g->n;
        else a->new_other += g->n;
    }
    for (size_t i = 0; i < a->supp.n; i++) a->suppressed += a->supp.v[i].hits;
    for (size_t i = 0; i < a->report.nprocs; i++) {
        a->opened += a->report.procs[i].opened;
        a->closed += a->report.procs[i].closed;
    }
}

int slt_analyze(struct slt_analysis *a, char *err, size_t errlen) {
    const struct slt_analyze_opts *o = a->opts;
    for (const char **s = o->suppressions; s && *s; s++)
        if (sl_suppress_load(&a->supp, *s, err, errlen)) return -1;
    slt_report_finish(&a->report);
    slt_supp_apply(&a->supp, &a->report);
    slt_group_build(&a->groups, &a->report);
    if (o->baseline) {
        struct slt_baseline b;
        if (slt_baseline_load(&b, o->baseline, err, errlen)) return -1;
        slt_baseline_apply(&b, &a->groups);
        slt_baseline_free(&b);
    }
    if (o->write_baseline) {
        if (slt_baseline_write(&a->groups, o->write_baseline, err, errlen)) return -1;
        /* what was just recorded is accepted, as it would be next run */
        for (size_t i = 0; i < a->groups.n; i++) a->groups.groups[i].baselined = 1;
    }
    count_totals(a);
    return 0;
}

static int exit_status(const struct slt_analysis *a) {
    for (size_t i = 0; i < a->groups.n; i++) {
        const struct slt_group *g = &a->groups.groups[i];
        if (!g->baselined && slt_kind_fails(a->opts->fail_on, g->kind)) return SLT_EXIT_LEAKS;
    }
    return 0;
}

static int write_output(const struct slt_analysis *a) {
    const struct slt_analyze_opts *o = a->opts;
    int to_stdout = !o->output || !strcmp(o->output, "-");
    FILE *out = to_stdout ? stdout : fopen(o->output, "w");
    if (!out) {
        fprintf(stderr, "sockleak: cannot write %s: %s\n", o->output, strerror(errno));
        return -1;
    }
    if (o->format && !strcmp(o->format, "json")) slt_write_json(out, a);
    else if (o->format && !strcmp(o->format, "sarif")) slt_write_sarif(out, a);
    else slt_write_text(out, a);
    int bad = fflush(out) != 0 || ferror(out);
    if (!to_stdout) bad |= fclose(out) != 0;
    if (bad) fprintf(stderr, "sockleak: error writing %s\n", to_stdout ? "stdout" : o->output);
    return bad ? -1 : 0;
}

int slt_analyze_files(const struct slt_analyze_opts *o, char *const *files, int nfiles) {
    struct slt_analysis a;
    char err[512];
    memset(&a, 0, sizeof(a));
    a.opts = o;
    slt_report_init(&a.report);
    int unreadable = 0;
    for (int i = 0; i < nfiles; i++)
        unreadable |= slt_report_read_file(&a.report, files[i], stderr) != 0;
    int rc;
    if (slt_analyze(&a, err, sizeof(err))) {
        fprintf(stderr, "sockleak: %s\n", err);
        rc = SLT_EXIT_ERROR;
    } else {
        rc = write_output(&a) ? SLT_EXIT_ERROR : exit_status(&a);
        if (a.report.bad_lines)
            fprintf(stderr, "sockleak: %zu malformed report line%s skipped\n",
                    a.report.bad_lines, a.report.bad_lines == 1 ? "" : "s");
        if (unreadable && rc == 0) rc = SLT_EXIT_ERROR;
    }
    slt_analysis_free(&a);
    return rc;
}

void slt_analysis_free(struct slt_analysis *a) {
    slt_group_free(&a->groups);
    sl_suppress_free(&a->supp);
    slt_report_free(&a->report);
}
