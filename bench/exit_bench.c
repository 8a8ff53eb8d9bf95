/* exit_bench.c -- what the shim adds to a program's exit when it holds many
 * idle connections (issue 9: "the cost of the exit path grows with the
 * number of leaks, not the number of connections").
 *
 *   exit_bench [runs] LABEL=LIB ...
 *
 * A holder process (this program, re-run with --hold) accepts N connections
 * from this one and keeps them idle (ESTABLISHED, no leak), then calls
 * exit(0) when told. The figure is the wall time from the command to the
 * holder being reaped: the shim's exit report plus the kernel closing the
 * sockets. For N = 100 and 10,000, through exit(0) and _exit(0) (the shim's
 * async-signal-safe path): without the shim and with each library given
 * (e.g. an older build and this one), interleaved, medians. Default options
 * (the watcher runs; its stop is part of the exit). After each run both
 * ends reset, so no TIME_WAIT piles up between runs.
 *
 * Then, for the design's sake, what each way of asking the kernel about
 * 10,000 connections costs (on the harness's own ends, while the holder
 * keeps the other ends): fstat + TCP_INFO per fd (the old exit path), one
 * poll() over all (the exit path now), one sock_diag TCP dump of every
 * state (both families, with and without tcp_info). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sockdiag.h"

#define MAX_LIBS 4
#define DEFAULT_RUNS 7

extern char **environ;

static void die(const char *what)
{
    fprintf(stderr, "exit_bench: %s: %s\n", what, strerror(errno));
    exit(2);
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double tv_ms(struct timeval tv)
{
    return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

static double cpu_ms(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return tv_ms(ru.ru_utime) + tv_ms(ru.ru_stime);
}

static void raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

/* The holder: listen, say the port, accept n, say so, exit(0) (or
 * _exit(0): the shim's async-signal-safe path) on a byte. */
static int hold(int n, int quick)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 4096) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0)
        die("holder: listen");
    unsigned short port = ntohs(a.sin_port);
    if (write(1, &port, sizeof(port)) != sizeof(port))
        die("holder: write port");
    for (int i = 0; i < n; i++)
        if (accept(l, NULL, NULL) < 0)
            die("holder: accept");
    char c = 'r';
    if (write(1, &c, 1) != 1 || read(0, &c, 1) != 1)
        die("holder: pipe");
    double cpu = cpu_ms(RUSAGE_SELF);
    if (write(1, &cpu, sizeof(cpu)) != sizeof(cpu))
        die("holder: write cpu");
    if (quick)
        _exit(0);
    exit(0);
}

static void read_all(int fd, void *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0)
            die("read from the holder");
        got += (size_t)r;
    }
}

/* One run: ms from the exit command to the holder reaped; *cpu: the
 * holder's CPU time from the command to its end (its exit path, the shim's
 * report and the kernel closing its sockets). */
static void (*while_held)(const int *fds, int n);

static double one_run(const char *self, const char *lib, int n, int quick, double *cpu)
{
    int to[2], from[2];
    char count[16];
    if (pipe(to) != 0 || pipe(from) != 0)
        die("pipe");
    snprintf(count, sizeof(count), "%d", n);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]); close(to[1]); close(from[0]); close(from[1]);
        if (lib != NULL)
            setenv("LD_PRELOAD", lib, 1);
        else
            unsetenv("LD_PRELOAD");
        execl(self, self, quick ? "--hold-quick" : "--hold", count, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    unsigned short port;
    read_all(from[0], &port, sizeof(port));
    int *fds = malloc((size_t)n * sizeof(int));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof(a)) != 0)
            die("connect");
    }
    char c;
    read_all(from[0], &c, 1);
    if (while_held != NULL)
        while_held(fds, n);
    usleep(200 * 1000);     /* let the accepts' side work (the watcher) settle */
    double t0 = wall_ms();
    if (write(to[1], "x", 1) != 1)
        die("write to the holder");
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0)
        if (errno != EINTR)
            die("wait4");
    double ms = wall_ms() - t0, before;
    read_all(from[0], &before, sizeof(before));
    *cpu = tv_ms(ru.ru_utime) + tv_ms(ru.ru_stime) - before;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "exit_bench: the holder exited with status 0x%x\n", st);
        exit(2);
    }
    /* Reset (linger 0): no TIME_WAIT is left on either side, so every run's
     * sock_diag dumps see the same machine. */
    struct linger lg = { 1, 0 };
    for (int i = 0; i < n; i++) {
        setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fds[i]);
    }
    free(fds);
    close(to[1]);
    close(from[0]);
    return ms;
}

static void fd_questions(const int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        struct tcp_info ti;
        socklen_t len = sizeof(ti);
        fstat(fds[i], &st);
        getsockopt(fds[i], IPPROTO_TCP, TCP_INFO, &ti, &len);
    }
}

static void one_poll(const int *fds, int n)
{
    struct pollfd *p = calloc((size_t)n, sizeof(*p));
    for (int i = 0; i < n; i++) {
        p[i].fd = fds[i];
        p[i].events = POLLIN | POLLOUT | POLLRDHUP;
    }
    if (poll(p, (nfds_t)n, 0) < 0)
        die("poll");
    free(p);
}

