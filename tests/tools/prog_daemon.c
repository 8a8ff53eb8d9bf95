/* prog_daemon.c -- daemonizes (fork, setsid, fork) and returns at once; the
 * daemon leaks a CLOSE_WAIT socket from daemon_leak after argv[1] ms. */
#include <time.h>

#include "prog_common.h"

static int __attribute__((noinline)) daemon_leak(void) {
    return connect_to_closing_peer();
}

int main(int argc, char **argv) {
    long ms = argc > 1 ? atol(argv[1]) : 500;
    pid_t a = fork();
    if (a < 0) { perror("fork"); return 1; }
    if (a > 0) return 0;                /* the launcher returns at once */
    setsid();
    if (fork() != 0) _exit(0);         /* the session leader goes too */
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    daemon_leak();
    printf("daemon %d done\n", (int)getpid());
    return 0;
}
