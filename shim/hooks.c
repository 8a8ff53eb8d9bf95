/* hooks.c -- the interposed libc functions. Each one calls the real
 * function, reports what happened to the runtime in one call, restores errno
 * and returns the real result unchanged. No formatting, no locks here. */
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/single_threaded.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "attach.h"
#include "ownfd.h"
#include "real.h"
#include "runtime.h"

#define SL_EXPORT __attribute__((visibility("default")))
#define SL_STR2(x) #x
#define SL_STR(x) SL_STR2(x)

/* fortify entry points have no public prototypes */
ssize_t __recv_chk(int, void *, size_t, size_t, int);
ssize_t __recvfrom_chk(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
ssize_t __read_chk(int, void *, size_t, size_t);
ssize_t __read(int, void *, size_t);
int __close(int);
int __dup2(int, int);
int __fcntl(int, int, ...);
int fcntl64(int, int, ...);

__attribute__((constructor)) static void sockleak_start(void)
{
    /* dlopen'ed by sockleak attach: sl_attach() starts us, not the loader */
    if (sl_attach_loaded_late())
        return;
    sl_init();
}

/* The peer's FIN on fd (errno kept): out of line, off the read paths. */
static __attribute__((noinline, cold)) void eof_seen(int fd)
{
    int saved = errno;
    sl_on_eof(fd);
    errno = saved;
}

/* A 0-byte result of a read of n > 0 bytes: the peer's FIN on a stream. */
static inline void maybe_eof(int fd, ssize_t r, size_t n)
{
    if (__builtin_expect(r == 0, 0) && n > 0)
        eof_seen(fd);
}

/* ---- creating sockets ---- */

SL_EXPORT int socket(int domain, int type, int protocol)
{
    sl_ensure_init();
    int fd = SL_REAL(socket)(domain, type, protocol);
    if (fd >= 0) {
        int saved = errno;
        sl_on_socket(fd, domain, type, protocol, SL_ORIGIN_SOCKET);
        errno = saved;
    }
    return fd;
}

SL_EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
    sl_ensure_init();
    int rc = SL_REAL(socketpair)(domain, type, protocol, sv);
    if (rc == 0) {
        int saved = errno;
        sl_on_socket(sv[0], domain, type, protocol, SL_ORIGIN_SOCKETPAIR);
        sl_on_socket(sv[1], domain, type, protocol, SL_ORIGIN_SOCKETPAIR);
        errno = saved;
    }
    return rc;
}

/* The peer's address is an accepted connection's identity (runtime.c):
 * when the caller does not ask for it, it is asked into our own buffer
 * (the kernel fills it in the same call; nothing the caller sees changes).
 * The caller's own buffer and length are read after the call, when the
 * kernel has written both. */
struct peer_buf {
    struct sockaddr_in6 own;
    socklen_t own_len;
    struct sockaddr *addr;      /* what the kernel is given */
    socklen_t *len;
};

static void peer_buf_init(struct peer_buf *b, struct sockaddr *addr, socklen_t *len)
{
    b->own_len = sizeof(b->own);
    b->addr = addr != NULL ? addr : (struct sockaddr *)&b->own;
    b->len = addr != NULL ? len : &b->own_len;
}

static void accepted(int fd, int rc, enum sl_origin origin, const struct peer_buf *b)
{
    int saved = errno;
    sl_on_accept(fd, rc, origin, b->addr, b->len != NULL ? *b->len : 0);
    errno = saved;
}

SL_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    struct peer_buf b;
    sl_ensure_init();
    peer_buf_init(&b, addr, len);
    int rc = SL_REAL(accept)(fd, b.addr, b.len);
    if (rc >= 0)
        accepted(fd, rc, SL_ORIGIN_ACCEPT, &b);
    return rc;
}

SL_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    struct peer_buf b;
    sl_ensure_init();
    peer_buf_init(&b, addr, len);
    int rc = SL_REAL(accept4)(fd, b.addr, b.len, flags);
    if (rc >= 0)
        accepted(fd, rc, SL_ORIGIN_ACCEPT4, &b);
    return rc;
}

SL_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int rc = SL_REAL(connect)(fd, addr, len);
    int saved = errno;
    if (rc == 0 || saved == EINPROGRESS) {
        sl_on_connect(fd, addr, len);
        errno = saved;
    }
    return rc;
}

