/* ctor_main.c -- prints the fd libctor.so's constructor opened before main. */
#include <stdio.h>

extern int ctor_fd;

int main(void)
{
    printf("{\"fd\":%d}\n", ctor_fd);
    return 0;
}
