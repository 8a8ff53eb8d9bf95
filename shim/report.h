/* report.h -- the report layer: formats leak data the runtime collected as
 * text or JSON Lines. It only reads and formats; it owns no state. */
#ifndef SL_REPORT_H
#define SL_REPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* close_wait: a leak; open_at_exit: still open, listed with report_open=1;
 * received: received through SCM_RIGHTS and still held, listed with
 * report_received=1 or fail_on=received. */
enum sl_kind { SL_KIND_CLOSE_WAIT, SL_KIND_OPEN_AT_EXIT, SL_KIND_RECEIVED };

#define SL_LEAK_MAX_FDS 16
#define SL_ADDR_MAX 128

/* One leaked socket, as a snapshot (the runtime fills it in). */
struct sl_leak {
    enum sl_kind kind;
    int pid;
    int fds[SL_LEAK_MAX_FDS];   /* ascending; fds[0] is "fd" */
    int nfds;
    int origin;                 /* enum sl_origin */
    int from_parent;            /* created before this process forked off */
    int family, type, protocol;
    char local[SL_ADDR_MAX], peer[SL_ADDR_MAX];
    int has_local, has_peer;
    int tcp_state;              /* -1: not TCP */
    int64_t age_ms;
    int64_t fin_age_ms;         /* -1: peer close not seen */
    int eof_read;               /* the program read the EOF (a read returned 0) */
    uint32_t stack_id;
    int closed_untracked;       /* closed_late: noticed after a close outside the shim */
};

/* Sockets still open at exit that are not leaks, counted per TCP state (or
 * family/type) and per creation stack: the kernel closes them, nothing is
 * lost (Valgrind's "still reachable"). Listed one by one only with
 * report_open=1. */
#define SL_OPEN_STATES 16
#define SL_OPEN_SITES 16
struct sl_open_count {
    char name[24];                       /* "ESTABLISHED", "unix/stream" */
    uint64_t count;
};
struct sl_open_site {
    uint32_t stack_id;
    uint64_t count;
};

struct sl_summary {
    int pid;
    uint64_t opened, closed, inherited;
    uint64_t close_wait, open_at_exit;   /* reported (set by sl_report_exit) */
    uint64_t suppressed;                 /* matched a suppression, not reported */
    int exit_status;                     /* as passed to exit/_exit or returned by main */
    uint64_t closed_first;               /* connections closed here first (TIME_WAIT) */
    uint64_t pre_attach;                 /* open when sockleak attach came */
    const char *when;                    /* NULL: "exit"; "detach" (sockleak attach) */
    uint64_t closing;                    /* CLOSE_WAIT whose FIN is younger than grace_ms */
    uint64_t received;                   /* received (SCM_RIGHTS), open, not reported */
    uint64_t received_reported;          /* kind received, reported (set by sl_report_exit) */
    uint64_t closed_untracked;           /* closed outside the shim (raw syscall) */
    uint64_t still_open;                 /* open, peer not closed: not leaks */
    struct sl_open_count open_states[SL_OPEN_STATES];
    int n_open_states;
    struct sl_open_site open_sites[SL_OPEN_SITES];
    int n_open_sites;
    uint64_t open_sites_more;            /* sockets of sites beyond SL_OPEN_SITES */
};

/* Count one still-open socket under its state name and creation stack. */
void sl_summary_count_open(struct sl_summary *sum, const char *state, uint32_t stack_id);

/* A growable line buffer (report time only: it allocates). */
struct sl_buf {
    char *p;
    size_t len, cap;
};
void sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sl_buf_json_str(struct sl_buf *b, const char *s);   /* "..." or null */
void sl_buf_flush(struct sl_buf *b);                     /* write and empty */
void sl_buf_free(struct sl_buf *b);

/* The kind's name in JSON ("close_wait") and its text headline words. */
const char *sl_kind_name(enum sl_kind kind);

/* Append the JSON fields common to leak events (no braces, leading comma). */
void sl_report_leak_fields(struct sl_buf *b, const struct sl_leak *l);

/* Exit report: group leaks by (kind, stack), drop suppressed groups, write
 * the rest and the summary in the configured format; fills sum's counts.
 * Sorts leaks in place. */
void sl_report_exit(struct sl_leak *leaks, size_t n, struct sl_summary *sum);

/* One leak reported while the program runs (when = "live"); returns 0, or
 * -1 when a suppression matched and nothing was written. */
int sl_report_live_leak(const struct sl_leak *l);

/* ---- live events (the watcher) ---- */

/* A socket reported live was closed after all (closed_late). */
void sl_report_closed_late(const struct sl_leak *l, int64_t close_wait_ms);

/* A connection this process closed (or shut down writing) first whose peer
 * still had not closed since_ms later (peer_not_closing). */
struct sl_peer_wait {
    int pid;
    char local[SL_ADDR_MAX], peer[SL_ADDR_MAX];
    int64_t since_ms;
    int closed;                 /* 1: closed here, 0: only shut down writing */
    uint32_t stack_id;
};
void sl_report_peer_not_closing(const struct sl_peer_wait *w);

/* Connections to one destination are closed here first so fast that their
 * TIME_WAIT ports would use up the ephemeral range (port_pressure). */
struct sl_port_pressure {
    int pid;
    char peer[SL_ADDR_MAX];
    double rate_per_s, exhaust_s;
    uint64_t closed_first;
    int time_wait_s;
    int64_t port_lo, port_hi;
};
void sl_report_port_pressure(const struct sl_port_pressure *p);

/* Counts of a running process's open sockets (snapshot). */
#define SL_SNAPSHOT_STATES 24
struct sl_snapshot {
    int pid;
    const char *trigger;        /* "signal" or "periodic" */
    uint64_t sockets, close_wait, open;
    uint64_t opened, closed, closed_first, time_wait;
    struct { char name[40]; uint64_t count; } states[SL_SNAPSHOT_STATES];
    int nstates;
};
void sl_report_snapshot(const struct sl_snapshot *snap, const struct sl_leak *leaks, size_t n);

#endif
