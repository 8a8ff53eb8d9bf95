/* cmd_attach.c -- "sockleak attach PID": load the shim into a running
 * process (tools/inject.c), print its live leak reports as they come, then
 * detach and merge everything it reported (the same pipeline as run). */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "inject.h"
#include "passthrough.h"

static volatile sig_atomic_t stop_sig;

static void on_stop(int sig) { stop_sig = sig; }

/* Ctrl-C and SIGTERM end the watch; the target is then detached cleanly. */
static void catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;      /* no SA_RESTART: poll() returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* The options sl_attach() gets: the user's SOCKLEAK_OPTIONS, the flags
 * given here, then what this command needs (JSON it merges itself, all
 * leaks: suppressions are applied to the merged report). */
static char *attach_options(void) {
    const char *user = getenv("SOCKLEAK_OPTIONS");
    char *opts = NULL;
    size_t len;
    FILE *m = open_memstream(&opts, &len);
    if (!m) return NULL;
    if (user && *user) fprintf(m, "%s", user);
    slt_passthrough_append(m);
    fprintf(m, ":log_path=:format=json:exitcode=0:verbose=1:suppressions=");
    fclose(m);
    if (opts[0] == ':') memmove(opts, opts + 1, strlen(opts));
    return opts;
}

/* A live leak, as one line for the person watching. */
static void print_live(const char *line, size_t len, long pid) {
    struct slt_report r;
    char err[256], where[512];
    slt_report_init(&r);
    size_t src = slt_report_add_source(&r, "live");
    if (slt_report_parse_line(&r, src, line, len, err, sizeof(err)) == 0 && r.nleaks == 1) {
        const struct slt_leak *l = &r.leaks[0];
        if (l->nframes) slt_leak_where(l, where, sizeof(where));
        else snprintf(where, sizeof(where), "(attached: creation stack unknown)");
        fprintf(stderr, "sockleak: live: pid %ld fd %ld: %s -> %s %s", pid, l->fd,
                l->local ? l->local : "?", l->peer ? l->peer : "?", l->tcp_state ? l->tcp_state : "");
        if (l->fin_age_ms >= 0) fprintf(stderr, ", peer closed %ld.%ld s ago", l->fin_age_ms / 1000,
                                        (l->fin_age_ms % 1000) / 100);
        fprintf(stderr, ", created at %s\n", where);
    }
    slt_report_free(&r);
}

/* Read what the target wrote since last time; show live leaks and warnings. */
static void follow(int fd, char **buf, size_t *len, size_t *cap, size_t *shown, long pid) {
    for (;;) {
        if (*cap - *len < 65536) {
            *cap = *cap ? *cap * 2 : 1 << 20;
            *buf = realloc(*buf, *cap);
            if (!*buf) { perror("sockleak"); exit(SLT_EXIT_ERROR); }
        }
        ssize_t n = read(fd, *buf + *len, *cap - *len);
        if (n <= 0) break;
        *len += (size_t)n;
    }
    while (*shown < *len) {
        char *line = *buf + *shown, *nl = memchr(line, '\n', *len - *shown);
        if (!nl) break;
        size_t n = (size_t)(nl - line);
        if (memmem(line, n, "\"when\":\"live\"", 13)) print_live(line, n, pid);
        else if (memmem(line, n, "\"event\":\"warning\"", 17))
            fprintf(stderr, "sockleak: process %ld: %.*s\n", pid, (int)n, line);
        *shown += n + 1;
    }
}

static int target_gone(int pidfd, pid_t pid) {
    if (pidfd >= 0) {
        struct pollfd p = { pidfd, POLLIN, 0 };
        return poll(&p, 1, 0) > 0;
    }
    return kill(pid, 0) != 0 && errno == ESRCH;
}

