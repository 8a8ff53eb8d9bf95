/* watch_quiet.c -- which of the host's connections wait for a FIN on the
 * epoll set. A socket there has our wake-up callback on its wait queue, and
 * the kernel calls it for every segment the socket receives: measured, a
 * few percent of a busy connection's cost (docs/live-detection.md). So a
 * connection joins the set only once it is quiet (no data either way for
 * QUIET_MS) or already in CLOSE_WAIT. The host's fd is borrowed with
 * pidfd_getfd just for the epoll_ctl or a getsockopt and given back at once:
 * an epoll entry holds no reference, so the host's close still closes.
 * Busy connections are looked at again at growing intervals, never more
 * than grace_ms / 4 apart; connections closed between two looks are never
 * looked at.
 *
 * A connection in the set that gets data again is busy again, and would
 * pay for our callback on every segment while it stays: the set asks for
 * EPOLLIN too, so a segment wakes us (once: edge-triggered), and we take it
 * out. And EPOLLOUT: epoll reports only what a socket still is when we
 * collect the event, and the program has usually read the data by then,
 * but a connection is writable nearly always (the one EPOLLOUT reported
 * when it is added is not a sign of data: the first event is taken for
 * data only if TCP_INFO says data moved since the connection was added).
 * EPOLL_CTL_DEL must name the fd number the connection was added under, and
 * borrowed fds are given back at once, so each is added under a number of
 * its own, KEY_BASE + its record id, far above any fd this process keeps
 * (those take the lowest free numbers): a fresh borrow is put there again
 * for the DEL. Each time a connection is taken out, the quiet it needs to
 * join again doubles (up to grace_ms / 4), so one with a request every few
 * seconds stops going in and out. */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "grow.h"
#include "runtime.h"
#include "sockinfo.h"
#include "watchproc.h"

#define QUIET_MS   1000
#define MAX_LEVEL  6
#define KEY_BASE   1024         /* fd numbers we add connections under */
#define MAX_BUSY   5            /* quiet needed: QUIET_MS << 5 at most */

struct quiet {
    uint32_t gen;
    uint8_t level;
    uint8_t busy;               /* times taken out of the set for data */
    uint8_t keyed;              /* added under key_of(id): can be taken out */
    uint8_t fresh;              /* added, its first event not seen yet */
    int64_t next_ns;
    int64_t added_ns;           /* when it joined the set */
};

static struct quiet *q;
static size_t nq;
static int pidfd = -1, refused;
static long key_limit;          /* numbers below this can be keys */
static int64_t next_due;        /* the earliest look due (wp_quiet_scan) */
static int64_t last_period;     /* wp_quiet_scan's period */

/* The number record id's connection is added under, or -1 (above our fd
 * limit: then it is added under its borrowed number and stays until its
 * socket closes, as before). */
static int key_of(uint32_t id)
{
    return (long)KEY_BASE + id < key_limit ? KEY_BASE + (int)id : -1;
}

static void refuse(void);

/* Whether the host's fds can be borrowed at all, asked once at start (so
 * the host knows before it lets go of the epoll set): a number no fd has
 * answers EBADF when allowed, EPERM when not. */
