/* stackdepot.c -- an append-only arena of stacks with a lock-free hash index.
 * Entries are never freed, so a stack id stays valid for the process's life
 * and readers need no lock. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>

#include "stackdepot.h"

#define ARENA_BYTES  (64u << 20)  /* reserved, only touched pages cost memory */
#define NBUCKETS     (1u << 16)

struct stack {
    uint32_t next;       /* id of the next stack in the bucket, 0: end */
    uint32_t hash;
    uint32_t n;
    uint32_t pad;
    uintptr_t pcs[];
};

static char *arena;
static _Atomic uint32_t arena_used = 8;   /* offset 0 is never an id */
static _Atomic uint32_t buckets[NBUCKETS];
static _Atomic unsigned nstacks;
static uintptr_t own_lo, own_hi;         /* the shim's executable range */

static int find_own_range(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t probe = (uintptr_t)data, lo = ~(uintptr_t)0, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (start < lo) lo = start;
        if (start + ph->p_memsz > hi) hi = start + ph->p_memsz;
    }
    if (probe < lo || probe >= hi)
        return 0;
    /* Linked into an executable (the unit tests), the "shim" is the whole
     * program: drop nothing then. */
    if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0')
        return 1;
    own_lo = lo;
    own_hi = hi;
    return 1;
}

void sl_stack_init(void)
{
    if (arena == NULL) {
        void *p = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        arena = p == MAP_FAILED ? NULL : p;
    }
    dl_iterate_phdr(find_own_range, (void *)(uintptr_t)&sl_stack_init);
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

static uint32_t hash_pcs(const uintptr_t *pcs, unsigned n)
{
    uint64_t h = 1469598103934665603ull;          /* FNV-1a over the words */
    for (unsigned i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 1099511628211ull;
    }
    return (uint32_t)(h ^ (h >> 32));
}

static struct stack *stack_at(uint32_t id)
{
    return (struct stack *)(arena + (size_t)id * 8);
}

static uint32_t find(uint32_t head, uint32_t hash, const uintptr_t *pcs, unsigned n)
{
    for (uint32_t id = head; id != 0; id = stack_at(id)->next) {
        struct stack *s = stack_at(id);
        if (s->hash == hash && s->n == n && memcmp(s->pcs, pcs, n * sizeof(*pcs)) == 0)
            return id;
    }
    return 0;
}

uint32_t sl_stack_put(const uintptr_t *pcs, unsigned n)
{
    if (arena == NULL)
        return 0;
    if (n > SL_STACK_MAX)
        n = SL_STACK_MAX;
    uint32_t hash = hash_pcs(pcs, n);
    _Atomic uint32_t *bucket = &buckets[hash % NBUCKETS];
    uint32_t head = __atomic_load_n(bucket, __ATOMIC_ACQUIRE);
    uint32_t id = find(head, hash, pcs, n);
    if (id != 0)
        return id;

    uint32_t bytes = (uint32_t)(sizeof(struct stack) + n * sizeof(uintptr_t));
    uint32_t off = __atomic_fetch_add(&arena_used, bytes, __ATOMIC_RELAXED);
    if ((uint64_t)off + bytes > ARENA_BYTES)
        return 0;
    id = off / 8;
    struct stack *s = stack_at(id);
    s->hash = hash;
    s->n = n;
    memcpy(s->pcs, pcs, n * sizeof(*pcs));
    do {
        /* Someone may have added the same stack since we looked: reuse it
         * (our arena bytes are wasted, which is rare and harmless). */
        uint32_t other = find(head, hash, pcs, n);
        if (other != 0)
            return other;
        s->next = head;
    } while (!__atomic_compare_exchange_n(bucket, &head, id, 0,
                                          __ATOMIC_RELEASE, __ATOMIC_ACQUIRE));
    __atomic_fetch_add(&nstacks, 1, __ATOMIC_RELAXED);
    return id;
}

unsigned sl_stack_get(uint32_t id, const uintptr_t **pcs)
{
    uint32_t used = __atomic_load_n(&arena_used, __ATOMIC_ACQUIRE);
    if (arena == NULL || id == 0 || (uint64_t)id * 8 >= used) {
        *pcs = NULL;
        return 0;
    }
    struct stack *s = stack_at(id);
    *pcs = s->pcs;
    return s->n;
}

uint32_t sl_stack_capture(unsigned depth)
{
    void *raw[SL_STACK_MAX + 16];
    if (depth == 0 || depth > SL_STACK_MAX)
        depth = SL_STACK_MAX;
    int n = unw_backtrace(raw, (int)(depth + 16));
    int skip = 0;
    while (skip < n && (uintptr_t)raw[skip] >= own_lo && (uintptr_t)raw[skip] < own_hi)
        skip++;
    unsigned keep = (unsigned)(n - skip) < depth ? (unsigned)(n - skip) : depth;
    return sl_stack_put((const uintptr_t *)(raw + skip), keep);
}

unsigned sl_stack_count(void)
{
    return __atomic_load_n(&nstacks, __ATOMIC_RELAXED);
}
