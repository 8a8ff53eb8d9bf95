/* ownfd.c -- the shim's own fds, kept in a zone of fd numbers the program
 * cannot reach, and the guards that keep them there (see ownfd.h). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "objrange.h"
#include "ownfd.h"
#include "real.h"

#define NSLOTS     16
#define ZONE_SPAN  64          /* how far above the soft limit we may go */
#define MOVING     (1 << 30)   /* slot state bit: a move waits for pins */

struct slot {
    _Atomic int fd1;           /* fd + 1; 0: free */
    _Atomic int state;         /* pin count | MOVING */
};

static struct slot slots[NSLOTS];
static _Atomic int zone_lo = INT_MAX;     /* lowest zone fd: the fast check */
static pthread_mutex_t zone_lock = PTHREAD_MUTEX_INITIALIZER;

static uintptr_t unwind_lo, unwind_hi;    /* libunwind's code */
__thread int sl_unwinding __attribute__((tls_model("initial-exec")));

/* Placements and the program's calls on fd numbers exclude each other.
 * A placement is everything between making a shim fd (memfd_create, pipe2,
 * open, ...) or choosing a new number for one, and closing the number it
 * leaves: the numbers involved are the shim's though the registry does not
 * say so yet (or any more). The calls are the program's dup2/dup3/F_DUPFD,
 * close_range/closefrom and setrlimit/prlimit setting the limit (reads of
 * it need nothing: the program's limit never moves, see run_above): each
 * announces itself, then looks at the other side (sequentially consistent:
 * of two racing sides at least one sees the other and waits).
 * Both sides are a few syscalls long. A thread never waits for itself (a
 * signal handler that interrupted its own placement or call), and every
 * wait is bounded, so nothing can hang on a count left behind. */
static _Atomic int placing, calling;
/* this thread's placements (nested; it counts once in placing) and calls
 * (each counts in calling) */
static __thread int my_placing __attribute__((tls_model("initial-exec")));
static __thread int my_calling __attribute__((tls_model("initial-exec")));
static __thread int my_cancel_state __attribute__((tls_model("initial-exec")));
#define EXCLUDE_WAIT_NS (500 * 1000000LL)

/* The program's closes and placements exclude each other too, so that a
 * close of a number the program does not hold fails with EBADF, as without
 * the shim, even when another thread's placement has just made its fd at
 * that number (the lowest free one) and not yet registered or moved it.
 * Each close announces itself in its thread's stripe (one cache line per
 * stripe, a thread keeps its stripe: threads share a line only beyond
 * NSTRIPES of them), then looks at placing; a placement, after announcing
 * itself in placing, waits until every stripe is drained: of a racing close
 * and placement, at least one sees the other (sequentially consistent). A
 * close waits while a placement runs (bounded, never for its own thread's:
 * a signal handler inside its own placement); a placement waits for the
 * closes in flight (bounded: a close may linger under SO_LINGER). A count a
 * thread can no longer take back (a signal handler that longjmp'ed out of a
 * close) is remembered as stale once a wait for it timed out, so it costs
 * one bounded wait, not one per placement. */
#define NSTRIPES 64
static struct stripe {
    _Atomic int closing;        /* closes in flight on this stripe */
    _Atomic int stale;          /* of those, counted as gone after a timeout */
} __attribute__((aligned(64))) closers[NSTRIPES];
static _Atomic unsigned next_stripe;
static __thread int my_stripe __attribute__((tls_model("initial-exec")));  /* index + 1 */
static __thread int my_closing __attribute__((tls_model("initial-exec")));

/* Numbers the shim just left for a dup2/dup3/F_DUPFD of the program's that
 * has not run yet: no placement may take them meanwhile (-1: free). */
#define NRESERVED 8
static _Atomic int reserved[NRESERVED] = { -1, -1, -1, -1, -1, -1, -1, -1 };

/* ---- the limit, read without our own hooks ---- */

static int get_nofile(struct rlimit *rl)
{
    return (int)syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, rl);
}

/* ---- placements and calls ---- */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Wait (bounded) until *count <= mine. */
static void wait_below(_Atomic int *count, int mine)
{
    int64_t deadline = 0;
    for (unsigned spins = 0; __atomic_load_n(count, __ATOMIC_SEQ_CST) > mine; spins++) {
        if ((spins & 63) == 0) {
            int64_t now = mono_ns();
            if (deadline == 0)
                deadline = now + EXCLUDE_WAIT_NS;
            else if (now > deadline)
                return;
        }
        sched_yield();
    }
}

