/* live_host.c -- the program's side of live detection. Each tracked socket
 * is published in a region shared with a watcher process (live.h), and each
 * connected TCP socket goes into an epoll set (EPOLLRDHUP, edge-triggered)
 * that the watcher process waits on: it learns of a peer's FIN when it
 * arrives, and does every scan, symbolization and report write itself. So
 * the program gets no thread, no timer and no signal; its own calls pay a
 * few stores per socket and one epoll_ctl per connection.
 *
 * The watcher process is started with the first TCP socket (execve of
 * sockleak-watcher, found next to this library), detached so that the
 * program's wait()/waitpid(-1) and SIGCHLD never see it, and it exits when
 * the program exits or execs. Normally its grandchild makes the region,
 * the stack store and the epoll set in its own fd table (spawn_own), so the
 * program holds none of them; where the watcher may not take the program's
 * fds, the program makes them (launch). A fork child starts its own. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdtable.h"
#include "live.h"
#include "live_closed.h"
#include "output.h"
#include "ownfd.h"
#include "real.h"
#include "report.h"
#include "runtime.h"
#include "sockinfo.h"
#include "stackdepot.h"
#include "watcher.h"

#define NS_PER_MS     1000000LL
#define STOP_WAIT_MS  2000      /* exit never waits longer for a watcher's write */
#define SPAWN_STACK   (64 * 1024)

enum { W_NONE, W_STARTING, W_RUNNING, W_FAILED };

static struct sl_live_shared *_Atomic region;
static _Atomic int region_state;            /* 0 none, 1 making, 2 made, 3 failed */
static int region_slot = -1, epoll_slot = -1, wake_slot = -1, alive_slot = -1;
static int exec_slot = -1;      /* attach from a memfd: the watcher's own memfd */
/* We keep no fd for the watcher (spawn_own, or ownfd.h: sl_zone_tight):
 * it gets the host's liveness as a memfd only our mapping holds (no pipe),
 * and once it is ready we close every fd we handed it (none with
 * spawn_own); fds_released says so. */
static _Atomic int tight = -1;          /* -1: not decided yet */
static void *alive_map;
static int fds_released;
#define ALIVE_BYTES     4096
#define READY_WAIT_MS   1000
static _Atomic int watcher_state;
static char options_copy[SL_LIVE_OPTIONS];
static char watcher_path[PATH_MAX];

static int live_on(void)
{
    return sl_opts.scan_ms > 0;
}

static int snapshots_on(void)
{
    return sl_opts.snapshot_s > 0 ||
           (sl_opts.snapshot_signal != NULL && sl_opts.snapshot_signal[0] != '\0');
}

/* A new fd of ours, moved into the shim's fd zone (ownfd.h); its zone
 * number, or -1 (fd closed) when that fails. */
static int adopt(int fd, int *slot)
{
    if (fd < 0 || (*slot = sl_private_adopt(fd)) < 0)
        return -1;
    return sl_private_fd(*slot);
}

/* ---- the shared region ---- */

/* The header the watcher checks and reads its options from (also called in
 * the watcher's grandchild, on the program's memory: plain stores only). */
static void write_header(struct sl_live_shared *r, int host_pid)
{
    r->magic = SL_LIVE_MAGIC;
    r->version = SL_LIVE_VERSION;
    r->host_pid = host_pid;
    memcpy(r->options, options_copy, sizeof(r->options));
}

static struct sl_live_shared *spawn_own(void);

static struct sl_live_shared *make_region(void)
{
    /* Whatever the limits: the watcher's grandchild makes every fd (and
     * no placement above the limit, with its helper task and the table's
     * growth, is needed). Attached (a fixed report fd, the watcher as a
     * memfd): as before. */
    if (sl_out_fixed_slot() < 0 && exec_slot < 0 && __atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE)) {
        struct sl_live_shared *r = spawn_own();
        if (r != NULL) {
            __atomic_store_n(&tight, 1, __ATOMIC_RELEASE);
            return r;
        }
    }
    sl_zone_make_begin();       /* fd's number is ours until adopted */
    int fd = memfd_create("sockleak-live", MFD_CLOEXEC), slot;
    void *p = MAP_FAILED;
    if (fd >= 0 && ftruncate(fd, (off_t)SL_LIVE_REGION_BYTES) == 0)
        p = mmap(NULL, SL_LIVE_REGION_BYTES, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        if (fd >= 0)
            SL_REAL(close)(fd);
        sl_zone_make_end();
        return NULL;
    }
    int placed = adopt(fd, &slot);
    sl_zone_make_end();
    if (placed < 0) {
        munmap(p, SL_LIVE_REGION_BYTES);
        return NULL;
    }
    region_slot = slot;
    /* Attached (a fixed report fd, or the watcher as a memfd): as before. */
    __atomic_store_n(&tight, sl_zone_tight() && sl_out_fixed_slot() < 0 && exec_slot < 0,
                     __ATOMIC_RELEASE);
    struct sl_live_shared *r = p;
    write_header(r, (int)syscall(SYS_getpid));
    return r;
}

/* The program closed our memfd's fd (closefrom, a close loop): a copy in a
 * new memfd replaces the mapping in place (one mremap), for a new watcher. */
