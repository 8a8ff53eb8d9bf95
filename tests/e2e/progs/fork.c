/* fork.c -- the parent makes a UDP socket and forks; the child closes its
 * inherited copy, makes and leaks its own socket and exits; the parent waits
 * and exits with its socket still open. Prints one JSON line per process. */
#include <sys/wait.h>
#include "e2e_prog.h"

int parent_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    return fd;
}

int child_socket(void)
{
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    return fd;
}

int main(void)
{
    int u = parent_socket(), status;
    pid_t pid;

    fflush(stdout);
    CHECK((pid = fork()) >= 0);
    if (pid == 0) {
        int c;
        close(u);
        c = child_socket();
        printf("{\"who\":\"child\",\"pid\":%d,\"fd\":%d}\n", (int)getpid(), c);
        fflush(stdout);
        exit(0);   /* leaks c */
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("{\"who\":\"parent\",\"pid\":%d,\"fd\":%d,\"child\":%d}\n", (int)getpid(), u, (int)pid);
    return 0;   /* leaks u */
}
