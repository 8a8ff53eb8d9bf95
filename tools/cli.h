/* cli.h -- git-style option tables: one table per command gives both the parser and the usage text. */
#ifndef SLT_CLI_H
#define SLT_CLI_H

#include <stdio.h>

enum slt_opt_type {
    SLT_OPT_END, SLT_OPT_GROUP, SLT_OPT_BOOL, SLT_OPT_STRING, SLT_OPT_STRING_LIST,
    SLT_OPT_INT, SLT_OPT_CHOICE, SLT_OPT_PASSTHROUGH
};

struct slt_option {
    enum slt_opt_type type;
    int short_name;          /* 0: none */
    const char *long_name;
    void *value;             /* int *, const char **, struct slt_strlist *, long * */
    const char *argh;        /* the value's name in the usage; CHOICE: "a|b|c" */
    const char *help;
};

/* Repeatable string options (--suppressions A --suppressions B). */
struct slt_strlist {
    const char **v;          /* NULL-terminated */
    size_t n;
};

#define OPT_END()                  { SLT_OPT_END, 0, NULL, NULL, NULL, NULL }
#define OPT_GROUP(h)               { SLT_OPT_GROUP, 0, NULL, NULL, NULL, (h) }
#define OPT_BOOL(s, l, v, h)       { SLT_OPT_BOOL, (s), (l), (v), NULL, (h) }
#define OPT_STRING(s, l, v, a, h)  { SLT_OPT_STRING, (s), (l), (v), (a), (h) }
#define OPT_STRING_LIST(s, l, v, a, h) { SLT_OPT_STRING_LIST, (s), (l), (v), (a), (h) }
#define OPT_INT(s, l, v, a, h)     { SLT_OPT_INT, (s), (l), (v), (a), (h) }
#define OPT_CHOICE(s, l, v, c, h)  { SLT_OPT_CHOICE, (s), (l), (v), (c), (h) }
/* Expands to every SOCKLEAK_OPTIONS key the command passes to the shim. */
#define OPT_PASSTHROUGH(h)         { SLT_OPT_PASSTHROUGH, 0, NULL, NULL, NULL, (h) }

/* Parse the options of argv[1..argc-1] (argv[0] is the command name).
 * "-h"/"--help" print the usage and exit 0; a bad option prints an error
 * and the usage on stderr and returns -1. Otherwise the arguments that are
 * not options are moved to the front of argv and their count returned.
 * With stop_at_arg, everything from the first argument on is kept as is
 * (for "run COMMAND -x"); "--" always ends the options. */
int slt_parse_options(int argc, char **argv, const struct slt_option *opts,
                      const char *const *usage, int stop_at_arg);

void slt_usage(FILE *out, const char *const *usage, const struct slt_option *opts);



/* One "    FLAG   help" line of a usage text, wrapping after long flags. */
void slt_usage_line(FILE *out, const char *flag, const char *help);
#endif
