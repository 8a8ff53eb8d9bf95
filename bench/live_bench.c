/* live_bench.c -- what the shim costs a program with default options (live
 * detection on), against the same program without it: 5 interleaved pairs,
 * medians, side by side, with the bars, and an A/A control (the
 * same runs without the shim twice) that shows the resolution of the run:
 *   recv/read loop (one thread, TCP loopback)      cost   <= 1.02x
 *   TCP ping-pong between two processes            cost   <= 1.02x
 *   connect/accept/close churn                      cost   <= 1.05x
 *   an epoll keep-alive server (ka_server), req/s   rate   >= 0.98x
 * then the idle cost of 10,000 idle connections (CPU per minute of the
 * program and its watcher) and their memory over an hour of housekeeping
 * ticks (simulated with scan_ms=1).
 *
 *   live_bench LIB KA_SERVER [pairs [idle connections]]
 *
 * Costs are CPU time (user + system) per operation, so other load on the
 * machine counts less; the keep-alive figure is requests per wall second of
 * a client (without the shim) driving 16 connections. */
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FIGURE_S   1.0
#define KA_CONNS   16
#define KA_S       1.5
#define IDLE_S     20
#define IDLE_WARMUP_S 10
#define RSS_S      5        /* 5000 ticks at scan_ms=1: 1.4 hours of default ticks */
#define RSS_WARMUP_S 3

extern char **environ;
static const char *lib, *ka_server;

static void die(const char *what)
{
    fprintf(stderr, "live_bench: %s: %s\n", what, strerror(errno));
    exit(2);
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }
static double wall_s(void) { return clock_s(CLOCK_MONOTONIC); }

static int listener(int *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 4096) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0)
        die("listen");
    *port = ntohs(a.sin_port);
    return l;
}

static int dial(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) != 0)
        die("connect");
    return c;
}

static void full(ssize_t (*io)(int, void *, size_t), int fd, char *buf, size_t n)
{
    while (n > 0) {
        ssize_t r = io(fd, buf, n);
        if (r <= 0)
            die("short i/o");
        buf += r;
        n -= (size_t)r;
    }
}

static ssize_t do_read(int fd, void *b, size_t n) { return read(fd, b, n); }
static ssize_t do_recv(int fd, void *b, size_t n) { return recv(fd, b, n, 0); }
static ssize_t do_write(int fd, void *b, size_t n) { return write(fd, b, n); }

/* ---- figures, run in a child with or without the shim ---- */

/* ns of CPU per recv+read pair of 16 bytes each from a unix socketpair
 * with data queued: the cheapest socket calls, where a multi-threaded
 * glibc's extra work per call shows. */
