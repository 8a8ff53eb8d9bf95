/* stackdepot.h -- creation stacks, each distinct stack stored once and
 * referred to by a small id (sanitizer_common's StackDepot). */
#ifndef SL_STACKDEPOT_H
#define SL_STACKDEPOT_H

#include <stddef.h>
#include <stdint.h>

#define SL_STACK_MAX 64

/* Find the shim's own code range (frames there are dropped from stacks) and
 * set libunwind's per-thread cache. Call once from init. */
void sl_stack_init(void);

/* Store pcs[0..n) unless an identical stack is stored; returns its id
 * (> 0), or 0 when the depot is full. Lock-free, never calls malloc. */
uint32_t sl_stack_put(const uintptr_t *pcs, unsigned n);

/* The frames of stack id; returns their count (0 for an unknown id). */
unsigned sl_stack_get(uint32_t id, const uintptr_t **pcs);

/* Unwind the calling thread (at most depth frames, shim frames dropped) and
 * store the result. Must not be called with any shim lock held: a libunwind
 * cache miss takes the dynamic loader's lock. */
uint32_t sl_stack_capture(unsigned depth);

/* ---- language frames (Python, Java, JavaScript) ----
 * A language frame is stored once in the same arena and stands in a stack
 * as a word with the top bit set (no user-space pc has it), so stacks with
 * language frames are deduplicated like any other. They come first in a
 * stack, innermost first, before the native frames. */
enum sl_lang { SL_LANG_NONE, SL_LANG_PYTHON, SL_LANG_JAVA, SL_LANG_JS };

#define SL_LANG_FRAME_BIT ((uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1))
#define SL_LANG_STR_MAX 1024   /* function and file names are cut here */

static inline int sl_is_lang_frame(uintptr_t pc)
{
    return (pc & SL_LANG_FRAME_BIT) != 0;
}

struct sl_lang_frame {
    enum sl_lang lang;
    const char *function;      /* "Billing.charge", "charge_card", ... */
    const char *file;          /* as the runtime names it, or NULL */
    int line;                  /* 0 when unknown */
    int column;                /* 0 when unknown (JavaScript has it) */
};

/* Store a frame unless an identical one is stored; returns the word to put
 * in a stack, or 0 when the arena is full. Lock-free, never calls malloc. */
uintptr_t sl_lang_frame_put(const struct sl_lang_frame *f);

/* The frame behind a word of a stack; returns 0 for a native pc. The
 * strings live as long as the process. */
int sl_lang_frame_get(uintptr_t word, struct sl_lang_frame *out);

/* "python", "java", "js" (JSON's "lang"). */
const char *sl_lang_name(enum sl_lang lang);

/* Unwind the calling thread into pcs (at most max, shim frames dropped). */
unsigned sl_stack_unwind(uintptr_t *pcs, unsigned max);

/* Store lang[0..nlang) followed by pcs[0..n) (cut to SL_STACK_MAX). */
uint32_t sl_stack_put2(const uintptr_t *lang, unsigned nlang,
                       const uintptr_t *pcs, unsigned n);

/* The arena's memfd (a private fd), -1 when it has none: the watcher
 * process maps it to read stacks. */
int sl_stack_fd(void);
/* Its fd zone slot (ownfd.h), -1 when none. */
int sl_stack_slot(void);
/* Close our fd of the store (the watcher process has its own); the mapping
 * stays. */
void sl_stack_release_fd(void);

/* In a fork child: the arena stays shared until the child stores a stack. */
void sl_stack_after_fork(void);

/* Make sure sl_stack_fd() has an fd, for a watcher process about to start:
 * the arena is still private memory, the program closed our memfd's fd, or
 * a fork child still shares its parent's. Copies the arena to a new memfd
 * (puts wait meanwhile). 0, or -1. */
int sl_stack_reshare(void);

/* The same into shared_map, a MAP_SHARED memfd mapping of
 * sl_stack_arena_bytes() that the watcher process made and holds the fd
 * of (we keep none); unmapped on failure. 0, or -1. */
int sl_stack_move_into(void *shared_map);
size_t sl_stack_arena_bytes(void);

/* The watcher process: read stacks from a host's arena memfd. 0 or -1. */
int sl_stack_attach(int fd);

/* Number of distinct stacks stored (tests, stats). */
unsigned sl_stack_count(void);

/* How many times a stack was looked up in (or added to) the depot: a
 * capture of a remembered stack does neither. */
unsigned sl_stack_lookups(void);

/* How many times sl_stack_unwind walked the stack with libunwind (a call
 * not answered by a remembered stack). */
unsigned sl_stack_walks(void);

#endif
