/* hooks_bench.c -- what the shim costs on the calls it wraps: runs itself
 * without and with LD_PRELOAD=libsockleak.so, alternately, and prints both
 * figures side by side.
 *
 *   hooks_bench [path/to/libsockleak.so [seconds per figure]]
 *
 * Times are the thread's CPU time (clock_gettime(CLOCK_THREAD_CPUTIME_ID),
 * user + system), so other load on the machine is not counted; rates are per
 * CPU second. Each figure is the best of REPS runs per configuration, run
 * alternately, so a disturbed run is discarded rather than read as overhead. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPS 5

extern char **environ;

enum unit { NS_PER_CALL, PER_SECOND };

struct figure {
    const char *key;      /* the child's output line: "key value" */
    const char *label;
    enum unit unit;
    double best[2];       /* [0] without the shim, [1] with it */
};

static struct figure figures[] = {
    { "read_devzero", "read() 64 B from /dev/zero (not a socket)", NS_PER_CALL, { 0, 0 } },
    { "recv_ready", "recv() 16 B, unix stream, data ready", NS_PER_CALL, { 0, 0 } },
    { "read_eof", "read() returning 0 (EOF on a stream socket)", NS_PER_CALL, { 0, 0 } },
    { "socket_close", "socket()+close() pairs", PER_SECOND, { 0, 0 } },
    { "tcp_connect", "TCP loopback connect+accept+close", PER_SECOND, { 0, 0 } },
};
#define NFIGURES (sizeof(figures) / sizeof(figures[0]))

/* CPU time of this thread, system time included: other processes on a
 * busy machine do not count, what the calls cost in the kernel does. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "hooks_bench: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* ---- the child: one configuration, every figure ---- */

/* Call op in batches until seconds have passed; returns ns per call. */
#define TIMED_NS(seconds, op)                                                  \
    ({                                                                         \
        long calls_ = 0;                                                       \
        double start_ = now_s(), end_ = start_ + (seconds), t_;                \
        do {                                                                   \
            for (int i_ = 0; i_ < 1024; i_++) { op; }                          \
            calls_ += 1024;                                                    \
        } while ((t_ = now_s()) < end_);                                       \
        (t_ - start_) * 1e9 / (double)calls_;                                  \
    })

static double bench_read_devzero(double seconds)
{
    char buf[64];
    int fd = open("/dev/zero", O_RDONLY);
    if (fd < 0)
        die("open /dev/zero");
    double ns = TIMED_NS(seconds, if (read(fd, buf, sizeof(buf)) != sizeof(buf)) die("read"));
    close(fd);
    return ns;
}

/* Fill the socket's receive queue, then time recv() calls that never wait. */
static double bench_recv_ready(double seconds)
{
    static char fill[65536];
    char buf[16];
    int sv[2];
    double busy = 0, end = now_s() + seconds;
    long calls = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair");
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    while (now_s() < end) {
        long queued = 0;
        ssize_t w;
        while ((w = write(sv[1], fill, sizeof(fill))) > 0)
            queued += w;
        long n = queued / (long)sizeof(buf);
        double t0 = now_s();
        for (long i = 0; i < n; i++)
            if (recv(sv[0], buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
                die("recv");
        busy += now_s() - t0;
        calls += n;
    }
    close(sv[0]);
    close(sv[1]);
    return busy * 1e9 / (double)calls;
}

static double bench_read_eof(double seconds)
{
    char buf[16];
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || shutdown(sv[1], SHUT_WR) != 0)
        die("socketpair");
    double ns = TIMED_NS(seconds, if (read(sv[0], buf, sizeof(buf)) != 0) die("read eof"));
    close(sv[0]);
    close(sv[1]);
    return ns;
}

static double bench_socket_close(double seconds)
{
    double ns = TIMED_NS(seconds, {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            die("socket");
        close(fd);
    });
    return 1e9 / ns;
}

static double bench_tcp_connect(double seconds)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(addr);
    /* Reset instead of FIN: no TIME_WAIT, so the ephemeral ports never run out. */
    struct linger reset = { .l_onoff = 1, .l_linger = 0 };
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(l, 128) != 0 ||
        getsockname(l, (struct sockaddr *)&addr, &len) != 0)
        die("listen");
    long conns = 0;
    double start = now_s(), end = start + seconds, t;
    do {
        for (int i = 0; i < 64; i++) {
            int c = socket(AF_INET, SOCK_STREAM, 0);
            if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof(addr)) != 0)
                die("connect");
            int s = accept(l, NULL, NULL);
            if (s < 0)
                die("accept");
            setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
            close(c);
            close(s);
        }
        conns += 64;
    } while ((t = now_s()) < end);
    close(l);
    return (double)conns / (t - start);
}

