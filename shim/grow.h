/* grow.h -- the one way the shim's and the watcher's growing arrays grow:
 * SL_GROW(v, cap, n) makes room for element n of the array v (capacity
 * cap, both lvalues), doubling from 64. 0, or -1 when out of memory (v and
 * cap unchanged). SL_GROW_ZERO(v, cap, i) makes room for index i of an
 * array indexed by id (at least doubling), the new elements zeroed. Never
 * on a hook's hot path: they allocate. */
#ifndef SL_GROW_H
#define SL_GROW_H

#include <stdlib.h>
#include <string.h>

#define SL_GROW(v, cap, n) __extension__({                                   \
    int grow_rc_ = 0;                                                         \
    if ((size_t)(n) >= (cap)) {                                               \
        size_t grow_cap_ = (cap) ? (cap) * 2 : 64;                            \
        __typeof__(v) grow_v_ = realloc((v), grow_cap_ * sizeof(*(v)));       \
        if (grow_v_ == NULL) {                                                \
            grow_rc_ = -1;                                                    \
        } else {                                                              \
            (v) = grow_v_;                                                    \
            (cap) = grow_cap_;                                                \
        }                                                                     \
    }                                                                         \
    grow_rc_;                                                                 \
})

#define SL_GROW_ZERO(v, cap, i) __extension__({                              \
    int grow_rc_ = 0;                                                         \
    if ((size_t)(i) >= (cap)) {                                               \
        size_t grow_cap_ = (size_t)(i) + 1 > 2 * (size_t)(cap)                \
                         ? (size_t)(i) + 1 : 2 * (size_t)(cap);               \
        __typeof__(v) grow_v_ = realloc((v), grow_cap_ * sizeof(*(v)));       \
        if (grow_v_ == NULL) {                                                \
            grow_rc_ = -1;                                                    \
        } else {                                                              \
            memset(grow_v_ + (cap), 0, (grow_cap_ - (cap)) * sizeof(*(v)));   \
            (v) = grow_v_;                                                    \
            (cap) = grow_cap_;                                                \
        }                                                                     \
    }                                                                         \
    grow_rc_;                                                                 \
})

#endif
