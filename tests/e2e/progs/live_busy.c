/* live_busy.c -- a client whose connection idles, then gets busy, then is
 * kept after the peer hangs up: it connects to PORT and echoes whatever
 * arrives; on EOF it keeps the socket (CLOSE_WAIT here) for HOLD_MS.
 *
 *     live_busy PORT HOLD_MS
 * Prints {"fd":N} at start and {"echoed":BYTES} at exit. */
#include <time.h>
#include "e2e_prog.h"

int busy_client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    connect_loopback(fd, port);
    return fd;
}

int main(int argc, char **argv)
{
    char buf[4096];
    long echoed = 0;
    ssize_t n;
    CHECK(argc == 3);
    int fd = busy_client_connect(atoi(argv[1]));
    printf("{\"fd\":%d}\n", fd);
    fflush(stdout);
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        CHECK(write(fd, buf, (size_t)n) == n);
        echoed += n;
    }
    CHECK(n == 0);
    sleep_ms(atol(argv[2]));
    printf("{\"echoed\":%ld}\n", echoed);
    return 0;
}
