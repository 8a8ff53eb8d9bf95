/* live_fork.c -- the parent's watcher runs (a UDP socket) when it forks; the
 * child connects to PORT, sends a line, never reads the reply and holds the
 * socket HOLD_MS after the server hung up: its own watcher must report it.
 *
 *     live_fork PORT HOLD_MS
 * Prints {"who":"child","pid":P,"fd":N} and {"who":"parent","pid":P}. */
#include <sys/wait.h>
#include "e2e_prog.h"

int child_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    connect_loopback(fd, port);
    return fd;
}

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    int port = atoi(argv[1]), status;
    long hold_ms = atol(argv[2]);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    pid_t pid;

    CHECK(u >= 0);
    sleep_ms(100);          /* the parent's watcher is up before the fork */
    fflush(stdout);
    CHECK((pid = fork()) >= 0);
    if (pid == 0) {
        int fd = child_connect(port);
        CHECK(write(fd, "hello\n", 6) == 6);
        printf("{\"who\":\"child\",\"pid\":%d,\"fd\":%d}\n", (int)getpid(), fd);
        fflush(stdout);
        sleep_ms(hold_ms);
        exit(0);            /* leaks fd, in CLOSE_WAIT */
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(u);
    printf("{\"who\":\"parent\",\"pid\":%d}\n", (int)getpid());
    return 0;
}
