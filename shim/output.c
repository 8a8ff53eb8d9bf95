/* output.c -- report destination and the registry of the shim's own fds. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <unistd.h>

#include "output.h"
#include "real.h"
#include "runtime.h"

#define NPRIVATE 8

static _Atomic int private_fds[NPRIVATE] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static _Atomic int report_slot = -1;
static int report_pid;          /* the watcher process writes as its host */
static _Atomic int fixed_fd;     /* attach: reports go only to the given fd */

int sl_private_add(int fd)
{
    for (int i = 0; i < NPRIVATE; i++) {
        int expected = -1;
        if (__atomic_compare_exchange_n(&private_fds[i], &expected, fd, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return i;
    }
    return -1;
}

int sl_private_move_high(int fd)
{
    struct rlimit rl;
    if (fd < 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 256)
        return fd;
    /* Keep below 1024 where we can: select() users stop at FD_SETSIZE. */
    rlim_t top = rl.rlim_cur > 1024 ? 1024 : rl.rlim_cur;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, (int)(top - 64));
    if (high < 0)
        return fd;
    SL_REAL(close)(fd);
    return high;
}

int sl_private_is(int fd)
{
    for (int i = 0; i < NPRIVATE; i++)
        if (__atomic_load_n(&private_fds[i], __ATOMIC_ACQUIRE) == fd)
            return 1;
    return 0;
}

void sl_private_lost_range(unsigned first, unsigned last)
{
    for (int i = 0; i < NPRIVATE; i++) {
        int fd = __atomic_load_n(&private_fds[i], __ATOMIC_ACQUIRE);
        /* -2: lost, but the slot stays its owner's until sl_private_close,
         * so a new fd of someone else never answers to the old slot. */
        if (fd >= 0 && (unsigned)fd >= first && (unsigned)fd <= last)
            __atomic_compare_exchange_n(&private_fds[i], &fd, -2, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    }
}

void sl_private_lost(int fd)
{
    if (fd >= 0)
        sl_private_lost_range((unsigned)fd, (unsigned)fd);
}

int sl_private_fd(int slot)
{
    int fd = slot < 0 ? -1 : __atomic_load_n(&private_fds[slot], __ATOMIC_ACQUIRE);
    return fd < 0 ? -1 : fd;
}

void sl_private_close(int slot)
{
    if (slot < 0)
        return;
    int fd = __atomic_exchange_n(&private_fds[slot], -1, __ATOMIC_ACQ_REL);
    if (fd >= 0)
        SL_REAL(close)(fd);
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* The report file's fd, opened on first use (again after a fork or after
 * the program closed it); -1 for stderr. */
static int report_fd(void)
{
    int slot = __atomic_load_n(&report_slot, __ATOMIC_ACQUIRE);
    int fd = sl_private_fd(slot);
    char path[4096];

    if (fd >= 0 || __atomic_load_n(&fixed_fd, __ATOMIC_ACQUIRE))
        return fd;
    if (sl_opts.log_path == NULL || sl_opts.log_path[0] == '\0' || getauxval(AT_SECURE))
        return -1;
    if (slot >= 0)
        sl_private_close(slot);   /* lost: forget the slot */
    snprintf(path, sizeof(path), "%s.%d", sl_opts.log_path,
             report_pid ? report_pid : (int)getpid());
    fd = sl_private_move_high(open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
                                   O_CLOEXEC, 0600));
    if (fd < 0) {
        char msg[4200];
        snprintf(msg, sizeof(msg), "sockleak: cannot open log_path file %s: %s; "
                 "writing the report to stderr", path, strerror(errno));
        sl_out_warn(msg);
        return -1;
    }
    slot = sl_private_add(fd);
    __atomic_store_n(&report_slot, slot, __ATOMIC_RELEASE);
    return fd;
}

void sl_out_write(const char *buf, size_t len)
{
    int saved = errno;
    int fd = report_fd();
    /* attached: the program's stderr is not ours to write to */
    if (fd >= 0 || !__atomic_load_n(&fixed_fd, __ATOMIC_ACQUIRE))
        write_all(fd >= 0 ? fd : STDERR_FILENO, buf, len);
    errno = saved;
}

int sl_out_use_fd(int fd)
{
    int slot = sl_private_add(fd);
    if (slot < 0)
        return -1;
    __atomic_store_n(&fixed_fd, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&report_slot, slot, __ATOMIC_RELEASE);
    return 0;
}

int sl_out_fixed_fd(void)
{
    return __atomic_load_n(&fixed_fd, __ATOMIC_ACQUIRE)
               ? sl_private_fd(__atomic_load_n(&report_slot, __ATOMIC_ACQUIRE)) : -1;
}

void sl_out_close(void)
{
    sl_private_close(__atomic_exchange_n(&report_slot, -1, __ATOMIC_ACQ_REL));
    __atomic_store_n(&fixed_fd, 0, __ATOMIC_RELEASE);
}

void sl_out_warn(const char *line)
{
    char buf[1024];
    int saved = errno;
    if (__atomic_load_n(&fixed_fd, __ATOMIC_ACQUIRE)) {
        /* attached: a warning event in the report, never the program's stderr */
        int n = snprintf(buf, sizeof(buf), "{\"event\":\"warning\",\"pid\":%d,\"message\":\"",
                         (int)getpid());
        for (const char *p = line; *p != '\0' && n < (int)sizeof(buf) - 8; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '"' || c == '\\')
                buf[n++] = '\\';
            buf[n++] = c < 0x20 ? ' ' : (char)c;
        }
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\"}\n");
        sl_out_write(buf, (size_t)n);
        errno = saved;
        return;
    }
    int n = snprintf(buf, sizeof(buf), "%s\n", line);
    if (n > (int)sizeof(buf) - 1)
        n = (int)sizeof(buf) - 1;
    write_all(STDERR_FILENO, buf, (size_t)n);
    errno = saved;
}

void sl_out_set_pid(int pid)
{
    report_pid = pid;
}

void sl_out_after_fork(void)
{
    int slot = __atomic_exchange_n(&report_slot, -1, __ATOMIC_ACQ_REL);
    /* The parent's file stays the parent's: drop our copy of its fd. */
    sl_private_close(slot);
}
