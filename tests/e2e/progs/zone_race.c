/* zone_race.c -- races the moments the shim makes or moves an fd of its own
 * (issue 8 item 2's two windows).
 *   zone_race dup MS    fork children one after another for MS ms; in each,
 *                       a thread makes the child's first socket and
 *                       connection (the shim makes its memfds, epoll set,
 *                       eventfd and pipe, each at the lowest free number
 *                       before moving it away) while another thread puts
 *                       its own socketpair end over every fd that is not
 *                       the child's (dup2/dup3/syscall(SYS_dup3)), writes
 *                       through it, holds it 2 ms and closes it: the bytes
 *                       must arrive and the close must succeed (the fd is
 *                       the program's).
 *   zone_race limit MS  one thread moves the soft RLIMIT_NOFILE up and down
 *                       (the shim moves its fds above the new limit each
 *                       time, raising the limit for a moment to do so)
 *                       while another reads it with getrlimit, prlimit and
 *                       sysconf: it must only ever see a value the program
 *                       set.
 *   zone_race emfile MS fork children one after another for MS ms; each
 *                       uses every fd number below its soft limit but two,
 *                       then makes its first socket and connection and
 *                       exits (the shim puts its report file above the
 *                       limit) while one thread opens /dev/null over and
 *                       over (it must never get a number at or above the
 *                       soft limit: EMFILE or a number below) and another reads
 *                       /proc/self/limits (the soft limit must always be
 *                       the one the program has).
 *   zone_race close MS  fork children one after another for MS ms; in each,
 *                       a thread closes numbers below 64 the child does not
 *                       hold (the 6 lowest but the first, which its socket
 *                       takes, and the 6 highest), over and over, while the child makes
 *                       its first socket and connection (the shim makes its
 *                       fds, each first at the lowest free number): every
 *                       such close must fail with EBADF, as it would without
 *                       the shim (a close that succeeds closed the shim's
 *                       fd), except on the child's own new socket.
 *   zone_race helper N  (not a race) N setrlimit raises, each moving the
 *   zone_race helper_seccomp N  shim's fds above the new limit through its
 *                       helper task, with a SIGCHLD handler installed:
 *                       the program must see no SIGCHLD, no child to wait
 *                       for, one task, its own limit, and unshare(
 *                       CLONE_NEWUSER) answer as without the shim (the
 *                       _seccomp variant first refuses clone without
 *                       CLONE_THREAD, EPERM: the shim's fallback).
 * Prints {"bad":N,"rounds":N,"hits":N}; hits counts dups onto a number the
 * shim held a moment before (dup), limit reads (limit), opens refused with
 * EMFILE (emfile) or closes made (close). Exits 1 if bad. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include "e2e_prog.h"

#define LOW_SOFT   258       /* 3 mod 5: the shim's raises (+64) never land on */
#define HIGH_BASE  320       /* the values set: 258, and 320 + 5k */
#define HIGH_STEP  5

static _Atomic int stop;
/* shared with the forked children */
static struct counts { _Atomic long bad, hits, rounds; } *cnt;
#define bad (cnt->bad)
#define hits (cnt->hits)
#define rounds (cnt->rounds)

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- dup: in a fresh child, over the shim's new fds ---- */

static int port, pair[2], child_sock;

/* Connect s (if made) to the test's listener; the child does not wait for
 * the answer to matter. */
static void connect_to_port(int s)
{
    if (s >= 0) {
        struct sockaddr_in a = loopback_addr(port);
        connect(s, (struct sockaddr *)&a, sizeof(a));
    }
}

static int take(unsigned how, int from, int n)
{
    switch (how % 3) {
    case 0: return dup2(from, n);
    case 1: return dup3(from, n, O_CLOEXEC);
    default: return (int)syscall(SYS_dup3, from, n, O_CLOEXEC);
    }
}

/* Over every number below 64 that is not the child's own (a socket) and
 * not stdio: at this moment, only a new fd of the shim's. */
