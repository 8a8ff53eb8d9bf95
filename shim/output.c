/* output.c -- the report's destination: stderr, or log_path's PREFIX.PID,
 * a file the shim creates itself and keeps in its fd zone (ownfd.h). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"
#include "ownfd.h"
#include "real.h"
#include "runtime.h"

/* Where the report goes, decided on first use (again in a fork child). */
enum { DEST_UNSET, DEST_OPENING, DEST_ZONE, DEST_REOPEN, DEST_STDERR, DEST_FIXED };

static _Atomic int dest = DEST_UNSET;
static _Atomic int report_slot = -1;
static char report_path[4096];
static dev_t report_dev;
static ino_t report_ino;
static int report_pid;          /* the watcher process writes as its host */
static _Atomic int fixed_fd;     /* attach: reports go only to the given fd */

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

/* A report file we may append to: a regular file, ours, that nobody else
 * can write or has another name for. */
static int is_our_file(const struct stat *st)
{
    return S_ISREG(st->st_mode) && st->st_uid == geteuid() && st->st_nlink == 1 &&
           (st->st_mode & 022) == 0;
}

/* Open report_path: create it (never following a link, never blocking on a
 * FIFO), or append to our own earlier file (an exec keeps the pid). */
static int open_report(const char **why)
{
    struct stat st;
    int fd = sl_zone_open(report_path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND |
                          O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        fd = sl_zone_open(report_path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK |
                          O_NOCTTY | O_CLOEXEC, 0);
    if (fd < 0) {
        *why = errno == ELOOP ? "it is a symbolic link" :
               errno == ENXIO ? "it is a FIFO or socket" : strerror(errno);
        return -1;
    }
    if (fstat(fd, &st) != 0 || !is_our_file(&st)) {
        SL_REAL(close)(fd);
        *why = "it already exists and is not a regular file of this user's that "
               "only this user can write";
        return -1;
    }
    report_dev = st.st_dev;
    report_ino = st.st_ino;
    return fd;
}

static int same_file(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == report_dev && st.st_ino == report_ino;
}

/* Decide the destination once per process. */
static int choose_dest(void)
{
    int d = __atomic_load_n(&dest, __ATOMIC_ACQUIRE), expected = DEST_UNSET;
    if (d != DEST_UNSET && d != DEST_OPENING)
        return d;
    if (!__atomic_compare_exchange_n(&dest, &expected, DEST_OPENING, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        while ((d = __atomic_load_n(&dest, __ATOMIC_ACQUIRE)) == DEST_OPENING)
            sched_yield();
        return d;
    }
    d = __atomic_load_n(&fixed_fd, __ATOMIC_ACQUIRE) ? DEST_FIXED : DEST_STDERR;
    if (d == DEST_STDERR && sl_opts.log_path != NULL && sl_opts.log_path[0] != '\0' && !getauxval(AT_SECURE)) {
        const char *why = NULL;
        snprintf(report_path, sizeof(report_path), "%s.%d", sl_opts.log_path,
                 report_pid ? report_pid : sl_pid());
        sl_zone_make_begin();       /* fd's number is ours until adopted */
        int fd = open_report(&why), slot = -1;
        if (fd >= 0 && (report_pid == 0 || sl_zone_tight())) {
            /* In the program: keep none, open the file for each write (a
             * kept fd, even above its limit, is one it can see in
             * /proc/self/fd and is placed by a helper task). The watcher
             * process keeps its own. */
            SL_REAL(close)(fd);
            fd = -2;
        } else if (fd >= 0) {
            slot = sl_private_adopt(fd);
        }
        sl_zone_make_end();
        if (fd == -2) {
            d = DEST_REOPEN;
        } else if (fd >= 0) {
            int zfd = sl_private_pin(slot);
            /* The number we opened was the program's to take until moved:
             * check the zone fd is still our file. */
            int ok = zfd >= 0 && same_file(zfd);
            if (zfd >= 0)
                sl_private_unpin(slot);
            if (ok) {
                __atomic_store_n(&report_slot, slot, __ATOMIC_RELEASE);
                d = DEST_ZONE;
            } else {
                sl_private_close(slot);
                d = DEST_REOPEN;      /* no zone room: open it for each write */
            }
        } else {
            char msg[4400];
            snprintf(msg, sizeof(msg), "sockleak: cannot use log_path file %s (%s); "
                     "writing the report to stderr", report_path, why);
            sl_out_warn(msg);
        }
    }
    __atomic_store_n(&dest, d, __ATOMIC_RELEASE);
    return d;
}

void sl_out_write(const char *buf, size_t len)
{
    int saved = errno;
    int d = choose_dest();
    if (d == DEST_ZONE || d == DEST_FIXED) {
        int slot = __atomic_load_n(&report_slot, __ATOMIC_ACQUIRE);
        int fd = sl_private_pin(slot);      /* it cannot move while we write */
        if (fd >= 0) {
            write_all(fd, buf, len);
            sl_private_unpin(slot);
            errno = saved;
            return;
        }
        if (d == DEST_FIXED) {      /* attached: the program's stderr is not ours */
            errno = saved;
            return;
        }
        d = DEST_REOPEN;
    }
    if (d == DEST_REOPEN) {
        const char *why;
        sl_zone_make_begin();       /* fd's number is ours until closed */
        int fd = open_report(&why);
        if (fd >= 0) {
            write_all(fd, buf, len);
            SL_REAL(close)(fd);
        }
        sl_zone_make_end();
        if (fd >= 0) {
            errno = saved;
            return;
        }
    }
    write_all(STDERR_FILENO, buf, len);
    errno = saved;
}

int sl_out_use_fd(int fd, int move)
{
    int slot = move ? sl_private_adopt(fd) : sl_private_register(fd);
    if (slot < 0)
        return -1;
    __atomic_store_n(&fixed_fd, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&report_slot, slot, __ATOMIC_RELEASE);
    __atomic_store_n(&dest, DEST_FIXED, __ATOMIC_RELEASE);
    return 0;
}

int sl_out_fixed_fd(void)
{
    return __atomic_load_n(&fixed_fd, __ATOMIC_ACQUIRE)
               ? sl_private_fd(__atomic_load_n(&report_slot, __ATOMIC_ACQUIRE)) : -1;
}

int sl_out_fixed_slot(void)
{
    return __atomic_load_n(&fixed_fd, __ATOMIC_ACQUIRE)
               ? __atomic_load_n(&report_slot, __ATOMIC_ACQUIRE) : -1;
}

void sl_out_close(void)
{
    sl_private_close(__atomic_exchange_n(&report_slot, -1, __ATOMIC_ACQ_REL));
    __atomic_store_n(&fixed_fd, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&dest, DEST_UNSET, __ATOMIC_RELEASE);
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

void sl_out_after_fork(void)
{
    int slot = __atomic_exchange_n(&report_slot, -1, __ATOMIC_ACQ_REL);
    /* The parent's file stays the parent's: drop our copy of its fd. */
    sl_private_close(slot);
    __atomic_store_n(&dest, DEST_UNSET, __ATOMIC_RELEASE);
}

void sl_out_set_pid(int pid)
{
    report_pid = pid;
}
