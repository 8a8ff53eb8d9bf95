/* live_bench.c -- what the shim costs a program with default options (live
 * detection on), against the same program without it, side by side, with
 * the bars:
 *   recv/read loop (one thread, unix and TCP loopback)  cost   <= 1.02x
 *   TCP ping-pong between two processes                cost   <= 1.02x
 *   connect/accept/close churn                          cost   <= 1.05x
 *   an epoll keep-alive server (ka_server), req/s       rate   >= 0.98x
 * Three long-lived programs run the figures: without the shim, with it, and
 * without it again (the A/A control, the resolution of the run). They take
 * turns, a burst of about BURST_S of CPU each, in rotating order, for
 * ROUNDS rounds (default 15); each round's ratio compares runs made seconds
 * apart, and the median over the rounds is printed with its quartiles. In
 * the churn, a fourth program without the shim makes the two kernel calls
 * the shim adds to a connection for #9's socket identity (the client's
 * SO_COOKIE, the accepted peer's address): the part of the bar no code in
 * the shim can take back, on the machine the bench runs on.
 * Then the idle cost of 10,000 idle connections (CPU per minute of the
 * program and its watcher) and their memory over an hour of housekeeping
 * ticks (simulated with scan_ms=1).
 *
 *   live_bench LIB KA_SERVER [rounds [idle connections]]
 *
 * Costs are CPU time (user + system) per operation, so other load on the
 * machine counts less; the keep-alive figure is requests per wall second
 * (and per CPU second of the server and its watcher) of a client without
 * the shim driving 16 connections. LIVE_BENCH_OPTIONS, if set, is the
 * SOCKLEAK_OPTIONS of the program with the shim (to split a figure, e.g.
 * scan_ms=0). */
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

#define BURST_S    0.15     /* CPU seconds per burst of a figure */
#define MAX_ROUNDS 64
#define NROWS      6        /* the four figures, the keep-alive rate and its CPU */
#define KA_CONNS   16
#define KA_BURST_S 0.25     /* wall seconds per keep-alive burst */
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

/* ---- figures: a worker process, with or without the shim, runs bursts ---- */

/* The worker keeps one of each set-up for its whole life (a long-lived
 * program, as the shim's users run): a unix socketpair, a TCP connection
 * to itself, a ping-pong peer process and a listener to churn against. */
static struct {
    int sv[2];
    int tcp_a, tcp_b;
    int pp, pp_peer;
    int churn_l, churn_port;
    int identity;       /* churn: make the shim's identity calls, without it */
} w;

/* CPU ns a process has run (all its threads), from the scheduler. */
static long long task_cpu_ns(int pid);

/* ns of CPU for n recv+read pairs of 16 bytes each from a unix socketpair
 * with data queued: the cheapest socket calls, where a multi-threaded
 * glibc's extra work per call shows. The writes that queue are not counted. */
