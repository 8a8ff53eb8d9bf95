/* attach_churn.c -- 4 threads of socket churn for the attach/detach stress
 * test: each connects to the listener, the acceptor answers and closes,
 * the client reads the reply and the EOF, closes. Any unexpected result of
 * a call is counted. A line "pause"/"resume" on stdin stops and restarts
 * the churn (between rounds nothing of it is open); EOF on stdin ends the
 * run with "ops N errors E". */
#include <errno.h>
#include <pthread.h>

#include "e2e_prog.h"

#define THREADS 4

static int port;
static _Atomic long ops, errors;
static _Atomic int paused, done;
static _Atomic int busy;

static void *client(void *arg)
{
    (void)arg;
    while (!done) {
        if (paused) {
            sleep_ms(2);
            continue;
        }
        busy++;
        if (paused) {
            busy--;
            continue;
        }
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = loopback_addr(port);
        char b[8];
        if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
            read(s, b, sizeof(b)) != 2 || read(s, b, sizeof(b)) != 0)
            errors++;
        if (s >= 0 && close(s) != 0)
            errors++;
        ops++;
        busy--;
    }
    return NULL;
}

static void *acceptor(void *arg)
{
    int l = *(int *)arg;
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0) {
            if (errno != EINTR)
                errors++;
            continue;
        }
        if (write(c, "ok", 2) != 2 || close(c) != 0)
            errors++;
    }
    return NULL;
}

int main(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    pthread_t t[THREADS + 1];
    CHECK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
    port = bind_loopback(l);
    CHECK(listen(l, 1024) == 0);
    CHECK(pthread_create(&t[THREADS], NULL, acceptor, &l) == 0);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, client, NULL) == 0);
    printf("ready\n");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof(line), stdin)) {
        if (!strncmp(line, "pause", 5)) {
            paused = 1;
            while (busy)
                sleep_ms(1);
            sleep_ms(20);       /* the acceptor's last close */
            printf("paused\n");
        } else if (!strncmp(line, "resume", 6)) {
            paused = 0;
            printf("resumed\n");
        }
        fflush(stdout);
    }
    done = 1;
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("ops %ld errors %ld\n", (long)ops, (long)errors);
    return errors == 0 ? 0 : 1;
}
