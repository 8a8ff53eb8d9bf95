/* watcher.c -- live detection: a thread that finds tracked sockets sitting
 * in CLOSE_WAIT (an EPOLLRDHUP set; a sock_diag dump or a poll sweep when
 * cheaper or when epoll fails), reports them after grace_ms, names peers
 * that never close (sock_diag lookups), warns about port pressure and
 * writes snapshots. The program's threads only touch lock-free tables here. */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fdtable.h"
#include "output.h"
#include "real.h"
#include "report.h"
#include "runtime.h"
#include "sockinfo.h"
#include "watcher.h"

#define NS_PER_MS       1000000LL
#define NS_PER_S        1000000000LL
#define STOP_WAIT_MS    2000        /* exit never waits longer for the thread */
#define TIME_WAIT_S     60          /* Linux's TCP_TIMEWAIT_LEN */
#define NPEER           1024        /* closed-first connections watched at once */
#define NDEST           256         /* destinations counted for port pressure */
#define PROBES          8           /* slots a hook tries before giving up */
#define PEER_CHECKS     64          /* exact lookups per scan */
#define NSAMPLES        64          /* one closed_first sample per second */
#define REMEASURE       64          /* every Nth scan times the other method */
#define POLL_CHUNK      4096        /* fds per poll() call */

/* ---- state ---- */

enum { T_NONE, T_CREATING, T_RUNNING, T_STOPPED };

static _Atomic int thread_state;
static pthread_t thread;
static _Atomic int thread_exited;
static _Atomic int stop_requested;
static _Atomic uint32_t wake_word;        /* futex: bumped by every wake-up */
static _Atomic int snapshot_requested;
static _Atomic int foreign_stale;         /* a socket arrived that existed before */
static _Atomic int forced_method;         /* enum sl_scan_method (benchmarks) */
static _Atomic int inet6_streams;         /* tracked AF_INET6 stream sockets */
static _Atomic uint64_t closed_first;
static int snapshot_signo;
static struct sigaction old_action;
static int64_t port_range_lo = 32768, port_range_hi = 60999;
static int64_t fin_timeout_ms = 60000;

/* A connection this process closed (or shut down writing) first; the
 * watcher checks it after grace_ms. Hooks claim a slot lock-free. */
enum { SLOT_FREE, SLOT_WRITING, SLOT_READY };
struct peer_slot {
    _Atomic int state;
    uint8_t shut_only;              /* shutdown(SHUT_WR), not closed */
    uint32_t stack_id;
    int64_t since_ns;
    struct sockaddr_in6 local, peer;   /* sockaddr_in fits too */
};
static struct peer_slot peers[NPEER];
static _Atomic unsigned peer_cursor;
static _Atomic uint64_t peers_dropped;

/* Connections closed first, per destination (port pressure). */
struct dest_slot {
    _Atomic int state;
    struct sockaddr_in6 addr;
    _Atomic uint64_t closed_first;
};
static struct dest_slot dests[NDEST];

/* ---- watcher-thread-only state (reset in a fork child) ---- */

/* A tracked socket the kernel listed in CLOSE_WAIT. */
struct cw {
    uint64_t ino;
    uint32_t id, gen;
    int64_t since_ns;       /* peer's close first noticed */
    int done;               /* reported, suppressed or not reportable */
};
struct vec {
    void *p;
    size_t n, cap;
};
static struct vec cws;          /* struct cw, sorted by ino */
static struct vec foreign;      /* uint64_t inodes in CLOSE_WAIT, not ours */
static struct vec found;        /* uint64_t, this scan's dump */
static struct dest_seen { uint64_t count; int64_t ns; int warned; } dest_seen[NDEST];
static struct { int64_t ns; uint64_t count; } samples[NSAMPLES];
static unsigned nsamples;
static int nl_slot = -1;
static uint64_t nl_ino;
static uint32_t nl_seq;
static char nl_buf[32768] __attribute__((aligned(8)));
static int64_t method_cost[4];          /* ns per scan, smoothed, by method */
static int ep_slot = -1;
static uint64_t ep_ino;
static int epoll_broken;
static int rewatch_all;                 /* registration flags came from a parent */
static unsigned scan_count;
static int netlink_broken;
static struct pollfd *sweep_fds;        /* the poll sweep's arrays */
static uint32_t *sweep_ids;
static size_t sweep_n, sweep_cap;

static int watching(void)
{
    return sl_opts.scan_ms > 0;
}

static int tcp_inet(const struct sl_sock *s)
{
    return s->type == SOCK_STREAM && (s->family == AF_INET || s->family == AF_INET6) &&
           (s->protocol == 0 || s->protocol == IPPROTO_TCP);
}

static void *vec_push(struct vec *v, size_t size)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        void *p = realloc(v->p, cap * size);
        if (p == NULL)
            return NULL;
        v->p = p;
        v->cap = cap;
    }
    return (char *)v->p + size * v->n++;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int has_u64(const struct vec *v, uint64_t key)
{
    return v->n && bsearch(&key, v->p, v->n, sizeof(uint64_t), cmp_u64) != NULL;
}

static int64_t since_ms(int64_t then, int64_t now)
{
    return then ? (now - then) / NS_PER_MS : -1;
}

/* ---- waking and sleeping (a futex: safe from a signal handler, no fd) ---- */