void wp_quiet_init(int host_pidfd)
{
    struct rlimit rl;
    pidfd = host_pidfd;
    /* Our own limit (the watcher's, not the host's): keys are numbers. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        key_limit = rl.rlim_cur > (rlim_t)INT32_MAX ? INT32_MAX : (long)rl.rlim_cur;
    }
    if (pidfd < 0 ||
        (syscall(SYS_pidfd_getfd, pidfd, 0x7fffffff, 0) < 0 && errno != EBADF))
        refuse();
}

int wp_fds_refused(void)
{
    return refused;
}

/* Give up on borrowing: the host adds connections to the set itself. */
static void refuse(void)
{
    refused = 1;
    __atomic_store_n(&wp.r->host_registers, 1, __ATOMIC_RELEASE);
}

/* Whether a borrowed fd has e's peer address and local port (an accepted
 * connection, which the host knows by them). */
static int same_peer(const struct sl_live_sock *e, int dup)
{
    return sl_sock_is_peer(dup, e->family, e->sport, &e->peer) == 1;
}

/* A borrowed fd is e's socket if it has e's cookie (or, known by its
 * peer, that peer and port); then learn its inode, and its cookie. */
static int is_ours(const struct sl_live_sock *e, int dup)
{
    struct stat st;
    uint64_t cookie = 0;
    int known = sl_sock_cookie(dup, &cookie) == 0;
    if (e->by_peer ? !same_peer(e, dup) : !known || cookie != e->cookie)
        return 0;
    if ((wp_ino_known(e) == 0 || wp_cookie(e) == 0) && fstat(dup, &st) == 0)
        wp_ino_learned(e, st.st_ino, cookie);
    return 1;
}

int wp_take_fd(const struct sl_live_sock *e)
{
    int fds[4], n, tried_map = 0;
    uint64_t ino;
    if (refused)
        return -1;
    int dup = (int)syscall(SYS_pidfd_getfd, pidfd, e->fd, 0);
    for (;;) {
        if (dup < 0 && (errno == EPERM || errno == ENOSYS || errno == EACCES)) {
            refuse();
            return -1;
        }
        if (dup >= 0 && is_ours(e, dup))
            return dup;
        if (dup >= 0)
            close(dup);
        /* Its first fd was closed or reused: any other fd of the socket,
         * found by the inode if an earlier look learned it. */
        if (tried_map++ || (ino = wp_ino_known(e)) == 0)
            return -1;
        wp_host_fds_refresh();
        if ((n = wp_host_fds(ino, fds, 4)) == 0)
            return -1;
        dup = (int)syscall(SYS_pidfd_getfd, pidfd, fds[0], 0);
    }
}

/* 1: added to the set, 0: busy (look again later), -1: gone. */
static int consider(uint32_t id, uint32_t gen, struct sl_live_sock *e, int64_t now)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    int fd = wp_take_fd(e), rc = -1;
    if (fd < 0)
        return -1;
    /* The host reuses record ids and fd numbers at once: the socket of gen
     * may be closed and another published here since gen was read. Its
     * entry must not get gen's epoll data or WATCHED flag: look again. */
    if (__atomic_load_n(&e->gen, __ATOMIC_ACQUIRE) != gen) {
        close(fd);
        return 0;
    }
    struct quiet *k = &q[id];
    int64_t need = (int64_t)QUIET_MS << k->busy, cap = sl_opts.grace_ms / 4;
    if (need > cap)
        need = cap > QUIET_MS ? cap : QUIET_MS;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
        rc = 0;
        if (ti.tcpi_state == TCP_CLOSE_WAIT ||
            (ti.tcpi_last_data_recv >= need && ti.tcpi_last_data_sent >= need)) {
            int key = key_of(id), added = fd;
            struct epoll_event ev = { .events = EPOLLRDHUP | EPOLLET,
                                      .data.u64 = (uint64_t)id << 32 | gen };
            if (key >= 0 && dup2(fd, key) == key) {
                added = key;
                ev.events |= EPOLLIN | EPOLLOUT;   /* busy again: take it out */
            }
            if (epoll_ctl(SL_LIVE_FD_EPOLL, EPOLL_CTL_ADD, added, &ev) == 0 || errno == EEXIST) {
                k->keyed = added == key;
                k->fresh = 1;
                k->added_ns = now;
                __atomic_fetch_or(&e->flags, SL_LIVE_WATCHED, __ATOMIC_RELAXED);
                if (__atomic_load_n(&e->gen, __ATOMIC_ACQUIRE) != gen)
                    __atomic_fetch_and(&e->flags, ~SL_LIVE_WATCHED, __ATOMIC_RELAXED);
                wp_warm_stack(e->stack_id);
                rc = 1;
            }
            if (added != fd)
                close(added);
        }
    }
    close(fd);
    return rc;
}

