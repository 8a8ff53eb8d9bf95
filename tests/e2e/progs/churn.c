/* churn.c -- 8 threads race socket/connect/accept/close/dup2/dup3/F_DUPFD/
 * close_range/fork on overlapping fd numbers for a bounded time, while each
 * checks that the bytes it sends through its own socketpair arrive
 * unchanged (no byte of the shim's, or anyone's, in between). The fd
 * numbers they churn are a shared low band and the highest numbers below
 * min(soft limit, 4096), where the shim keeps its fds when the hard limit
 * leaves no room above the soft one.
 * Prints {"bad":N,"ops":N,"open":[fds still open]}; exits 1 if bad > 0.
 *   argv[1]: milliseconds to run (default 2000) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include "e2e_prog.h"

#define NTHREADS 8
#define LOW_BAND 64       /* scratch numbers [LOW_BAND, LOW_BAND + 64) */

static int listen_fd, port, top;
static int pairs[NTHREADS][2];
static _Atomic int stop, bad;
static _Atomic long ops;

static int scratch(unsigned *seed)
{
    unsigned r = (unsigned)rand_r(seed);
    return r & 1 ? LOW_BAND + (int)(r >> 1) % 64 : top - 1 - (int)(r >> 1) % 16;
}

/* Send one numbered message through the pair and read exactly it back. */
static void echo_check(int t, unsigned long seq)
{
    char out[32], in[64];
    int n = snprintf(out, sizeof(out), "t%d:%lu;", t, seq);
    if (write(pairs[t][0], out, (size_t)n) != n) {
        bad++;
        return;
    }
    ssize_t got = recv(pairs[t][1], in, sizeof(in), MSG_DONTWAIT);
    if (got != n || memcmp(in, out, (size_t)n) != 0)
        bad++;
}

static void *churn(void *arg)
{
    int t = (int)(intptr_t)arg;
    unsigned seed = (unsigned)t * 7919u + 1;
    for (unsigned long seq = 0; !stop; seq++) {
        echo_check(t, seq);
        int n = scratch(&seed), m = scratch(&seed);
        switch (rand_r(&seed) % 8) {
        case 0: dup2(pairs[t][0], n); close(n); break;
        case 1: dup3(pairs[t][0], n, O_CLOEXEC); break;
        case 2: { int d = fcntl(pairs[t][0], F_DUPFD, n); if (d >= top) close(d); } break;
        case 3: if (n < m) close_range((unsigned)n, (unsigned)m, 0); break;
        case 4: close(n); break;
        case 5: { int s = socket(AF_INET, SOCK_DGRAM, 0); if (s >= 0) close(s); } break;
        case 6: {
            int c = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = loopback_addr(port);
            if (c >= 0 && connect(c, (struct sockaddr *)&a, sizeof(a)) == 0) {
                int s = accept(listen_fd, NULL, NULL);
                if (s >= 0)
                    close(s);
            }
            if (c >= 0)
                close(c);
            break;
        }
        case 7:
            if (t == 0 && seq % 64 == 0) {
                pid_t p = fork();
                if (p == 0) {
                    int s = socket(AF_INET, SOCK_DGRAM, 0);
                    (void)s;
                    _exit(0);
                }
                if (p > 0)
                    waitpid(p, NULL, 0);
            }
            break;
        }
        ops++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long ms = argc > 1 ? atol(argv[1]) : 2000;
    struct rlimit rl;
    pthread_t th[NTHREADS];

    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    top = rl.rlim_cur < 4096 ? (int)rl.rlim_cur : 4096;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(listen_fd >= 0);
    port = bind_loopback(listen_fd);
    CHECK(listen(listen_fd, 64) == 0);
    for (int t = 0; t < NTHREADS; t++)
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[t]) == 0);
    for (int t = 0; t < NTHREADS; t++)
        CHECK(pthread_create(&th[t], NULL, churn, (void *)(intptr_t)t) == 0);
    sleep_ms(ms);
    stop = 1;
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    /* Leave only the listener and the pairs open: the exit report must
     * list exactly those. */
    close_range(LOW_BAND, LOW_BAND + 63, 0);
    close_range((unsigned)top - 16, (unsigned)top - 1, 0);
    printf("{\"bad\":%d,\"ops\":%ld,\"open\":[%d", bad, ops, listen_fd);
    for (int t = 0; t < NTHREADS; t++)
        printf(",%d,%d", pairs[t][0], pairs[t][1]);
    printf("]}\n");
    return bad ? 1 : 0;
}