static void wake(void)
{
    __atomic_fetch_add(&wake_word, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void sleep_until(uint32_t seq, int64_t deadline)
{
    int64_t ns = deadline - sl_now_ns();
    if (ns <= 0)
        return;
    struct timespec ts = { ns / NS_PER_S, ns % NS_PER_S };
    syscall(SYS_futex, &wake_word, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
}

/* ---- the watcher's own fds ---- */

/* Move a new fd of ours out of the low numbers the program is handed
 * (programs may expect socket() to return consecutive numbers), to just
 * below min(RLIMIT_NOFILE, 1024): high enough to stay out of the way,
 * low enough not to grow the kernel's fd table. Registers it as private. */
static int adopt_fd(int fd, int *slot, uint64_t *ino)
{
    struct rlimit rl;
    struct stat st;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t top = rl.rlim_cur < 1024 ? rl.rlim_cur : 1024;
        int high = top > 64 ? fcntl(fd, F_DUPFD_CLOEXEC, (int)(top - 64)) : -1;
        if (high >= 0) {
            SL_REAL(close)(fd);
            fd = high;
        }
    }
    if (fstat(fd, &st) != 0 || (*slot = sl_private_add(fd)) < 0) {
        SL_REAL(close)(fd);
        return -1;
    }
    *ino = st.st_ino;
    return fd;
}

/* ---- netlink (sock_diag) ---- */

/* Our netlink fd, (re)opened when the program closed it (closefrom, a close
 * loop) or a number we hold no longer is the socket we opened. */
static int netlink_fd(void)
{
    struct stat st;
    int fd = sl_private_fd(nl_slot);
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == nl_ino)
        return fd;
    if (nl_slot >= 0) {
        if (fd >= 0)             /* reused behind our back: not ours to close */
            sl_private_lost(fd);
        sl_private_close(nl_slot);
        nl_slot = -1;
    }
    fd = SL_REAL(socket)(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    return fd < 0 ? -1 : adopt_fd(fd, &nl_slot, &nl_ino);
}

/* Send one inet_diag request; call fn for every reply until done. Returns
 * 0, or -1 when netlink failed (the caller falls back). */
static int diag_request(int family, uint32_t states, const struct inet_diag_sockid *id,
                        void (*fn)(const struct inet_diag_msg *m, void *arg), void *arg)
{
    int fd = netlink_fd();
    if (fd < 0)
        return -1;
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
    } req = {
        .nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                 .nlmsg_flags = NLM_F_REQUEST | (id ? 0 : NLM_F_DUMP), .nlmsg_seq = ++nl_seq },
        .r = { .sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP,
               .idiag_states = states },
    };
    if (id)
        req.r.id = *id;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        return -1;
    for (;;) {
        ssize_t n = SL_REAL(recv)(fd, nl_buf, sizeof(nl_buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        for (struct nlmsghdr *h = (struct nlmsghdr *)nl_buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != nl_seq)
                continue;           /* the tail of an older, abandoned reply */
            if (h->nlmsg_type == NLMSG_DONE)
                return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                /* An exact lookup that found nothing is an answer too. */
                return id && e->error == -ENOENT ? 0 : -1;
            }
            if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
                fn(NLMSG_DATA(h), arg);
            if (id)
                return 0;           /* one reply, no NLMSG_DONE */
        }
    }
}

static void collect_ino(const struct inet_diag_msg *m, void *arg)
{
    (void)arg;
    uint64_t *slot;
    if (m->idiag_inode != 0 && (slot = vec_push(&found, sizeof(uint64_t))) != NULL)
        *slot = m->idiag_inode;
}

/* ---- the CLOSE_WAIT scan ---- */

static int cmp_cw(const void *a, const void *b)
{
    return cmp_u64(&((const struct cw *)a)->ino, &((const struct cw *)b)->ino);
}

static struct cw *cw_find(uint64_t ino)
{
    struct cw key = { .ino = ino };
    return cws.n ? bsearch(&key, cws.p, cws.n, sizeof(struct cw), cmp_cw) : NULL;
}

/* The record id still holds the socket we matched (not closed since). */
static struct sl_sock *cw_sock(const struct cw *c)
{
    struct sl_sock *s = sl_sock_get(c->id);
    if (s == NULL || __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != c->gen || s->ino != c->ino)
        return NULL;
    return s;
}

