/* stackdepot.c -- an append-only arena of stacks with a lock-free hash index.
 * Entries are never freed, so a stack id stays valid for the process's life
 * and readers need no lock. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "output.h"
#include "ownfd.h"
#include "real.h"
#include "objrange.h"
#include "options.h"
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

static _Atomic uint32_t lang_buckets[NLANG_BUCKETS];
/* The arena: anonymous private memory, until a watcher process is started
 * (sl_stack_reshare): then a MAP_SHARED memfd moved over it in place, so
 * the watcher reads the stacks without asking this one. A process that
 * never starts a watcher (no socket) holds no fd of ours for it. Its first
 * word (offset 0 is never an id) holds the bytes published so far, for
 * readers in the other process. A fork child shares a memfd arena with its
 * parent until its first put, then takes a private copy. */
static char *arena;
static int arena_slot = -1;               /* the memfd, a private fd */
static int arena_is_memfd;
static int arena_shared_with_parent;
static int arena_fd_released;             /* the watcher has it; we keep none */
/* A move copies the arena: puts that write into it meanwhile wait (their
 * bytes would be lost in the copy). Each side counts itself, then looks at
 * the other (sequentially consistent: one of two racing sides waits). */
static _Atomic int arena_writers;
static _Atomic int arena_moving;
static __thread int moving_here __attribute__((tls_model("initial-exec")));
#define MOVE_WAIT_MS 200
static _Atomic uint32_t arena_used = 8;   /* offset 0 is never an id */
static _Atomic uint32_t buckets[NBUCKETS];
static _Atomic unsigned nstacks;
static uintptr_t own_lo, own_hi;         /* the shim's executable range */

/* A memfd of ARENA_BYTES mapped shared (holes cost nothing), its fd kept
 * private; or, unless shared is asked, anonymous private memory (also when
 * memfds are not available). */
