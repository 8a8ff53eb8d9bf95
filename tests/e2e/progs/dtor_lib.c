/* dtor_lib.c -- libdtor.so: closes, from its destructor, a socket that the
 * program handed over. Libraries that tear down their connections this way
 * (pools, clients) must not have those sockets reported as leaked. */
#include <unistd.h>

static int adopted = -1;

void dtor_adopt(int fd)
{
    adopted = fd;
}

__attribute__((destructor)) static void close_adopted(void)
{
    if (adopted >= 0)
        close(adopted);
}
