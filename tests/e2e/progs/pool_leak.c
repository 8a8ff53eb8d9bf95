/* pool_leak.c -- logs in COUNT times, closing each connection after the
 * server hangs up, then once more keeping the socket in a pool it never
 * cleans up (CLOSE_WAIT). Prints {"fd":N,"local":"ADDR"}, then waits for
 * SIGTERM and exits 0.
 *
 *     pool_leak PORT COUNT */
#include <signal.h>
#include "e2e_prog.h"

static int pool[1];
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int pool_login(int port)
{
    char buf[256];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    connect_loopback(fd, port);
    CHECK(write(fd, "LOGIN app secret\n", 17) == 17);
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    return fd;
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_term };
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    CHECK(argc >= 3);
    CHECK(sigaction(SIGTERM, &sa, NULL) == 0);
    int port = atoi(argv[1]), count = atoi(argv[2]);
    for (int i = 0; i < count; i++)
        CHECK(close(pool_login(port)) == 0);
    pool[0] = pool_login(port);         /* BUG on purpose: never closed */
    CHECK(getsockname(pool[0], (struct sockaddr *)&a, &len) == 0);
    printf("{\"fd\":%d,\"local\":\"127.0.0.1:%d\"}\n", pool[0], ntohs(a.sin_port));
    fflush(stdout);
    while (!stop)
        pause();
    return 0;
}