/* ---- reading: where a peer's FIN shows (hot path) ---- */

/* libunwind's own calls while the shim unwinds (its validation pipe). */
#define FROM_OUR_UNWIND() \
    (__builtin_expect(sl_unwinding, 0) && \
     sl_unwind_from_libunwind(__builtin_return_address(0)))

/* The read family is the program's hot path: every read and recv. The
 * fast path makes the real call and looks at the result only when it is 0
 * bytes of a non-empty request (a FIN). Everything else leaves by a tail
 * call (the first call, before the constructor resolved the real
 * functions; an empty request; libunwind's own read), so only fd is kept
 * across the real call: recv 15 instructions a call where there were 26,
 * read 20 where there were 28 (callgrind; 4 pushes, 4 pops and a frame
 * fewer). */

/* The whole call, out of line: the first one (SL_REAL resolves). */
#define SL_READ_FIRST(name, params, args, nbytes)                              \
    static __attribute__((noinline, cold)) ssize_t name##_first params         \
    {                                                                          \
        ssize_t r = SL_REAL(name) args;                                        \
        maybe_eof(fd, r, nbytes);                                              \
        return r;                                                              \
    }

#define SL_READ_HOOK(name, params, args, nbytes)                               \
    SL_READ_FIRST(name, params, args, nbytes)                                  \
    SL_EXPORT ssize_t name params                                              \
    {                                                                          \
        if (__builtin_expect(sl_real.name == NULL, 0))                         \
            return name##_first args;                                          \
        if (__builtin_expect((nbytes) == 0, 0))                                \
            return sl_real.name args;                                          \
        ssize_t r = sl_real.name args;                                         \
        if (__builtin_expect(r == 0, 0))                                       \
            eof_seen(fd);                                                      \
        return r;                                                              \
    }

SL_READ_FIRST(read, (int fd, void *buf, size_t n), (fd, buf, n), n)

/* read() while this thread unwinds may be libunwind's (its validation
 * pipe), answered by ownfd.c. */
static __attribute__((noinline, cold)) ssize_t read_unwinding(int fd, void *buf, size_t n,
                                                              const void *caller)
{
    if (sl_unwind_from_libunwind(caller))
        return sl_unwind_read(fd, buf, n);
    return read_first(fd, buf, n);
}

SL_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    if (__builtin_expect(sl_unwinding, 0))
        return read_unwinding(fd, buf, n, __builtin_return_address(0));
    if (__builtin_expect(sl_real.read == NULL, 0))
        return read_first(fd, buf, n);
    if (__builtin_expect(n == 0, 0))
        return sl_real.read(fd, buf, n);
    ssize_t r = sl_real.read(fd, buf, n);
    if (__builtin_expect(r == 0, 0))
        eof_seen(fd);
    return r;
}

SL_READ_HOOK(__read, (int fd, void *buf, size_t n), (fd, buf, n), n)
SL_READ_HOOK(__read_chk, (int fd, void *buf, size_t n, size_t buflen), (fd, buf, n, buflen), n)
SL_READ_HOOK(recv, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags), n)
SL_READ_HOOK(__recv_chk, (int fd, void *buf, size_t n, size_t buflen, int flags),
             (fd, buf, n, buflen, flags), n)
SL_READ_HOOK(recvfrom, (int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                        socklen_t *len), (fd, buf, n, flags, addr, len), n)
SL_READ_HOOK(__recvfrom_chk, (int fd, void *buf, size_t n, size_t buflen, int flags,
                              struct sockaddr *addr, socklen_t *len),
             (fd, buf, n, buflen, flags, addr, len), n)

static size_t iov_bytes(const struct iovec *iov, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    return total;
}

SL_EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    ssize_t r = SL_REAL(readv)(fd, iov, iovcnt);
    if (__builtin_expect(r == 0, 0))
        maybe_eof(fd, r, iov_bytes(iov, iovcnt));
    return r;
}

/* Sockets passed to us with SCM_RIGHTS become tracked (origin "received"). */
static void received_fds(struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int fd;
            __builtin_memcpy(&fd, data + i * sizeof(int), sizeof(int));
            sl_on_received(fd);
        }
    }
}

SL_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    ssize_t r = SL_REAL(recvmsg)(fd, msg, flags);
    if (r >= 0 && msg->msg_controllen > 0) {
        int saved = errno;
        sl_ensure_init();
        received_fds(msg);
        errno = saved;
    }
    if (r == 0)
        maybe_eof(fd, r, iov_bytes(msg->msg_iov, (int)msg->msg_iovlen));
    return r;
}

