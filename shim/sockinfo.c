/* sockinfo.c -- read-only questions to the kernel about a socket fd. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sockinfo.h"

int sl_tcp_state_since(int fd, int64_t *last_recv_ms)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    /* Fails with EOPNOTSUPP/ENOPROTOOPT on anything but TCP: a free type check. */
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return -1;
    if (last_recv_ms != NULL)
        *last_recv_ms = ti.tcpi_last_ack_recv;
    return ti.tcpi_state;
}

int sl_sock_cookie(int fd, uint64_t *cookie)
{
    socklen_t len = sizeof(*cookie);
    return getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) == 0 && len == sizeof(*cookie)
           ? 0 : -1;
}

int sl_sock_is_peer(int fd, int family, unsigned sport, const void *peer)
{
    struct sockaddr_in6 a;
    socklen_t want = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    socklen_t len = sizeof(a);
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0 || len != want ||
        a.sin6_family != family || ntohs(a.sin6_port) != sport)
        return 0;
    len = sizeof(a);
    if (getpeername(fd, (struct sockaddr *)&a, &len) != 0)
        return errno == ENOTCONN ? -1 : 0;
    return len == want && memcmp(&a, peer, want) == 0;
}

int sl_tcp_state(int fd)
{
    return sl_tcp_state_since(fd, NULL);
}

const char *sl_tcp_state_name(int state)
{
    static const char *const names[] = {
        [TCP_ESTABLISHED] = "ESTABLISHED", [TCP_SYN_SENT] = "SYN_SENT",
        [TCP_SYN_RECV] = "SYN_RECV", [TCP_FIN_WAIT1] = "FIN_WAIT1",
        [TCP_FIN_WAIT2] = "FIN_WAIT2", [TCP_TIME_WAIT] = "TIME_WAIT",
        [TCP_CLOSE] = "CLOSE", [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
        [TCP_LAST_ACK] = "LAST_ACK", [TCP_LISTEN] = "LISTEN",
        [TCP_CLOSING] = "CLOSING",
    };
    if (state > 0 && (size_t)state < sizeof(names) / sizeof(names[0]) && names[state])
        return names[state];
    return "UNKNOWN";
}

int sl_peer_hung_up(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLRDHUP };
    /* POLLRDHUP: the peer closed or shut down writing (TCP FIN, Unix close). */
    if (poll(&p, 1, 0) != 1)
        return 0;
    return (p.revents & (POLLRDHUP | POLLHUP)) != 0;
}

void sl_format_sockaddr(const void *sa, size_t len, char *buf, size_t size)
{
    const struct sockaddr *a = sa;
    char host[INET6_ADDRSTRLEN];

    buf[0] = '\0';
    if (len < sizeof(a->sa_family))
        return;
    if (a->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
    } else if (a->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (a->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = sa;
        size_t n = len - offsetof(struct sockaddr_un, sun_path);
        if (n == 0)
            return;                                   /* unnamed */
        if (un->sun_path[0] == '\0')                  /* abstract: not NUL-ended */
            snprintf(buf, size, "@%.*s", (int)(n - 1), un->sun_path + 1);
        else
            snprintf(buf, size, "%.*s", (int)strnlen(un->sun_path, n), un->sun_path);
    } else {
        snprintf(buf, size, "family %d", a->sa_family);
    }
}

int sl_sock_address(int fd, int peer, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                  : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (rc != 0) {
        buf[0] = '\0';
        return -1;
    }
    sl_format_sockaddr(&ss, len, buf, size);
    return 0;
}

int sl_sock_kind(int fd, int *family, int *type, int *protocol)
{
    socklen_t len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, family, &len) != 0)
        return -1;
    len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, type, &len) != 0)
        return -1;
    len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, protocol, &len) != 0)
        *protocol = 0;
    return 0;
}

const char *sl_family_name(int family, char *buf, size_t size)
{
    switch (family) {
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    case AF_UNIX: return "unix";
    case AF_NETLINK: return "netlink";
    case AF_PACKET: return "packet";
    }
    snprintf(buf, size, "af%d", family);
    return buf;
}

const char *sl_type_name(int type, char *buf, size_t size)
{
    switch (type) {
    case SOCK_STREAM: return "stream";
    case SOCK_DGRAM: return "dgram";
    case SOCK_SEQPACKET: return "seqpacket";
    case SOCK_RAW: return "raw";
    }
    snprintf(buf, size, "type%d", type);
    return buf;
}

const char *sl_origin_name(int origin)
{
    switch (origin) {
    case SL_ORIGIN_SOCKET: return "socket";
    case SL_ORIGIN_ACCEPT: return "accept";
    case SL_ORIGIN_ACCEPT4: return "accept4";
    case SL_ORIGIN_SOCKETPAIR: return "socketpair";
    case SL_ORIGIN_RECEIVED: return "received";
    case SL_ORIGIN_INHERITED: return "inherited";
    case SL_ORIGIN_PRE_ATTACH: return "pre_attach";
    }
    return "unknown";
}