static char *map_arena(int *slot, int shared)
{
    *slot = -1;
    if (shared) {
        sl_zone_make_begin();       /* fd's number is ours until adopted */
        int fd = memfd_create("sockleak-stacks", MFD_CLOEXEC);
        void *p = MAP_FAILED;
        if (fd >= 0 && ftruncate(fd, ARENA_BYTES) == 0)
            p = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
        if (p != MAP_FAILED) {
            *slot = sl_private_adopt(fd);   /* -1: fd closed, mapping kept */
            sl_zone_make_end();
            return p;
        }
        if (fd >= 0)
            SL_REAL(close)(fd);
        sl_zone_make_end();
    }
    void *p = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void sleep_ms(void)
{
    struct timespec ms = { 0, 1000000 };
    nanosleep(&ms, NULL);
}

/* Before a put writes into the arena: 0, or -1 when a move that cannot be
 * waited for is in progress (the put then stores nothing). */
static int writer_enter(void)
{
    for (int i = 0;; i++) {
        __atomic_fetch_add(&arena_writers, 1, __ATOMIC_SEQ_CST);
        if (__builtin_expect(!__atomic_load_n(&arena_moving, __ATOMIC_SEQ_CST), 1))
            return 0;
        __atomic_fetch_sub(&arena_writers, 1, __ATOMIC_SEQ_CST);
        if (moving_here || i >= MOVE_WAIT_MS)
            return -1;      /* a signal handler on the mover's own thread */
        sleep_ms();
    }
}

static void writer_exit(void)
{
    __atomic_fetch_sub(&arena_writers, 1, __ATOMIC_RELEASE);
}

void sl_stack_init(void)
{
    if (arena == NULL)
        arena = map_arena(&arena_slot, 0);
    /* Linked into an executable (the unit tests), the "shim" is the whole
     * program: drop nothing then. */
    uintptr_t lo, hi;
    if (sl_object_range((const void *)(uintptr_t)&sl_stack_init, &lo, &hi) == SL_OBJ_SHARED) {
        own_lo = lo;
        own_hi = hi;
    }
    sl_unwind_locate((const void *)unw_backtrace);
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

int sl_stack_fd(void)
{
    return sl_private_fd(arena_slot);
}

int sl_stack_slot(void)
{
    return arena_slot;
}

void sl_stack_release_fd(void)
{
    if (arena_slot < 0)
        return;
    sl_private_close(arena_slot);        /* the mapping stays */
    arena_slot = -1;
    arena_fd_released = 1;
}

void sl_stack_after_fork(void)
{
    /* The parent's fd stays the parent's; the mapping is shared until the
     * child's first put copies it (most children exec before that). */
    arena_shared_with_parent = arena != NULL && arena_is_memfd;
    sl_private_close(arena_slot);
    arena_slot = -1;
    arena_fd_released = 0;
}

/* A copy of the arena in new memory of our own (a memfd when shared is
 * asked), moved over the old mapping in one mremap so that concurrent
 * readers never see it unmapped: a fork child's (the parent keeps appending
 * to the shared one, from offsets its own counter hands out), for a
 * watcher process, or after the program closed our memfd's fd. Puts wait
 * while it copies. 0, or -1. */
static int move_arena_to(int shared, char *given)
{
    int idle = 0, rc = -1, slot = -1;
    if (!__atomic_compare_exchange_n(&arena_moving, &idle, 1, 0, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) {
        /* another thread moves it: wait for that one */
        for (int i = 0; i < MOVE_WAIT_MS && __atomic_load_n(&arena_moving, __ATOMIC_ACQUIRE); i++)
            sleep_ms();
        if (given != NULL)
            munmap(given, ARENA_BYTES);
        return __atomic_load_n(&arena_moving, __ATOMIC_ACQUIRE) || given ? -1 : 0;
    }
    moving_here = 1;
    for (int i = 0; i < MOVE_WAIT_MS && __atomic_load_n(&arena_writers, __ATOMIC_SEQ_CST); i++)
        sleep_ms();
    if (__atomic_load_n(&arena_writers, __ATOMIC_SEQ_CST)) {
        if (given != NULL)
            munmap(given, ARENA_BYTES);
        goto out;           /* a put that never ends (its thread is stopped) */
    }
    sl_private_close(arena_slot);       /* the parent's copy, or a lost number */
    arena_slot = -1;
    uint32_t used = __atomic_load_n(&arena_used, __ATOMIC_ACQUIRE);
    char *own = given ? given : map_arena(&slot, shared);
    if (own == NULL) {
        if (arena_shared_with_parent)
            arena = NULL;       /* no stacks rather than the parent's overwritten */
        arena_shared_with_parent = 0;
        goto out;
    }
    memcpy(own, arena, used < ARENA_BYTES ? used : ARENA_BYTES);
    if (mremap(own, ARENA_BYTES, ARENA_BYTES, MREMAP_MAYMOVE | MREMAP_FIXED, arena) == MAP_FAILED) {
        munmap(own, ARENA_BYTES);
        sl_private_close(slot);
        goto out;
    }
    arena_shared_with_parent = 0;
    arena_is_memfd = given != NULL || slot >= 0;
    arena_fd_released = given != NULL;  /* the watcher made it and has it */
    arena_slot = slot;
    rc = shared && !given && slot < 0 ? -1 : 0;
out:
    moving_here = 0;
    __atomic_store_n(&arena_moving, 0, __ATOMIC_SEQ_CST);
    return rc;
}

static int move_arena(int shared)
{
    return move_arena_to(shared, NULL);
}

static void unshare_arena(void)
{
    if (arena_shared_with_parent)
        move_arena(0);      /* private: no fd until this child starts a watcher */
}

int sl_stack_reshare(void)
{
    if (arena == NULL)
        return -1;
    if (arena_shared_with_parent || !arena_is_memfd ||
        (!arena_fd_released && sl_private_fd(arena_slot) < 0))
        return move_arena(1);
    return 0;
}

size_t sl_stack_arena_bytes(void)
{
    return ARENA_BYTES;
}

int sl_stack_move_into(void *shared_map)
{
    if (arena == NULL)
        return -1;
    return move_arena_to(1, shared_map);
}

int sl_stack_attach(int fd)
{
    void *p = mmap(NULL, ARENA_BYTES, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -1;
    arena = p;
    return 0;
}

/* Readers in the watcher process see the bytes published so far. */
static void publish_used(uint32_t end)
{
    _Atomic uint32_t *shown = (_Atomic uint32_t *)arena;
    uint32_t cur = __atomic_load_n(shown, __ATOMIC_RELAXED);
    while (cur < end && !__atomic_compare_exchange_n(shown, &cur, end, 0, __ATOMIC_RELEASE,
                                                     __ATOMIC_RELAXED))
        ;
}

/* Append a stack not found in its bucket (inside writer_enter/exit). */
static uint32_t put_new(_Atomic uint32_t *bucket, uint32_t head, uint32_t hash,
                        const uintptr_t *pcs, unsigned n)
{
    uint32_t bytes = (uint32_t)(sizeof(struct stack) + n * sizeof(uintptr_t));
    uint32_t off = __atomic_fetch_add(&arena_used, bytes, __ATOMIC_RELAXED);
    if ((uint64_t)off + bytes > ARENA_BYTES)
        return 0;
    uint32_t id = off / 8;
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
    publish_used(off + bytes);
    return id;
}

static _Atomic uint32_t lookups;       /* sl_stack_put calls */

uint32_t sl_stack_put(const uintptr_t *pcs, unsigned n)
{
    __atomic_fetch_add(&lookups, 1, __ATOMIC_RELAXED);
    if (__builtin_expect(arena_shared_with_parent, 0))
        unshare_arena();
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

    if (writer_enter() != 0)
        return 0;
    id = put_new(bucket, head, hash, pcs, n);
    writer_exit();
    return id;
}

unsigned sl_stack_get(uint32_t id, const uintptr_t **pcs)
{
    uint32_t used = arena ? __atomic_load_n((_Atomic uint32_t *)arena, __ATOMIC_ACQUIRE) : 0;
    if (arena == NULL || id == 0 || (uint64_t)id * 8 >= used) {
        *pcs = NULL;
        return 0;
    }
    struct stack *s = stack_at(id);
    *pcs = s->pcs;
    return s->n;
}

/* ---- creation stacks seen before: checked, not unwound ----
 *
 * A program makes its sockets from a few places (an accept loop, a
 * connection pool), again and again, at the same stack depth, and
 * libunwind walks every frame of every one of them: about 950 instructions
 * and a dozen cold cache lines a socket (callgrind, docs/live-detection.md).
 * On x86-64 a frame's return address sits at its caller's CFA - 8, and each
 * CFA follows from the frame below it and the return address found there.
 * So when the unwinding function's own frame is at the same address as in an
 * earlier call (the key) and every return address that call's unwind read
 * is still in its slot, the same frames are active and the earlier result
 * is the result: the check reads one word a frame. The one case it cannot
 * see is a frame whose CFA moved while everything below stayed put (an
 * alloca of another size whose difference a deeper frame made up).
 *
 * A stack is remembered the second time its key is seen, with one walk of
 * the cursor API that also gives each frame's CFA; only stacks whose every
 * slot holds its return address are kept (not through a signal frame).
 * Entries are shared by all threads behind a sequence count: a reader
 * copies an entry, checks the count did not move, and only then reads the
 * slots, which are then in its own stack above its own frame. */

#define UC_SETS    16
#define UC_WAYS    4            /* stacks that share a key (same depth) */
#define UC_FRAMES  40           /* deeper stacks are unwound every time */

struct uc_entry {
    _Atomic uint32_t seq;       /* odd while written */
    _Atomic uint32_t max;       /* the depth asked for */
    _Atomic uintptr_t key;      /* the unwinding function's frame address */
    _Atomic uint32_t nslot, skip, keep;
    _Atomic uint32_t hits;      /* counted without a lock prefix: a stack's
                                   entry is its thread's in practice */
    /* The depot id of the frames kept, once a capture has stored them,
     * tagged with the seq it is for (seq << 32 | id): a hit then costs no
     * hash and no depot lookup. A stale tag is never read as valid. */
    _Atomic uint64_t id_at;
    _Atomic uintptr_t slot[UC_FRAMES];  /* where each return address sits */
    _Atomic uintptr_t want[UC_FRAMES];  /* and what it must be */
};

static struct uc_entry uc[UC_SETS][UC_WAYS];
static _Atomic uint32_t uc_walks;               /* slow walks made (kept or not) */
static _Atomic uint32_t unwinds;                /* unw_backtrace calls */
static struct {
    _Atomic uint32_t next;      /* the way replaced next */
    _Atomic uint32_t old_hits;  /* hits of the entries replaced */
    _Atomic uint32_t seen_next; /* the uc_seen way replaced next */
} uc_sets[UC_SETS];
static _Atomic uint64_t uc_seen[UC_SETS][UC_WAYS];  /* the last stacks unwound */

static unsigned uc_index(uintptr_t key)
{
    return (unsigned)((key >> 4) ^ (key >> 12) ^ (key >> 20)) % UC_SETS;
}

/* What a hit leaves for sl_stack_capture: the entry, the seq it was
 * read at, and its depot id if one is stored for that seq (else 0). */
struct uc_hit {
    struct uc_entry *e;
    uint32_t seq, id;
};

/* The frames of entry e if it is the stack at key, or -1. */
static int uc_try(struct uc_entry *e, uintptr_t key, unsigned max, uintptr_t *pcs,
                  struct uc_hit *hit)
{
    uint32_t seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
    if ((seq & 1) || __atomic_load_n(&e->key, __ATOMIC_RELAXED) != key ||
        __atomic_load_n(&e->max, __ATOMIC_RELAXED) != max)
        return -1;
    /* The first slot is always key + 8, the return address of the frame at
     * key, itself active: another call site there (socket() and accept()
     * called from one depth) is told at once. A torn read here can only
     * turn a hit into a miss. */
    if (*(const uintptr_t *)(key + 8) != __atomic_load_n(&e->want[0], __ATOMIC_RELAXED))
        return -1;
    unsigned nslot = __atomic_load_n(&e->nslot, __ATOMIC_RELAXED);
    unsigned skip = __atomic_load_n(&e->skip, __ATOMIC_RELAXED);
    unsigned keep = __atomic_load_n(&e->keep, __ATOMIC_RELAXED);
    if (nslot > UC_FRAMES || skip + keep > nslot || keep > max)
        return -1;
    /* A seqlock read one slot at a time, with no copy: a slot and its value
     * read before an unchanged seq are of the entry recorded with our frame
     * at key, where slot 0 is in our own frame's caller and each next slot
     * in a frame the one before proved active. So every address read here
     * is in an active frame of ours. */
    for (unsigned i = 0; i < nslot; i++) {
        uintptr_t at = __atomic_load_n(&e->slot[i], __ATOMIC_RELAXED);
        uintptr_t want = __atomic_load_n(&e->want[i], __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) != seq || *(const uintptr_t *)at != want)
            return -1;
    }
    uint64_t id_at = __atomic_load_n(&e->id_at, __ATOMIC_RELAXED);
    uint32_t id = (uint32_t)(id_at >> 32) == seq ? (uint32_t)id_at : 0;
    if (id == 0)                /* no depot id yet: the frames themselves */
        for (unsigned i = 0; i < keep; i++)
            pcs[i] = __atomic_load_n(&e->want[skip + i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) != seq)
        return -1;
    __atomic_store_n(&e->hits, __atomic_load_n(&e->hits, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    hit->e = e;
    hit->seq = seq;
    hit->id = id;
    return (int)keep;
}

/* The frames of the remembered stack at key, or -1. With hit->id set the
 * depot has the frames, and pcs is not to be read (a way tried before the
 * hit may have written it before its last seq check failed). */
static int uc_lookup(uintptr_t key, unsigned max, uintptr_t *pcs, struct uc_hit *hit)
{
    struct uc_entry *set = uc[uc_index(key)];
    for (unsigned w = 0; w < UC_WAYS; w++) {
        int n = uc_try(&set[w], key, max, pcs, hit);
        if (n >= 0)
            return n;
    }
    return -1;
}

/* Store id as the depot id of hit's entry while it still holds the stack
 * it held at hit->seq (uc_record clears the tag when it rewrites it). */
static void uc_keep_id(const struct uc_hit *hit, uint32_t id)
{
    uint64_t cur = __atomic_load_n(&hit->e->id_at, __ATOMIC_RELAXED);
    if (id == 0 || __atomic_load_n(&hit->e->seq, __ATOMIC_ACQUIRE) != hit->seq)
        return;
    /* A rewrite since the seq check leaves a tag of the old seq: unused. */
    __atomic_compare_exchange_n(&hit->e->id_at, &cur, (uint64_t)hit->seq << 32 | id, 0,
                                __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* Walk the stack with the cursor API (CFA of each frame) and remember it
 * for key; called from unwind(), whose frame (that of sl_stack_unwind or
 * sl_stack_capture) is at key. */
static __attribute__((noinline)) void uc_record(uintptr_t key, unsigned max)
{
    unw_context_t ctx;
    unw_cursor_t cur;
    uintptr_t ip[UC_FRAMES + 1], sp[UC_FRAMES + 1];
    unsigned n = 0, own = 0;
    /* Walks that remember nothing (a stack through JIT code or a signal
     * frame fails the slot check; a walk through a JVM's or V8's frames
     * costs tens of microseconds) and more stacks alternating at one set
     * than it holds would cost this walk on every socket (a JVM or node
     * paid 50-120 us an operation): past 16 walks in the process, walk
     * again only while remembered stacks are used 8 times as often as the
     * process walks. */
    uint32_t hits = 0, walks = __atomic_load_n(&uc_walks, __ATOMIC_RELAXED);
    for (unsigned t = 0; t < UC_SETS && walks >= 16; t++) {
        hits += __atomic_load_n(&uc_sets[t].old_hits, __ATOMIC_RELAXED);
        for (unsigned w = 0; w < UC_WAYS; w++)
            hits += __atomic_load_n(&uc[t][w].hits, __ATOMIC_RELAXED);
    }
    if (walks >= 16 && walks > hits / 8)
        return;
    __atomic_fetch_add(&uc_walks, 1, __ATOMIC_RELAXED);
    unsigned set = uc_index(key);
    if (unw_getcontext(&ctx) != 0 || unw_init_local(&cur, &ctx) != 0)
        return;
    /* frame 0 is ours, frame 1 sl_stack_unwind or sl_stack_capture (unwind()
     * is inlined in both); the slots start at frame 2 */
    for (;;) {
        unw_word_t i, s;
        if (unw_get_reg(&cur, UNW_REG_IP, &i) != 0 || unw_get_reg(&cur, UNW_REG_SP, &s) != 0)
            return;
        ip[n] = i;
        sp[n] = s;
        if (n >= 2 && own == 0 && !(i >= own_lo && i < own_hi))
            own = n;                       /* the first frame not ours */
        n++;
        if (own != 0 && n - own >= max)
            break;                         /* as deep as asked */
        if (n > UC_FRAMES)
            return;                        /* too deep to remember */
        int r = unw_step(&cur);
        if (r < 0)
            return;
        if (r == 0)
            break;                         /* the outermost frame */
    }
    /* frame 1's CFA is its frame address + 16, where its caller's return
     * address sits at - 8: the first slot checked. */
    if (own == 0 || n < 3 || sp[2] != key + 16 || own - 1 > 16)
        return;    /* not the frame layout checked for, or ours too deep */
    unsigned nslot = n - 2;
    for (unsigned k = 2; k < n; k++)
        if (*(const uintptr_t *)(sp[k] - 8) != ip[k])
            return;    /* a signal frame, or an unwind we cannot check */
    struct uc_entry *e = &uc[set][__atomic_fetch_add(&uc_sets[set].next, 1, __ATOMIC_RELAXED) % UC_WAYS];
    uint32_t seq = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
    if ((seq & 1) || !__atomic_compare_exchange_n(&e->seq, &seq, seq + 1, 0,
                                                  __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;    /* another thread writes it */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_fetch_add(&uc_sets[set].old_hits, __atomic_exchange_n(&e->hits, 0, __ATOMIC_RELAXED),
                       __ATOMIC_RELAXED);
    __atomic_store_n(&e->id_at, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&e->key, key, __ATOMIC_RELAXED);
    __atomic_store_n(&e->max, max, __ATOMIC_RELAXED);
    __atomic_store_n(&e->nslot, nslot, __ATOMIC_RELAXED);
    __atomic_store_n(&e->skip, own - 2, __ATOMIC_RELAXED);
    __atomic_store_n(&e->keep, n - own, __ATOMIC_RELAXED);
    for (unsigned k = 0; k < nslot; k++) {
        __atomic_store_n(&e->slot[k], sp[k + 2] - 8, __ATOMIC_RELAXED);
        __atomic_store_n(&e->want[k], ip[k + 2], __ATOMIC_RELAXED);
    }
    __atomic_store_n(&e->seq, seq + 2, __ATOMIC_RELEASE);
}

/* sl_stack_unwind, and for sl_stack_capture the remembered entry it hit
 * (hit->e NULL when it walked). Inlined into both: the frame of the
 * function it is in is the key, and the first frame unw_backtrace gives. */
static inline __attribute__((always_inline)) unsigned unwind(uintptr_t *pcs, unsigned max,
                                                             struct uc_hit *hit)
{
    void *raw[SL_STACK_MAX + 16];
    if (max == 0 || max > SL_STACK_MAX)
        max = SL_STACK_MAX;
    uintptr_t key = (uintptr_t)__builtin_frame_address(0);
    hit->e = NULL;
    hit->id = 0;
    int known = uc_lookup(key, max, pcs, hit);
    if (known >= 0)
        return (unsigned)known;
    hit->e = NULL;
    static _Atomic int policy_set;
    sl_unwinding = 1;    /* its pipe2/read/syscall calls go to ownfd.c */
    /* Not at init: a process that never makes a socket never pays for it. */
    if (!__atomic_load_n(&policy_set, __ATOMIC_RELAXED) &&
        !__atomic_exchange_n(&policy_set, 1, __ATOMIC_ACQ_REL))
        unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    __atomic_fetch_add(&unwinds, 1, __ATOMIC_RELAXED);
    int n = unw_backtrace(raw, (int)(max + 16));
    /* A stack unwound here before (among the last few of its set):
     * remember it, so each place is walked twice, not once a socket. */
    uint64_t h = key;
    for (int i = 0; i < n; i++)
        h = (h ^ (uintptr_t)raw[i]) * 1099511628211ull;
    unsigned set = uc_index(key);
    _Atomic uint64_t *seen = uc_seen[set];
    int again = 0;
    for (unsigned w = 0; w < UC_WAYS && !again; w++)
        again = __atomic_load_n(&seen[w], __ATOMIC_RELAXED) == h;
    /* Replaced in turn: stacks that alternate at one key (a program's
     * socket() and accept() called from one frame depth) are each seen
     * again. Picked by h, two of them could keep evicting each other and
     * be walked on every socket. */
    if (again)
        uc_record(key, max);
    else
        __atomic_store_n(&seen[__atomic_fetch_add(&uc_sets[set].seen_next, 1, __ATOMIC_RELAXED) %
                               UC_WAYS], h, __ATOMIC_RELAXED);
    sl_unwinding = 0;
    /* raw[0] is this function; then the shim's own frames, if any. */
    int skip = n > 0 ? 1 : 0;
    while (skip < n && (uintptr_t)raw[skip] >= own_lo && (uintptr_t)raw[skip] < own_hi)
        skip++;
    unsigned keep = (unsigned)(n - skip) < max ? (unsigned)(n - skip) : max;
    memcpy(pcs, raw + skip, keep * sizeof(*pcs));
    return keep;
}

unsigned sl_stack_unwind(uintptr_t *pcs, unsigned max)
{
    struct uc_hit hit;
    unsigned n = unwind(pcs, max, &hit);
    if (hit.id != 0) {
        /* the entry had a depot id: the frames are the depot's */
        const uintptr_t *stored;
        unsigned got = sl_stack_get(hit.id, &stored);
        n = got < n ? got : n;
        memcpy(pcs, stored, n * sizeof(*pcs));
    }
    return n;
}

uint32_t sl_stack_capture(unsigned depth)
{
    uintptr_t pcs[SL_STACK_MAX];
    struct uc_hit hit;
    unsigned n = unwind(pcs, depth, &hit);
    if (hit.id != 0)
        return hit.id;          /* a remembered stack, stored before */
    uint32_t id = sl_stack_put(pcs, n);
    if (hit.e != NULL)
        uc_keep_id(&hit, id);
    return id;
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

/* Append a language frame not found in its bucket (inside writer_enter/
 * exit); its id, or 0 when the arena is full. */
static uint32_t lang_put_new(_Atomic uint32_t *bucket, uint32_t head, uint32_t hash,
                             const struct sl_lang_frame *f, size_t flen, size_t filelen)
{
    uint32_t bytes = (uint32_t)((sizeof(struct lang_rec) + flen + filelen + 2 + 7) & ~7u);
    uint32_t off = __atomic_fetch_add(&arena_used, bytes, __ATOMIC_RELAXED);
    if ((uint64_t)off + bytes > ARENA_BYTES)
        return 0;
    uint32_t id = off / 8;
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
            return other;
        r->next = head;
    } while (!__atomic_compare_exchange_n(bucket, &head, id, 0,
                                          __ATOMIC_RELEASE, __ATOMIC_ACQUIRE));
    publish_used(off + bytes);
    return id;
}

uintptr_t sl_lang_frame_put(const struct sl_lang_frame *f)
{
    if (__builtin_expect(arena_shared_with_parent, 0))
        unshare_arena();
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

    if (writer_enter() != 0)
        return 0;
    id = lang_put_new(bucket, head, hash, f, flen, filelen);
    writer_exit();
    return id ? SL_LANG_FRAME_BIT | id : 0;
}

int sl_lang_frame_get(uintptr_t word, struct sl_lang_frame *out)
{
    uint32_t used = arena ? __atomic_load_n((_Atomic uint32_t *)arena, __ATOMIC_ACQUIRE) : 0;
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

unsigned sl_stack_lookups(void)
{
    return __atomic_load_n(&lookups, __ATOMIC_RELAXED);
}

unsigned sl_stack_walks(void)
{
    return __atomic_load_n(&unwinds, __ATOMIC_RELAXED);
}