static int remake_region_fd(struct sl_live_shared *r)
{
    sl_zone_make_begin();       /* fd's number is ours until adopted */
    int fd = memfd_create("sockleak-live", MFD_CLOEXEC), slot, rc = -1;
    uint32_t max = __atomic_load_n(&r->max_id, __ATOMIC_ACQUIRE);
    void *p = MAP_FAILED;
    if (fd >= 0 && ftruncate(fd, (off_t)SL_LIVE_REGION_BYTES) == 0)
        p = mmap(NULL, SL_LIVE_REGION_BYTES, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        if (fd >= 0)
            SL_REAL(close)(fd);
        goto out;
    }
    memcpy(p, r, sizeof(*r) + (size_t)max * sizeof(r->socks[0]));
    sl_private_close(region_slot);      /* a lost number: only the slot is freed */
    region_slot = -1;
    if (mremap(p, SL_LIVE_REGION_BYTES, SL_LIVE_REGION_BYTES, MREMAP_MAYMOVE | MREMAP_FIXED,
               r) == MAP_FAILED) {
        munmap(p, SL_LIVE_REGION_BYTES);
        SL_REAL(close)(fd);
        goto out;
    }
    if (adopt(fd, &slot) >= 0) {
        region_slot = slot;
        rc = 0;
    }
out:
    sl_zone_make_end();
    return rc;
}

/* The region, made by the first caller; others wait for it (bounded: the
 * watcher's start may make it, a few hundred microseconds), except a
 * signal handler on the making thread. */
static __thread int making_here __attribute__((tls_model("initial-exec")));

