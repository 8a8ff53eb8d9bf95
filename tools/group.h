/* group.h -- stack fingerprints and grouping of leaks by (kind, stack) across processes. */
#ifndef SLT_GROUP_H
#define SLT_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"

struct slt_group {
    const char *kind;
    uint64_t fingerprint;
    struct slt_leak **leaks;  /* points into the report; group order */
    size_t n;
    size_t nprocs;            /* distinct processes holding these leaks */
    int baselined;            /* accepted by --baseline */
};

struct slt_grouping {
    struct slt_group *groups;
    size_t n;
    struct slt_leak **all;    /* backing store of every group's leaks */
};

/* Frames of libc, the dynamic loader and the shim itself: never "the
 * program's own code" and left out of fingerprints. */
int slt_frame_is_system(const struct slt_frame *f);

/* FNV-1a 64 over the kind and the function names of the non-system frames
 * (module basename+offset for frames without a name): stable across runs,
 * ASLR and rebuilds that keep the stack's functions. */
uint64_t slt_fingerprint(const struct slt_leak *l);
void slt_fingerprint_hex(uint64_t fp, char out[17]);

/* The innermost frame in the program's own code (NULL if none), and the
 * innermost such frame with a source file and line (for SARIF). */
const struct slt_frame *slt_leak_own_frame(const struct slt_leak *l);
const struct slt_frame *slt_leak_source_frame(const struct slt_leak *l);

/* "db_connect (client.c:42) <- db_login <- main" */
void slt_leak_where(const struct slt_leak *l, char *buf, size_t len);

/* Sort order of kinds: the most actionable first. */
int slt_kind_rank(const char *kind);

/* Fingerprint every leak, then group those not suppressed by (kind,
 * fingerprint); groups sorted close_wait first, then larger first. */
void slt_group_build(struct slt_grouping *g, struct slt_report *r);
void slt_group_free(struct slt_grouping *g);

#endif
