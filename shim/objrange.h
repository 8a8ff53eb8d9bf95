/* objrange.h -- where a loaded object's code and data lie. */
#ifndef SL_OBJRANGE_H
#define SL_OBJRANGE_H

#include <stdint.h>

enum { SL_OBJ_NONE, SL_OBJ_EXECUTABLE, SL_OBJ_SHARED };

/* The span [*lo, *hi) of the PT_LOAD segments of the object that holds pc:
 * SL_OBJ_SHARED for a shared object, SL_OBJ_EXECUTABLE for the program
 * itself (no name), SL_OBJ_NONE (lo, hi untouched) if no object holds it. */
int sl_object_range(const void *pc, uintptr_t *lo, uintptr_t *hi);

#endif