static int shim_loaded(void)
{
    char line[512];
    int found = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    while (f && fgets(line, sizeof(line), f))
        if (strstr(line, "libsockleak"))
            found = 1;
    if (f)
        fclose(f);
    return found;
}

static int child(double seconds)
{
    printf("shim %d\n", shim_loaded());
    printf("read_devzero %.3f\n", bench_read_devzero(seconds));
    printf("recv_ready %.3f\n", bench_recv_ready(seconds));
    printf("read_eof %.3f\n", bench_read_eof(seconds));
    printf("socket_close %.1f\n", bench_socket_close(seconds));
    printf("tcp_connect %.1f\n", bench_tcp_connect(seconds));
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- the parent: run both configurations, keep the best ---- */

/* The environment without LD_PRELOAD, plus preload= when given. */
static char **child_env(const char *preload)
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof(*env));
    if (env == NULL)
        die("calloc");
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
            env[k++] = environ[i];
    if (preload) {
        static char var[PATH_MAX + 16];
        snprintf(var, sizeof(var), "LD_PRELOAD=%s", preload);
        env[k++] = var;
    }
    return env;
}

static void run_child(const char *self, const char *preload, const char *seconds, int with)
{
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        char *argv[] = { (char *)"hooks_bench", (char *)"--child", (char *)seconds, NULL };
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execve(self, argv, child_env(with ? preload : NULL));
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char key[64];
    double value;
    int shim = -1;
    while (f && fscanf(f, "%63s %lf", key, &value) == 2) {
        if (strcmp(key, "shim") == 0)
            shim = (int)value;
        for (size_t i = 0; i < NFIGURES; i++) {
            struct figure *fg = &figures[i];
            if (strcmp(key, fg->key) != 0)
                continue;
            double *best = &fg->best[with];
            if (*best == 0 || (fg->unit == NS_PER_CALL ? value < *best : value > *best))
                *best = value;
        }
    }
    if (f)
        fclose(f);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || shim != with) {
        fprintf(stderr, "hooks_bench: the run %s the shim failed (status %d, shim %s)\n",
                with ? "with" : "without", status,
                shim < 0 ? "unknown" : shim ? "loaded" : "not loaded");
        exit(1);
    }
}

static void print_table(const char *lib, double seconds)
{
    printf("sockleak hook overhead (thread CPU time, best of %d runs of %.2f s per figure;\n"
           "shim: %s)\n\n",
           REPS, seconds, lib);
    printf("%-46s | %14s | %14s | %s\n", "operation", "without shim", "with shim", "overhead");
    printf("%.46s-|-%.14s-|-%.14s-|-%.24s\n", "----------------------------------------------",
           "--------------", "--------------", "------------------------");
    for (size_t i = 0; i < NFIGURES; i++) {
        const struct figure *f = &figures[i];
        double a = f->best[0], b = f->best[1];
        if (f->unit == NS_PER_CALL) {
            printf("%-46s | %11.1f ns | %11.1f ns | %+.1f ns/call (%+.1f%%)\n", f->label, a, b,
                   b - a, (b - a) / a * 100);
        } else {
            /* Rates compare as time per operation. */
            double us = (1e6 / b) - (1e6 / a);
            printf("%-46s | %12.0f/s | %12.0f/s | %+.2f us/op (%+.1f%%)\n", f->label, a, b, us,
                   (a / b - 1) * 100);
        }
    }
}

int main(int argc, char **argv)
{
    char self[PATH_MAX], lib[PATH_MAX];
    const char *seconds = "0.15";

    if (argc >= 3 && strcmp(argv[1], "--child") == 0)
        return child(atof(argv[2]));

    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        die("readlink /proc/self/exe");
    self[n] = '\0';
    if (argc >= 2) {
        snprintf(lib, sizeof(lib), "%s", argv[1]);
    } else {
        /* build/bench/hooks_bench -> build/libsockleak.so */
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", self);
        snprintf(lib, sizeof(lib), "%s/libsockleak.so", dirname(dirname(dir)));
    }
    if (argc >= 3)
        seconds = argv[2];
    if (access(lib, R_OK) != 0)
        die(lib);
    char *abs = realpath(lib, NULL);
    if (abs == NULL)
        die(lib);

    for (int rep = 0; rep < REPS; rep++) {
        run_child(self, abs, seconds, 0);
        run_child(self, abs, seconds, 1);
    }
    print_table(abs, atof(seconds));
    free(abs);
    return 0;
}
