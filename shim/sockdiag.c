/* sockdiag.c -- sock_diag requests over libmnl (see sockdiag.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "grow.h"
#include "sockdiag.h"

#define DIAG_BUF 32768

struct sl_diag {
    struct mnl_socket *nl;
    unsigned portid, seq;
    char buf[DIAG_BUF];
};

struct sl_diag *sl_diag_open(void)
{
    struct sl_diag *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
    if (d->nl == NULL || mnl_socket_bind(d->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int saved = errno;
        sl_diag_close(d);
        errno = saved;
        return NULL;
    }
    d->portid = mnl_socket_get_portid(d->nl);
    return d;
}

void sl_diag_close(struct sl_diag *d)
{
    if (d == NULL)
        return;
    if (d->nl)
        mnl_socket_close(d->nl);
    free(d);
}

struct reply {
    void (*fn)(const struct sl_diag_sock *s, void *arg);
    void *arg;
    struct sl_diag_sock *one;
    int found;
};

static int attr_cb(const struct nlattr *a, void *data)
{
    struct sl_diag_sock *s = data;
    if (mnl_attr_get_type(a) == INET_DIAG_INFO &&
        mnl_attr_get_payload_len(a) >= offsetof(struct tcp_info, tcpi_last_ack_recv) + 4) {
        const struct tcp_info *ti = mnl_attr_get_payload(a);
        s->has_info = 1;
        s->last_data_recv_ms = ti->tcpi_last_data_recv;
        s->last_ack_recv_ms = ti->tcpi_last_ack_recv;
    }
    return MNL_CB_OK;
}

static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
    struct reply *r = data;
    const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
    struct sl_diag_sock s = { 0 };
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
        return MNL_CB_OK;
    s.ino = m->idiag_inode;
    s.cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
    s.family = m->idiag_family;
    s.state = m->idiag_state;
    s.sport = ntohs(m->id.idiag_sport);
    s.dport = ntohs(m->id.idiag_dport);
    memcpy(s.src, m->id.idiag_src, sizeof(s.src));
    memcpy(s.dst, m->id.idiag_dst, sizeof(s.dst));
    mnl_attr_parse(nlh, sizeof(*m), attr_cb, &s);
    r->found = 1;
    if (r->one)
        *r->one = s;
    else
        r->fn(&s, r->arg);
    return MNL_CB_OK;
}

int sl_diag_ports_add(struct sl_diag_ports *p, unsigned port, int local)
{
    for (unsigned i = 0; i < p->n; i++)
        if (p->port[i] == port && p->local[i] == (local != 0))
            return 0;
    if (p->n >= SL_DIAG_MAX_PORTS)
        return -1;
    p->port[p->n] = (uint16_t)port;
    p->local[p->n++] = local != 0;
    return 0;
}

/* The kernel's filter language (inet_diag_bc_run): each op jumps "yes" or
 * "no" bytes on; ending exactly at the end accepts, past it rejects. A port
 * test is two ops (8 bytes), the second's "no" holding the port; a JMP op
 * always takes "no". The kernel accepts a program only if every "no"
 * lands where the chain of "yes" jumps passes, so "port is a, or b, ..."
 * is laid out as iproute2's ss does it: test, JMP, test, JMP, ..., test.
 * A test that holds goes on to its JMP, which jumps to the end (accept); one
 * that fails skips its JMP to the next test; the last one, failing, lands
 * 4 bytes past the end (reject). */
static size_t ports_bytecode(const struct sl_diag_ports *p, struct inet_diag_bc_op *bc)
{
    unsigned n = p->n, k = 0;
    size_t total = 12 * n - 4;
    for (unsigned i = 0; i < n; i++) {
        bc[k++] = (struct inet_diag_bc_op){
            .code = p->local[i] ? INET_DIAG_BC_S_EQ : INET_DIAG_BC_D_EQ, .yes = 8, .no = 12,
        };
        bc[k++] = (struct inet_diag_bc_op){ .no = p->port[i] };
        if (i + 1 < n) {
            size_t at = (size_t)k * sizeof(*bc);
            bc[k++] = (struct inet_diag_bc_op){
                .code = INET_DIAG_BC_JMP, .yes = 4, .no = (unsigned short)(total - at),
            };
        }
    }
    return total;
}