/* Wait (bounded) until no other thread's close is in flight. */
static void drain_closes(void)
{
    int mine = my_stripe - 1;
    int64_t deadline = 0;
    for (int i = 0; i < NSTRIPES; i++) {
        struct stripe *st = &closers[i];
        for (unsigned spins = 0;; spins++) {
            int n = __atomic_load_n(&st->closing, __ATOMIC_SEQ_CST);
            int stale = __atomic_load_n(&st->stale, __ATOMIC_RELAXED);
            int allowed = (i == mine ? my_closing : 0) + stale;
            if (n < allowed && stale > 0)       /* a stale count came back */
                __atomic_compare_exchange_n(&st->stale, &stale, stale - 1, 0,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED);
            if (n <= allowed)
                break;
            if ((spins & 63) == 0) {
                int64_t now = mono_ns();
                if (deadline == 0) {
                    deadline = now + EXCLUDE_WAIT_NS;
                } else if (now > deadline) {
                    __atomic_store_n(&st->stale, n - (i == mine ? my_closing : 0),
                                     __ATOMIC_RELAXED);
                    break;
                }
            }
            sched_yield();
        }
    }
}

void sl_zone_make_begin(void)
{
    if (my_placing++ > 0)
        return;
    /* A cancelled thread must not leave the count behind. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &my_cancel_state);
    __atomic_fetch_add(&placing, 1, __ATOMIC_SEQ_CST);
    wait_below(&calling, my_calling);
    drain_closes();
}

/* A placement runs (or ran: count left behind): wait for it, bounded,
 * with the count taken back meanwhile; then count again. */
static void close_wait(_Atomic int *count)
{
    int64_t deadline = 0;
    while (__atomic_load_n(&placing, __ATOMIC_SEQ_CST) > (my_placing > 0)) {
        if (deadline != 0 && mono_ns() > deadline)
            return;     /* a count left behind: go on unprotected */
        __atomic_fetch_sub(count, 1, __ATOMIC_SEQ_CST);
        if (deadline == 0)
            deadline = mono_ns() + EXCLUDE_WAIT_NS;
        wait_below(&placing, my_placing > 0);
        __atomic_fetch_add(count, 1, __ATOMIC_SEQ_CST);
    }
}

/* glibc's cleanup chain (the one pthread_cleanup_push used before 2.3.3,
 * still run by the cancellation unwind for each frame it leaves): no
 * setjmp, and no personality routine (libunwind's _Unwind_* would answer
 * for libgcc's context). */
extern void _pthread_cleanup_push(struct _pthread_cleanup_buffer *buf,
                                  void (*routine)(void *), void *arg);
extern void _pthread_cleanup_pop(struct _pthread_cleanup_buffer *buf, int execute);

static void close_unwound(void *count)
{
    my_closing--;
    __atomic_fetch_sub((_Atomic int *)count, 1, __ATOMIC_SEQ_CST);
}

int sl_zone_close(int (*real)(int), int fd)
{
    int i = my_stripe - 1;
    if (__builtin_expect(i < 0, 0)) {
        i = (int)(__atomic_fetch_add(&next_stripe, 1, __ATOMIC_RELAXED) % NSTRIPES);
        my_stripe = i + 1;
    }
    _Atomic int *count = &closers[i].closing;
    __atomic_fetch_add(count, 1, __ATOMIC_SEQ_CST);
    if (__builtin_expect(__atomic_load_n(&placing, __ATOMIC_SEQ_CST) > 0, 0))
        close_wait(count);
    my_closing++;
    int rc = -1;
    if (sl_private_is(fd)) {
        errno = EBADF;      /* a number the shim made meanwhile */
    } else {
        /* close is a cancellation point: the count is taken back when the
         * thread is cancelled in it too */
        struct _pthread_cleanup_buffer buf;
        _pthread_cleanup_push(&buf, close_unwound, count);
        rc = real(fd);
        _pthread_cleanup_pop(&buf, 0);
    }
    my_closing--;
    __atomic_fetch_sub(count, 1, __ATOMIC_SEQ_CST);
    return rc;
}

void sl_zone_make_end(void)
{
    if (--my_placing > 0)
        return;
    __atomic_fetch_sub(&placing, 1, __ATOMIC_SEQ_CST);
    pthread_setcancelstate(my_cancel_state, NULL);
}

void sl_zone_call_begin(void)
{
    int64_t deadline = 0;
    for (;;) {
        __atomic_fetch_add(&calling, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&placing, __ATOMIC_SEQ_CST) <= (my_placing > 0))
            break;
        if (deadline != 0 && mono_ns() > deadline)
            break;      /* a count left behind: go on unprotected */
        __atomic_fetch_sub(&calling, 1, __ATOMIC_SEQ_CST);
        if (deadline == 0)
            deadline = mono_ns() + EXCLUDE_WAIT_NS;
        wait_below(&placing, my_placing > 0);
    }
    my_calling++;
}

