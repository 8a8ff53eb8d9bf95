/* watch_fin.c -- peers' FINs. The host's epoll set wakes us when a watched
 * socket's peer hangs up; the FIN's time comes from the kernel (tcp_info's
 * last_ack_recv: in CLOSE_WAIT the peer's last segment is its FIN), and a
 * socket still open and still in CLOSE_WAIT at FIN + grace_ms is reported
 * live, once. */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "grow.h"
#include "runtime.h"
#include "stackdepot.h"
#include "symbolize.h"
#include "watchproc.h"

#define RETRY_NS (50 * WP_NS_PER_MS)     /* sock_diag failed: ask again */

/* A jiffy at HZ=250: tcp_info's ages are whole jiffies, so the FIN is at
 * most this much older than they say. */
#define JIFFY_NS (4 * WP_NS_PER_MS)

struct pending {
    uint32_t id, gen;
    uint64_t cookie;
    int64_t woken_ns;       /* when its event came (the FIN was no later) */
    int64_t fin_ns;         /* 0 until the kernel said */
};

static struct pending *pend;
static size_t npend, cap;

/* Symbolize the stack now, while grace_ms runs: reading a module's DWARF
 * the first time takes tens of milliseconds, and the report must come on
 * time. */
void wp_warm_stack(uint32_t stack_id)
{
    const uintptr_t *pcs;
    struct sl_frame frames[8];
    unsigned n = sl_stack_get(stack_id, &pcs);
    for (unsigned i = 0; i < n; i++)
        sl_symbolize(pcs[i], frames, 8);
}

void wp_fin_event(uint32_t id, uint32_t gen, int64_t now)
{
    struct sl_live_sock *e = wp_entry(id, gen);
    if (e == NULL || (__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & SL_LIVE_REPORTED))
        return;
    for (size_t i = 0; i < npend; i++)
        if (pend[i].id == id && pend[i].gen == gen)
            return;
    if (SL_GROW(pend, cap, npend) != 0)
        return;
    pend[npend++] = (struct pending){ .id = id, .gen = gen, .cookie = wp_cookie(e), .woken_ns = now };
    wp_warm_stack(e->stack_id);
}

/* This round's CLOSE_WAIT sockets of the namespace, by cookie; *asked is a
 * time no earlier than the kernel's answers (their ages count back from it). */
static int list_close_wait(struct sl_diag_list *l, int64_t *asked)
{
    if (sl_diag_list_tcp(wp.diag, 1u << TCP_CLOSE_WAIT, l) != 0)
        return -1;
    *asked = wp_now();
    return 0;
}

/* Addresses of a borrowed fd, as sock_diag would give them. */
static void fill_addr(struct sl_diag_sock *d, const struct sockaddr_in6 *a, int peer)
{
    uint32_t *ip = peer ? d->dst : d->src;
    uint16_t *port = peer ? &d->dport : &d->sport;
    if (a->sin6_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)a;
        ip[0] = in->sin_addr.s_addr;
        *port = ntohs(in->sin_port);
    } else {
        memcpy(ip, &a->sin6_addr, 16);
        *port = ntohs(a->sin6_port);
    }
}

/* What the kernel says of p's socket now: 1 in CLOSE_WAIT (d filled, *asked
 * a time no earlier than its answer), 0 not (or gone), -1 unknown. The
 * host's fd is borrowed for a getsockopt; without that, one sock_diag dump
 * per round answers (it walks the whole TCP hash table: ~10 ms). */
