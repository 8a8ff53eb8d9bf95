/* dup.c -- one socket, several fds. Each MODE prints the fd numbers as one
 * JSON line, then exits with what it left open.
 *   dup | dup2 | dup3 | fcntl_dupfd | fcntl_dupfd_cloexec
 *                      a UDP socket and a second fd for it, both left open
 *   close_orig         dup, then close the original: the dup keeps it open
 *   close_all          dup and F_DUPFD, then close all three fds
 *   dup2_over_last     dup2(udp, tcp): the TCP socket loses its only fd
 *   dup2_over_shared   the same, but the TCP socket has a dup that stays open
 *   fclose             fclose(fdopen(s)) closes the socket */
#include <fcntl.h>
#include "e2e_prog.h"

int make_udp(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    return fd;
}

int make_tcp(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    return fd;
}

static int second_fd(const char *mode, int s)
{
    if (strcmp(mode, "dup") == 0)
        return dup(s);
    if (strcmp(mode, "dup2") == 0)
        return dup2(s, 40);
    if (strcmp(mode, "dup3") == 0)
        return dup3(s, 41, O_CLOEXEC);
    if (strcmp(mode, "fcntl_dupfd") == 0)
        return fcntl(s, F_DUPFD, 20);
    if (strcmp(mode, "fcntl_dupfd_cloexec") == 0)
        return fcntl(s, F_DUPFD_CLOEXEC, 30);
    return -2;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "dup";
    int s, d, f, t, c;

    if (strcmp(mode, "close_orig") == 0) {
        s = make_udp();
        CHECK((d = dup(s)) >= 0);
        close(s);
        printf("{\"closed\":%d,\"kept\":%d}\n", s, d);
    } else if (strcmp(mode, "close_all") == 0) {
        s = make_udp();
        CHECK((d = dup(s)) >= 0);
        CHECK((f = fcntl(s, F_DUPFD, 20)) >= 0);
        close(s);
        close(d);
        close(f);
        printf("{\"closed\":[%d,%d,%d]}\n", s, d, f);
    } else if (strcmp(mode, "dup2_over_last") == 0) {
        s = make_udp();
        t = make_tcp();
        CHECK(dup2(s, t) == t);
        printf("{\"udp_fds\":[%d,%d]}\n", s, t);
    } else if (strcmp(mode, "dup2_over_shared") == 0) {
        s = make_udp();
        t = make_tcp();
        CHECK((c = dup(t)) >= 0);
        CHECK(dup2(s, t) == t);
        printf("{\"udp_fds\":[%d,%d],\"tcp_fds\":[%d]}\n", s, t, c);
    } else if (strcmp(mode, "fclose") == 0) {
        FILE *fp;
        s = make_tcp();
        CHECK((fp = fdopen(s, "r+")) != NULL);
        CHECK(fclose(fp) == 0);
        printf("{\"closed\":%d}\n", s);
    } else {
        s = make_udp();
        d = second_fd(mode, s);
        CHECK(d >= 0);
        printf("{\"fds\":[%d,%d]}\n", s, d);
    }
    return 0;
}