void sl_zone_call_end(void)
{
    my_calling--;
    __atomic_fetch_sub(&calling, 1, __ATOMIC_SEQ_CST);
}

/* ---- numbers above the soft limit, the soft limit unmoved ---- */

/* RLIMIT_NOFILE belongs to a process (its thread group), the fd table to
 * whoever shares it. So a number above the program's soft limit is made by
 * a helper task that shares the program's memory and fd table but is a
 * process of its own (clone(CLONE_VM | CLONE_FILES | CLONE_VFORK |
 * CLONE_UNTRACED), exit signal 0): it raises ITS soft limit and makes the
 * fd (F_DUPFD_CLOEXEC, or an open at EMFILE) in the shared table, then
 * exits; the program's own limit never moves, so no thread of the program
 * can get a number above it, and /proc/self/limits and getrlimit never see
 * a value the program did not set. The caller's thread is suspended until
 * the helper exits (CLONE_VFORK) with every signal blocked (inherited by
 * the helper: no handler of the program's ever runs in it, nor on the
 * caller meanwhile); exit signal 0: no SIGCHLD, and the program's wait()/
 * waitpid(-1) never see it (only a __WCLONE or __WALL wait would); we reap
 * it with waitpid(pid, __WCLONE). Under the zone lock (one stack).
 * Where clone is refused (a seccomp filter returning an error, RLIMIT_NPROC,
 * pids.max) the zone is tight from then on (sl_zone_tight): fds go below
 * the soft limit and the shim keeps none once it can. */
struct above_job {
    long fd, from;              /* F_DUPFD_CLOEXEC(fd, from), or */
    const char *path;           /* open(path, flags, mode) when set */
    long flags, mode;
    rlim_t limit;               /* the helper's soft limit meanwhile */
    long result;                /* the call's result, or -errno */
};

static char above_stack[8192] __attribute__((aligned(64)));
static _Atomic int helper_state;    /* 0 not tried, 1 works, -1 refused */

static long raw4(long n, long a, long b, long c, long d)
{
    long rc;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(rc)
                     : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return rc;
}

/* In the helper: raw system calls only (it runs on the caller's TLS). */
static int above_helper(void *arg)
{
    struct above_job *j = arg;
    struct rlimit rl;
    long rc = raw4(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&rl);
    if (rc == 0 && j->limit > rl.rlim_cur) {
        struct rlimit raised = { j->limit, rl.rlim_max };
        rc = raw4(SYS_prlimit64, 0, RLIMIT_NOFILE, (long)&raised, 0);
    }
    if (rc == 0 && j->path != NULL)
        rc = raw4(SYS_openat, AT_FDCWD, (long)j->path, j->flags, j->mode);
    else if (rc == 0 && j->fd >= 0)
        rc = raw4(SYS_fcntl, j->fd, F_DUPFD_CLOEXEC, j->from, 0);
    j->result = rc;
    return 0;
}

/* The helper's soft limit: room for the zone above the program's. */
static rlim_t above_limit(const struct rlimit *rl)
{
    return rl->rlim_cur + ZONE_SPAN < rl->rlim_max ? rl->rlim_cur + ZONE_SPAN : rl->rlim_max;
}

/* Run j in a helper (zone lock held). 0 when it ran (j->result), -1 when
 * no helper can be made (errno kept). */
