/* sockinfo.h -- ask the kernel about one socket: addresses, TCP state,
 * whether the peer hung up; names for families, types, states, origins. */
#ifndef SL_SOCKINFO_H
#define SL_SOCKINFO_H

#include <stddef.h>
#include <stdint.h>

/* How a socket came to the process (the runtime's records, reports). */
enum sl_origin {
    SL_ORIGIN_SOCKET, SL_ORIGIN_ACCEPT, SL_ORIGIN_ACCEPT4, SL_ORIGIN_SOCKETPAIR,
    SL_ORIGIN_RECEIVED, SL_ORIGIN_INHERITED,
    SL_ORIGIN_PRE_ATTACH,   /* open when sockleak attach came: no stack, age unknown */
};

/* TCP state of fd (TCP_ESTABLISHED ... from <netinet/tcp.h>), or -1 when fd
 * is not a TCP socket. */
int sl_tcp_state(int fd);

/* The same, and the milliseconds since the peer's last segment arrived
 * (tcpi_last_ack_recv): in CLOSE_WAIT that segment is, nearly always, its
 * FIN, since a peer in FIN_WAIT_2 sends nothing more unprompted. */
int sl_tcp_state_since(int fd, int64_t *last_recv_ms);

/* "ESTABLISHED", "CLOSE_WAIT", ...; "UNKNOWN" for others. */
const char *sl_tcp_state_name(int state);

/* 1 if the peer of the stream socket fd has closed or shut down writing. */
int sl_peer_hung_up(int fd);

/* Format the local (peer = 0) or peer address of fd into buf: "1.2.3.4:80",
 * "[::1]:80", a Unix path, "@abstract", or "" for an unnamed Unix socket.
 * Returns 0, or -1 when there is no such address (not connected). */
int sl_sock_address(int fd, int peer, char *buf, size_t size);

/* Format any socket address the same way. */
void sl_format_sockaddr(const void *sa, size_t len, char *buf, size_t size);

/* The kernel's cookie of the socket fd (SO_COOKIE): a 64-bit id that no
 * other socket gets while the system runs, kept by its orphan and its
 * TIME_WAIT after close, and shown by sock_diag. 0, or -1. */
int sl_sock_cookie(int fd, uint64_t *cookie);

/* Whether fd is the connection accepted with peer address peer (a
 * sockaddr_in or sockaddr_in6 of family) on local port sport: 1 yes, 0 no,
 * -1 when its local port matches but the kernel no longer knows a peer
 * (ENOTCONN: reset, or never connected). */
int sl_sock_is_peer(int fd, int family, unsigned sport, const void *peer);

/* Family, type and protocol of fd from the kernel; 0 or -1. */
int sl_sock_kind(int fd, int *family, int *type, int *protocol);

const char *sl_family_name(int family, char *buf, size_t size);
const char *sl_type_name(int type, char *buf, size_t size);
const char *sl_origin_name(int origin);

#endif
