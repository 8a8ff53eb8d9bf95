/* live_peer.c -- the client half of the classic story, done right: it
 * connects to PORT, sends a line and closes first (MODE close) or shuts
 * down writing (MODE shutdown), then waits HOLD_MS. If the server never
 * closes its side, the shim should name that server.
 *
 *     live_peer PORT MODE HOLD_MS
 * Prints {"fd":N,"local":"127.0.0.1:P"}. */
#include "e2e_prog.h"

int peer_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    connect_loopback(fd, port);
    return fd;
}

int main(int argc, char **argv)
{
    CHECK(argc == 4);
    int fd = peer_connect(atoi(argv[1]));
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    char host[32];

    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    inet_ntop(AF_INET, &a.sin_addr, host, sizeof(host));
    printf("{\"fd\":%d,\"local\":\"%s:%d\"}\n", fd, host, ntohs(a.sin_port));
    fflush(stdout);
    CHECK(write(fd, "hello\n", 6) == 6);
    if (strcmp(argv[2], "shutdown") == 0)
        CHECK(shutdown(fd, SHUT_WR) == 0);
    else
        CHECK(close(fd) == 0);
    sleep_ms(atol(argv[3]));
    if (strcmp(argv[2], "shutdown") == 0)
        close(fd);
    return 0;
}
