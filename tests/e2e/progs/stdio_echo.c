/* stdio_echo.c -- an inetd-style service: reads one line from stdin and
 * writes it back to stdout, then exits without closing either (both may be
 * one inherited socket). */
#include "e2e_prog.h"

int main(void)
{
    char buf[256];
    size_t len = 0;
    ssize_t n;

    while (len < sizeof(buf) && (n = read(0, buf + len, sizeof(buf) - len)) > 0) {
        len += n;
        if (memchr(buf, '\n', len))
            break;
    }
    CHECK(write(1, buf, len) == (ssize_t)len);
    return 0;
}
