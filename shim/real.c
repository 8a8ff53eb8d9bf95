/* real.c -- find the next definition of each wrapped libc function. */
#include <dlfcn.h>

#include "real.h"

struct sl_real sl_real;

void sl_real_resolve(void)
{
    /* Plain stores: a racing thread resolves the same pointers, so the worst
     * case is the same value written twice. */
#define SL_REAL_RESOLVE(ret, name, params) \
    if (sl_real.name == NULL) sl_real.name = (ret (*) params)dlsym(RTLD_NEXT, #name);
    SL_REAL_FUNCS(SL_REAL_RESOLVE)
#undef SL_REAL_RESOLVE
}
