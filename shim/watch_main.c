/* watch_main.c -- sockleak-watcher: the process that watches one program
 * under the shim (see live_host.c). It waits on the program's epoll set of
 * TCP sockets, so it sleeps until a peer's FIN arrives or a deadline falls
 * due; it exits when the program exits or execs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "grow.h"
#include "live_closed.h"
#include "output.h"
#include "runtime.h"
#include "stackdepot.h"
#include "symbolize.h"
#include "watchproc.h"

#define ALIVE_CHECK_MS 1000   /* how late an exec is noticed without a pipe */
/* How often the host's queued closes are classified while there are some. */
#define CLOSED_EVERY_NS (200 * WP_NS_PER_MS)

struct wp_state wp;
static char opts_buf[SL_LIVE_OPTIONS];
static int alive_by_seal;

int64_t wp_now(void)
{
    return sl_now_ns();
}

int wp_begin_write(void)
{
    __atomic_store_n(&wp.r->busy, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&wp.r->stopping, __ATOMIC_SEQ_CST)) {
        __atomic_store_n(&wp.r->busy, 0, __ATOMIC_SEQ_CST);
        return 0;
    }
    return 1;
}

void wp_end_write(void)
{
    __atomic_store_n(&wp.r->busy, 0, __ATOMIC_SEQ_CST);
}

struct sl_live_sock *wp_entry(uint32_t id, uint32_t gen)
{
    if (id == 0 || id >= SL_LIVE_MAX_SOCKS)
        return NULL;
    struct sl_live_sock *e = &wp.r->socks[id];
    uint32_t now = __atomic_load_n(&e->gen, __ATOMIC_ACQUIRE);
    return (now & 1) && (gen == 0 || now == gen) ? e : NULL;
}

/* ---- the host's fds, by inode ---- */

struct fd_ino {
    uint64_t ino;
    int fd;
};
static struct fd_ino *fdmap;
static size_t fdmap_n, fdmap_cap;

static int cmp_fd_ino(const void *a, const void *b)
{
    const struct fd_ino *x = a, *y = b;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return x->fd - y->fd;
}

void wp_host_fds_refresh(void)
{
    char path[64], link[64], name[340];
    snprintf(path, sizeof(path), "/proc/%d/fd", wp.host_pid);
    fdmap_n = 0;
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        unsigned long long ino;
        if (de->d_name[0] == '.')
            continue;
        snprintf(name, sizeof(name), "%s/%s", path, de->d_name);
        ssize_t n = readlink(name, link, sizeof(link) - 1);
        if (n <= 0)
            continue;
        link[n] = '\0';
        if (sscanf(link, "socket:[%llu]", &ino) != 1)
            continue;
        if (SL_GROW(fdmap, fdmap_cap, fdmap_n) != 0)
            break;
        fdmap[fdmap_n++] = (struct fd_ino){ ino, atoi(de->d_name) };
    }
    closedir(d);
    qsort(fdmap, fdmap_n, sizeof(*fdmap), cmp_fd_ino);
}

int wp_host_fds(uint64_t ino, int *fds, int max)
{
    size_t lo = 0, hi = fdmap_n;
    int n = 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (fdmap[mid].ino < ino)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < fdmap_n && fdmap[lo].ino == ino && n < max; lo++)
        fds[n++] = fdmap[lo].fd;
    return n;
}

/* ---- what the watcher learned of each record ---- */

struct ino_memo {
    uint32_t gen;
    uint64_t ino;
    uint64_t cookie;            /* learned for a by_peer entry */
};
static struct ino_memo *memo;
static uint32_t nmemo;

uint64_t wp_ino_known(const struct sl_live_sock *e)
{
    uint32_t id = (uint32_t)(e - wp.r->socks), gen = __atomic_load_n(&e->gen, __ATOMIC_ACQUIRE);
    return id < nmemo && memo[id].gen == gen && (gen & 1) ? memo[id].ino : 0;
}

void wp_ino_learned(const struct sl_live_sock *e, uint64_t ino, uint64_t cookie)
{
    uint32_t id = (uint32_t)(e - wp.r->socks);
    if (SL_GROW_ZERO(memo, nmemo, id) != 0)
        return;
    memo[id] = (struct ino_memo){ __atomic_load_n(&e->gen, __ATOMIC_ACQUIRE), ino, cookie };
}

uint64_t wp_cookie(const struct sl_live_sock *e)
{
    if (e->cookie != 0 || !e->by_peer)
        return e->cookie;
    uint32_t id = (uint32_t)(e - wp.r->socks), gen = __atomic_load_n(&e->gen, __ATOMIC_ACQUIRE);
    return id < nmemo && memo[id].gen == gen && (gen & 1) ? memo[id].cookie : 0;
}

