/* leaky_client.c -- the classic CLOSE_WAIT leak, on purpose.
 *
 * Usage: leaky_client PORT COUNT
 *   Logs in to db_server COUNT times. Every login is refused, and the error
 *   path in db_login() returns without closing the connection. The server
 *   has already hung up, so each leaked socket sits in CLOSE_WAIT until this
 *   process exits. Compare with fixed_client.c (diff the two files). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Open a connection to the database on 127.0.0.1:port; -1 on error. */
int db_connect(int port)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read one line of the server's answer into buf; its length, or -1. */
static ssize_t read_line(int fd, char *buf, size_t size)
{
    size_t len = 0;

    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, 1);
        if (n <= 0)
            return -1;
        if (buf[len++] == '\n')
            break;
    }
    buf[len] = '\0';
    return len;
}

/* Log in on fd. On success the caller owns fd; on error it is "handled". */
int db_login(int fd, const char *user)
{
    char line[128];
    int len = snprintf(line, sizeof(line), "LOGIN %s secret\n", user);

    if (write(fd, line, len) != len || read_line(fd, line, sizeof(line)) < 0
        || strncmp(line, "OK", 2) != 0) {
        /* BUG: the error is caught and reported, but fd is never closed.
         * The server has hung up, so this socket now sits in CLOSE_WAIT
         * for as long as the process lives. The fix is one line:
         *     close(fd);
         * (see fixed_client.c). */
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct timespec pause = { .tv_sec = 0, .tv_nsec = 200 * 1000 * 1000 };
    int port, count, failed = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT COUNT\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    count = atoi(argv[2]);
    for (int i = 0; i < count; i++) {
        int fd = db_connect(port);
        if (fd < 0) {
            perror("leaky_client: connect");
            return 1;
        }
        if (db_login(fd, "app") < 0) {
            failed++;
            continue;
        }
        close(fd);
    }
    /* Give the kernel time to settle every leaked socket in CLOSE_WAIT. */
    nanosleep(&pause, NULL);
    printf("leaky_client: %d of %d logins failed\n", failed, count);
    return 0;
}
