/* attach_dl_lib.c -- loaded by attach_svc with dlopen while sockleak is
 * attached: its socket() goes through its own GOT, which the dlopen wrapper
 * must patch. */
#include <sys/socket.h>

int attach_dl_make_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    __asm__ volatile("" ::: "memory");   /* not a tail call: keep this frame */
    return fd;
}
