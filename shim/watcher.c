/* watcher.c -- live leak detection (not yet built: every hook is a no-op). */
#include "watcher.h"

void sl_watcher_init(void) {}
void sl_watcher_on_socket(struct sl_sock *s) { (void)s; }
void sl_watcher_on_connect(struct sl_sock *s, int fd) { (void)s; (void)fd; }
void sl_watcher_on_close(struct sl_sock *s, int fd) { (void)s; (void)fd; }
void sl_watcher_after_fork(void) {}
void sl_watcher_stop(void) {}
