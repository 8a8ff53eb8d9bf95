/* reader.c -- parse sockleak JSON Lines reports with json-c, rejecting malformed lines one by one. */
#include "reader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* A hostile stack should not make us allocate without bound. */
#define MAX_FRAMES 256
#define MAX_DEPTH 16

void slt_report_init(struct slt_report *r) {
    memset(r, 0, sizeof(*r));
}

static void free_leak(struct slt_leak *l) {
    for (size_t i = 0; i < l->nframes; i++) {
        struct slt_frame *f = &l->frames[i];
        free(f->lang); free(f->pc); free(f->module); free(f->offset);
        free(f->function); free(f->file);
    }
    free(l->frames);
    free(l->kind); free(l->when); free(l->origin);
    free(l->local); free(l->peer); free(l->tcp_state);
    json_object_put(l->obj);
}

void slt_report_free(struct slt_report *r) {
    for (size_t i = 0; i < r->nleaks; i++) free_leak(&r->leaks[i]);
    for (size_t i = 0; i < r->nfiles; i++) free(r->files[i]);
    free(r->leaks); free(r->sums); free(r->procs); free(r->files);
    slt_report_init(r);
}

static void *xgrow(void *p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return p;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need) n *= 2;
    void *q = realloc(p, n * size);
    if (!q) { perror("sockleak"); exit(2); }
    *cap = n;
    return q;
}

static char *xstrdup(const char *s) {
    char *d = strdup(s);
    if (!d) { perror("sockleak"); exit(2); }
    return d;
}

size_t slt_report_add_source(struct slt_report *r, const char *name) {
    size_t cap = r->nfiles;  /* grow by one: sources are few */
    r->files = xgrow(r->files, &cap, r->nfiles + 1, sizeof(char *));
    r->files[r->nfiles] = xstrdup(name);
    return r->nfiles++;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Optional string field: absent or null gives NULL; any other type is an error. */
static int get_str(struct json_object *o, const char *key, char **out,
                   char *err, size_t errlen) {
    struct json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(o, key, &v) || v == NULL) return 0;
    if (!json_object_is_type(v, json_type_string))
        return fail(err, errlen, "field \"%s\" is not a string", key);
    *out = xstrdup(json_object_get_string(v));
    return 0;
}

/* Optional integer field: absent or null gives def. */
static int get_int(struct json_object *o, const char *key, long def, long *out,
                   char *err, size_t errlen) {
    struct json_object *v;
    *out = def;
    if (!json_object_object_get_ex(o, key, &v) || v == NULL) return 0;
    if (!json_object_is_type(v, json_type_int))
        return fail(err, errlen, "field \"%s\" is not an integer", key);
    errno = 0;
    int64_t n = json_object_get_int64(v);
    if (errno == ERANGE || n < -1 || n > INT32_MAX * 1024LL * 1024)
        return fail(err, errlen, "field \"%s\" is out of range", key);
    *out = (long)n;
    return 0;
}

static int parse_frame(struct json_object *o, struct slt_frame *f, size_t i,
                       char *err, size_t errlen) {
    char why[160];
    struct json_object *v;
    if (!json_object_is_type(o, json_type_object))
        return fail(err, errlen, "stack frame #%zu is not an object", i);
    if (get_str(o, "lang", &f->lang, why, sizeof(why)) ||
        get_int(o, "column", 0, &f->column, why, sizeof(why)) ||
        get_str(o, "pc", &f->pc, why, sizeof(why)) ||
        get_str(o, "module", &f->module, why, sizeof(why)) ||
        get_str(o, "offset", &f->offset, why, sizeof(why)) ||
        get_str(o, "function", &f->function, why, sizeof(why)) ||
        get_str(o, "file", &f->file, why, sizeof(why)) ||
        get_int(o, "line", 0, &f->line, why, sizeof(why)))
        return fail(err, errlen, "stack frame #%zu: %s", i, why);
    if (json_object_object_get_ex(o, "inlined", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_boolean))
            return fail(err, errlen, "stack frame #%zu: field \"inlined\" is not a boolean", i);
        f->inlined = json_object_get_boolean(v);
    }
    return 0;
}

