/* rawclose.c -- closes a TCP connection behind close()'s back, as libuv
 * (syscall(SYS_close)) and Go (the syscall instruction itself) do.
 *
 *     rawclose MODE PORT [HOLD_MS]
 * Connects to PORT, sends a line, waits HOLD_MS (default 100) while the
 * server replies and hangs up (CLOSE_WAIT here), then closes the socket:
 *   syscall  with syscall(SYS_close, fd) (libuv);
 *   raw      with the syscall instruction, then a UDP socket() gets the same
 *            number back (Go, then a library's socket);
 *   gone     with the syscall instruction, and the number stays free.
 * Prints {"fd":N,"reused_fd":M} (M: -1 unless raw). */
#include <sys/syscall.h>
#include "e2e_prog.h"

static long invisible_close(int fd)
{
#ifdef __x86_64__
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"((long)SYS_close), "D"((long)fd)
                     : "rcx", "r11", "memory");
    return ret;
#else
#error "rawclose needs x86_64 (the syscall instruction)"
#endif
}

int pool_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    connect_loopback(fd, port);
    CHECK(write(fd, "LOGIN app secret\n", 17) == 17);
    return fd;
}

int main(int argc, char **argv)
{
    CHECK(argc >= 3);
    const char *mode = argv[1];
    int fd = pool_connect(atoi(argv[2])), reused = -1;
    sleep_ms(argc > 3 ? atol(argv[3]) : 100);
    if (strcmp(mode, "syscall") == 0) {
        CHECK(syscall(SYS_close, fd) == 0);
    } else {
        CHECK(invisible_close(fd) == 0);
        if (strcmp(mode, "raw") == 0) {
            reused = socket(AF_INET, SOCK_DGRAM, 0);
            CHECK(reused == fd);
        }
    }
    printf("{\"fd\":%d,\"reused_fd\":%d}\n", fd, reused);
    fflush(stdout);
    sleep_ms(argc > 4 ? atol(argv[4]) : 0);
    return 0;
}
