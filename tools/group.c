/* group.c -- fingerprint creation stacks and group leaks across processes. */
#include "group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "langframe.h"

static const char *base_name(const char *p) {
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : (p ? p : "");
}

int slt_frame_is_system(const struct slt_frame *f) {
    if (f->lang) return sl_langframe_is_library(f->lang, f->function, f->file);
    static const char *const prefixes[] = {
        "libc.so", "libc-", "ld-linux", "ld64.so", "ld-", "libpthread",
        "libsockleak", NULL
    };
    const char *b = base_name(f->module);
    for (int i = 0; prefixes[i]; i++)
        if (!strncmp(b, prefixes[i], strlen(prefixes[i]))) return 1;
    return 0;
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A stack with language frames is known by them: function and file base
 * name, not the line (an edit above the call keeps the baseline), and not
 * the runtime's native frames (JIT code moves between runs). */
static int has_lang(const struct slt_leak *l) {
    return l->nframes > 0 && l->frames[0].lang != NULL;
}

static uint64_t lang_fingerprint(uint64_t h, const struct slt_leak *l) {
    for (size_t i = 0; i < l->nframes && l->frames[i].lang; i++) {
        const struct slt_frame *f = &l->frames[i];
        const char *fn = f->function ? f->function : "", *b = base_name(f->file);
        h = fnv1a(h, f->lang, strlen(f->lang) + 1);
        h = fnv1a(h, fn, strlen(fn) + 1);
        h = fnv1a(h, b, strlen(b) + 1);
    }
    return h;
}

uint64_t slt_fingerprint(const struct slt_leak *l) {
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv1a(h, l->kind, strlen(l->kind) + 1);
    if (has_lang(l)) return lang_fingerprint(h, l);
    for (size_t i = 0; i < l->nframes; i++) {
        const struct slt_frame *f = &l->frames[i];
        if (slt_frame_is_system(f)) continue;
        if (f->function && *f->function) {
            h = fnv1a(h, f->function, strlen(f->function) + 1);
            continue;
        }
        /* No name: the module's basename and offset are still stable
         * across runs (not across rebuilds, nothing better is known). */
        const char *b = base_name(f->module), *off = f->offset ? f->offset : "?";
        h = fnv1a(h, b, strlen(b));
        h = fnv1a(h, "+", 1);
        h = fnv1a(h, off, strlen(off) + 1);
    }
    return h;
}

void slt_fingerprint_hex(uint64_t fp, char out[17]) {
    snprintf(out, 17, "%016llx", (unsigned long long)fp);
}

/* The innermost language frame outside the runtime's library, else the
 * innermost language frame (the user's code never called the socket API
 * directly, e.g. a node server's accepted socket). */
static const struct slt_frame *own_lang_frame(const struct slt_leak *l, int need_line) {
    for (size_t i = 0; i < l->nframes && l->frames[i].lang; i++) {
        const struct slt_frame *f = &l->frames[i];
        if (!slt_frame_is_system(f) && (!need_line || (f->file && *f->file && f->line > 0)))
            return f;
    }
    return &l->frames[0];
}

const struct slt_frame *slt_leak_own_frame(const struct slt_leak *l) {
    if (has_lang(l)) return own_lang_frame(l, 0);
    for (size_t i = 0; i < l->nframes; i++)
        if (!slt_frame_is_system(&l->frames[i])) return &l->frames[i];
    return NULL;
}

const struct slt_frame *slt_leak_source_frame(const struct slt_leak *l) {
    if (has_lang(l)) return own_lang_frame(l, 1);
    for (size_t i = 0; i < l->nframes; i++) {
        const struct slt_frame *f = &l->frames[i];
        if (!slt_frame_is_system(f) && f->file && *f->file && f->line > 0) return f;
    }
    return NULL;
}

/* A frame's name for people: its function, else module+offset. */
static void frame_name(const struct slt_frame *f, char *buf, size_t len) {
    if (f->function && *f->function)
        snprintf(buf, len, "%s", f->function);
    else
        snprintf(buf, len, "%s+%s", base_name(f->module), f->offset ? f->offset : "?");
}

void slt_leak_where(const struct slt_leak *l, char *buf, size_t len) {
    const struct slt_frame *own = slt_leak_own_frame(l);
    if (!own && l->nframes) own = &l->frames[0];
    if (!own) { snprintf(buf, len, "an unknown stack"); return; }
    char name[256];
    frame_name(own, name, sizeof(name));
    size_t n;
    if (own->file && *own->file && own->line > 0)
        n = (size_t)snprintf(buf, len, "%s (%s:%ld)", name, base_name(own->file), own->line);
    else
        n = (size_t)snprintf(buf, len, "%s", name);
    int callers = 0;
    int at_main = own->function && !strcmp(own->function, "main");
    for (const struct slt_frame *f = own + 1; !at_main && callers < 3 &&
         f < l->frames + l->nframes && n < len; f++) {
        if (own->lang && !f->lang) break;   /* the interpreter's frames are noise */
        if (slt_frame_is_system(f)) continue;
        frame_name(f, name, sizeof(name));
        n += (size_t)snprintf(buf + n, len - n, " <- %s", name);
        callers++;
        at_main = !strcmp(name, "main");  /* what runs main is noise */
    }
}

int slt_kind_rank(const char *kind) {
    if (!strcmp(kind, "close_wait")) return 0;
    if (!strcmp(kind, "open_at_exit")) return 1;
    return 2;
}

static int cmp_key(const void *pa, const void *pb) {
    const struct slt_leak *a = *(struct slt_leak *const *)pa;
    const struct slt_leak *b = *(struct slt_leak *const *)pb;
    int c = strcmp(a->kind, b->kind);
    if (c) return c;
    if (a->fingerprint != b->fingerprint) return a->fingerprint < b->fingerprint ? -1 : 1;
    if (a->proc != b->proc) return a->proc < b->proc ? -1 : 1;
    if (a->fd != b->fd) return a->fd < b->fd ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static int cmp_group(const void *pa, const void *pb) {
    const struct slt_group *a = pa, *b = pb;
    int c = slt_kind_rank(a->kind) - slt_kind_rank(b->kind);
    if (c) return c;
    if (a->n != b->n) return a->n > b->n ? -1 : 1;
    if ((c = strcmp(a->kind, b->kind))) return c;
    return (a->fingerprint > b->fingerprint) - (a->fingerprint < b->fingerprint);
}

static int cmp_size(const void *pa, const void *pb) {
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    return (a > b) - (a < b);
}

static size_t count_procs(struct slt_group *grp) {
    size_t *p = malloc(grp->n * sizeof(*p)), m = 0;
    if (!p) { perror("sockleak"); exit(2); }
    for (size_t i = 0; i < grp->n; i++) p[i] = grp->leaks[i]->proc;
    qsort(p, grp->n, sizeof(*p), cmp_size);
    for (size_t i = 0; i < grp->n; i++)
        if (i == 0 || p[i] != p[i - 1]) m++;
    free(p);
    return m;
}

void slt_group_build(struct slt_grouping *g, struct slt_report *r) {
    memset(g, 0, sizeof(*g));
    g->all = malloc((r->nleaks ? r->nleaks : 1) * sizeof(*g->all));
    g->groups = malloc((r->nleaks ? r->nleaks : 1) * sizeof(*g->groups));
    if (!g->all || !g->groups) { perror("sockleak"); exit(2); }
    size_t n = 0;
    for (size_t i = 0; i < r->nleaks; i++) {
        r->leaks[i].fingerprint = slt_fingerprint(&r->leaks[i]);
        if (r->leaks[i].suppressed_by < 0) g->all[n++] = &r->leaks[i];
    }
    qsort(g->all, n, sizeof(*g->all), cmp_key);
    for (size_t i = 0; i < n; i++) {
        struct slt_leak *l = g->all[i];
        struct slt_group *last = g->n ? &g->groups[g->n - 1] : NULL;
        if (last && !strcmp(last->kind, l->kind) && last->fingerprint == l->fingerprint) {
            last->n++;
            continue;
        }
        g->groups[g->n++] = (struct slt_group){ .kind = l->kind,
            .fingerprint = l->fingerprint, .leaks = &g->all[i], .n = 1 };
    }
    for (size_t i = 0; i < g->n; i++) g->groups[i].nprocs = count_procs(&g->groups[i]);
    qsort(g->groups, g->n, sizeof(*g->groups), cmp_group);
}

void slt_group_free(struct slt_grouping *g) {
    free(g->all);
    free(g->groups);
    memset(g, 0, sizeof(*g));
}