/* Send one request (with a port filter, if ports has any); read replies
 * until the dump ends (or the one reply of a lookup). An exact lookup that
 * finds nothing answers ENOENT: not an error. */
static int request(struct sl_diag *d, const struct inet_diag_req_v2 *req, int dump,
                   const struct sl_diag_ports *ports, struct reply *r)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(d->buf);
    nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    nlh->nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
    nlh->nlmsg_seq = ++d->seq;
    memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(*req)), req, sizeof(*req));
    if (ports != NULL && ports->n > 0) {
        struct inet_diag_bc_op bc[3 * SL_DIAG_MAX_PORTS];
        mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, ports_bytecode(ports, bc), bc);
    }
    if (mnl_socket_sendto(d->nl, nlh, nlh->nlmsg_len) < 0)
        return -1;
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(d->nl, d->buf, sizeof(d->buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        int rc = mnl_cb_run(d->buf, (size_t)n, d->seq, d->portid, msg_cb, r);
        if (rc == MNL_CB_ERROR)
            return !dump && errno == ENOENT ? 0 : -1;
        if (rc == MNL_CB_STOP || !dump)
            return 0;
    }
}

int sl_diag_dump(struct sl_diag *d, int family, int protocol, uint32_t states,
                 void (*fn)(const struct sl_diag_sock *s, void *arg), void *arg)
{
    struct inet_diag_req_v2 req = {
        .sdiag_family = (uint8_t)family, .sdiag_protocol = (uint8_t)protocol,
        .idiag_states = states,
        .idiag_ext = protocol == IPPROTO_TCP ? 1 << (INET_DIAG_INFO - 1) : 0,
    };
    struct reply r = { .fn = fn, .arg = arg };
    return request(d, &req, 1, NULL, &r);
}

int sl_diag_lookup(struct sl_diag *d, const struct sockaddr_in6 *local,
                   const struct sockaddr_in6 *peer, struct sl_diag_sock *out)
{
    struct inet_diag_req_v2 req = {
        .sdiag_family = (uint8_t)local->sin6_family, .sdiag_protocol = IPPROTO_TCP,
        .idiag_states = ~0u, .idiag_ext = 1 << (INET_DIAG_INFO - 1),
    };
    req.id.idiag_cookie[0] = req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    if (local->sin6_family == AF_INET) {
        const struct sockaddr_in *l = (const void *)local, *p = (const void *)peer;
        req.id.idiag_sport = l->sin_port;
        req.id.idiag_dport = p->sin_port;
        req.id.idiag_src[0] = l->sin_addr.s_addr;
        req.id.idiag_dst[0] = p->sin_addr.s_addr;
    } else {
        req.id.idiag_sport = local->sin6_port;
        req.id.idiag_dport = peer->sin6_port;
        memcpy(req.id.idiag_src, &local->sin6_addr, 16);
        memcpy(req.id.idiag_dst, &peer->sin6_addr, 16);
    }
    struct reply r = { .one = out };
    if (request(d, &req, 0, NULL, &r) != 0)
        return -1;
    return r.found;
}

void sl_diag_format(const struct sl_diag_sock *s, int peer, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    const uint32_t *addr = peer ? s->dst : s->src;
    unsigned port = peer ? s->dport : s->sport;
    inet_ntop(s->family, addr, ip, sizeof(ip));
    if (s->family == AF_INET6)
        snprintf(buf, size, "[%s]:%u", ip, port);
    else
        snprintf(buf, size, "%s:%u", ip, port);
}

static void list_add(const struct sl_diag_sock *s, void *arg)
{
    struct sl_diag_list *l = arg;
    if (SL_GROW(l->v, l->cap, l->n) != 0)
        return;
    l->v[l->n++] = *s;
}

static int cmp_cookie(const void *a, const void *b)
{
    uint64_t x = ((const struct sl_diag_sock *)a)->cookie;
    uint64_t y = ((const struct sl_diag_sock *)b)->cookie;
    return x < y ? -1 : x > y;
}

/* One family's TCP sockets in states, limited to ports (NULL: all), with
 * tcp_info or without. */
