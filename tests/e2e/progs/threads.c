/* threads.c -- 16 threads hammer socket/connect/accept/dup/dup2/close on one
 * listener for about a second; every socket is released by the end. Prints
 * {"opened":N}: every socket this process created or accepted. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "e2e_prog.h"

#define NTHREADS 16
#define MAX_ROUNDS 1500   /* per thread: stays clear of ephemeral port limits */

static int lfd, lport;
static atomic_long opened = 1;   /* the listener */
static struct timespec deadline;

static int before_deadline(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec < deadline.tv_sec
        || (now.tv_sec == deadline.tv_sec && now.tv_nsec < deadline.tv_nsec);
}

/* One round: a connection whose two ends trade fds through dup/dup2, and a
 * UDP socket dup2'ed over the client fd (releasing the client's socket). */
static void round_trip(int use_accept4)
{
    int c = socket(AF_INET, SOCK_STREAM, 0), a, d, u;
    struct sockaddr_in addr = loopback_addr(lport);

    CHECK(c >= 0);
    opened++;
    if (connect(c, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(c);
        return;
    }
    a = use_accept4 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : accept(lfd, NULL, NULL);
    CHECK(a >= 0);
    opened++;
    CHECK((d = dup(c)) >= 0);
    CHECK(dup2(a, d) == d);   /* d leaves the client socket for the accepted one */
    close(a);
    close(d);                 /* the server side closes first: no client TIME_WAIT */
    u = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(u >= 0);
    opened++;
    CHECK(dup2(u, c) == c);   /* releases the client socket's last fd */
    close(u);
    close(c);
}

static void *hammer(void *arg)
{
    int use_accept4 = (int)(long)arg & 1;

    for (int i = 0; i < MAX_ROUNDS && before_deadline(); i++)
        round_trip(use_accept4);
    return NULL;
}

int main(void)
{
    pthread_t t[NTHREADS];

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(lfd >= 0);
    lport = bind_loopback(lfd);
    CHECK(listen(lfd, 1024) == 0);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += 1;
    for (long i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, hammer, (void *)i) == 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    close(lfd);
    printf("{\"opened\":%ld}\n", (long)opened);
    return 0;
}