static void *overwrite(void *arg)
{
    char link[256], path[64], buf[64];
    unsigned how = 0;
    (void)arg;
    while (!stop) {
        for (int n = 3; n < 64; n++) {
            snprintf(path, sizeof(path), "/proc/self/fd/%d", n);
            ssize_t len = readlink(path, link, sizeof(link) - 1);
            if (len <= 0)
                continue;
            link[len] = '\0';
            if (strncmp(link, "socket:", 7) == 0 || strncmp(link, "/dev/", 5) == 0)
                continue;
            if (take(how++, pair[0], n) != n)
                continue;
            hits++;
            /* hold it a moment, as a program would: the shim must not
             * close or use it meanwhile */
            if (write(n, "x", 1) != 1)
                bad++;
            sleep_ms(2);
            if (recv(pair[1], buf, sizeof(buf), MSG_DONTWAIT) != 1)
                bad++;
            if (close(n) != 0) {
                fprintf(stderr, "zone_race: close(%d) after dup onto it: %s\n", n,
                        strerror(errno));
                bad++;
            }
        }
    }
    return NULL;
}

static int dup_child(void)
{
    pthread_t t;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    CHECK(pthread_create(&t, NULL, overwrite, NULL) == 0);
    /* the child's first socket and connection: the shim's fds are made now */
    child_sock = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(child_sock >= 0);
    connect_loopback(child_sock, port);
    sleep_ms(5);
    stop = 1;
    pthread_join(t, NULL);
    close(child_sock);
    return 0;
}

static void fork_rounds(long ms, int (*child)(void));

static int dup_mode(long ms)
{
    fork_rounds(ms, dup_child);
    return 0;
}

/* ---- emfile: the program at its soft limit while the shim places ---- */

static int soft, limits_fd;

static void *open_at_limit(void *arg)
{
    (void)arg;
    while (!stop) {
        /* two at a time with one number free: the program is at its limit */
        int fd[2];
        for (int i = 0; i < 2; i++) {
            fd[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd[i] >= soft) {
                if (bad++ < 5)
                    fprintf(stderr, "zone_race: open gave fd %d, at or above the soft limit %d\n",
                            fd[i], soft);
            } else if (fd[i] < 0 && errno == EMFILE) {
                hits++;
            }
        }
        for (int i = 0; i < 2; i++)
            if (fd[i] >= 0)
                close(fd[i]);
    }
    return NULL;
}

static void *read_limits(void *arg)
{
    char buf[4096];
    (void)arg;
    while (!stop) {
        ssize_t n = pread(limits_fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        char *line = strstr(buf, "Max open files");
        long cur;
        if (line == NULL || sscanf(line + strlen("Max open files"), "%ld", &cur) != 1)
            continue;
        if (cur != soft && bad++ < 5)
            fprintf(stderr, "zone_race: /proc/self/limits read a soft limit of %ld, the "
                    "program's is %d\n", cur, soft);
    }
    return NULL;
}

static int emfile_child(void)
{
    struct rlimit rl;
    pthread_t t1, t2;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    soft = (int)rl.rlim_cur;
    limits_fd = open("/proc/self/limits", O_RDONLY | O_CLOEXEC);
    CHECK(limits_fd >= 0);
    /* every number below the limit but the two highest free ones */
    int last = -1, prev = -1, fd;
    while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
        prev = last;
        last = fd;
    }
    CHECK(errno == EMFILE && prev >= 0);
    close(last);
    close(prev);
    CHECK(pthread_create(&t1, NULL, open_at_limit, NULL) == 0);
    CHECK(pthread_create(&t2, NULL, read_limits, NULL) == 0);
    /* the child's first socket and connection (the live watcher starts:
     * it makes its fds in a table of its own), then exit() with both
     * threads still at it: the exit report's file is the fd the shim puts
     * above the limit, racing with the opens */
    int s = -1;
    for (int i = 0; i < 1000 && s < 0; i++)
        s = socket(AF_INET, SOCK_STREAM, 0);
    connect_to_port(s);
    sleep_ms(5);
    exit(0);        /* s still open: the program is at its limit */
}

