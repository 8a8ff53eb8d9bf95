/* cmd_scan.c -- "sockleak scan PID...": CLOSE_WAIT sockets of running
 * processes from /proc and sock_diag (shim/sockdiag.c, shared with the
 * shim's watcher process). */
#include "commands.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockdiag.h"

#define TCP_STATE_CLOSE_WAIT 8

static const char *const tcp_states[] = {
    "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
    "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
};

/* One socket of the process, as /proc and sock_diag describe it. */
struct scan_sock {
    unsigned long inode;
    int fd;
    int found;              /* sock_diag knew it (TCP or UDP) */
    const char *proto;
    int state;
    char local[64], peer[64];
    long silent_ms;         /* since the last segment from the peer, -1: unknown */
};

struct scan {
    long pid;
    struct scan_sock *v;
    size_t n;
};

/* Fill s with the socket fds of pid. Returns 0, or -1 after saying why. */
static int read_fds(struct scan *s) {
    char path[64], link[64];
    snprintf(path, sizeof(path), "/proc/%ld", s->pid);
    struct stat st;
    if (stat(path, &st)) {
        fprintf(stderr, "sockleak scan: no process %ld\n", s->pid);
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%ld/fd", s->pid);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "sockleak scan: cannot read %s: %s%s\n", path, strerror(errno),
                errno == EACCES ? " (permission denied: run as the process's user or as root)" : "");
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        char fdpath[340];
        unsigned long inode;
        snprintf(fdpath, sizeof(fdpath), "%s/%s", path, e->d_name);
        ssize_t n = readlink(fdpath, link, sizeof(link) - 1);
        if (n <= 0) continue;
        link[n] = '\0';
        if (sscanf(link, "socket:[%lu]", &inode) != 1) continue;
        struct scan_sock *v = realloc(s->v, (s->n + 1) * sizeof(*v));
        if (!v) { perror("sockleak"); exit(SLT_EXIT_ERROR); }
        s->v = v;
        memset(&v[s->n], 0, sizeof(v[0]));
        v[s->n].inode = inode;
        v[s->n].fd = atoi(e->d_name);
        v[s->n].silent_ms = -1;
        s->n++;
    }
    closedir(d);
    return 0;
}

static int cmp_inode(const void *pa, const void *pb) {
    const struct scan_sock *a = pa, *b = pb;
    if (a->inode != b->inode) return a->inode < b->inode ? -1 : 1;
    return a->fd - b->fd;
}

struct dump_ctx {
    struct scan *s;
    const char *proto;
};

/* Copy what sock_diag says about one socket into the matching entries
 * (s->v is sorted by inode; dup'ed fds share one and all get filled).
 * tcp_info: any segment from the peer (its FIN included) resets
 * last_ack_recv, so for CLOSE_WAIT it bounds the time since the FIN. */
static void record(const struct sl_diag_sock *d, void *arg) {
    struct dump_ctx *c = arg;
    struct scan *s = c->s;
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid].inode < d->ino) lo = mid + 1;
        else hi = mid;
    }
    for (; lo < s->n && s->v[lo].inode == d->ino; lo++) {
        struct scan_sock *k = &s->v[lo];
        if (k->found) continue;
        k->found = 1;
        k->proto = c->proto;
        k->state = d->state;
        sl_diag_format(d, 0, k->local, sizeof(k->local));
        sl_diag_format(d, 1, k->peer, sizeof(k->peer));
        if (d->has_info) k->silent_ms = d->last_ack_recv_ms;
    }
}

static int dump(struct sl_diag *nl, struct scan *s, int family, int protocol, unsigned states) {
    struct dump_ctx c = { s, protocol == IPPROTO_TCP ? "tcp" : "udp" };
    return sl_diag_dump(nl, family, protocol, states, record, &c);
}

/* A sock_diag socket in pid's network namespace (containers have their
 * own); entering it needs CAP_SYS_ADMIN, else ours is used with a warning. */
static struct sl_diag *diag_socket(long pid) {
    char path[64];
    struct stat self, target;
    snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
    int other = stat(path, &target) == 0 && stat("/proc/self/ns/net", &self) == 0 &&
                target.st_ino != self.st_ino;
    int mine = other ? open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC) : -1;
    int theirs = other ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    int entered = other && mine >= 0 && theirs >= 0 && setns(theirs, CLONE_NEWNET) == 0;
    if (other && !entered)
        fprintf(stderr, "sockleak scan: pid %ld is in another network namespace and it cannot be "
                        "entered (%s); its sockets may be missing\n", pid, strerror(errno));
    struct sl_diag *nl = sl_diag_open();
    if (entered && setns(mine, CLONE_NEWNET)) perror("sockleak scan: setns back");
    if (mine >= 0) close(mine);
    if (theirs >= 0) close(theirs);
    return nl;
}

static int cmp_fd(const void *pa, const void *pb) {
    return ((const struct scan_sock *)pa)->fd - ((const struct scan_sock *)pb)->fd;
}