SL_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
                       struct timespec *timeout)
{
    int r = SL_REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
    if (r > 0) {
        int saved = errno;
        for (int i = 0; i < r; i++)
            if (vec[i].msg_hdr.msg_controllen > 0) {
                sl_ensure_init();
                received_fds(&vec[i].msg_hdr);
            }
        errno = saved;
    }
    return r;
}

/* ---- closing ---- */

SL_EXPORT int shutdown(int fd, int how)
{
    int rc = SL_REAL(shutdown)(fd, how);
    if (rc == 0) {
        int saved = errno;
        sl_on_shutdown(fd, how);
        errno = saved;
    }
    return rc;
}

/* Closes are recorded before the real close: once the kernel frees the
 * number another thread's socket() may get it, and its record must win.
 * A zone number is the shim's: without the shim it would not be open, so
 * the program gets what the kernel would have said, EBADF. */
static int close_common(int (*real)(int), int fd)
{
    if (sl_private_is(fd)) {
        errno = EBADF;
        return -1;
    }
    int saved = errno;
    sl_on_close(fd);
    errno = saved;
    /* A single-threaded program has no other thread whose placement could
     * race this close (a signal handler's runs before or after it). */
    if (__libc_single_threaded)
        return real(fd);
    /* Until the real close ends no placement makes an fd, and one running
     * is waited for: a number the shim has just made, not yet in the zone,
     * is checked again there. */
    return sl_zone_close(real, fd);
}

static int syscall_close(int fd)
{
    return (int)SL_REAL(syscall)(SYS_close, fd);
}

SL_EXPORT int close(int fd)
{
    return close_common(SL_REAL(close), fd);
}

SL_EXPORT int __close(int fd)
{
    return close_common(SL_REAL(__close), fd);
}

/* The flags the kernel knows; with others it fails (EINVAL) and so must
 * change nothing here either. */
#define KNOWN_CLOSE_RANGE_FLAGS (CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)

SL_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
    if ((flags & ~KNOWN_CLOSE_RANGE_FLAGS) != 0 || first > last) {
        errno = EINVAL;
        return -1;
    }
    int saved = errno;
    if (!(flags & CLOSE_RANGE_CLOEXEC))
        sl_on_close_range(first, last);
    errno = saved;
    /* the shim's fds in the range stay open */
    return sl_zone_close_range(first, last, flags);
}

/* closefrom without close_range (kernels before 5.9): close each open fd
 * from lowfd on, as glibc's fallback does, but never a zone fd. */
static void closefrom_slow(int lowfd)
{
    char buf[4096];
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return;
    for (long n; (n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0;)
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            char *end;
            long fd = strtol(d->d_name, &end, 10);
            if (*end == '\0' && end != d->d_name && fd >= lowfd && fd != dir &&
                !sl_private_is((int)fd))
                SL_REAL(close)((int)fd);
        }
    SL_REAL(close)(dir);
}

SL_EXPORT void closefrom(int lowfd)
{
    int saved = errno;
    if (lowfd < 0)
        lowfd = 0;
    sl_on_close_range((unsigned)lowfd, ~0u);
    if (sl_zone_close_range((unsigned)lowfd, ~0u, 0) != 0)
        closefrom_slow(lowfd);
    errno = saved;
}

SL_EXPORT int fclose(FILE *fp)
{
    int saved = errno;
    /* fclose(fdopen(sock)) closes the socket behind close()'s back. */
    if (fp != NULL)
        sl_on_close(fileno(fp));
    errno = saved;
    return SL_REAL(fclose)(fp);
}

/* ---- duplicating ---- */

SL_EXPORT int dup(int fd)
{
    int rc = SL_REAL(dup)(fd);
    if (rc >= 0) {
        int saved = errno;
        sl_on_dup(fd, rc);
        errno = saved;
    }
    return rc;
}

/* dup2/dup3 onto an open fd close it first (the JDK closes sockets so). */
static int dup_onto(int (*real)(int, int, int), int (*real2)(int, int),
                    int oldfd, int newfd, int flags)
{
    int saved = errno;
    int held = sl_zone_dup_begin(newfd);    /* the program may have our number */
    errno = saved;
    int rc = real ? real(oldfd, newfd, flags) : real2(oldfd, newfd);
    saved = errno;
    sl_zone_dup_end(held);
    errno = saved;
    if (rc >= 0) {
        saved = errno;
        sl_on_dup_onto(oldfd, newfd);
        errno = saved;
    }
    return rc;
}

