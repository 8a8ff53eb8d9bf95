/* baseline.h -- accepted leaks by stack fingerprint: write the current ones, fail only on new ones. */
#ifndef SLT_BASELINE_H
#define SLT_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#include "group.h"

struct slt_baseline {
    uint64_t *fps;    /* sorted */
    size_t n;
};

/* Read a baseline file written by slt_baseline_write. Returns 0, or -1
 * with err naming the file and what is wrong with it. */
int slt_baseline_load(struct slt_baseline *b, const char *path, char *err, size_t errlen);

/* Mark the groups whose fingerprint the baseline holds; returns how many. */
size_t slt_baseline_apply(const struct slt_baseline *b, struct slt_grouping *g);

/* Record every group of g, with a description people can read. */
int slt_baseline_write(const struct slt_grouping *g, const char *path, char *err, size_t errlen);

void slt_baseline_free(struct slt_baseline *b);

#endif
