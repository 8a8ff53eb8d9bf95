/* report_churn.c -- a program that reuses the shim's fd numbers while the
 * shim writes reports (issue 8 item 2). One thread leaks connections in
 * CLOSE_WAIT (its own server closes each at once) and closes each one
 * later, so live leak events and closed_late events are written while the
 * program runs. A scanner thread lists the fds in /proc/self/fd that are
 * not the program's (the shim's report file, memfds, pipes, epoll and
 * eventfds) at or above TARGET_FLOOR. Churner threads put their own
 * socketpair end at those numbers (dup2, dup3, syscall(SYS_dup3), or close
 * then F_DUPFD), write a numbered message through the number, hold it (the
 * report file's until the shim wrote a report), check that exactly that
 * message arrived at the pair's other end, and close the number again.
 *     report_churn MS GRACE_MS LOG_PATH   (its report is LOG_PATH.PID)
 * Prints {"bad":N,"report_bytes":N,"dups":N,"report_dups":N,"leaked":N}:
 * bad counts messages that did not arrive unchanged (or with bytes of
 * someone else's), report_bytes the bytes of report text that arrived at a
 * peer, dups the successful dup2/dup3 onto a listed number (report_dups:
 * onto the report file's). Exits 1 if bad or report_bytes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include "e2e_prog.h"

#define NCHURN        4
#define MAX_TARGETS   32
#define TARGET_FLOOR  512     /* the leaker's sockets stay far below */
#define MAX_LEAKED    128     /* connections open at once */
#define MAX_FD        65536
#define HOLD_MS       1500    /* a leaked connection stays open this long past grace_ms */
#define PACE_MS       15      /* one new leaked connection each */
#define HOLD_REPORT_MS 20     /* how long a churner may hold the report's number */

static char report_path[4096];
static long grace_ms;
static _Atomic int stop;
static _Atomic long bad, report_bytes, dups, report_dups, leaked;
static _Atomic int targets[MAX_TARGETS], ntargets, report_fd = -1;
static _Atomic unsigned char claimed[MAX_FD];   /* a churner holds this number */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What fd is, from /proc/self/fd: 's' a socket, 'r' the report file, 'o'
 * anything else, 0 not open. */
static int fd_kind(int fd)
{
    char path[64], link[4200];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n <= 0)
        return 0;
    link[n] = '\0';
    if (strncmp(link, "socket:", 7) == 0)
        return 's';
    return strcmp(link, report_path) == 0 ? 'r' : 'o';
}

/* ---- the scanner: the shim's numbers, as the program can see them ---- */

static void *scan(void *arg)
{
    (void)arg;
    while (!stop) {
        int found[MAX_TARGETS], n = 0, rep = -1;
        DIR *d = opendir("/proc/self/fd");
        CHECK(d != NULL);
        for (struct dirent *e; (e = readdir(d)) != NULL && n < MAX_TARGETS;) {
            int fd = atoi(e->d_name);
            if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd < TARGET_FLOOR ||
                fd >= MAX_FD || fd == dirfd(d))
                continue;
            int kind = fd_kind(fd);
            if (kind == 'r')
                rep = fd;
            if (kind == 'r' || kind == 'o')
                found[n++] = fd;
        }
        closedir(d);
        for (int i = 0; i < n; i++)
            targets[i] = found[i];
        ntargets = n;
        report_fd = rep;
        sleep_ms(2);
    }
    return NULL;
}

/* ---- the leaker: live reports and closed_late events, written now ---- */

static void *leak(void *arg)
{
    (void)arg;
    struct { int fd; int64_t at; } open_fds[MAX_LEAKED];
    int head = 0, count = 0;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(listener >= 0);
    int port = bind_loopback(listener);
    CHECK(listen(listener, 64) == 0);
    while (!stop) {
        /* close the oldest once the shim has had time to report it live */
        while (count > 0 && (count == MAX_LEAKED ||
                             now_ms() - open_fds[head].at > HOLD_MS + grace_ms)) {
            close(open_fds[head].fd);
            head = (head + 1) % MAX_LEAKED;
            count--;
        }
        int c = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(c >= 0 && c < TARGET_FLOOR);
        connect_loopback(c, port);
        int s = accept(listener, NULL, NULL);
        CHECK(s >= 0);
        close(s);                      /* the peer closes: c is in CLOSE_WAIT */
        open_fds[(head + count) % MAX_LEAKED].fd = c;
        open_fds[(head + count) % MAX_LEAKED].at = now_ms();
        count++;
        leaked++;
        sleep_ms(PACE_MS);
    }
    while (count > 0) {
        close(open_fds[head].fd);
        head = (head + 1) % MAX_LEAKED;
        count--;
    }
    close(listener);
    return NULL;
}

/* ---- the churners ---- */

static int is_report_text(const char *buf, ssize_t n)
{
    return memmem(buf, (size_t)n, "\"event\"", 7) != NULL ||
           memmem(buf, (size_t)n, "sockleak", 8) != NULL;
}

/* Read everything pending at fd (nothing more may come: the writer is this
 * thread). Returns the byte count, buf holds up to cap bytes of it. */