static struct sl_live_shared *get_region(void)
{
    struct sl_live_shared *r = __atomic_load_n(&region, __ATOMIC_ACQUIRE);
    int expected = 0;
    if (__builtin_expect(r != NULL, 1))
        return r;
    if (!__atomic_compare_exchange_n(&region_state, &expected, 1, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        struct timespec t = { 0, 50000 };
        int saved = errno;
        for (int i = 0; i < 2000 && !making_here &&
                        __atomic_load_n(&region_state, __ATOMIC_ACQUIRE) == 1; i++)
            nanosleep(&t, NULL);
        errno = saved;
        return __atomic_load_n(&region, __ATOMIC_ACQUIRE);
    }
    making_here = 1;
    r = make_region();
    __atomic_store_n(&region, r, __ATOMIC_RELEASE);
    __atomic_store_n(&region_state, r ? 2 : 3, __ATOMIC_RELEASE);
    making_here = 0;
    return r;
}

static struct sl_live_sock *entry_of(struct sl_live_shared *r, uint32_t id, const struct sl_sock *s)
{
    if (r == NULL || id == 0 || id >= SL_LIVE_MAX_SOCKS)
        return NULL;
    struct sl_live_sock *e = &r->socks[id];
    uint32_t gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
    return __atomic_load_n(&e->gen, __ATOMIC_ACQUIRE) == gen ? e : NULL;
}

static void publish(struct sl_live_shared *r, uint32_t id, const struct sl_sock *s, int fd)
{
    if (id == 0 || id >= SL_LIVE_MAX_SOCKS)
        return;
    struct sl_live_sock *e = &r->socks[id];
    __atomic_store_n(&e->gen, 0, __ATOMIC_RELEASE);
    e->stack_id = s->stack_id;
    e->origin = s->origin;
    e->family = s->family;
    e->type = s->type;
    e->protocol = s->protocol;
    e->cookie = s->cookie;
    e->by_peer = (s->flags & SL_SOCK_BY_PEER) != 0;
    e->sport = s->sport;
    if (e->by_peer)     /* a sockaddr_in6 or a sockaddr_in within the storage */
        e->peer = *(const struct sockaddr_in6 *)&s->peer_addr;
    e->fd = fd;
    e->created_ns = s->created_ns;
    __atomic_store_n(&e->fin_ns, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&e->flags, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&e->gen, __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
    uint32_t max = __atomic_load_n(&r->max_id, __ATOMIC_RELAXED);
    while (max <= id && !__atomic_compare_exchange_n(&r->max_id, &max, id + 1, 0,
                                                     __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        ;
}

/* ---- starting the watcher process ---- */

struct spawn {
    int fds[SL_LIVE_NFDS];      /* become SL_LIVE_FD_REGION... in the child */
    int report_fd;              /* attach: becomes SL_LIVE_FD_REPORT; else -1 */
    volatile int exec_failed;   /* set by the grandchild when execve failed */
    int exec_fd;                /* the watcher as a memfd (execveat), else -1 */
    char *argv[2];
    char *envp[1];
    char *stack2;
    /* Own (tight, first start): the grandchild makes the region, stack
     * store and liveness memfds and the epoll set in its own fd table and
     * maps the memfds into the program's memory (CLONE_VM), so the program
     * never holds one of them, not even for a moment. */
    int own;
    int host_pid;
    size_t stacks_bytes;
    void *region_map, *stacks_map, *alive_map;      /* out */
};

/* The kernel's, never the shim's own syscall() hook (its guards would run
 * in the child, on the program's memory). */
static long raw(long nr, long a, long b, long c)
{
    return SL_REAL(syscall)(nr, a, b, c);
}

static long raw6(long nr, long a, long b, long c, long d, long e, long f)
{
    return SL_REAL(syscall)(nr, a, b, c, d, e, f);
}

/* A memfd of bytes mapped shared into the program's memory; its fd (in
 * the grandchild's table), or -1. */
static int own_memfd(const char *name, unsigned flags, size_t bytes, void **map)
{
    int fd = (int)raw(SYS_memfd_create, (long)name, MFD_CLOEXEC | flags, 0);
    if (fd < 0 || raw(SYS_ftruncate, fd, (long)bytes, 0) != 0)
        return -1;
    long p = raw6(SYS_mmap, 0, (long)bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                  fd, 0);
    if (p == -1)
        return -1;
    *map = (void *)p;
    return fd;
}

/* The grandchild's own fds for the watcher (struct spawn, own): 0, or -1
 * when the watcher could not take the program's fds (it then needs an
 * epoll set the host adds to: the host's own fds, as before) or a call
 * failed. */
static int make_own(struct spawn *sp)
{
    /* This copy of the program's table needs none of its fds, and a
     * program at its limit leaves no room in it. */
    raw(SYS_close_range, 3, ~0u, 0);
    /* May the watcher take our fds? pidfd_getfd of a number no fd has
     * answers EBADF when allowed (watch_quiet.c asks the same). */
    int pidfd = (int)raw(SYS_pidfd_open, sp->host_pid, 0, 0);
    if (pidfd < 0 || raw(SYS_pidfd_getfd, pidfd, 0x7fffffff, 0) >= 0 || errno != EBADF)
        return -1;
    raw(SYS_close, pidfd, 0, 0);
    int region = own_memfd("sockleak-live", 0, SL_LIVE_REGION_BYTES, &sp->region_map);
    int stacks = own_memfd("sockleak-stacks", 0, sp->stacks_bytes, &sp->stacks_map);
    int alive = own_memfd("sockleak-alive", MFD_ALLOW_SEALING, ALIVE_BYTES, &sp->alive_map);
    int epoll = (int)raw(SYS_epoll_create1, EPOLL_CLOEXEC, 0, 0);
    if (region < 0 || stacks < 0 || alive < 0 || epoll < 0)
        return -1;
    write_header(sp->region_map, sp->host_pid);
    sp->fds[0] = region;
    sp->fds[1] = stacks;
    sp->fds[2] = epoll;
    sp->fds[3] = -1;        /* the watcher makes its own eventfd */
    sp->fds[4] = alive;
    return 0;
}

/* Runs in the grandchild between clone and execve, on memory it shares
 * with the program (CLONE_VM): raw system calls only. */
static int exec_watcher(void *arg)
{
    struct spawn *sp = arg;
    int moved[SL_LIVE_NFDS], report = -1;
    if (sp->own && make_own(sp) != 0) {
        sp->exec_failed = 1;
        raw(SYS_exit_group, 127, 0, 0);
    }
    for (int i = 0; i < SL_LIVE_NFDS; i++)
        if (sp->fds[i] < 0)
            moved[i] = -1;          /* not handed over (the wake eventfd) */
        else if ((moved[i] = (int)raw(SYS_fcntl, sp->fds[i], F_DUPFD, SL_LIVE_FD_REPORT + 1)) < 0)
            raw(SYS_exit_group, 127, 0, 0);
    if (sp->report_fd >= 0)
        report = (int)raw(SYS_fcntl, sp->report_fd, F_DUPFD, SL_LIVE_FD_REPORT + 1);
    for (int i = 0; i < SL_LIVE_NFDS; i++)
        if (moved[i] >= 0)
            raw(SYS_dup3, moved[i], SL_LIVE_FD_REGION + i, 0);
        else
            raw(SYS_close, SL_LIVE_FD_REGION + i, 0, 0);
    if (report >= 0)
        raw(SYS_dup3, report, SL_LIVE_FD_REPORT, 0);
    int keep = report >= 0 ? SL_LIVE_FD_REPORT + 1 : SL_LIVE_FD_REGION + SL_LIVE_NFDS, exe = -1;
    if (sp->exec_fd >= 0) {
        /* Past SL_LIVE_FD_REPORT, close-on-exec: gone once it is exec'ed. */
        keep = SL_LIVE_FD_REPORT + 1;
        exe = (int)raw(SYS_fcntl, sp->exec_fd, F_DUPFD_CLOEXEC, keep);
        if (exe >= 0 && exe != keep)
            exe = (int)raw(SYS_dup3, exe, keep, O_CLOEXEC);
        keep++;
    }
    /* Nothing of the program's stays open in it: not its sockets (their
     * FIN must not wait for us), not its stdin or stdout. */
    raw(SYS_close_range, keep, ~0u, 0);
    int null = (int)raw(SYS_open, (long)"/dev/null", O_RDWR, 0);
    if (null >= 0) {
        raw(SYS_dup3, null, 0, 0);
        raw(SYS_dup3, null, 1, 0);
        if (null > 2)
            raw(SYS_close, null, 0, 0);   /* not left where SL_LIVE_FD_REPORT goes */
    }
    if (exe >= 0)
        SL_REAL(syscall)(SYS_execveat, exe, "", sp->argv, sp->envp, AT_EMPTY_PATH);
    else
        raw(SYS_execve, (long)sp->argv[0], (long)sp->argv, (long)sp->envp);
    sp->exec_failed = 1;
    raw(SYS_exit_group, 127, 0, 0);
    return 0;
}

/* The child the program could see: it only starts the watcher and exits,
 * so the watcher is an orphan (adopted by init), never the program's. */
static int detach_watcher(void *arg)
{
    struct spawn *sp = arg;
    clone(exec_watcher, sp->stack2 + SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, sp);
    return 0;
}

/* No number is out of the program's reach: once the watcher has its copies
 * and has said whether we must add connections to the epoll set ourselves,
 * close ours (the mappings stay). Without a ready watcher, keep them. */
/* Start the watcher as sp says: 0 once it is exec'ed, else -1. The
 * calling thread waits (CLONE_VFORK) on two stacks of its own. */
static int run_spawn(struct spawn *sp)
{
    char *stacks = mmap(NULL, 2 * SPAWN_STACK, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    int rc = -1;
    if (stacks == MAP_FAILED)
        return -1;
    sigset_t all, old;
    sp->stack2 = stacks + SPAWN_STACK;
    /* No handler of the program may run on these borrowed stacks. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* Exit signal 0: no SIGCHLD, and wait()/waitpid(-1) skip it. */
    pid_t pid = clone(detach_watcher, stacks + SPAWN_STACK, CLONE_VM | CLONE_VFORK, sp);
    if (pid > 0) {
        while (waitpid(pid, NULL, __WCLONE) < 0 && errno == EINTR)
            ;
        rc = sp->exec_failed ? -1 : 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stacks, 2 * SPAWN_STACK);
    return rc;
}

/* Until the watcher has set up and said whether it may take our fds
 * (bounded): 1 once it has. */
static int wait_ready(struct sl_live_shared *r)
{
    struct timespec ms = { 0, 1000000 };
    for (int i = 0; i < READY_WAIT_MS && !__atomic_load_n(&r->watcher_ready, __ATOMIC_ACQUIRE); i++)
        nanosleep(&ms, NULL);
    return __atomic_load_n(&r->watcher_ready, __ATOMIC_ACQUIRE);
}

static void release_fds(struct sl_live_shared *r)
{
    if (!wait_ready(r))
        return;
    sl_private_close(region_slot);
    region_slot = -1;
    sl_stack_release_fd();
    if (!__atomic_load_n(&r->host_registers, __ATOMIC_ACQUIRE)) {
        sl_private_close(epoll_slot);
        epoll_slot = -1;
    }
    fds_released = 1;
}

static int spawn_watcher(struct sl_live_shared *r)
{
    int pipefd[2], read_slot = -1, made, tight_now = __atomic_load_n(&tight, __ATOMIC_ACQUIRE) > 0;
    if ((watcher_path[0] == '\0' && sl_private_fd(exec_slot) < 0) ||
        sl_private_fd(epoll_slot) < 0 || (!tight_now && sl_private_fd(wake_slot) < 0) ||
        sl_stack_fd() < 0)
        return -1;
    sl_zone_make_begin();       /* the new numbers are ours until adopted */
    if (tight_now) {
        /* liveness without a pipe: a memfd only our mapping will hold */
        int fd = memfd_create("sockleak-alive", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        void *p = MAP_FAILED;
        if (fd >= 0 && ftruncate(fd, ALIVE_BYTES) == 0)
            p = mmap(NULL, ALIVE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED && fd >= 0)
            SL_REAL(close)(fd);
        made = p != MAP_FAILED && adopt(fd, &read_slot) >= 0;
        if (p != MAP_FAILED && !made)
            munmap(p, ALIVE_BYTES);
        else if (made)
            alive_map = p;
    } else {
        made = pipe2(pipefd, O_CLOEXEC) == 0;
        if (made && adopt(pipefd[0], &read_slot) < 0) {
            SL_REAL(close)(pipefd[1]);
            made = 0;
        }
        if (made && adopt(pipefd[1], &alive_slot) < 0)
            made = 0;
    }
    sl_zone_make_end();
    if (!made) {
        sl_private_close(read_slot);
        return -1;
    }
    /* Every fd the child gets, pinned at its number until the clone has
     * copied the table (a move of one meanwhile would hand it another). */
    int pinned[] = { region_slot, sl_stack_slot(), epoll_slot, wake_slot, read_slot,
                     exec_slot, sl_out_fixed_slot() };
    int fds[7];
    for (int i = 0; i < 7; i++)
        fds[i] = sl_private_pin(pinned[i]);
    struct spawn sp = {
        .fds = { fds[0], fds[1], fds[2], fds[3], fds[4] },
        .report_fd = fds[6],
        .exec_fd = fds[5],
        .argv = { fds[5] >= 0 ? (char *)"sockleak-watcher" : watcher_path, NULL },
    };
    int rc = -1;
    if (fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0 && (fds[3] >= 0 || tight_now) && fds[4] >= 0)
        rc = run_spawn(&sp);
    for (int i = 0; i < 7; i++)
        if (fds[i] >= 0)
            sl_private_unpin(pinned[i]);
    sl_private_close(read_slot);
    /* This way is taken when the watcher may not take our fds: we add the
     * connections to the epoll set, from the first one on (the caller's
     * watch() reads host_registers next). */
    if (rc == 0 && tight_now)
        release_fds(r);
    else if (rc == 0)
        wait_ready(r);
    return rc;
}

/* The first start (struct spawn, own): the watcher's grandchild makes
 * every fd in its own table, and the region and stack store come back
 * mapped here; the stacks move into theirs in place. The program holds no
 * fd of ours at any moment, needs no placement above its limit, and its
 * first socket() does not wait for the watcher to set up. NULL when that
 * cannot be (the watcher could not take our fds, or a call failed): then
 * the region and the watcher are made as before, with our fds. */
static int own_spawned;

static struct sl_live_shared *spawn_own(void)
{
    int subreaper = 0, saved = errno;
    prctl(PR_GET_CHILD_SUBREAPER, &subreaper);
    if (subreaper || watcher_path[0] == '\0')
        return NULL;
    struct spawn sp = {
        .fds = { -1, -1, -1, -1, -1 },
        .report_fd = -1,
        .exec_fd = -1,
        .argv = { watcher_path, NULL },
        .own = 1,
        .host_pid = (int)syscall(SYS_getpid),
        .stacks_bytes = sl_stack_arena_bytes(),
    };
    if (run_spawn(&sp) != 0) {
        if (sp.region_map != NULL)
            munmap(sp.region_map, SL_LIVE_REGION_BYTES);
        if (sp.stacks_map != NULL)
            munmap(sp.stacks_map, sp.stacks_bytes);
        if (sp.alive_map != NULL)
            munmap(sp.alive_map, ALIVE_BYTES);
        errno = saved;
        return NULL;
    }
    /* The watcher runs: it reads stacks once a report is due, long after
     * this copy. */
    if (sl_stack_move_into(sp.stacks_map) != 0)
        sl_out_warn("sockleak: cannot share its stack store; live reports name no stack");
    alive_map = sp.alive_map;
    fds_released = 1;       /* none to release: the watcher made them */
    own_spawned = 1;
    errno = saved;
    return sp.region_map;
}

static int fds_lost(void)
{
    if (fds_released)
        return 0;       /* closed on purpose: the watcher has them */
    /* tight (no number out of the program's reach): no wake-up eventfd and
     * no pipe were ever kept */
    int pipe_kept = __atomic_load_n(&tight, __ATOMIC_RELAXED) <= 0;
    return sl_private_fd(region_slot) < 0 || sl_private_fd(epoll_slot) < 0 ||
           (pipe_kept && (sl_private_fd(wake_slot) < 0 || sl_private_fd(alive_slot) < 0)) ||
           sl_stack_fd() < 0;
}

/* Sockets already watched go into a new epoll set (the old one went with
 * the fds the program closed): by the host when it registers, else by the
 * new watcher, which finds them unwatched. */
static void rewatch_cb(int fd, uint32_t id, void *arg)
{
    struct sl_live_shared *r = arg;
    struct sl_sock *s = sl_sock_get(id);
    struct sl_live_sock *e = s ? entry_of(r, id, s) : NULL;
    if (e == NULL || !(__atomic_fetch_and(&e->flags, ~SL_LIVE_WATCHED, __ATOMIC_RELAXED) &
                       SL_LIVE_WATCHED) || !__atomic_load_n(&r->host_registers, __ATOMIC_RELAXED))
        return;
    struct epoll_event ev = { .events = EPOLLRDHUP | EPOLLET,
                              .data.u64 = (uint64_t)id << 32 | __atomic_load_n(&e->gen, __ATOMIC_RELAXED) };
    int slot = epoll_slot, ep = sl_private_pin(slot);
    if (ep >= 0) {
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0)
            __atomic_fetch_or(&e->flags, SL_LIVE_WATCHED, __ATOMIC_RELAXED);
        sl_private_unpin(slot);
    }
}

/* Make the epoll set and wake-up fd (in the hook's thread) and start the
 * watcher process. After the program closed any of our fds, everything is
 * remade and a new watcher replaces the old, which exits when its pipe
 * closes. Returns a reason when it cannot, else NULL. */
static const char *launch(struct sl_live_shared *r, int again)
{
    int subreaper = 0;
    prctl(PR_GET_CHILD_SUBREAPER, &subreaper);
    if (subreaper)
        return "the program is a child subreaper, so it would adopt the watcher process";
    if (again) {
        sl_private_close(alive_slot);           /* the old watcher exits */
        sl_private_close(epoll_slot);
        sl_private_close(wake_slot);
        alive_slot = epoll_slot = wake_slot = -1;
        if (sl_private_fd(region_slot) < 0 && remake_region_fd(r) != 0)
            return "cannot remake its shared memory";
    }
    /* The stacks move into shared memory only now: a process that never
     * starts a watcher holds no fd of ours for them. */
    if (sl_stack_reshare() != 0)
        return "cannot share its stack store with the watcher process";
    /* The wake-up eventfd serves only the snapshot signal's handler; when
     * every fd we keep costs the program one, the handler wakes the
     * watcher through a futex in the region instead. */
    int want_wake = __atomic_load_n(&tight, __ATOMIC_ACQUIRE) <= 0;
    sl_zone_make_begin();       /* each new number is ours until adopted */
    int made = adopt(epoll_create1(EPOLL_CLOEXEC), &epoll_slot) >= 0 &&
               (!want_wake || adopt(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), &wake_slot) >= 0);
    sl_zone_make_end();
    if (!made)
        return "cannot make its epoll set";
    if (again)
        sl_fd_foreach(0, ~0u, rewatch_cb, r);
    if (spawn_watcher(r) != 0)
        return "cannot start the watcher process (sockleak-watcher next to libsockleak.so)";
    return NULL;
}

/* Start the watcher process once per process (again if the program closed
 * our fds). */
static void start_watcher(void)
{
    int state = __atomic_load_n(&watcher_state, __ATOMIC_ACQUIRE);
    if (__builtin_expect(state == W_FAILED || state == W_STARTING ||
                         (state == W_RUNNING && !fds_lost()), 1))
        return;
    if (!__atomic_compare_exchange_n(&watcher_state, &state, W_STARTING, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return;
    if (!__atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE)) {
        /* detached meanwhile (sockleak attach): no new watcher */
        __atomic_store_n(&watcher_state, W_NONE, __ATOMIC_RELEASE);
        return;
    }
    int saved = errno, in_shim = sl_in_shim;
    sl_in_shim = 1;
    struct sl_live_shared *r = get_region();
    const char *why = r == NULL ? "cannot map its shared memory"
                    : own_spawned ? NULL : launch(r, state == W_RUNNING);
    if (why != NULL) {
        char msg[256];
        snprintf(msg, sizeof(msg), "sockleak: %s; no live reports", why);
        sl_out_warn(msg);
        __atomic_store_n(&watcher_state, W_FAILED, __ATOMIC_RELEASE);
    } else {
        sl_live_install_snapshot_signal();
        __atomic_store_n(&watcher_state, W_RUNNING, __ATOMIC_RELEASE);
    }
    sl_in_shim = in_shim;
    errno = saved;
}

/* A connected TCP socket: the watcher adds it to the epoll set once it is
 * quiet (no epoll_ctl here, and no wake-up callback on its wait queue while
 * data flows). Only when the watcher cannot take our fds does the host add
 * it itself. */
static void watch(struct sl_live_shared *r, struct sl_live_sock *e, uint32_t id, int fd)
{
    if (__builtin_expect(__atomic_load_n(&watcher_state, __ATOMIC_ACQUIRE) != W_RUNNING ||
                         !fds_released, 0))
        start_watcher();
    if (!(__atomic_fetch_or(&e->flags, SL_LIVE_WANTED, __ATOMIC_RELEASE) & SL_LIVE_WANTED))
        __atomic_fetch_add(&r->wanted, 1, __ATOMIC_RELEASE);
    if (__builtin_expect(!__atomic_load_n(&r->host_registers, __ATOMIC_RELAXED), 1))
        return;
    if (__atomic_fetch_or(&e->flags, SL_LIVE_WATCHED, __ATOMIC_RELAXED) & SL_LIVE_WATCHED)
        return;
    struct epoll_event ev = {
        .events = EPOLLRDHUP | EPOLLET,
        .data.u64 = (uint64_t)id << 32 | __atomic_load_n(&e->gen, __ATOMIC_RELAXED),
    };
    /* Pinned: a dup2 onto its number moves our fd, and the number is then
     * the program's (adding to its epoll set would be a harm). */
    int slot = epoll_slot, ep = sl_private_pin(slot);
    if (ep >= 0) {
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        sl_private_unpin(slot);
    }
}

/* Pinned while we write: a dup2 onto its number moves our eventfd, and 8
 * bytes written to the number then would land in the program's socket.
 * From a signal handler, which may have interrupted that move, the
 * wake-up is skipped instead of waited for; the flag it was for stays set
 * and is seen at the watcher's next wake-up. */
static void wake_watcher(int in_signal)
{
    int slot = wake_slot, saved = errno;
    int wake = in_signal ? sl_private_trypin(slot) : sl_private_pin(slot);
    uint64_t one = 1;
    if (wake >= 0) {
        if (write(wake, &one, sizeof(one)) < 0) {
            /* full counter: a wake-up is pending anyway */
        }
        sl_private_unpin(slot);
    }
    errno = saved;
}

/* The snapshot signal's handler (live_signal.c) asks the watcher for a
 * snapshot: a flag in the region and one write(2) to the eventfd, both
 * async-signal-safe. */
void sl_live_request_snapshot(void)
{
    struct sl_live_shared *r = __atomic_load_n(&region, __ATOMIC_ACQUIRE);
    if (r != NULL) {
        __atomic_store_n(&r->snapshot_requested, 1, __ATOMIC_RELEASE);
        if (wake_slot >= 0)
            wake_watcher(1);
        else    /* no eventfd kept (ownfd.h): the region's futex, which a
                 * thread of the watcher's waits on */
            SL_REAL(syscall)(SYS_futex, &r->snapshot_requested, FUTEX_WAKE, 1, NULL, NULL, 0);
    }
}

/* ---- peers and port pressure: recorded here, checked by the watcher ---- */

/* Our and the peer's address; the peer's from connect() when we have it
 * (one syscall fewer on every client connection's close). */
static int addresses(const struct sl_sock *s, int fd, struct sockaddr_in6 *local,
                     struct sockaddr_in6 *peer)
{
    socklen_t l1 = sizeof(*local), l2 = sizeof(*peer);
    memset(local, 0, sizeof(*local));
    memset(peer, 0, sizeof(*peer));
    if (getsockname(fd, (struct sockaddr *)local, &l1) != 0)
        return 0;
    if (s->peer_len > 0 && s->peer_len <= sizeof(*peer) &&
        s->peer_addr.ss_family == local->sin6_family) {
        memcpy(peer, &s->peer_addr, s->peer_len);
        const struct sockaddr_in *in = (const void *)peer;
        /* connect(0.0.0.0) reaches a local address the kernel alone knows */
        if (peer->sin6_family == AF_INET ? in->sin_addr.s_addr != 0
                                         : !IN6_IS_ADDR_UNSPECIFIED(&peer->sin6_addr))
            return 1;
    }
    return getpeername(fd, (struct sockaddr *)peer, &l2) == 0;
}

/* ---- hooks (runtime -> here) ---- */

void sl_watcher_init(void)
{
    const char *opts = secure_getenv("SOCKLEAK_OPTIONS");
    Dl_info info;
    char lib[PATH_MAX];
    if (opts != NULL)
        snprintf(options_copy, sizeof(options_copy), "%s", opts);
    /* The watcher lives next to this library; found now, before the
     * program can chdir away from a relative LD_PRELOAD path. */
    if (dladdr((void *)sl_watcher_init, &info) != 0 && info.dli_fname != NULL &&
        realpath(info.dli_fname, lib) != NULL) {
        char *slash = strrchr(lib, '/');
        static const char name[] = "/sockleak-watcher";
        if (slash != NULL && (size_t)(slash - lib) + sizeof(name) <= sizeof(watcher_path)) {
            memcpy(watcher_path, lib, (size_t)(slash - lib));
            memcpy(watcher_path + (slash - lib), name, sizeof(name));
        }
    }
}

/* sockleak attach hands a target that cannot see sockleak-watcher (another
 * mount namespace) a copy in a memfd of that name: keep it in the zone. */
static void adopt_watcher_memfd(void)
{
    static const char name[] = "/memfd:sockleak-watcher";
    char path[64], target[64];
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;
    while (d != NULL && found < 0 && (e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d))
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n >= (ssize_t)sizeof(name) - 1 && memcmp(target, name, sizeof(name) - 1) == 0)
            found = fd;
    }
    if (d != NULL)
        closedir(d);
    if (found < 0)
        return;
    sl_private_close(exec_slot);
    exec_slot = sl_private_adopt(found);
}

void sl_watcher_set_options(const char *spec)
{
    snprintf(options_copy, sizeof(options_copy), "%s", spec ? spec : "");
    adopt_watcher_memfd();
}

void sl_watcher_on_socket(uint32_t id, struct sl_sock *s, int fd)
{
    if (!live_on() && !snapshots_on())
        return;
    /* Without snapshots the watcher has nothing to do with a Unix, UDP or
     * raw socket: the region, and the watcher process with it, come with
     * the first TCP socket (a program that only logs to /dev/log or asks
     * DNS starts none). */
    if (!snapshots_on() && !sl_sock_is_tcp(s) && __atomic_load_n(&region, __ATOMIC_ACQUIRE) == NULL)
        return;
    struct sl_live_shared *r = get_region();
    if (r == NULL)
        return;
    publish(r, id, s, fd);
    if (s->origin != SL_ORIGIN_INHERITED && s->origin != SL_ORIGIN_PRE_ATTACH)
        __atomic_fetch_add(&r->opened, 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE) ||
        (s->origin == SL_ORIGIN_INHERITED && !sl_opts.report_inherited))
        return;
    if (live_on() && sl_sock_is_tcp(s) &&
        (s->origin == SL_ORIGIN_ACCEPT || s->origin == SL_ORIGIN_ACCEPT4 ||
         s->origin == SL_ORIGIN_RECEIVED || s->origin == SL_ORIGIN_INHERITED ||
         s->origin == SL_ORIGIN_PRE_ATTACH))
        watch(r, &r->socks[id], id, fd);
    else if (snapshots_on() || __atomic_load_n(&tight, __ATOMIC_RELAXED) > 0)
        start_watcher();    /* tight: it takes the region's fds at once */
}

void sl_watcher_on_connect(struct sl_sock *s, int fd)
{
    struct sl_live_sock *e;
    struct sl_live_shared *r;
    /* Live detection off: no region here (snapshots make theirs with the
     * socket), so no watcher either. */
    if (!live_on() || !sl_sock_is_tcp(s) || (r = get_region()) == NULL)
        return;
    uint32_t id = sl_sock_id_of_fd(fd);
    if ((e = entry_of(r, id, s)) != NULL)
        watch(r, e, id, fd);
}

void sl_watcher_on_shutdown(struct sl_sock *s, int fd)
{
    struct sockaddr_in6 local, peer;
    struct sl_live_shared *r = __atomic_load_n(&region, __ATOMIC_ACQUIRE);
    uint32_t flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
    if (!live_on() || r == NULL || sl_in_shim || !sl_sock_is_tcp(s) || (flags & SL_SOCK_PEER_WATCHED) ||
        __atomic_load_n(&s->fin_ns, __ATOMIC_RELAXED) || !addresses(s, fd, &local, &peer))
        return;
    int state = sl_tcp_state(fd);
    if (state != TCP_FIN_WAIT1 && state != TCP_FIN_WAIT2)
        return;
    __atomic_fetch_or(&s->flags, SL_SOCK_PEER_WATCHED, __ATOMIC_RELAXED);
    sl_live_peer_watch(r, s->stack_id, sl_now_ns(), &local, &peer, 1);
}

static void closed_late(struct sl_sock *s, struct sl_live_sock *e, int fd)
{
    int64_t now = sl_now_ns(), fin = __atomic_load_n(&e->fin_ns, __ATOMIC_RELAXED);
    struct sl_leak l;
    int in_shim = sl_in_shim, saved = errno;
    sl_in_shim = 1;
    /* Closed behind our back and noticed later: fd may name another
     * socket by now, so only the record describes this one. */
    if (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & SL_SOCK_CLOSED_UNTRACKED)
        sl_describe_record(s, fd, &l, now);
    else
        sl_describe(s, &fd, 1, &l, now);
    sl_report_closed_late(&l, fin ? (now - fin) / NS_PER_MS : -1);
    sl_in_shim = in_shim;
    errno = saved;
}

/* Before the real close of the last fd: a closed_late event if the watcher
 * reported it; a connected TCP socket closed by its last holder is queued
 * for the closed-first question (live_closed.c), with no syscall here. */
void sl_watcher_on_close(uint32_t id, struct sl_sock *s, int fd)
{
    struct sl_live_shared *r = __atomic_load_n(&region, __ATOMIC_ACQUIRE);
    struct sl_live_sock *e = entry_of(r, id, s);
    uint32_t flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
    if (e == NULL)
        return;
    /* fd still in the table: it already names another socket (dup2 onto it,
     * a reused number), so it cannot be asked about this one. */
    int askable = !sl_in_shim && sl_fd_get(fd) == 0 && __atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE);
    if (s->origin != SL_ORIGIN_INHERITED)
        __atomic_fetch_add(&r->closed, 1, __ATOMIC_RELAXED);
    if ((askable || (flags & SL_SOCK_CLOSED_UNTRACKED)) &&
        __atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE) &&
        (__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & SL_LIVE_REPORTED))
        closed_late(s, e, fd);
    int64_t fin = __atomic_load_n(&e->fin_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&e->gen, 0, __ATOMIC_RELEASE);
    /* A fork copy, or closed outside the shim: whether this side closed
     * first cannot be told (the connection may live on elsewhere). A FIN
     * seen (a 0-byte read, or the watcher's): the peer closed first. */
    if (!askable || !live_on() || !sl_sock_is_tcp(s) || fin || !sl_sock_last_holder(s) ||
        __atomic_load_n(&s->fin_ns, __ATOMIC_RELAXED) ||
        !((flags & SL_SOCK_CONNECTED) || s->origin == SL_ORIGIN_ACCEPT ||
          s->origin == SL_ORIGIN_ACCEPT4))
        return;
    /* No wake-up: the watcher paces itself by how fast the queue fills. */
    sl_live_closed_add(r, s->cookie, s->peer_len ? (const struct sockaddr_in6 *)&s->peer_addr : NULL,
                       s->sport, s->stack_id, sl_now_coarse_ns(),
                       (flags & SL_SOCK_PEER_WATCHED) != 0);
}