static void cw_add(uint32_t id, struct sl_sock *s, uint32_t gen, int64_t now)
{
    struct cw *c = vec_push(&cws, sizeof(struct cw));
    if (c == NULL)
        return;
    int64_t fin = __atomic_load_n(&s->fin_ns, __ATOMIC_RELAXED), zero = 0;
    *c = (struct cw){ .ino = s->ino, .id = id, .gen = gen,
                      .since_ns = fin && fin < now ? fin : now };
    __atomic_compare_exchange_n(&s->close_wait_ns, &zero, c->since_ns, 0,
                                __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

struct match {
    struct vec *unknown;    /* sorted inodes to look for */
    int64_t now;
    unsigned matched;
};

static void match_cb(int fd, uint32_t id, void *arg)
{
    (void)fd;
    struct match *m = arg;
    struct sl_sock *s = sl_sock_get(id);
    if (s == NULL || !tcp_inet(s))
        return;
    uint32_t gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
    if (!(gen & 1) || !has_u64(m->unknown, s->ino) || cw_find(s->ino))
        return;
    cw_add(id, s, gen, m->now);
    qsort(cws.p, cws.n, sizeof(struct cw), cmp_cw);
    m->matched++;
}

static void sweep_cb(int fd, uint32_t id, void *arg)
{
    (void)arg;
    struct sl_sock *s = sl_sock_get(id);
    if (s == NULL || !tcp_inet(s))
        return;
    if (sweep_n == sweep_cap) {
        size_t cap = sweep_cap ? sweep_cap * 2 : 1024;
        struct pollfd *f = realloc(sweep_fds, cap * sizeof(*f));
        uint32_t *ids = f ? realloc(sweep_ids, cap * sizeof(*ids)) : NULL;
        if (f)
            sweep_fds = f;
        if (ids == NULL)
            return;
        sweep_ids = ids;
        sweep_cap = cap;
    }
    sweep_fds[sweep_n] = (struct pollfd){ .fd = fd, .events = POLLRDHUP };
    sweep_ids[sweep_n++] = id;
}

/* One poll() (timeout 0: no wait queues, nothing the program could notice)
 * over every tracked TCP fd: POLLRDHUP means the peer's FIN arrived. Only
 * those new to us cost a TCP_INFO, and are matched here by record id. */
static int sweep_close_wait(int64_t now)
{
    struct stat st;
    uint64_t *slot;
    sweep_n = 0;
    sl_fd_foreach(0, ~0u, sweep_cb, NULL);
    for (size_t at = 0; at < sweep_n; at += POLL_CHUNK) {
        size_t n = sweep_n - at < POLL_CHUNK ? sweep_n - at : POLL_CHUNK;
        if (poll(sweep_fds + at, n, 0) < 0 && errno != EINTR)
            return -1;
    }
    for (size_t i = 0; i < sweep_n; i++) {
        if (!(sweep_fds[i].revents & (POLLRDHUP | POLLHUP)))
            continue;
        struct sl_sock *s = sl_sock_get(sweep_ids[i]);
        uint32_t gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
        struct cw *c = cw_find(s->ino);
        if (!(gen & 1))
            continue;
        if (!(c && c->id == sweep_ids[i] && c->gen == gen)) {
            if (sl_tcp_state(sweep_fds[i].fd) != TCP_CLOSE_WAIT ||
                fstat(sweep_fds[i].fd, &st) != 0 || st.st_ino != s->ino)
                continue;
            cw_add(sweep_ids[i], s, gen, now);
            qsort(cws.p, cws.n, sizeof(struct cw), cmp_cw);
        }
        if ((slot = vec_push(&found, sizeof(uint64_t))) != NULL)
            *slot = s->ino;
    }
    return 0;
}

static int dump_close_wait(void)
{
    uint32_t states = 1u << TCP_CLOSE_WAIT;
    return diag_request(AF_INET, states, NULL, collect_ino, NULL) == 0 &&
           (__atomic_load_n(&inet6_streams, __ATOMIC_RELAXED) <= 0 ||
            diag_request(AF_INET6, states, NULL, collect_ino, NULL) == 0) ? 0 : -1;
}

/* Our epoll fd, (re)made like the netlink one; a new one starts empty. */
static int epoll_fd(void)
{
    struct stat st;
    int fd = sl_private_fd(ep_slot);
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == ep_ino)
        return fd;
    if (ep_slot >= 0) {
        if (fd >= 0)
            sl_private_lost(fd);
        sl_private_close(ep_slot);
        ep_slot = -1;
    }
    fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0 || (fd = adopt_fd(fd, &ep_slot, &ep_ino)) < 0)
        return -1;
    rewatch_all = 1;
    return fd;
}

/* Add tracked TCP sockets not yet in the set. The entry goes away by itself
 * when the program's last fd of the socket is closed. */
static void epoll_add_cb(int fd, uint32_t id, void *arg)
{
    int ep = *(int *)arg;
    struct sl_sock *s = sl_sock_get(id);
    if (ep < 0 || s == NULL || !tcp_inet(s) ||
        (!rewatch_all && (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & SL_SOCK_EPOLLED)))
        return;
    struct epoll_event ev = { .events = EPOLLRDHUP | EPOLLET,
                              .data.u64 = (uint64_t)id << 32 | (uint32_t)fd };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0 || errno == EEXIST)
        __atomic_fetch_or(&s->flags, SL_SOCK_EPOLLED, __ATOMIC_RELAXED);
    else if (errno == ENOSPC || errno == ENOMEM)
        *(int *)arg = -1;           /* max_user_watches: give up on epoll */
}

static int epoll_close_wait(int64_t now)
{
    struct epoll_event ev[256];
    struct stat st;
    int ep = epoll_fd(), n;
    if (ep < 0)
        return -1;
    int arg = ep;
    sl_fd_foreach(0, ~0u, epoll_add_cb, &arg);
    rewatch_all = 0;
    if (arg < 0)
        return -1;
    do {
        n = epoll_wait(ep, ev, 256, 0);
        for (int i = 0; i < n; i++) {
            uint32_t id = (uint32_t)(ev[i].data.u64 >> 32);
            int fd = (int)(uint32_t)ev[i].data.u64;
            struct sl_sock *s = sl_sock_get(id);
            uint32_t gen = s ? __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) : 0;
            struct cw *c;
            /* The fd may since name another socket: ask the one it names. */
            if (!(gen & 1) || sl_fd_get(fd) != id || ((c = cw_find(s->ino)) && c->gen == gen) ||
                sl_tcp_state(fd) != TCP_CLOSE_WAIT || fstat(fd, &st) != 0 || st.st_ino != s->ino)
                continue;
            cw_add(id, s, gen, now);
            qsort(cws.p, cws.n, sizeof(struct cw), cmp_cw);
        }
    } while (n == 256);
    return n < 0 && errno != EINTR ? -1 : 0;
}

/* The cheaper method so far; every REMEASURE-th scan times the other, as
 * the dump's cost moves with the whole namespace and the sweep's with ours. */
static int pick_method(void)
{
    int forced = __atomic_load_n(&forced_method, __ATOMIC_RELAXED);
    if (forced != SL_SCAN_AUTO)
        return forced;
    if (!epoll_broken)
        return SL_SCAN_EPOLL;
    if (netlink_broken)
        return SL_SCAN_POLL;
    if (method_cost[SL_SCAN_DUMP] == 0 || method_cost[SL_SCAN_POLL] == 0)
        return method_cost[SL_SCAN_DUMP] == 0 ? SL_SCAN_DUMP : SL_SCAN_POLL;
    int best = method_cost[SL_SCAN_DUMP] <= method_cost[SL_SCAN_POLL] ? SL_SCAN_DUMP
                                                                      : SL_SCAN_POLL;
    if (++scan_count % REMEASURE == 0)
        return best == SL_SCAN_DUMP ? SL_SCAN_POLL : SL_SCAN_DUMP;
    return best;
}

/* Fill `found` with the inodes of our sockets' candidates in CLOSE_WAIT;
 * returns the method used, or -1 when neither worked. */