static int ask(const struct pending *p, struct sl_live_sock *e, struct sl_diag_sock *d,
               int64_t *asked, struct sl_diag_list *cw, int *listed)
{
    int fd = wp_take_fd(e);
    if (fd >= 0) {
        struct tcp_info ti;
        struct sockaddr_in6 l, r;
        socklen_t len = sizeof(ti), ll = sizeof(l), rl = sizeof(r);
        int ok = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0;
        *asked = wp_now();
        memset(d, 0, sizeof(*d));
        if (ok && getsockname(fd, (struct sockaddr *)&l, &ll) == 0 &&
            getpeername(fd, (struct sockaddr *)&r, &rl) == 0) {
            d->family = l.sin6_family;
            fill_addr(d, &l, 0);
            fill_addr(d, &r, 1);
        }
        d->ino = wp_ino_known(e);
        d->cookie = p->cookie;
        d->state = ok ? ti.tcpi_state : -1;
        d->has_info = ok;
        d->last_ack_recv_ms = ti.tcpi_last_ack_recv;
        d->last_data_recv_ms = ti.tcpi_last_data_recv;
        close(fd);
        return ok && ti.tcpi_state == TCP_CLOSE_WAIT;
    }
    if (!wp_fds_refused())
        return 0;
    if (*listed == 0)
        *listed = list_close_wait(cw, asked) == 0 ? 1 : -1;
    if (*listed < 0)
        return -1;
    const struct sl_diag_sock *f = p->cookie ? sl_diag_list_find(cw, p->cookie) : wp_find(cw, e);
    if (f == NULL)
        return 0;
    *d = *f;
    return 1;
}

/* Report one socket past its grace; it is still open and in CLOSE_WAIT. */
static void report(struct sl_live_sock *e, const struct pending *p,
                   const struct sl_diag_sock *d, int64_t now)
{
    int fds[SL_LEAK_MAX_FDS];
    struct sl_leak leak;
    int nfds = d->ino ? wp_host_fds(d->ino, fds, SL_LEAK_MAX_FDS) : 0;
    if (nfds == 0 || (e->origin == SL_ORIGIN_INHERITED && !sl_opts.report_inherited))
        return;
    wp_describe(e, d, fds, nfds, now, &leak);
    leak.kind = SL_KIND_CLOSE_WAIT;
    /* Claim it first: exactly once, even against a concurrent close. */
    if (__atomic_fetch_or(&e->flags, SL_LIVE_REPORTED, __ATOMIC_ACQ_REL) & SL_LIVE_REPORTED)
        return;
    if (__atomic_load_n(&e->gen, __ATOMIC_ACQUIRE) != p->gen || !wp_begin_write())
        return;
    if (sl_report_live_leak(&leak) != 0)     /* suppressed: no closed_late either */
        __atomic_fetch_and(&e->flags, ~SL_LIVE_REPORTED, __ATOMIC_ACQ_REL);
    wp_end_write();
}

int64_t wp_fin_check(int64_t now)
{
    static struct sl_diag_list cw;
    int64_t grace = sl_opts.grace_ms * WP_NS_PER_MS, next = INT64_MAX;
    int listed = 0, fds_read = 0;
    size_t keep = 0;
    for (size_t i = 0; i < npend; i++) {
        struct pending *p = &pend[i];
        struct sl_live_sock *e = wp_entry(p->id, p->gen);
        struct sl_diag_sock d;
        int64_t asked = now;
        if (e == NULL)
            continue;                   /* closed: done */
        if (p->fin_ns != 0 && now < p->fin_ns + grace) {
            next = p->fin_ns + grace < next ? p->fin_ns + grace : next;
            pend[keep++] = *p;
            continue;
        }
        int cw_now = ask(p, e, &d, &asked, &cw, &listed);
        if (cw_now < 0) {
            next = now + RETRY_NS < next ? now + RETRY_NS : next;
            pend[keep++] = *p;
            continue;
        }
        if (cw_now == 0)
            continue;                   /* reset, closed, or not CLOSE_WAIT: done */
        if (p->fin_ns == 0) {
            /* Both are no earlier than the FIN: take the closer. */
            int64_t kernel = d.has_info ? asked - (int64_t)d.last_ack_recv_ms * WP_NS_PER_MS + JIFFY_NS
                                        : p->woken_ns;
            p->fin_ns = kernel < p->woken_ns ? kernel : p->woken_ns;
            __atomic_store_n(&e->fin_ns, p->fin_ns, __ATOMIC_RELEASE);
        }
        if (now >= p->fin_ns + grace) {
            if (!fds_read++)
                wp_host_fds_refresh();
            report(e, p, &d, now);
            continue;
        }
        next = p->fin_ns + grace < next ? p->fin_ns + grace : next;
        pend[keep++] = *p;
    }
    npend = keep;
    return next;
}
