/* suppress.h -- apply LeakSanitizer-style suppressions (shim/suppress.c, the
 * same parser and matcher the shim uses) to merged reports. */
#ifndef SLT_SUPPRESS_H
#define SLT_SUPPRESS_H

#include <stddef.h>

#include "../shim/suppress.h"
#include "reader.h"

/* Index of the first suppression matching a frame of l (function, source
 * file or module, full path or basename), or -1. */
int slt_supp_match(const struct sl_suppressions *s, const struct slt_leak *l);

/* Mark every leak of r that a suppression matches and count the hits. */
void slt_supp_apply(struct sl_suppressions *s, struct slt_report *r);

#endif