static int list_close_wait(int64_t now)
{
    int method = pick_method();
    int64_t t0 = sl_now_ns();
    found.n = 0;
    if (method == SL_SCAN_EPOLL && epoll_close_wait(now) != 0) {
        epoll_broken = __atomic_load_n(&forced_method, __ATOMIC_RELAXED) == SL_SCAN_AUTO;
        method = SL_SCAN_POLL;
    }
    if (method == SL_SCAN_DUMP && dump_close_wait() != 0) {
        netlink_broken = __atomic_load_n(&forced_method, __ATOMIC_RELAXED) == SL_SCAN_AUTO;
        found.n = 0;
        method = SL_SCAN_POLL;
    }
    if (method == SL_SCAN_POLL && sweep_close_wait(now) != 0)
        return -1;
    int64_t cost = sl_now_ns() - t0 + 1;
    method_cost[method] = method_cost[method] ? (3 * method_cost[method] + cost) / 4 : cost;
    return method;
}

struct fds_of {
    uint32_t id;
    int fds[SL_LEAK_MAX_FDS];
    int n;
};

static void fds_cb(int fd, uint32_t id, void *arg)
{
    struct fds_of *f = arg;
    if (id == f->id && f->n < SL_LEAK_MAX_FDS)
        f->fds[f->n++] = fd;
}

/* Report one socket that stayed in CLOSE_WAIT past grace_ms; returns 1 if
 * an event was written. */
static int report_live(struct cw *c, int64_t now)
{
    struct sl_sock *s = cw_sock(c);
    struct fds_of f = { .id = c->id };
    struct sl_leak leak;
    struct stat st;

    c->done = 1;
    if (s == NULL)
        return 0;
    sl_fd_foreach(0, ~0u, fds_cb, &f);
    if (f.n == 0 || fstat(f.fds[0], &st) != 0 || st.st_ino != c->ino)
        return 0;
    sl_describe(s, f.fds, f.n, &leak, now);
    if ((leak.from_parent || s->origin == SL_ORIGIN_INHERITED) && !sl_opts.report_inherited)
        return 0;
    leak.kind = SL_KIND_CLOSE_WAIT;
    /* Claim the report first: exactly once, even against a concurrent close. */
    if (__atomic_fetch_or(&s->flags, SL_SOCK_LIVE_REPORTED, __ATOMIC_ACQ_REL) &
        SL_SOCK_LIVE_REPORTED)
        return 0;
    if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != c->gen)
        return 0;               /* closed meanwhile: nothing to report */
    if (sl_report_live_leak(&leak) != 0) {
        __atomic_fetch_and(&s->flags, ~SL_SOCK_LIVE_REPORTED, __ATOMIC_ACQ_REL);
        return 0;               /* suppressed: no closed_late later either */
    }
    return 1;
}

/* Forget matches whose socket was closed; report those past their grace.
 * Returns the earliest future deadline (INT64_MAX: none). */
static int64_t check_grace(int64_t now, struct sl_scan_figures *fig)
{
    int64_t grace = sl_opts.grace_ms * NS_PER_MS, next = INT64_MAX;
    size_t keep = 0;
    struct cw *v = cws.p;
    for (size_t i = 0; i < cws.n; i++) {
        if (cw_sock(&v[i]) == NULL)
            continue;
        if (!v[i].done) {
            if (now - v[i].since_ns >= grace)
                fig->reported += (unsigned)report_live(&v[i], now);
            else if (v[i].since_ns + grace < next)
                next = v[i].since_ns + grace;
        }
        v[keep++] = v[i];
    }
    cws.n = keep;
    return next;
}

/* Match this scan's CLOSE_WAIT inodes to tracked sockets. Known ones cost a
 * binary search; only an inode seen for the first time costs a walk of the
 * fd table, after which it is either ours or remembered as foreign. */
static void match_found(int64_t now, struct sl_scan_figures *fig)
{
    struct vec unknown = { 0 }, still_foreign = { 0 };
    uint64_t *ino = found.p;
    if (__atomic_exchange_n(&foreign_stale, 0, __ATOMIC_ACQ_REL))
        foreign.n = 0;
    qsort(found.p, found.n, sizeof(uint64_t), cmp_u64);
    for (size_t i = 0; i < found.n; i++) {
        struct cw *c = cw_find(ino[i]);
        uint64_t *slot;
        if (c && cw_sock(c)) {
            fig->ours++;
            continue;
        }
        slot = vec_push(has_u64(&foreign, ino[i]) ? &still_foreign : &unknown,
                        sizeof(uint64_t));
        if (slot)
            *slot = ino[i];
    }
    if (unknown.n > 0) {
        struct match m = { .unknown = &unknown, .now = now };
        check_grace(now, fig);          /* drop closed sockets before matching */
        sl_fd_foreach(0, ~0u, match_cb, &m);
        fig->fd_walks++;
        fig->ours += m.matched;
        for (size_t i = 0; i < unknown.n; i++) {
            uint64_t u = ((uint64_t *)unknown.p)[i], *slot;
            if (!cw_find(u) && (slot = vec_push(&still_foreign, sizeof(uint64_t))))
                *slot = u;
        }
    }
    /* Only inodes still listed stay foreign: the list cannot grow stale. */
    qsort(still_foreign.p, still_foreign.n, sizeof(uint64_t), cmp_u64);
    free(foreign.p);
    foreign = still_foreign;
    free(unknown.p);
}

/* ---- peers that never close ---- */

static void peer_reply(const struct inet_diag_msg *m, void *arg)
{
    *(int *)arg = m->idiag_state;
}

static void sockid_of(const struct peer_slot *p, struct inet_diag_sockid *id)
{
    memset(id, 0, sizeof(*id));
    id->idiag_cookie[0] = id->idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    if (p->local.sin6_family == AF_INET) {
        const struct sockaddr_in *l = (const void *)&p->local, *r = (const void *)&p->peer;
        id->idiag_sport = l->sin_port;
        id->idiag_dport = r->sin_port;
        id->idiag_src[0] = l->sin_addr.s_addr;
        id->idiag_dst[0] = r->sin_addr.s_addr;
    } else {
        id->idiag_sport = p->local.sin6_port;
        id->idiag_dport = p->peer.sin6_port;
        memcpy(id->idiag_src, &p->local.sin6_addr, 16);
        memcpy(id->idiag_dst, &p->peer.sin6_addr, 16);
    }
}

