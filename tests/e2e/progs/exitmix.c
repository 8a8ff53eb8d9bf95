/* exitmix.c -- many sockets of every kind and state at exit: the exit
 * report sorts most with one poll() and must still get each one right:
 *
 *     exitmix N HOLD_PORT [exit|_exit] [seal]
 *   - N idle TCP connections to its own listener (2N sockets + 1 LISTEN);
 *   - to HOLD_PORT (a server that accepts and never reads nor closes): one
 *     connection shut down for writing (FIN_WAIT2) and one whose send buffer
 *     is full (ESTABLISHED, not writable);
 *   - one accepted connection whose client end was closed (CLOSE_WAIT here,
 *     made in leak_cw);
 *   - one connection whose client end was reset (TCP CLOSE, in no dump);
 *   - one connection closed with the syscall instruction (closed outside
 *     the shim; its number stays free);
 *   - N bound UDP sockets;
 *   - N Unix socketpairs, and one more whose other end was closed (its peer
 *     gone, made in leak_unix).
 * Prints
 * {"cw_fd":N,"unix_fd":M,"raw_fd":K}, waits 300 ms and exits with exit(0)
 * or _exit(0). */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include "e2e_prog.h"

static long invisible_close(int fd)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"((long)SYS_close), "D"((long)fd)
                     : "rcx", "r11", "memory");
    return ret;
}

/* Per-fd questions about fds lo..hi fail with EACCES from now on. */
static void seal(int lo, int hi)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_newfstatat, 5, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fstat, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getsockopt, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getsockname, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpeername, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (unsigned)lo, 0, 2),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (unsigned)hi, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    connect_loopback(fd, port);
    return fd;
}

int leak_cw(int listener, int port)
{
    int c = dial(port), a = accept(listener, NULL, NULL);
    CHECK(a >= 0);
    close(c);
    return a;
}

int leak_unix(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    close(sv[1]);
    return sv[0];
}

int main(int argc, char **argv)
{
    CHECK(argc >= 3);
    int n = atoi(argv[1]), hold_port = atoi(argv[2]);
    int fin_wait = dial(hold_port), full = dial(hold_port);
    CHECK(shutdown(fin_wait, SHUT_WR) == 0);
    char block[65536] = { 0 };
    CHECK(fcntl(full, F_SETFL, O_NONBLOCK) == 0);
    while (write(full, block, sizeof(block)) > 0)
        ;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(l >= 0);
    int port = bind_loopback(l);
    CHECK(listen(l, 1024) == 0);
    int lo = -1, hi = -1;
    for (int i = 0; i < n; i++) {
        int c = dial(port), a = accept(l, NULL, NULL);
        CHECK(a == c + 1 && (lo < 0 || c == hi + 1));
        lo = lo < 0 ? c : lo;
        hi = a;
    }
    int cw = leak_cw(l, port);
    int reset = dial(port);
    CHECK(accept(l, NULL, NULL) >= 0);
    struct linger lg = { 1, 0 };
    CHECK(setsockopt(reset, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    close(reset);
    int raw = dial(port), raw_peer = accept(l, NULL, NULL);
    CHECK(raw_peer >= 0);
    CHECK(invisible_close(raw) == 0);
    close(raw_peer);
    for (int i = 0; i < n; i++) {
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        CHECK(u >= 0);
        bind_loopback(u);
    }
    for (int i = 0; i < n; i++) {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    }
    int gone = leak_unix();
    printf("{\"cw_fd\":%d,\"unix_fd\":%d,\"raw_fd\":%d,\"idle\":[%d,%d]}\n", cw, gone,
           raw, lo, hi);
    fflush(stdout);
    if (argc > 4 && strcmp(argv[4], "seal") == 0)
        seal(lo, hi);
    sleep_ms(300);
    if (argc > 3 && strcmp(argv[3], "_exit") == 0)
        _exit(0);
    exit(0);
}