/* At exit (not from a signal handler: this allocates): the closes the
 * watcher has not classified yet are classified here, with one dump. */
uint64_t sl_watcher_closed_first(void)
{
    struct sl_live_shared *r = __atomic_load_n(&region, __ATOMIC_ACQUIRE);
    if (r == NULL)
        return 0;
    if (sl_live_closed_pending(r) > 0) {
        struct sl_diag *d = sl_diag_open();
        struct sl_diag_list l = { 0 };
        struct timespec ms = { 0, NS_PER_MS };
        /* the watcher may be at it: it finishes a batch in milliseconds */
        for (int i = 0; i < STOP_WAIT_MS && sl_live_closed_drain(r, d, &l, 1) < 0; i++)
            nanosleep(&ms, NULL);
        sl_diag_list_free(&l);
        sl_diag_close(d);
    }
    return __atomic_load_n(&r->closed_first, __ATOMIC_RELAXED);
}

/* Exit: no live event may follow the exit report. The watcher marks itself
 * busy before it writes; wait (bounded) for a write in progress. */
void sl_watcher_stop(void)
{
    struct sl_live_shared *r = __atomic_load_n(&region, __ATOMIC_ACQUIRE);
    if (r == NULL)
        return;
    __atomic_store_n(&r->stopping, 1, __ATOMIC_SEQ_CST);
    struct timespec ms = { 0, NS_PER_MS };
    for (int i = 0; i < STOP_WAIT_MS && __atomic_load_n(&r->busy, __ATOMIC_SEQ_CST); i++)
        nanosleep(&ms, NULL);
}

