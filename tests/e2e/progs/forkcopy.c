/* forkcopy.c -- a connection shared by a fork parent and child, one of them
 * closing its copy while the other keeps the connection alive.
 *
 *     forkcopy WHO PORT
 *   child   the child closes its copy at once and exits; the parent keeps
 *           the connection 300 ms more, then closes it (the last holder);
 *   parent  the parent closes its copy at once (a fork server handing the
 *           connection over); the child keeps it 300 ms, then closes it.
 * The peer (PORT) never closes first. Prints {"fd":N,"child":PID}. */
#include <sys/wait.h>
#include "e2e_prog.h"

int main(int argc, char **argv)
{
    CHECK(argc >= 3);
    int child_closes = strcmp(argv[1], "child") == 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    connect_loopback(fd, atoi(argv[2]));
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (!child_closes)
            sleep_ms(300);
        CHECK(close(fd) == 0);
        exit(0);
    }
    if (child_closes)
        CHECK(waitpid(pid, NULL, 0) == pid);
    else
        CHECK(close(fd) == 0);
    if (child_closes) {
        sleep_ms(300);
        CHECK(close(fd) == 0);
    } else {
        CHECK(waitpid(pid, NULL, 0) == pid);
    }
    printf("{\"fd\":%d,\"child\":%d}\n", fd, (int)pid);
    return 0;
}
