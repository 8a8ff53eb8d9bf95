/* ctor_lib.c -- libctor.so: its constructor opens a UDP socket and never
 * closes it. A library linked by the program is initialized before the
 * preloaded shim's constructor runs, so this socket() reaches the hook
 * first: the shim must start itself from there and still record it. */
#include <sys/socket.h>

int ctor_fd = -1;

__attribute__((constructor)) static void open_at_load(void)
{
    ctor_fd = socket(AF_INET, SOCK_DGRAM, 0);
}
