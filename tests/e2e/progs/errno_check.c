/* errno_check.c -- call each wrapped function on failing and succeeding
 * paths and print "name result errno" per call, so a run under the shim can
 * be compared line by line with a run without it. errno is set to a marker
 * before each call: a successful call must leave it untouched. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MARK 4242
#define CALL(name, expr)                                                   \
    do {                                                                   \
        errno = MARK;                                                      \
        long rc_ = (long)(expr);                                           \
        int e_ = errno;                                                    \
        printf("%-22s %ld %s\n", name, rc_, e_ == MARK ? "unchanged" : strerror(e_)); \
    } while (0)

int main(void)
{
    char buf[64];
    int sv[2];
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    struct iovec iov = { buf, sizeof(buf) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

    /* a port nobody listens on: bind, learn the port, close */
    int tmp = socket(AF_INET, SOCK_STREAM, 0);
    bind(tmp, (struct sockaddr *)&a, sizeof(a));
    getsockname(tmp, (struct sockaddr *)&a, &len);
    close(tmp);

    CALL("socket EAFNOSUPPORT", socket(12345, SOCK_STREAM, 0));
    CALL("socketpair inet", socketpair(AF_INET, SOCK_STREAM, 0, sv));
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CALL("connect refused", connect(s, (struct sockaddr *)&a, sizeof(a)));
    CALL("shutdown notconn", shutdown(s, SHUT_RDWR));
    CALL("accept not listening", accept(s, NULL, NULL));
    CALL("accept4 bad fd", accept4(-1, NULL, NULL, 0));
    CALL("close ok", close(s));
    CALL("close again", close(s));
    CALL("close -1", close(-1));
    CALL("read bad fd", read(-1, buf, sizeof(buf)));
    CALL("recv bad fd", recv(-1, buf, sizeof(buf), 0));
    CALL("recvfrom bad fd", recvfrom(-1, buf, sizeof(buf), 0, NULL, NULL));
    CALL("recvmsg bad fd", recvmsg(-1, &msg, 0));
    CALL("readv bad fd", readv(-1, &iov, 1));
    CALL("dup bad fd", dup(12345));
    CALL("dup2 bad fd", dup2(12345, 100));
    CALL("dup3 same fd", dup3(1, 1, 0));
    CALL("fcntl dupfd bad", fcntl(12345, F_DUPFD, 0));
    CALL("close_range einval", close_range(10, 5, 0));

    CALL("socketpair unix", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    CALL("recv eagain", recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT));
    CALL("write", write(sv[1], "hi", 2));
    CALL("recv data", recv(sv[0], buf, sizeof(buf), 0));
    CALL("dup ok", dup(sv[0]) > 0);
    CALL("fcntl getfl", fcntl(sv[0], F_GETFL) >= 0);
    CALL("fcntl dupfd ok", fcntl(sv[0], F_DUPFD_CLOEXEC, 50) >= 50);
    CALL("shutdown wr", shutdown(sv[1], SHUT_WR));
    CALL("read eof", read(sv[0], buf, sizeof(buf)));
    CALL("readv eof", readv(sv[0], &iov, 1));
    CALL("recvmsg eof", recvmsg(sv[0], &msg, 0));
    CALL("close ok 2", close(sv[1]));
    CALL("close_range ok", close_range(3, ~0u, 0));
    return 0;
}