static void addr_len_fmt(const struct sockaddr_in6 *a, char *buf, size_t size)
{
    sl_format_sockaddr(a, a->sin6_family == AF_INET ? sizeof(struct sockaddr_in)
                                                    : sizeof(struct sockaddr_in6), buf, size);
}

/* The peer's side is still open this long after ours closed: orphaned
 * FIN_WAIT2 sockets live only tcp_fin_timeout, so look before that. */
static int64_t peer_grace_ns(void)
{
    int64_t g = sl_opts.grace_ms, cap = fin_timeout_ms - 2 * sl_opts.scan_ms;
    if (cap < 1000)
        cap = fin_timeout_ms / 2;
    return (g < cap ? g : cap) * NS_PER_MS;
}

static void check_peers(int64_t now)
{
    int64_t grace = peer_grace_ns();
    int checks = 0;
    for (int i = 0; i < NPEER && checks < PEER_CHECKS; i++) {
        struct peer_slot *p = &peers[i];
        if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) != SLOT_READY ||
            now - p->since_ns < grace)
            continue;
        struct inet_diag_sockid id;
        int state = -1;
        sockid_of(p, &id);
        checks++;
        if (diag_request(p->local.sin6_family, ~0u, &id, peer_reply, &state) == 0 &&
            state == TCP_FIN_WAIT2) {
            struct sl_peer_wait w = { .pid = (int)getpid(), .stack_id = p->stack_id,
                                      .since_ms = since_ms(p->since_ns, now),
                                      .closed = !p->shut_only };
            addr_len_fmt(&p->local, w.local, sizeof(w.local));
            addr_len_fmt(&p->peer, w.peer, sizeof(w.peer));
            sl_report_peer_not_closing(&w);
        }
        __atomic_store_n(&p->state, SLOT_FREE, __ATOMIC_RELEASE);
    }
}

static int have_due_peers(int64_t now, int64_t *next)
{
    int64_t grace = peer_grace_ns();
    int due = 0;
    for (int i = 0; i < NPEER; i++) {
        if (__atomic_load_n(&peers[i].state, __ATOMIC_ACQUIRE) != SLOT_READY)
            continue;
        if (now - peers[i].since_ns >= grace)
            due = 1;
        else if (peers[i].since_ns + grace < *next)
            *next = peers[i].since_ns + grace;
    }
    return due;
}

/* Remember a connection whose peer has not closed yet (program's thread:
 * a few lock-free probes, nothing else; when full it is not watched). */
