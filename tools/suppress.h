/* suppress.h -- LeakSanitizer-style suppressions: "leak:PATTERN" lines matched against creation stacks. */
#ifndef SLT_SUPPRESS_H
#define SLT_SUPPRESS_H

#include <stddef.h>

#include "reader.h"

struct slt_suppression {
    char *pattern;
    size_t hits;      /* leaked sockets it suppressed */
};

struct slt_suppressions {
    struct slt_suppression *v;
    size_t n, cap;
};

/* As LeakSanitizer: '*' matches any run of characters, the pattern matches
 * anywhere in the name unless anchored with a leading '^' or trailing '$'. */
int slt_supp_pattern_match(const char *pattern, const char *name);

/* Add the suppressions in text (a file's contents; src names it in
 * errors). Returns 0, or -1 with err set to "src:LINE: reason". */
int slt_supp_parse(struct slt_suppressions *s, const char *text, const char *src,
                   char *err, size_t errlen);

/* Read and parse the file path (see slt_supp_parse). */
int slt_supp_load(struct slt_suppressions *s, const char *path, char *err, size_t errlen);

/* Index of the first suppression matching a frame of l (function, source
 * file or module, full path or basename), or -1. */
int slt_supp_match(const struct slt_suppressions *s, const struct slt_leak *l);

/* Mark every leak of r that a suppression matches and count the hits. */
void slt_supp_apply(struct slt_suppressions *s, struct slt_report *r);

void slt_supp_free(struct slt_suppressions *s);

#endif
