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

/* Parse suppression text (lines "leak:PATTERN", '#' comments, blank lines)
 * and append to *s; src names the text in errors. On a bad line, writes
 * "SRC:LINE: reason" into err and returns -1 (the lines before it are kept). */
int sl_suppress_parse(struct sl_suppressions *s, const char *text, const char *src,
                      char *err, size_t errlen);

/* Suppression files are short lists of patterns; a bigger one is a mistake. */
#define SL_SUPPRESS_MAX_BYTES (1 << 20)

/* Read and parse a file: a regular file of at most SL_SUPPRESS_MAX_BYTES,
 * opened without blocking (a FIFO or /dev/zero is refused, never waited
 * on). -1 with err naming the file (and line, or what is wrong with it). */
int sl_suppress_load(struct sl_suppressions *s, const char *path, char *err, size_t errlen);

/* Index of the first suppression matching any of the names (NULL entries
 * are skipped), or -1. */
long sl_suppress_find(const struct sl_suppressions *s, const char *const *names, size_t n);

/* The same for one stack frame: its function, its source file and module
 * (full path and base name). */
long sl_suppress_find_frame(const struct sl_suppressions *s, const char *function,
                            const char *file, const char *module);

void sl_suppress_free(struct sl_suppressions *s);

#endif
