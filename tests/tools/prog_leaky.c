/* prog_leaky.c -- leaks N (argv[1], default 1) sockets in CLOSE_WAIT from db_connect <- db_login <- main. */
#include "prog_common.h"

int __attribute__((noinline)) db_connect(void) {
    return connect_to_closing_peer();
}

int __attribute__((noinline)) db_login(void) {
    return db_connect();  /* the socket is never closed: the leak */
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < n; i++) db_login();
    return argc > 2 ? atoi(argv[2]) : 0;  /* argv[2]: the exit status */
}