static double recv_read_unix(void)
{
    static char fill[65536];
    char buf[16];
    int sv[2];
    long calls = 0;
    double busy = 0, t0 = cpu_s();
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair");
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    while (cpu_s() - t0 < FIGURE_S) {
        long queued = 0;
        ssize_t w;
        while ((w = write(sv[1], fill, sizeof(fill))) > 0)
            queued += w;
        long n = queued / (long)(2 * sizeof(buf));
        double t1 = cpu_s();
        for (long i = 0; i < n; i++)
            if (recv(sv[0], buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
                read(sv[0], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
                die("recv/read");
        busy += cpu_s() - t1;
        calls += n;
    }
    close(sv[0]);
    close(sv[1]);
    return busy * 1e9 / (double)calls;
}

/* ns of CPU per send+recv+send+read round on one TCP connection, one thread. */
static double recv_read(void)
{
    char buf[64] = { 0 };
    int port, l = listener(&port), a = dial(port), b = accept(l, NULL, NULL);
    long rounds = 0;
    double t0 = cpu_s(), t;
    do {
        for (int i = 0; i < 256; i++) {
            full(do_write, a, buf, sizeof(buf));
            full(do_recv, b, buf, sizeof(buf));
            full(do_write, b, buf, sizeof(buf));
            full(do_read, a, buf, sizeof(buf));
        }
        rounds += 256;
    } while ((t = cpu_s()) - t0 < FIGURE_S);
    close(a); close(b); close(l);
    return (t - t0) * 1e9 / (double)rounds;
}

/* ns of CPU (both processes) per 64-byte round trip between two processes. */
static double pingpong(void)
{
    char buf[64] = { 0 };
    int port, l = listener(&port);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int c = dial(port);
        for (ssize_t r; (r = read(c, buf, sizeof(buf))) > 0;)
            full(do_write, c, buf, (size_t)r);
        _exit(0);
    }
    int s = accept(l, NULL, NULL);
    long rounds = 0;
    double t0 = wall_s(), c0 = cpu_s();
    do {
        for (int i = 0; i < 256; i++) {
            full(do_write, s, buf, sizeof(buf));
            full(do_read, s, buf, sizeof(buf));
        }
        rounds += 256;
    } while (wall_s() - t0 < FIGURE_S);
    double mine = cpu_s() - c0;
    struct rusage ru;
    close(s);
    if (wait4(pid, NULL, 0, &ru) != pid)
        die("wait4");
    close(l);
    double theirs = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
                    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    return (mine + theirs) * 1e9 / (double)rounds;
}

/* ns of CPU per connect+accept+close of both ends. */
static double churn(void)
{
    /* The client resets (SO_LINGER 0): no TIME_WAIT, so ports never run out. */
    struct linger reset = { .l_onoff = 1, .l_linger = 0 };
    int port, l = listener(&port);
    long conns = 0;
    double t0 = cpu_s(), t;
    do {
        for (int i = 0; i < 64; i++) {
            int c = dial(port), s = accept(l, NULL, NULL);
            if (s < 0)
                die("accept");
            setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
            close(c);
            close(s);
        }
        conns += 64;
    } while ((t = cpu_s()) - t0 < FIGURE_S);
    close(l);
    return (t - t0) * 1e9 / (double)conns;
}

static int child_figures(void)
{
    /* One CPU for the program and its ping-pong peer alike: where the
     * scheduler puts two processes that wake each other moves their CPU
     * time per round trip by 15% either way (one unpinned run read 0.86x
     * "with the shim"), more than the cost being measured. */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sysconf(_SC_NPROCESSORS_ONLN) - 1, &one);
    sched_setaffinity(0, sizeof(one), &one);
    printf("recv_read_unix %.1f\n", recv_read_unix());
    printf("recv_read %.1f\n", recv_read());
    printf("pingpong %.1f\n", pingpong());
    printf("churn %.1f\n", churn());
    return fflush(stdout) == 0 ? 0 : 1;
}

/* Hold n connections to port, idle, until killed. */
static __attribute__((noreturn)) void child_idle(int port, int n)
{
    for (int i = 0; i < n; i++)
        dial(port);
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}

/* ---- the parent ---- */

static char **env_with(const char *preload, const char *options)
{
    static char pre[4096], opt[512];
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 3, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "SOCKLEAK_OPTIONS=", 17))
            env[k++] = environ[i];
    if (preload) {
        snprintf(pre, sizeof(pre), "LD_PRELOAD=%s", preload);
        env[k++] = pre;
    }
    if (options) {
        snprintf(opt, sizeof(opt), "SOCKLEAK_OPTIONS=%s", options);
        env[k++] = opt;
    }
    return env;
}

/* Start argv with its stdout piped to us; returns the pid. */
static pid_t spawn(char *const argv[], char **env, FILE **out)
{
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(p[1], 1);
        dup2(null, 2);      /* the shim's exit reports */
        close(p[0]);
        close(p[1]);
        execve(argv[0], argv, env);
        _exit(127);
    }
    close(p[1]);
    *out = fdopen(p[0], "r");
    return pid;
}

struct sample {
    double recv_read_unix, recv_read, pingpong, churn, ka_rate, ka_cpu;
};