static void drop_all(int unmap)
{
    /* The parent's watcher, epoll set and region stay the parent's: drop
     * our copies; the child's next socket starts its own. */
    struct sl_live_shared *r = __atomic_exchange_n(&region, NULL, __ATOMIC_ACQ_REL);
    if (r != NULL && unmap)
        munmap(r, SL_LIVE_REGION_BYTES);
    sl_private_close(region_slot);
    sl_private_close(epoll_slot);
    sl_private_close(wake_slot);
    sl_private_close(alive_slot);
    sl_private_close(exec_slot);
    region_slot = epoll_slot = wake_slot = alive_slot = exec_slot = -1;
    if (alive_map != NULL)
        munmap(alive_map, ALIVE_BYTES);   /* the parent's watcher watches the parent */
    alive_map = NULL;
    fds_released = 0;
    own_spawned = 0;
    __atomic_store_n(&tight, -1, __ATOMIC_RELEASE);
    __atomic_store_n(&region_state, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&watcher_state, W_NONE, __ATOMIC_RELEASE);
    sl_stack_after_fork();
}

void sl_watcher_after_fork(void)
{
    drop_all(1);        /* the child is single-threaded: nobody uses the region */
}

void sl_watcher_detach(void)
{
    /* Other threads may be inside a hook with the region in hand: it stays
     * mapped (its memfd is closed, the watcher exits on its pipe). */
    drop_all(0);
}
