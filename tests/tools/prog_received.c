/* prog_received.c -- a worker that is handed a connection through
 * SCM_RIGHTS (as a master hands its workers their sockets) and keeps it
 * open until it exits; with "close" it closes it first. */
#include <string.h>
#include <sys/uio.h>
#include "prog_common.h"

static void send_fd(int chan, int fd) {
    char byte = 'x';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
    memset(&ctl, 0, sizeof(ctl));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (sendmsg(chan, &msg, 0) != 1) { perror("sendmsg"); exit(1); }
}

int __attribute__((noinline)) take_handed_connection(int chan) {
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
    if (recvmsg(chan, &msg, 0) != 1) { perror("recvmsg"); exit(1); }
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS) { fprintf(stderr, "no fd received\n"); exit(1); }
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

int main(int argc, char **argv) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), sv[2];
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, len) || listen(lfd, 8) ||
        getsockname(lfd, (struct sockaddr *)&a, &len) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
        perror("setup"); exit(1);
    }
    int client = socket(AF_INET, SOCK_STREAM, 0);
    if (client < 0 || connect(client, (struct sockaddr *)&a, len)) { perror("connect"); exit(1); }
    int conn = accept(lfd, NULL, NULL);
    if (conn < 0) { perror("accept"); exit(1); }
    send_fd(sv[0], conn);       /* the "master" hands it over and lets go */
    close(conn);
    int held = take_handed_connection(sv[1]);
    close(sv[0]);
    close(sv[1]);
    close(lfd);
    if (argc > 1 && !strcmp(argv[1], "close")) close(held);
    close(client);              /* the peer leaves: a CLOSE_WAIT, but it exits at once */
    return 0;
}
