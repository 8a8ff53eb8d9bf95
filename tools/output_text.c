/* output_text.c -- the merged report for people, in the shim's text shape (docs/report-format.md). */
#include "analyze.h"

#include <string.h>

#include "langframe.h"

static const char *plural(size_t n, const char *one, const char *many) {
    return n == 1 ? one : many;
}

/* Open when sockleak attach came: nobody saw it created. */
static int pre_attach(const struct slt_leak *l) {
    return l->origin && !strcmp(l->origin, "pre_attach") && l->nframes == 0;
}

static void headline(FILE *out, const struct slt_group *g) {
    char where[1024];
    slt_leak_where(g->leaks[0], where, sizeof(where));
    int detach = g->leaks[0]->when && !strcmp(g->leaks[0]->when, "detach");
    if (g->nprocs == 1) fprintf(out, "==%ld== sockleak: ", g->leaks[0]->pid);
    else fprintf(out, "==sockleak== ");
    const char *s = plural(g->n, "socket", "sockets");
    if (!strcmp(g->kind, "close_wait"))
        fprintf(out, "%zu %s leaked in CLOSE_WAIT (peer closed, never closed here)", g->n, s);
    else if (!strcmp(g->kind, "open_at_exit"))
        fprintf(out, "%zu %s still open at %s (peer has not closed)", g->n, s,
                detach ? "detach" : "exit");
    else if (!strcmp(g->kind, "received"))
        fprintf(out, "%zu %s received through SCM_RIGHTS and still held at %s", g->n, s,
                detach ? "detach" : "exit");
    else
        fprintf(out, "%zu %s leaked (%s)", g->n, s, g->kind);
    if (pre_attach(g->leaks[0])) {
        if (g->nprocs > 1) fprintf(out, ", in %zu processes", g->nprocs);
        fprintf(out, " (attached: creation stack unknown):\n");
        return;
    }
    fprintf(out, " from %s", where);
    if (g->nprocs > 1) fprintf(out, ", in %zu processes", g->nprocs);
    fprintf(out, ", created at:\n");
}

static void stack(FILE *out, const struct slt_leak *l) {
    for (size_t i = 0; i < l->nframes; i++) {
        const struct slt_frame *f = &l->frames[i];
        if (f->lang) {
            char text[4200];
            sl_langframe_text(text, sizeof(text), f->lang, f->function, f->file, f->line, f->column);
            fprintf(out, "    #%zu %s\n", i, text);
            continue;
        }
        fprintf(out, "    #%zu %s in %s", i, f->pc ? f->pc : "0x?", f->function ? f->function : "??");
        if (f->file && *f->file) {
            fprintf(out, " %s", f->file);
            if (f->line > 0) fprintf(out, ":%ld", f->line);
        }
        if (f->module) fprintf(out, " (%s+%s)", f->module, f->offset ? f->offset : "0x?");
        fprintf(out, "%s\n", f->inlined ? " (inlined)" : "");
    }
    if (l->nframes == 0) fprintf(out, "    (no stack recorded)\n");
}

static void seconds(FILE *out, const char *label, long ms, const char *after) {
    if (ms >= 0) fprintf(out, ", %s %ld.%ld s%s", label, ms / 1000, (ms % 1000) / 100, after);
}

static void socket_line(FILE *out, const struct slt_leak *l, int with_pid) {
    fprintf(out, "  ");
    if (with_pid) fprintf(out, "pid %ld ", l->pid);
    fprintf(out, "fd %ld:", l->fd);
    if (l->local) fprintf(out, " %s", *l->local ? l->local : "(unnamed)");
    if (l->peer) fprintf(out, " -> %s", *l->peer ? l->peer : "(unnamed)");
    if (l->tcp_state) fprintf(out, " %s", l->tcp_state);
    if (l->age_ms < 0 && l->origin && !strcmp(l->origin, "pre_attach")) fprintf(out, ", age unknown");
    seconds(out, "age", l->age_ms, "");
    seconds(out, "peer closed", l->fin_age_ms, " ago");
    if (l->when && !strcmp(l->when, "live")) fprintf(out, " (reported while running)");
    fprintf(out, "\n");
}

static void group(FILE *out, const struct slt_group *g, long max) {
    headline(out, g);
    if (!pre_attach(g->leaks[0])) stack(out, g->leaks[0]);
    size_t shown = (max > 0 && g->n > (size_t)max) ? (size_t)max : g->n;
    for (size_t i = 0; i < shown; i++) socket_line(out, g->leaks[i], g->nprocs > 1);
    if (shown < g->n) fprintf(out, "  ... omitting %zu more (max_sockets=%ld)\n", g->n - shown, max);
    fprintf(out, "\n");
}

/* As LeakSanitizer lists them: only the suppressions that matched. */
static void suppressions_used(FILE *out, const struct sl_suppressions *s) {
    size_t used = 0;
    for (size_t i = 0; i < s->n; i++) used += s->v[i].hits > 0;
    if (!used) return;
    fprintf(out, "-----------------------------------------------------\n");
    fprintf(out, "Suppressions used:\n  count pattern\n");
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].hits) fprintf(out, "%7zu %s\n", s->v[i].hits, s->v[i].pattern);
    fprintf(out, "-----------------------------------------------------\n\n");
}

/* Every leak comes from a detach snapshot (sockleak attach): nothing exited. */
static int all_detach(const struct slt_analysis *a) {
    for (size_t i = 0; i < a->report.nleaks; i++)
        if (!a->report.leaks[i].when || strcmp(a->report.leaks[i].when, "detach")) return 0;
    return a->report.nleaks > 0;
}

static void summary(FILE *out, const struct slt_analysis *a) {
    size_t np = a->report.nprocs;
    fprintf(out, "SUMMARY: sockleak: %zu %s leaked (%zu in CLOSE_WAIT, %zu open at %s",
            a->new_leaks, plural(a->new_leaks, "socket", "sockets"), a->new_close_wait, a->new_open,
            all_detach(a) ? "detach" : "exit");
    if (a->new_received) fprintf(out, ", %zu received and still held", a->new_received);
    if (a->new_other) fprintf(out, ", %zu other", a->new_other);
    fprintf(out, ") in %zu %s", a->new_groups, plural(a->new_groups, "group", "groups"));
    fprintf(out, " across %zu %s; %ld opened, %ld closed", np, plural(np, "process", "processes"),
            a->opened, a->closed);
    if (a->known_leaks) fprintf(out, "; %zu known (baseline)", a->known_leaks);
    if (a->suppressed) fprintf(out, "; %zu suppressed", a->suppressed);
    fprintf(out, ".\n");
}

void slt_write_text(FILE *out, const struct slt_analysis *a) {
    long max = a->opts->max_sockets;
    for (size_t i = 0; i < a->groups.n; i++)
        if (!a->groups.groups[i].baselined) group(out, &a->groups.groups[i], max);
    if (a->known_groups)
        fprintf(out, "%zu known leak %s (%zu %s) matched the baseline; not shown.\n\n",
                a->known_groups, plural(a->known_groups, "group", "groups"),
                a->known_leaks, plural(a->known_leaks, "socket", "sockets"));
    suppressions_used(out, &a->supp);
    summary(out, a);
}
