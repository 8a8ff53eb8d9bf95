/* suppress.h -- LeakSanitizer-style suppressions: "leak:PATTERN" lines
 * matched against the function, source file and module of every frame of a
 * creation stack. Shared by the shim and the sockleak command. */
#ifndef SL_SUPPRESS_H
#define SL_SUPPRESS_H

#include <stddef.h>

struct sl_suppression {
    char *pattern;
    size_t hits;        /* leaks (sockets) it suppressed */
};

struct sl_suppressions {
    struct sl_suppression *v;
    size_t n;
};

/* 1 if pattern matches text: '*' matches any run of characters; the pattern
 * may match anywhere in text unless anchored with a leading '^' or a
 * trailing '$' (LeakSanitizer's TemplateMatch). */
int sl_suppress_match(const char *pattern, const char *text);

/* Parse suppression text (lines "leak:PATTERN", '#' comments, blank lines).
 * Appends to *s. On a bad line, writes "LINE: reason" into err and returns
 * -1 (the lines before it are kept). */
int sl_suppress_parse(struct sl_suppressions *s, const char *text, char *err, size_t errlen);

/* Read and parse a file; -1 with err "cannot read PATH: reason" etc. */
int sl_suppress_load(struct sl_suppressions *s, const char *path, char *err, size_t errlen);

/* Index of the first suppression matching any of the names (NULL entries
 * are skipped), or -1. */
long sl_suppress_find(const struct sl_suppressions *s, const char *const *names, size_t n);

void sl_suppress_free(struct sl_suppressions *s);

#endif