SL_EXPORT int dup2(int oldfd, int newfd)
{
    return dup_onto(NULL, SL_REAL(dup2), oldfd, newfd, 0);
}

SL_EXPORT int __dup2(int oldfd, int newfd)
{
    return dup_onto(NULL, SL_REAL(__dup2), oldfd, newfd, 0);
}

SL_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    return dup_onto(SL_REAL(dup3), NULL, oldfd, newfd, flags);
}

/* fcntl's third argument is an int or a pointer; glibc itself forwards it as
 * a pointer-sized value, and so do we. */
static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
    if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
        return real(fd, cmd, arg);
    int saved = errno;
    int held = sl_zone_dup_begin((int)(intptr_t)arg);
    errno = saved;
    int rc = real(fd, cmd, arg);
    saved = errno;
    sl_zone_dup_end(held);
    if (rc >= 0)
        sl_on_dup(fd, rc);
    errno = saved;
    return rc;
}

#define SL_FCNTL_HOOK(name)                                      \
    SL_EXPORT int name(int fd, int cmd, ...)                     \
    {                                                            \
        va_list ap;                                              \
        va_start(ap, cmd);                                       \
        void *arg = va_arg(ap, void *);                          \
        va_end(ap);                                              \
        return fcntl_common(SL_REAL(name), fd, cmd, arg);        \
    }
SL_FCNTL_HOOK(fcntl)
SL_FCNTL_HOOK(__fcntl)
SL_FCNTL_HOOK(fcntl64)

/* ---- the shim's fd zone ---- */

SL_EXPORT int pipe2(int fds[2], int flags)
{
    if (FROM_OUR_UNWIND())
        return sl_unwind_pipe2(fds, flags);
    return SL_REAL(pipe2)(fds, flags);
}

/* Raising RLIMIT_NOFILE may expose the shim's fds: they move first. */
struct rlimit_call {
    int which;          /* 0 setrlimit, 1 setrlimit64, 2 prlimit, 3 prlimit64 */
    pid_t pid;
    __rlimit_resource_t res;
    const void *new_limit;
    void *old_limit;
};

static int rlimit_real(void *arg)
{
    struct rlimit_call *c = arg;
    switch (c->which) {
    case 0: return SL_REAL(setrlimit)(c->res, c->new_limit);
    case 1: return SL_REAL(setrlimit64)(c->res, c->new_limit);
    case 2: return SL_REAL(prlimit)(c->pid, c->res, c->new_limit, c->old_limit);
    default: return SL_REAL(prlimit64)(c->pid, c->res, c->new_limit, c->old_limit);
    }
}

static int rlimit_hook(struct rlimit_call *c)
{
    if (c->res != RLIMIT_NOFILE || (c->pid != 0 && c->pid != getpid()))
        return rlimit_real(c);
    if (c->new_limit != NULL)
        return sl_zone_setrlimit(rlimit_real, c);
    return rlimit_real(c);  /* only reading it: the shim never moves it */
}

SL_EXPORT int setrlimit(__rlimit_resource_t res, const struct rlimit *rl)
{
    struct rlimit_call c = { 0, 0, res, rl, NULL };
    return rlimit_hook(&c);
}

SL_EXPORT int setrlimit64(__rlimit_resource_t res, const struct rlimit64 *rl)
{
    struct rlimit_call c = { 1, 0, res, rl, NULL };
    return rlimit_hook(&c);
}

SL_EXPORT int prlimit(pid_t pid, __rlimit_resource_t res, const struct rlimit *rl,
                      struct rlimit *old)
{
    struct rlimit_call c = { 2, pid, res, rl, old };
    return rlimit_hook(&c);
}

SL_EXPORT int prlimit64(pid_t pid, __rlimit_resource_t res, const struct rlimit64 *rl,
                        struct rlimit64 *old)
{
    struct rlimit_call c = { 3, pid, res, rl, old };
    return rlimit_hook(&c);
}

/* ---- processes ---- */

