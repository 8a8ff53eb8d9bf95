/* real.h -- the libc functions the hooks wrap, resolved with dlsym(RTLD_NEXT). */
#ifndef SL_REAL_H
#define SL_REAL_H

#include <stddef.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct mmsghdr;
struct timespec;

/* X(return type, name, parameter list) for every wrapped function. */
#define SL_REAL_FUNCS(X)                                                       \
    X(int, socket, (int, int, int))                                            \
    X(int, socketpair, (int, int, int, int *))                                 \
    X(int, accept, (int, struct sockaddr *, socklen_t *))                      \
    X(int, accept4, (int, struct sockaddr *, socklen_t *, int))                \
    X(int, connect, (int, const struct sockaddr *, socklen_t))                 \
    X(ssize_t, recv, (int, void *, size_t, int))                               \
    X(ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *,         \
                          socklen_t *))                                        \
    X(ssize_t, recvmsg, (int, struct msghdr *, int))                           \
    X(int, recvmmsg, (int, struct mmsghdr *, unsigned int, int,                \
                      struct timespec *))                                      \
    X(ssize_t, read, (int, void *, size_t))                                    \
    X(ssize_t, __read, (int, void *, size_t))                                  \
    X(ssize_t, readv, (int, const struct iovec *, int))                        \
    X(ssize_t, __recv_chk, (int, void *, size_t, size_t, int))                 \
    X(ssize_t, __recvfrom_chk, (int, void *, size_t, size_t, int,              \
                                struct sockaddr *, socklen_t *))               \
    X(ssize_t, __read_chk, (int, void *, size_t, size_t))                      \
    X(int, shutdown, (int, int))                                               \
    X(int, close, (int))                                                       \
    X(int, __close, (int))                                                     \
    X(int, close_range, (unsigned int, unsigned int, int))                     \
    X(void, closefrom, (int))                                                  \
    X(int, dup, (int))                                                         \
    X(int, dup2, (int, int))                                                   \
    X(int, __dup2, (int, int))                                                 \
    X(int, dup3, (int, int, int))                                              \
    X(int, fcntl, (int, int, ...))                                             \
    X(int, __fcntl, (int, int, ...))                                           \
    X(int, fcntl64, (int, int, ...))                                           \
    X(int, fclose, (FILE *))                                                   \
    X(int, pipe2, (int *, int))                                                \
    X(int, setrlimit, (__rlimit_resource_t, const struct rlimit *))            \
    X(int, setrlimit64, (__rlimit_resource_t, const struct rlimit64 *))        \
    X(int, prlimit, (pid_t, __rlimit_resource_t, const struct rlimit *,        \
                     struct rlimit *))                                         \
    X(int, prlimit64, (pid_t, __rlimit_resource_t, const struct rlimit64 *,    \
                       struct rlimit64 *))                                     \
    X(pid_t, fork, (void))                                                     \
    X(pid_t, _Fork, (void))                                                    \
    X(void, _exit, (int))                                                      \
    X(void, _Exit, (int))                                                      \
    X(long, syscall, (long, ...))

struct sl_real {
#define SL_REAL_FIELD(ret, name, params) ret (*name) params;
    SL_REAL_FUNCS(SL_REAL_FIELD)
#undef SL_REAL_FIELD
};

extern struct sl_real sl_real;

/* Resolve every real function (idempotent, no allocation on glibc >= 2.34).
 * Called from the constructor, and on demand by a hook that runs first. */
void sl_real_resolve(void);

/* The real function, resolving on demand for hooks called before our
 * constructor (from another library's constructor). */
#define SL_REAL(name) \
    (__builtin_expect(sl_real.name != NULL, 1) ? sl_real.name \
                                                : (sl_real_resolve(), sl_real.name))

#endif
