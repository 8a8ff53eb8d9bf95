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
    unsigned dumped;        /* candidates listed (a dump: CLOSE_WAIT in the whole netns) */
    unsigned ours;          /* tracked sockets known to be in CLOSE_WAIT after the scan */
    unsigned reported;      /* live leak events written by this scan */
    unsigned fd_walks;      /* fd-table walks needed to match new inodes */
    int method;             /* the enum sl_scan_method used: DUMP or POLL */
};

/* How a scan finds CLOSE_WAIT sockets.
 * EPOLL: every tracked TCP socket sits in the watcher's own epoll set with
 *   EPOLLRDHUP (edge-triggered); the kernel queues a socket when its peer's
 *   FIN arrives, so a scan costs the new FINs plus a walk of the fd table
 *   for new sockets. The default.
 * DUMP: one sock_diag dump per family, filtered to CLOSE_WAIT, matched by
 *   inode. The kernel walks its whole TCP hash table for it: every bucket
 *   and every socket of the network namespace, TIME_WAIT included.
 * POLL: one poll(POLLRDHUP) over the tracked TCP fds, then TCP_INFO on the
 *   few whose peer sent a FIN: touches each of our sockets.
 * AUTO: EPOLL while it works; else the cheaper of DUMP and POLL so far,
 *   re-measuring the other now and then (POLL without netlink). */
enum sl_scan_method { SL_SCAN_AUTO, SL_SCAN_DUMP, SL_SCAN_POLL, SL_SCAN_EPOLL };

/* Run one scan now, in the calling thread (only when no watcher thread runs:
 * scan_ms=0). Returns 0, or -1 when neither netlink nor TCP_INFO worked. */
int sl_watcher_scan(struct sl_scan_figures *out);

/* Benchmarks: force a method (SL_SCAN_AUTO restores the default). */
void sl_watcher_set_method(enum sl_scan_method m);

#endif
