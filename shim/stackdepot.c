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

/* A language frame: its strings follow, function then file, each ended by
 * a NUL. */
struct lang_rec {
    uint32_t next;       /* id of the next frame in the bucket, 0: end */
    uint32_t hash;
    uint8_t lang;
    uint8_t has_file;
    uint16_t flen, filelen;
    uint16_t pad;
    int32_t line, column;
    char strs[];
};

#define NLANG_BUCKETS (1u << 12)

static char *arena;
static _Atomic uint32_t lang_buckets[NLANG_BUCKETS];
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

unsigned sl_stack_unwind(uintptr_t *pcs, unsigned max)
{
    void *raw[SL_STACK_MAX + 16];
    if (max == 0 || max > SL_STACK_MAX)
        max = SL_STACK_MAX;
    int n = unw_backtrace(raw, (int)(max + 16));
    int skip = 0;
    while (skip < n && (uintptr_t)raw[skip] >= own_lo && (uintptr_t)raw[skip] < own_hi)
        skip++;
    unsigned keep = (unsigned)(n - skip) < max ? (unsigned)(n - skip) : max;
    memcpy(pcs, raw + skip, keep * sizeof(*pcs));
    return keep;
}

uint32_t sl_stack_capture(unsigned depth)
{
    uintptr_t pcs[SL_STACK_MAX];
    unsigned n = sl_stack_unwind(pcs, depth);
    return sl_stack_put(pcs, n);
}

uint32_t sl_stack_put2(const uintptr_t *lang, unsigned nlang,
                       const uintptr_t *pcs, unsigned n)
{
    uintptr_t all[SL_STACK_MAX];
    if (nlang > SL_STACK_MAX)
        nlang = SL_STACK_MAX;
    if (n > SL_STACK_MAX - nlang)
        n = SL_STACK_MAX - nlang;
    memcpy(all, lang, nlang * sizeof(*all));
    memcpy(all + nlang, pcs, n * sizeof(*all));
    return sl_stack_put(all, nlang + n);
}

/* ---- language frames ---- */

static uint32_t hash_bytes(uint32_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;     /* FNV-1a 32 */
    return h;
}

static size_t cut_len(const char *s)
{
    size_t n = s ? strnlen(s, SL_LANG_STR_MAX) : 0;
    return n;
}

static struct lang_rec *lang_at(uint32_t id)
{
    return (struct lang_rec *)(arena + (size_t)id * 8);
}

static int lang_same(const struct lang_rec *r, uint32_t hash, const struct sl_lang_frame *f,
                     size_t flen, size_t filelen)
{
    return r->hash == hash && r->lang == f->lang && r->line == f->line &&
           r->column == f->column && r->flen == flen && r->filelen == filelen &&
           r->has_file == (f->file != NULL) &&
           memcmp(r->strs, f->function ? f->function : "", flen) == 0 &&
           memcmp(r->strs + flen + 1, f->file ? f->file : "", filelen) == 0;
}

static uint32_t lang_find(uint32_t head, uint32_t hash, const struct sl_lang_frame *f,
                          size_t flen, size_t filelen)
{
    for (uint32_t id = head; id != 0; id = lang_at(id)->next)
        if (lang_same(lang_at(id), hash, f, flen, filelen))
            return id;
    return 0;
}

uintptr_t sl_lang_frame_put(const struct sl_lang_frame *f)
{
    if (arena == NULL)
        return 0;
    size_t flen = cut_len(f->function), filelen = cut_len(f->file);
    uint32_t hash = hash_bytes(2166136261u, f->function ? f->function : "", flen);
    hash = hash_bytes(hash, "", 1);
    hash = hash_bytes(hash, f->file ? f->file : "", filelen);
    hash ^= (uint32_t)f->line * 2654435761u ^ (uint32_t)f->column * 40503u ^ (uint32_t)f->lang;
    _Atomic uint32_t *bucket = &lang_buckets[hash % NLANG_BUCKETS];
    uint32_t head = __atomic_load_n(bucket, __ATOMIC_ACQUIRE);
    uint32_t id = lang_find(head, hash, f, flen, filelen);
    if (id != 0)
        return SL_LANG_FRAME_BIT | id;

    uint32_t bytes = (uint32_t)((sizeof(struct lang_rec) + flen + filelen + 2 + 7) & ~7u);
    uint32_t off = __atomic_fetch_add(&arena_used, bytes, __ATOMIC_RELAXED);
    if ((uint64_t)off + bytes > ARENA_BYTES)
        return 0;
    id = off / 8;
    struct lang_rec *r = lang_at(id);
    r->hash = hash;
    r->lang = (uint8_t)f->lang;
    r->has_file = f->file != NULL;
    r->flen = (uint16_t)flen;
    r->filelen = (uint16_t)filelen;
    r->line = f->line;
    r->column = f->column;
    memcpy(r->strs, f->function ? f->function : "", flen);
    r->strs[flen] = '\0';
    memcpy(r->strs + flen + 1, f->file ? f->file : "", filelen);
    r->strs[flen + 1 + filelen] = '\0';
    do {
        uint32_t other = lang_find(head, hash, f, flen, filelen);
        if (other != 0)
            return SL_LANG_FRAME_BIT | other;
        r->next = head;
    } while (!__atomic_compare_exchange_n(bucket, &head, id, 0,
                                          __ATOMIC_RELEASE, __ATOMIC_ACQUIRE));
    return SL_LANG_FRAME_BIT | id;
}

int sl_lang_frame_get(uintptr_t word, struct sl_lang_frame *out)
{
    uint32_t used = __atomic_load_n(&arena_used, __ATOMIC_ACQUIRE);
    uintptr_t id = word & ~SL_LANG_FRAME_BIT;
    if (!sl_is_lang_frame(word) || arena == NULL || id == 0 || (uint64_t)id * 8 >= used)
        return 0;
    const struct lang_rec *r = lang_at((uint32_t)id);
    out->lang = (enum sl_lang)r->lang;
    out->function = r->strs;
    out->file = r->has_file ? r->strs + r->flen + 1 : NULL;
    out->line = r->line;
    out->column = r->column;
    return 1;
}

const char *sl_lang_name(enum sl_lang lang)
{
    switch (lang) {
    case SL_LANG_PYTHON: return "python";
    case SL_LANG_JAVA: return "java";
    case SL_LANG_JS: return "js";
    default: return NULL;
    }
}

unsigned sl_stack_count(void)
{
    return __atomic_load_n(&nstacks, __ATOMIC_RELAXED);
}
