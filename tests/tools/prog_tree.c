/* prog_tree.c -- a process tree: a fork child and the parent leak from the same stack, an exec'd child runs prog_leaky. */
#include <sys/wait.h>

#include "prog_common.h"

int __attribute__((noinline)) tree_leak(void) {
    return connect_to_closing_peer();
}

int main(int argc, char **argv) {
    (void)argc;
    pid_t a = fork();
    if (a == 0) { tree_leak(); exit(0); }
    pid_t b = fork();
    if (b == 0) {
        char *args[] = { argv[1], "2", NULL };  /* argv[1]: the path of prog_leaky */
        execv(argv[1], args);
        _exit(127);
    }
    int st, bad = 0;
    while (wait(&st) > 0) bad |= !WIFEXITED(st) || WEXITSTATUS(st);
    tree_leak();
    return bad;
}