/* ---- close: closes of numbers the program does not hold ---- */

static char held[64];
static _Atomic int mine = -1;
static int closed_ok[256], nclosed;
/* the numbers the shim's new fds take: the lowest free ones but the first
 * (the child's socket takes that one), where they are made, and the
 * highest below 64 (where they are placed when no number above the limit
 * exists) */
static int targets[12], ntargets;

static _Atomic int closing;

static void *close_not_held(void *arg)
{
    (void)arg;
    for (; !stop; closing = 1) {
        for (int t = 0; t < ntargets; t++) {
            int n = targets[t];
            int rc = close(n);
            hits++;
            if (rc == 0 && nclosed < 256)
                closed_ok[nclosed++] = n;
            else if (rc != 0 && errno != EBADF && bad++ < 5)
                fprintf(stderr, "zone_race: close(%d): %s, not EBADF\n", n, strerror(errno));
        }
    }
    return NULL;
}

static int close_child(void)
{
    char path[64], link[256];
    pthread_t t;
    for (int n = 0; n < 64; n++) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", n);
        held[n] = readlink(path, link, sizeof(link)) > 0;
    }
    int first = 3;
    while (held[first])
        first++;
    for (int n = first + 1; n < 64 && ntargets < 6; n++)
        if (!held[n])
            targets[ntargets++] = n;
    for (int n = 63; n > targets[ntargets - 1] && ntargets < 12; n--)
        if (!held[n])
            targets[ntargets++] = n;
    CHECK(pthread_create(&t, NULL, close_not_held, NULL) == 0);
    while (!closing)
        ;
    /* the child's first socket and connection: the shim makes its fds */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    mine = s;
    connect_to_port(s);
    sleep_ms(5);
    stop = 1;
    pthread_join(t, NULL);
    for (int i = 0; i < nclosed; i++)
        if (closed_ok[i] != mine && bad++ < 5)
            fprintf(stderr, "zone_race: close(%d) succeeded, but the program did not "
                    "hold %d (the shim's fd was closed)\n", closed_ok[i], closed_ok[i]);
    if (s >= 0)
        close(s);
    return 0;
}

/* fork children running child() one after another for ms ms */
static void fork_rounds(long ms, int (*child)(void))
{
    /* non-blocking: a child's connection may not have been made */
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(listener >= 0);
    port = bind_loopback(listener);
    CHECK(listen(listener, 256) == 0);
    long end = now_ms() + ms;
    while (now_ms() < end) {
        pid_t p = fork();
        CHECK(p >= 0);
        if (p == 0) {
            int rc = child();
            fflush(stderr);
            _exit(rc);
        }
        int st;
        CHECK(waitpid(p, &st, 0) == p);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "zone_race: a child ended with status %#x\n", st);
            bad++;
        }
        int c = accept(listener, NULL, NULL);
        if (c >= 0)
            close(c);
        rounds++;
    }
    close(listener);
}

/* ---- limit: reads of RLIMIT_NOFILE while the shim moves its fds ---- */

static int legal(rlim_t v)
{
    return v == LOW_SOFT || (v >= HIGH_BASE && (v - HIGH_BASE) % HIGH_STEP == 0);
}

static void *read_limit(void *arg)
{
    (void)arg;
    for (unsigned i = 0; !stop; i++) {
        struct rlimit rl;
        rlim_t v;
        if (i % 3 == 0) {
            CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
            v = rl.rlim_cur;
        } else if (i % 3 == 1) {
            CHECK(prlimit(0, RLIMIT_NOFILE, NULL, &rl) == 0);
            v = rl.rlim_cur;
        } else {
            v = (rlim_t)sysconf(_SC_OPEN_MAX);
        }
        hits++;
        if (!legal(v)) {
            if (bad++ < 5)
                fprintf(stderr, "zone_race: read a soft limit of %llu, never set\n",
                        (unsigned long long)v);
        }
    }
    return NULL;
}

