/* test_runtime.c -- unit tests of the runtime's events (shim/runtime.c). The
 * hooks are not linked in: each test makes the real call and then reports it
 * with the event a hook would use, in the hook's order. */

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fdtable.h"
#include "report.h"
#include "runtime.h"
#include "sockinfo.h"

#define NTHREADS  16
#define PER_THREAD 24
#define HAMMER_NS 500000000L

static int group_setup(void **state)
{
    (void)state;
    sl_init();
    return __atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE) ? 0 : -1;
}

/* What the socket() hook does. */
static int new_socket(int family, int type)
{
    int fd = socket(family, type, 0);
    if (fd >= 0)
        sl_on_socket(fd, family, type, 0, SL_ORIGIN_SOCKET);
    return fd;
}

/* What the close() hook does: record first, so the number cannot be
 * reused by another thread before the record is gone. */
static void tracked_close(int fd)
{
    sl_on_close(fd);
    close(fd);
}

/* What the dup2() hook does. */
static int tracked_dup2(int oldfd, int newfd)
{
    int rc = dup2(oldfd, newfd);
    if (rc >= 0)
        sl_on_dup(oldfd, newfd);
    return rc;
}

/* Move a new tracked socket to fd number want. */
static int socket_at(int want, int family, int type)
{
    int fd = new_socket(family, type);
    assert_true(fd >= 0);
    assert_int_equal(tracked_dup2(fd, want), want);
    tracked_close(fd);
    return want;
}

static int in_use(uint32_t id)
{
    struct sl_sock *s = sl_sock_get(id);
    return s != NULL && (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) & 1) == 1;
}

static void count_cb(int fd, uint32_t id, void *arg)
{
    (void)fd;
    (void)id;
    ++*(int *)arg;
}

static int table_entries(void)
{
    int n = 0;
    sl_fd_foreach(0, ~0u, count_cb, &n);
    return n;
}

static uint64_t opened(void) { return __atomic_load_n(&sl_stats.opened, __ATOMIC_ACQUIRE); }
static uint64_t closed(void) { return __atomic_load_n(&sl_stats.closed, __ATOMIC_ACQUIRE); }

/* Every test leaves no tracked fd behind. */
static int check_clean(void **state)
{
    (void)state;
    return table_entries() == 0 ? 0 : -1;
}

/* A socket with two fds (dup) is one record with nfds 2; closing one fd
 * keeps the record for the other; closing the last frees it and counts one
 * socket closed. */
static void test_runtime_dup_one_record_two_fds(void **state)
{
    (void)state;
    uint64_t o0 = opened(), c0 = closed();
    int a = new_socket(AF_INET, SOCK_STREAM);
    assert_true(a >= 0);
    uint32_t id = sl_sock_id_of_fd(a);
    assert_int_not_equal(id, 0);
    assert_true(in_use(id));

    int d = fcntl(a, F_DUPFD_CLOEXEC, 300);
    assert_true(d >= 300);
    sl_on_dup(a, d);
    assert_int_equal(sl_sock_id_of_fd(d), id);
    assert_ptr_equal(sl_sock_of_fd(d), sl_sock_get(id));
    assert_int_equal(sl_sock_get(id)->nfds, 2);
    assert_int_equal(opened() - o0, 1);

    tracked_close(a);
    assert_int_equal(sl_sock_id_of_fd(a), 0);
    assert_int_equal(sl_sock_id_of_fd(d), id);
    assert_true(in_use(id));
    assert_int_equal(sl_sock_get(id)->nfds, 1);
    assert_int_equal(closed() - c0, 0);

    tracked_close(d);
    assert_int_equal(sl_sock_id_of_fd(d), 0);
    assert_false(in_use(id));
    assert_int_equal(closed() - c0, 1);
}

/* dup2 onto a tracked fd releases the socket that fd held (counted as
 * closed, record freed), and the fd joins the source's record; dup2 of an
 * untracked fd (a pipe) onto a tracked one just drops the tracked one. */
