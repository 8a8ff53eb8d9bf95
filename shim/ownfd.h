/* ownfd.h -- the shim's own fds and the zone they live in, out of the
 * program's reach.
 *
 * Every fd the shim keeps between calls (the report file, the stack store,
 * the watcher's memfd, epoll set, eventfd and pipe) is CLOEXEC and
 * registered here, in a slot. The zone is at or above the program's soft
 * RLIMIT_NOFILE when the hard limit leaves room and the soft limit is below
 * SL_ZONE_CEIL: no open/socket/dup2/F_DUPFD of the program can reach a number
 * there. The program's soft limit never moves: a helper task sharing the fd
 * table, with a soft limit of its own, puts our fds there (ownfd.c:
 * run_above). Otherwise the zone is the highest free numbers below
 * min(soft limit, SL_ZONE_CEIL). Either way:
 *   - close/__close of a zone number from the program: -1/EBADF, ours stays;
 *   - close_range/closefrom skip zone numbers;
 *   - dup2/dup3/F_DUPFD onto a zone number: ours moves first;
 *   - setrlimit/prlimit raising the soft limit: zone fds it exposes move.
 * A moved fd gets a new number: owners look it up by slot each time, and pin
 * it (sl_private_pin/unpin) around each use so it cannot move mid-call. */
#ifndef SL_OWNFD_H
#define SL_OWNFD_H

#include <sys/resource.h>
#include <sys/types.h>

/* Above this the fd table a zone fd forces on the program (8 bytes a
 * number, copied at every fork) costs more than the numbers are worth. */
#define SL_ZONE_CEIL 4096

/* Move fd into the zone (CLOEXEC) and register it. Returns a slot >= 0, or
 * -1 with fd closed when there is no slot or no free zone number. When the
 * program needs the number, the fd moves to another. */
int sl_private_adopt(int fd);

/* Register fd at the number it has (a process with no program fds to
 * protect: the watcher). Returns a slot, or -1 with fd closed. */
int sl_private_register(int fd);

/* The slot's current fd, -1 once closed or dropped. Unpinned: only for
 * owners whose fd cannot move under them (single-threaded use). */
int sl_private_fd(int slot);

/* The slot's fd, held at its number until sl_private_unpin (keep it short:
 * a move of that fd waits). -1 when the slot is empty (no pin taken). */
int sl_private_pin(int slot);
/* The same, but -1 at once while the fd is being moved (a signal handler,
 * which may have interrupted the move itself). */
int sl_private_trypin(int slot);
void sl_private_unpin(int slot);

/* Close the slot's fd (the real close) and free the slot. */
void sl_private_close(int slot);

/* Forget the slot without closing its number (the number is no longer
 * ours, e.g. a fork child's copy the parent still uses). */
void sl_private_lost(int slot);

/* fd is a zone fd (lock-free, one compare for most numbers). */
int sl_private_is(int fd);

/* 1 when the numbers out of the program's reach are too few for the zone
 * (the hard limit leaves less than a slot's worth of room above the soft
 * one, or the soft one is at SL_ZONE_CEIL or more), or no helper task can
 * be made to put fds there (clone refused): then every fd the shim
 * keeps is one the program loses, and the shim keeps none once it can
 * (live_host.c, output.c, stackdepot.c). */
int sl_zone_tight(void);

/* open(2), but when the program has used every fd number below its soft
 * limit (EMFILE), open above it if the hard limit allows (in a helper task:
 * the program's limit never moves). */
int sl_zone_open(const char *path, int flags, mode_t mode);

/* ---- guards, called by the hooks ---- */

/* Placements and the program's calls on fd numbers exclude each other.
 * Around making a new fd of ours (memfd_create, pipe2, open, ...) until it
 * is adopted or closed: no dup2/dup3/F_DUPFD/close_range/closefrom of the
 * program runs meanwhile (they wait), so the number the kernel gave
 * us is never replaced or closed under us. Nests; a thread never waits for itself; waits are
 * bounded. Adopting, moving and closing a zone fd are placements too. */
void sl_zone_make_begin(void);
void sl_zone_make_end(void);

/* The program's close/__close/syscall(SYS_close) of fd, after recording
 * it: real(fd), or -1/EBADF when fd is a zone fd by then. Meanwhile no
 * placement makes an fd (it waits), and while one runs the close waits for
 * it: a number the shim just made is never closed by the program. */
int sl_zone_close(int (*real)(int), int fd);

/* Around such a call of the program's (the real call only). */
void sl_zone_call_begin(void);
void sl_zone_call_end(void);

/* Before dup2/dup3(..., newfd) or F_DUPFD(..., newfd): if newfd is ours and
 * the program may have it, move ours away first (newfd stays reserved for
 * this call: no placement takes it back); then begin the call. After the
 * real call: sl_zone_dup_end. */
int sl_zone_dup_begin(int newfd);        /* returns what dup_end takes */
void sl_zone_dup_end(int held);

/* Run close_range(first, last, flags) over [first, last] minus the zone;
 * returns what one close_range would have. */
int sl_zone_close_range(unsigned first, unsigned last, int flags);

/* setrlimit/prlimit of RLIMIT_NOFILE: run set() under the zone lock (no
 * placement reads the limit meanwhile), then move every zone fd the new
 * soft limit exposes. set returns the real call's result. */
int sl_zone_setrlimit(int (*set)(void *arg), void *arg);

/* ---- libunwind's validation pipe ---- */

/* libunwind (x86_64 Ginit.c) validates memory by writing one byte from the
 * address to a pipe it opens at its first unwind (read() to drain it, then
 * syscall(SYS_write)). Its pipe2/read/syscall calls made while the shim
 * unwinds come here: it gets no pipe (-1, -1), its drain reads nothing, and
 * its write becomes a process_vm_readv of our own memory. So the shim holds
 * no fd for it, and no number it remembers can be a program fd's. */
extern __thread int sl_unwinding __attribute__((tls_model("initial-exec")));
void sl_unwind_locate(const void *libunwind_fn);   /* at init */
int sl_unwind_from_libunwind(const void *caller);
int sl_unwind_pipe2(int fds[2], int flags);
ssize_t sl_unwind_read(int fd, void *buf, size_t n);
long sl_unwind_validate(const void *addr);   /* what write(fd, addr, 1) says */

/* A fork child (after fork/_Fork): the zone lock is reset (its holder was
 * another thread of the parent). */
void sl_zone_after_fork(void);

#endif
