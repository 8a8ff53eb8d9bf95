/* cmd_run.c -- "sockleak run -- COMMAND": run a process tree under the shim and merge every process's report. */
#include "commands.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "passthrough.h"

#define DEFAULT_WAIT_S 10       /* for descendants still running at the end */
#define POLL_MS 50
#define MAX_LISTED 8            /* pids named in the "still running" message */

static volatile pid_t child_pid;

/* Ctrl-C already reached the child through the terminal; forward only what
 * another process sent to us (kill), so the child gets each signal once. */
static void forward(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    if (child_pid > 0 && info->si_code <= 0) kill(child_pid, sig);
}

static void forward_signals(void) {
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) sigaction(sigs[i], &sa, NULL);
}

static int usable(const char *path, char *out) {
    return access(path, R_OK) == 0 && realpath(path, out) != NULL;
}

int slt_find_library(const char *cmd, const char *given, char out[]) {
    char exe[PATH_MAX], path[PATH_MAX + 32];
    if (given) {
        if (usable(given, out)) return 0;
        fprintf(stderr, "sockleak %s: cannot use --lib %s: %s\n", cmd, given, strerror(errno));
        return -1;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(path, sizeof(path), "%s/%s", exe, LIB_NAME);
        if (usable(path, out)) return 0;
        snprintf(path, sizeof(path), "%s/../lib/%s", exe, LIB_NAME);
        if (usable(path, out)) return 0;
    }
    fprintf(stderr, "sockleak %s: cannot find %s beside %s or in %s/../lib; give --lib PATH\n",
            cmd, LIB_NAME, n > 0 ? exe : "this program", n > 0 ? exe : ".");
    return -1;
}

/* The child's environment: the shim preloaded first, its reports as JSON
 * files in dir. The user's SOCKLEAK_OPTIONS come first so the flags given
 * here win (the shim takes the last value of a key). */
static int set_child_env(const char *lib, const char *dir, const char *fail_on) {
    const char *old = getenv("LD_PRELOAD"), *user = getenv("SOCKLEAK_OPTIONS");
    char *preload = NULL, *opts = NULL;
    size_t len;
    FILE *m = open_memstream(&opts, &len);
    if (!m) return -1;
    if (user && *user) fprintf(m, "%s", user);
    slt_passthrough_append(m);
    /* suppressions are applied to the merged report, so the shim reports all */
    fprintf(m, ":log_path=%s/r:format=json:exitcode=0:verbose=1:suppressions=", dir);
    /* --fail-on received needs the received sockets listed */
    if (fail_on && !strcmp(fail_on, "received")) fprintf(m, ":report_received=1");
    fclose(m);
    if (asprintf(&preload, old && *old ? "%s:%s" : "%s", lib, old) < 0) return -1;
    int rc = setenv("LD_PRELOAD", preload, 1) | setenv("SOCKLEAK_OPTIONS", opts[0] == ':' ? opts + 1 : opts, 1);
    free(preload);
    free(opts);
    return rc;
}

static void exec_child(char **cmd, const char *lib, const char *dir, const char *fail_on) {
    if (set_child_env(lib, dir, fail_on)) { perror("sockleak run"); _exit(127); }
    execvp(cmd[0], cmd);
    int e = errno;
    fprintf(stderr, "sockleak run: cannot run %s: %s\n", cmd[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);  /* as a shell does */
}

/* The command's exit status as a shell reports it: 128+N for signal N. */
static int wait_child(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) { perror("sockleak run: waitpid"); return SLT_EXIT_ERROR; }
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every report file the process tree wrote, sorted so output is stable. */
static char **list_reports(const char *dir, int *n) {
    DIR *d = opendir(dir);
    char **v = NULL;
    int cap = 0;
    struct dirent *e;
    *n = 0;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "r.", 2)) continue;
        if (*n + 2 > cap) {
            cap = cap ? cap * 2 : 16;
            v = realloc(v, cap * sizeof(*v));
            if (!v) { perror("sockleak"); exit(SLT_EXIT_ERROR); }
        }
        if (asprintf(&v[(*n)++], "%s/%s", dir, e->d_name) < 0) exit(SLT_EXIT_ERROR);
    }
    if (d) closedir(d);
    if (*n) qsort(v, *n, sizeof(*v), cmp_str);
    return v;
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX + 300];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}

static int make_dir(char out[PATH_MAX]) {
    const char *tmp = getenv("TMPDIR");
    /* ':' would split SOCKLEAK_OPTIONS */
    if (!tmp || !*tmp || strchr(tmp, ':') || strlen(tmp) > PATH_MAX - 32) tmp = "/tmp";
    snprintf(out, PATH_MAX, "%s/sockleak.XXXXXX", tmp);
    if (mkdtemp(out)) return 0;
    fprintf(stderr, "sockleak run: cannot create a directory in %s: %s\n", tmp, strerror(errno));
    return -1;
}

/* Whether process pid was started under this run: its environment (as it
 * was at its exec, and inherited through fork) holds our log_path. Zombies
 * and processes we may not read have an empty environ and do not count. */