static void run_figures(const char *self, int shim, struct sample *s)
{
    char *argv[] = { (char *)self, "figures", NULL }, line[256];
    FILE *out;
    pid_t pid = spawn(argv, env_with(shim ? lib : NULL, NULL), &out);
    while (fgets(line, sizeof(line), out)) {
        double v;
        if (sscanf(line, "recv_read_unix %lf", &v) == 1) s->recv_read_unix = v;
        if (sscanf(line, "recv_read %lf", &v) == 1) s->recv_read = v;
        if (sscanf(line, "pingpong %lf", &v) == 1) s->pingpong = v;
        if (sscanf(line, "churn %lf", &v) == 1) s->churn = v;
    }
    fclose(out);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("figures child failed");
}

static long long task_cpu_ns(int pid);
static int watcher_of(int host);

static const char request[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
#define REPLY_LEN 64    /* strlen of ka_server.c's reply */

/* Requests per wall second a client without the shim gets from ka_server. */
static void run_keepalive(int shim, struct sample *s)
{
    char *argv[] = { (char *)ka_server, NULL }, line[256], buf[REPLY_LEN * 4];
    FILE *out;
    int port = 0, fds[KA_CONNS], got[KA_CONNS] = { 0 }, ep = epoll_create1(0);
    pid_t pid = spawn(argv, env_with(shim ? lib : NULL, NULL), &out);
    if (!fgets(line, sizeof(line), out) || sscanf(line, "{\"port\":%d}", &port) != 1)
        die("ka_server did not start");
    for (int i = 0; i < KA_CONNS; i++) {
        fds[i] = dial(port);
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
        full(do_write, fds[i], (char *)request, sizeof(request) - 1);
    }
    long done = 0;
    double t0 = wall_s(), t;
    struct epoll_event evs[KA_CONNS];
    while ((t = wall_s()) - t0 < KA_S) {
        int n = epoll_wait(ep, evs, KA_CONNS, 1000);
        for (int i = 0; i < n; i++) {
            int k = (int)evs[i].data.u32;
            ssize_t r = read(fds[k], buf, sizeof(buf));
            if (r <= 0)
                die("ka_server closed");
            got[k] += (int)r;
            while (got[k] >= REPLY_LEN) {
                got[k] -= REPLY_LEN;
                done++;
                full(do_write, fds[k], (char *)request, sizeof(request) - 1);
            }
        }
    }
    /* The watcher process works for the server: its CPU counts too. */
    int w = shim ? watcher_of(pid) : -1;
    long long wcpu = w > 0 ? task_cpu_ns(w) : 0;
    double server_cpu = 0;
    for (int i = 0; i < KA_CONNS; i++)
        close(fds[i]);
    close(ep);
    while (fgets(line, sizeof(line), out))
        sscanf(line, "{\"cpu_s\":%lf}", &server_cpu);
    fclose(out);
    waitpid(pid, NULL, 0);
    s->ka_rate = (double)done / (t - t0);
    s->ka_cpu = server_cpu > 0 ? (double)done / (server_cpu + (double)wcpu / 1e9) : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- idle connections: the program's and its watcher's CPU and memory ---- */

static long long task_cpu_ns(int pid)
{
    char path[400], dpath[64];
    long long total = 0;
    snprintf(dpath, sizeof(dpath), "/proc/%d/task", pid);
    DIR *d = opendir(dpath);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        long long ns;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s/schedstat", dpath, e->d_name);
        FILE *f = fopen(path, "r");
        if (f && fscanf(f, "%lld", &ns) == 1)
            total += ns;
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return total;
}

struct rss {
    long total, anon, file, shmem;      /* kB */
};

static struct rss rss_of(int pid)
{
    char path[64], line[256];
    struct rss r = { -1, -1, -1, -1 };
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f)) {
        sscanf(line, "VmRSS: %ld", &r.total);
        sscanf(line, "RssAnon: %ld", &r.anon);
        sscanf(line, "RssFile: %ld", &r.file);
        sscanf(line, "RssShmem: %ld", &r.shmem);
    }
    if (f)
        fclose(f);
    return r;
}

static void print_rss(const char *who, struct rss a, struct rss b)
{
    printf("  %-16s %6ld -> %6ld kB (anon %ld -> %ld, file %ld -> %ld, shared %ld -> %ld): %s\n",
           who, a.total, b.total, a.anon, b.anon, a.file, b.file, a.shmem, b.shmem,
           b.total - a.total <= 64 ? "flat" : "GROWS");
}