void wp_quiet_scan(int64_t now, int64_t period)
{
    static uint64_t seen_wanted;
    uint32_t max = __atomic_load_n(&wp.r->max_id, __ATOMIC_ACQUIRE);
    uint64_t wanted = __atomic_load_n(&wp.r->wanted, __ATOMIC_ACQUIRE);
    int64_t cap = sl_opts.grace_ms * WP_NS_PER_MS / 4;
    /* Idle: no new socket and none due for another look costs nothing. */
    if (refused || max == 0 || (wanted == seen_wanted && now < next_due))
        return;
    seen_wanted = wanted;
    next_due = INT64_MAX;
    last_period = period;
    if (SL_GROW_ZERO(q, nq, max - 1) != 0)
        return;
    if (cap < period)
        cap = period;
    for (uint32_t id = 1; id < max && !refused; id++) {
        struct sl_live_sock *e = &wp.r->socks[id];
        uint32_t gen = __atomic_load_n(&e->gen, __ATOMIC_ACQUIRE);
        uint32_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
        if (!(gen & 1) || !(flags & SL_LIVE_WANTED) || (flags & SL_LIVE_WATCHED))
            continue;
        struct quiet *k = &q[id];
        /* First sight: look now (a connection accepted after its peer hung
         * up is due at once). Its stack is symbolized only if it joins the
         * set: loading a module's DWARF costs the machine tens of ms. */
        if (k->gen != gen)
            *k = (struct quiet){ .gen = gen, .next_ns = now };
        if (now < k->next_ns) {
            next_due = k->next_ns < next_due ? k->next_ns : next_due;
            continue;
        }
        if (consider(id, gen, e, now) == 0) {
            int64_t wait = period << (k->level < MAX_LEVEL ? k->level++ : MAX_LEVEL);
            k->next_ns = now + (wait < cap ? wait : cap);
            next_due = k->next_ns < next_due ? k->next_ns : next_due;
        }
    }
}

/* Data moved on connection id in the set (EPOLLIN or EPOLLOUT without a
 * FIN): take it out, and look at it again like any busy connection. */
void wp_quiet_busy(uint32_t id, uint32_t gen, int64_t now)
{
    struct sl_live_sock *e = wp_entry(id, gen);
    if (e == NULL || id >= nq || q[id].gen != gen || !q[id].keyed)
        return;
    struct quiet *k = &q[id];
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    int fd = wp_take_fd(e), key = key_of(id);
    if (fd < 0)
        return;             /* closed meanwhile: its entry went with it */
    if (k->fresh) {
        /* The event reported when it was added (writable), unless data
         * moved since then (the two merge when both come first). */
        int64_t since_ms = (now - k->added_ns) / WP_NS_PER_MS;
        k->fresh = 0;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
            ti.tcpi_last_data_recv > since_ms && ti.tcpi_last_data_sent > since_ms) {
            close(fd);
            return;
        }
    }
    if (key >= 0 && dup2(fd, key) == key) {
        if (epoll_ctl(SL_LIVE_FD_EPOLL, EPOLL_CTL_DEL, key, NULL) == 0) {
            __atomic_fetch_and(&e->flags, ~SL_LIVE_WATCHED, __ATOMIC_RELAXED);
            k->keyed = 0;
            if (k->busy < MAX_BUSY)
                k->busy++;
            /* looked at like a new busy connection: its FIN is still seen
             * within grace_ms / 4 */
            k->level = 0;
            k->next_ns = now + (last_period > 0 ? last_period : QUIET_MS * WP_NS_PER_MS);
            if (k->next_ns < next_due)
                next_due = k->next_ns;
        }
        close(key);
    }
    close(fd);
}