SL_EXPORT pid_t fork(void)
{
    sl_ensure_init();
    pid_t pid = SL_REAL(fork)();
    int saved = errno;
    if (pid == 0) {
        sl_zone_after_fork();
        sl_on_fork_child();
    } else if (pid > 0)
        sl_on_fork_parent();
    errno = saved;
    return pid;
}

/* vfork: the child runs in our memory, on our stack, until it execs or
 * exits, and the parent is suspended until then. Its closes must not touch
 * the parent's fd table, and the close hook must know that without a
 * syscall (getpid() on every close cost ~0.3 us). So, like glibc's own
 * vfork, this one keeps its return address in a register across the
 * syscall (the child may overwrite the stack), sets sl_vfork_child in the
 * child and clears it when the parent resumes. */
int sl_vfork_fail(long rc);
/* Only the assembly below calls it: kept, and under this name, through LTO. */
__attribute__((used, externally_visible)) int sl_vfork_fail(long rc)
{
    errno = (int)-rc;
    return -1;
}

__asm__(".text\n"
        ".globl vfork\n"
        ".type vfork, @function\n"
        "vfork:\n"
        "    popq %rdi\n"                      /* the return address */
        "    movl $" SL_STR(SYS_vfork) ", %eax\n"
        "    syscall\n"
        "    pushq %rdi\n"
        "    cmpq $-4095, %rax\n"
        "    jae 1f\n"
        "    testq %rax, %rax\n"
        "    setz sl_vfork_child(%rip)\n"      /* 1 in the child, 0 in the parent */
        "    ret\n"
        "1:  movq %rax, %rdi\n"
        "    jmp sl_vfork_fail\n"
        ".size vfork, .-vfork\n");

/* _Fork skips atfork handlers, so it is wrapped on its own. */
SL_EXPORT pid_t _Fork(void)
{
    sl_ensure_init();
    pid_t pid = SL_REAL(_Fork)();
    int saved = errno;
    if (pid == 0) {
        sl_zone_after_fork();
        sl_on_fork_child();
    } else if (pid > 0)
        sl_on_fork_parent();
    errno = saved;
    return pid;
}

/* _exit and _Exit skip atexit handlers: write the report first. exit()
 * calls glibc's hidden _exit, so it never comes here. */
SL_EXPORT void _exit(int status)
{
    SL_REAL(_exit)(sl_on_exit(status));
    __builtin_unreachable();
}

SL_EXPORT void _Exit(int status)
{
    SL_REAL(_Exit)(sl_on_exit(status));
    __builtin_unreachable();
}

/* ---- raw system calls ---- */

/* libuv (node) closes with syscall(SYS_close), not close(): without this
 * hook every connection node closes would look open. The fd-changing calls
 * are recorded as their libc wrappers record them; every number goes to
 * the kernel unchanged (glibc's syscall passes six registers whatever the
 * call takes, and so do we), and the result and errno are the kernel's. */
SL_EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    /* libunwind's memory check (ownfd.h) */
    if (number == SYS_write && FROM_OUR_UNWIND())
        return sl_unwind_validate((const void *)a2);
    int saved = errno;
    switch (number) {
    case SYS_close:
        errno = saved;
        return close_common(syscall_close, (int)a1);
    case SYS_close_range:
        if ((a3 & ~(long)KNOWN_CLOSE_RANGE_FLAGS) != 0 || (unsigned)a1 > (unsigned)a2) {
            errno = EINVAL;
            return -1;
        }
        if (!(a3 & CLOSE_RANGE_CLOEXEC))
            sl_on_close_range((unsigned)a1, (unsigned)a2);
        errno = saved;
        return sl_zone_close_range((unsigned)a1, (unsigned)a2, (int)a3);
    case SYS_dup2:
    case SYS_dup3: {
        int held = sl_zone_dup_begin((int)a2);  /* the program may have our number */
        errno = saved;
        long rc = SL_REAL(syscall)(number, a1, a2, a3, a4, a5, a6);
        saved = errno;
        sl_zone_dup_end(held);
        if (rc >= 0)
            sl_on_dup_onto((int)a1, (int)a2);
        errno = saved;
        return rc;
    }
    }
    errno = saved;
    long rc = SL_REAL(syscall)(number, a1, a2, a3, a4, a5, a6);
    if (rc >= 0 && number == SYS_dup) {
        saved = errno;
        sl_on_dup((int)a1, (int)rc);
        errno = saved;
    }
    return rc;
}
