/* live_block.c -- a program whose connection's peer hangs up while the
 * program is blocked for a long time (select, epoll_wait, a sleep) or busy
 * on the CPU, from one thread or with a second thread doing the same.
 *
 *     live_block PORT MODE THREADS HOLD_MS
 * MODE: select | epoll | sleep | busy. With PORT 0 it listens instead,
 * prints {"port":N}, and accepts its one connection only after ACCEPT_MS
 * (the FIN may come before it holds the socket):
 *     live_block 0 MODE THREADS HOLD_MS ACCEPT_MS
 * Prints {"fd":N} once it holds the connection. With LIVE_BLOCK_NO_BORROW
 * set, a seccomp filter first makes pidfd_getfd fail with EPERM (what Yama's
 * ptrace scope does to the watcher process, which inherits the filter).
 * With LIVE_BLOCK_NO_COOKIE set and PORT 0, another filter makes
 * getsockopt(SO_COOKIE) fail from the listen() on (the watcher, started at
 * the listener's socket(), is not under it): an accepted connection must
 * be tracked without its cookie. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/select.h>
#include <time.h>
#include "e2e_prog.h"

static const char *mode;
static long hold_ms;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void block(void)
{
    if (!strcmp(mode, "select")) {
        int p[2];
        CHECK(pipe(p) == 0);
        fd_set r;
        FD_ZERO(&r);
        FD_SET(p[0], &r);
        struct timeval tv = { hold_ms / 1000, (hold_ms % 1000) * 1000 };
        CHECK(select(p[0] + 1, &r, NULL, NULL, &tv) == 0);
    } else if (!strcmp(mode, "epoll")) {
        int ep = epoll_create1(0);
        struct epoll_event ev;
        CHECK(ep >= 0 && epoll_wait(ep, &ev, 1, (int)hold_ms) == 0);
    } else if (!strcmp(mode, "sleep")) {
        struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000 };
        CHECK(nanosleep(&ts, NULL) == 0);
    } else {
        volatile unsigned long spin = 0;
        double end = now_ms() + hold_ms;
        while (now_ms() < end)
            for (int i = 0; i < 100000; i++)
                spin++;
    }
}

static void *second(void *arg)
{
    (void)arg;
    block();
    return NULL;
}

int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    connect_loopback(fd, port);
    CHECK(write(fd, "hello\n", 6) == 6);
    return fd;
}

int late_accept(int lfd, long accept_ms)
{
    sleep_ms(accept_ms);
    int fd = accept(lfd, NULL, NULL);
    CHECK(fd >= 0);
    return fd;
}

static void install_filter(struct sock_filter *f, unsigned short n)
{
    struct sock_fprog prog = { .len = n, .filter = f };
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
}

static void refuse_pidfd_getfd(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_getfd, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    install_filter(f, sizeof(f) / sizeof(f[0]));
}

static void refuse_so_cookie(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getsockopt, 0, 5),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOL_SOCKET, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SO_COOKIE, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    install_filter(f, sizeof(f) / sizeof(f[0]));
}

int main(int argc, char **argv)
{
    CHECK(argc >= 5);
    if (getenv("LIVE_BLOCK_NO_BORROW") != NULL)
        refuse_pidfd_getfd();
    int port = atoi(argv[1]), fd;
    mode = argv[2];
    hold_ms = atol(argv[4]);
    if (port == 0) {
        CHECK(argc == 6);
        int lfd = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(lfd >= 0);
        printf("{\"port\":%d}\n", bind_loopback(lfd));
        CHECK(listen(lfd, 4) == 0);
        if (getenv("LIVE_BLOCK_NO_COOKIE") != NULL)
            refuse_so_cookie();
        fflush(stdout);
        fd = late_accept(lfd, atol(argv[5]));
    } else {
        fd = client_connect(port);
    }
    printf("{\"fd\":%d}\n", fd);
    fflush(stdout);
    pthread_t t;
    if (atoi(argv[3]) > 1)
        CHECK(pthread_create(&t, NULL, second, NULL) == 0);
    block();
    if (atoi(argv[3]) > 1)
        pthread_join(t, NULL);
    return 0;
}
