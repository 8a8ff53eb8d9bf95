/* test_live_closed.c -- unit tests of the closed-first queue
 * (shim/live_closed.c): real loopback connections, closed the ways
 * programs close them, classified from real sock_diag dumps. */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "live_closed.h"
#include "sockinfo.h"

struct fixture {
    struct sl_live_shared *r;   /* the region without its socket table */
    struct sl_diag *diag;
    struct sl_diag_list list;
    int listener;
    struct sockaddr_in addr;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    socklen_t len = sizeof(f->addr);
    assert_non_null(f);
    f->r = calloc(1, sizeof(*f->r));
    assert_non_null(f->r);
    f->diag = sl_diag_open();
    assert_non_null(f->diag);
    f->addr.sin_family = AF_INET;
    f->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->listener = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->listener >= 0);
    assert_int_equal(bind(f->listener, (struct sockaddr *)&f->addr, sizeof(f->addr)), 0);
    assert_int_equal(listen(f->listener, 16), 0);
    assert_int_equal(getsockname(f->listener, (struct sockaddr *)&f->addr, &len), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close(f->listener);
    sl_diag_close(f->diag);
    sl_diag_list_free(&f->list);
    free(f->r);
    free(f);
    return 0;
}

/* A connected pair: *client (connect) and *server (accept). */
static void connect_pair(struct fixture *f, int *client, int *server)
{
    *client = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*client >= 0);
    assert_int_equal(connect(*client, (struct sockaddr *)&f->addr, sizeof(f->addr)), 0);
    *server = accept(f->listener, NULL, NULL);
    assert_true(*server >= 0);
}

static uint64_t cookie_of(int fd)
{
    uint64_t c = 0;
    assert_int_equal(sl_sock_cookie(fd, &c), 0);
    assert_true(c != 0);
    return c;
}

static void settle(void)
{
    struct timespec ms = { 0, 20 * 1000000L };
    nanosleep(&ms, NULL);
}

static int ready_peers(const struct sl_live_shared *r, struct sl_live_peer *out)
{
    int n = 0;
    for (int i = 0; i < SL_LIVE_NPEER; i++)
        if (r->peers[i].state == SL_SLOT_READY && n++ == 0 && out != NULL)
            *out = r->peers[i];
    return n;
}

/* The host queues a close just before close(2): a drain in between sees
 * the connection still open and looks again next time, when the client,
 * which closed first, sits in FIN_WAIT2: counted once, per destination,
 * and its peer (the server, which never closed) is watched from the time
 * of the close. */
static void test_live_closed_first_close_counted_once_with_peer_watch(void **state)
{
    struct fixture *f = *state;
    int c, s;
    struct sl_live_peer p;
    connect_pair(f, &c, &s);
    uint64_t cookie = cookie_of(c);
    assert_int_equal(sl_live_closed_add(f->r, cookie, NULL, 0, 7, 12345, 0), 1);
    assert_int_equal(sl_live_closed_pending(f->r), 1);

    assert_int_equal(sl_live_closed_drain(f->r, f->diag, &f->list, 0), 0);
    assert_int_equal(f->r->closed_first, 0);            /* still open: not settled */
    assert_int_equal(sl_live_closed_pending(f->r), 1);

    close(c);
    settle();
    assert_int_equal(sl_live_closed_drain(f->r, f->diag, &f->list, 0), 1);
    assert_int_equal(f->r->closed_first, 1);
    assert_int_equal(sl_live_closed_pending(f->r), 0);
    assert_int_equal(ready_peers(f->r, &p), 1);
    assert_int_equal(p.stack_id, 7);
    assert_int_equal(p.since_ns, 12345);
    assert_int_equal(p.shut_only, 0);
    const struct sockaddr_in *peer = (const void *)&p.peer;
    assert_int_equal(peer->sin_port, f->addr.sin_port);
    int dests = 0;
    for (int i = 0; i < SL_LIVE_NDEST; i++)
        if (f->r->dests[i].state == SL_SLOT_READY) {
            const struct sockaddr_in *d = (const void *)&f->r->dests[i].addr;
            assert_int_equal(d->sin_port, f->addr.sin_port);
            assert_int_equal(f->r->dests[i].closed_first, 1);
            dests++;
        }
    assert_int_equal(dests, 1);

    assert_int_equal(sl_live_closed_drain(f->r, f->diag, &f->list, 1), 0);   /* nothing left */
    assert_int_equal(f->r->closed_first, 1);
    close(s);
}

