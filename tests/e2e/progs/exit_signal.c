/* exit_signal.c -- _exit() from a SIGALRM handler while the main thread is
 * busy, as watchdogs do. Leaks one socket first, so there is a report to
 * write. The interrupted thread is
 *   malloc   inside malloc/free (glibc's arena lock may be held)
 *   shim     inside socket()/close() (inside the shim's hooks)
 * The handler exits with status 3.
 *   segv     no alarm: the program crashes (a NULL write) after 200 ms */
#include <signal.h>
#include <stdint.h>
#include <sys/time.h>
#include "e2e_prog.h"

static void on_alarm(int sig)
{
    (void)sig;
    _exit(3);
}

int make_leak(void)
{
    return socket(AF_INET, SOCK_STREAM, 0);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "malloc";
    struct sigaction sa = { .sa_handler = on_alarm };
    struct itimerval it = { .it_value = { 0, 20000 } };   /* 20 ms */
    volatile void *keep[64] = { 0 };

    CHECK(make_leak() >= 0);
    if (strcmp(mode, "segv") == 0) {
        sleep_ms(200);
        *(volatile int *)(uintptr_t)argc = 0;   /* argc is 2: an unmapped address */
        return 0;
    }
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    for (unsigned i = 0;; i++) {
        if (strcmp(mode, "malloc") == 0) {
            free((void *)keep[i % 64]);
            keep[i % 64] = malloc(16 + (i * 7919) % 4096);
        } else {
            int fd = socket(AF_INET, SOCK_DGRAM, 0);
            if (fd >= 0)
                close(fd);
        }
    }
}