static ssize_t drain(int fd, char *buf, size_t cap)
{
    ssize_t total = 0;
    char tmp[4096];
    for (;;) {
        ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n <= 0)
            return total;
        if (is_report_text(tmp, n))
            report_bytes += n;
        size_t room = (size_t)total < cap ? cap - (size_t)total : 0;
        memcpy(buf + total, tmp, (size_t)n < room ? (size_t)n : room);
        total += n;
    }
}

/* One line on stderr for each of the first few failures. */
static void complain(const char *what, int fd, int kind, int err, const char *buf, ssize_t n)
{
    if (bad++ < 10)
        fprintf(stderr, "report_churn: %s on fd %d (was '%c'): %s; %zd bytes: %.*s\n", what,
                fd, kind ? kind : '-', err ? strerror(err) : "-", n,
                (int)(n > 200 ? 200 : n < 0 ? 0 : n), buf ? buf : "");
}

/* Put from at number t the ways programs do (libuv and raw callers use
 * syscall()). Returns t, or what went wrong. */
static int take_number(unsigned how, int from, int t)
{
    switch (how % 4) {
    case 0:
        return dup2(from, t);
    case 1:
        return dup3(from, t, O_CLOEXEC);
    case 2:
        return (int)syscall(SYS_dup3, from, t, O_CLOEXEC);
    default: {
        /* close the number (the shim's: EBADF), then the lowest free >= t */
        if (close(t) != 0 && errno != EBADF)
            return -1;
        int d = fcntl(from, F_DUPFD_CLOEXEC, t);
        if (d >= 0 && d != t) {
            close(d);
            return -1;
        }
        return d;
    }
    }
}

static off_t report_size(void)
{
    struct stat st;
    return stat(report_path, &st) == 0 ? st.st_size : -1;
}

static void *churn(void *arg)
{
    int k = (int)(intptr_t)arg, pair[2];
    unsigned seed = (unsigned)k * 7919u + 3;
    char out[64], in[8192];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    for (unsigned long seq = 0; !stop; seq++) {
        int n = ntargets;
        if (n == 0) {
            sched_yield();
            continue;
        }
        int t = targets[(unsigned)rand_r(&seed) % (unsigned)n];
        unsigned char no = 0;
        if (t < TARGET_FLOOR || t >= MAX_FD ||
            !__atomic_compare_exchange_n(&claimed[t], &no, 1, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            continue;
        off_t size0 = report_size();
        int kind = fd_kind(t);
        /* only a number the shim holds (it may have moved meanwhile) */
        if ((kind == 'r' || kind == 'o') && take_number((unsigned)seq, pair[0], t) == t) {
            dups++;
            if (kind == 'r')
                report_dups++;
            int len = snprintf(out, sizeof(out), "c%d:%lu;", k, seq);
            if (write(t, out, (size_t)len) != len)
                complain("write", t, kind, errno, NULL, 0);
            /* Keep the number a moment; the report file's, until the shim
             * wrote a report (the file grew) or for HOLD_REPORT_MS: a report
             * written to the number now would arrive at pair[1]. */
            int64_t until = now_ms() + (kind == 'r' ? HOLD_REPORT_MS : 0);
            int spins = 0;
            do
                sched_yield();
            while (++spins < 20 || (report_size() == size0 && now_ms() < until));
            ssize_t got = drain(pair[1], in, sizeof(in));
            if (got != len || memcmp(in, out, (size_t)len) != 0)
                complain("bytes", t, kind, 0, in, got);
            if (close(t) != 0)      /* the program's own fd: close must work */
                complain("close", t, kind, errno, NULL, 0);
            got = drain(pair[1], in, sizeof(in));
            if (got != 0)
                complain("late bytes", t, kind, 0, in, got);
        }
        __atomic_store_n(&claimed[t], 0, __ATOMIC_RELEASE);
    }
    sleep_ms(50);
    ssize_t got = drain(pair[1], in, sizeof(in));
    if (got != 0)
        complain("bytes at the end", -1, 0, 0, in, got);
    close(pair[0]);
    close(pair[1]);
    return NULL;
}

int main(int argc, char **argv)
{
    CHECK(argc == 4);
    long ms = atol(argv[1]);
    grace_ms = atol(argv[2]);
    snprintf(report_path, sizeof(report_path), "%s.%d", argv[3], (int)getpid());
    pthread_t scanner, leaker, churners[NCHURN];

    CHECK(pthread_create(&leaker, NULL, leak, NULL) == 0);
    CHECK(pthread_create(&scanner, NULL, scan, NULL) == 0);
    for (int k = 0; k < NCHURN; k++)
        CHECK(pthread_create(&churners[k], NULL, churn, (void *)(intptr_t)k) == 0);
    sleep_ms(ms);
    stop = 1;
    pthread_join(leaker, NULL);
    pthread_join(scanner, NULL);
    for (int k = 0; k < NCHURN; k++)
        pthread_join(churners[k], NULL);
    printf("{\"bad\":%ld,\"report_bytes\":%ld,\"dups\":%ld,\"report_dups\":%ld,"
           "\"leaked\":%ld}\n", bad, report_bytes, dups, report_dups, leaked);
    return bad || report_bytes ? 1 : 0;
}
