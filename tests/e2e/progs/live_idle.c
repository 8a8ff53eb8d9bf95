/* live_idle.c -- a pool that never reads its idle connection again: it
 * connects to PORT, sends one line, and sleeps while the server replies and
 * hangs up (CLOSE_WAIT here). With CLOSE_MS >= 0 it closes the socket after
 * that long (a pool that notices late). It also owns a SIGUSR2 handler, to
 * show that a snapshot signal chains to it.
 *
 *     live_idle PORT HOLD_MS [CLOSE_MS]
 * Prints {"fd":N} at start and {"usr2":COUNT} at exit. */
#include <signal.h>
#include <time.h>
#include "e2e_prog.h"

static volatile sig_atomic_t usr2_count;

static void on_usr2(int sig)
{
    (void)sig;
    usr2_count++;
}

int pool_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    connect_loopback(fd, port);
    return fd;
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_usr2 };
    struct timespec t0;
    CHECK(argc >= 3);
    int port = atoi(argv[1]);
    long hold_ms = atol(argv[2]), close_ms = argc > 3 ? atol(argv[3]) : -1;

    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
    int fd = pool_connect(port);
    CHECK(write(fd, "hello\n", 6) == 6);
    printf("{\"fd\":%d}\n", fd);
    fflush(stdout);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (elapsed_ms(&t0) < hold_ms) {
        if (close_ms >= 0 && elapsed_ms(&t0) >= close_ms) {
            close(fd);      /* the pool finally evicts it */
            close_ms = -1;
        }
        sleep_ms(10);
    }
    printf("{\"usr2\":%d}\n", (int)usr2_count);
    return 0;
}
