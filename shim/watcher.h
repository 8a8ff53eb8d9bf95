/* watcher.h -- live detection, the program's side (live_host.c): the
 * runtime tells it about sockets; a watcher process (watch_*.c, started on
 * the first connection) finds peers that hung up, ports under pressure and
 * writes snapshots. No thread is ever added to the program. */
#ifndef SL_WATCHER_H
#define SL_WATCHER_H

#include <stdint.h>

struct sl_sock;

void sl_watcher_init(void);                          /* end of sl_init() */
/* Attach mode: the options the watcher process gets (not the environment's). */
void sl_watcher_set_options(const char *spec);
void sl_watcher_on_socket(uint32_t id, struct sl_sock *s, int fd);  /* tracked */
void sl_watcher_on_connect(struct sl_sock *s, int fd);
void sl_watcher_on_shutdown(struct sl_sock *s, int fd); /* SHUT_WR or SHUT_RDWR */
/* The last fd of record id is closing (before the real close). */
void sl_watcher_on_close(uint32_t id, struct sl_sock *s, int fd);
void sl_watcher_after_fork(void);           /* in the child */
void sl_watcher_detach(void);               /* sockleak attach ends: drop all */
void sl_watcher_stop(void);                 /* exit: before the exit report */

/* live_signal.c: install the snapshot signal's handler (once per image),
 * which calls sl_live_request_snapshot (async-signal-safe). */
void sl_live_install_snapshot_signal(void);
void sl_live_request_snapshot(void);

/* Connections this process closed first (each holds a local port in
 * TIME_WAIT for 60 s), for the summary. */
uint64_t sl_watcher_closed_first(void);

#endif
