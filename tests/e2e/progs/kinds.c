/* kinds.c -- leaves one socket of each kind open at exit and prints their
 * fds and ports: a Unix socketpair end whose peer was closed (close_wait),
 * a TCP listener on 127.0.0.1 and one on [::1], and a bound UDP socket
 * (all three open_at_exit). */
#include "e2e_prog.h"

int make_pair_end(void)
{
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    close(sp[1]);
    return sp[0];
}

int make_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    CHECK(fd >= 0);
    *port = bind_loopback(fd);
    CHECK(listen(fd, 8) == 0);
    return fd;
}

int make_listener6(int *port)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET6, SOCK_STREAM, 0);

    CHECK(fd >= 0);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    CHECK(listen(fd, 8) == 0);
    *port = ntohs(a.sin6_port);
    return fd;
}

int make_udp(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    *port = bind_loopback(fd);
    return fd;
}

int main(void)
{
    int pair_fd = make_pair_end(), lport, l6port, uport;
    int listen_fd = make_listener(&lport);
    int listen6_fd = make_listener6(&l6port);
    int udp_fd = make_udp(&uport);

    printf("{\"pair_fd\":%d,\"listen_fd\":%d,\"port\":%d,\"listen6_fd\":%d,\"port6\":%d,"
           "\"udp_fd\":%d,\"udp_port\":%d}\n",
           pair_fd, listen_fd, lport, listen6_fd, l6port, udp_fd, uport);
    return 0;
}