static int parse_stack(struct json_object *o, struct slt_leak *l,
                       char *err, size_t errlen) {
    struct json_object *st;
    if (!json_object_object_get_ex(o, "stack", &st) || st == NULL) return 0;
    if (!json_object_is_type(st, json_type_array))
        return fail(err, errlen, "field \"stack\" is not an array");
    size_t n = json_object_array_length(st);
    if (n > MAX_FRAMES) n = MAX_FRAMES;
    if (n == 0) return 0;
    l->frames = calloc(n, sizeof(*l->frames));
    if (!l->frames) { perror("sockleak"); exit(2); }
    for (size_t i = 0; i < n; i++) {
        l->nframes = i + 1;  /* so free_leak releases what was parsed */
        if (parse_frame(json_object_array_get_idx(st, i), &l->frames[i], i, err, errlen))
            return -1;
    }
    return 0;
}

/* Kinds become SARIF rule ids and baseline keys: keep them to [a-z0-9_]. */
static int kind_ok(const char *k) {
    size_t n = strlen(k);
    if (n == 0 || n > 64) return 0;
    return strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static int parse_leak_fields(struct json_object *o, struct slt_leak *l,
                             char *err, size_t errlen) {
    if (get_str(o, "kind", &l->kind, err, errlen)) return -1;
    if (!l->kind) return fail(err, errlen, "leak without \"kind\"");
    if (!kind_ok(l->kind)) return fail(err, errlen, "unexpected kind \"%.40s\"", l->kind);
    if (get_int(o, "pid", -1, &l->pid, err, errlen)) return -1;
    if (l->pid < 0) return fail(err, errlen, "leak without \"pid\"");
    if (get_str(o, "when", &l->when, err, errlen) ||
        get_str(o, "origin", &l->origin, err, errlen) ||
        get_int(o, "fd", -1, &l->fd, err, errlen) ||
        get_int(o, "stack_id", -1, &l->stack_id, err, errlen) ||
        get_str(o, "local", &l->local, err, errlen) ||
        get_str(o, "peer", &l->peer, err, errlen) ||
        get_str(o, "tcp_state", &l->tcp_state, err, errlen) ||
        get_int(o, "age_ms", -1, &l->age_ms, err, errlen) ||
        get_int(o, "fin_age_ms", -1, &l->fin_age_ms, err, errlen))
        return -1;
    return parse_stack(o, l, err, errlen);
}

static int parse_leak(struct slt_report *r, size_t src, struct json_object *o,
                      char *err, size_t errlen) {
    struct slt_leak l;
    memset(&l, 0, sizeof(l));
    if (parse_leak_fields(o, &l, err, errlen)) {
        free_leak(&l);
        return -1;
    }
    l.file = src;
    l.suppressed_by = -1;
    l.obj = json_object_get(o);
    l.seq = r->nleaks;
    r->leaks = xgrow(r->leaks, &r->leaks_cap, r->nleaks + 1, sizeof(l));
    r->leaks[r->nleaks++] = l;
    return 0;
}

static int parse_summary(struct slt_report *r, size_t src, struct json_object *o,
                         char *err, size_t errlen) {
    struct slt_process p;
    memset(&p, 0, sizeof(p));
    if (get_int(o, "pid", -1, &p.pid, err, errlen) ||
        get_int(o, "sockets_opened", 0, &p.opened, err, errlen) ||
        get_int(o, "sockets_closed", 0, &p.closed, err, errlen) ||
        get_int(o, "exit_status", -1, &p.exit_status, err, errlen))
        return -1;
    if (p.pid < 0) return fail(err, errlen, "summary without \"pid\"");
    p.file = src;
    p.has_summary = 1;
    r->sums = xgrow(r->sums, &r->sums_cap, r->nsums + 1, sizeof(p));
    r->sums[r->nsums++] = p;
    return 0;
}

static int only_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", s[i])) return 0;
    return 1;
}

/* Parse exactly one JSON value filling the whole line: a truncated line or
 * one with trailing junk is an error, not a partial success. */
