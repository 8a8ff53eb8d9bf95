/* dtor_main.c -- makes a socketpair, closes one end, and with "adopt" hands
 * the other end to libdtor.so, whose destructor closes it after main returns.
 * With "keep" nobody closes it (the control: a close_wait leak). */
#include "e2e_prog.h"

void dtor_adopt(int fd);

int main(int argc, char **argv)
{
    int sp[2];

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    close(sp[1]);
    if (argc > 1 && strcmp(argv[1], "adopt") == 0)
        dtor_adopt(sp[0]);
    printf("{\"fd\":%d}\n", sp[0]);
    return 0;
}
