/* fortify.c -- built with -O2 -D_FORTIFY_SOURCE=2: recv() and read() with a
 * run-time length into a fixed buffer become __recv_chk and __read_chk.
 * Reads two connections to EOF that way, then leaks both and lingers 1 s:
 * the FIN seen through the _chk entry points must give fin_age_ms >= ~1000.
 * Usage: fortify CHUNK   (CHUNK <= 64, e.g. 16) */
#include "e2e_prog.h"

static int listener_port;

int connect_client(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    connect_loopback(fd, listener_port);
    return fd;
}

/* The server side: say hello and hang up. */
static void hello_and_hang_up(int lfd)
{
    int afd = accept(lfd, NULL, NULL);
    CHECK(afd >= 0);
    CHECK(write(afd, "hello\n", 6) == 6);
    close(afd);
}

size_t drain_with_recv(int fd, size_t chunk)
{
    char buf[64];
    size_t total = 0;
    ssize_t n;

    while ((n = recv(fd, buf, chunk, 0)) > 0)
        total += n;
    CHECK(n == 0);
    return total;
}

size_t drain_with_read(int fd, size_t chunk)
{
    char buf[64];
    size_t total = 0;
    ssize_t n;

    while ((n = read(fd, buf, chunk)) > 0)
        total += n;
    CHECK(n == 0);
    return total;
}

int main(int argc, char **argv)
{
    size_t chunk = argc > 1 ? strtoul(argv[1], NULL, 10) : 16;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), via_recv, via_read;

    CHECK(lfd >= 0 && chunk > 0 && chunk <= 64);
    listener_port = bind_loopback(lfd);
    CHECK(listen(lfd, 8) == 0);

    via_recv = connect_client();
    hello_and_hang_up(lfd);
    CHECK(drain_with_recv(via_recv, chunk) == 6);

    via_read = connect_client();
    hello_and_hang_up(lfd);
    CHECK(drain_with_read(via_read, chunk) == 6);

    close(lfd);
    printf("{\"recv_fd\":%d,\"read_fd\":%d}\n", via_recv, via_read);
    fflush(stdout);
    sleep_ms(1000);
    return 0;   /* leaks via_recv and via_read, both in CLOSE_WAIT */
}
