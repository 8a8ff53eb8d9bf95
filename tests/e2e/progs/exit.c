/* exit.c -- leaks a UDP socket and ends with the exit path named by MODE
 * (_exit, _Exit, exit, return), status 7: the report must be written anyway. */
#include "e2e_prog.h"

int leak_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    return fd;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "exit";
    int fd = leak_socket();

    printf("{\"fd\":%d}\n", fd);
    fflush(stdout);
    if (strcmp(mode, "_exit") == 0)
        _exit(7);
    if (strcmp(mode, "_Exit") == 0)
        _Exit(7);
    if (strcmp(mode, "exit") == 0)
        exit(7);
    return 7;
}
