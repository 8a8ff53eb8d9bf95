/* suppress.c -- parse and match "leak:PATTERN" suppressions (the shim's
 * report and the sockleak command both use this file). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <fcntl.h>

#include "suppress.h"

/* Glob with '*' only, anchored at both ends of text. One saved star bounds
 * the backtracking: O(len(p) * len(t)), never exponential. */
static int glob_whole(const char *p, const char *t)
{
    const char *star = NULL, *retry = NULL;
    while (*t != '\0') {
        if (*p == '*') {
            star = ++p;
            retry = t;
        } else if (*p != '\0' && *p == *t) {
            p++;
            t++;
        } else if (star != NULL) {
            p = star;
            t = ++retry;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

int sl_suppress_match(const char *pattern, const char *text)
{
    if (pattern == NULL || text == NULL || *text == '\0')
        return 0;
    /* "foo" matches anywhere, as "*foo*"; "^foo" only at the start and
     * "foo$" only at the end. */
    size_t n = strlen(pattern);
    int head = pattern[0] == '^', tail = n > (size_t)head && pattern[n - 1] == '$';
    size_t core = n - (size_t)head - (size_t)tail;
    char *g = malloc(core + 3), *w = g;
    if (g == NULL)
        return 0;
    if (!head)
        *w++ = '*';
    memcpy(w, pattern + head, core);
    w += core;
    if (!tail)
        *w++ = '*';
    *w = '\0';
    int hit = glob_whole(g, text);
    free(g);
    return hit;
}

static int add(struct sl_suppressions *s, const char *pat, size_t len)
{
    struct sl_suppression *v = realloc(s->v, (s->n + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    s->v = v;
    v[s->n].pattern = strndup(pat, len);
    v[s->n].hits = 0;
    if (v[s->n].pattern == NULL)
        return -1;
    s->n++;
    return 0;
}

/* One line: blank, "# comment" or "leak:PATTERN"; surrounding space ignored. */
static int parse_line(struct sl_suppressions *s, const char *b, const char *e,
                      const char *src, long lineno, char *err, size_t errlen)
{
    while (b < e && strchr(" \t\r", *b))
        b++;
    while (e > b && strchr(" \t\r", e[-1]))
        e--;
    if (b == e || *b == '#')
        return 0;
    if (e - b < 5 || strncmp(b, "leak:", 5) != 0) {
        snprintf(err, errlen, "%s:%ld: expected \"leak:PATTERN\", got \"%.*s\"",
                 src, lineno, (int)(e - b > 60 ? 60 : e - b), b);
        return -1;
    }
    for (b += 5; b < e && strchr(" \t", *b); b++) {}
    if (b == e) {
        snprintf(err, errlen, "%s:%ld: empty pattern after \"leak:\"", src, lineno);
        return -1;
    }
    if (add(s, b, (size_t)(e - b)) != 0) {
        snprintf(err, errlen, "%s:%ld: out of memory", src, lineno);
        return -1;
    }
    return 0;
}

int sl_suppress_parse(struct sl_suppressions *s, const char *text, const char *src,
                      char *err, size_t errlen)
{
    long lineno = 0;
    for (const char *b = text; *b != '\0';) {
        const char *e = strchr(b, '\n');
        if (e == NULL)
            e = b + strlen(b);
        if (parse_line(s, b, e, src, ++lineno, err, errlen) != 0)
            return -1;
        b = *e ? e + 1 : e;
    }
    return 0;
}

/* Read all of a regular file of at most SL_SUPPRESS_MAX_BYTES into a new
 * NUL-terminated buffer. A FIFO, a device (/dev/zero) or a directory is
 * refused up front, and nothing blocks: the open is non-blocking. */
static char *read_small_file(const char *path, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read suppressions file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > SL_SUPPRESS_MAX_BYTES) {
        snprintf(err, errlen, "cannot read suppressions file %s: %s", path,
                 !S_ISREG(st.st_mode) ? "not a regular file"
                 : "larger than 1 MiB (the limit for a suppressions file)");
        close(fd);
        return NULL;
    }
    char *text = malloc((size_t)st.st_size + 2);
    size_t got = 0;
    ssize_t n = 0;
    /* One byte more than fstat said: a file that grew is read to the limit only. */
    while (text != NULL && got <= (size_t)st.st_size &&
           ((n = read(fd, text + got, (size_t)st.st_size + 1 - got)) > 0 ||
            (n < 0 && errno == EINTR)))
        got += n > 0 ? (size_t)n : 0;
    close(fd);
    if (text == NULL || n < 0 || got > (size_t)st.st_size) {
        snprintf(err, errlen, "cannot read suppressions file %s: %s", path,
                 text == NULL ? "out of memory" : n < 0 ? strerror(errno)
                 : "it grew while being read");
        free(text);
        return NULL;
    }
    text[got] = '\0';
    *len = got;
    return text;
}

int sl_suppress_load(struct sl_suppressions *s, const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *text = read_small_file(path, &len, err, errlen);
    if (text == NULL)
        return -1;
    if (memchr(text, '\0', len) != NULL) {
        snprintf(err, errlen, "cannot read suppressions file %s: %s", path,
                 "binary data (a NUL byte) in the file");
        free(text);
        return -1;
    }
    int rc = sl_suppress_parse(s, text, path, err, errlen);
    free(text);
    return rc;
}

long sl_suppress_find(const struct sl_suppressions *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < n; j++)
            if (names[j] != NULL && sl_suppress_match(s->v[i].pattern, names[j]))
                return (long)i;
    return -1;
}

long sl_suppress_find_frame(const struct sl_suppressions *s, const char *function,
                            const char *file, const char *module)
{
    const char *fslash = file ? strrchr(file, '/') : NULL;
    const char *mslash = module ? strrchr(module, '/') : NULL;
    const char *names[] = { function, file, fslash ? fslash + 1 : NULL,
                            module, mslash ? mslash + 1 : NULL };
    return sl_suppress_find(s, names, sizeof(names) / sizeof(names[0]));
}

void sl_suppress_free(struct sl_suppressions *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].pattern);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}