static struct json_object *parse_json(const char *line, size_t len,
                                      char *err, size_t errlen) {
    if (memchr(line, '\0', len)) {
        fail(err, errlen, "binary data (a NUL byte) in the line");
        return NULL;
    }
    struct json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
    if (!tok) { perror("sockleak"); exit(2); }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *o = json_tokener_parse_ex(tok, line, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (e == json_tokener_continue) {
        fail(err, errlen, "truncated JSON (the line ends inside a value)");
    } else if (e != json_tokener_success) {
        fail(err, errlen, "not valid JSON at column %zu: %s", end + 1,
             json_tokener_error_desc(e));
    } else if (!only_space(line + end, len - end)) {
        fail(err, errlen, "trailing data after the JSON value at column %zu", end + 1);
    } else if (!json_object_is_type(o, json_type_object)) {
        fail(err, errlen, "not a JSON object");
    } else {
        return o;
    }
    json_object_put(o);
    return NULL;
}

int slt_report_parse_line(struct slt_report *r, size_t src, const char *line,
                          size_t len, char *err, size_t errlen) {
    while (len > 0 && strchr(" \t\r\n", line[len - 1])) len--;
    size_t lead = 0;
    while (lead < len && strchr(" \t", line[lead])) lead++;
    if (lead == len) return 0;
    if (len > SLT_MAX_LINE)
        return fail(err, errlen, "line longer than %u bytes", SLT_MAX_LINE);
    if (line[lead] == '=' || !strncmp(line + lead, "SUMMARY:", 8))
        return fail(err, errlen, "a text report line; run with format=json (sockleak run does)");
    struct json_object *o = parse_json(line + lead, len - lead, err, errlen);
    if (!o) return -1;
    struct json_object *ev;
    int rc = 0;
    if (!json_object_object_get_ex(o, "event", &ev) ||
        !json_object_is_type(ev, json_type_string))
        rc = fail(err, errlen, "no \"event\" string");
    else if (!strcmp(json_object_get_string(ev), "leak"))
        rc = parse_leak(r, src, o, err, errlen);
    else if (!strcmp(json_object_get_string(ev), "summary"))
        rc = parse_summary(r, src, o, err, errlen);
    /* other events (closed_late, snapshot, ...) are newer than us: skip */
    json_object_put(o);
    return rc;
}

/* Read one line of at most SLT_MAX_LINE bytes into *buf; a longer line is
 * consumed and reported as too long. Returns the length, or -1 at EOF. */
static long read_line(FILE *f, char **buf, size_t *cap, int *too_long) {
    size_t n = 0;
    int c;
    *too_long = 0;
    while ((c = getc(f)) != EOF) {
        if (n < SLT_MAX_LINE) {
            *buf = xgrow(*buf, cap, n + 2, 1);
            (*buf)[n++] = (char)c;
        } else {
            *too_long = 1;
        }
        if (c == '\n') break;
    }
    if (n == 0 && c == EOF) return -1;
    (*buf)[n] = '\0';
    return (long)n;
}

void slt_report_read_stream(struct slt_report *r, FILE *f, const char *name,
                            FILE *errout) {
    size_t src = slt_report_add_source(r, name);
    char *buf = NULL, err[256];
    size_t cap = 0;
    long n, lineno = 0;
    int too_long;
    while ((n = read_line(f, &buf, &cap, &too_long)) >= 0) {
        lineno++;
        int bad = too_long
            ? fail(err, sizeof(err), "line longer than %u bytes", SLT_MAX_LINE)
            : slt_report_parse_line(r, src, buf, (size_t)n, err, sizeof(err));
        if (bad) {
            r->bad_lines++;
            if (errout) fprintf(errout, "sockleak: %s:%ld: %s; line skipped\n", name, lineno, err);
        }
    }
    free(buf);
}

int slt_report_read_file(struct slt_report *r, const char *path, FILE *errout) {
    if (!strcmp(path, "-")) {
        slt_report_read_stream(r, stdin, "<stdin>", errout);
        return 0;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errout) fprintf(errout, "sockleak: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    slt_report_read_stream(r, f, path, errout);
    int failed = ferror(f);
    fclose(f);
    if (failed && errout) fprintf(errout, "sockleak: error reading %s\n", path);
    return failed ? -1 : 0;
}

static int strcmp0(const char *a, const char *b) {
    return strcmp(a ? a : "", b ? b : "");
}

static int cmp_long(long a, long b) { return (a > b) - (a < b); }

/* Order leaks so that reports of the same socket are adjacent, oldest first. */
static int cmp_socket(const void *pa, const void *pb) {
    const struct slt_leak *a = *(struct slt_leak *const *)pa;
    const struct slt_leak *b = *(struct slt_leak *const *)pb;
    int c;
    if ((c = cmp_long((long)a->file, (long)b->file))) return c;
    if ((c = cmp_long(a->pid, b->pid))) return c;
    if ((c = cmp_long(a->fd, b->fd))) return c;
    if ((c = cmp_long(a->stack_id, b->stack_id))) return c;
    if ((c = strcmp0(a->local, b->local))) return c;
    if ((c = strcmp0(a->peer, b->peer))) return c;
    return cmp_long((long)a->seq, (long)b->seq);
}

static void dedupe(struct slt_report *r) {
    if (r->nleaks < 2) return;
    struct slt_leak **v = malloc(r->nleaks * sizeof(*v));
    if (!v) { perror("sockleak"); exit(2); }
    for (size_t i = 0; i < r->nleaks; i++) v[i] = &r->leaks[i];
    qsort(v, r->nleaks, sizeof(*v), cmp_socket);
    for (size_t i = 0; i + 1 < r->nleaks; i++) {
        struct slt_leak *a = v[i], *b = v[i + 1];
        if (a->file == b->file && a->pid == b->pid && a->fd == b->fd &&
            a->stack_id == b->stack_id && !strcmp0(a->local, b->local) &&
            !strcmp0(a->peer, b->peer))
            a->seq = SIZE_MAX;  /* superseded by b */
    }
    free(v);
    size_t out = 0;
    for (size_t i = 0; i < r->nleaks; i++) {
        if (r->leaks[i].seq == SIZE_MAX) free_leak(&r->leaks[i]);
        else r->leaks[out++] = r->leaks[i];
    }
    r->nleaks = out;
}

static int cmp_proc(const void *pa, const void *pb) {
    const struct slt_process *a = pa, *b = pb;
    int c = cmp_long((long)a->file, (long)b->file);
    return c ? c : cmp_long(a->pid, b->pid);
}

struct proc_rec { struct slt_process p; size_t ord; };

/* Same process together, leaks before summaries, summaries in read order. */
static int cmp_rec(const void *pa, const void *pb) {
    const struct proc_rec *a = pa, *b = pb;
    int c = cmp_proc(&a->p, &b->p);
    return c ? c : cmp_long((long)a->ord, (long)b->ord);
}

/* Every (file, pid) seen in a leak or a summary is one process; the last
 * summary of a process wins. */
static void build_procs(struct slt_report *r) {
    size_t n = r->nleaks + r->nsums, m = 0;
    struct proc_rec *v = calloc(n ? n : 1, sizeof(*v));
    struct slt_process *p = calloc(n ? n : 1, sizeof(*p));
    if (!v || !p) { perror("sockleak"); exit(2); }
    for (size_t i = 0; i < r->nleaks; i++) {
        v[i].p.file = r->leaks[i].file;
        v[i].p.pid = r->leaks[i].pid;
    }
    for (size_t i = 0; i < r->nsums; i++) {
        v[r->nleaks + i].p = r->sums[i];
        v[r->nleaks + i].ord = 1 + i;
    }
    qsort(v, n, sizeof(*v), cmp_rec);
    for (size_t i = 0; i < n; i++) {
        if (m == 0 || cmp_proc(&p[m - 1], &v[i].p)) p[m++] = v[i].p;
        else if (v[i].p.has_summary) p[m - 1] = v[i].p;
    }
    free(v);
    for (size_t i = 0; i < r->nleaks; i++) {
        struct slt_process key = { .file = r->leaks[i].file, .pid = r->leaks[i].pid };
        struct slt_process *hit = bsearch(&key, p, m, sizeof(*p), cmp_proc);
        r->leaks[i].proc = (size_t)(hit - p);
    }
    free(r->procs);
    r->procs = p;
    r->nprocs = m;
}

void slt_report_finish(struct slt_report *r) {
    dedupe(r);
    build_procs(r);
}