static void peer_watch(const struct sl_sock *s, const struct sockaddr_in6 *local,
                       const struct sockaddr_in6 *peer, int shut_only)
{
    unsigned start = __atomic_fetch_add(&peer_cursor, 1, __ATOMIC_RELAXED);
    for (unsigned k = 0; k < PROBES; k++) {
        struct peer_slot *p = &peers[(start + k) % NPEER];
        int expected = SLOT_FREE;
        if (!__atomic_compare_exchange_n(&p->state, &expected, SLOT_WRITING, 0,
                                         __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            continue;
        p->shut_only = (uint8_t)shut_only;
        p->stack_id = s->stack_id;
        p->since_ns = sl_now_ns();
        p->local = *local;
        p->peer = *peer;
        __atomic_store_n(&p->state, SLOT_READY, __ATOMIC_RELEASE);
        return;
    }
    __atomic_fetch_add(&peers_dropped, 1, __ATOMIC_RELAXED);
}

/* ---- port pressure ---- */

static int same_dest(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b)
{
    if (a->sin6_family != b->sin6_family)
        return 0;
    if (a->sin6_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    return a->sin6_port == b->sin6_port && !memcmp(&a->sin6_addr, &b->sin6_addr, 16);
}

static unsigned dest_hash(const struct sockaddr_in6 *a)
{
    const unsigned char *p = (const unsigned char *)a;
    size_t len = a->sin6_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(*a);
    unsigned h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void dest_count(const struct sockaddr_in6 *peer)
{
    unsigned h = dest_hash(peer);
    for (unsigned k = 0; k < PROBES; k++) {
        struct dest_slot *d = &dests[(h + k) % NDEST];
        int state = __atomic_load_n(&d->state, __ATOMIC_ACQUIRE);
        if (state == SLOT_FREE) {
            if (!__atomic_compare_exchange_n(&d->state, &state, SLOT_WRITING, 0,
                                             __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                continue;
            d->addr = *peer;
            __atomic_store_n(&d->state, SLOT_READY, __ATOMIC_RELEASE);
            state = SLOT_READY;
        }
        if (state == SLOT_READY && same_dest(&d->addr, peer)) {
            __atomic_fetch_add(&d->closed_first, 1, __ATOMIC_RELAXED);
            return;
        }
    }
}

static void read_sysctl(const char *path, int64_t *a, int64_t *b)
{
    char buf[64] = { 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (SL_REAL(read)(fd, buf, sizeof(buf) - 1) > 0) {
        char *end;
        long x = strtol(buf, &end, 10), y = b ? strtol(end, NULL, 10) : 0;
        if (x > 0 && (b == NULL || y >= x)) {
            *a = x;
            if (b)
                *b = y;
        }
    }
    SL_REAL(close)(fd);
}

/* Warn once per destination whose closed-first rate, sustained, would hold
 * every ephemeral port in TIME_WAIT (rate * 60 s >= port range). */
static void check_pressure(int64_t now)
{
    int64_t ports = port_range_hi - port_range_lo + 1;
    for (int i = 0; i < NDEST; i++) {
        struct dest_slot *d = &dests[i];
        struct dest_seen *seen = &dest_seen[i];
        if (__atomic_load_n(&d->state, __ATOMIC_ACQUIRE) != SLOT_READY || seen->warned)
            continue;
        uint64_t count = __atomic_load_n(&d->closed_first, __ATOMIC_RELAXED);
        if (seen->ns == 0) {
            *seen = (struct dest_seen){ .count = 0, .ns = now };
            continue;
        }
        if (now - seen->ns < NS_PER_S)
            continue;       /* a rate over at least one second, not a burst */
        double rate = (double)(count - seen->count) * NS_PER_S / (double)(now - seen->ns);
        if (rate * TIME_WAIT_S >= (double)ports) {
            struct sl_port_pressure w = { .pid = (int)getpid(), .rate_per_s = rate,
                                          .closed_first = count, .time_wait_s = TIME_WAIT_S,
                                          .port_lo = port_range_lo, .port_hi = port_range_hi,
                                          .exhaust_s = (double)ports / rate };
            addr_len_fmt(&d->addr, w.peer, sizeof(w.peer));
            sl_report_port_pressure(&w);
            seen->warned = 1;
        }
        seen->count = count;
        seen->ns = now;
    }
}

/* closed_first once a second, to tell how many still sit in TIME_WAIT. */
static void sample_closed_first(int64_t now)
{
    if (nsamples && now - samples[(nsamples - 1) % NSAMPLES].ns < NS_PER_S)
        return;
    samples[nsamples % NSAMPLES].ns = now;
    samples[nsamples % NSAMPLES].count = __atomic_load_n(&closed_first, __ATOMIC_RELAXED);
    nsamples++;
}

static uint64_t in_time_wait(int64_t now)
{
    uint64_t total = __atomic_load_n(&closed_first, __ATOMIC_RELAXED), before = 0;
    for (unsigned i = 0; i < nsamples && i < NSAMPLES; i++) {
        unsigned k = (nsamples - 1 - i) % NSAMPLES;
        if (now - samples[k].ns >= TIME_WAIT_S * NS_PER_S) {
            before = samples[k].count;
            break;
        }
    }
    return total - before;
}

/* ---- snapshots ---- */

static void count_state(struct sl_snapshot *snap, const char *name)
{
    for (int i = 0; i < snap->nstates; i++)
        if (!strcmp(snap->states[i].name, name)) {
            snap->states[i].count++;
            return;
        }
    if (snap->nstates < SL_SNAPSHOT_STATES) {
        strncpy(snap->states[snap->nstates].name, name, sizeof(snap->states[0].name) - 1);
        snap->states[snap->nstates++].count = 1;
    }
}

struct snapshot_walk {
    struct sl_snapshot snap;
    struct vec leaks;
    int64_t now;
};

static void snapshot_cb(struct sl_sock *s, const int *fds, int nfds, void *arg)
{
    struct snapshot_walk *w = arg;
    struct sl_leak l, *slot;
    char fam[16], typ[16], name[40];
    sl_describe(s, fds, nfds, &l, w->now);
    w->snap.sockets++;
    if (l.tcp_state >= 0) {
        count_state(&w->snap, sl_tcp_state_name(l.tcp_state));
    } else {
        snprintf(name, sizeof(name), "%s/%s", sl_family_name(l.family, fam, sizeof(fam)),
                 sl_type_name(l.type, typ, sizeof(typ)));
        count_state(&w->snap, name);
    }
    if (l.kind != SL_KIND_CLOSE_WAIT) {
        w->snap.open++;
        return;
    }
    w->snap.close_wait++;
    if (sl_sock_reportable(s) && (slot = vec_push(&w->leaks, sizeof(struct sl_leak))) != NULL)
        *slot = l;
}

static void snapshot(const char *trigger, int64_t now)
{
    struct snapshot_walk w = {
        .snap = { .pid = (int)getpid(), .trigger = trigger,
                  .opened = sl_stats.opened, .closed = sl_stats.closed,
                  .closed_first = __atomic_load_n(&closed_first, __ATOMIC_RELAXED),
                  .time_wait = in_time_wait(now) },
        .now = now,
    };
    sl_foreach_socket(snapshot_cb, &w);
    sl_report_snapshot(&w.snap, w.leaks.p, w.leaks.n);
    free(w.leaks.p);
}

static void snapshot_handler(int sig, siginfo_t *info, void *ctx)
{
    int saved = errno;
    __atomic_store_n(&snapshot_requested, 1, __ATOMIC_RELEASE);
    wake();
    /* Chain to the handler that was there; SIG_DFL would end the process
     * on a signal the user gave us for snapshots, so it is not called. */
    if (old_action.sa_flags & SA_SIGINFO) {
        if (old_action.sa_sigaction)
            old_action.sa_sigaction(sig, info, ctx);
    } else if (old_action.sa_handler != SIG_DFL && old_action.sa_handler != SIG_IGN) {
        old_action.sa_handler(sig);
    }
    errno = saved;
}

static int signal_number(const char *name)
{
    char *end;
    long n = strtol(name, &end, 10);
    if (*name && *end == '\0')
        return n > 0 && n < NSIG ? (int)n : -1;
    if (!strncmp(name, "SIG", 3))
        name += 3;
    for (int i = 1; i < NSIG; i++) {
        const char *abbrev = sigabbrev_np(i);
        if (abbrev && !strcmp(abbrev, name))
            return i;
    }
    return -1;
}

/* Installed once per process image when the watcher first starts (not at
 * load time): a program sets up its own handlers before it opens sockets,
 * so ours comes last and chains to theirs. A fork child inherits it. */
static void install_snapshot_signal(void)
{
    static _Atomic int installed;
    const char *name = sl_opts.snapshot_signal;
    struct sigaction sa = { 0 };
    if (name == NULL || name[0] == '\0' || __atomic_exchange_n(&installed, 1, __ATOMIC_ACQ_REL))
        return;
    snapshot_signo = signal_number(name);
    sa.sa_sigaction = snapshot_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (snapshot_signo <= 0 || snapshot_signo == SIGKILL || snapshot_signo == SIGSTOP ||
        sigaction(snapshot_signo, &sa, &old_action) != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "sockleak: snapshot_signal=%s is not a signal that "
                 "can be caught; no snapshots on signal", name);
        sl_out_warn(msg);
        snapshot_signo = 0;
    }
}

/* ---- the thread ---- */

/* One scan: CLOSE_WAIT sockets, peers, port pressure. Returns the time
 * something next falls due before the regular period (INT64_MAX: none). */
static int64_t scan(struct sl_scan_figures *fig)
{
    int64_t now = sl_now_ns(), next = INT64_MAX;
    fig->method = list_close_wait(now);
    fig->dumped = (unsigned)found.n;
    if (found.n > 0 || cws.n > 0)
        match_found(now, fig);
    next = check_grace(now, fig);
    fig->ours = (unsigned)cws.n;
    if (have_due_peers(now, &next))
        check_peers(now);
    sample_closed_first(now);
    check_pressure(now);
    return next;
}

int sl_watcher_scan(struct sl_scan_figures *out)
{
    struct sl_scan_figures fig = { 0 };
    int saved = sl_in_shim;
    sl_in_shim = 1;
    scan(&fig);
    sl_in_shim = saved;
    if (out)
        *out = fig;
    return 0;
}

void sl_watcher_set_method(enum sl_scan_method m)
{
    __atomic_store_n(&forced_method, m, __ATOMIC_RELAXED);
}

static void *watcher_main(void *arg)
{
    (void)arg;
    sigset_t all;
    sl_in_shim = 1;         /* for its whole life: none of its calls are recorded */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_setname_np(pthread_self(), "sockleak-watch");
    read_sysctl("/proc/sys/net/ipv4/ip_local_port_range", &port_range_lo, &port_range_hi);
    read_sysctl("/proc/sys/net/ipv4/tcp_fin_timeout", &fin_timeout_ms, NULL);
    if (fin_timeout_ms < 1000)
        fin_timeout_ms *= 1000;     /* the file holds seconds */
    install_snapshot_signal();

    int64_t period = sl_opts.scan_ms * NS_PER_MS, snap_every = sl_opts.snapshot_s * NS_PER_S;
    int64_t now = sl_now_ns(), next_scan = now, next_snap = snap_every ? now + snap_every : INT64_MAX;
    while (!__atomic_load_n(&stop_requested, __ATOMIC_ACQUIRE)) {
        uint32_t seq = __atomic_load_n(&wake_word, __ATOMIC_SEQ_CST);
        int64_t due = INT64_MAX;
        now = sl_now_ns();
        if (__atomic_exchange_n(&snapshot_requested, 0, __ATOMIC_ACQ_REL))
            snapshot("signal", now);
        if (now >= next_snap) {
            snapshot("periodic", now);
            next_snap += snap_every * ((now - next_snap) / snap_every + 1);
        }
        if (period > 0 && now >= next_scan) {
            struct sl_scan_figures fig = { 0 };
            due = scan(&fig);
            next_scan = now + period;
        }
        int64_t deadline = next_scan < next_snap ? next_scan : next_snap;
        if (period <= 0)
            deadline = next_snap;
        if (due < deadline)
            deadline = due;
        if (__atomic_load_n(&stop_requested, __ATOMIC_ACQUIRE) ||
            __atomic_load_n(&snapshot_requested, __ATOMIC_ACQUIRE))
            continue;
        sleep_until(seq, deadline == INT64_MAX ? sl_now_ns() + 3600 * NS_PER_S : deadline);
    }
    __atomic_store_n(&thread_exited, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Start the thread once per process, from a hook: an atomic flag decides,
 * and every signal is blocked while it is created so it never takes one. */
static void start_thread(void)
{
    int expected = T_NONE;
    if (__builtin_expect(__atomic_load_n(&thread_state, __ATOMIC_ACQUIRE) != T_NONE, 1))
        return;
    if (!watching() && sl_opts.snapshot_s <= 0 &&
        (sl_opts.snapshot_signal == NULL || sl_opts.snapshot_signal[0] == '\0'))
        return;
    if (!__atomic_compare_exchange_n(&thread_state, &expected, T_CREATING, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return;
    sigset_t all, old;
    pthread_t t;
    pthread_attr_t attr;
    int saved = errno, in_shim = sl_in_shim;
    sl_in_shim = 1;
    /* Our fds are made here, in the hook's thread, so the number they pass
     * through on their way up is free again before the program's next
     * socket(): a program that gets 3, 4, 5 from three socket() calls
     * still does. (The watcher remakes them itself only if they are lost.) */
    if (watching()) {
        epoll_fd();
        netlink_fd();
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    int rc = pthread_create(&t, &attr, watcher_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        __atomic_store_n(&thread_state, T_STOPPED, __ATOMIC_RELEASE);
        sl_out_warn("sockleak: cannot start the watcher thread; no live reports");
    } else {
        thread = t;
        expected = T_CREATING;
        if (!__atomic_compare_exchange_n(&thread_state, &expected, T_RUNNING, 0,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            pthread_detach(t);      /* stopped while we created it; it sees the flag */
    }
    sl_in_shim = in_shim;
    errno = saved;
}

void sl_watcher_stop(void)
{
    int state = __atomic_exchange_n(&thread_state, T_STOPPED, __ATOMIC_ACQ_REL);
    __atomic_store_n(&stop_requested, 1, __ATOMIC_RELEASE);
    if (state != T_RUNNING)
        return;
    wake();
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += STOP_WAIT_MS / 1000;
    deadline.tv_nsec += (STOP_WAIT_MS % 1000) * NS_PER_MS;
    if (deadline.tv_nsec >= NS_PER_S) {
        deadline.tv_sec++;
        deadline.tv_nsec -= NS_PER_S;
    }
    /* Bounded: a watcher stuck in a write to a full pipe must not hang exit. */
    if (pthread_timedjoin_np(thread, NULL, &deadline) != 0)
        pthread_detach(thread);
}

/* ---- hooks ---- */

void sl_watcher_init(void)
{
    /* Nothing to do before the first socket: the thread and the snapshot
     * signal start with it (see start_thread). */
}

void sl_watcher_on_socket(struct sl_sock *s)
{
    if (s->origin == SL_ORIGIN_RECEIVED || s->origin == SL_ORIGIN_INHERITED)
        __atomic_store_n(&foreign_stale, 1, __ATOMIC_RELAXED);   /* its inode may be known */
    if (s->family == AF_INET6 && s->type == SOCK_STREAM)
        __atomic_fetch_add(&inet6_streams, 1, __ATOMIC_RELAXED);
    if (s->origin != SL_ORIGIN_INHERITED && __atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE))
        start_thread();
}

void sl_watcher_on_connect(struct sl_sock *s, int fd)
{
    (void)s;
    (void)fd;
    start_thread();     /* a fork child that only reuses its parent's sockets */
}

static int addresses(int fd, struct sockaddr_in6 *local, struct sockaddr_in6 *peer)
{
    socklen_t l1 = sizeof(*local), l2 = sizeof(*peer);
    memset(local, 0, sizeof(*local));
    memset(peer, 0, sizeof(*peer));
    return getsockname(fd, (struct sockaddr *)local, &l1) == 0 &&
           getpeername(fd, (struct sockaddr *)peer, &l2) == 0;
}

void sl_watcher_on_shutdown(struct sl_sock *s, int fd)
{
    struct sockaddr_in6 local, peer;
    uint32_t flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
    if (!watching() || sl_in_shim || !tcp_inet(s) || (flags & SL_SOCK_PEER_WATCHED) ||
        __atomic_load_n(&s->fin_ns, __ATOMIC_RELAXED) || !addresses(fd, &local, &peer))
        return;
    int state = sl_tcp_state(fd);
    if (state != TCP_FIN_WAIT1 && state != TCP_FIN_WAIT2)
        return;
    __atomic_fetch_or(&s->flags, SL_SOCK_PEER_WATCHED, __ATOMIC_RELAXED);
    peer_watch(s, &local, &peer, 1);
}

static void closed_late(struct sl_sock *s, int fd)
{
    int64_t now = sl_now_ns();
    int64_t cw = __atomic_load_n(&s->close_wait_ns, __ATOMIC_RELAXED);
    int64_t fin = __atomic_load_n(&s->fin_ns, __ATOMIC_RELAXED);
    struct sl_leak l;
    int in_shim = sl_in_shim, saved = errno;
    sl_in_shim = 1;
    sl_describe(s, &fd, 1, &l, now);
    sl_report_closed_late(&l, since_ms(fin && (!cw || fin < cw) ? fin : cw, now));
    sl_in_shim = in_shim;
    errno = saved;
}

/* Before the real close: was it this side that closed first? Then count it
 * (TIME_WAIT here) and watch the peer. Three syscalls, connected TCP only. */
void sl_watcher_on_close(struct sl_sock *s, int fd)
{
    uint32_t flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
    if (s->family == AF_INET6 && s->type == SOCK_STREAM)
        __atomic_fetch_sub(&inet6_streams, 1, __ATOMIC_RELAXED);
    /* fd still in the table: it already names another socket (dup2 onto it,
     * a reused number), so it cannot be asked about this one. */
    if (sl_in_shim || sl_fd_get(fd) != 0 || !__atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE))
        return;
    if (flags & SL_SOCK_LIVE_REPORTED)
        closed_late(s, fd);
    if (!watching() || !tcp_inet(s) || __atomic_load_n(&s->fin_ns, __ATOMIC_RELAXED) ||
        __atomic_load_n(&s->close_wait_ns, __ATOMIC_RELAXED) ||
        !((flags & SL_SOCK_CONNECTED) || s->origin == SL_ORIGIN_ACCEPT ||
          s->origin == SL_ORIGIN_ACCEPT4))
        return;
    int saved = errno, state = sl_tcp_state(fd);
    struct sockaddr_in6 local, peer;
    int first = state == TCP_ESTABLISHED || state == TCP_FIN_WAIT1 ||
                state == TCP_FIN_WAIT2 || state == TCP_CLOSING ||
                (state == TCP_CLOSE && (flags & SL_SOCK_SHUT_WR));
    if (first && addresses(fd, &local, &peer)) {
        __atomic_fetch_add(&closed_first, 1, __ATOMIC_RELAXED);
        dest_count(&peer);
        if (!(flags & SL_SOCK_PEER_WATCHED) && state != TCP_CLOSING && state != TCP_CLOSE)
            peer_watch(s, &local, &peer, 0);
    }
    errno = saved;
}

uint64_t sl_watcher_closed_first(void)
{
    return __atomic_load_n(&closed_first, __ATOMIC_RELAXED);
}

void sl_watcher_after_fork(void)
{
    /* The thread did not come along; the next socket starts the child's own.
     * Tables describe the parent's connections: start empty. */
    __atomic_store_n(&thread_state, T_NONE, __ATOMIC_RELAXED);
    __atomic_store_n(&thread_exited, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&stop_requested, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&snapshot_requested, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&closed_first, 0, __ATOMIC_RELAXED);
    memset(peers, 0, sizeof(peers));
    memset(dests, 0, sizeof(dests));
    memset(dest_seen, 0, sizeof(dest_seen));
    nsamples = 0;
    cws.n = foreign.n = found.n = 0;
    memset(method_cost, 0, sizeof(method_cost));   /* the child's sockets differ */
    /* The parent's netlink socket would mix its replies with ours, and its
     * epoll set is the parent's: the child makes its own of both. */
    if (nl_slot >= 0)
        sl_private_close(nl_slot);
    nl_slot = -1;
    if (ep_slot >= 0)
        sl_private_close(ep_slot);
    ep_slot = -1;
    rewatch_all = 1;
    epoll_broken = 0;
}
