/* prog_clean.c -- the same connections as prog_leaky, each closed: nothing to report. */
#include "prog_common.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3;
    for (int i = 0; i < n; i++) close(connect_to_closing_peer());
    return 0;
}
