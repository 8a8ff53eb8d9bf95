/* analyze.h -- the pipeline shared by "run" and "report": read, suppress, group, baseline, write. */
#ifndef SLT_ANALYZE_H
#define SLT_ANALYZE_H

#include <stdio.h>

#include "baseline.h"
#include "group.h"
#include "reader.h"
#include "suppress.h"

#define SLT_EXIT_LEAKS 23   /* leaks of a --fail-on kind were reported */
#define SLT_EXIT_ERROR 2    /* bad usage or unreadable input */

/* What the user asked for; the strings belong to the caller. */
struct slt_analyze_opts {
    const char *format;          /* text, json or sarif */
    const char *output;          /* NULL or "-": stdout */
    const char *fail_on;         /* close_wait, received, any or none */
    const char **suppressions;   /* files, NULL-terminated */
    const char *baseline;
    const char *write_baseline;
    long max_sockets;            /* text: sockets listed per group (0: all) */
};

struct slt_analysis {
    const struct slt_analyze_opts *opts;
    struct slt_report report;
    struct sl_suppressions supp;
    struct slt_grouping groups;
    /* totals over the groups not accepted by the baseline */
    size_t new_groups, new_leaks, new_close_wait, new_open, new_received, new_other;
    size_t known_groups, known_leaks, suppressed;
    long opened, closed;
};

/* Whether leaks of this kind make the exit status 23 under fail_on. */
int slt_kind_fails(const char *fail_on, const char *kind);

/* Everything after the reports are read: suppress, group, baseline, totals. */
int slt_analyze(struct slt_analysis *a, char *err, size_t errlen);

/* Read the files, analyze, write the chosen format; returns the exit
 * status: 23 when new leaks of a fail_on kind remain, 0 otherwise,
 * SLT_EXIT_ERROR on bad input. */
int slt_analyze_files(const struct slt_analyze_opts *o, char *const *files, int nfiles);

void slt_analysis_free(struct slt_analysis *a);

/* The writers: the same grouped data in three formats. */
void slt_write_text(FILE *out, const struct slt_analysis *a);
void slt_write_json(FILE *out, const struct slt_analysis *a);
void slt_write_sarif(FILE *out, const struct slt_analysis *a);

#endif