static double burst_recv_read_unix(long n)
{
    static char fill[65536];
    char buf[16];
    double busy = 0;
    while (n > 0) {
        long queued = 0;
        ssize_t wr;
        while ((wr = write(w.sv[1], fill, sizeof(fill))) > 0)
            queued += wr;
        long k = queued / (long)(2 * sizeof(buf));
        if (k > n)
            k = n;
        double t1 = cpu_s();
        for (long i = 0; i < k; i++)
            if (recv(w.sv[0], buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
                read(w.sv[0], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
                die("recv/read");
        busy += cpu_s() - t1;
        n -= k;
        /* drain what is left so the next burst starts empty */
        while (recv(w.sv[0], fill, sizeof(fill), MSG_DONTWAIT) > 0)
            ;
    }
    return busy * 1e9;
}

/* ns of CPU for n send+recv+send+read rounds on one TCP connection, one thread. */
static double burst_recv_read(long n)
{
    char buf[64] = { 0 };
    double t0 = cpu_s();
    for (long i = 0; i < n; i++) {
        full(do_write, w.tcp_a, buf, sizeof(buf));
        full(do_recv, w.tcp_b, buf, sizeof(buf));
        full(do_write, w.tcp_b, buf, sizeof(buf));
        full(do_read, w.tcp_a, buf, sizeof(buf));
    }
    return (cpu_s() - t0) * 1e9;
}

/* ns of CPU (both processes) for n 64-byte round trips between two processes. */
static double burst_pingpong(long n)
{
    char buf[64] = { 0 };
    long long theirs = task_cpu_ns(w.pp_peer);
    double t0 = cpu_s();
    for (long i = 0; i < n; i++) {
        full(do_write, w.pp, buf, sizeof(buf));
        full(do_read, w.pp, buf, sizeof(buf));
    }
    double mine = (cpu_s() - t0) * 1e9;
    return mine + (double)(task_cpu_ns(w.pp_peer) - theirs);
}

/* ns of CPU for n connect+accept+close of both ends. */
static double burst_churn(long n)
{
    /* The client resets (SO_LINGER 0): no TIME_WAIT, so ports never run out. */
    struct linger reset = { .l_onoff = 1, .l_linger = 0 };
    double t0 = cpu_s();
    for (long i = 0; i < n; i++) {
        int c = dial(w.churn_port), s;
        if (w.identity) {
            /* What #9's identity at creation costs the kernel: the client
             * socket's SO_COOKIE, and the accepted peer's address the shim
             * asks for when the program passes no buffer. */
            uint64_t cookie;
            socklen_t cl = sizeof(cookie), pl = sizeof(struct sockaddr_in6);
            struct sockaddr_in6 peer;
            getsockopt(c, SOL_SOCKET, SO_COOKIE, &cookie, &cl);
            s = accept(w.churn_l, (struct sockaddr *)&peer, &pl);
        } else {
            s = accept(w.churn_l, NULL, NULL);
        }
        if (s < 0)
            die("accept");
        setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
        close(c);
        close(s);
    }
    return (cpu_s() - t0) * 1e9;
}

enum { F_UNIX, F_TCP, F_PINGPONG, F_CHURN, NFIG };
static double (*const burst[NFIG])(long) = {
    burst_recv_read_unix, burst_recv_read, burst_pingpong, burst_churn,
};

/* The worker: "KIND N" on stdin runs N operations of that kind, and
 * answers the CPU ns they took on stdout; EOF ends it. */
static int worker(int identity)
{
    char buf[64] = { 0 }, line[64];
    int port, l;
    /* One CPU for the program and its ping-pong peer alike: where the
     * scheduler puts two processes that wake each other moves their CPU
     * time per round trip by 15% either way (one unpinned run read 0.86x
     * "with the shim"), more than the cost being measured. */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sysconf(_SC_NPROCESSORS_ONLN) - 1, &one);
    sched_setaffinity(0, sizeof(one), &one);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, w.sv) != 0)
        die("socketpair");
    fcntl(w.sv[1], F_SETFL, O_NONBLOCK);
    l = listener(&port);
    w.tcp_a = dial(port);
    w.tcp_b = accept(l, NULL, NULL);
    w.pp_peer = fork();
    if (w.pp_peer < 0)
        die("fork");
    if (w.pp_peer == 0) {
        int c = dial(port);
        for (ssize_t r; (r = read(c, buf, sizeof(buf))) > 0;)
            full(do_write, c, buf, (size_t)r);
        _exit(0);
    }
    w.pp = accept(l, NULL, NULL);
    close(l);
    w.churn_l = listener(&w.churn_port);
    w.identity = identity;
    while (fgets(line, sizeof(line), stdin)) {
        int kind;
        long n;
        if (sscanf(line, "%d %ld", &kind, &n) != 2 || kind < 0 || kind >= NFIG)
            return 2;
        printf("%.0f\n", burst[kind](n));
        fflush(stdout);
    }
    close(w.pp);
    waitpid(w.pp_peer, NULL, 0);
    return 0;
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

/* Start argv with its stdout piped to us (and its stdin, when in is not
 * NULL); returns the pid. */
static pid_t spawn(char *const argv[], char **env, FILE **out, FILE **in)
{
    int p[2], q[2] = { -1, -1 };
    if (pipe2(p, O_CLOEXEC) != 0 || (in != NULL && pipe2(q, O_CLOEXEC) != 0))
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(p[1], 1);
        dup2(null, 2);      /* the shim's exit reports */
        if (in != NULL) {
            dup2(q[0], 0);
            close(q[0]);
            close(q[1]);
        }
        close(p[0]);
        close(p[1]);
        execve(argv[0], argv, env);
        _exit(127);
    }
    close(p[1]);
    *out = fdopen(p[0], "r");
    if (in != NULL) {
        close(q[0]);
        *in = fdopen(q[1], "w");
    }
    return pid;
}

static int watcher_of(int host);

/* The three programs each figure alternates between: without the shim,
 * with it, and without it again (the A/A control). */
#define NPROG 3

struct workerproc {
    pid_t pid;
    FILE *in, *out;
};

static double worker_run(struct workerproc *p, int kind, long n)
{
    char line[64];
    double ns;
    fprintf(p->in, "%d %ld\n", kind, n);
    fflush(p->in);
    if (!fgets(line, sizeof(line), p->out) || sscanf(line, "%lf", &ns) != 1)
        die("a figures worker failed");
    return ns;
}