const struct sl_diag_sock *wp_find(struct sl_diag_list *l, const struct sl_live_sock *e)
{
    uint64_t cookie = wp_cookie(e);
    if (cookie != 0)
        return sl_diag_list_find(l, cookie);
    return e->by_peer ? sl_diag_list_find_peer(l, &e->peer, e->sport) : NULL;
}

uint64_t wp_ino_of(const struct sl_live_sock *e)
{
    uint64_t ino = wp_ino_known(e);
    int fd;
    if (ino == 0 && (fd = wp_take_fd(e)) >= 0) {
        ino = wp_ino_known(e);
        close(fd);
    }
    return ino;
}

/* ---- describing a socket ---- */

void wp_describe(const struct sl_live_sock *e, const struct sl_diag_sock *d,
                 const int *fds, int nfds, int64_t now, struct sl_leak *out)
{
    int64_t fin = __atomic_load_n(&e->fin_ns, __ATOMIC_RELAXED);
    memset(out, 0, sizeof(*out));
    out->pid = wp.host_pid;
    out->nfds = nfds < SL_LEAK_MAX_FDS ? nfds : SL_LEAK_MAX_FDS;
    memcpy(out->fds, fds, (size_t)out->nfds * sizeof(int));
    out->origin = e->origin;
    out->family = e->family;
    out->type = e->type;
    out->protocol = e->protocol;
    out->stack_id = e->stack_id;
    /* unknown for a socket that was open when sockleak attach came */
    out->age_ms = e->origin == SL_ORIGIN_PRE_ATTACH ? -1 : (now - e->created_ns) / WP_NS_PER_MS;
    out->tcp_state = -1;
    out->fin_age_ms = fin ? (now - fin) / WP_NS_PER_MS : -1;
    out->kind = SL_KIND_OPEN_AT_EXIT;
    if (d == NULL)
        return;
    out->tcp_state = d->state;
    sl_diag_format(d, 0, out->local, sizeof(out->local));
    out->has_local = 1;
    if (d->state != 10 /* TCP_LISTEN */) {
        sl_diag_format(d, 1, out->peer, sizeof(out->peer));
        out->has_peer = 1;
    }
    if (d->state == 8 /* CLOSE_WAIT */ || d->state == 9 /* LAST_ACK */ || d->state == 11) {
        out->kind = SL_KIND_CLOSE_WAIT;
        if (!fin && d->has_info)
            out->fin_age_ms = d->last_ack_recv_ms;
    }
}

/* ---- the loop ---- */

static void warn_cb(const char *msg)
{
    (void)msg;      /* the host already said it */
}

static void *futex_waiter(void *arg)
{
    _Atomic int *word = &wp.r->snapshot_requested;
    uint64_t one = 1;
    (void)arg;
    for (;;) {
        int v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
        if (v != 0 && write(SL_LIVE_FD_WAKE, &one, sizeof(one)) < 0) {
            /* full counter: a wake-up is pending anyway */
        }
        /* until the host's handler wakes us (the loop clears the word) */
        syscall(SYS_futex, word, FUTEX_WAIT, v, NULL, NULL, 0);
    }
    return NULL;
}