static int limit_mode(long ms)
{
    struct rlimit rl;
    pthread_t t;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rlim_t hard = rl.rlim_max;
    /* the shim's fds exist: a socket, a connection to ourselves */
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(listener >= 0);
    int p = bind_loopback(listener);
    CHECK(listen(listener, 4) == 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c >= 0);
    connect_loopback(c, p);
    rl.rlim_cur = LOW_SOFT;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    CHECK(pthread_create(&t, NULL, read_limit, NULL) == 0);
    long end = now_ms() + ms;
    for (rlim_t k = 0; now_ms() < end; k++) {
        rlim_t high = HIGH_BASE + HIGH_STEP * (k % 600);
        if (high + 64 >= hard || high + 64 >= 4096)
            break;
        rl.rlim_cur = high;          /* above the shim's fds: they move up */
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
        rl.rlim_cur = LOW_SOFT;
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
        rounds++;
    }
    stop = 1;
    pthread_join(t, NULL);
    close(c);
    close(listener);
    return 0;
}

/* ---- helper: what the program sees of the shim's helper task ---- */

static _Atomic int sigchld;

static void on_sigchld(int sig)
{
    (void)sig;
    sigchld++;
}

static void refuse_clone(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    };
    struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
}

static void helper_mode(long n, int seccomp)
{
    struct rlimit rl;
    signal(SIGCHLD, on_sigchld);
    if (seccomp)
        refuse_clone();
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(listener >= 0);
    port = bind_loopback(listener);
    CHECK(listen(listener, 4) == 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c >= 0);
    connect_loopback(c, port);
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    for (long i = 0; i < n; i++) {
        rl.rlim_cur += 70;      /* above the shim's fds: they move */
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
        rounds++;
    }
    struct rlimit now;
    CHECK(getrlimit(RLIMIT_NOFILE, &now) == 0);
    if (now.rlim_cur != rl.rlim_cur) {
        fprintf(stderr, "zone_race: soft limit %llu, the program set %llu\n",
                (unsigned long long)now.rlim_cur, (unsigned long long)rl.rlim_cur);
        bad++;
    }
    if (sigchld != 0) {
        fprintf(stderr, "zone_race: %d SIGCHLD from the shim's helper\n", (int)sigchld);
        bad++;
    }
    errno = 0;
    pid_t w = waitpid(-1, NULL, WNOHANG);
    if (w != -1 || errno != ECHILD) {
        fprintf(stderr, "zone_race: waitpid(-1) = %d (%s), not ECHILD\n", (int)w,
                strerror(errno));
        bad++;
    }
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    int tasks = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        tasks += e->d_name[0] != '.';
    closedir(d);
    if (tasks != 1) {
        fprintf(stderr, "zone_race: %d tasks in /proc/self/task\n", tasks);
        bad++;
    }
    /* the bytes still flow */
    int a = accept(listener, NULL, NULL);
    CHECK(a >= 0);
    char b = 0;
    if (write(c, "x", 1) != 1 || read(a, &b, 1) != 1 || b != 'x')
        bad++;
    int u = unshare(CLONE_NEWUSER);
    printf("{\"unshare_newuser\":\"%s\"}\n", u == 0 ? "ok" : strerror(errno));
    close(a);
    close(c);
    close(listener);
}

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    long ms = atol(argv[2]);
    cnt = mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(cnt != MAP_FAILED);
    if (strcmp(argv[1], "dup") == 0)
        dup_mode(ms);
    else if (strcmp(argv[1], "limit") == 0)
        limit_mode(ms);
    else if (strcmp(argv[1], "emfile") == 0)
        fork_rounds(ms, emfile_child);
    else if (strcmp(argv[1], "close") == 0)
        fork_rounds(ms, close_child);
    else if (strcmp(argv[1], "helper") == 0)
        helper_mode(ms, 0);
    else if (strcmp(argv[1], "helper_seccomp") == 0)
        helper_mode(ms, 1);
    else
        return 2;
    printf("{\"bad\":%ld,\"rounds\":%ld,\"hits\":%ld}\n", bad, rounds, hits);
    return bad ? 1 : 0;
}
