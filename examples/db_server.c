/* db_server.c -- a tiny "database" that refuses every login and hangs up.
 *
 * Usage: db_server PORT [COUNT]
 *   Listens on 127.0.0.1:PORT (0: an ephemeral port). The chosen port is the
 *   first line on stdout. Each client sends one login line and gets
 *   "ERR login refused\n", then the server closes its side: its socket sits
 *   in FIN_WAIT_2 until the client closes too, which a leaky client never
 *   does (its side stays in CLOSE_WAIT). Exits after COUNT connections, or
 *   runs until killed when COUNT is 0 or absent. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_loopback(int port)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 128) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);

    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        return -1;
    return ntohs(addr.sin_port);
}

/* Read up to the end of the login line (or EOF); the content is ignored. */
static void read_login(int fd)
{
    char buf[256];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (memchr(buf, '\n', n))
            break;
}

/* The answer and the FIN leave in one segment (corked until close(), which
 * tacks the FIN onto the unsent answer): a client that reads the answer
 * and exits at once has its side in CLOSE_WAIT already. Sent apart, a
 * server preempted between write() and close() let such a client exit
 * with the connection still ESTABLISHED. */
static void refuse(int fd)
{
    static const char answer[] = "ERR login refused\n";
    int one = 1;

    read_login(fd);
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
    if (write(fd, answer, sizeof(answer) - 1) < 0)
        perror("db_server: write");
    close(fd);
}

int main(int argc, char **argv)
{
    long count = argc > 2 ? atol(argv[2]) : 0;
    int lfd, port;

    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [COUNT]\n", argv[0]);
        return 2;
    }
    lfd = listen_loopback(atoi(argv[1]));
    if (lfd < 0 || (port = bound_port(lfd)) < 0) {
        perror("db_server: listen");
        return 1;
    }
    printf("%d\n", port);
    fflush(stdout);

    for (long served = 0; count == 0 || served < count;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("db_server: accept");
            break;
        }
        refuse(fd);
        served++;
    }
    close(lfd);
    return 0;
}
