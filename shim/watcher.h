/* watcher.h -- live detection while the program runs (CLOSE_WAIT watcher,
 * snapshots, peers that never close, port pressure). The runtime calls these
 * hooks; the watcher thread does the work. */
#ifndef SL_WATCHER_H
#define SL_WATCHER_H

#include <stdint.h>

struct sl_sock;

void sl_watcher_init(void);                 /* end of sl_init() */
void sl_watcher_on_socket(struct sl_sock *s);       /* a socket is tracked */
void sl_watcher_on_connect(struct sl_sock *s, int fd);
void sl_watcher_on_shutdown(struct sl_sock *s, int fd); /* SHUT_WR or SHUT_RDWR */
void sl_watcher_on_close(struct sl_sock *s, int fd); /* last fd closing, before the real close */
void sl_watcher_after_fork(void);           /* in the child */
void sl_watcher_stop(void);                 /* exit: stop before the exit report */

/* Connections this process closed first (each holds a local port in
 * TIME_WAIT for 60 s), for the summary. */
uint64_t sl_watcher_closed_first(void);

/* What one scan did (benchmarks and tests). */
struct sl_scan_figures {
    unsigned dumped;        /* CLOSE_WAIT sockets the kernel listed (whole netns) */
    unsigned ours;          /* of those, tracked by this process */
    unsigned reported;      /* live leak events written by this scan */
    unsigned fd_walks;      /* fd-table walks needed to match new inodes */
    int netlink;            /* 1: sock_diag dump, 0: per-fd TCP_INFO */
};

/* Run one scan now, in the calling thread (only when no watcher thread runs:
 * scan_ms=0). Returns 0, or -1 when neither netlink nor TCP_INFO worked. */
int sl_watcher_scan(struct sl_scan_figures *out);

/* Benchmarks: 0 forces the TCP_INFO fallback, 1 restores netlink. */
void sl_watcher_use_netlink(int on);

#endif