static int run_above(struct above_job *j)
{
    if (__atomic_load_n(&helper_state, __ATOMIC_ACQUIRE) < 0)
        return -1;
    int saved = errno;
    unsigned long all = ~0UL, old;
    raw4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, (long)&old, sizeof(all));
    j->result = -ENOSYS;
    pid_t pid = clone(above_helper, above_stack + sizeof(above_stack),
                      CLONE_VM | CLONE_FILES | CLONE_VFORK | CLONE_UNTRACED, j);
    raw4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, sizeof(old));
    if (pid < 0) {
        __atomic_store_n(&helper_state, -1, __ATOMIC_RELEASE);
        errno = saved;
        return -1;
    }
    /* (a __WALL wait of the program's may have reaped it: ECHILD) */
    while (waitpid(pid, NULL, __WCLONE) < 0 && errno == EINTR)
        ;
    __atomic_store_n(&helper_state, 1, __ATOMIC_RELEASE);
    errno = saved;
    return 0;
}

/* ---- placing an fd (zone lock held) ---- */

/* A CLOEXEC duplicate of fd at or above the soft limit when the hard limit
 * has room (made by a helper with its own raised limit: run_above), else at
 * the highest free number below min(soft, SL_ZONE_CEIL). fd stays open. -1
 * when no number is free. */
static int place_in(int fd);

static int place(int fd)
{
    sl_zone_make_begin();
    int high = place_in(fd);
    sl_zone_make_end();
    return high;
}

static int is_reserved(int fd)
{
    for (int i = 0; i < NRESERVED; i++)
        if (__atomic_load_n(&reserved[i], __ATOMIC_SEQ_CST) == fd)
            return 1;
    return 0;
}