static int dump_list(struct sl_diag *d, int family, uint32_t states,
                     const struct sl_diag_ports *ports, int info, struct sl_diag_list *l)
{
    struct inet_diag_req_v2 req = {
        .sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP, .idiag_states = states,
        .idiag_ext = info ? 1 << (INET_DIAG_INFO - 1) : 0,
    };
    struct reply r = { .fn = list_add, .arg = l };
    return request(d, &req, 1, ports, &r);
}

static int list_tcp(struct sl_diag *d, uint32_t states, const struct sl_diag_ports *ports,
                    int info, struct sl_diag_list *l)
{
    l->n = 0;
    l->by_peer_n = SIZE_MAX;
    int rc = d == NULL || dump_list(d, AF_INET, states, ports, info, l) != 0 ||
             dump_list(d, AF_INET6, states, ports, info, l) != 0 ? -1 : 0;
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), cmp_cookie);
    return rc;
}

int sl_diag_list_tcp_ports(struct sl_diag *d, uint32_t states, const struct sl_diag_ports *ports,
                           struct sl_diag_list *l)
{
    return list_tcp(d, states, ports, 0, l);
}

int sl_diag_list_tcp(struct sl_diag *d, uint32_t states, struct sl_diag_list *l)
{
    return list_tcp(d, states, NULL, 1, l);
}

const struct sl_diag_sock *sl_diag_list_find(const struct sl_diag_list *l, uint64_t cookie)
{
    struct sl_diag_sock key = { .cookie = cookie };
    return l->n ? bsearch(&key, l->v, l->n, sizeof(key), cmp_cookie) : NULL;
}

/* Peer order: family, peer port, local port, peer address (a v4 address
 * is in dst[0]). */
static int cmp_peer(const void *a, const void *b)
{
    const struct sl_diag_sock *x = a, *y = b;
    if (x->family != y->family)
        return x->family < y->family ? -1 : 1;
    if (x->dport != y->dport)
        return x->dport < y->dport ? -1 : 1;
    if (x->sport != y->sport)
        return x->sport < y->sport ? -1 : 1;
    return memcmp(x->dst, y->dst, x->family == AF_INET ? 4 : 16);
}

const struct sl_diag_sock *sl_diag_list_find_peer(struct sl_diag_list *l,
                                                  const struct sockaddr_in6 *peer,
                                                  unsigned sport)
{
    struct sl_diag_sock key = { .family = peer->sin6_family, .sport = (uint16_t)sport };
    if (peer->sin6_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)peer;
        key.dport = ntohs(in->sin_port);
        key.dst[0] = in->sin_addr.s_addr;
    } else if (peer->sin6_family == AF_INET6) {
        key.dport = ntohs(peer->sin6_port);
        memcpy(key.dst, &peer->sin6_addr, 16);
    } else {
        return NULL;
    }
    if (l->n == 0)
        return NULL;
    if (l->by_peer_n != l->n) {
        if (l->by_peer_cap < l->n) {
            struct sl_diag_sock *p = realloc(l->by_peer, l->n * sizeof(*p));
            if (p == NULL)
                return NULL;
            l->by_peer = p;
            l->by_peer_cap = l->n;
        }
        memcpy(l->by_peer, l->v, l->n * sizeof(*l->v));
        qsort(l->by_peer, l->n, sizeof(*l->by_peer), cmp_peer);
        l->by_peer_n = l->n;
    }
    return bsearch(&key, l->by_peer, l->n, sizeof(key), cmp_peer);
}

void sl_diag_list_free(struct sl_diag_list *l)
{
    free(l->v);
    free(l->by_peer);
    *l = (struct sl_diag_list){ 0 };
}

void sl_diag_sockaddr(const struct sl_diag_sock *s, int peer, struct sockaddr_in6 *out)
{
    const uint32_t *addr = peer ? s->dst : s->src;
    uint16_t port = htons(peer ? s->dport : s->sport);
    memset(out, 0, sizeof(*out));
    if (s->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        in->sin_port = port;
        in->sin_addr.s_addr = addr[0];
    } else {
        out->sin6_family = AF_INET6;
        out->sin6_port = port;
        memcpy(&out->sin6_addr, addr, 16);
    }
}
