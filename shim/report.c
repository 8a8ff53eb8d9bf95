/* report.c -- text and JSON Lines writers over the same grouped leak data. */
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "langframe.h"
#include "output.h"
#include "report.h"
#include "options.h"
#include "sockinfo.h"
#include "stackdepot.h"
#include "suppress.h"
#include "symbolize.h"

#define MAX_EXPANDED 8   /* frames one pc may expand to (inlined calls) */

void sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p != NULL && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return;
        b->p = p;
        b->cap = cap;
    }
}

void sl_buf_json_str(struct sl_buf *b, const char *s)
{
    if (s == NULL) {
        sl_buf_printf(b, "null");
        return;
    }
    sl_buf_printf(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            sl_buf_printf(b, "\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f)
            sl_buf_printf(b, "\\u%04x", *c);
        else
            sl_buf_printf(b, "%c", *c);
    }
    sl_buf_printf(b, "\"");
}

void sl_buf_flush(struct sl_buf *b)
{
    if (b->len > 0)
        sl_out_write(b->p, b->len);
    b->len = 0;
}

void sl_buf_free(struct sl_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

const char *sl_kind_name(enum sl_kind kind)
{
    return kind == SL_KIND_CLOSE_WAIT ? "close_wait"
         : kind == SL_KIND_RECEIVED ? "received" : "open_at_exit";
}

static const char *basename_of(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path;
}

/* ---- stacks ---- */

/* One word of a stack: a language frame as stored, or a native pc
 * symbolized (with its inlined calls); returns the frames written. */
static int expand_word(uintptr_t pc, struct sl_frame *out, int max)
{
    struct sl_lang_frame lf;
    if (!sl_lang_frame_get(pc, &lf))
        return sl_symbolize(pc, out, max < MAX_EXPANDED ? max : MAX_EXPANDED);
    memset(out, 0, sizeof(*out));
    out->lang = sl_lang_name(lf.lang);
    out->function = lf.function;
    out->file = lf.file;
    out->line = lf.line;
    out->column = lf.column;
    return 1;
}

/* Expand a stored stack into symbolized frames; returns how many. */
static int stack_frames(uint32_t stack_id, struct sl_frame *out, int max)
{
    const uintptr_t *pcs;
    unsigned n = sl_stack_get(stack_id, &pcs);
    int count = 0;
    for (unsigned i = 0; i < n && count < max; i++)
        count += expand_word(pcs[i], out + count, max - count);
    return count;
}

static void json_stack(struct sl_buf *b, uint32_t stack_id)
{
    struct sl_frame frames[SL_STACK_MAX * 2];
    int n = stack_frames(stack_id, frames, SL_STACK_MAX * 2);
    sl_buf_printf(b, ",\"stack_id\":%" PRIu32 ",\"stack\":[", stack_id);
    for (int i = 0; i < n; i++) {
        const struct sl_frame *f = &frames[i];
        if (f->lang != NULL) {
            sl_buf_printf(b, "%s{\"lang\":\"%s\",\"pc\":null,\"module\":null,\"offset\":null,"
                          "\"function\":", i ? "," : "", f->lang);
            sl_buf_json_str(b, f->function);
            sl_buf_printf(b, ",\"file\":");
            sl_buf_json_str(b, f->file);
            sl_buf_printf(b, ",\"line\":%d,\"column\":%d,\"inlined\":false}", f->line, f->column);
            continue;
        }
        sl_buf_printf(b, "%s{\"pc\":\"0x%" PRIxPTR "\",\"module\":", i ? "," : "", f->pc);
        sl_buf_json_str(b, f->module);
        sl_buf_printf(b, ",\"offset\":\"0x%" PRIxPTR "\",\"function\":", f->offset);
        sl_buf_json_str(b, f->function);
        sl_buf_printf(b, ",\"file\":");
        sl_buf_json_str(b, f->file);
        sl_buf_printf(b, ",\"line\":%d,\"inlined\":%s}", f->line, f->inlined ? "true" : "false");
    }
    sl_buf_printf(b, "]");
}

static void text_stack(struct sl_buf *b, uint32_t stack_id)
{
    struct sl_frame frames[SL_STACK_MAX * 2];
    int n = stack_frames(stack_id, frames, SL_STACK_MAX * 2);
    if (n == 0)
        sl_buf_printf(b, "    (no creation stack: the socket was open before the process started)\n");
    for (int i = 0; i < n; i++) {
        const struct sl_frame *f = &frames[i];
        if (f->lang != NULL) {
            char line[2 * SL_LANG_STR_MAX + 64];
            sl_langframe_text(line, sizeof(line), f->lang, f->function, f->file, f->line,
                              f->column);
            sl_buf_printf(b, "    #%d %s\n", i, line);
            continue;
        }
        sl_buf_printf(b, "    #%d 0x%" PRIxPTR " in %s", i, f->pc, f->function ? f->function : "??");
        if (f->file)
            sl_buf_printf(b, " %s:%d", f->file, f->line);
        if (f->module)
            sl_buf_printf(b, " (%s+0x%" PRIxPTR ")", f->module, f->offset);
        sl_buf_printf(b, "%s\n", f->inlined ? " [inlined]" : "");
    }
}

/* The innermost language frame outside the runtime's library (else the
 * innermost language frame), or -1 when the stack has none. */
static int culprit_lang_word(const uintptr_t *pcs, unsigned n, struct sl_lang_frame *out)
{
    int first = -1;
    for (unsigned i = 0; i < n && sl_is_lang_frame(pcs[i]); i++) {
        struct sl_lang_frame lf;
        if (!sl_lang_frame_get(pcs[i], &lf))
            continue;
        if (first < 0) {
            first = (int)i;
            *out = lf;
        }
        if (!sl_langframe_is_library(sl_lang_name(lf.lang), lf.function, lf.file)) {
            *out = lf;
            return (int)i;
        }
    }
    return first;
}

/* "db_connect (leaky_client.c:42)": the innermost frame, for headlines;
 * "charge_card (billing.py:41)" when the stack has language frames. */
static void text_culprit(struct sl_buf *b, uint32_t stack_id)
{
    struct sl_frame f[MAX_EXPANDED];
    struct sl_lang_frame lf;
    const uintptr_t *pcs;
    unsigned n = sl_stack_get(stack_id, &pcs);
    if (n > 0 && culprit_lang_word(pcs, n, &lf) >= 0) {
        char where[2 * SL_LANG_STR_MAX + 32];
        sl_langframe_short(where, sizeof(where), lf.function, lf.file, lf.line);
        sl_buf_printf(b, " from %s", where);
        return;
    }
    if (n == 0 || sl_symbolize(pcs[0], f, MAX_EXPANDED) < 1)
        return;
    sl_buf_printf(b, " from %s", f[0].function ? f[0].function : "??");
    if (f[0].file)
        sl_buf_printf(b, " (%s:%d)", basename_of(f[0].file), f[0].line);
    else if (f[0].module)
        sl_buf_printf(b, " (%s+0x%" PRIxPTR ")", basename_of(f[0].module), f[0].offset);
}

/* ---- suppressions ---- */

static struct sl_suppressions supp;
static _Atomic int supp_state;   /* 0 not loaded, 1 loaded (or failed) */

/* Sockets runtimes keep open on purpose for the process's whole life
 * (LeakSanitizer has such a list too). The JDK's pre-close socketpair: one
 * end closed at start, the other dup2'ed over sockets to close them. */
static const char builtin_suppressions[] =
    "leak:^Java_sun_nio_ch_FileDispatcherImpl_init$\n"
    "leak:^Java_sun_nio_ch_UnixDispatcher_init$\n";

static void load_suppressions(void)
{
    char err[512], msg[600];
    if (__atomic_exchange_n(&supp_state, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    sl_suppress_parse(&supp, builtin_suppressions, "built-in", err, sizeof(err));
    if (sl_opts.suppressions == NULL || sl_opts.suppressions[0] == '\0')
        return;
    if (sl_suppress_load(&supp, sl_opts.suppressions, err, sizeof(err)) != 0) {
        snprintf(msg, sizeof(msg), "sockleak: %s; check the suppressions= option", err);
        sl_out_warn(msg);
    }
}

/* Index of the suppression matching a frame of the stack, or -1. */
static long suppression_of(uint32_t stack_id)
{
    struct sl_frame frames[SL_STACK_MAX * 2];
    load_suppressions();
    if (supp.n == 0)
        return -1;
    int n = stack_frames(stack_id, frames, SL_STACK_MAX * 2);
    for (int i = 0; i < n; i++) {
        long hit = sl_suppress_find_frame(&supp, frames[i].function, frames[i].file,
                                          frames[i].module);
        if (hit >= 0)
            return hit;
    }
    return -1;
}

static void write_suppressions_used(struct sl_buf *b, size_t reported)
{
    int any = 0;
    /* In text, say it only beside a report: a clean run stays silent. */
    if (sl_opts.format != SL_FORMAT_JSON && reported == 0 && !sl_opts.verbose)
        return;
    for (size_t i = 0; i < supp.n; i++) {
        if (supp.v[i].hits == 0)
            continue;
        if (sl_opts.format == SL_FORMAT_JSON) {
            sl_buf_printf(b, "{\"event\":\"suppression\",\"pid\":%d,\"pattern\":",
                          (int)getpid());
            sl_buf_json_str(b, supp.v[i].pattern);
            sl_buf_printf(b, ",\"count\":%zu}\n", supp.v[i].hits);
            continue;
        }
        if (!any++)
            sl_buf_printf(b, "Suppressions used:\n  count pattern\n");
        sl_buf_printf(b, "  %5zu leak:%s\n", supp.v[i].hits, supp.v[i].pattern);
    }
    if (any)
        sl_buf_printf(b, "\n");
    sl_buf_flush(b);
}

/* ---- one leak ---- */

void sl_report_leak_fields(struct sl_buf *b, const struct sl_leak *l)
{
    char fam[16], typ[16];
    sl_buf_printf(b, ",\"kind\":\"%s\",\"pid\":%d,\"fd\":%d,\"fds\":[",
                  sl_kind_name(l->kind), l->pid, l->fds[0]);
    for (int i = 0; i < l->nfds; i++)
        sl_buf_printf(b, "%s%d", i ? "," : "", l->fds[i]);
    sl_buf_printf(b, "],\"origin\":\"%s\",\"from_parent\":%s,\"family\":\"%s\","
                  "\"type\":\"%s\",\"protocol\":%d,\"local\":",
                  sl_origin_name(l->origin), l->from_parent ? "true" : "false",
                  sl_family_name(l->family, fam, sizeof(fam)),
                  sl_type_name(l->type, typ, sizeof(typ)), l->protocol);
    sl_buf_json_str(b, l->has_local ? l->local : NULL);
    sl_buf_printf(b, ",\"peer\":");
    sl_buf_json_str(b, l->has_peer ? l->peer : NULL);
    sl_buf_printf(b, ",\"tcp_state\":");
    sl_buf_json_str(b, l->tcp_state >= 0 ? sl_tcp_state_name(l->tcp_state) : NULL);
    /* age_ms is null when unknown (pre_attach: created before sockleak came) */
    if (l->age_ms >= 0)
        sl_buf_printf(b, ",\"age_ms\":%" PRId64 ",\"fin_age_ms\":", l->age_ms);
    else
        sl_buf_printf(b, ",\"age_ms\":null,\"fin_age_ms\":");
    if (l->fin_age_ms >= 0)
        sl_buf_printf(b, "%" PRId64, l->fin_age_ms);
    else
        sl_buf_printf(b, "null");
    sl_buf_printf(b, ",\"eof_read\":%s", l->eof_read ? "true" : "false");
}

static void json_leak(struct sl_buf *b, const struct sl_leak *l, const char *when)
{
    sl_buf_printf(b, "{\"event\":\"leak\",\"when\":\"%s\"", when);
    sl_report_leak_fields(b, l);
    json_stack(b, l->stack_id);
    sl_buf_printf(b, "}\n");
}

static void text_duration(struct sl_buf *b, int64_t ms)
{
    if (ms < 1000)
        sl_buf_printf(b, "%" PRId64 " ms", ms);
    else if (ms < 120000)
        sl_buf_printf(b, "%.1f s", (double)ms / 1000);
    else
        sl_buf_printf(b, "%.1f min", (double)ms / 60000);
}

static void text_socket_line(struct sl_buf *b, const struct sl_leak *l)
{
    char fam[16], typ[16];
    sl_buf_printf(b, "  fd %d", l->fds[0]);
    for (int i = 1; i < l->nfds; i++)
        sl_buf_printf(b, ",%d", l->fds[i]);
    sl_buf_printf(b, ": %s -> %s %s", l->has_local ? (l->local[0] ? l->local : "(unnamed)") : "?",
                  l->has_peer ? (l->peer[0] ? l->peer : "(unnamed)") : "(no peer)",
                  l->tcp_state >= 0 ? sl_tcp_state_name(l->tcp_state)
                                    : sl_type_name(l->type, typ, sizeof(typ)));
    if (l->tcp_state < 0)
        sl_buf_printf(b, " %s", sl_family_name(l->family, fam, sizeof(fam)));
    sl_buf_printf(b, ", age ");
    if (l->age_ms >= 0)
        text_duration(b, l->age_ms);
    else
        sl_buf_printf(b, "unknown");
    if (l->fin_age_ms >= 0) {
        sl_buf_printf(b, ", peer closed ");
        text_duration(b, l->fin_age_ms);
        sl_buf_printf(b, " ago");
    }
    if (l->origin != SL_ORIGIN_SOCKET)
        sl_buf_printf(b, " (%s)", sl_origin_name(l->origin));
    sl_buf_printf(b, "\n");
}

static const char *kind_headline(enum sl_kind kind)
{
    return kind == SL_KIND_CLOSE_WAIT ? "leaked in CLOSE_WAIT (peer closed, never closed here)"
         : kind == SL_KIND_RECEIVED ? "received through SCM_RIGHTS and still held at exit"
                                    : "open at exit (peer has not closed)";
}

/* ---- exit report ---- */

static int leak_order(const void *pa, const void *pb)
{
    const struct sl_leak *a = pa, *b = pb;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->stack_id != b->stack_id)
        return a->stack_id < b->stack_id ? -1 : 1;
    return a->fds[0] - b->fds[0];
}

struct group {
    size_t first, count;
};

static int group_order(const void *pa, const void *pb, void *arg)
{
    const struct group *a = pa, *b = pb;
    const struct sl_leak *leaks = arg;
    if (leaks[a->first].kind != leaks[b->first].kind)
        return leaks[a->first].kind < leaks[b->first].kind ? -1 : 1;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return a->first < b->first ? -1 : 1;
}

static void write_text_group(struct sl_buf *b, const struct sl_leak *l, size_t count)
{
    size_t shown = sl_opts.max_sockets > 0 && (size_t)sl_opts.max_sockets < count
                       ? (size_t)sl_opts.max_sockets : count;
    sl_buf_printf(b, "==%d== sockleak: %zu socket%s %s", l->pid, count,
                  count == 1 ? "" : "s", kind_headline(l->kind));
    if (l->origin == SL_ORIGIN_PRE_ATTACH) {
        sl_buf_printf(b, " (attached: creation stack unknown):\n");
    } else {
        text_culprit(b, l->stack_id);
        sl_buf_printf(b, ", created at:\n");
        text_stack(b, l->stack_id);
    }
    for (size_t i = 0; i < shown; i++)
        text_socket_line(b, &l[i]);
    if (shown < count)
        sl_buf_printf(b, "  ... omitting %zu more (max_sockets=%ld)\n", count - shown,
                      sl_opts.max_sockets);
    sl_buf_printf(b, "\n");
    sl_buf_flush(b);
}

void sl_summary_count_open(struct sl_summary *sum, const char *state, uint32_t stack_id)
{
    int i;
    sum->still_open++;
    for (i = 0; i < sum->n_open_states && strcmp(sum->open_states[i].name, state); i++)
        ;
    if (i < SL_OPEN_STATES) {
        if (i == sum->n_open_states) {
            snprintf(sum->open_states[i].name, sizeof(sum->open_states[i].name), "%s", state);
            sum->n_open_states++;
        }
        sum->open_states[i].count++;
    }
    for (i = 0; i < sum->n_open_sites && sum->open_sites[i].stack_id != stack_id; i++)
        ;
    if (i == SL_OPEN_SITES) {
        sum->open_sites_more++;
        return;
    }
    if (i == sum->n_open_sites)
        sum->open_sites[sum->n_open_sites++] = (struct sl_open_site){ stack_id, 0 };
    sum->open_sites[i].count++;
}

/* A still-open call site, named cheaply: the innermost frame's module and
 * offset, and its function when the module exports it (dladdr). Exit must
 * not pay for debug info on sockets that are not leaks. */
static void json_open_site(struct sl_buf *b, const struct sl_open_site *site)
{
    const uintptr_t *pcs;
    Dl_info info;
    sl_buf_printf(b, "{\"stack_id\":%" PRIu32 ",\"count\":%" PRIu64 ",\"module\":",
                  site->stack_id, site->count);
    if (sl_stack_get(site->stack_id, &pcs) > 0 && dladdr((void *)(pcs[0] - 1), &info) != 0) {
        sl_buf_json_str(b, info.dli_fname);
        sl_buf_printf(b, ",\"offset\":\"0x%" PRIxPTR "\",\"function\":",
                      pcs[0] - (uintptr_t)info.dli_fbase);
        sl_buf_json_str(b, info.dli_sname);
    } else {
        sl_buf_printf(b, "null,\"offset\":null,\"function\":null");
    }
    sl_buf_printf(b, "}");
}

static void write_summary(struct sl_buf *b, const struct sl_summary *s, size_t ngroups)
{
    uint64_t leaks = s->close_wait + s->open_at_exit + s->received_reported;
    if (sl_opts.format == SL_FORMAT_JSON) {
        sl_buf_printf(b, "{\"event\":\"summary\",\"pid\":%d,\"sockets_opened\":%" PRIu64
                      ",\"sockets_closed\":%" PRIu64 ",\"leaks\":%" PRIu64
                      ",\"close_wait\":%" PRIu64 ",\"open_at_exit\":%" PRIu64
                      ",\"inherited\":%" PRIu64 ",\"suppressed\":%" PRIu64
                      ",\"groups\":%zu,\"exit_status\":",
                      s->pid, s->opened, s->closed, leaks, s->close_wait, s->open_at_exit,
                      s->inherited, s->suppressed, ngroups);
        /* detach: the process runs on, it has no exit status */
        if (s->when != NULL)
            sl_buf_printf(b, "null,\"when\":\"%s\",\"pre_attach\":%" PRIu64, s->when,
                          s->pre_attach);
        else
            sl_buf_printf(b, "%d", s->exit_status);
        sl_buf_printf(b, ",\"closed_first\":%" PRIu64, s->closed_first);
        sl_buf_printf(b, ",\"closing\":%" PRIu64 ",\"received\":%" PRIu64
                      ",\"received_reported\":%" PRIu64 ",\"closed_untracked\":%" PRIu64
                      ",\"still_open\":%" PRIu64 ",\"still_open_states\":{", s->closing,
                      s->received, s->received_reported, s->closed_untracked, s->still_open);
        for (int i = 0; i < s->n_open_states; i++) {
            sl_buf_printf(b, "%s", i ? "," : "");
            sl_buf_json_str(b, s->open_states[i].name);
            sl_buf_printf(b, ":%" PRIu64, s->open_states[i].count);
        }
        sl_buf_printf(b, "},\"still_open_sites\":[");
        for (int i = 0; i < s->n_open_sites; i++) {
            sl_buf_printf(b, "%s", i ? "," : "");
            json_open_site(b, &s->open_sites[i]);
        }
        sl_buf_printf(b, "]}\n");
    } else if (leaks > 0 || sl_opts.verbose) {
        sl_buf_printf(b, "SUMMARY: sockleak: %" PRIu64 " socket%s leaked (%" PRIu64
                      " in CLOSE_WAIT, %" PRIu64 " open at exit", leaks, leaks == 1 ? "" : "s",
                      s->close_wait, s->open_at_exit);
        if (s->received_reported > 0)
            sl_buf_printf(b, ", %" PRIu64 " received and still held", s->received_reported);
        sl_buf_printf(b, ") in %zu group%s; %" PRIu64 " opened, %" PRIu64 " closed", ngroups,
                      ngroups == 1 ? "" : "s", s->opened, s->closed);
        if (s->closed_first > 0)
            sl_buf_printf(b, " (%" PRIu64 " closed here first: TIME_WAIT)", s->closed_first);
        if (s->still_open > 0) {
            sl_buf_printf(b, "; %" PRIu64 " still open at exit, not leaks (", s->still_open);
            for (int i = 0; i < s->n_open_states; i++)
                sl_buf_printf(b, "%s%" PRIu64 " %s", i ? ", " : "", s->open_states[i].count,
                              s->open_states[i].name);
            sl_buf_printf(b, "; report_open=1 lists them)");
        }
        if (s->closing > 0)
            sl_buf_printf(b, "; %" PRIu64 " closing (peer closed less than grace_ms ago)",
                          s->closing);
        if (s->received > 0)
            sl_buf_printf(b, "; %" PRIu64 " received (report_received=1 lists them)", s->received);
        if (s->closed_untracked > 0)
            sl_buf_printf(b, "; %" PRIu64 " closed outside the shim", s->closed_untracked);
        sl_buf_printf(b, ".\n");
    }
    sl_buf_flush(b);
}

void sl_report_exit(struct sl_leak *leaks, size_t n, struct sl_summary *sum)
{
    struct sl_buf b = { 0 };
    struct group *groups = calloc(n ? n : 1, sizeof(*groups));
    size_t ngroups = 0;

    if (n > 0)      /* qsort(NULL, 0) is undefined */
        qsort(leaks, n, sizeof(*leaks), leak_order);
    for (size_t i = 0; i < n; i++) {
        if (groups && (i == 0 || leaks[i].kind != leaks[i - 1].kind ||
                       leaks[i].stack_id != leaks[i - 1].stack_id))
            groups[ngroups++] = (struct group){ i, 0 };
        if (groups)
            groups[ngroups - 1].count++;
    }
    if (groups)
        qsort_r(groups, ngroups, sizeof(*groups), group_order, leaks);
    size_t reported = 0;
    for (size_t g = 0; groups && g < ngroups; g++) {
        const struct sl_leak *first = &leaks[groups[g].first];
        long hit = suppression_of(first->stack_id);
        if (hit >= 0) {
            supp.v[hit].hits += groups[g].count;
            sum->suppressed += groups[g].count;
            continue;
        }
        reported++;
        if (first->kind == SL_KIND_CLOSE_WAIT)
            sum->close_wait += groups[g].count;
        else if (first->kind == SL_KIND_RECEIVED)
            sum->received_reported += groups[g].count;
        else
            sum->open_at_exit += groups[g].count;
        if (sl_opts.format == SL_FORMAT_JSON) {
            for (size_t i = 0; i < groups[g].count; i++)
                json_leak(&b, &first[i], sum->when ? sum->when : "exit");
            sl_buf_flush(&b);
        } else {
            write_text_group(&b, first, groups[g].count);
        }
    }
    write_suppressions_used(&b, reported);
    write_summary(&b, sum, reported);
    sl_buf_free(&b);
    free(groups);
}

int sl_report_live_leak(const struct sl_leak *l)
{
    struct sl_buf b = { 0 };
    long hit = suppression_of(l->stack_id);
    if (hit >= 0) {
        supp.v[hit].hits++;
        return -1;
    }
    if (sl_opts.format == SL_FORMAT_JSON) {
        json_leak(&b, l, "live");
    } else {
        sl_buf_printf(&b, "==%d== sockleak: live: 1 socket %s for ", l->pid, kind_headline(l->kind));
        text_duration(&b, l->fin_age_ms >= 0 ? l->fin_age_ms : l->age_ms);
        text_culprit(&b, l->stack_id);
        sl_buf_printf(&b, ", created at:\n");
        text_stack(&b, l->stack_id);
        text_socket_line(&b, l);
        sl_buf_printf(&b, "\n");
    }
    sl_buf_flush(&b);
    sl_buf_free(&b);
    return 0;
}

/* ---- live events (the watcher) ---- */

void sl_report_closed_late(const struct sl_leak *l, int64_t close_wait_ms)
{
    struct sl_buf b = { 0 };
    if (sl_opts.format == SL_FORMAT_JSON) {
        sl_buf_printf(&b, "{\"event\":\"closed_late\",\"pid\":%d,\"fd\":%d,\"stack_id\":%" PRIu32
                      ",\"close_wait_ms\":%" PRId64 ",\"age_ms\":%" PRId64 ",\"local\":",
                      l->pid, l->fds[0], l->stack_id, close_wait_ms, l->age_ms);
        sl_buf_json_str(&b, l->has_local ? l->local : NULL);
        sl_buf_printf(&b, ",\"peer\":");
        sl_buf_json_str(&b, l->has_peer ? l->peer : NULL);
        sl_buf_printf(&b, ",\"untracked\":%s}\n", l->closed_untracked ? "true" : "false");
    } else {
        sl_buf_printf(&b, "==%d== sockleak: closed late: fd %d (%s -> %s) was closed%s ",
                      l->pid, l->fds[0], l->has_local ? l->local : "?",
                      l->has_peer ? l->peer : "?",
                      l->closed_untracked ? " (outside the shim, noticed later)" : "");
        text_duration(&b, close_wait_ms);
        sl_buf_printf(&b, " after its peer hung up; it was reported live and no longer counts");
        text_culprit(&b, l->stack_id);
        sl_buf_printf(&b, "\n");
    }
    sl_buf_flush(&b);
    sl_buf_free(&b);
}

void sl_report_peer_not_closing(const struct sl_peer_wait *w)
{
    struct sl_buf b = { 0 };
    if (sl_opts.format == SL_FORMAT_JSON) {
        sl_buf_printf(&b, "{\"event\":\"peer_not_closing\",\"pid\":%d,\"local\":", w->pid);
        sl_buf_json_str(&b, w->local);
        sl_buf_printf(&b, ",\"peer\":");
        sl_buf_json_str(&b, w->peer);
        sl_buf_printf(&b, ",\"tcp_state\":\"FIN_WAIT2\",\"how\":\"%s\",\"since_ms\":%" PRId64,
                      w->closed ? "close" : "shutdown", w->since_ms);
        json_stack(&b, w->stack_id);
        sl_buf_printf(&b, "}\n");
    } else {
        sl_buf_printf(&b, "==%d== sockleak: peer %s has not closed its side ", w->pid, w->peer);
        text_duration(&b, w->since_ms);
        sl_buf_printf(&b, " after this process %s (local %s, FIN_WAIT2): the peer leaks "
                      "its socket in CLOSE_WAIT; the connection was made",
                      w->closed ? "closed it" : "shut down writing", w->local);
        text_culprit(&b, w->stack_id);
        sl_buf_printf(&b, ", created at:\n");
        text_stack(&b, w->stack_id);
        sl_buf_printf(&b, "\n");
    }
    sl_buf_flush(&b);
    sl_buf_free(&b);
}

void sl_report_port_pressure(const struct sl_port_pressure *p)
{
    struct sl_buf b = { 0 };
    int64_t ports = p->port_hi - p->port_lo + 1;
    if (sl_opts.format == SL_FORMAT_JSON) {
        sl_buf_printf(&b, "{\"event\":\"port_pressure\",\"pid\":%d,\"peer\":", p->pid);
        sl_buf_json_str(&b, p->peer);
        sl_buf_printf(&b, ",\"rate_per_s\":%.1f,\"closed_first\":%" PRIu64 ",\"time_wait_s\":%d"
                      ",\"port_range\":[%" PRId64 ",%" PRId64 "],\"exhaust_s\":%.1f}\n",
                      p->rate_per_s, p->closed_first, p->time_wait_s, p->port_lo, p->port_hi,
                      p->exhaust_s);
    } else {
        sl_buf_printf(&b, "==%d== sockleak: warning: port pressure: %.0f connections/s to %s "
                      "are closed here first; each holds a local port in TIME_WAIT for %d s, "
                      "so the %" PRId64 " ephemeral ports (%" PRId64 "-%" PRId64 ") would run "
                      "out in %.1f s. Reuse connections, or let the peer close first.\n",
                      p->pid, p->rate_per_s, p->peer, p->time_wait_s, ports, p->port_lo,
                      p->port_hi, p->exhaust_s);
    }
    sl_buf_flush(&b);
    sl_buf_free(&b);
}

static void json_snapshot(struct sl_buf *b, const struct sl_snapshot *s,
                          const struct sl_leak *leaks, size_t n)
{
    sl_buf_printf(b, "{\"event\":\"snapshot\",\"pid\":%d,\"trigger\":\"%s\",\"sockets\":%" PRIu64
                  ",\"kinds\":{\"close_wait\":%" PRIu64 ",\"open\":%" PRIu64 "},\"states\":{",
                  s->pid, s->trigger, s->sockets, s->close_wait, s->open);
    for (int i = 0; i < s->nstates; i++) {
        sl_buf_printf(b, "%s", i ? "," : "");
        sl_buf_json_str(b, s->states[i].name);
        sl_buf_printf(b, ":%" PRIu64, s->states[i].count);
    }
    sl_buf_printf(b, "},\"sockets_opened\":%" PRIu64 ",\"sockets_closed\":%" PRIu64
                  ",\"closed_first\":%" PRIu64 ",\"time_wait\":%" PRIu64 ",\"leaks\":[",
                  s->opened, s->closed, s->closed_first, s->time_wait);
    for (size_t i = 0, k = 0; i < n; i++) {
        if (suppression_of(leaks[i].stack_id) >= 0)
            continue;
        sl_buf_printf(b, "%s{\"when\":\"snapshot\"", k++ ? "," : "");
        sl_report_leak_fields(b, &leaks[i]);
        json_stack(b, leaks[i].stack_id);
        sl_buf_printf(b, "}");
    }
    sl_buf_printf(b, "]}\n");
}

static void text_snapshot(struct sl_buf *b, const struct sl_snapshot *s,
                          const struct sl_leak *leaks, size_t n)
{
    size_t shown = 0;
    sl_buf_printf(b, "==%d== sockleak: snapshot (%s): %" PRIu64 " socket%s open", s->pid,
                  s->trigger, s->sockets, s->sockets == 1 ? "" : "s");
    for (int i = 0; i < s->nstates; i++)
        sl_buf_printf(b, "%s%" PRIu64 " %s", i ? ", " : ": ", s->states[i].count,
                      s->states[i].name);
    sl_buf_printf(b, "; %zu leaked in CLOSE_WAIT; %" PRIu64 " opened, %" PRIu64 " closed, %"
                  PRIu64 " closed here first (%" PRIu64 " in TIME_WAIT)\n", n, s->opened,
                  s->closed, s->closed_first, s->time_wait);
    for (size_t i = 0; i < n; i++) {
        if (suppression_of(leaks[i].stack_id) >= 0)
            continue;
        if (sl_opts.max_sockets > 0 && shown == (size_t)sl_opts.max_sockets) {
            sl_buf_printf(b, "  ... omitting more (max_sockets=%ld)\n", sl_opts.max_sockets);
            break;
        }
        shown++;
        text_socket_line(b, &leaks[i]);
        /* text_socket_line ends the line; name the creator under it */
        sl_buf_printf(b, "   ");
        text_culprit(b, leaks[i].stack_id);
        sl_buf_printf(b, "\n");
    }
}

void sl_report_snapshot(const struct sl_snapshot *snap, const struct sl_leak *leaks, size_t n)
{
    struct sl_buf b = { 0 };
    if (sl_opts.format == SL_FORMAT_JSON)
        json_snapshot(&b, snap, leaks, n);
    else
        text_snapshot(&b, snap, leaks, n);
    sl_buf_flush(&b);
    sl_buf_free(&b);
}