static const char *state_name(const struct scan_sock *k) {
    if (!strcmp(k->proto, "udp")) return k->state == 1 ? "connected" : "unconnected";
    return k->state > 0 && k->state < (int)(sizeof(tcp_states) / sizeof(tcp_states[0]))
        ? tcp_states[k->state] : "?";
}

/* Peers with more than one socket in the listing, most first. */
static void per_peer(const struct scan *s, int all) {
    int header = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct scan_sock *k = &s->v[i];
        int first = 1, count = 0;
        if (!k->found || (!all && k->state != TCP_STATE_CLOSE_WAIT) || !strcmp(k->proto, "udp")) continue;
        for (size_t j = 0; j < s->n; j++) {
            const struct scan_sock *o = &s->v[j];
            if (!o->found || (!all && o->state != TCP_STATE_CLOSE_WAIT) || strcmp(o->peer, k->peer)) continue;
            if (j < i) first = 0;
            count++;
        }
        if (!first || k->state == 10) continue;  /* a listener has no peer */
        if (!header++) printf("  per peer:\n");
        printf("  %5d  %s\n", count, k->peer);
    }
}

static void comm(long pid, char *out, size_t len) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(out, (int)len, f)) snprintf(out, len, "?");
    if (f) fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

/* Print the listing of one process; returns its CLOSE_WAIT count. */
static size_t print_scan(struct scan *s, int all) {
    size_t close_wait = 0, other = 0;
    char name[64];
    qsort(s->v, s->n, sizeof(*s->v), cmp_fd);
    for (size_t i = 0; i < s->n; i++) {
        close_wait += s->v[i].found && s->v[i].state == TCP_STATE_CLOSE_WAIT;
        other += !s->v[i].found;
    }
    comm(s->pid, name, sizeof(name));
    printf("pid %ld (%s): %zu socket%s in CLOSE_WAIT, %zu socket%s in all\n", s->pid, name,
           close_wait, close_wait == 1 ? "" : "s", s->n, s->n == 1 ? "" : "s");
    for (size_t i = 0; i < s->n; i++) {
        const struct scan_sock *k = &s->v[i];
        if (!k->found || (!all && k->state != TCP_STATE_CLOSE_WAIT)) continue;
        printf("  fd %d: %s %s", k->fd, k->proto, k->local);
        if (k->state != 10 && strcmp(k->peer, "0.0.0.0:0") && strcmp(k->peer, "[::]:0"))
            printf(" -> %s", k->peer);
        printf(" %s", state_name(k));
        if (k->silent_ms >= 0 && k->state != 10)
            printf(", last heard from peer %ld.%ld s ago", k->silent_ms / 1000, (k->silent_ms % 1000) / 100);
        printf(", age unknown\n");
    }
    if (all && other)
        printf("  %zu other socket%s (Unix, netlink, ...) not listed\n", other, other == 1 ? "" : "s");
    per_peer(s, all);
    return close_wait;
}

static int scan_pid(long pid, int all, size_t *close_wait) {
    struct scan s = { .pid = pid };
    if (read_fds(&s)) return -1;
    qsort(s.v, s.n, sizeof(*s.v), cmp_inode);
    struct sl_diag *nl = diag_socket(pid);
    int rc = nl == NULL ? -1 : 0;
    unsigned states = all ? ~0u : 1u << TCP_STATE_CLOSE_WAIT;
    for (int fam = 0; fam < 2 && rc == 0; fam++) {
        int family = fam ? AF_INET6 : AF_INET;
        rc = dump(nl, &s, family, IPPROTO_TCP, states);
        if (rc == 0 && all) rc = dump(nl, &s, family, IPPROTO_UDP, ~0u);
    }
    if (rc) fprintf(stderr, "sockleak scan: sock_diag: %s\n", strerror(errno));
    else *close_wait += print_scan(&s, all);
    sl_diag_close(nl);
    free(s.v);
    return rc;
}

int slt_cmd_scan(int argc, char **argv) {
    static const char *const usage[] = { "sockleak scan [--all] PID...", NULL };
    int all = 0, failed = 0;
    size_t close_wait = 0;
    const struct slt_option opts[] = {
        OPT_GROUP("Scan options"),
        OPT_BOOL(0, "all", &all, "list sockets in every state, not only CLOSE_WAIT"),
        OPT_END(),
    };
    int n = slt_parse_options(argc, argv, opts, usage, 0);
    if (n == 0) {
        fprintf(stderr, "sockleak scan: no PID given\n\n");
        slt_usage(stderr, usage, opts);
    }
    if (n <= 0) return SLT_EXIT_ERROR;
    for (int i = 0; i < n; i++) {
        char *end;
        long pid = strtol(argv[i], &end, 10);
        if (*end || end == argv[i] || pid <= 0) {
            fprintf(stderr, "sockleak scan: \"%s\" is not a PID\n", argv[i]);
            failed = 1;
            continue;
        }
        if (i) printf("\n");
        failed |= scan_pid(pid, all, &close_wait) != 0;
    }
    if (failed) return SLT_EXIT_ERROR;
    return close_wait ? SLT_EXIT_LEAKS : 0;
}