static int setup(void)
{
    struct stat st;
    /* The host keeps no wake-up eventfd when every fd it keeps costs the
     * program one: make our own at its number now, before anything else
     * of ours takes the number. */
    int host_wake = fstat(SL_LIVE_FD_WAKE, &st) == 0;
    if (!host_wake) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd >= 0 && fd != SL_LIVE_FD_WAKE) {
            int moved = dup3(fd, SL_LIVE_FD_WAKE, O_CLOEXEC);
            close(fd);
            fd = moved;
        }
        if (fd != SL_LIVE_FD_WAKE)
            return -1;
    }
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);   /* only SIGKILL ends it early */
    prctl(PR_SET_NAME, "sockleak-watch");
    /* It inherits the program's CPU mask: a program pinned to CPUs it keeps
     * busy would starve its own watcher. Run wherever the cpuset allows. */
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    for (long i = 0, n = sysconf(_SC_NPROCESSORS_CONF); i < n && i < CPU_SETSIZE; i++)
        CPU_SET(i, &cpus);
    sched_setaffinity(0, sizeof(cpus), &cpus);
    if (fstat(SL_LIVE_FD_REGION, &st) != 0 || (size_t)st.st_size < SL_LIVE_REGION_BYTES)
        return -1;
    void *p = mmap(NULL, SL_LIVE_REGION_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
                   SL_LIVE_FD_REGION, 0);
    if (p == MAP_FAILED)
        return -1;
    wp.r = p;
    if (wp.r->magic != SL_LIVE_MAGIC || wp.r->version != SL_LIVE_VERSION)
        return -1;
    wp.host_pid = wp.r->host_pid;
    if (sl_stack_attach(SL_LIVE_FD_STACKS) != 0)
        return -1;
    char spec[SL_LIVE_OPTIONS];
    memcpy(spec, wp.r->options, sizeof(spec));
    spec[sizeof(spec) - 1] = '\0';
    sl_options_parse(&sl_opts, spec, opts_buf, sizeof(opts_buf), warn_cb);
    sl_in_shim = 1;
    sl_out_set_pid(wp.host_pid);
    /* sockleak attach: reports go to the memfd its command reads */
    if (fstat(SL_LIVE_FD_REPORT, &st) == 0 && S_ISREG(st.st_mode))
        sl_out_use_fd(SL_LIVE_FD_REPORT, 0);   /* the watcher's own table: stays at 8 */
    sl_symbolize_set_pid(wp.host_pid);
    wp.diag = sl_diag_open();
    struct epoll_event alive = { .events = EPOLLIN, .data.u64 = SL_LIVE_EV_ALIVE };
    struct epoll_event wake = { .events = EPOLLIN, .data.u64 = SL_LIVE_EV_WAKE };
    /* The host's liveness: a pipe (EOF in the epoll set), or a memfd only
     * its mapping holds (looked at every ALIVE_CHECK_MS, live.h). */
    if (fstat(SL_LIVE_FD_ALIVE, &st) != 0)
        return -1;
    alive_by_seal = S_ISREG(st.st_mode);
    if (!alive_by_seal && epoll_ctl(SL_LIVE_FD_EPOLL, EPOLL_CTL_ADD, SL_LIVE_FD_ALIVE, &alive) != 0)
        return -1;
    /* Without the host's eventfd, a snapshot signal's handler wakes the
     * region's futex: a thread of ours waits on it and writes our own. */
    if (!host_wake && sl_opts.snapshot_signal != NULL && sl_opts.snapshot_signal[0] != '\0' &&
        pthread_create(&(pthread_t){ 0 }, NULL, futex_waiter, NULL) != 0)
        return -1;
    if (epoll_ctl(SL_LIVE_FD_EPOLL, EPOLL_CTL_ADD, SL_LIVE_FD_WAKE, &wake) != 0)
        return -1;
    /* A stray fork child of the host (made without fork()) may hold the
     * pipe open: the host's pidfd says when the host itself is gone. */
    int pidfd = (int)syscall(SYS_pidfd_open, wp.host_pid, 0);
    struct epoll_event gone = { .events = EPOLLIN, .data.u64 = SL_LIVE_EV_PIDFD };
    if (pidfd >= 0)
        epoll_ctl(SL_LIVE_FD_EPOLL, EPOLL_CTL_ADD, pidfd, &gone);
    wp_quiet_init(pidfd);
    wp_peers_init();
    wp_pressure_init();
    __atomic_store_n(&wp.r->watcher_ready, 1, __ATOMIC_RELEASE);
    return 0;
}

/* The host exited or exec'ed: nobody maps the alive memfd writable any
 * more, so it takes a write seal. */
