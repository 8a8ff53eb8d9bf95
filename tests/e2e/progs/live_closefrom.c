/* live_closefrom.c -- a daemon-style program that closes every fd above 2
 * (closefrom) while the watcher runs, then leaks a socket whose server hung
 * up: the watcher must reopen what it lost and still report it live.
 *
 *     live_closefrom PORT HOLD_MS
 * Prints {"fd":N}. */
#include "e2e_prog.h"

int leaky_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    connect_loopback(fd, port);
    return fd;
}

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    int first = leaky_connect(atoi(argv[1]));   /* starts the watcher */
    CHECK(write(first, "hello\n", 6) == 6);
    sleep_ms(150);              /* well within grace_ms: the first is no leak */
    closefrom(3);
    int fd = leaky_connect(atoi(argv[1]));
    CHECK(write(fd, "hello\n", 6) == 6);
    printf("{\"fd\":%d}\n", fd);
    fflush(stdout);
    sleep_ms(atol(argv[2]));
    return 0;
}
