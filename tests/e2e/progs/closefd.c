/* closefd.c -- closes sockets with close_range() or closefrom(), never with
 * close(). Prints {"kept":[fds still open],"closed":[fds closed]}.
 *   close_range          five sockets, the middle three closed
 *   close_range_cloexec  CLOSE_RANGE_CLOEXEC only marks fds: nothing closed
 *   closefrom            three sockets, closefrom(second)
 *   closefrom3           closefrom(3) (also closes any fd the shim holds),
 *                        then one new socket is left open
 *   close_range_all      the same with close_range(3, ~0U, 0)
 *   close_range_bad      three sockets; close_range with unknown flags and
 *                        with first > last fails (EINVAL) and closes nothing;
 *                        then close_range(3, ~0U, 0x40000000) fails too */
#include <errno.h>
#include <fcntl.h>

#include "e2e_prog.h"

int make_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    return fd;
}

static void print_fds(const char *name, const int *fds, int n, const char *sep)
{
    printf("\"%s\":[", name);
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", fds[i]);
    printf("]%s", sep);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "close_range";
    int s[5], kept[5], closed[5], nk = 0, nc = 0;

    if (strcmp(mode, "close_range") == 0) {
        for (int i = 0; i < 5; i++)
            s[i] = make_socket();
        CHECK(s[4] == s[0] + 4);   /* consecutive, so the range is exact */
        CHECK(close_range(s[1], s[3], 0) == 0);
        kept[nk++] = s[0], kept[nk++] = s[4];
        for (int i = 1; i <= 3; i++)
            closed[nc++] = s[i];
    } else if (strcmp(mode, "close_range_cloexec") == 0) {
        s[0] = make_socket();
        s[1] = make_socket();
        CHECK(close_range(s[0], s[1], CLOSE_RANGE_CLOEXEC) == 0);
        kept[nk++] = s[0], kept[nk++] = s[1];
    } else if (strcmp(mode, "closefrom") == 0) {
        for (int i = 0; i < 3; i++)
            s[i] = make_socket();
        CHECK(s[2] == s[0] + 2);
        closefrom(s[1]);
        kept[nk++] = s[0];
        closed[nc++] = s[1], closed[nc++] = s[2];
    } else if (strcmp(mode, "closefrom3") == 0 || strcmp(mode, "close_range_all") == 0) {
        s[0] = make_socket();
        s[1] = make_socket();
        fflush(stdout);
        if (strcmp(mode, "closefrom3") == 0)
            closefrom(3);
        else
            CHECK(close_range(3, ~0U, 0) == 0);
        closed[nc++] = s[0], closed[nc++] = s[1];
        kept[nk++] = make_socket();
    } else if (strcmp(mode, "close_range_bad") == 0) {
        for (int i = 0; i < 3; i++)
            s[i] = make_socket();
        errno = 0;
        CHECK(close_range(s[0], s[2], 0x40000000) == -1 && errno == EINVAL);
        errno = 0;
        CHECK(close_range(s[2], s[0], 0) == -1 && errno == EINVAL);
        errno = 0;
        CHECK(close_range(3, ~0U, 0x40000000) == -1 && errno == EINVAL);
        for (int i = 0; i < 3; i++) {
            CHECK(fcntl(s[i], F_GETFD) >= 0);   /* still open */
            kept[nk++] = s[i];
        }
    } else {
        fprintf(stderr, "closefd: unknown mode %s\n", mode);
        return 2;
    }
    printf("{");
    print_fds("kept", kept, nk, ",");
    print_fds("closed", closed, nc, "}\n");
    return 0;
}
