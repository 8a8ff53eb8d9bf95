/* e2e_prog.h -- small helpers shared by the e2e test programs. Sockets the
 * tests look for by creation function are made in the programs themselves,
 * never here, so their stacks name the program's own functions. */
#ifndef E2E_PROG_H
#define E2E_PROG_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK(cond) \
    do { if (!(cond)) { perror(#cond); fprintf(stderr, "%s:%d: failed\n", __FILE__, __LINE__); exit(99); } } while (0)

static inline struct sockaddr_in loopback_addr(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* Bind fd to 127.0.0.1:0 and return the chosen port. */
static inline int bind_loopback(int fd)
{
    struct sockaddr_in a = loopback_addr(0);
    socklen_t len = sizeof(a);

    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    return ntohs(a.sin_port);
}

static inline void connect_loopback(int fd, int port)
{
    struct sockaddr_in a = loopback_addr(port);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
}

static inline void sleep_ms(long ms)
{
    usleep(ms * 1000);
}

#endif
