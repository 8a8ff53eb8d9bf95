/* prog_common.h -- a TCP connection to ourselves whose peer then closes: the makings of a CLOSE_WAIT leak. */
#ifndef PROG_COMMON_H
#define PROG_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connect to a fresh loopback listener, let the accepted end close, and
 * read the FIN: the returned socket is in CLOSE_WAIT. */
static int __attribute__((noinline, unused)) connect_to_closing_peer(void) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, len) || listen(lfd, 8) ||
        getsockname(lfd, (struct sockaddr *)&a, &len)) { perror("listener"); exit(1); }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, len)) { perror("connect"); exit(1); }
    int peer = accept(lfd, NULL, NULL);
    if (peer < 0) { perror("accept"); exit(1); }
    close(peer);
    close(lfd);
    char c;
    if (read(fd, &c, 1) != 0) { fprintf(stderr, "expected EOF\n"); exit(1); }
    return fd;
}

#endif
