/* options.h -- SOCKLEAK_OPTIONS: the parsed settings of the shim. */
#ifndef SL_OPTIONS_H
#define SL_OPTIONS_H

#include <stddef.h>

#define SL_ENUM_format  "text|json"
#define SL_ENUM_fail_on "close_wait|any|received"

enum sl_format { SL_FORMAT_TEXT = 0, SL_FORMAT_JSON = 1 };
enum sl_fail_on { SL_FAIL_CLOSE_WAIT = 0, SL_FAIL_ANY = 1, SL_FAIL_RECEIVED = 2 };

#define SL_OPT_TYPE_BOOL int
#define SL_OPT_TYPE_INT  long
#define SL_OPT_TYPE_STR  const char *
#define SL_OPT_TYPE_ENUM int

struct sl_options {
#define SL_OPTION(type, name, def, help) SL_OPT_TYPE_##type name;
#include "options.inc"
#undef SL_OPTION
};

/* One row of the option table, for help texts and the sockleak command. */
struct sl_option_desc {
    const char *type;     /* "BOOL", "INT", "STR" or "ENUM" */
    const char *name;
    const char *def;
    const char *help;
    const char *choices;  /* ENUM only: "a|b" */
};

/* The process's settings (defined by the runtime, read by every layer). */
extern struct sl_options sl_opts;

extern const struct sl_option_desc sl_option_table[];
extern const size_t sl_option_count;

/* Reset *o to the defaults, then apply the SOCKLEAK_OPTIONS string spec
 * (NULL: defaults only). Every bad key or value is reported through warn
 * (one message each, naming the option; its default is kept) and counted in
 * the return value. Strings in *o point into buf (of bufsize bytes). */
int sl_options_parse(struct sl_options *o, const char *spec, char *buf,
                     size_t bufsize, void (*warn)(const char *msg));

/* The number of a signal given by name (SIGUSR2, USR2) or number; -1 if
 * none. */
int sl_signal_number(const char *name);

/* Write the option list (help=1) through out, one line at a time. */
void sl_options_help(void (*out)(const char *line));

#endif