static void test_runtime_dup2_onto_tracked_releases_old(void **state)
{
    int p[2];
    (void)state;
    uint64_t o0 = opened(), c0 = closed();
    int a = new_socket(AF_INET, SOCK_STREAM);
    int b = new_socket(AF_UNIX, SOCK_DGRAM);
    uint32_t ida = sl_sock_id_of_fd(a), idb = sl_sock_id_of_fd(b);
    assert_int_not_equal(ida, 0);
    assert_int_not_equal(idb, 0);
    assert_int_not_equal(ida, idb);

    assert_int_equal(tracked_dup2(a, b), b);
    assert_int_equal(sl_sock_id_of_fd(b), ida);
    assert_int_equal(sl_sock_get(ida)->nfds, 2);
    assert_false(in_use(idb));
    assert_int_equal(closed() - c0, 1);

    /* dup2 onto an fd that already refers to the same socket changes nothing. */
    int d = dup(a);
    sl_on_dup(a, d);
    assert_int_equal(sl_sock_get(ida)->nfds, 3);
    assert_int_equal(tracked_dup2(a, d), d);
    assert_int_equal(sl_sock_get(ida)->nfds, 3);
    assert_true(in_use(ida));

    assert_int_equal(pipe(p), 0);
    assert_int_equal(tracked_dup2(p[0], d), d);
    assert_int_equal(sl_sock_id_of_fd(d), 0);
    assert_int_equal(sl_sock_get(ida)->nfds, 2);
    close(d);
    close(p[0]);
    close(p[1]);

    tracked_close(a);
    tracked_close(b);
    assert_false(in_use(ida));
    assert_int_equal(opened() - o0, 2);
    assert_int_equal(closed() - c0, 2);
}

/* close_range drops every tracked fd inside [first, last] and none
 * outside; a socket with one fd inside and one outside survives. */
static void test_runtime_close_range_drops_range(void **state)
{
    uint32_t ids[5];
    (void)state;
    uint64_t c0 = closed();
    int below = socket_at(699, AF_INET, SOCK_STREAM);
    for (int i = 0; i < 5; i++) {
        socket_at(700 + i, i % 2 ? AF_UNIX : AF_INET, i % 2 ? SOCK_DGRAM : SOCK_STREAM);
        ids[i] = sl_sock_id_of_fd(700 + i);
    }
    int above = socket_at(705, AF_INET, SOCK_DGRAM);
    assert_int_equal(tracked_dup2(702, 720), 720);     /* 702's socket, outside too */
    c0 = closed();

    sl_on_close_range(700, 704);
    assert_int_equal(syscall(SYS_close_range, 700, 704, 0), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(sl_sock_id_of_fd(700 + i), 0);
        if (i != 2)
            assert_false(in_use(ids[i]));
    }
    assert_int_equal(sl_sock_id_of_fd(720), ids[2]);
    assert_true(in_use(ids[2]));
    assert_int_equal(sl_sock_get(ids[2])->nfds, 1);
    assert_int_not_equal(sl_sock_id_of_fd(below), 0);
    assert_int_not_equal(sl_sock_id_of_fd(above), 0);
    assert_int_equal(closed() - c0, 4);

    tracked_close(720);
    tracked_close(below);
    tracked_close(above);
    assert_int_equal(closed() - c0, 7);
}

/* An fd number reused without a close the runtime saw (the old socket was
 * closed with a raw syscall) gets a fresh record for the new socket, and
 * the old socket counts as closed. */
static void test_runtime_fd_reused_behind_our_back(void **state)
{
    (void)state;
    uint64_t o0 = opened(), c0 = closed();
    int a = new_socket(AF_INET, SOCK_STREAM);
    uint32_t old = sl_sock_id_of_fd(a);
    assert_int_not_equal(old, 0);
    sl_on_eof(a);                                   /* old state must not carry over */
    assert_int_not_equal(sl_sock_get(old)->fin_ns, 0);

    assert_int_equal(syscall(SYS_close, a), 0);
    int b = new_socket(AF_UNIX, SOCK_DGRAM);
    assert_int_equal(b, a);                         /* the lowest free number */
    uint32_t id = sl_sock_id_of_fd(b);
    assert_int_not_equal(id, 0);
    struct sl_sock *s = sl_sock_get(id);
    assert_true(in_use(id));
    assert_int_equal(s->nfds, 1);
    assert_int_equal(s->family, AF_UNIX);
    assert_int_equal(s->type, SOCK_DGRAM);
    assert_int_equal(s->fin_ns, 0);
    uint64_t cookie = 0;
    socklen_t len = sizeof(cookie);
    assert_int_equal(getsockopt(b, SOL_SOCKET, SO_COOKIE, &cookie, &len), 0);
    assert_true(s->cookie == cookie);
    if (id != old)
        assert_false(in_use(old));
    assert_int_equal(opened() - o0, 2);
    assert_int_equal(closed() - c0, 1);

    tracked_close(b);
    assert_false(in_use(id));
    assert_int_equal(closed() - c0, 2);
}

struct found {
    int fd;
    int seen;
};

