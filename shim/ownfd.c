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
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "objrange.h"
#include "ownfd.h"
#include "real.h"

#define NSLOTS     16
#define NSTALE     8
#define ZONE_SPAN  64          /* how far above the soft limit we may go */
#define MOVING     (1 << 30)   /* slot state bit: a move waits for pins */

struct slot {
    _Atomic int fd1;           /* fd + 1; 0: free */
    _Atomic int state;         /* pin count | MOVING */
    int kind;                  /* enum sl_own_kind */
};

static struct slot slots[NSLOTS];
static _Atomic int zone_lo = INT_MAX;     /* lowest zone fd: the fast check */
static pthread_mutex_t zone_lock = PTHREAD_MUTEX_INITIALIZER;

/* libunwind's pipe: its two slots, and numbers it had that we closed since
 * (it still remembers them; a program fd may have the number now). */
static _Atomic int unwind_slot[2] = { -1, -1 };
static _Atomic int stale[NSTALE] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static uintptr_t unwind_lo, unwind_hi;    /* libunwind's code */
__thread int sl_unwinding __attribute__((tls_model("initial-exec")));
/* Threads inside an unwind, and moves of libunwind's pipe waiting for them
 * to leave: libunwind checks its pipe with read() but writes to it with a
 * raw syscall() a moment later, so its pipe must not change number while
 * any thread is between the two. */
static _Atomic int unwinders, draining;

/* ---- limits, read and set without our own hooks ---- */

static int get_nofile(struct rlimit *rl)
{
    return (int)syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, rl);
}

static int set_nofile(const struct rlimit *rl)
{
    return (int)syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, rl, NULL);
}

/* ---- placing an fd (zone lock held) ---- */

/* A CLOEXEC duplicate of fd at or above the soft limit when the hard limit
 * has room (the soft limit is raised for the one fcntl, then restored),
 * else at the highest free number below min(soft, SL_ZONE_CEIL). fd stays
 * open. -1 when no number is free. */
static int place(int fd)
{
    struct rlimit rl;
    if (get_nofile(&rl) != 0)
        return -1;
    if (rl.rlim_cur < SL_ZONE_CEIL && rl.rlim_max > rl.rlim_cur) {
        struct rlimit raised = { rl.rlim_cur + ZONE_SPAN, rl.rlim_max };
        if (raised.rlim_cur > rl.rlim_max)
            raised.rlim_cur = rl.rlim_max;
        if (set_nofile(&raised) == 0) {
            int high = SL_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, (int)rl.rlim_cur);
            set_nofile(&rl);
            if (high >= 0)
                return high;
        }
    }
    int top = rl.rlim_cur < SL_ZONE_CEIL ? (int)rl.rlim_cur : SL_ZONE_CEIL;
    /* F_DUPFD gives the lowest free number >= k: walk k down from the top. */
    for (int k = top - 1; k > 2 && k >= top - 64; k--) {
        int high = SL_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, k);
        if (high >= 0 && high < top)
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

static int slot_of(int fd)
{
    for (int i = 0; i < NSLOTS; i++)
        if (__atomic_load_n(&slots[i].fd1, __ATOMIC_ACQUIRE) == fd + 1)
            return i;
    return -1;
}

