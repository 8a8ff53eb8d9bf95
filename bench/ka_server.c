/* ka_server.c -- a small single-threaded epoll HTTP keep-alive server (the
 * nginx-like program of bench-live): answers every "...\r\n\r\n" request
 * with a fixed 200 response. Exits when its last client has gone, printing
 * its CPU time.
 *
 *   ka_server   (prints {"port":N}, then serves 127.0.0.1:N) */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";

static void die(const char *what)
{
    fprintf(stderr, "ka_server: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Answer every complete request in the connection's buffer. */
static int serve(int fd)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0)
        return n == 0 || errno != EAGAIN ? -1 : 0;
    for (char *p = buf; (p = memmem(p, (size_t)(buf + n - p), "\r\n\r\n", 4)) != NULL; p += 4)
        if (write(fd, reply, sizeof(reply) - 1) != (ssize_t)sizeof(reply) - 1)
            return -1;
    return 0;
}

int main(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), ep = epoll_create1(0);
    if (l < 0 || ep < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(l, 512) != 0 || getsockname(l, (struct sockaddr *)&a, &len) != 0)
        die("listen");
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = l }, evs[64];
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    printf("{\"port\":%d}\n", ntohs(a.sin_port));
    fflush(stdout);
    long clients = 0, served = 0;
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                int c;
                while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                    clients++;
                    served++;
                }
            } else if (serve(fd) != 0) {
                close(fd);
                if (--clients == 0 && served > 0) {
                    struct rusage ru;
                    getrusage(RUSAGE_SELF, &ru);
                    printf("{\"cpu_s\":%.6f}\n", ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
                           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
                    return 0;
                }
            }
        }
    }
}
