/* cmd_scan.c -- "sockleak scan PID...": CLOSE_WAIT sockets of running processes from /proc and sock_diag. */
#include "commands.h"

int slt_cmd_scan(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "sockleak scan: not implemented yet\n");
    return SLT_EXIT_ERROR;
}