static int in_our_tree(const char *pid, const char *needle) {
    char path[300], buf[8192];
    snprintf(path, sizeof(path), "/proc/%s/environ", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    size_t nlen = strlen(needle), keep = 0;
    int found = 0;
    ssize_t n;
    /* Search across read boundaries: keep the last nlen-1 bytes. */
    while (!found && (n = read(fd, buf + keep, sizeof(buf) - keep)) > 0) {
        size_t len = keep + (size_t)n;
        found = memmem(buf, len, needle, nlen) != NULL;
        keep = len < nlen ? len : nlen - 1;
        memmove(buf, buf + len - keep, keep);
    }
    close(fd);
    return found;
}

/* The pids of processes of the command's tree still running (up to max),
 * and how many there are. */
static int tree_still_running(const char *needle, pid_t *pids, int max) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    pid_t self = getpid();
    while (d && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]) || atoi(e->d_name) == self) continue;
        if (!in_our_tree(e->d_name, needle)) continue;
        if (n < max) pids[n] = atoi(e->d_name);
        n++;
    }
    if (d) closedir(d);
    return n;
}

static void sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static void comm_of(pid_t pid, char *out, size_t len) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f || !fgets(out, (int)len, f)) snprintf(out, len, "?");
    if (f) fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

/* Processes the command left running (daemons, background jobs) write their
 * reports when they exit: wait up to wait_s for them. Returns how many are
 * still running after that; their reports will land in dir. */
static int wait_descendants(const char *dir, long wait_s) {
    char needle[PATH_MAX + 16];
    pid_t pids[MAX_LISTED];
    snprintf(needle, sizeof(needle), "log_path=%s/r", dir);
    long waited = 0;
    int n, empty = 0;
    /* A process that forks and exits while /proc is listed can hide its
     * child from one scan (the listing was read before the fork): only two
     * empty scans POLL_MS apart mean the tree is gone. */
    for (;;) {
        n = tree_still_running(needle, pids, MAX_LISTED);
        empty = n == 0 ? empty + 1 : 0;
        if (empty == 2 || (n > 0 && waited >= wait_s * 1000)) break;
        sleep_ms(POLL_MS);
        waited += POLL_MS;
    }
    if (n == 0) return 0;
    fprintf(stderr, "sockleak run: %d process%s started by the command %s still running after "
            "--wait %ld s:", n, n == 1 ? "" : "es", n == 1 ? "is" : "are", wait_s);
    for (int i = 0; i < n && i < MAX_LISTED; i++) {
        char comm[32];
        comm_of(pids[i], comm, sizeof(comm));
        fprintf(stderr, "%s pid %d (%s)", i ? "," : "", (int)pids[i], comm);
    }
    if (n > MAX_LISTED) fprintf(stderr, ", and %d more", n - MAX_LISTED);
    fprintf(stderr, ".\nsockleak run: this report leaves them out; each writes its report to "
            "%s/r.PID when it exits. Then merge them all with:\n    sockleak report %s/r.*\n",
            dir, dir);
    return n;
}

/* Run cmd under the shim, wait for its tree, then merge what every process
 * reported. The report directory is private (mkdtemp, 0700) and is kept
 * while a process of the tree may still write to it. */
static int run_and_report(char **cmd, const char *lib, const struct slt_analyze_opts *a,
                          long wait_s) {
    char dir[PATH_MAX];
    if (make_dir(dir)) return SLT_EXIT_ERROR;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { perror("sockleak run: fork"); remove_dir(dir); return SLT_EXIT_ERROR; }
    if (pid == 0) exec_child(cmd, lib, dir, a->fail_on);
    child_pid = pid;
    forward_signals();
    int status = wait_child(pid);
    child_pid = 0;
    int running = wait_descendants(dir, wait_s);
    int n;
    char **files = list_reports(dir, &n);
    int rc = slt_analyze_files(a, files, n);
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
    if (!running) remove_dir(dir);
    return status != 0 ? status : rc;
}

int slt_cmd_run(int argc, char **argv) {
    static const char *const usage[] = { "sockleak run [options] [--] COMMAND [ARGS...]", NULL };
    struct slt_report_flags f;
    const char *lib = NULL;
    char libpath[PATH_MAX];
    long wait_s = DEFAULT_WAIT_S;
    slt_report_flags_init(&f);
    const struct slt_option opts[] = {
        OPT_GROUP("Run options"),
        OPT_STRING(0, "lib", &lib, "path", "the preload library (default: " LIB_NAME
                   " beside sockleak, or in ../lib)"),
        OPT_INT(0, "wait", &wait_s, "seconds",
                "after COMMAND exits, wait this long for the processes it left running "
                "(daemons) to exit and write their reports (default 10)"),
        SLT_REPORT_OPTIONS(&f),
        OPT_PASSTHROUGH("Passed to the preload library (SOCKLEAK_OPTIONS, see help=1)"),
        OPT_END(),
    };
    int n = slt_parse_options(argc, argv, opts, usage, 1), rc = SLT_EXIT_ERROR;
    if (n == 0) {
        fprintf(stderr, "sockleak run: no COMMAND given\n\n");
        slt_usage(stderr, usage, opts);
    }
    if (n > 0 && !slt_report_flags_check(&f) && !slt_find_library("run", lib, libpath)) {
        if (strpbrk(libpath, ": "))  /* both separate LD_PRELOAD entries */
            fprintf(stderr, "sockleak run: the library path %s contains ':' or ' '\n", libpath);
        else
            rc = run_and_report(argv, libpath, &f.a, wait_s);
    }
    free(f.suppressions.v);
    return rc;
}
