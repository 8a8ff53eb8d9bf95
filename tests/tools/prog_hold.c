/* prog_hold.c -- holds N CLOSE_WAIT sockets and one listener until killed: something for "sockleak scan" to find. */
#include "prog_common.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1)) { perror("listen"); return 1; }
    for (int i = 0; i < n; i++) connect_to_closing_peer();
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
