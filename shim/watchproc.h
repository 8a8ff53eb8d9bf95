/* watchproc.h -- the watcher process (sockleak-watcher), started by a
 * program under the shim (live_host.c): how its rooms talk to each other.
 *   watch_main.c      the loop: epoll waits, timers, the host's fds
 *   watch_quiet.c     which connections wait for a FIN on the epoll set
 *   watch_fin.c       peers' FINs: CLOSE_WAIT after grace_ms -> live leak
 *   watch_peers.c     connections closed here first: peer_not_closing
 *   watch_pressure.c  closed-first rates: port_pressure, TIME_WAIT counts
 *   watch_snapshot.c  snapshots (on signal, periodic)
 * It reads the host's published sockets (live.h) and stacks, asks the kernel
 * (sock_diag) about TCP state, and writes events as the host would. */
#ifndef SL_WATCHPROC_H
#define SL_WATCHPROC_H

#include <stdint.h>

#include "live.h"
#include "report.h"
#include "sockdiag.h"

#define WP_NS_PER_MS 1000000LL
#define WP_NS_PER_S  1000000000LL

struct wp_state {
    struct sl_live_shared *r;   /* the host's region */
    int host_pid;
    struct sl_diag *diag;       /* NULL: sock_diag unavailable */
};
extern struct wp_state wp;

int64_t wp_now(void);

/* Around every event write: 0 when the host has begun its exit report (then
 * write nothing); wp_end_write after writing. */
int wp_begin_write(void);
void wp_end_write(void);

/* The host's fds that refer to socket inode ino (ascending); returns how
 * many were stored in fds (at most max). Reads /proc/HOSTPID/fd once per
 * wp_host_fds_refresh(). */
void wp_host_fds_refresh(void);
int wp_host_fds(uint64_t ino, int *fds, int max);

/* The inode of e's socket (/proc/PID/fd names sockets by inode; the host
 * records only the cookie): learned from a borrowed fd or a dump, and
 * remembered while e's record lives. 0: not known. */
uint64_t wp_ino_known(const struct sl_live_sock *e);
/* Remember e's inode and, for an entry known by its peer (e->by_peer: the
 * host asked no cookie), its cookie. */
void wp_ino_learned(const struct sl_live_sock *e, uint64_t ino, uint64_t cookie);
/* e's cookie: the host's, or the one learned; 0: not known yet. */
uint64_t wp_cookie(const struct sl_live_sock *e);
/* e's socket in l: by cookie, or by peer and local port while its cookie
 * is not known; NULL if none. */
const struct sl_diag_sock *wp_find(struct sl_diag_list *l, const struct sl_live_sock *e);
/* The same, borrowing one of the host's fds to learn it if need be. */
uint64_t wp_ino_of(const struct sl_live_sock *e);

/* The entry of record id if it is still open with generation gen. */
struct sl_live_sock *wp_entry(uint32_t id, uint32_t gen);

/* Describe a tracked socket as a leak, from its entry and, for TCP, what
 * sock_diag says (d may be NULL). */
void wp_describe(const struct sl_live_sock *e, const struct sl_diag_sock *d,
                 const int *fds, int nfds, int64_t now, struct sl_leak *out);

/* watch_quiet.c */
void wp_quiet_init(int host_pidfd);
/* Put quiet connections on the epoll set (called every period). */
void wp_quiet_scan(int64_t now, int64_t period);
/* Data arrived on a connection in the set: take it out (busy again). */
void wp_quiet_busy(uint32_t id, uint32_t gen, int64_t now);
/* A borrowed copy of a host fd of e's socket (close it soon), or -1; its
 * inode is then known (wp_ino_known). */
int wp_take_fd(const struct sl_live_sock *e);
/* 1 once the host refused to lend its fds (the host then registers). */
int wp_fds_refused(void);

/* watch_fin.c */
/* Symbolize a stack ahead of its report (the first lookup in a module
 * reads its DWARF: tens of milliseconds). */
void wp_warm_stack(uint32_t stack_id);
void wp_fin_event(uint32_t id, uint32_t gen, int64_t now);
int64_t wp_fin_check(int64_t now);          /* next deadline, INT64_MAX: none */

/* watch_peers.c */
int64_t wp_peers_check(int64_t now);        /* next deadline */
void wp_peers_init(void);

/* watch_pressure.c */
void wp_pressure_init(void);
void wp_pressure_check(int64_t now);
uint64_t wp_in_time_wait(int64_t now);

/* watch_snapshot.c */
void wp_snapshot(const char *trigger, int64_t now);

#endif
