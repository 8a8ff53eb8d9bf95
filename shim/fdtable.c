/* fdtable.c -- two-level fd table: first level sized for nr_open at start,
 * second-level chunks mmap'ed on first use and installed with compare-and-swap,
 * so lookups never lock and never allocate. */
#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>

#include "fdtable.h"

typedef _Atomic uint32_t fd_slot;

static _Atomic(fd_slot *) *level1;   /* level1[fd / SL_FD_CHUNK] -> chunk */
static unsigned level1_len;

static void *map_zeroed(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int sl_fdtable_init(unsigned max_fds)
{
    if (level1 != NULL)
        return 0;
    unsigned len = (max_fds + SL_FD_CHUNK - 1) / SL_FD_CHUNK;
    if (len == 0)
        len = 1;
    void *l1 = map_zeroed(len * sizeof(*level1));
    if (l1 == NULL)
        return -ENOMEM;
    level1_len = len;
    level1 = l1;
    return 0;
}

unsigned sl_fdtable_capacity(void)
{
    return level1_len * SL_FD_CHUNK;
}

static fd_slot *slot(int fd, int create)
{
    if (fd < 0 || level1 == NULL || (unsigned)fd / SL_FD_CHUNK >= level1_len)
        return NULL;
    _Atomic(fd_slot *) *l1 = &level1[(unsigned)fd / SL_FD_CHUNK];
    fd_slot *chunk = *l1;
    if (chunk == NULL) {
        if (!create)
            return NULL;
        fd_slot *fresh = map_zeroed(SL_FD_CHUNK * sizeof(fd_slot));
        if (fresh == NULL)
            return NULL;
        fd_slot *expected = NULL;
        if (__atomic_compare_exchange_n(l1, &expected, fresh, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            chunk = fresh;
        } else {
            /* Another thread installed its chunk first: use that one. */
            munmap(fresh, SL_FD_CHUNK * sizeof(fd_slot));
            chunk = expected;
        }
    }
    return &chunk[(unsigned)fd % SL_FD_CHUNK];
}

uint32_t sl_fd_get(int fd)
{
    fd_slot *s = slot(fd, 0);
    return s ? __atomic_load_n(s, __ATOMIC_ACQUIRE) : 0;
}

uint32_t sl_fd_set(int fd, uint32_t id)
{
    fd_slot *s = slot(fd, 1);
    return s ? __atomic_exchange_n(s, id, __ATOMIC_ACQ_REL) : 0;
}

uint32_t sl_fd_take(int fd)
{
    fd_slot *s = slot(fd, 0);
    return s ? __atomic_exchange_n(s, 0, __ATOMIC_ACQ_REL) : 0;
}

int sl_fd_take_if(int fd, uint32_t id)
{
    fd_slot *s = slot(fd, 0);
    return s != NULL && __atomic_compare_exchange_n(s, &id, 0, 0, __ATOMIC_ACQ_REL,
                                                    __ATOMIC_ACQUIRE);
}

void sl_fd_foreach(unsigned first, unsigned last,
                   void (*fn)(int fd, uint32_t id, void *arg), void *arg)
{
    if (level1 == NULL)
        return;
    unsigned cap = sl_fdtable_capacity();
    if (last >= cap)
        last = cap - 1;
    for (unsigned c = first / SL_FD_CHUNK; c <= last / SL_FD_CHUNK; c++) {
        fd_slot *chunk = __atomic_load_n(&level1[c], __ATOMIC_ACQUIRE);
        if (chunk == NULL)
            continue;
        unsigned lo = c * SL_FD_CHUNK, hi = lo + SL_FD_CHUNK - 1;
        if (lo < first) lo = first;
        if (hi > last) hi = last;
        for (unsigned fd = lo; fd <= hi; fd++) {
            uint32_t id = __atomic_load_n(&chunk[fd % SL_FD_CHUNK], __ATOMIC_ACQUIRE);
            if (id != 0)
                fn((int)fd, id, arg);
        }
    }
}

static void take_cb(int fd, uint32_t id, void *arg)
{
    (void)id;
    (void)arg;
    sl_fd_take(fd);
}

void sl_fdtable_clear(void)
{
    sl_fd_foreach(0, ~0u, take_cb, NULL);
}
