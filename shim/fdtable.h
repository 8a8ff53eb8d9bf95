/* fdtable.h -- fd number -> socket record id, two levels, lock-free
 * (ThreadSanitizer's tsan_fd.cpp layout). */
#ifndef SL_FDTABLE_H
#define SL_FDTABLE_H

#include <stdint.h>

#define SL_FD_CHUNK 4096   /* fds per lazily allocated second-level chunk */

/* Size the first level for max_fds fds (use /proc/sys/fs/nr_open, since
 * RLIMIT_NOFILE can be raised at run time). Returns 0 or -errno. */
int sl_fdtable_init(unsigned max_fds);

/* Largest fd the table can hold + 1. */
unsigned sl_fdtable_capacity(void);

/* The record id stored for fd, 0 when none. Never allocates: one load of the
 * first level and one of the chunk, so it is fine on the read() hot path. */
uint32_t sl_fd_get(int fd);

/* Store id for fd, allocating its chunk on first use; returns the id that was
 * there before (0: none), or 0 when fd is out of range or memory ran out. */
uint32_t sl_fd_set(int fd, uint32_t id);

/* Remove fd's entry; returns the id that was there (0: none). */
uint32_t sl_fd_take(int fd);

/* Remove fd's entry only if it still holds id; returns 1 if it did. */
int sl_fd_take_if(int fd, uint32_t id);

/* Call fn for every fd in [first, last] that has an entry, in fd order.
 * Entries may change concurrently; fn sees each entry's value at one time. */
void sl_fd_foreach(unsigned first, unsigned last,
                   void (*fn)(int fd, uint32_t id, void *arg), void *arg);

/* Drop every entry (unit tests). */
void sl_fdtable_clear(void);

#endif