/* Operations per burst of kind: about BURST_S of CPU without the shim. */
static long calibrate(struct workerproc *p, int kind)
{
    long n = 64;
    double ns;
    while ((ns = worker_run(p, kind, n)) < 20e6 && n < (1L << 30))
        n *= 2;
    long want = (long)((double)n * BURST_S * 1e9 / ns);
    return want > 16 ? want : 16;
}

static const char request[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
#define REPLY_LEN 64    /* strlen of ka_server.c's reply */

struct kaserver {
    pid_t pid, watcher;
    FILE *out;
    int fds[KA_CONNS], got[KA_CONNS], ep;
};

static void ka_start(struct kaserver *k, int shim)
{
    char *argv[] = { (char *)ka_server, NULL }, line[256];
    int port = 0;
    k->pid = spawn(argv, env_with(shim ? lib : NULL, NULL), &k->out, NULL);
    if (!fgets(line, sizeof(line), k->out) || sscanf(line, "{\"port\":%d}", &port) != 1)
        die("ka_server did not start");
    /* Close-on-exec: the servers started after this one must not hold
     * these connections open when we close them. */
    k->ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < KA_CONNS; i++) {
        k->fds[i] = dial(port);
        fcntl(k->fds[i], F_SETFD, FD_CLOEXEC);
        k->got[i] = 0;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(k->ep, EPOLL_CTL_ADD, k->fds[i], &ev);
    }
    k->watcher = shim ? watcher_of(k->pid) : -1;
}

/* One burst of requests from a client without the shim: requests per wall
 * second, and per CPU second of the server (and its watcher process, which
 * works for it). */
static void ka_burst(struct kaserver *k, double *rate, double *per_cpu)
{
    char buf[REPLY_LEN * 4];
    struct epoll_event evs[KA_CONNS];
    long done = 0;
    long long c0 = task_cpu_ns(k->pid) + (k->watcher > 0 ? task_cpu_ns(k->watcher) : 0);
    double t0 = wall_s(), t;
    for (int i = 0; i < KA_CONNS; i++)
        full(do_write, k->fds[i], (char *)request, sizeof(request) - 1);
    int outstanding = KA_CONNS;
    while (outstanding > 0) {
        int n = epoll_wait(k->ep, evs, KA_CONNS, 1000);
        t = wall_s();
        for (int i = 0; i < n; i++) {
            int c = (int)evs[i].data.u32;
            ssize_t r = read(k->fds[c], buf, sizeof(buf));
            if (r <= 0)
                die("ka_server closed");
            k->got[c] += (int)r;
            while (k->got[c] >= REPLY_LEN) {
                k->got[c] -= REPLY_LEN;
                done++;
                /* a new request while the burst lasts; then let it drain */
                if (t - t0 < KA_BURST_S)
                    full(do_write, k->fds[c], (char *)request, sizeof(request) - 1);
                else
                    outstanding--;
            }
        }
    }
    t = wall_s();
    long long c1 = task_cpu_ns(k->pid) + (k->watcher > 0 ? task_cpu_ns(k->watcher) : 0);
    *rate = (double)done / (t - t0);
    *per_cpu = (double)done / ((double)(c1 - c0) / 1e9);
}