static int watch(pid_t pid, const char *lib, long duration, const struct slt_analyze_opts *a) {
    struct slt_inject r;
    char *opts = attach_options(), path[64];
    if (!opts) { perror("sockleak attach"); return SLT_EXIT_ERROR; }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    catch_stop_signals();
    int rc = slt_inject_attach(pid, lib, opts, &r);
    free(opts);
    if (rc) {
        fprintf(stderr, "sockleak attach: %s\n", r.msg);
        if (pidfd >= 0) close(pidfd);
        return SLT_EXIT_ERROR;
    }
    snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, r.report_fd);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fprintf(stderr, "sockleak attach: cannot read the report of process %d (%s): %s\n",
                        (int)pid, path, strerror(errno));
    fprintf(stderr, "sockleak: attached to process %d in %.1f ms%s; reporting leaks live%s\n",
            (int)pid, r.ms, r.via_memfd ? " (library loaded from a memfd)" : "",
            duration >= 0 ? "" : "; Ctrl-C detaches");
    char *buf = NULL;
    size_t len = 0, cap = 0, shown = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int gone = 0;
    while (!stop_sig && fd >= 0) {
        struct pollfd p = { pidfd, POLLIN, 0 };
        poll(&p, pidfd >= 0 ? 1 : 0, 200);
        follow(fd, &buf, &len, &cap, &shown, pid);
        if ((gone = target_gone(pidfd, pid))) break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (duration >= 0 && (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >=
                                duration * 1000)
            break;
    }
    int detach_failed = 0;
    if (!gone) {
        struct slt_inject d;
        if (slt_inject_detach(pid, &d)) {
            if (!target_gone(pidfd, pid)) {
                fprintf(stderr, "sockleak attach: could not detach: %s; the process stays attached "
                        "until it exits (try again: sockleak attach --detach %d)\n", d.msg, (int)pid);
                detach_failed = 1;
            }
        } else {
            fprintf(stderr, "sockleak: detached from process %d in %.1f ms\n", (int)pid, d.ms);
        }
    } else {
        fprintf(stderr, "sockleak: process %d exited while attached\n", (int)pid);
    }
    if (fd >= 0) follow(fd, &buf, &len, &cap, &shown, pid);
    free(buf);
    if (pidfd >= 0) close(pidfd);
    if (fd < 0) return SLT_EXIT_ERROR;
    /* The memfd, read from its start through our own descriptor. */
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    char *files[] = { self };
    rc = slt_analyze_files(a, files, 1);
    close(fd);
    return detach_failed && rc == 0 ? SLT_EXIT_ERROR : rc;
}

int slt_cmd_attach(int argc, char **argv) {
    static const char *const usage[] = { "sockleak attach [options] PID", NULL };
    struct slt_report_flags f;
    const char *lib = NULL;
    long duration = -1;
    int detach_only = 0;
    char libpath[PATH_MAX];
    slt_report_flags_init(&f);
    const struct slt_option opts[] = {
        OPT_GROUP("Attach options"),
        OPT_INT(0, "duration", &duration, "seconds",
                "detach after this long; 0: at once, one snapshot (default: at Ctrl-C or SIGTERM)"),
        OPT_STRING(0, "lib", &lib, "path", "the library to load (default: " LIB_NAME
                   " beside sockleak, or in ../lib)"),
        OPT_BOOL(0, "detach", &detach_only,
                 "only detach a process left attached (by a sockleak attach that was killed)"),
        SLT_REPORT_OPTIONS(&f),
        OPT_PASSTHROUGH("Passed to the library (SOCKLEAK_OPTIONS, see help=1)"),
        OPT_END(),
    };
    int n = slt_parse_options(argc, argv, opts, usage, 0), rc = SLT_EXIT_ERROR;
    char *end = NULL;
    long pid = n == 1 ? strtol(argv[0], &end, 10) : 0;
    if (n >= 0 && (n != 1 || !end || *end || pid <= 0 || pid > INT_MAX)) {
        fprintf(stderr, n == 0 ? "sockleak attach: no PID given\n\n"
                               : "sockleak attach: give exactly one PID (a positive number)\n\n");
        slt_usage(stderr, usage, opts);
    } else if (n == 1 && detach_only) {
        struct slt_inject d;
        rc = slt_inject_detach((pid_t)pid, &d) ? SLT_EXIT_ERROR : 0;
        if (rc) fprintf(stderr, "sockleak attach: %s\n", d.msg);
        else fprintf(stderr, "sockleak: detached from process %ld\n", pid);
    } else if (n == 1 && !slt_report_flags_check(&f) && !slt_find_library("attach", lib, libpath)) {
        rc = watch((pid_t)pid, libpath, duration, &f.a);
    }
    free(f.suppressions.v);
    return rc;
}
