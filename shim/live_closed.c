/* live_closed.c -- closed-first accounting (see live_closed.h).
 *
 * Asking the kernel at close (TCP_INFO for the state, getsockname for the
 * address) cost every connection three syscalls, about 2 us of the ~48 us
 * a loopback connect/accept/close takes here. A socket's cookie survives
 * its close: the orphan in FIN_WAIT1/2 and the TIME_WAIT entry keep it, and
 * sock_diag shows it with the addresses. So the host only queues (cookie,
 * stack, time) and one dump later answers a whole batch. A connection reset
 * (SO_LINGER 0) leaves nothing behind: it is not counted as closed first,
 * which is right for what the count is for (TIME_WAIT, peers left open). */
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "live_closed.h"
#include "runtime.h"

#define PROBES 8        /* slots tried before giving up */
#define YOUNG_NS (100 * 1000000LL)

_Static_assert(sizeof(struct sl_live_closed) == 64, "one cache line a queued close");

void sl_live_peer_watch(struct sl_live_shared *r, uint32_t stack_id, int64_t since_ns,
                        const struct sockaddr_in6 *local, const struct sockaddr_in6 *peer,
                        int shut_only)
{
    unsigned start = __atomic_fetch_add(&r->peer_cursor, 1, __ATOMIC_RELAXED);
    for (unsigned k = 0; k < PROBES; k++) {
        struct sl_live_peer *p = &r->peers[(start + k) % SL_LIVE_NPEER];
        int expected = SL_SLOT_FREE;
        if (!__atomic_compare_exchange_n(&p->state, &expected, SL_SLOT_WRITING, 0,
                                         __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            continue;
        p->shut_only = (uint8_t)shut_only;
        p->stack_id = stack_id;
        p->since_ns = since_ns;
        p->local = *local;
        p->peer = *peer;
        __atomic_store_n(&p->state, SL_SLOT_READY, __ATOMIC_RELEASE);
        return;
    }
    __atomic_fetch_add(&r->peers_dropped, 1, __ATOMIC_RELAXED);
}

static int same_dest(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b)
{
    if (a->sin6_family != b->sin6_family)
        return 0;
    if (a->sin6_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    return a->sin6_port == b->sin6_port && !memcmp(&a->sin6_addr, &b->sin6_addr, 16);
}

static unsigned dest_hash(const struct sockaddr_in6 *a)
{
    const unsigned char *p = (const unsigned char *)a;
    size_t len = a->sin6_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(*a);
    unsigned h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void dest_count(struct sl_live_shared *r, const struct sockaddr_in6 *peer,
                       int64_t closed_ns)
{
    unsigned h = dest_hash(peer);
    for (unsigned k = 0; k < PROBES; k++) {
        struct sl_live_dest *d = &r->dests[(h + k) % SL_LIVE_NDEST];
        int state = __atomic_load_n(&d->state, __ATOMIC_ACQUIRE);
        if (state == SL_SLOT_FREE) {
            if (!__atomic_compare_exchange_n(&d->state, &state, SL_SLOT_WRITING, 0,
                                             __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                continue;
            d->addr = *peer;
            d->first_ns = closed_ns;
            __atomic_store_n(&d->state, SL_SLOT_READY, __ATOMIC_RELEASE);
            state = SL_SLOT_READY;
        }
        if (state == SL_SLOT_READY && same_dest(&d->addr, peer)) {
            __atomic_fetch_add(&d->closed_first, 1, __ATOMIC_RELAXED);
            return;
        }
    }
}

int sl_live_closed_add(struct sl_live_shared *r, uint64_t cookie, const struct sockaddr_in6 *peer,
                       unsigned sport, uint32_t stack_id, int64_t closed_ns, int peer_watched)
{
    uint64_t pos = __atomic_load_n(&r->closed_head, __ATOMIC_RELAXED);
    struct sl_live_closed *c;
    for (;;) {
        c = &r->closed_ring[pos % SL_LIVE_NCLOSED];
        uint64_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE), lap = pos / SL_LIVE_NCLOSED;
        if (seq == 2 * lap) {
            if (__atomic_compare_exchange_n(&r->closed_head, &pos, pos + 1, 1,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                break;
        } else if (seq < 2 * lap) {
            __atomic_fetch_add(&r->closed_dropped, 1, __ATOMIC_RELAXED);    /* full */
            return 0;
        } else {
            pos = __atomic_load_n(&r->closed_head, __ATOMIC_RELAXED);
        }
    }
    /* Each slot is written once a lap (SL_LIVE_NCLOSED closes), so the
     * next one is cold, and the watcher may hold it: it cost one cache
     * miss a close, the hottest instruction of the shim on a connection
     * churn (perf). Fetched now for writing, it is in cache by the next
     * close. */
    __builtin_prefetch(&r->closed_ring[(pos + 1) % SL_LIVE_NCLOSED], 1, 3);
    c->cookie = cookie;
    /* peer points at a sockaddr_in6 or a larger buffer (the record's
     * sockaddr_storage): copied whole, a fixed size; only an inet family
     * is ever read back */
    if (peer != NULL)
        c->peer = *peer;
    else
        c->peer.sin6_family = AF_UNSPEC;
    c->sport = (uint16_t)sport;
    c->closed_ns = closed_ns;
    c->stack_id = stack_id;
    c->peer_watched = (uint8_t)peer_watched;
    c->looked = 0;
    __atomic_store_n(&c->seq, 2 * (pos / SL_LIVE_NCLOSED) + 1, __ATOMIC_RELEASE);
    return 1;
}

uint64_t sl_live_closed_pending(struct sl_live_shared *r)
{
    return __atomic_load_n(&r->closed_head, __ATOMIC_ACQUIRE) -
           __atomic_load_n(&r->closed_tail, __ATOMIC_ACQUIRE);
}

#define FIRST_STATES ((1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2) | \
                      (1u << TCP_CLOSING) | (1u << TCP_TIME_WAIT))

/* Count c as closed first if l has its socket; 1 if it did. */
static int classify(struct sl_live_shared *r, const struct sl_live_closed *c,
                    struct sl_diag_list *l)
{
    const struct sl_diag_sock *f = c->cookie ? sl_diag_list_find(l, c->cookie)
                                             : sl_diag_list_find_peer(l, &c->peer, c->sport);
    if (f == NULL)
        return 0;
    struct sockaddr_in6 local, peer;
    sl_diag_sockaddr(f, 0, &local);
    sl_diag_sockaddr(f, 1, &peer);
    __atomic_fetch_add(&r->closed_first, 1, __ATOMIC_RELAXED);
    dest_count(r, &peer, c->closed_ns);
    /* TIME_WAIT or CLOSING: the peer has closed too */
    if (!c->peer_watched && (f->state == TCP_FIN_WAIT1 || f->state == TCP_FIN_WAIT2))
        sl_live_peer_watch(r, c->stack_id, c->closed_ns, &local, &peer, 0);
    return 1;
}

enum { LOOK_NEW, LOOK_MISSED, LOOK_DONE };

/* One pass over the closes queued before head against one dump. A miss
 * queued before young_ns is settled at once; returns how many others
 * missed (they get a second look). */
static size_t pass(struct sl_live_shared *r, struct sl_diag_list *l, uint64_t head,
                   int last_chance, int *settled, int64_t young_ns)
{
    size_t young = 0;       /* misses queued after young_ns */
    for (uint64_t pos = __atomic_load_n(&r->closed_tail, __ATOMIC_RELAXED); pos < head; pos++) {
        struct sl_live_closed *c = &r->closed_ring[pos % SL_LIVE_NCLOSED];
        if (__atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) != 2 * (pos / SL_LIVE_NCLOSED) + 1)
            break;      /* its writer is still at it */
        if (c->looked == LOOK_DONE)
            continue;
        if (classify(r, c, l) || c->looked == LOOK_MISSED || last_chance ||
            c->closed_ns < young_ns) {
            c->looked = LOOK_DONE;
            (*settled)++;
        } else {
            c->looked = LOOK_MISSED;
            young += c->closed_ns >= young_ns;
        }
    }
    return young;
}

/* The ports the closes queued before head can be found by: an accepted
 * connection's local port, a connected one's peer port. A dump walks every
 * TCP socket of the namespace, and a busy host has tens of thousands in
 * TIME_WAIT: the kernel sends only these ports' (a batch has a few). NULL
 * (every socket) when a close has no known port or there are too many. */
static const struct sl_diag_ports *batch_ports(struct sl_live_shared *r, uint64_t head,
                                               struct sl_diag_ports *p)
{
    p->n = 0;
    for (uint64_t pos = __atomic_load_n(&r->closed_tail, __ATOMIC_RELAXED); pos < head; pos++) {
        const struct sl_live_closed *c = &r->closed_ring[pos % SL_LIVE_NCLOSED];
        if (__atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) != 2 * (pos / SL_LIVE_NCLOSED) + 1)
            break;      /* not written yet: not in this batch */
        if (c->looked == LOOK_DONE)
            continue;
        int rc = c->cookie == 0 ? sl_diag_ports_add(p, c->sport, 1)
               : c->peer.sin6_family == AF_INET || c->peer.sin6_family == AF_INET6
               ? sl_diag_ports_add(p, ntohs(c->peer.sin6_port), 0)
               : -1;
        if (rc != 0 || (c->cookie == 0 && c->sport == 0))
            return NULL;
    }
    return p;
}

int sl_live_closed_drain(struct sl_live_shared *r, struct sl_diag *d, struct sl_diag_list *l,
                         int final)
{
    int owner = 0, settled = 0;
    if (sl_live_closed_pending(r) == 0)
        return 0;
    if (!__atomic_compare_exchange_n(&r->closed_owner, &owner, 1, 0,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return -1;
    /* Only closes queued before the dump began can be in it. */
    uint64_t head = __atomic_load_n(&r->closed_head, __ATOMIC_ACQUIRE);
    struct sl_diag_ports ports;
    const struct sl_diag_ports *only = batch_ports(r, head, &ports);
    /* No answer (no sock_diag here): none counts as closed first. */
    int answered = sl_diag_list_tcp_ports(d, FIRST_STATES, only, l) == 0;
    if (!answered)
        l->n = 0;
    /* At exit a second dump is worth its cost only for a miss that may
     * have been queued before its close(2) was done: a young one. Older
     * misses were resets or closed by the peer first. */
    int64_t young_ns = final ? sl_now_ns() - YOUNG_NS : INT64_MIN;
    if (pass(r, l, head, !answered, &settled, young_ns) > 0 && final) {
        if (sl_diag_list_tcp_ports(d, FIRST_STATES, only, l) != 0)
            l->n = 0;
        pass(r, l, head, 1, &settled, young_ns);
    }
    /* Free the settled slots at the front of the queue. */
    uint64_t tail = __atomic_load_n(&r->closed_tail, __ATOMIC_RELAXED);
    for (; tail < head; tail++) {
        struct sl_live_closed *c = &r->closed_ring[tail % SL_LIVE_NCLOSED];
        if (__atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) != 2 * (tail / SL_LIVE_NCLOSED) + 1 ||
            c->looked != LOOK_DONE)
            break;
        __atomic_store_n(&c->seq, 2 * (tail / SL_LIVE_NCLOSED + 1), __ATOMIC_RELEASE);
    }
    __atomic_store_n(&r->closed_tail, tail, __ATOMIC_RELEASE);
    __atomic_store_n(&r->closed_owner, 0, __ATOMIC_RELEASE);
    return settled;
}