static void ka_stop(struct kaserver *k)
{
    char line[256];
    for (int i = 0; i < KA_CONNS; i++)
        close(k->fds[i]);
    close(k->ep);
    while (fgets(line, sizeof(line), k->out))
        ;
    fclose(k->out);
    waitpid(k->pid, NULL, 0);
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
    pid_t pid = spawn(argv, env_with(lib, options), &out, NULL);
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
    if (argc >= 2 && !strcmp(argv[1], "worker"))
        return worker(argc >= 3 && !strcmp(argv[2], "identity"));
    if (argc >= 4 && !strcmp(argv[1], "idle"))
        child_idle(atoi(argv[2]), atoi(argv[3]));
    if (argc < 3) {
        fprintf(stderr, "usage: live_bench LIB KA_SERVER [rounds [idle connections]]\n");
        return 2;
    }
    lib = argv[1];
    ka_server = argv[2];
    int rounds = argc > 3 ? atoi(argv[3]) : 15, idle = argc > 4 ? atoi(argv[4]) : 10000;
    if (rounds < 5)
        rounds = 5;
    if (rounds > MAX_ROUNDS)
        rounds = MAX_ROUNDS;
    raise_nofile((rlim_t)idle + 1024);
    signal(SIGPIPE, SIG_IGN);

    /* Three long-lived workers (without, with, without again) take turns:
     * each round runs one burst of each figure in each of them, the order
     * rotating, so the runs a ratio compares are seconds apart and share
     * the machine's state (another VM's load, the kernel's tables). A
     * fourth takes its turn in the churn only: without the shim, making
     * the two kernel calls the shim's socket identity adds (#9), so every
     * run prints what of the churn bar the identity alone takes here. */
    struct workerproc p[NPROG + 1];
    static double v[NROWS][NPROG + 1][MAX_ROUNDS];
    long n[NFIG];
    for (int k = 0; k <= NPROG; k++) {
        char *wargv[] = { argv[0], "worker", k == NPROG ? "identity" : NULL, NULL };
        p[k].pid = spawn(wargv, env_with(k == 1 ? lib : NULL, k == 1 ? getenv("LIVE_BENCH_OPTIONS") : NULL), &p[k].out, &p[k].in);
    }
    struct kaserver ka[NPROG];
    for (int k = 0; k < NPROG; k++)
        ka_start(&ka[k], k == 1);
    for (int f = 0; f < NFIG; f++)
        n[f] = calibrate(&p[0], f);
    printf("bench-live: %s, default options; %d rounds of bursts (~%.2f s CPU each) in "
           "three long-lived programs taking turns: without the shim, with it, without "
           "again (A/A); medians\n", lib, rounds, BURST_S);
    for (int r = 0; r < rounds; r++) {
        for (int f = 0; f < NFIG; f++) {
            int np = f == F_CHURN ? NPROG + 1 : NPROG;
            for (int i = 0; i < np; i++) {
                int k = (r + i) % np;          /* rotate which goes first */
                v[f][k][r] = worker_run(&p[k], f, n[f]) / (double)n[f];
            }
        }
        for (int i = 0; i < NPROG; i++) {
            int k = (r + i) % NPROG;
            ka_burst(&ka[k], &v[NFIG][k][r], &v[NFIG + 1][k][r]);
        }
        fprintf(stderr, ".");
    }
    fprintf(stderr, "\n");
    for (int k = 0; k <= NPROG; k++) {
        fclose(p[k].in);
        fclose(p[k].out);
        waitpid(p[k].pid, NULL, 0);
        if (k < NPROG)
            ka_stop(&ka[k]);
    }

    static const struct { const char *label, *unit; int cost; double bar; } rows[NROWS] = {
        { "recv/read loop, one thread (unix)", "ns CPU/pair", 1, 1.02 },
        { "recv/read loop, one thread (TCP)", "ns CPU/round", 1, 1.02 },
        { "TCP ping-pong, two processes", "ns CPU/round trip", 1, 1.02 },
        { "connect/accept/close churn", "ns CPU/connection", 1, 1.05 },
        { "epoll keep-alive server", "req/s", 0, 0.98 },
        { "  the same, per server CPU second", "req/CPU s", 0, 0.98 },
    };
    printf("%-36s %12s %12s %8s  %-17s %8s  %s\n", "", "without", "with", "ratio", "bar",
           "A/A", "(ratio quartiles)");
    for (int row = 0; row < NROWS; row++) {
        double m[NPROG], ratio[MAX_ROUNDS], aa[MAX_ROUNDS], id[MAX_ROUNDS];
        /* Each round's ratio compares runs made next to each other. */
        for (int r = 0; r < rounds; r++) {
            ratio[r] = v[row][1][r] / v[row][0][r];
            aa[r] = v[row][2][r] / v[row][0][r];
            id[r] = v[row][NPROG][r] / v[row][0][r];
        }
        for (int k = 0; k < NPROG; k++)
            m[k] = median(v[row][k], rounds);
        double rm = median(ratio, rounds), am = median(aa, rounds);
        int ok = rows[row].cost ? rm <= rows[row].bar : rm >= rows[row].bar;
        printf("%-36s %12.1f %12.1f %7.3fx  %s %.2fx %-4s  %7.3fx  (%.3f-%.3f; %s)\n",
               rows[row].label, m[0], m[1], rm, rows[row].cost ? "<=" : ">=", rows[row].bar,
               ok ? "PASS" : "FAIL", am, ratio[rounds / 4], ratio[(3 * rounds) / 4],
               rows[row].unit);
        if (row == F_CHURN) {
            double im = median(id, rounds);
            printf("%-36s %12s %12.1f %7.3fx  %-26s (%.3f-%.3f; no shim, the identity's "
                   "kernel calls alone: %.0f%% of the bar's 5%%)\n",
                   "  #9's identity calls, no shim", "", median(v[row][NPROG], rounds), im,
                   "", id[rounds / 4], id[(3 * rounds) / 4], (im - 1) / 0.05 * 100);
        }
    }
    printf("ratio: the median over rounds of with/without; A/A: the same for the second "
           "program without the shim over the first, the resolution of this run.\n");
    if (idle > 0)
        idle_figures(argv[0], idle);
    return 0;
}
