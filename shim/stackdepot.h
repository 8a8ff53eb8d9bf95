/* stackdepot.h -- creation stacks, each distinct stack stored once and
 * referred to by a small id (sanitizer_common's StackDepot). */
#ifndef SL_STACKDEPOT_H
#define SL_STACKDEPOT_H

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

/* Number of distinct stacks stored (tests, stats). */
unsigned sl_stack_count(void);

#endif
