/* suppress.c -- match suppressions against the creation stacks of merged reports. */
#include "suppress.h"

int slt_supp_match(const struct sl_suppressions *s, const struct slt_leak *l) {
    for (size_t j = 0; j < l->nframes; j++) {
        const struct slt_frame *f = &l->frames[j];
        long k = sl_suppress_find_frame(s, f->function, f->file, f->module);
        if (k >= 0) return (int)k;
    }
    return -1;
}

void slt_supp_apply(struct sl_suppressions *s, struct slt_report *r) {
    for (size_t i = 0; i < r->nleaks; i++) {
        int k = slt_supp_match(s, &r->leaks[i]);
        r->leaks[i].suppressed_by = k;
        if (k >= 0) s->v[k].hits++;
    }
}