static void add_stale(int fd)
{
    for (int i = 0; i < NSTALE; i++) {
        int expected = -1;
        if (__atomic_compare_exchange_n(&stale[i], &expected, fd, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return;
    }
    /* Full: forget the oldest guess; libunwind reopens long before. */
    __atomic_store_n(&stale[0], fd, __ATOMIC_RELEASE);
}

static int take_stale(int fd)
{
    for (int i = 0; i < NSTALE; i++) {
        int expected = fd;
        if (fd >= 0 && __atomic_compare_exchange_n(&stale[i], &expected, -1, 0,
                                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 1;
    }
    return 0;
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

static void rehome_one(int i);

/* Give up slot i's number: move the fd (MOVE) or close it (DROP). Zone lock
 * held. libunwind's two pipe ends go together: with only one end closed it
 * would still find its pipe readable and write to the other number. */
static void rehome(int i)
{
    if (slots[i].kind != SL_OWN_DROP) {
        rehome_one(i);
        return;
    }
    for (int j = 0; j < NSLOTS; j++)
        if (slots[j].kind == SL_OWN_DROP && __atomic_load_n(&slots[j].fd1, __ATOMIC_ACQUIRE))
            rehome_one(j);
    for (int end = 0; end < 2; end++)
        __atomic_store_n(&unwind_slot[end], -1, __ATOMIC_RELEASE);
}

static void rehome_one(int i)
{
    int fd = __atomic_load_n(&slots[i].fd1, __ATOMIC_ACQUIRE) - 1;
    if (fd < 0)
        return;
    begin_move(i);
    int high = slots[i].kind == SL_OWN_MOVE ? place(fd) : -1;
    __atomic_store_n(&slots[i].fd1, high + 1, __ATOMIC_RELEASE);
    SL_REAL(close)(fd);
    if (slots[i].kind == SL_OWN_DROP)
        add_stale(fd);
    end_move(i);
    recompute_lo();
}

/* ---- the registry ---- */

static int adopt(int fd, enum sl_own_kind kind, int move)
{
    if (fd < 0)
        return -1;
    pthread_mutex_lock(&zone_lock);
    int high = move ? place(fd) : fd, slot = -1;
    if (move)
        SL_REAL(close)(fd);
    for (int i = 0; high >= 0 && i < NSLOTS && slot < 0; i++) {
        /* (all writers of a slot hold the zone lock) */
        if (__atomic_load_n(&slots[i].fd1, __ATOMIC_ACQUIRE) != 0)
            continue;
        slots[i].kind = kind;
        __atomic_store_n(&slots[i].state, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&slots[i].fd1, high + 1, __ATOMIC_RELEASE);
        slot = i;
    }
    if (slot < 0 && high >= 0) {
        SL_REAL(close)(high);
        errno = EMFILE;
    }
    recompute_lo();
    pthread_mutex_unlock(&zone_lock);
    return slot;
}

int sl_private_adopt(int fd, enum sl_own_kind kind)
{
    return adopt(fd, kind, 1);
}

int sl_private_register(int fd, enum sl_own_kind kind)
{
    return adopt(fd, kind, 0);
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

void sl_private_unpin(int slot)
{
    if (slot >= 0 && slot < NSLOTS)
        __atomic_fetch_sub(&slots[slot].state, 1, __ATOMIC_ACQ_REL);
}

static void release_slot(int slot, int do_close)
{
    if (slot < 0 || slot >= NSLOTS)
        return;
    pthread_mutex_lock(&zone_lock);
    begin_move(slot);
    int fd = __atomic_exchange_n(&slots[slot].fd1, 0, __ATOMIC_ACQ_REL) - 1;
    if (fd >= 0 && do_close)
        SL_REAL(close)(fd);
    end_move(slot);
    recompute_lo();
    pthread_mutex_unlock(&zone_lock);
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

/* ---- unwinds and moves of libunwind's pipe ---- */

int sl_unwind_enter(void)
{
    for (int i = 0; i < 2000; i++) {
        if (!__atomic_load_n(&draining, __ATOMIC_SEQ_CST)) {
            __atomic_fetch_add(&unwinders, 1, __ATOMIC_SEQ_CST);
            if (!__atomic_load_n(&draining, __ATOMIC_SEQ_CST))
                return 1;
            __atomic_fetch_sub(&unwinders, 1, __ATOMIC_SEQ_CST);
        }
        struct timespec ts = { 0, 50 * 1000 };
        nanosleep(&ts, NULL);
    }
    return 0;   /* a move that never ends (it interrupted us): no stack */
}

void sl_unwind_leave(void)
{
    __atomic_fetch_sub(&unwinders, 1, __ATOMIC_SEQ_CST);
}

/* Keep new unwinds out and wait for running ones (not for our own: a
 * signal handler that interrupted this thread's unwind). Not under the
 * zone lock: an unwind may need it to make its pipe. */
static void drain_begin(void)
{
    __atomic_fetch_add(&draining, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&unwinders, __ATOMIC_SEQ_CST) > (sl_unwinding ? 1 : 0))
        sched_yield();
}

static void drain_end(void)
{
    __atomic_fetch_sub(&draining, 1, __ATOMIC_SEQ_CST);
}

/* ---- guards ---- */

void sl_zone_vacate(int newfd)
{
    struct rlimit rl;
    if (newfd < 0 || !sl_private_is(newfd))
        return;
    int i0 = slot_of(newfd);
    int drain = i0 >= 0 && slots[i0].kind == SL_OWN_DROP;
    if (drain)
        drain_begin();
    pthread_mutex_lock(&zone_lock);
    int i = slot_of(newfd);
    /* At or above the soft limit the kernel refuses the program (EBADF,
     * EINVAL), exactly as it would without us: nothing to move. */
    if (i >= 0 && get_nofile(&rl) == 0 && (rlim_t)newfd < rl.rlim_cur)
        rehome(i);
    pthread_mutex_unlock(&zone_lock);
    if (drain)
        drain_end();
}

int sl_zone_close_range(unsigned first, unsigned last, int flags)
{
    int own[NSLOTS], n = 0, rc = 0, err = 0;
    /* Under the zone lock: a fd we adopt meanwhile must not land in a
     * stretch being closed. */
    pthread_mutex_lock(&zone_lock);
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
    pthread_mutex_unlock(&zone_lock);
    if (rc != 0)
        errno = err;
    return rc;
}

int sl_zone_setrlimit(int (*set)(void *arg), void *arg)
{
    struct rlimit rl;
    drain_begin();
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
    drain_end();
    errno = saved;
    return rc;
}

int sl_zone_open(const char *path, int flags, mode_t mode)
{
    struct rlimit rl;
    int fd = open(path, flags, mode);
    if (fd >= 0 || errno != EMFILE)
        return fd;
    /* The program used every number: borrow one above its limit, where the
     * hard limit allows, for as long as the open takes. */
    pthread_mutex_lock(&zone_lock);
    if (get_nofile(&rl) == 0 && rl.rlim_max > rl.rlim_cur) {
        struct rlimit raised = { rl.rlim_cur + ZONE_SPAN, rl.rlim_max };
        if (raised.rlim_cur > rl.rlim_max)
            raised.rlim_cur = rl.rlim_max;
        if (set_nofile(&raised) == 0) {
            fd = open(path, flags, mode);
            set_nofile(&rl);
        }
    }
    pthread_mutex_unlock(&zone_lock);
    return fd;
}

void sl_zone_after_fork(void)
{
    /* Only this thread came along: no other holds the lock or a pin. */
    pthread_mutex_init(&zone_lock, NULL);
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

static int unwind_fd(int end)
{
    return sl_private_fd(__atomic_load_n(&unwind_slot[end], __ATOMIC_ACQUIRE));
}

int sl_unwind_pipe2(int fds[2], int flags)
{
    int raw[2];
    if (SL_REAL(pipe2)(raw, flags) != 0)
        return -1;
    int r = sl_private_adopt(raw[0], SL_OWN_DROP);
    int w = r >= 0 ? sl_private_adopt(raw[1], SL_OWN_DROP) : (SL_REAL(close)(raw[1]), -1);
    if (w < 0) {
        sl_private_close(r);
        errno = EMFILE;   /* libunwind then treats memory as unreadable */
        return -1;
    }
    __atomic_store_n(&unwind_slot[0], r, __ATOMIC_RELEASE);
    __atomic_store_n(&unwind_slot[1], w, __ATOMIC_RELEASE);
    fds[0] = sl_private_fd(r);
    fds[1] = sl_private_fd(w);
    return 0;
}

void sl_unwind_pipe_drop(void)
{
    drain_begin();
    pthread_mutex_lock(&zone_lock);
    for (int end = 0; end < 2; end++) {
        int slot = __atomic_load_n(&unwind_slot[end], __ATOMIC_ACQUIRE);
        if (slot >= 0 && __atomic_load_n(&slots[slot].fd1, __ATOMIC_ACQUIRE)) {
            rehome(slot);          /* closes both ends, remembers the numbers */
            break;
        }
    }
    pthread_mutex_unlock(&zone_lock);
    drain_end();
}

ssize_t sl_unwind_read(int fd, void *buf, size_t n)
{
    /* Only its current pipe: any other number makes it reopen the pipe. */
    if (fd >= 0 && fd == unwind_fd(0))
        return SL_REAL(read)(fd, buf, n);
    errno = EBADF;
    return -1;
}

int sl_unwind_close(int fd)
{
    for (int end = 0; end < 2; end++)
        if (fd >= 0 && fd == unwind_fd(end)) {
            int slot = __atomic_exchange_n(&unwind_slot[end], -1, __ATOMIC_ACQ_REL);
            sl_private_close(slot);
            return 0;
        }
    if (take_stale(fd))
        return 0;            /* ours once, closed already: not its to close */
    if (sl_private_is(fd)) {
        errno = EBADF;
        return -1;
    }
    return SL_REAL(close)(fd);   /* an ELF file libunwind opened itself */
}
