/* sockleak.c -- the sockleak command: dispatch to run, report and scan. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

#define SLT_VERSION "0.1"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
    const char *help;
};

static const struct command commands[] = {
    { "run", slt_cmd_run, "run [options] [--] COMMAND [ARGS...]",
      "run COMMAND under the preload library and report the sockets its processes leaked" },
    { "attach", slt_cmd_attach, "attach [options] PID",
      "attach to a running process, report its leaks live, then detach (no restart needed)" },
    { "report", slt_cmd_report, "report [options] FILE...",
      "merge JSON report files (log_path=...:format=json) from many processes or hosts" },
    { "scan", slt_cmd_scan, "scan [--all] PID...",
      "list the CLOSE_WAIT sockets of running processes, no preload needed" },
    { NULL, NULL, NULL, NULL },
};

static void usage(FILE *out) {
    fprintf(out, "usage: sockleak <command> [options] [args]\n\n"
                 "Find leaked sockets (CLOSE_WAIT and still open at exit) in unmodified programs.\n\n");
    for (const struct command *c = commands; c->name; c++) fprintf(out, "  sockleak %s\n", c->usage);
    fprintf(out, "\nCommands:\n");
    for (const struct command *c = commands; c->name; c++) slt_usage_line(out, c->name, c->help);
    fprintf(out, "\nExit status: the command's own when it failed; 23 when leaks of a --fail-on kind\n"
                 "were reported; 2 on bad usage or unreadable input; else 0.\n"
                 "\"sockleak <command> --help\" lists a command's options; see also sockleak(1).\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return SLT_EXIT_ERROR;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("sockleak %s\n", SLT_VERSION);
        return 0;
    }
    for (const struct command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "sockleak: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return SLT_EXIT_ERROR;
}
