/* watch_peers.c -- connections the host closed (or shut down writing)
 * first: if the peer's side is still open grace_ms later (our orphaned
 * socket still in FIN_WAIT2), name the peer that never closes. */
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "runtime.h"
#include "sockinfo.h"
#include "watchproc.h"

#define PEER_CHECKS 64          /* exact lookups per round */

static int64_t fin_timeout_ms = 60000;

void wp_peers_init(void)
{
    char buf[32] = { 0 };
    int fd = open("/proc/sys/net/ipv4/tcp_fin_timeout", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, buf, sizeof(buf) - 1) > 0 && atol(buf) > 0)
            fin_timeout_ms = atol(buf) * 1000;
        close(fd);
    }
}

/* Orphaned FIN_WAIT2 sockets live only tcp_fin_timeout: look before that. */
static int64_t peer_grace_ns(void)
{
    int64_t g = sl_opts.grace_ms, cap = fin_timeout_ms - 2 * sl_opts.scan_ms;
    if (cap < 1000)
        cap = fin_timeout_ms / 2;
    return (g < cap ? g : cap) * WP_NS_PER_MS;
}

static void addr_fmt(const struct sockaddr_in6 *a, char *buf, size_t size)
{
    sl_format_sockaddr(a, a->sin6_family == AF_INET ? sizeof(struct sockaddr_in)
                                                    : sizeof(struct sockaddr_in6), buf, size);
}

static void check(struct sl_live_peer *p, int64_t now)
{
    struct sl_diag_sock d;
    if (wp.diag != NULL && sl_diag_lookup(wp.diag, &p->local, &p->peer, &d) == 1 &&
        d.state == TCP_FIN_WAIT2 && wp_begin_write()) {
        struct sl_peer_wait w = { .pid = wp.host_pid, .stack_id = p->stack_id,
                                  .since_ms = (now - p->since_ns) / WP_NS_PER_MS,
                                  .closed = !p->shut_only };
        addr_fmt(&p->local, w.local, sizeof(w.local));
        addr_fmt(&p->peer, w.peer, sizeof(w.peer));
        sl_report_peer_not_closing(&w);
        wp_end_write();
    }
}

int64_t wp_peers_check(int64_t now)
{
    int64_t grace = peer_grace_ns(), next = INT64_MAX;
    int checks = 0;
    for (int i = 0; i < SL_LIVE_NPEER; i++) {
        struct sl_live_peer *p = &wp.r->peers[i];
        if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) != SL_SLOT_READY)
            continue;
        if (now - p->since_ns < grace || checks >= PEER_CHECKS) {
            int64_t due = checks >= PEER_CHECKS ? now : p->since_ns + grace;
            if (due < next)
                next = due;
            continue;
        }
        checks++;
        check(p, now);
        __atomic_store_n(&p->state, SL_SLOT_FREE, __ATOMIC_RELEASE);
    }
    return next;
}
