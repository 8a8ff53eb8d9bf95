/* live_churn.c -- connection churn: N short connections to one server (a
 * thread here that reads to EOF and closes), each closed by the client
 * first, at RATE per second. Every client port then sits in TIME_WAIT for
 * 60 s; at this rate the ephemeral range would run out.
 *
 *     live_churn N RATE HOLD_MS
 * Prints {"port":P,"connections":N}. */
#include <pthread.h>
#include <time.h>
#include "e2e_prog.h"

static int listener;

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        char buf[64];
        int c = accept(listener, NULL, NULL);
        if (c < 0)
            return NULL;
        while (read(c, buf, sizeof(buf)) > 0)
            ;
        close(c);       /* after the client's FIN: the client closed first */
    }
}

int churn_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    connect_loopback(fd, port);
    return fd;
}

int main(int argc, char **argv)
{
    CHECK(argc == 4);
    long n = atol(argv[1]), rate = atol(argv[2]);
    pthread_t t;
    struct timespec t0, now;

    listener = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(listener >= 0);
    int port = bind_loopback(listener);
    CHECK(listen(listener, 128) == 0);
    CHECK(pthread_create(&t, NULL, serve, NULL) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        close(churn_connect(port));
        for (;;) {      /* pace: connection i+1 not before (i+1)/rate s */
            clock_gettime(CLOCK_MONOTONIC, &now);
            double dt = (now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;
            if (dt * rate >= i + 1)
                break;
            usleep(200);
        }
    }
    printf("{\"port\":%d,\"connections\":%ld}\n", port, n);
    fflush(stdout);
    sleep_ms(atol(argv[3]));
    return 0;
}