/* The inode of the sockleak-live memfd pid maps, 0 if none. The host
 * closes its fd once the watcher runs: only the mapping says. */
static unsigned long region_inode(int pid)
{
    char path[64], line[512];
    unsigned long ino = 0;
    snprintf(path, sizeof(path), "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    while (f && ino == 0 && fgets(line, sizeof(line), f)) {
        unsigned long i;
        if (strstr(line, "/memfd:sockleak-live") &&
            sscanf(line, "%*s %*s %*s %*s %lu", &i) == 1)
            ino = i;
    }
    if (f)
        fclose(f);
    return ino;
}

/* The watcher process of host: it maps the same sockleak-live memfd. */
static int watcher_of(int host)
{
    unsigned long ino = region_inode(host);
    char path[64], comm[32];
    if (ino == 0)
        return -1;
    DIR *d = opendir("/proc");
    int found = -1;
    for (struct dirent *e; d && (e = readdir(d)) != NULL && found < 0;) {
        int pid = atoi(e->d_name);
        if (pid <= 0 || pid == host)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/comm", pid);
        FILE *f = fopen(path, "r");
        int named = f && fgets(comm, sizeof(comm), f) && !strncmp(comm, "sockleak-watch", 14);
        if (f)
            fclose(f);
        if (named && region_inode(pid) == ino)
            found = pid;
    }
    if (d)
        closedir(d);
    return found;
}

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Hold n idle connections in a program under the shim; returns its pid
 * (peer: the process holding the other ends). */
static int start_idle(const char *self, int n, const char *options, pid_t *peer)
{
    int port, l = listener(&port);
    *peer = fork();
    if (*peer == 0) {
        for (int i = 0; i < n; i++)
            if (accept(l, NULL, NULL) < 0)
                die("accept");
        for (;;)
            pause();
    }
    close(l);
    char portstr[16], nstr[16], line[64], *argv[] = { (char *)self, "idle", portstr, nstr, NULL };
    snprintf(portstr, sizeof(portstr), "%d", port);
    snprintf(nstr, sizeof(nstr), "%d", n);
    FILE *out;
    pid_t pid = spawn(argv, env_with(lib, options), &out);
    if (!fgets(line, sizeof(line), out) || strncmp(line, "ready", 5))
        die("idle program did not start");
    fclose(out);
    return pid;
}

static void stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void idle_figures(const char *self, int n)
{
    pid_t peer, host = start_idle(self, n, NULL, &peer);
    sleep_s(IDLE_WARMUP_S);     /* the watcher takes the quiet ones into its epoll set */
    int w = watcher_of(host);
    long long h0 = task_cpu_ns(host), w0 = w > 0 ? task_cpu_ns(w) : 0;
    sleep_s(IDLE_S);
    long long h1 = task_cpu_ns(host), w1 = w > 0 ? task_cpu_ns(w) : 0;
    double per_min = 60.0 / IDLE_S / 1e6;
    printf("\n%d idle connections, default options, %d s from %d s after they opened:\n", n,
           IDLE_S, IDLE_WARMUP_S);
    printf("  program %.2f ms CPU/min, watcher process %s%.2f ms CPU/min; total %.2f ms/min"
           "  (bar <= 10): %s\n", (double)(h1 - h0) * per_min, w > 0 ? "" : "(none) ",
           (double)(w1 - w0) * per_min, (double)(h1 - h0 + w1 - w0) * per_min,
           (double)(h1 - h0 + w1 - w0) * per_min <= 10 ? "PASS" : "FAIL");
    stop(host);
    stop(peer);

    host = start_idle(self, n, "scan_ms=1", &peer);
    /* Warm-up: the connections turn quiet (1 s) and join the epoll set,
     * and their stack is symbolized once (libdw maps the modules' debug
     * info: the watcher's one-time growth). Then a steady hour of ticks. */
    sleep_s(RSS_WARMUP_S);
    w = watcher_of(host);
    struct rss hr0 = rss_of(host), wr0 = w > 0 ? rss_of(w) : (struct rss){ 0 };
    sleep_s(RSS_S);
    struct rss hr1 = rss_of(host), wr1 = w > 0 ? rss_of(w) : (struct rss){ 0 };
    printf("RSS over %d s at scan_ms=1 (%d ticks, %.1f hours of default ticks), "
           "after %d s of warm-up:\n", RSS_S, RSS_S * 1000, RSS_S * 1000 / 3600.0, RSS_WARMUP_S);
    print_rss("program", hr0, hr1);
    print_rss("watcher process", wr0, wr1);
    stop(host);
    stop(peer);
}