static void find_fd_cb(struct sl_sock *s, const int *fds, int nfds, void *arg)
{
    struct found *f = arg;
    (void)s;
    for (int i = 0; i < nfds; i++)
        f->seen += fds[i] == f->fd;
}

/* Whether the exit path's walk (which checks each fd still names its
 * recorded socket) gives fd. */
static int walk_gives(int fd)
{
    struct found f = { fd, 0 };
    sl_foreach_socket(find_fd_cb, &f);
    return f.seen;
}

/* An accepted TCP connection is known by the address accept() gave and
 * its listener's port, with no syscall (no cookie is asked): still known
 * after its peer resets it (the kernel then forgets the peer), and not
 * taken for another socket that gets its number after a close the shim
 * did not see: one connected elsewhere, or a fresh unconnected one. */
static void test_runtime_accepted_known_by_peer(void **state)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct sockaddr_in peer;
    socklen_t len = sizeof(addr), peer_len = sizeof(peer);
    struct linger reset = { 1, 0 };
    (void)state;

    int l = new_socket(AF_INET, SOCK_STREAM);
    assert_int_equal(bind(l, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(l, 8), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&addr, &len), 0);
    for (int replacement = 0; replacement < 2; replacement++) {
        int c = new_socket(AF_INET, SOCK_STREAM);
        assert_int_equal(connect(c, (struct sockaddr *)&addr, sizeof(addr)), 0);
        int s = accept(l, (struct sockaddr *)&peer, &peer_len);
        assert_true(s >= 0);
        sl_on_accept(l, s, SL_ORIGIN_ACCEPT, (struct sockaddr *)&peer, peer_len);
        struct sl_sock *r = sl_sock_of_fd(s);
        assert_non_null(r);
        assert_true(r->cookie == 0);
        assert_true(r->flags & SL_SOCK_BY_PEER);
        assert_int_equal(r->sport, ntohs(addr.sin_port));
        assert_int_equal(r->peer_len, sizeof(peer));
        assert_int_equal(walk_gives(s), 1);

        /* the peer resets: getpeername fails now, the socket is the same */
        assert_int_equal(setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
        tracked_close(c);
        for (int i = 0; i < 100 && sl_tcp_state(s) != TCP_CLOSE; i++)
            usleep(1000);
        assert_int_equal(sl_tcp_state(s), TCP_CLOSE);
        assert_int_equal(walk_gives(s), 1);

        /* closed behind our back; its number goes to a socket we never saw */
        uint64_t untracked = sl_stats.closed_untracked;
        assert_int_equal(syscall(SYS_close, s), 0);
        int x = socket(AF_INET, SOCK_STREAM, 0), y = -1;
        assert_true(x >= 0);
        if (replacement == 0) {    /* connected: another peer, another local port */
            assert_int_equal(connect(x, (struct sockaddr *)&addr, sizeof(addr)), 0);
            y = accept(l, NULL, NULL);
            assert_true(y >= 0);
        }
        if (x != s) {              /* onto s's number, as the kernel might have */
            assert_int_equal(dup2(x, s), s);
            close(x);
            x = s;
        }
        assert_int_equal(walk_gives(x), 0);
        assert_int_equal(sl_stats.closed_untracked - untracked, 1);
        assert_int_equal(sl_sock_id_of_fd(x), 0);
        close(x);
        if (y >= 0)
            close(y);
    }
    tracked_close(l);
}

/* A 0-byte read marks the peer's close (fin) on a stream socket, even one
 * created with SOCK_CLOEXEC/SOCK_NONBLOCK, once; never on a datagram
 * socket, and an untracked fd is ignored. */
static void test_runtime_eof_marks_streams_only(void **state)
{
    int sp[2], dp[2], p[2];
    char c;
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp), 0);
    sl_on_socket(sp[0], AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, SL_ORIGIN_SOCKETPAIR);
    sl_on_socket(sp[1], AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, SL_ORIGIN_SOCKETPAIR);
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, dp), 0);
    sl_on_socket(dp[0], AF_UNIX, SOCK_DGRAM, 0, SL_ORIGIN_SOCKETPAIR);
    sl_on_socket(dp[1], AF_UNIX, SOCK_DGRAM, 0, SL_ORIGIN_SOCKETPAIR);

    struct sl_sock *s = sl_sock_of_fd(sp[0]);
    assert_non_null(s);
    assert_int_equal(s->type, SOCK_STREAM);
    assert_int_equal(s->fin_ns, 0);
    assert_int_equal(shutdown(sp[1], SHUT_WR), 0);
    assert_int_equal(read(sp[0], &c, 1), 0);
    int64_t before = sl_now_ns();
    sl_on_eof(sp[0]);
    int64_t fin = s->fin_ns;
    assert_true(fin >= before && fin <= sl_now_ns());
    sl_on_eof(sp[0]);
    assert_true(s->fin_ns == fin);                 /* the first one counts */
    assert_int_equal(sl_sock_of_fd(sp[1])->fin_ns, 0);

    sl_on_eof(dp[0]);
    assert_int_equal(sl_sock_of_fd(dp[0])->fin_ns, 0);

    assert_int_equal(pipe(p), 0);
    sl_on_eof(p[0]);
    sl_on_eof(-1);
    sl_on_eof(1 << 30);
    close(p[0]);
    close(p[1]);

    tracked_close(sp[0]);
    tracked_close(sp[1]);
    tracked_close(dp[0]);
    tracked_close(dp[1]);
}

