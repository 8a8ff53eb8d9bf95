/* zone_race.c -- races the moments the shim makes or moves an fd of its own
 * (issue 8 item 2's two windows).
 *   zone_race dup MS    fork children one after another for MS ms; in each,
 *                       a thread makes the child's first socket and
 *                       connection (the shim makes its memfds, epoll set,
 *                       eventfd and pipe, each at the lowest free number
 *                       before moving it away) while another thread puts
 *                       its own socketpair end over every fd that is not
 *                       the child's (dup2/dup3/syscall(SYS_dup3)), writes
 *                       through it, holds it 2 ms and closes it: the bytes
 *                       must arrive and the close must succeed (the fd is
 *                       the program's).
 *   zone_race limit MS  one thread moves the soft RLIMIT_NOFILE up and down
 *                       (the shim moves its fds above the new limit each
 *                       time, raising the limit for a moment to do so)
 *                       while another reads it with getrlimit, prlimit and
 *                       sysconf: it must only ever see a value the program
 *                       set.
 * Prints {"bad":N,"rounds":N,"hits":N}; hits counts dups onto a number the
 * shim held a moment before (dup) or limit reads (limit). Exits 1 if bad. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include "e2e_prog.h"

#define LOW_SOFT   258       /* 3 mod 5: the shim's raises (+64) never land on */
#define HIGH_BASE  320       /* the values set: 258, and 320 + 5k */
#define HIGH_STEP  5

static _Atomic int stop;
/* shared with the forked children */
static struct counts { _Atomic long bad, hits, rounds; } *cnt;
#define bad (cnt->bad)
#define hits (cnt->hits)
#define rounds (cnt->rounds)

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- dup: in a fresh child, over the shim's new fds ---- */

static int port, pair[2], child_sock;

static int take(unsigned how, int from, int n)
{
    switch (how % 3) {
    case 0: return dup2(from, n);
    case 1: return dup3(from, n, O_CLOEXEC);
    default: return (int)syscall(SYS_dup3, from, n, O_CLOEXEC);
    }
}

/* Over every number below 64 that is not the child's own (a socket) and
 * not stdio: at this moment, only a new fd of the shim's. */
static void *overwrite(void *arg)
{
    char link[256], path[64], buf[64];
    unsigned how = 0;
    (void)arg;
    while (!stop) {
        for (int n = 3; n < 64; n++) {
            snprintf(path, sizeof(path), "/proc/self/fd/%d", n);
            ssize_t len = readlink(path, link, sizeof(link) - 1);
            if (len <= 0)
                continue;
            link[len] = '\0';
            if (strncmp(link, "socket:", 7) == 0 || strncmp(link, "/dev/", 5) == 0)
                continue;
            if (take(how++, pair[0], n) != n)
                continue;
            hits++;
            /* hold it a moment, as a program would: the shim must not
             * close or use it meanwhile */
            if (write(n, "x", 1) != 1)
                bad++;
            sleep_ms(2);
            if (recv(pair[1], buf, sizeof(buf), MSG_DONTWAIT) != 1)
                bad++;
            if (close(n) != 0) {
                fprintf(stderr, "zone_race: close(%d) after dup onto it: %s\n", n,
                        strerror(errno));
                bad++;
            }
        }
    }
    return NULL;
}

static int dup_child(void)
{
    pthread_t t;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    CHECK(pthread_create(&t, NULL, overwrite, NULL) == 0);
    /* the child's first socket and connection: the shim's fds are made now */
    child_sock = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(child_sock >= 0);
    connect_loopback(child_sock, port);
    sleep_ms(5);
    stop = 1;
    pthread_join(t, NULL);
    close(child_sock);
    return 0;
}

static int dup_mode(long ms)
{
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(listener >= 0);
    port = bind_loopback(listener);
    CHECK(listen(listener, 256) == 0);
    long end = now_ms() + ms;
    while (now_ms() < end) {
        pid_t p = fork();
        CHECK(p >= 0);
        if (p == 0) {
            int rc = dup_child();
            fflush(stderr);
            _exit(rc);
        }
        int st;
        CHECK(waitpid(p, &st, 0) == p);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "zone_race: a child ended with status %#x\n", st);
            bad++;
        }
        int c = accept(listener, NULL, NULL);
        if (c >= 0)
            close(c);
        rounds++;
    }
    close(listener);
    return 0;
}

/* ---- limit: reads of RLIMIT_NOFILE while the shim moves its fds ---- */

static int legal(rlim_t v)
{
    return v == LOW_SOFT || (v >= HIGH_BASE && (v - HIGH_BASE) % HIGH_STEP == 0);
}

static void *read_limit(void *arg)
{
    (void)arg;
    for (unsigned i = 0; !stop; i++) {
        struct rlimit rl;
        rlim_t v;
        if (i % 3 == 0) {
            CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
            v = rl.rlim_cur;
        } else if (i % 3 == 1) {
            CHECK(prlimit(0, RLIMIT_NOFILE, NULL, &rl) == 0);
            v = rl.rlim_cur;
        } else {
            v = (rlim_t)sysconf(_SC_OPEN_MAX);
        }
        hits++;
        if (!legal(v)) {
            if (bad++ < 5)
                fprintf(stderr, "zone_race: read a soft limit of %llu, never set\n",
                        (unsigned long long)v);
        }
    }
    return NULL;
}

static int limit_mode(long ms)
{
    struct rlimit rl;
    pthread_t t;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rlim_t hard = rl.rlim_max;
    /* the shim's fds exist: a socket, a connection to ourselves */
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(listener >= 0);
    int p = bind_loopback(listener);
    CHECK(listen(listener, 4) == 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c >= 0);
    connect_loopback(c, p);
    rl.rlim_cur = LOW_SOFT;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    CHECK(pthread_create(&t, NULL, read_limit, NULL) == 0);
    long end = now_ms() + ms;
    for (rlim_t k = 0; now_ms() < end; k++) {
        rlim_t high = HIGH_BASE + HIGH_STEP * (k % 600);
        if (high + 64 >= hard || high + 64 >= 4096)
            break;
        rl.rlim_cur = high;          /* above the shim's fds: they move up */
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
        rl.rlim_cur = LOW_SOFT;
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
        rounds++;
    }
    stop = 1;
    pthread_join(t, NULL);
    close(c);
    close(listener);
    return 0;
}

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    long ms = atol(argv[2]);
    cnt = mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(cnt != MAP_FAILED);
    if (strcmp(argv[1], "dup") == 0)
        dup_mode(ms);
    else if (strcmp(argv[1], "limit") == 0)
        limit_mode(ms);
    else
        return 2;
    printf("{\"bad\":%ld,\"rounds\":%ld,\"hits\":%ld}\n", bad, rounds, hits);
    return bad ? 1 : 0;
}
