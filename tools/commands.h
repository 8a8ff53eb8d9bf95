/* commands.h -- the sockleak subcommands and the report options they share. */
#ifndef SLT_COMMANDS_H
#define SLT_COMMANDS_H

#include "analyze.h"
#include "cli.h"

/* The options of every command that writes a merged report. */
struct slt_report_flags {
    struct slt_analyze_opts a;
    struct slt_strlist suppressions;
};

#define SLT_REPORT_OPTIONS(f) \
    OPT_GROUP("Report options"), \
    OPT_CHOICE(0, "format", &(f)->a.format, "text|json|sarif", \
               "text for people (default), json (JSON Lines) or sarif (SARIF 2.1.0)"), \
    OPT_STRING('o', "output", &(f)->a.output, "file", "write the report to FILE, not stdout"), \
    OPT_CHOICE(0, "fail-on", &(f)->a.fail_on, "close_wait|received|any|none", \
               "leaks that make the exit status 23: close_wait (default), received (also " \
               "sockets received through SCM_RIGHTS still held at exit; run lists them), " \
               "any (every kind listed), none"), \
    OPT_STRING_LIST(0, "suppressions", &(f)->suppressions, "file", \
                    "leave out leaks matching its leak:PATTERN lines (repeatable)"), \
    OPT_STRING(0, "baseline", &(f)->a.baseline, "file", \
               "accept the leaks recorded in FILE; fail only on new ones"), \
    OPT_STRING(0, "write-baseline", &(f)->a.write_baseline, "file", \
               "record the current leaks in FILE (they are then accepted)"), \
    OPT_INT(0, "max-sockets", &(f)->a.max_sockets, "n", \
            "text: sockets listed per group before \"omitting N more\" (default 10, 0: all)")

/* Defaults, then the suppressions= file of $SOCKLEAK_OPTIONS, if any. */
void slt_report_flags_init(struct slt_report_flags *f);

/* After parsing: check that the suppression and baseline files can be
 * used, so a typo fails before a long COMMAND runs. Returns 0 or -1. */
int slt_report_flags_check(struct slt_report_flags *f);

/* The last value of key in a SOCKLEAK_OPTIONS string, copied to buf. */
const char *slt_options_get(const char *spec, const char *key, char *buf, size_t len);

#define LIB_NAME "libsockleak.so"

/* The shim: --lib, else beside this program (the build tree), else ../lib
 * (installed). Returns 0, or -1 after a message naming cmd. */
int slt_find_library(const char *cmd, const char *given, char out[]);

int slt_cmd_attach(int argc, char **argv);
int slt_cmd_report(int argc, char **argv);
int slt_cmd_run(int argc, char **argv);
int slt_cmd_scan(int argc, char **argv);

#endif
