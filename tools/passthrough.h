/* passthrough.h -- the command's flags for SOCKLEAK_OPTIONS keys, expanded from shim/options.inc. */
#ifndef SLT_PASSTHROUGH_H
#define SLT_PASSTHROUGH_H

#include <stddef.h>
#include <stdio.h>

struct slt_passthrough {
    const char *type;        /* BOOL, INT, STR or ENUM */
    const char *name;        /* the SOCKLEAK_OPTIONS key */
    const char *def;
    const char *help;
    const char *choices;     /* ENUM: "a|b" */
    const char *value;       /* set on the command line, or NULL */
};

/* Find the row for a flag name ("grace-ms"); *negated is set for
 * "no-<bool>". NULL when the key is the command's own or unknown. */
struct slt_passthrough *slt_passthrough_find(const char *flag, int *negated);

/* Check and store a value (NULL: a bare boolean flag). Returns 0, or -1
 * with err saying what is wrong. */
int slt_passthrough_set(struct slt_passthrough *p, const char *value, int negated,
                        char *err, size_t errlen);

/* Append ":key=value" for every flag given, in table order. */
void slt_passthrough_append(FILE *out);

/* Usage lines for every pass-through flag. */
void slt_passthrough_usage(FILE *out);

/* Forget the values given (for tests). */
void slt_passthrough_reset(void);

#endif
