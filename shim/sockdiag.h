/* sockdiag.h -- sock_diag (NETLINK_SOCK_DIAG) over libmnl: dumps of the TCP
 * or UDP sockets in some states, and exact lookups by address. The watcher
 * process and `sockleak scan` both ask the kernel through this module. */
#ifndef SL_SOCKDIAG_H
#define SL_SOCKDIAG_H

#include <netinet/in.h>
#include <stdint.h>

struct sl_diag;         /* one netlink socket, made in the caller's netns */

/* One socket as the kernel describes it. */
struct sl_diag_sock {
    uint64_t ino;               /* 0 once closed (an orphan, TIME_WAIT) */
    uint64_t cookie;            /* SO_COOKIE: kept after close */
    int family;                 /* AF_INET or AF_INET6 */
    int state;                  /* TCP_ESTABLISHED ... (UDP: 1 connected, 7 not) */
    uint16_t sport, dport;      /* host order */
    uint32_t src[4], dst[4];    /* network order, as in struct inet_diag_sockid */
    int has_info;               /* tcp_info came with it (TCP dumps) */
    uint32_t last_ack_recv_ms;  /* since the peer's last segment (its FIN in CLOSE_WAIT) */
    uint32_t last_data_recv_ms;
};

/* The TCP sockets (both families) in some states, sorted by cookie; and,
 * made at the first sl_diag_list_find_peer after each refill, a copy
 * sorted by peer address. */
struct sl_diag_list {
    struct sl_diag_sock *v;
    size_t n, cap;
    struct sl_diag_sock *by_peer;
    size_t by_peer_n, by_peer_cap;  /* by_peer_n != n: not made yet */
};

/* Refill l (kept allocated between calls) with one dump per family of the
 * TCP sockets whose state bit is in states; 0, or -1 if a dump failed. */
int sl_diag_list_tcp(struct sl_diag *d, uint32_t states, struct sl_diag_list *l);

/* Ports a dump is limited to, in the kernel (a socket whose local port is
 * one of the local ones, or whose peer's port is one of the others): the
 * sockets a batch can be among, not every TIME_WAIT of the namespace. */
#define SL_DIAG_MAX_PORTS 24
struct sl_diag_ports {
    unsigned n;
    uint16_t port[SL_DIAG_MAX_PORTS];   /* host order */
    uint8_t local[SL_DIAG_MAX_PORTS];   /* 1: the local port, 0: the peer's */
};

/* Add a port to p; -1 when p is full (then dump unfiltered). */
int sl_diag_ports_add(struct sl_diag_ports *p, unsigned port, int local);

/* sl_diag_list_tcp limited to ports (NULL: every socket), without tcp_info. */
int sl_diag_list_tcp_ports(struct sl_diag *d, uint32_t states, const struct sl_diag_ports *ports,
                           struct sl_diag_list *l);

/* The socket of this cookie (sl_sock_cookie) in l, NULL if none. */
const struct sl_diag_sock *sl_diag_list_find(const struct sl_diag_list *l, uint64_t cookie);

/* The socket in l with local port sport (host order) whose peer address
 * is peer (a sockaddr_in or sockaddr_in6), NULL if none: how a socket whose
 * cookie was never asked (an accepted connection, known by the address
 * accept() gave and its listener's port) is found. Two such sockets could
 * differ only in the local address, which for a client at one address and
 * port means two listeners on one port of two of our addresses. */
const struct sl_diag_sock *sl_diag_list_find_peer(struct sl_diag_list *l,
                                                  const struct sockaddr_in6 *peer,
                                                  unsigned sport);

/* Free what l holds (l can be filled again). */
void sl_diag_list_free(struct sl_diag_list *l);

/* s's local (peer = 0) or peer address as a socket address. */
void sl_diag_sockaddr(const struct sl_diag_sock *s, int peer, struct sockaddr_in6 *out);

/* Open a sock_diag socket; NULL with errno set. */
struct sl_diag *sl_diag_open(void);
void sl_diag_close(struct sl_diag *d);

/* Every socket of family/protocol (IPPROTO_TCP or IPPROTO_UDP) in the
 * network namespace whose state is in the mask (1 << TCP_CLOSE_WAIT, ...;
 * ~0u: all). TCP replies carry tcp_info. fn is called once per socket.
 * Returns 0, or -1 with errno set. */
int sl_diag_dump(struct sl_diag *d, int family, int protocol, uint32_t states,
                 void (*fn)(const struct sl_diag_sock *s, void *arg), void *arg);

/* The TCP socket with exactly these addresses (sockaddr_in or
 * sockaddr_in6 in both). Returns 1 and fills out, 0 when there is none,
 * -1 with errno set when the request failed. */
int sl_diag_lookup(struct sl_diag *d, const struct sockaddr_in6 *local,
                   const struct sockaddr_in6 *peer, struct sl_diag_sock *out);

/* Format s's local (peer = 0) or peer address as "1.2.3.4:80" / "[::1]:80". */
void sl_diag_format(const struct sl_diag_sock *s, int peer, char *buf, size_t size);

#endif