/* opened counts sockets created (not dups), closed counts sockets whose
 * last fd closed; events for bad fds or made by the shim itself count
 * nothing. */
static void test_runtime_stats_opened_closed(void **state)
{
    int sp[2];
    (void)state;
    uint64_t o0 = opened(), c0 = closed();
    int a = new_socket(AF_INET, SOCK_STREAM);
    int b = new_socket(AF_INET6, SOCK_DGRAM);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    sl_on_socket(sp[0], AF_UNIX, SOCK_STREAM, 0, SL_ORIGIN_SOCKETPAIR);
    sl_on_socket(sp[1], AF_UNIX, SOCK_STREAM, 0, SL_ORIGIN_SOCKETPAIR);
    int d = dup(a);
    sl_on_dup(a, d);
    assert_int_equal(opened() - o0, 4);

    sl_on_socket(-1, AF_INET, SOCK_STREAM, 0, SL_ORIGIN_SOCKET);
    sl_on_socket((int)sl_fdtable_capacity(), AF_INET, SOCK_STREAM, 0, SL_ORIGIN_SOCKET);
    int e = socket(AF_INET, SOCK_STREAM, 0);
    sl_in_shim = 1;                                /* the shim's own socket */
    sl_on_socket(e, AF_INET, SOCK_STREAM, 0, SL_ORIGIN_SOCKET);
    sl_in_shim = 0;
    assert_int_equal(sl_sock_id_of_fd(e), 0);
    close(e);
    assert_int_equal(opened() - o0, 4);

    tracked_close(a);
    assert_int_equal(closed() - c0, 0);
    tracked_close(d);
    tracked_close(sp[0]);
    assert_int_equal(closed() - c0, 2);
    tracked_close(b);
    tracked_close(sp[1]);
    assert_int_equal(opened() - o0, 4);
    assert_int_equal(closed() - c0, 4);
}

/* A tracked TCP socket whose peer closed is described as a close_wait
 * leak with its addresses, state and fds; one whose peer is open is not. */
static void test_runtime_describe_close_wait(void **state)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(addr);
    struct sl_leak leak;
    (void)state;

    int l = new_socket(AF_INET, SOCK_STREAM);
    assert_int_equal(bind(l, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(l, 4), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&addr, &len), 0);
    int c = new_socket(AF_INET, SOCK_STREAM);
    assert_int_equal(connect(c, (struct sockaddr *)&addr, sizeof(addr)), 0);
    sl_on_connect(c, (struct sockaddr *)&addr, sizeof(addr));
    struct sockaddr_in peer;
    socklen_t peer_len = sizeof(peer);
    int s = accept(l, (struct sockaddr *)&peer, &peer_len);
    assert_true(s >= 0);
    sl_on_accept(l, s, SL_ORIGIN_ACCEPT, (struct sockaddr *)&peer, peer_len);
    assert_int_not_equal(sl_sock_id_of_fd(s), 0);
    assert_int_equal(sl_sock_of_fd(s)->origin, SL_ORIGIN_ACCEPT);

    int fds[1] = { c };
    sl_describe(sl_sock_of_fd(c), fds, 1, &leak, sl_now_ns());
    assert_int_equal(leak.kind, SL_KIND_OPEN_AT_EXIT);
    assert_int_equal(leak.tcp_state, TCP_ESTABLISHED);

    tracked_close(s);                             /* the peer hangs up */
    for (int i = 0; i < 100 && sl_tcp_state(c) != TCP_CLOSE_WAIT; i++)
        usleep(1000);
    sl_describe(sl_sock_of_fd(c), fds, 1, &leak, sl_now_ns());
    assert_int_equal(leak.kind, SL_KIND_CLOSE_WAIT);
    assert_int_equal(leak.tcp_state, TCP_CLOSE_WAIT);
    assert_int_equal(leak.fds[0], c);
    assert_int_equal(leak.nfds, 1);
    assert_int_equal(leak.family, AF_INET);
    assert_int_equal(leak.type, SOCK_STREAM);
    assert_true(leak.has_local && leak.has_peer);
    assert_true(strncmp(leak.peer, "127.0.0.1:", 10) == 0);
    assert_int_equal(leak.stack_id, sl_sock_of_fd(c)->stack_id);

    tracked_close(c);
    tracked_close(l);
}