/* Closed first after the peer closed too (TIME_WAIT): counted, no watch. */
static void test_live_closed_time_wait_counted_without_peer_watch(void **state)
{
    struct fixture *f = *state;
    int c, s;
    char b;
    connect_pair(f, &c, &s);
    uint64_t cookie = cookie_of(c);
    close(c);
    assert_int_equal(read(s, &b, 1), 0);
    close(s);
    settle();
    sl_live_closed_add(f->r, cookie, NULL, 0, 1, 1, 0);
    assert_int_equal(sl_live_closed_drain(f->r, f->diag, &f->list, 1), 1);
    assert_int_equal(f->r->closed_first, 1);
    assert_int_equal(ready_peers(f->r, NULL), 0);
}

/* A reset (SO_LINGER 0) leaves no TIME_WAIT, and a connection whose peer
 * closed first leaves nothing here: neither is closed first, even after
 * the exit drain's second dump. */
static void test_live_closed_reset_and_peer_first_not_counted(void **state)
{
    struct fixture *f = *state;
    int c1, s1, c2, s2;
    char b;
    struct linger reset = { .l_onoff = 1, .l_linger = 0 };
    connect_pair(f, &c1, &s1);
    connect_pair(f, &c2, &s2);
    uint64_t k1 = cookie_of(c1), k2 = cookie_of(c2);
    assert_int_equal(setsockopt(c1, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
    close(c1);
    close(s2);                                  /* the peer closes first */
    assert_int_equal(read(c2, &b, 1), 0);
    close(c2);
    settle();
    sl_live_closed_add(f->r, k1, NULL, 0, 1, 1, 0);
    sl_live_closed_add(f->r, k2, NULL, 0, 1, 1, 0);
    assert_int_equal(sl_live_closed_drain(f->r, f->diag, &f->list, 1), 2);
    assert_int_equal(f->r->closed_first, 0);
    assert_int_equal(sl_live_closed_pending(f->r), 0);
    assert_int_equal(ready_peers(f->r, NULL), 0);
    close(s1);
}

/* A full queue drops (and counts) closes instead of blocking the host;
 * after a drain it takes closes again. */
static void test_live_closed_full_queue_drops_and_recovers(void **state)
{
    struct fixture *f = *state;
    int taken = 0;
    for (uint64_t i = 0; i < SL_LIVE_NCLOSED; i++)
        taken += sl_live_closed_add(f->r, 1000 + i, NULL, 0, 1, 1, 0);
    assert_int_equal(taken, SL_LIVE_NCLOSED);
    assert_int_equal(sl_live_closed_add(f->r, 1, NULL, 0, 1, 1, 0), 0);
    assert_int_equal(f->r->closed_dropped, 1);
    assert_int_equal(sl_live_closed_pending(f->r), SL_LIVE_NCLOSED);
    /* no such cookies: settled as not first */
    assert_int_equal(sl_live_closed_drain(f->r, f->diag, &f->list, 1), SL_LIVE_NCLOSED);
    assert_int_equal(f->r->closed_first, 0);
    sl_live_closed_add(f->r, 1, NULL, 0, 1, 1, 0);
    assert_int_equal(sl_live_closed_pending(f->r), 1);
    assert_int_equal(f->r->closed_dropped, 1);
}

/* An accepted connection is queued by its peer's address and its
 * listener's port (no cookie was asked): the server that closes first is
 * found in FIN_WAIT2 by them, counted once, per destination (the client),
 * and the client's port is watched. Its twin whose client reset it first
 * leaves nothing and is not counted; neither is a connection to another
 * port of the same client address. */
static void test_live_closed_accepted_connection_found_by_peer(void **state)
{
    struct fixture *f = *state;
    struct linger reset = { 1, 0 };
    struct sl_live_peer p;
    int c1, s1, c2, s2;
    connect_pair(f, &c1, &s1);
    connect_pair(f, &c2, &s2);
    struct sockaddr_in6 peer1, peer2, other;
    socklen_t len = sizeof(peer1);
    assert_int_equal(getpeername(s1, (struct sockaddr *)&peer1, &len), 0);
    len = sizeof(peer2);
    assert_int_equal(getpeername(s2, (struct sockaddr *)&peer2, &len), 0);
    other = peer1;
    ((struct sockaddr_in *)&other)->sin_port = htons(1);
    unsigned sport = ntohs(f->addr.sin_port);

    assert_int_equal(sl_live_closed_add(f->r, 0, &peer1, sport, 9, 777, 0), 1);
    assert_int_equal(sl_live_closed_add(f->r, 0, &other, sport, 9, 777, 0), 1);
    close(s1);                                  /* the server closes first */
    assert_int_equal(setsockopt(c2, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
    close(c2);                                  /* the client resets */
    settle();
    assert_int_equal(sl_live_closed_add(f->r, 0, &peer2, sport, 9, 778, 0), 1);
    close(s2);
    settle();
    /* final: every miss settled at once */
    assert_int_equal(sl_live_closed_drain(f->r, f->diag, &f->list, 1), 3);
    assert_int_equal(f->r->closed_first, 1);
    assert_int_equal(ready_peers(f->r, &p), 1);
    assert_int_equal(p.stack_id, 9);
    assert_int_equal(p.since_ns, 777);
    assert_int_equal(((const struct sockaddr_in *)&p.peer)->sin_port,
                     ((const struct sockaddr_in *)&peer1)->sin_port);
    close(c1);
}

/* A client connection to f's listener closed both ways, client first: the
 * client's side sits in TIME_WAIT. Returns its cookie. */
static uint64_t time_wait_to(struct fixture *f, int listener, const struct sockaddr_in *to)
{
    (void)f;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c >= 0);
    assert_int_equal(connect(c, (const struct sockaddr *)to, sizeof(*to)), 0);
    int s = accept(listener, NULL, NULL);
    assert_true(s >= 0);
    uint64_t cookie = cookie_of(c);
    close(c);
    settle();
    close(s);
    settle();
    return cookie;
}

/* The dump of a batch is limited in the kernel to the batch's ports (a
 * busy host has tens of thousands of TIME_WAIT sockets): a TIME_WAIT to one
 * listener's port is in a dump limited to that peer port, not in one
 * limited to another; several ports are alternatives, up to the most a
 * filter takes, which the kernel accepts. */
static void test_live_closed_dump_limited_to_the_batch_ports(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_in b = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(b);
    int lb = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lb >= 0);
    assert_int_equal(bind(lb, (struct sockaddr *)&b, sizeof(b)), 0);
    assert_int_equal(listen(lb, 4), 0);
    assert_int_equal(getsockname(lb, (struct sockaddr *)&b, &len), 0);
    uint64_t to_a = time_wait_to(f, f->listener, &f->addr), to_b = time_wait_to(f, lb, &b);
    unsigned pa = ntohs(f->addr.sin_port), pb = ntohs(b.sin_port);
    uint32_t tw = 1u << TCP_TIME_WAIT;

    struct sl_diag_ports only_a = { 0 }, both = { 0 }, full = { 0 };
    assert_int_equal(sl_diag_ports_add(&only_a, pa, 0), 0);
    assert_int_equal(sl_diag_list_tcp_ports(f->diag, tw, &only_a, &f->list), 0);
    assert_non_null(sl_diag_list_find(&f->list, to_a));
    assert_null(sl_diag_list_find(&f->list, to_b));
    for (size_t i = 0; i < f->list.n; i++)
        assert_int_equal(f->list.v[i].dport, pa);

    assert_int_equal(sl_diag_ports_add(&both, pb, 0), 0);
    assert_int_equal(sl_diag_ports_add(&both, 1, 1), 0);      /* a local port: no match */
    assert_int_equal(sl_diag_ports_add(&both, pa, 0), 0);
    assert_int_equal(sl_diag_ports_add(&both, pa, 0), 0);     /* once */
    assert_int_equal(both.n, 3);
    assert_int_equal(sl_diag_list_tcp_ports(f->diag, tw, &both, &f->list), 0);
    assert_non_null(sl_diag_list_find(&f->list, to_a));
    assert_non_null(sl_diag_list_find(&f->list, to_b));

    for (unsigned port = 2; full.n < SL_DIAG_MAX_PORTS - 1; port++)
        assert_int_equal(sl_diag_ports_add(&full, port, port % 2), 0);
    assert_int_equal(sl_diag_ports_add(&full, pb, 0), 0);
    assert_int_equal(sl_diag_ports_add(&full, pa, 0), -1);    /* full: dump everything */
    assert_int_equal(sl_diag_list_tcp_ports(f->diag, tw, &full, &f->list), 0);
    assert_null(sl_diag_list_find(&f->list, to_a));
    assert_non_null(sl_diag_list_find(&f->list, to_b));
    close(lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_live_closed_dump_limited_to_the_batch_ports,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_closed_accepted_connection_found_by_peer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_closed_first_close_counted_once_with_peer_watch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_closed_time_wait_counted_without_peer_watch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_closed_reset_and_peer_first_not_counted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_closed_full_queue_drops_and_recovers,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