/* 1 if fd could be reserved (the table has room). */
static int reserve(int fd)
{
    for (int i = 0; i < NRESERVED; i++) {
        int expected = -1;
        if (__atomic_compare_exchange_n(&reserved[i], &expected, fd, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return 1;
    }
    return 0;
}

static void unreserve(int fd)
{
    for (int i = 0; i < NRESERVED; i++) {
        int expected = fd;
        if (__atomic_compare_exchange_n(&reserved[i], &expected, -1, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return;
    }
}

static int place_in(int fd)
{
    struct rlimit rl;
    if (get_nofile(&rl) != 0)
        return -1;
    if (rl.rlim_cur < SL_ZONE_CEIL && rl.rlim_max > rl.rlim_cur) {
        struct above_job j = { .fd = fd, .from = (long)rl.rlim_cur, .limit = above_limit(&rl) };
        if (run_above(&j) == 0 && j.result >= 0)
            return (int)j.result;
    }
    int top = rl.rlim_cur < SL_ZONE_CEIL ? (int)rl.rlim_cur : SL_ZONE_CEIL;
    /* F_DUPFD gives the lowest free number >= k: walk k down from the top,
     * past numbers reserved for a dup2 of the program's about to run. */
    for (int k = top - 1; k > 2 && k >= top - 64; k--) {
        if (is_reserved(k))
            continue;
        int high = SL_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, k);
        if (high >= 0 && high < top && !is_reserved(high))
            return high;
        if (high >= 0)
            SL_REAL(close)(high);
        else if (errno != EMFILE)
            return -1;
    }
    return -1;
}

static void recompute_lo(void)
{
    int lo = INT_MAX;
    for (int i = 0; i < NSLOTS; i++) {
        int fd = __atomic_load_n(&slots[i].fd1, __ATOMIC_ACQUIRE) - 1;
        if (fd >= 0 && fd < lo)
            lo = fd;
    }
    __atomic_store_n(&zone_lo, lo, __ATOMIC_RELEASE);
}

/* Publish slot i's new fd: zone_lo first, so that no moment exists where
 * a guard would take the number for the program's (zone lock held). */
static void set_fd(int i, int fd)
{
    if (fd >= 0 && fd < __atomic_load_n(&zone_lo, __ATOMIC_ACQUIRE))
        __atomic_store_n(&zone_lo, fd, __ATOMIC_SEQ_CST);
    __atomic_store_n(&slots[i].fd1, fd + 1, __ATOMIC_SEQ_CST);
}

static int slot_of(int fd)
{
    for (int i = 0; i < NSLOTS; i++)
        if (__atomic_load_n(&slots[i].fd1, __ATOMIC_ACQUIRE) == fd + 1)
            return i;
    return -1;
}

/* Wait until nobody uses slot i's fd, and keep new users out. */
static void begin_move(int i)
{
    __atomic_fetch_or(&slots[i].state, MOVING, __ATOMIC_ACQ_REL);
    while ((__atomic_load_n(&slots[i].state, __ATOMIC_ACQUIRE) & ~MOVING) != 0)
        sched_yield();
}

static void end_move(int i)
{
    __atomic_fetch_and(&slots[i].state, ~MOVING, __ATOMIC_ACQ_REL);
}

/* Move slot i's fd to another zone number (zone lock held). */
static void rehome(int i)
{
    int fd = __atomic_load_n(&slots[i].fd1, __ATOMIC_ACQUIRE) - 1;
    if (fd < 0)
        return;
    begin_move(i);
    sl_zone_make_begin();       /* until the old number is closed */
    set_fd(i, place(fd));
    SL_REAL(close)(fd);
    end_move(i);
    recompute_lo();
    sl_zone_make_end();
}

/* ---- the registry ---- */

static int adopt(int fd, int move)
{
    if (fd < 0)
        return -1;
    sl_zone_make_begin();       /* until fd's number is closed */
    pthread_mutex_lock(&zone_lock);
    int high = move ? place(fd) : fd, slot = -1;
    if (move)
        SL_REAL(close)(fd);
    for (int i = 0; high >= 0 && i < NSLOTS && slot < 0; i++) {
        /* (all writers of a slot hold the zone lock) */
        if (__atomic_load_n(&slots[i].fd1, __ATOMIC_ACQUIRE) != 0)
            continue;
        __atomic_store_n(&slots[i].state, 0, __ATOMIC_RELEASE);
        set_fd(i, high);
        slot = i;
    }
    if (slot < 0 && high >= 0) {
        SL_REAL(close)(high);
        errno = EMFILE;
    }
    recompute_lo();
    pthread_mutex_unlock(&zone_lock);
    sl_zone_make_end();
    return slot;
}

int sl_private_adopt(int fd)
{
    return adopt(fd, 1);
}

int sl_private_register(int fd)
{
    return adopt(fd, 0);
}

int sl_private_fd(int slot)
{
    if (slot < 0 || slot >= NSLOTS)
        return -1;
    return __atomic_load_n(&slots[slot].fd1, __ATOMIC_ACQUIRE) - 1;
}

int sl_private_pin(int slot)
{
    if (slot < 0 || slot >= NSLOTS)
        return -1;
    struct slot *s = &slots[slot];
    for (;;) {
        int st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        if (st & MOVING) {
            sched_yield();
            continue;
        }
        if (__atomic_compare_exchange_n(&s->state, &st, st + 1, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            break;
    }
    int fd = __atomic_load_n(&s->fd1, __ATOMIC_ACQUIRE) - 1;
    if (fd < 0)
        __atomic_fetch_sub(&s->state, 1, __ATOMIC_ACQ_REL);
    return fd;
}

int sl_private_trypin(int slot)
{
    if (slot < 0 || slot >= NSLOTS)
        return -1;
    struct slot *s = &slots[slot];
    int st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if ((st & MOVING) || !__atomic_compare_exchange_n(&s->state, &st, st + 1, 0,
                                                      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return -1;
    int fd = __atomic_load_n(&s->fd1, __ATOMIC_ACQUIRE) - 1;
    if (fd < 0)
        __atomic_fetch_sub(&s->state, 1, __ATOMIC_ACQ_REL);
    return fd;
}

void sl_private_unpin(int slot)
{
    if (slot >= 0 && slot < NSLOTS)
        __atomic_fetch_sub(&slots[slot].state, 1, __ATOMIC_ACQ_REL);
}

static void release_slot(int slot, int do_close)
{
    if (slot < 0 || slot >= NSLOTS)
        return;
    /* A placement: between leaving the registry and the close, the number
     * is still ours, though no guard would say so. */
    sl_zone_make_begin();
    pthread_mutex_lock(&zone_lock);
    begin_move(slot);
    int fd = __atomic_exchange_n(&slots[slot].fd1, 0, __ATOMIC_ACQ_REL) - 1;
    if (fd >= 0 && do_close)
        SL_REAL(close)(fd);
    end_move(slot);
    recompute_lo();
    pthread_mutex_unlock(&zone_lock);
    sl_zone_make_end();
}

void sl_private_close(int slot)
{
    release_slot(slot, 1);
}

void sl_private_lost(int slot)
{
    release_slot(slot, 0);
}

int sl_private_is(int fd)
{
    if (fd < __atomic_load_n(&zone_lo, __ATOMIC_ACQUIRE))
        return 0;
    return slot_of(fd) >= 0;
}

/* ---- guards ---- */

/* Move ours off newfd if the program may have the number. Returns 1 if it
 * moved (then newfd is reserved for the program's call, if there was room),
 * 2 if ours stays (at or above the soft limit), 0 if newfd was not ours
 * any more. */
static int vacate(int newfd, int *reserved_it)
{
    struct rlimit rl;
    int rc = 0;
    pthread_mutex_lock(&zone_lock);
    int i = slot_of(newfd);
    /* At or above the soft limit the kernel refuses the program (EBADF,
     * EINVAL), exactly as it would without us: nothing to move. */
    if (i >= 0 && get_nofile(&rl) == 0 && (rlim_t)newfd < rl.rlim_cur) {
        /* before the number is free: no placement may take it back before
         * the program's call runs */
        if (reserved_it != NULL)
            *reserved_it = reserve(newfd);
        rehome(i);
        rc = 1;
    } else if (i >= 0) {
        rc = 2;
    }
    pthread_mutex_unlock(&zone_lock);
    return rc;
}

int sl_zone_dup_begin(int newfd)
{
    int held = -1;
    /* A few rounds at most: with the reservation table full, another
     * placement may take the number we just left before this call begins. */
    for (int round = 0;; round++) {
        sl_zone_call_begin();
        if (newfd < 0 || !sl_private_is(newfd) || round == 8)
            return held;
        sl_zone_call_end();
        int reserved_it = 0;
        if (vacate(newfd, held < 0 ? &reserved_it : NULL) == 2) {
            sl_zone_call_begin();
            return held;
        }
        if (reserved_it)
            held = newfd;
    }
}

void sl_zone_dup_end(int held)
{
    sl_zone_call_end();
    if (held >= 0)
        unreserve(held);
}

int sl_zone_close_range(unsigned first, unsigned last, int flags)
{
    int own[NSLOTS], n = 0, rc = 0, err = 0;
    /* No placement runs meanwhile: a fd we make or move cannot land in a
     * stretch being closed, and the registry holds still. */
    sl_zone_call_begin();
    for (int i = 0; i < NSLOTS; i++) {
        int fd = __atomic_load_n(&slots[i].fd1, __ATOMIC_ACQUIRE) - 1;
        if (fd >= 0 && (unsigned)fd >= first && (unsigned)fd <= last)
            own[n++] = fd;
    }
    /* insertion sort: n <= NSLOTS */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && own[j - 1] > own[j]; j--) {
            int t = own[j];
            own[j] = own[j - 1];
            own[j - 1] = t;
        }
    unsigned from = first;
    for (int i = 0; i <= n; i++) {
        /* the stretch before own[i], or the rest of the range */
        unsigned to = i < n ? (unsigned)own[i] - 1 : last;
        if ((i == n ? from <= last : (unsigned)own[i] > from) &&
            SL_REAL(close_range)(from, to, flags) != 0 && rc == 0) {
            rc = -1;
            err = errno;
            if (from == first)
                break;       /* the first call failed: nothing changed */
        }
        if (i < n)
            from = (unsigned)own[i] + 1;
    }
    sl_zone_call_end();
    if (rc != 0)
        errno = err;
    return rc;
}

int sl_zone_setrlimit(int (*set)(void *arg), void *arg)
{
    struct rlimit rl;
    /* A placement first (so the zone lock is never held while waiting for
     * the program's calls), then the lock. */
    sl_zone_make_begin();
    pthread_mutex_lock(&zone_lock);
    int rc = set(arg);
    int saved = errno;
    if (rc == 0 && get_nofile(&rl) == 0)
        for (int i = 0; i < NSLOTS; i++) {
            int fd = __atomic_load_n(&slots[i].fd1, __ATOMIC_ACQUIRE) - 1;
            if (fd >= 0 && (rlim_t)fd < rl.rlim_cur)
                rehome(i);
        }
    pthread_mutex_unlock(&zone_lock);
    sl_zone_make_end();
    errno = saved;
    return rc;
}

int sl_zone_tight(void)
{
    struct rlimit rl;
    if (get_nofile(&rl) != 0)
        return 1;
    /* room for every slot above the soft limit, or it is tight */
    if (!(rl.rlim_cur < SL_ZONE_CEIL && rl.rlim_max >= rl.rlim_cur + NSLOTS))
        return 1;
    /* and a helper to put fds there */
    if (__atomic_load_n(&helper_state, __ATOMIC_ACQUIRE) == 0) {
        struct above_job probe = { .fd = -1 };
        pthread_mutex_lock(&zone_lock);
        run_above(&probe);
        pthread_mutex_unlock(&zone_lock);
    }
    return __atomic_load_n(&helper_state, __ATOMIC_ACQUIRE) < 0;
}

int sl_zone_open(const char *path, int flags, mode_t mode)
{
    struct rlimit rl;
    int fd = open(path, flags, mode);
    if (fd >= 0 || errno != EMFILE)
        return fd;
    /* The program used every number: open one above its limit, where the
     * hard limit allows, in a helper (the program's limit never moves). */
    sl_zone_make_begin();
    pthread_mutex_lock(&zone_lock);
    if (get_nofile(&rl) == 0 && rl.rlim_max > rl.rlim_cur) {
        struct above_job j = { .fd = -1, .path = path, .flags = flags, .mode = mode,
                               .limit = above_limit(&rl) };
        if (run_above(&j) == 0) {
            fd = (int)j.result;
            if (j.result < 0) {
                errno = (int)-j.result;
                fd = -1;
            }
        }
    }
    pthread_mutex_unlock(&zone_lock);
    sl_zone_make_end();
    return fd;
}

void sl_zone_after_fork(void)
{
    /* Only this thread came along: no other holds the lock or a pin. */
    pthread_mutex_init(&zone_lock, NULL);
    __atomic_store_n(&placing, my_placing > 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&calling, my_calling, __ATOMIC_SEQ_CST);
    for (int i = 0; i < NSTRIPES; i++) {
        __atomic_store_n(&closers[i].closing, i == my_stripe - 1 ? my_closing : 0,
                         __ATOMIC_SEQ_CST);
        __atomic_store_n(&closers[i].stale, 0, __ATOMIC_RELAXED);
    }
    for (int i = 0; i < NSLOTS; i++)
        __atomic_store_n(&slots[i].state, 0, __ATOMIC_RELEASE);
}

/* ---- libunwind ---- */

/* Remember where libunwind's code is (given one of its functions). */
void sl_unwind_locate(const void *libunwind_fn)
{
    uintptr_t lo, hi;
    if (sl_object_range(libunwind_fn, &lo, &hi) != SL_OBJ_NONE) {
        unwind_lo = lo;
        unwind_hi = hi;
    }
}

int sl_unwind_from_libunwind(const void *caller)
{
    uintptr_t pc = (uintptr_t)caller;
    return pc >= unwind_lo && pc < unwind_hi;
}

/* libunwind's pipe2 at its first unwind (tdep_init): no pipe at all. It
 * keeps -1 for both ends, and its reads and writes of them come here. */
int sl_unwind_pipe2(int fds[2], int flags)
{
    (void)flags;
    fds[0] = fds[1] = -1;
    return 0;
}

/* The drain of its pipe before each check: always empty, as a pipe of its
 * own would be. Other reads (its own files) are real. */
ssize_t sl_unwind_read(int fd, void *buf, size_t n)
{
    if (n == 1) {
        errno = EAGAIN;
        return -1;
    }
    return SL_REAL(read)(fd, buf, n);
}

/* Its check that addr is readable (a write of one byte from addr to its
 * pipe, EFAULT if not): the same answer from process_vm_readv of our own
 * memory, which needs no fd. Where a sandbox refuses that call, a pipe
 * made for the one check. */
long sl_unwind_validate(const void *addr)
{
    static _Atomic int no_vm_readv;
    char byte;
    if (!__atomic_load_n(&no_vm_readv, __ATOMIC_RELAXED)) {
        struct iovec local = { &byte, 1 }, remote = { (void *)addr, 1 };
        ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        if (n == 1 || errno == EFAULT)
            return n;
        __atomic_store_n(&no_vm_readv, 1, __ATOMIC_RELAXED);
    }
    int p[2];
    long rc = -1;
    sl_zone_make_begin();       /* the pipe's numbers are ours until closed */
    if (SL_REAL(pipe2)(p, O_CLOEXEC | O_NONBLOCK) == 0) {
        rc = SL_REAL(syscall)(SYS_write, p[1], addr, 1);
        int saved = errno;
        SL_REAL(close)(p[0]);
        SL_REAL(close)(p[1]);
        errno = saved;
    }
    sl_zone_make_end();
    return rc;
}
