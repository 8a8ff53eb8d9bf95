/* objrange.c -- the address span of a loaded object (see objrange.h). */
#include <link.h>
#include <stddef.h>

#include "objrange.h"

struct probe {
    uintptr_t pc, lo, hi;
    int kind;
};

static int find_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct probe *p = data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (start < lo) lo = start;
        if (start + ph->p_memsz > hi) hi = start + ph->p_memsz;
    }
    if (p->pc < lo || p->pc >= hi)
        return 0;
    p->lo = lo;
    p->hi = hi;
    p->kind = info->dlpi_name == NULL || info->dlpi_name[0] == '\0' ? SL_OBJ_EXECUTABLE
                                                                     : SL_OBJ_SHARED;
    return 1;
}

int sl_object_range(const void *pc, uintptr_t *lo, uintptr_t *hi)
{
    struct probe p = { .pc = (uintptr_t)pc, .kind = SL_OBJ_NONE };
    dl_iterate_phdr(find_cb, &p);
    if (p.kind != SL_OBJ_NONE) {
        *lo = p.lo;
        *hi = p.hi;
    }
    return p.kind;
}
