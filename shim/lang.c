/* lang.c -- dispatch socket events to the language runtimes found at init. */
#include <dlfcn.h>
#include <link.h>

#include "lang.h"
#include "stackdepot.h"

int sl_lang_active;

void sl_lang_init(void)
{
    int on = 0;
    if (!sl_opts.lang_frames)
        return;
    if (sl_lang_python_init())
        on |= SL_LANG_PYTHON_ON;
    if (sl_lang_java_init())
        on |= SL_LANG_JAVA_ON;
    if (sl_lang_node_init())
        on |= SL_LANG_NODE_ON;
    sl_lang_active = on;
}

unsigned sl_lang_capture(enum sl_origin origin, const uintptr_t *pcs, unsigned *n,
                         uintptr_t *lang, unsigned max)
{
    if (sl_lang_active & SL_LANG_PYTHON_ON)
        return sl_lang_python_capture(origin, pcs, n, lang, max);
    if (sl_lang_active & SL_LANG_JAVA_ON)
        return sl_lang_java_capture(pcs, n, lang, max);
    return 0;
}

unsigned sl_lang_native_want(enum sl_origin origin, unsigned depth)
{
    unsigned want = depth;
    if (sl_lang_active & SL_LANG_PYTHON_ON)
        want = sl_lang_python_native_want(origin);
    else if (sl_lang_active & SL_LANG_JAVA_ON)
        want = SL_LANG_JAVA_NATIVE;    /* JNI method, then JIT code */
    return want < depth ? want : depth;
}

int sl_lang_owns(enum sl_origin origin, const uintptr_t *pcs, unsigned n)
{
    if (sl_lang_active & SL_LANG_PYTHON_ON)
        return sl_lang_python_owns(origin, pcs, n);
    return 0;
}

void sl_lang_tracked(int fd, enum sl_origin origin, const uintptr_t *pcs, unsigned n)
{
    if (sl_lang_active & SL_LANG_PYTHON_ON)
        sl_lang_python_tracked(fd, origin, pcs, n);
}

/* dladdr() would also look for the nearest symbol, a walk of the whole
 * dynamic symbol table: 100+ us in node's binary. _dl_find_object (glibc
 * 2.35) is a lock-free binary search over the loaded objects. */
const struct link_map *sl_lang_object_of(uintptr_t pc)
{
    struct dl_find_object found;
    if (_dl_find_object((void *)pc, &found) != 0)
        return NULL;
    return found.dlfo_link_map;
}

unsigned sl_lang_native_before_jit(const uintptr_t *pcs, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (sl_is_lang_frame(pcs[i]) || sl_lang_object_of(pcs[i]) == NULL)
            return i;
    return n;
}