static size_t dumped;

static void one_dump(const int *fds, int n)
{
    static struct sl_diag *d;
    static struct sl_diag_list l;
    (void)fds, (void)n;
    if (d == NULL && (d = sl_diag_open()) == NULL)
        die("sock_diag");
    if (sl_diag_list_tcp(d, ~0u & ~(1u << TCP_TIME_WAIT | 1u << TCP_SYN_RECV), &l) != 0)
        die("sock_diag dump");
    dumped = l.n;
}

/* TCP sockets a dump walks past: allocated ones and TIME_WAIT. */
static long tcp_walked(void)
{
    long inuse, orphan, tw, alloc;
    char line[256];
    FILE *f = fopen("/proc/net/sockstat", "r");
    long r = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "TCP: inuse %ld orphan %ld tw %ld alloc %ld", &inuse, &orphan, &tw,
                   &alloc) == 4)
            r = alloc + tw;
    if (f)
        fclose(f);
    return r;
}

#define NQ 3
static const struct {
    const char *name;
    void (*fn)(const int *fds, int n);
} questions[NQ] = {
    { "fstat + TCP_INFO per fd (old exit path)", fd_questions },
    { "one poll() over all (exit path now)", one_poll },
    { "one sock_diag TCP dump, tcp_info (2 families)", one_dump },
};
static double question_ms[NQ][64];
static int question_runs;
static long walked;

static void time_questions(const int *fds, int n)
{
    for (int q = 0; q < NQ; q++) {
        double t = wall_ms();
        questions[q].fn(fds, n);
        question_ms[q][question_runs] = wall_ms() - t;
    }
    question_runs++;
    walked = tcp_walked();
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *labels[MAX_LIBS + 1] = { "no shim" }, *libs[MAX_LIBS + 1] = { NULL };
    int nlibs = 1, runs = DEFAULT_RUNS;
    static const int sizes[] = { 100, 10000 };
    char self[4096];

    if (argc == 3 && strcmp(argv[1], "--hold") == 0)
        return hold(atoi(argv[2]), 0);
    if (argc == 3 && strcmp(argv[1], "--hold-quick") == 0)
        return hold(atoi(argv[2]), 1);
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0)
        die("readlink /proc/self/exe");
    self[len] = '\0';
    for (int i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL) {
            runs = atoi(argv[i]);
            continue;
        }
        if (nlibs > MAX_LIBS || runs < 1) {
            fprintf(stderr, "usage: exit_bench [runs] LABEL=LIB ... (at most %d)\n", MAX_LIBS);
            return 2;
        }
        *eq = '\0';
        labels[nlibs] = argv[i];
        libs[nlibs++] = eq + 1;
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    printf("bench-exit: a holder with N idle ESTABLISHED connections calls exit(0) or _exit(0);\n"
           "wall ms from the command to the holder reaped / the holder's CPU ms in that\n"
           "time (both include the kernel closing the sockets), medians of %d interleaved runs\n",
           runs);
    printf("%8s %7s", "N", "exit");
    for (int k = 0; k < nlibs; k++)
        printf("  %19s", labels[k]);
    printf("\n");
    for (size_t s = 0; s < 2 * sizeof(sizes) / sizeof(sizes[0]); s++) {
        double v[MAX_LIBS + 1][64], c[MAX_LIBS + 1][64];
        int n = sizes[s / 2], quick = s % 2;
        for (int r = 0; r < runs && r < 64; r++)
            for (int k = 0; k < nlibs; k++)
                v[k][r] = one_run(self, libs[k], n, quick, &c[k][r]);
        printf("%8d %7s", n, quick ? "_exit" : "exit");
        for (int k = 0; k < nlibs; k++) {
            int m = runs < 64 ? runs : 64;
            qsort(v[k], (size_t)m, sizeof(double), cmp_double);
            qsort(c[k], (size_t)m, sizeof(double), cmp_double);
            printf("  %7.1f / %6.1f ms", v[k][m / 2], c[k][m / 2]);
        }
        printf("\n");
        fflush(stdout);
    }
    int n = sizes[sizeof(sizes) / sizeof(sizes[0]) - 1];
    double cpu;
    while_held = time_questions;
    for (int r = 0; r < runs && r < 64; r++)
        one_run(self, NULL, n, 0, &cpu);
    printf("\nasking the kernel about %d connections (the dump returns %zu sockets and walks\n"
           "past %ld: /proc/net/sockstat's TCP alloc + tw), median ms and us per connection:\n",
           n, dumped, walked);
    for (int q = 0; q < NQ; q++) {
        qsort(question_ms[q], (size_t)question_runs, sizeof(double), cmp_double);
        double m = question_ms[q][question_runs / 2];
        printf("  %-48s %8.1f ms %6.2f us\n", questions[q].name, m, m * 1000 / n);
    }
    return 0;
}