static void raise_nofile(rlim_t want)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < want) {
        r.rlim_cur = want;
        if (r.rlim_max < want)
            r.rlim_max = want;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "figures"))
        return child_figures();
    if (argc >= 4 && !strcmp(argv[1], "idle"))
        child_idle(atoi(argv[2]), atoi(argv[3]));
    if (argc < 3) {
        fprintf(stderr, "usage: live_bench LIB KA_SERVER [pairs [idle connections]]\n");
        return 2;
    }
    lib = argv[1];
    ka_server = argv[2];
    int pairs = argc > 3 ? atoi(argv[3]) : 5, idle = argc > 4 ? atoi(argv[4]) : 10000;
    raise_nofile((rlim_t)idle + 1024);
    signal(SIGPIPE, SIG_IGN);
    /* s[0]: without the shim, s[1]: with it, s[2]: without it again, an
     * A/A control: how far two runs of the same thing differ here is the
     * resolution any ratio of this run has. */
    struct sample s[3][16];
    if (pairs > 16)
        pairs = 16;
    printf("bench-live: %s, default options; %d interleaved pairs, medians\n", lib, pairs);
    for (int i = 0; i < pairs; i++) {
        for (int k = 0; k < 3; k++) {
            int which = (i + k) % 3;        /* rotate which goes first */
            run_figures(argv[0], which == 1, &s[which][i]);
            run_keepalive(which == 1, &s[which][i]);
        }
        fprintf(stderr, ".");
    }
    fprintf(stderr, "\n");
    struct { const char *label, *unit; size_t off; int cost; double bar; } rows[] = {
        { "recv/read loop, one thread (unix)", "ns CPU/pair", offsetof(struct sample, recv_read_unix), 1, 1.02 },
        { "recv/read loop, one thread (TCP)", "ns CPU/round", offsetof(struct sample, recv_read), 1, 1.02 },
        { "TCP ping-pong, two processes", "ns CPU/round trip", offsetof(struct sample, pingpong), 1, 1.02 },
        { "connect/accept/close churn", "ns CPU/connection", offsetof(struct sample, churn), 1, 1.05 },
        { "epoll keep-alive server", "req/s", offsetof(struct sample, ka_rate), 0, 0.98 },
        { "  the same, per server CPU second", "req/CPU s", offsetof(struct sample, ka_cpu), 0, 0.98 },
    };
    printf("%-36s %14s %14s %8s  %-17s %s\n", "", "without", "with", "ratio", "bar", "A/A");
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        double v[3][16], m[3];
        for (int which = 0; which < 3; which++) {
            for (int i = 0; i < pairs; i++)
                v[which][i] = *(double *)((char *)&s[which][i] + rows[r].off);
            m[which] = median(v[which], pairs);
        }
        double ratio = m[1] / m[0];
        int ok = rows[r].cost ? ratio <= rows[r].bar : ratio >= rows[r].bar;
        printf("%-36s %14.1f %14.1f %7.3fx  %s %.2fx %-4s  %7.3fx  (%s)\n", rows[r].label, m[0],
               m[1], ratio, rows[r].cost ? "<=" : ">=", rows[r].bar, ok ? "PASS" : "FAIL",
               m[2] / m[0], rows[r].unit);
    }
    printf("A/A: the median of a second set of runs without the shim over the first; "
           "a ratio closer to 1 than that is within this run's noise.\n");
    if (idle > 0)
        idle_figures(argv[0], idle);
    return 0;
}