/* ---- many threads ---- */

struct hammer {
    pthread_t thread;
    unsigned index;
    _Atomic int *stop;
    pthread_barrier_t *start;
    unsigned long ops;
};

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    int fds[PER_THREAD], n = 0;
    uint32_t rnd = 0x9e3779b9u * (h->index + 1);

    pthread_barrier_wait(h->start);
    while (!__atomic_load_n(h->stop, __ATOMIC_ACQUIRE)) {
        uint32_t r = xorshift(&rnd);
        int i = n ? (int)(r >> 8) % n : 0, j = n ? (int)(r >> 20) % n : 0;
        switch (r % 4) {
        case 0:
            if (n < PER_THREAD) {
                int fd = r & 0x100 ? new_socket(AF_INET, SOCK_STREAM)
                                   : new_socket(AF_UNIX, SOCK_DGRAM);
                if (fd >= 0)
                    fds[n++] = fd;
            }
            break;
        case 1:
            if (n > 0 && n < PER_THREAD) {
                int d = dup(fds[i]);
                if (d >= 0) {
                    sl_on_dup(fds[i], d);
                    fds[n++] = d;
                }
            }
            break;
        case 2:
            /* Only onto this thread's own fds: another number could be in
             * the middle of being reused by another thread. */
            if (n >= 2 && i != j)
                tracked_dup2(fds[i], fds[j]);
            break;
        default:
            if (n > 0) {
                tracked_close(fds[i]);
                fds[i] = fds[--n];
            }
        }
        h->ops++;
    }
    while (n > 0)
        tracked_close(fds[--n]);
    return NULL;
}

/* 16 threads creating, dup'ing, dup2'ing and closing sockets for half a
 * second, then closing all: no table entry is left, and every socket
 * opened was counted closed exactly once. */
static void test_runtime_threads_hammer_consistent(void **state)
{
    static struct hammer h[NTHREADS];
    _Atomic int stop = 0;
    pthread_barrier_t start;
    struct timespec half = { 0, HAMMER_NS };
    unsigned long ops = 0;
    (void)state;

    uint64_t o0 = opened(), c0 = closed();
    pthread_barrier_init(&start, NULL, NTHREADS + 1);
    for (unsigned t = 0; t < NTHREADS; t++) {
        h[t] = (struct hammer){ .index = t, .stop = &stop, .start = &start };
        assert_int_equal(pthread_create(&h[t].thread, NULL, hammer_run, &h[t]), 0);
    }
    pthread_barrier_wait(&start);
    nanosleep(&half, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (unsigned t = 0; t < NTHREADS; t++) {
        pthread_join(h[t].thread, NULL);
        ops += h[t].ops;
    }
    pthread_barrier_destroy(&start);

    print_message("hammer: %lu operations, %llu sockets\n", ops,
                  (unsigned long long)(opened() - o0));
    assert_true(opened() - o0 > 1000);
    assert_int_equal(table_entries(), 0);
    assert_int_equal(opened() - o0, closed() - c0);
    assert_int_equal(opened(), closed());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_runtime_dup_one_record_two_fds, check_clean),
        cmocka_unit_test_teardown(test_runtime_dup2_onto_tracked_releases_old, check_clean),
        cmocka_unit_test_teardown(test_runtime_close_range_drops_range, check_clean),
        cmocka_unit_test_teardown(test_runtime_fd_reused_behind_our_back, check_clean),
        cmocka_unit_test_teardown(test_runtime_accepted_known_by_peer, check_clean),
        cmocka_unit_test_teardown(test_runtime_eof_marks_streams_only, check_clean),
        cmocka_unit_test_teardown(test_runtime_stats_opened_closed, check_clean),
        cmocka_unit_test_teardown(test_runtime_describe_close_wait, check_clean),
        cmocka_unit_test_teardown(test_runtime_threads_hammer_consistent, check_clean),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
