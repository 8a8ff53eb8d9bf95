/* suppress.c -- parse suppression files and match their patterns against creation stacks. */
#include "suppress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Plain '*' glob, whole string; the backtracking is bounded by one saved
 * star, so hostile patterns cost O(len(p) * len(s)), never exponential. */
static int glob(const char *p, const char *s) {
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') { star = p++; resume = s; continue; }
        if (*p && *p == *s) { p++; s++; continue; }
        if (!star) return 0;
        p = star + 1;
        s = ++resume;
    }
    while (*p == '*') p++;
    return *p == '\0';
}

int slt_supp_pattern_match(const char *pattern, const char *name) {
    if (!name || !*name) return 0;
    size_t n = strlen(pattern);
    int start = n > 0 && pattern[0] == '^';
    int end = n > (size_t)start && pattern[n - 1] == '$';
    char *g = malloc(n + 3), *w = g;
    if (!g) { perror("sockleak"); exit(2); }
    if (!start) *w++ = '*';
    memcpy(w, pattern + start, n - start - end);
    w += n - start - end;
    if (!end) *w++ = '*';
    *w = '\0';
    int hit = glob(g, name);
    free(g);
    return hit;
}

static int add(struct slt_suppressions *s, const char *pat, size_t len) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct slt_suppression *v = realloc(s->v, cap * sizeof(*v));
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n].pattern = strndup(pat, len);
    s->v[s->n].hits = 0;
    return s->v[s->n++].pattern ? 0 : -1;
}

/* One line: blank, "# comment" or "leak:PATTERN"; surrounding space ignored. */
static int parse_one(struct slt_suppressions *s, const char *b, const char *e,
                     const char *src, long lineno, char *err, size_t errlen) {
    while (b < e && strchr(" \t\r", *b)) b++;
    while (e > b && strchr(" \t\r", e[-1])) e--;
    if (b == e || *b == '#') return 0;
    const char *colon = memchr(b, ':', (size_t)(e - b));
    if (!colon || colon - b != 4 || strncmp(b, "leak", 4)) {
        snprintf(err, errlen, "%s:%ld: expected \"leak:PATTERN\", got \"%.*s\"",
                 src, lineno, (int)(e - b > 60 ? 60 : e - b), b);
        return -1;
    }
    for (b = colon + 1; b < e && strchr(" \t", *b); b++) {}
    if (b == e) {
        snprintf(err, errlen, "%s:%ld: empty pattern after \"leak:\"", src, lineno);
        return -1;
    }
    if (add(s, b, (size_t)(e - b))) { snprintf(err, errlen, "out of memory"); return -1; }
    return 0;
}

int slt_supp_parse(struct slt_suppressions *s, const char *text, const char *src,
                   char *err, size_t errlen) {
    long lineno = 0;
    for (const char *b = text; *b; ) {
        const char *e = strchr(b, '\n');
        if (!e) e = b + strlen(b);
        if (parse_one(s, b, e, src, ++lineno, err, errlen)) return -1;
        b = *e ? e + 1 : e;
    }
    return 0;
}

int slt_supp_load(struct slt_suppressions *s, const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read suppressions %s: %s", path, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    char buf[4096];
    size_t n;
    while (m && (n = fread(buf, 1, sizeof(buf), f)) > 0) fwrite(buf, 1, n, m);
    int bad = ferror(f) || !m;
    fclose(f);
    if (m) fclose(m);
    if (bad || memchr(text, '\0', len)) {
        snprintf(err, errlen, "cannot read suppressions %s: %s", path,
                 bad ? "read error" : "binary data (a NUL byte) in the file");
        free(text);
        return -1;
    }
    int rc = slt_supp_parse(s, text, path, err, errlen);
    free(text);
    return rc;
}

static const char *base_name(const char *p) {
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p;
}

static int frame_matches(const char *pat, const struct slt_frame *f) {
    return slt_supp_pattern_match(pat, f->function) ||
           slt_supp_pattern_match(pat, f->file) ||
           slt_supp_pattern_match(pat, base_name(f->file)) ||
           slt_supp_pattern_match(pat, f->module) ||
           slt_supp_pattern_match(pat, base_name(f->module));
}

int slt_supp_match(const struct slt_suppressions *s, const struct slt_leak *l) {
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < l->nframes; j++)
            if (frame_matches(s->v[i].pattern, &l->frames[j])) return (int)i;
    return -1;
}

void slt_supp_apply(struct slt_suppressions *s, struct slt_report *r) {
    for (size_t i = 0; i < r->nleaks; i++) {
        int k = slt_supp_match(s, &r->leaks[i]);
        r->leaks[i].suppressed_by = k;
        if (k >= 0) s->v[k].hits++;
    }
}

void slt_supp_free(struct slt_suppressions *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i].pattern);
    free(s->v);
    memset(s, 0, sizeof(*s));
}
