/* suppress.c -- parse and match "leak:PATTERN" suppressions. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suppress.h"

/* Glob with '*' only, anchored at both ends of text. */
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
    char buf[512];
    if (pattern == NULL || text == NULL)
        return 0;
    /* "foo" matches anywhere, as "*foo*"; "^foo" only at the start and
     * "foo$" only at the end. */
    size_t n = strlen(pattern);
    int head = pattern[0] == '^', tail = n > (size_t)head && pattern[n - 1] == '$';
    size_t core = n - (size_t)head - (size_t)tail;
    if (core + 3 > sizeof(buf))
        return 0;
    size_t len = 0;
    if (!head)
        buf[len++] = '*';
    memcpy(buf + len, pattern + head, core);
    len += core;
    if (!tail)
        buf[len++] = '*';
    buf[len] = '\0';
    return glob_whole(buf, text);
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

int sl_suppress_parse(struct sl_suppressions *s, const char *text, char *err, size_t errlen)
{
    int lineno = 0;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        const char *end = nl ? nl : line + strlen(line);
        lineno++;
        while (line < end && (*line == ' ' || *line == '\t'))
            line++;
        while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            end--;
        if (line < end && *line != '#') {
            if ((size_t)(end - line) <= 5 || strncmp(line, "leak:", 5) != 0) {
                snprintf(err, errlen, "line %d: expected \"leak:PATTERN\", got \"%.*s\"",
                         lineno, (int)(end - line > 80 ? 80 : end - line), line);
                return -1;
            }
            if (add(s, line + 5, (size_t)(end - line - 5)) != 0) {
                snprintf(err, errlen, "line %d: out of memory", lineno);
                return -1;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

int sl_suppress_load(struct sl_suppressions *s, const char *path, char *err, size_t errlen)
{
    char msg[256];
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read suppressions file %s: %s", path, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *t = realloc(text, cap = cap ? cap * 2 : 8192);
            if (t == NULL)
                break;
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    if (text == NULL) {
        snprintf(err, errlen, "cannot read suppressions file %s: out of memory", path);
        return -1;
    }
    text[len] = '\0';
    int rc = sl_suppress_parse(s, text, msg, sizeof(msg));
    if (rc != 0)
        snprintf(err, errlen, "suppressions file %s %s", path, msg);
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

void sl_suppress_free(struct sl_suppressions *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].pattern);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}
