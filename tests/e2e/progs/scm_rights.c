/* scm_rights.c -- passes a UDP socket to itself over a Unix socketpair with
 * SCM_RIGHTS, closes the original and the channel, and leaks the received
 * fd: its origin must be "received". */
#include "e2e_prog.h"

static void send_fd(int chan, int fd)
{
    char byte = 'x';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

    memset(&ctl, 0, sizeof(ctl));
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    CHECK(sendmsg(chan, &msg, 0) == 1);
}

int receive_fd(int chan)
{
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
    struct cmsghdr *c;
    int fd;

    CHECK(recvmsg(chan, &msg, 0) == 1);
    c = CMSG_FIRSTHDR(&msg);
    CHECK(c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS);
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

int main(void)
{
    int chan[2], udp, got;

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, chan) == 0);
    udp = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(udp >= 0);
    bind_loopback(udp);
    send_fd(chan[0], udp);
    close(udp);
    got = receive_fd(chan[1]);
    close(chan[0]);
    close(chan[1]);
    printf("{\"received_fd\":%d,\"sent_fd\":%d}\n", got, udp);
    return 0;   /* leaks got */
}