static int host_gone_by_seal(void)
{
    return alive_by_seal && fcntl(SL_LIVE_FD_ALIVE, F_ADD_SEALS, F_SEAL_WRITE) == 0;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* When to classify the host's queued closes next. Soon: once a second has
 * turned, a new connection may take over a TIME_WAIT port, and the closed
 * socket is gone. Before the queue can fill at the rate it filled since the
 * last look (the host never wakes us: no syscall on its close path). But a
 * dump walks every TCP socket of the namespace: never more than a fifth of
 * the watcher's time. */
static int64_t closed_next(int64_t now, int64_t took, uint64_t added, int64_t since)
{
    int64_t wait = CLOSED_EVERY_NS;
    if (added > 0 && since > 0) {
        int64_t fill = (int64_t)((double)since * (SL_LIVE_NCLOSED / 2) / (double)added);
        wait = fill < wait ? fill : wait;
    }
    if (wait < 5 * took)
        wait = 5 * took;
    if (wait < 10 * WP_NS_PER_MS)
        wait = 10 * WP_NS_PER_MS;
    return now + wait;
}

int main(void)
{
    struct epoll_event ev[256];
    if (setup() != 0)
        return 1;
    int64_t tick = sl_opts.scan_ms > 0 ? sl_opts.scan_ms * WP_NS_PER_MS : 0;
    /* Connections are looked at often enough for a report on time: a
     * quarter of grace_ms at most (never more often than every 50 ms);
     * without a tick (no live detection), never. */
    int64_t period = sl_opts.grace_ms * WP_NS_PER_MS / 4, next_quiet = tick ? 0 : INT64_MAX;
    if (tick && period > tick)
        period = tick;
    if (period < 50 * WP_NS_PER_MS)
        period = 50 * WP_NS_PER_MS;
    int64_t snap_every = sl_opts.snapshot_s * WP_NS_PER_S;
    int64_t now = wp_now(), next_tick = tick ? now + tick : INT64_MAX;
    int64_t next_snap = snap_every ? now + snap_every : INT64_MAX, next_fin = INT64_MAX;
    int64_t next_closed = now + period;
    struct sl_diag_list closed_list = { 0 };
    uint64_t closed_seen = 0;       /* the queue's head at the last drain */
    int64_t closed_at = now;
    for (;;) {
        int64_t due = min64(min64(next_tick, next_snap), min64(next_fin, next_quiet));
        if (sl_live_closed_pending(wp.r) > 0)
            due = min64(due, next_closed);
        int timeout = -1;
        /* Once the host is exiting, only its pipe matters. */
        if (due != INT64_MAX && !__atomic_load_n(&wp.r->stopping, __ATOMIC_ACQUIRE)) {
            int64_t ms = (due - wp_now() + WP_NS_PER_MS - 1) / WP_NS_PER_MS;
            timeout = ms < 0 ? 0 : ms > 3600000 ? 3600000 : (int)ms;
        }
        if (alive_by_seal && (timeout < 0 || timeout > ALIVE_CHECK_MS))
            timeout = ALIVE_CHECK_MS;
        int n = epoll_wait(SL_LIVE_FD_EPOLL, ev, 256, timeout);
        if (n < 0 && errno != EINTR)
            return 1;
        if (host_gone_by_seal())
            return 0;               /* the host exited or exec'ed */
        now = wp_now();
        for (int i = 0; i < n; i++) {
            uint32_t id = (uint32_t)(ev[i].data.u64 >> 32), low = (uint32_t)ev[i].data.u64;
            if (id != 0) {
                /* EPOLLIN or EPOLLOUT alone: data, not a FIN (connections
                 * added by watch_quiet.c ask for them, to leave the set
                 * when busy) */
                if (ev[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    wp_fin_event(id, low, now);
                else if (ev[i].events & (EPOLLIN | EPOLLOUT))
                    wp_quiet_busy(id, low, now);
            } else if (low == SL_LIVE_EV_ALIVE || low == SL_LIVE_EV_PIDFD) {
                return 0;               /* the host exited or exec'ed */
            } else if (low == SL_LIVE_EV_WAKE) {
                uint64_t count;
                if (read(SL_LIVE_FD_WAKE, &count, sizeof(count)) < 0) {
                    /* already drained */
                }
                if (__atomic_exchange_n(&wp.r->snapshot_requested, 0, __ATOMIC_ACQ_REL))
                    wp_snapshot("signal", now);
            }
        }
        if (__atomic_load_n(&wp.r->stopping, __ATOMIC_ACQUIRE))
            continue;       /* the host is exiting: only its pipe matters now */
        /* The host's closes, classified in batches (one dump each): every
         * period, or at once when the host says its queue is half full. */
        if (sl_live_closed_pending(wp.r) > 0 && now >= next_closed) {
            uint64_t head = __atomic_load_n(&wp.r->closed_head, __ATOMIC_ACQUIRE);
            if (sl_live_closed_drain(wp.r, wp.diag, &closed_list, 0) > 0)
                wp_pressure_check(now);
            next_closed = closed_next(now, wp_now() - now, head - closed_seen, now - closed_at);
            closed_seen = head;
            closed_at = now;
        }
        /* New connections show up only here: look every period. */
        if (tick && now >= next_quiet) {
            wp_quiet_scan(now, period);
            next_quiet = now + period;
        }
        next_fin = wp_fin_check(now);
        if (now >= next_tick) {
            wp_pressure_check(now);
            next_tick = now + tick;
        }
        if (tick)
            next_tick = min64(next_tick, wp_peers_check(now));
        if (now >= next_snap) {
            wp_snapshot("periodic", now);
            next_snap += snap_every * ((now - next_snap) / snap_every + 1);
        }
    }
}
