/* clean.c -- uses TCP (listen, connect, accept), UDP and a Unix socketpair,
 * and closes every socket: sockleak must report nothing. */
#include "e2e_prog.h"

int main(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd, afd, udp, sp[2];
    int port;
    char buf[16];

    CHECK(lfd >= 0);
    port = bind_loopback(lfd);
    CHECK(listen(lfd, 8) == 0);
    cfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(cfd >= 0);
    connect_loopback(cfd, port);
    afd = accept(lfd, NULL, NULL);
    CHECK(afd >= 0);
    CHECK(write(cfd, "ping\n", 5) == 5);
    CHECK(read(afd, buf, sizeof(buf)) > 0);
    close(afd);
    CHECK(read(cfd, buf, sizeof(buf)) == 0);   /* sees the FIN, then closes */
    close(cfd);
    close(lfd);

    udp = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(udp >= 0);
    bind_loopback(udp);
    close(udp);

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    close(sp[1]);
    close(sp[0]);
    sleep_ms(100);
    return 0;
}
