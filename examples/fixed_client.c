/* fixed_client.c -- leaky_client.c with the leak fixed.
 *
 * Usage: fixed_client PORT COUNT
 *   Logs in to db_server COUNT times; every login is refused and the error
 *   path in db_login() now closes the connection, so nothing is left in
 *   CLOSE_WAIT. Diff this file against leaky_client.c to see the fix. */
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

/* Log in on fd. On success the caller owns fd; on error fd is closed. */
int db_login(int fd, const char *user)
{
    char line[128];
    int len = snprintf(line, sizeof(line), "LOGIN %s secret\n", user);

    if (write(fd, line, len) != len || read_line(fd, line, sizeof(line)) < 0
        || strncmp(line, "OK", 2) != 0) {
        /* The fix: an error path that gives up on fd must close it. */
        close(fd);
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
            perror("fixed_client: connect");
            return 1;
        }
        if (db_login(fd, "app") < 0) {
            failed++;
            continue;
        }
        close(fd);
    }
    /* The same pause as leaky_client, so the two runs compare fairly. */
    nanosleep(&pause, NULL);
    printf("fixed_client: %d of %d logins failed\n", failed, count);
    return 0;
}
