/* watcher.h -- live detection while the program runs (CLOSE_WAIT watcher,
 * snapshots, peers that never close). The runtime calls these hooks. */
#ifndef SL_WATCHER_H
#define SL_WATCHER_H

struct sl_sock;

void sl_watcher_init(void);                 /* end of sl_init() */
void sl_watcher_on_socket(struct sl_sock *s);       /* a socket is tracked */
void sl_watcher_on_connect(struct sl_sock *s, int fd);
void sl_watcher_on_close(struct sl_sock *s, int fd); /* last fd closing, before the real close */
void sl_watcher_after_fork(void);           /* in the child */
void sl_watcher_stop(void);                 /* exit: stop before the exit report */

#endif
