/* prog_listen.c -- leaves a listening socket open at exit (kind open_at_exit), nothing in CLOSE_WAIT. */
#include "prog_common.h"

int __attribute__((noinline)) start_listener(void) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1)) { perror("listen"); exit(1); }
    return fd;
}

int main(void) {
    start_listener();
    return 0;
}
