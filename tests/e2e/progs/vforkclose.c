/* vforkclose.c -- a connection kept (and leaked) by a parent that runs
 * children with vfork(); each child closes every fd from 3 up, as a shell
 * or Python's subprocess does before exec, then execs /bin/true (or, with
 * "exit", _exits at once).
 *
 *     vforkclose PORT CHILDREN exec|exit
 * The peer (PORT) closes first; the parent never closes. Prints
 * {"fd":N,"children":C,"status":S} (S: the last child's exit status). */
#include <sys/wait.h>
#include "e2e_prog.h"

int main(int argc, char **argv)
{
    CHECK(argc >= 4);
    int fd = socket(AF_INET, SOCK_STREAM, 0), n = atoi(argv[2]), status = -1;
    int use_exec = strcmp(argv[3], "exec") == 0;
    CHECK(fd >= 0);
    connect_loopback(fd, atoi(argv[1]));
    CHECK(write(fd, "login\n", 6) == 6);
    for (int i = 0; i < n; i++) {
        pid_t pid = vfork();
        CHECK(pid >= 0);
        if (pid == 0) {
            for (int k = 3; k < 256; k++)
                close(k);
            if (use_exec)
                execl("/bin/true", "true", (char *)NULL);
            _exit(use_exec ? 127 : 0);
        }
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
        status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    sleep_ms(200);      /* the peer's FIN arrives; the fd stays open */
    printf("{\"fd\":%d,\"children\":%d,\"status\":%d}\n", fd, n, status);
    return 0;
}
