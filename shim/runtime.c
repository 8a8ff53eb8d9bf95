/* runtime.c -- socket records and the events that change them; init, fork
 * and the exit report's collection pass. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grow.h"
#include "fdtable.h"
#include "lang.h"
#include "output.h"
#include "ownfd.h"
#include "real.h"
#include "report.h"
#include "runtime.h"
#include "sockinfo.h"
#include "stackdepot.h"
#include "symbolize.h"
#include "watcher.h"

#define REC_CHUNK    1024          /* records per lazily mapped chunk */
#define REC_CHUNKS   4096          /* at most 4M live sockets */

struct sl_options sl_opts;
struct sl_stats sl_stats;
_Atomic int sl_ready;
__thread int sl_in_shim __attribute__((tls_model("initial-exec")));

static _Atomic int init_state;           /* 0 none, 1 running, 2 done */
static char opts_buf[4096];
static struct sl_sock *_Atomic rec_chunks[REC_CHUNKS];
static _Atomic uint32_t rec_next = 1;    /* next never-used id; 0 means none */
static _Atomic uint64_t free_head;       /* (tag << 32) | id: ABA-safe stack */
static _Atomic int cached_pid;
static _Atomic uint32_t fork_epoch;      /* bumped in every fork child */
static _Atomic int exit_reported_pid;
static int64_t start_ns;
static _Atomic int attached;             /* 1 while in attach mode (sl_runtime_attach) */
static int exit_handler_registered;


int sl_pid(void)
{
    int pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    return pid != 0 ? pid : (int)getpid();     /* before sl_init */
}

int64_t sl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sl_now_coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- socket records: a lock-free pool, never unmapped ---- */

struct sl_sock *sl_sock_get(uint32_t id)
{
    if (id == 0 || id >= (uint32_t)REC_CHUNK * REC_CHUNKS)
        return NULL;
    struct sl_sock *chunk = __atomic_load_n(&rec_chunks[id / REC_CHUNK], __ATOMIC_ACQUIRE);
    return chunk ? &chunk[id % REC_CHUNK] : NULL;
}

static struct sl_sock *ensure_chunk(uint32_t id)
{
    struct sl_sock *chunk = sl_sock_get(id);
    if (chunk != NULL || id >= (uint32_t)REC_CHUNK * REC_CHUNKS)
        return chunk;
    void *p = mmap(NULL, REC_CHUNK * sizeof(struct sl_sock), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct sl_sock *expected = NULL;
    if (!__atomic_compare_exchange_n(&rec_chunks[id / REC_CHUNK], &expected, p, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        munmap(p, REC_CHUNK * sizeof(struct sl_sock));
    return sl_sock_get(id);
}

static uint32_t rec_alloc(void)
{
    uint64_t head = __atomic_load_n(&free_head, __ATOMIC_ACQUIRE);
    while ((uint32_t)head != 0) {
        struct sl_sock *s = sl_sock_get((uint32_t)head);
        uint64_t next = ((head >> 32) + 1) << 32 | s->next_free;
        if (__atomic_compare_exchange_n(&free_head, &head, next, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return (uint32_t)head;
    }
    uint32_t id = __atomic_fetch_add(&rec_next, 1, __ATOMIC_RELAXED);
    return ensure_chunk(id) ? id : 0;
}

static void rec_free(uint32_t id)
{
    struct sl_sock *s = sl_sock_get(id);
    uint64_t head = __atomic_load_n(&free_head, __ATOMIC_ACQUIRE), next;
    /* Only its holder writes gen (rec_alloc's caller, release()'s last
     * holder): a plain store, no locked add. */
    __atomic_store_n(&s->gen, __atomic_load_n(&s->gen, __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELEASE);                 /* even: free */
    do {
        s->next_free = (uint32_t)head;
        next = ((head >> 32) + 1) << 32 | id;
    } while (!__atomic_compare_exchange_n(&free_head, &head, next, 0,
                                          __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
}

uint32_t sl_sock_id_of_fd(int fd)
{
    return sl_fd_get(fd);
}

struct sl_sock *sl_sock_of_fd(int fd)
{
    return sl_sock_get(sl_fd_get(fd));
}

/* Drop one fd's reference; the last one closes the socket. */
static void release(uint32_t id, int fd)
{
    struct sl_sock *s = sl_sock_get(id);
    if (s == NULL || __atomic_fetch_sub(&s->nfds, 1, __ATOMIC_ACQ_REL) != 1)
        return;
    if (s->origin != SL_ORIGIN_INHERITED && s->origin != SL_ORIGIN_PRE_ATTACH &&
        s->epoch == __atomic_load_n(&fork_epoch, __ATOMIC_RELAXED))
        __atomic_fetch_add(&sl_stats.closed, 1, __ATOMIC_RELAXED);
    sl_watcher_on_close(id, s, fd);
    rec_free(id);
}

/* fd no longer refers to socket id: it was closed outside the shim (a raw
 * syscall such as libuv's syscall(SYS_close), glibc internals) and the
 * number may have been reused. Drop it as closed, and count it. */
static void closed_outside(uint32_t id, int fd)
{
    struct sl_sock *s = sl_sock_get(id);
    if (s == NULL)
        return;
    if (__atomic_load_n(&s->nfds, __ATOMIC_ACQUIRE) == 1) {
        __atomic_fetch_or(&s->flags, SL_SOCK_CLOSED_UNTRACKED, __ATOMIC_RELAXED);
        __atomic_fetch_add(&sl_stats.closed_untracked, 1, __ATOMIC_RELAXED);
    }
    release(id, fd);
}

struct find_cookie {
    uint64_t cookie;
    int fd;
};

static void find_cookie_cb(int fd, uint32_t id, void *arg)
{
    struct find_cookie *f = arg;
    struct sl_sock *s = sl_sock_get(id);
    if (f->fd < 0 && s != NULL && s->cookie == f->cookie)
        f->fd = fd;
}

/* A tracked fd of the socket with this identity, or -1. */
static int same_socket_fd(uint64_t cookie)
{
    struct find_cookie f = { cookie, -1 };
    sl_fd_foreach(0, ~0u, find_cookie_cb, &f);
    return f.fd;
}

/* newfd refers to oldfd's socket (what sl_on_dup records, without checks).
 * An entry newfd held was closed by the call (dup2/dup3: visible) or
 * before it, behind our back (dup/F_DUPFD only return free numbers). */
static void link_fd(int oldfd, int newfd, int replaces)
{
    uint32_t id = sl_fd_get(oldfd);
    struct sl_sock *s = sl_sock_get(id);
    uint32_t prev;
    if (s != NULL) {
        __atomic_fetch_add(&s->nfds, 1, __ATOMIC_ACQ_REL);
        prev = sl_fd_set(newfd, id);
    } else {
        prev = sl_fd_take(newfd);   /* newfd now refers to something untracked */
    }
    if (prev != 0 && replaces)
        release(prev, newfd);
    else if (prev != 0)
        closed_outside(prev, newfd);
}

/* ---- events ---- */

/* The same bad-fd check starts every event (tsan_fd.cpp's bogusfd): not
 * initialized yet, the shim's own call, a bad number, or the shim's own fd. */
static int bogus(int fd)
{
    return !__atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE) || sl_in_shim || fd < 0 ||
           (unsigned)fd >= sl_fdtable_capacity() || sl_private_is(fd);
}

unsigned char sl_vfork_child;

/* A vfork child shares our memory: its closes must not touch the parent's
 * table. The flag covers vfork(); getpid() also catches other children
 * that share our memory (clone(CLONE_VM)), but is a real syscall, so only
 * the rarer events pay for it. */
static int in_vfork_child(void)
{
    return __atomic_load_n(&sl_vfork_child, __ATOMIC_RELAXED) ||
           (int)syscall(SYS_getpid) != __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
}

/* An accepted TCP connection's identity, from what accept() gave: its
 * peer's address and its listener's port. */
struct accepted {
    const struct sockaddr *peer;
    socklen_t len;
    unsigned sport;
};

static void track(int fd, int family, int type, int protocol, enum sl_origin origin,
                  uint32_t stack_id, const struct accepted *a)
{
    uint64_t cookie = 0;
    uint32_t id;
    /* The identity every later check compares against: an accepted
     * connection's addresses came with accept(); any other socket's costs
     * one syscall (SO_COOKIE). */
    if ((a == NULL && sl_sock_cookie(fd, &cookie) != 0) || (id = rec_alloc()) == 0)
        return;
    struct sl_sock *s = sl_sock_get(id);
    if (s == NULL)
        return;
    /* Plain stores (an _Atomic's "=" is a locked xchg on x86-64, four a
     * socket); the gen store below publishes them. */
    __atomic_store_n(&s->nfds, 1, __ATOMIC_RELAXED);
    s->stack_id = stack_id;
    s->origin = (uint8_t)origin;
    s->family = family;
    s->type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    s->protocol = protocol;
    s->cookie = cookie;
    s->sport = a != NULL ? (uint16_t)a->sport : 0;
    s->created_ns = origin == SL_ORIGIN_INHERITED ? start_ns
                  : origin == SL_ORIGIN_PRE_ATTACH ? 0 : sl_now_coarse_ns();
    __atomic_store_n(&s->fin_ns, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->close_wait_ns, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->flags,
                     (a != NULL ? SL_SOCK_BY_PEER : 0) |
                     (s->type == SOCK_STREAM && (family == AF_INET || family == AF_INET6) &&
                      (protocol == 0 || protocol == IPPROTO_TCP) ? SL_SOCK_TCP : 0),
                     __ATOMIC_RELAXED);
    s->peer_len = 0;
    if (a != NULL) {
        memcpy(&s->peer_addr, a->peer, a->len);
        s->peer_len = a->len;
    }
    s->epoch = __atomic_load_n(&fork_epoch, __ATOMIC_RELAXED);
    __atomic_store_n(&s->gen, __atomic_load_n(&s->gen, __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELEASE);                 /* odd: in use */
    if (origin == SL_ORIGIN_INHERITED)
        __atomic_fetch_add(&sl_stats.inherited, 1, __ATOMIC_RELAXED);
    else if (origin == SL_ORIGIN_PRE_ATTACH)
        __atomic_fetch_add(&sl_stats.pre_attach, 1, __ATOMIC_RELAXED);
    else
        __atomic_fetch_add(&sl_stats.opened, 1, __ATOMIC_RELAXED);
    /* A stale entry means the old fd was closed behind our back (a raw
     * syscall, glibc internals): the number was reused, so drop it. */
    uint32_t old = sl_fd_set(fd, id);
    if (old != 0)
        closed_outside(old, fd);
    sl_watcher_on_socket(id, s, fd);
}

/* In a Python, Java or node process: the runtime's frames come first. */
static void on_socket_lang(int fd, int family, int type, int protocol, enum sl_origin origin,
                           const struct accepted *a)
{
    uintptr_t pcs[SL_STACK_MAX], lang[SL_LANG_FRAMES_MAX];
    unsigned depth = (unsigned)sl_opts.stack_depth;
    /* Deep interpreter stacks cost microseconds to unwind, and only their
     * top stays beside language frames: unwind that much first. */
    unsigned want = sl_lang_native_want(origin, depth);
    unsigned n = sl_stack_unwind(pcs, want);
    unsigned nlang = sl_lang_capture(origin, pcs, &n, lang, SL_LANG_FRAMES_MAX);
    if (nlang == 0 && want < depth && !sl_lang_owns(origin, pcs, n))
        n = sl_stack_unwind(pcs, depth);    /* not the runtime's: the whole stack */
    track(fd, family, type, protocol, origin, sl_stack_put2(lang, nlang, pcs, n), a);
    sl_lang_tracked(fd, origin, pcs, n);
}

int sl_sock_add_lang(uint32_t id, uint32_t gen, const uintptr_t *lang, unsigned nlang,
                     unsigned native_max)
{
    struct sl_sock *s = sl_sock_get(id);
    const uintptr_t *pcs;
    if (s == NULL || nlang == 0 || __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != gen)
        return -1;
    unsigned n = sl_stack_get(__atomic_load_n(&s->stack_id, __ATOMIC_RELAXED), &pcs);
    while (n > 0 && sl_is_lang_frame(pcs[0])) {    /* replace, never stack up */
        pcs++;
        n--;
    }
    uint32_t stack_id = sl_stack_put2(lang, nlang, pcs, n < native_max ? n : native_max);
    if (stack_id == 0)
        return -1;
    __atomic_store_n(&s->stack_id, stack_id, __ATOMIC_RELEASE);
    return 0;
}

/* A new socket of fd, bogus(fd) already asked. */
static void on_socket(int fd, int family, int type, int protocol, enum sl_origin origin,
                      const struct accepted *a)
{
    sl_in_shim = 1;
    /* Unwind before touching shared state: libunwind may take the loader lock. */
    if (__builtin_expect(sl_lang_active != 0, 0)) {
        on_socket_lang(fd, family, type, protocol, origin, a);
    } else {
        uint32_t stack_id = sl_stack_capture((unsigned)sl_opts.stack_depth);
        track(fd, family, type, protocol, origin, stack_id, a);
    }
    sl_in_shim = 0;
}

void sl_on_socket(int fd, int family, int type, int protocol, enum sl_origin origin)
{
    if (!bogus(fd))
        on_socket(fd, family, type, protocol, origin, NULL);
}

/* A TCP listener's local port, asked once (at its first accept). */
static unsigned listener_port(struct sl_sock *l, int listen_fd)
{
    unsigned port = __atomic_load_n(&l->sport, __ATOMIC_RELAXED);
    struct sockaddr_in6 a;
    socklen_t len = sizeof(a);
    if (port == 0 && getsockname(listen_fd, (struct sockaddr *)&a, &len) == 0 &&
        len >= sizeof(struct sockaddr_in) && a.sin6_family == l->family) {
        port = ntohs(a.sin6_port);      /* sin_port is at the same offset */
        __atomic_store_n(&l->sport, (uint16_t)port, __ATOMIC_RELAXED);
    }
    return port;
}

void sl_on_accept(int listen_fd, int fd, enum sl_origin origin, const struct sockaddr *peer,
                  socklen_t peer_len)
{
    if (bogus(fd))
        return;
    struct sl_sock *l = sl_sock_of_fd(listen_fd);
    int family, type, protocol;
    struct accepted a = { peer, peer_len, 0 };
    if (l != NULL) {
        family = l->family;
        type = l->type;
        protocol = l->protocol;
    } else if (sl_sock_kind(fd, &family, &type, &protocol) != 0) {
        return;
    }
    /* A TCP connection of a listener we know, with its peer's address:
     * known by that address and the listener's port, with no syscall. A
     * caller's buffer smaller than the address (which leaves the caller a
     * cut address too; the kernel still says the whole length) would give
     * a wrong identity, its rest read from past that buffer: the socket
     * then looks closed outside the shim, which is never reported, only
     * missed. */
    int whole = peer != NULL && peer->sa_family == family &&
                peer_len == (family == AF_INET ? sizeof(struct sockaddr_in)
                                               : sizeof(struct sockaddr_in6));
    if (l != NULL && whole && type == SOCK_STREAM && (family == AF_INET || family == AF_INET6) &&
        (protocol == 0 || protocol == IPPROTO_TCP) && (a.sport = listener_port(l, listen_fd)) != 0)
        on_socket(fd, family, type, protocol, origin, &a);
    else
        on_socket(fd, family, type, protocol, origin, NULL);
}

void sl_on_received(int fd)
{
    struct stat st;
    int family, type, protocol;
    if (bogus(fd) || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
        sl_sock_kind(fd, &family, &type, &protocol) != 0)
        return;
    sl_on_socket(fd, family, type, protocol, SL_ORIGIN_RECEIVED);
}

void sl_on_dup(int oldfd, int newfd)
{
    if (bogus(newfd) || oldfd == newfd || in_vfork_child())
        return;
    link_fd(oldfd, newfd, 0);
}

void sl_on_dup_onto(int oldfd, int newfd)
{
    if (bogus(newfd) || oldfd == newfd || in_vfork_child())
        return;
    link_fd(oldfd, newfd, 1);
}

void sl_on_close(int fd)
{
    if (!__atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE) || fd < 0)
        return;
    if (sl_fd_get(fd) == 0 || __atomic_load_n(&sl_vfork_child, __ATOMIC_RELAXED))
        return;
    uint32_t id = sl_fd_take(fd);
    if (id != 0)
        release(id, fd);
}

static void close_cb(int fd, uint32_t id, void *arg)
{
    (void)id;
    (void)arg;
    uint32_t taken = sl_fd_take(fd);
    if (taken != 0)
        release(taken, fd);
}

void sl_on_close_range(unsigned first, unsigned last)
{
    if (!__atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE) || first > last || in_vfork_child())
        return;
    sl_fd_foreach(first, last, close_cb, NULL);
}

void sl_on_eof(int fd)
{
    /* Hot path (a 0-byte read): no lock, no allocation, no syscall. */
    struct sl_sock *s = sl_sock_of_fd(fd);
    if (s == NULL || s->type != SOCK_STREAM || __atomic_load_n(&s->fin_ns, __ATOMIC_RELAXED))
        return;
    int64_t zero = 0;
    __atomic_compare_exchange_n(&s->fin_ns, &zero, sl_now_ns(), 0,
                                __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

void sl_on_shutdown(int fd, int how)
{
    struct sl_sock *s = sl_sock_of_fd(fd);
    if (s != NULL && (how == SHUT_WR || how == SHUT_RDWR)) {
        __atomic_fetch_or(&s->flags, SL_SOCK_SHUT_WR, __ATOMIC_RELAXED);
        sl_watcher_on_shutdown(s, fd);
    }
}

void sl_on_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct sl_sock *s = sl_sock_of_fd(fd);
    if (s != NULL && !sl_in_shim) {
        if (addr != NULL && len > 0 && len <= sizeof(s->peer_addr)) {
            memcpy(&s->peer_addr, addr, len);
            s->peer_len = len;
        }
        __atomic_fetch_or(&s->flags, SL_SOCK_CONNECTED, __ATOMIC_RELAXED);
        sl_watcher_on_connect(s, fd);
    }
}

/* ---- describing and collecting leaks ---- */

void sl_describe(const struct sl_sock *s, const int *fds, int nfds,
                 struct sl_leak *out, int64_t now)
{
    int fd = fds[0];
    int64_t fin = __atomic_load_n(&s->fin_ns, __ATOMIC_RELAXED);
    int64_t cw = __atomic_load_n(&s->close_wait_ns, __ATOMIC_RELAXED);

    memset(out, 0, sizeof(*out));
    out->pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    out->nfds = nfds < SL_LEAK_MAX_FDS ? nfds : SL_LEAK_MAX_FDS;
    memcpy(out->fds, fds, (size_t)out->nfds * sizeof(int));
    out->origin = s->origin;
    out->from_parent = s->epoch != __atomic_load_n(&fork_epoch, __ATOMIC_RELAXED);
    out->family = s->family;
    out->type = s->type;
    out->protocol = s->protocol;
    out->stack_id = s->stack_id;
    out->has_local = sl_sock_address(fd, 0, out->local, sizeof(out->local)) == 0;
    out->has_peer = sl_sock_address(fd, 1, out->peer, sizeof(out->peer)) == 0;
    if (!out->has_peer && s->peer_len > 0) {
        /* shut down or reset: the kernel forgot the peer, connect() did not */
        sl_format_sockaddr(&s->peer_addr, s->peer_len, out->peer, sizeof(out->peer));
        out->has_peer = 1;
    }
    int64_t last_recv_ms = -1;
    out->tcp_state = sl_tcp_state_since(fd, &last_recv_ms);
    out->age_ms = s->origin == SL_ORIGIN_PRE_ATTACH ? -1 : (now - s->created_ns) / 1000000;

    int peer_closed = fin != 0 || out->tcp_state == TCP_CLOSE_WAIT ||
                      out->tcp_state == TCP_LAST_ACK || out->tcp_state == TCP_CLOSING;
    if (!peer_closed && out->tcp_state < 0 && s->type != SOCK_DGRAM && out->has_peer)
        peer_closed = sl_peer_hung_up(fd);   /* Unix stream/seqpacket peers */
    out->kind = peer_closed ? SL_KIND_CLOSE_WAIT : SL_KIND_OPEN_AT_EXIT;
    (void)fin;
    (void)cw;
    out->eof_read = fin != 0;
    out->fin_age_ms = sl_fin_age_ms(s, out->tcp_state == TCP_CLOSE_WAIT ||
                                       out->tcp_state == TCP_LAST_ACK ? last_recv_ms : -1, now);
}

void sl_describe_record(const struct sl_sock *s, int fd, struct sl_leak *out, int64_t now)
{
    memset(out, 0, sizeof(*out));
    out->pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    out->nfds = 1;
    out->fds[0] = fd;
    out->origin = s->origin;
    out->from_parent = s->epoch != __atomic_load_n(&fork_epoch, __ATOMIC_RELAXED);
    out->family = s->family;
    out->type = s->type;
    out->protocol = s->protocol;
    out->stack_id = s->stack_id;
    out->tcp_state = -1;
    out->age_ms = (now - s->created_ns) / 1000000;
    out->fin_age_ms = sl_fin_age_ms(s, -1, now);
    out->closed_untracked = (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) &
                             SL_SOCK_CLOSED_UNTRACKED) != 0;
    if (s->peer_len > 0) {
        sl_format_sockaddr(&s->peer_addr, s->peer_len, out->peer, sizeof(out->peer));
        out->has_peer = 1;
    }
}

int64_t sl_fin_age_ms(const struct sl_sock *s, int64_t kernel_ms, int64_t now)
{
    int64_t fin = __atomic_load_n(&s->fin_ns, __ATOMIC_RELAXED);
    int64_t cw = __atomic_load_n(&s->close_wait_ns, __ATOMIC_RELAXED);
    int64_t age = kernel_ms;
    /* Each is a lower bound (the FIN came no later than any of them). */
    if (fin && (now - fin) / 1000000 > age)
        age = (now - fin) / 1000000;
    if (cw && (now - cw) / 1000000 > age)
        age = (now - cw) / 1000000;
    return age;
}

struct pairs {
    uint64_t *v;        /* (record id << 32) | fd */
    size_t n, cap;
};

static void pairs_cb(int fd, uint32_t id, void *arg)
{
    struct pairs *p = arg;
    if (SL_GROW(p->v, p->cap, p->n) != 0)
        return;
    p->v[p->n++] = (uint64_t)id << 32 | (uint32_t)fd;
}

static int cmp_pair(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return *x < *y ? -1 : *x > *y;
}

/* fd still refers to the socket s was created for (not closed behind our
 * back): the same cookie; for an accepted connection (no cookie), the same
 * peer address and local port, or, once a reset made the kernel forget
 * the peer, a TCP socket of the same family in CLOSE on that local port
 * (a fresh socket has none, another connection another peer). */
static int still_same(const struct sl_sock *s, int fd)
{
    uint64_t cookie;
    if (!(__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & SL_SOCK_BY_PEER))
        return sl_sock_cookie(fd, &cookie) == 0 && cookie == s->cookie;
    int family, type, protocol;
    int same = sl_sock_is_peer(fd, s->family, s->sport, &s->peer_addr);
    if (same >= 0)
        return same;
    return sl_sock_kind(fd, &family, &type, &protocol) == 0 && type == SOCK_STREAM &&
           sl_tcp_state(fd) == TCP_CLOSE;
}

/* Keep the fds of record id that still refer to it; drop the others as
 * closed behind our back (a racing socket() may own the number now).
 * Returns how many are left. */
static int keep_same(uint32_t id, struct sl_sock *s, int *fds, int nfds)
{
    int kept = 0;
    for (int i = 0; i < nfds; i++) {
        if (still_same(s, fds[i]))
            fds[kept++] = fds[i];
        else if (sl_fd_take_if(fds[i], id))
            closed_outside(id, fds[i]);
    }
    return kept;
}

/* Call fn once per record with the fds the table gives it (at most
 * SL_LEAK_MAX_FDS, ascending), unchecked: each caller decides which to ask
 * the kernel about. Report time only: it allocates. */
static void foreach_record(void (*fn)(uint32_t id, struct sl_sock *s, int *fds, int nfds,
                                      void *arg), void *arg)
{
    struct pairs p = { 0 };
    sl_fd_foreach(0, ~0u, pairs_cb, &p);
    /* Sorted by (id, fd), each socket's fds are adjacent and ascending. */
    if (p.n > 0)    /* qsort(NULL, 0) is undefined */
        qsort(p.v, p.n, sizeof(*p.v), cmp_pair);
    for (size_t i = 0; i < p.n;) {
        uint32_t id = (uint32_t)(p.v[i] >> 32);
        struct sl_sock *s = sl_sock_get(id);
        int fds[SL_LEAK_MAX_FDS], nfds = 0;
        for (; i < p.n && (uint32_t)(p.v[i] >> 32) == id; i++)
            if (nfds < SL_LEAK_MAX_FDS)
                fds[nfds++] = (int)(uint32_t)p.v[i];
        if (s != NULL && nfds > 0 && (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) & 1))
            fn(id, s, fds, nfds, arg);
    }
    free(p.v);
}

struct checked {
    void (*fn)(struct sl_sock *s, const int *fds, int nfds, void *arg);
    void *arg;
};

static void checked_cb(uint32_t id, struct sl_sock *s, int *fds, int nfds, void *arg)
{
    struct checked *c = arg;
    nfds = keep_same(id, s, fds, nfds);
    if (nfds > 0)
        c->fn(s, fds, nfds, c->arg);
}

void sl_foreach_socket(void (*fn)(struct sl_sock *s, const int *fds, int nfds, void *arg),
                       void *arg)
{
    struct checked c = { fn, arg };
    foreach_record(checked_cb, &c);
}

int sl_sock_last_holder(const struct sl_sock *s)
{
    return !(__atomic_load_n(&s->flags, __ATOMIC_RELAXED) &
             (SL_SOCK_FORKED | SL_SOCK_CLOSED_UNTRACKED)) &&
           s->epoch == __atomic_load_n(&fork_epoch, __ATOMIC_RELAXED);
}

int sl_sock_reportable(const struct sl_sock *s)
{
    if (s->origin == SL_ORIGIN_INHERITED ||
        s->epoch != __atomic_load_n(&fork_epoch, __ATOMIC_RELAXED))
        return sl_opts.report_inherited;
    return 1;
}

/* ---- sorting sockets at exit ----
 * The exit path's cost should grow with the leaks, not the connections. One
 * poll() over every tracked socket (about 0.8 us each, no allocation) sorts
 * out the idle ones: a TCP socket that is writable, whose peer has not
 * closed and that this process has not shut down is ESTABLISHED; a Unix
 * stream's peer is gone when POLLRDHUP says so; a number no longer open
 * (POLLNVAL) was closed behind our back. Only the rest (listeners,
 * CLOSE_WAIT, reset, connecting, full send buffers) is asked TCP_INFO, and
 * only sockets that will be listed are checked to still be the recorded
 * socket (fstat) and described. A sock_diag dump was measured slower: it
 * walks every TCP socket of the machine, TIME_WAIT included, ~2.5 us per
 * socket it returns and milliseconds even for a few (bench/exit_bench.c). */

#define POLL_EVENTS (POLLIN | POLLOUT | POLLRDHUP)

/* Whether received sockets are listed at exit (else counted). */
static int list_received(void)
{
    return sl_opts.report_received || sl_opts.fail_on == SL_FAIL_RECEIVED;
}

/* What the kernel says of one socket at exit. */
struct exit_view {
    int gone;               /* the fd is not open (POLLNVAL) */
    int state;              /* TCP state, -1: not TCP */
    int64_t kernel_ms;      /* since the FIN (CLOSE_WAIT, LAST_ACK), -1: unknown */
    int peer_gone;          /* a non-TCP stream peer closed or shut down writing */
};

/* From poll's answer for fd (revents), asking TCP_INFO only when the
 * answer leaves the state open. Async-signal-safe. */
static void exit_view(const struct sl_sock *s, int fd, short revents, struct exit_view *v)
{
    v->gone = (revents & POLLNVAL) != 0;
    v->state = -1;
    v->kernel_ms = -1;
    v->peer_gone = 0;
    if (v->gone)
        return;
    if (sl_sock_is_tcp(s)) {
        int idle = (revents & POLLOUT) && !(revents & (POLLRDHUP | POLLHUP | POLLERR)) &&
                   !(__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & SL_SOCK_SHUT_WR);
        if (idle) {
            v->state = TCP_ESTABLISHED;
            return;
        }
    }
    if (s->type != SOCK_DGRAM)      /* TCP_INFO fails at once on other sockets */
        v->state = sl_tcp_state_since(fd, &v->kernel_ms);
    if (v->state != TCP_CLOSE_WAIT && v->state != TCP_LAST_ACK)
        v->kernel_ms = -1;
    /* POLLRDHUP: the peer closed or shut down writing (an unconnected Unix
     * socket shows POLLHUP alone) */
    v->peer_gone = v->state < 0 && s->type != SOCK_DGRAM && (revents & POLLRDHUP);
}

/* The peer has closed: a CLOSE_WAIT-like state, or the program read the EOF. */
static int peer_closed(const struct sl_sock *s, const struct exit_view *v)
{
    int fin = __atomic_load_n(&s->fin_ns, __ATOMIC_RELAXED) != 0;
    return v->state >= 0 ? v->state == TCP_CLOSE_WAIT || v->state == TCP_LAST_ACK ||
                           v->state == TCP_CLOSING || fin
                         : fin || v->peer_gone;
}

/* One tracked socket at exit: its record and the fds that hold it. */
struct exit_sock {
    uint32_t id;
    struct sl_sock *s;
    int fds[SL_LEAK_MAX_FDS];
    int nfds;
};

struct exit_leaks {
    struct exit_sock *socks;
    size_t nsocks, socks_cap;
    struct sl_leak *v;
    size_t n, cap;
    int64_t now;
    struct sl_summary *sum;
};

static void collect_cb(uint32_t id, struct sl_sock *s, int *fds, int nfds, void *arg)
{
    struct exit_leaks *e = arg;
    if (!sl_sock_reportable(s))
        return;
    if (s->origin == SL_ORIGIN_RECEIVED && !list_received()) {
        e->sum->received++;     /* not even asked about: never listed */
        return;
    }
    if (SL_GROW(e->socks, e->socks_cap, e->nsocks) != 0)
        return;
    struct exit_sock *x = &e->socks[e->nsocks++];
    x->id = id;
    x->s = s;
    x->nfds = nfds;
    memcpy(x->fds, fds, (size_t)nfds * sizeof(int));
}

/* poll's answer for one fd; 0 (nothing known) if poll failed. */
static short poll_one(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLL_EVENTS };
    return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

/* Sort one socket at exit. A leak is a CLOSE_WAIT held past grace_ms; a
 * younger one is closing; the rest is still open (listed with
 * report_open=1). Received sockets, when asked for (report_received=1,
 * fail_on=received), are all listed: as kind received unless they are
 * CLOSE_WAIT leaks. */
static void exit_sort(struct exit_leaks *e, struct exit_sock *x, short revents)
{
    struct sl_sock *s = x->s;
    struct exit_view v;
    char name[24], fam[16], typ[16];
    int received = s->origin == SL_ORIGIN_RECEIVED;
    exit_view(s, x->fds[0], revents, &v);
    int closed = !v.gone && peer_closed(s, &v), closing = 0;
    if (closed) {
        int64_t age = sl_fin_age_ms(s, v.kernel_ms, e->now);
        /* -1: no one knows when (a Unix peer): not proven, unless grace_ms=0 */
        closing = sl_opts.grace_ms > 0 && age < sl_opts.grace_ms;
    }
    /* sockleak attach's detach report is a snapshot of a process that runs
     * on: it lists what is open (see docs/report-format.md) */
    int leak = closed && !closing;
    int listed = leak || received || (!closed && (sl_opts.report_open || e->sum->when != NULL));
    /* fds[0] closed behind our back, or about to be listed: check each fd
     * (a racing socket() may own a number now) */
    if ((v.gone || listed) && (x->nfds = keep_same(x->id, s, x->fds, x->nfds)) == 0)
        return;
    if (v.gone) {               /* another fd still holds it: ask through that one */
        exit_sort(e, x, poll_one(x->fds[0]));
        return;
    }
    if (closing && !received) {
        e->sum->closing++;
        return;
    }
    if (!closed && !received) {
        if (v.state >= 0)
            snprintf(name, sizeof(name), "%s", sl_tcp_state_name(v.state));
        else
            snprintf(name, sizeof(name), "%s/%s", sl_family_name(s->family, fam, sizeof(fam)),
                     sl_type_name(s->type, typ, sizeof(typ)));
        sl_summary_count_open(e->sum, name, s->stack_id);
    }
    if (!listed)
        return;
    if (SL_GROW(e->v, e->cap, e->n) != 0)
        return;
    sl_describe(s, x->fds, x->nfds, &e->v[e->n], e->now);
    e->v[e->n].kind = leak ? SL_KIND_CLOSE_WAIT
                    : received ? SL_KIND_RECEIVED : SL_KIND_OPEN_AT_EXIT;
    e->n++;
}

/* poll(2) fds[0..n) with timeout 0, whatever n (RLIMIT_NOFILE bounds one
 * call), into revents; 0, or -1 when poll failed. */
static int poll_now(struct pollfd *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t m = n - i < 4096 ? n - i : 4096;
        int rc = poll(p + i, m, 0);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return -1;
        i += m;
    }
    return 0;
}

/* Describe every tracked socket and report. Returns the number of leaks
 * that count for exitcode. */
static int report_now(int status, const char *when)
{
    struct sl_summary sum = { 0 };
    struct exit_leaks e = { .now = sl_now_ns(), .sum = &sum };
    sum.when = when;
    foreach_record(collect_cb, &e);
    struct pollfd *p = calloc(e.nsocks ? e.nsocks : 1, sizeof(*p));
    for (size_t i = 0; p != NULL && i < e.nsocks; i++) {
        p[i].fd = e.socks[i].fds[0];
        p[i].events = POLL_EVENTS;
    }
    /* Without an answer (no memory), each socket is polled alone. */
    int polled = p != NULL && poll_now(p, e.nsocks) == 0;
    for (size_t i = 0; i < e.nsocks; i++)
        exit_sort(&e, &e.socks[i], polled ? p[i].revents : poll_one(e.socks[i].fds[0]));
    free(p);
    free(e.socks);
    sum.pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    sum.opened = sl_stats.opened;
    sum.closed = sl_stats.closed;
    sum.inherited = sl_stats.inherited;
    sum.pre_attach = sl_stats.pre_attach;
    sum.when = when;
    sum.closed_untracked = sl_stats.closed_untracked;
    sum.exit_status = status;
    sum.closed_first = sl_watcher_closed_first();
    sl_report_exit(e.v, e.n, &sum);
    free(e.v);
    return (int)(sl_opts.fail_on == SL_FAIL_ANY ? sum.close_wait + sum.open_at_exit +
                                                  sum.received_reported
                 : sl_opts.fail_on == SL_FAIL_RECEIVED ? sum.close_wait + sum.received_reported
                 : sum.close_wait);
}

/* Whether this process's exit report is still to be written (once per
 * process; never by a vfork child, whose _exit (Python's subprocess after a
 * failed exec) must not write, or use up, the parent's report). */
static int claim_exit_report(void)
{
    int pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    return __atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE) && !in_vfork_child() &&
           __atomic_exchange_n(&exit_reported_pid, pid, __ATOMIC_ACQ_REL) != pid;
}

static int exit_status_for(int failing, int status)
{
    return failing > 0 && sl_opts.exitcode != 0 ? (int)sl_opts.exitcode : status;
}

/* Write this process's exit report once (exit(): not from a signal
 * handler); returns the status to exit with. */
static int exit_report(int status)
{
    if (!claim_exit_report())
        return status;
    int saved = errno;
    sl_in_shim = 1;
    sl_watcher_stop();
    int failing = report_now(status, NULL);
    sl_in_shim = 0;
    errno = saved;
    return exit_status_for(failing, status);
}

void sl_report_at_exit(void)
{
    exit_report(0);
}

/* ---- _exit/_Exit: async-signal-safe ----
 * _exit is what a signal handler may call, perhaps while the thread it
 * interrupted holds malloc's lock or is inside the shim. So this path takes
 * no lock and allocates nothing: the fd table walk is lock-free and the
 * checks are syscalls (one poll per QUICK_BATCH sockets; TCP_INFO and fstat
 * only for the sockets poll leaves in doubt). Only if something must be reported does a child
 * (_Fork, async-signal-safe) write the full report, which does allocate;
 * the child may then block on a lock the interrupted thread held, so it
 * gets EXIT_REPORT_WAIT_MS, and after that one line says the report was
 * skipped. */
#define EXIT_REPORT_WAIT_MS 3000

#define QUICK_BATCH 32     /* pollfds on the stack: a handler's stack may be small */

struct quick_count {
    int reportable;     /* leaks the report would list */
    int failing;        /* of those, ones that count for exitcode */
    int n;
    struct pollfd p[QUICK_BATCH];
    uint32_t id[QUICK_BATCH];
};

/* exit_sort's decision, without allocating: would fd's socket be listed? */
static void quick_sort(struct quick_count *q, int fd, uint32_t id, short revents)
{
    struct sl_sock *s = sl_sock_get(id);
    struct exit_view v;
    if (s == NULL || !(__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) & 1))
        return;
    exit_view(s, fd, revents, &v);
    if (v.gone)
        return;                 /* closed behind our back */
    int closed = peer_closed(s, &v);
    int leak = closed && !(sl_opts.grace_ms > 0 &&
                           sl_fin_age_ms(s, v.kernel_ms, sl_now_ns()) < sl_opts.grace_ms);
    /* a received socket is listed whatever its state (list_received);
     * a closing one (FIN younger than grace_ms) is only counted */
    int received = s->origin == SL_ORIGIN_RECEIVED;
    if (!(leak || received || (!closed && sl_opts.report_open)) || !still_same(s, fd))
        return;
    q->reportable++;
    if (leak || sl_opts.fail_on == SL_FAIL_ANY ||
        (received && sl_opts.fail_on == SL_FAIL_RECEIVED))
        q->failing++;
}

static void quick_flush(struct quick_count *q)
{
    int rc;
    if (q->n == 0)
        return;
    while ((rc = poll(q->p, (nfds_t)q->n, 0)) < 0 && errno == EINTR)
        ;
    for (int i = 0; i < q->n; i++)
        quick_sort(q, q->p[i].fd, q->id[i], rc < 0 ? 0 : q->p[i].revents);
    q->n = 0;
}

static void quick_cb(int fd, uint32_t id, void *arg)
{
    struct quick_count *q = arg;
    struct sl_sock *s = sl_sock_get(id);
    if (s == NULL || !(__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) & 1) ||
        !sl_sock_reportable(s) || (s->origin == SL_ORIGIN_RECEIVED && !list_received()))
        return;
    q->p[q->n] = (struct pollfd){ .fd = fd, .events = POLL_EVENTS };
    q->id[q->n++] = id;
    if (q->n == QUICK_BATCH)
        quick_flush(q);
}

/* write(2) one line "==PID== sockleak: TEXT" to stderr, without stdio. */
static void signal_safe_line(const char *text)
{
    char buf[256], digits[16];
    size_t n = 0, d = 0;
    unsigned pid = (unsigned)__atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    do {
        digits[d++] = (char)('0' + pid % 10);
        pid /= 10;
    } while (pid != 0 && d < sizeof(digits));
    buf[n++] = '=';
    buf[n++] = '=';
    while (d > 0)
        buf[n++] = digits[--d];
    for (const char *p = "== sockleak: "; *p; p++)
        buf[n++] = *p;
    for (const char *p = text; *p && n < sizeof(buf) - 1; p++)
        buf[n++] = *p;
    buf[n++] = '\n';
    while (write(STDERR_FILENO, buf, n) < 0 && errno == EINTR)
        ;
}

/* The full report from a child; its exit status says whether anything
 * counted for exitcode: 0 no, 1 yes. -1 when it did not finish in time. */
static int report_in_child(int status)
{
    pid_t child = SL_REAL(_Fork)();
    if (child == 0) {
        /* Single-threaded copy: the zone lock's holder is not here. */
        sl_zone_after_fork();
        sl_in_shim = 1;
        SL_REAL(_exit)(report_now(status, NULL) > 0 ? 1 : 0);
    }
    if (child < 0)
        return -1;
    int64_t deadline = sl_now_ns() + (int64_t)EXIT_REPORT_WAIT_MS * 1000000;
    for (;;) {
        int st;
        pid_t r = waitpid(child, &st, WNOHANG);
        if (r == child)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (r < 0 && errno != EINTR)
            return -1;          /* reaped by the program's own SIGCHLD handler */
        if (sl_now_ns() > deadline) {
            kill(child, SIGKILL);
            waitpid(child, &st, 0);
            return -1;
        }
        struct timespec ts = { 0, 5 * 1000000 };
        nanosleep(&ts, NULL);
    }
}

int sl_on_exit(int status)
{
    if (!claim_exit_report())
        return status;
    int saved = errno;
    struct quick_count q = { .reportable = 0 };
    sl_fd_foreach(0, ~0u, quick_cb, &q);
    quick_flush(&q);
    if (q.reportable == 0 && !sl_opts.verbose) {
        errno = saved;
        return status;
    }
    /* No signal of the program's may run while we wait (we are leaving). */
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    int failing = report_in_child(status);
    if (failing < 0) {
        signal_safe_line(q.reportable > 0
            ? "exit report skipped: the report writer did not finish in 3 s (this "
              "thread may have been interrupted inside malloc or the shim); "
              "sockets were still open at _exit"
            : "exit report skipped: the report writer did not finish in 3 s");
        failing = q.failing;
    }
    errno = saved;
    return exit_status_for(failing, status);
}

/* Runs after every library destructor (registered before __libc_start_main
 * registers the loader's fini): libraries may still close sockets there.
 * on_exit rather than __cxa_atexit: it hands us the exit status. */
static void exit_handler(int status, void *arg)
{
    (void)arg;
    int new_status = exit_report(status);
    if (new_status != status) {
        /* LeakSanitizer's exitcode: stdio is flushed by exit() only after
         * us, so flush it now before leaving with the new status. */
        fflush(NULL);
        SL_REAL(_exit)(new_status);
    }
}

/* ---- start, fork ---- */

/* A socket found open when attaching: when its peer already hung up, the
 * kernel's time since the peer's last segment (its FIN) stands in for the
 * 0-byte read we never saw, so an old CLOSE_WAIT is due at the first scan. */
static void adopt_pre_attach(int fd)
{
    struct sl_sock *s = sl_sock_of_fd(fd);
    int64_t last_recv_ms = -1;
    if (s == NULL || s->type != SOCK_STREAM)
        return;
    int state = sl_tcp_state_since(fd, &last_recv_ms);
    if ((state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK) && last_recv_ms >= 0)
        __atomic_store_n(&s->fin_ns, sl_now_ns() - last_recv_ms * 1000000, __ATOMIC_RELAXED);
}

/* Every socket open before we started is inherited (systemd socket
 * activation, CI runners' stdio, an exec'ing parent); when attaching to a
 * running process, pre_attach. */
static void track_existing(enum sl_origin origin)
{
    char buf[4096];
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return;
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            char *end;
            long fd = strtol(d->d_name, &end, 10);
            struct stat st;
            uint64_t cookie;
            int family, type, protocol;
            if (*end != '\0' || end == d->d_name || fd == dir ||
                fstat((int)fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
                sl_sock_kind((int)fd, &family, &type, &protocol) != 0 ||
                sl_sock_cookie((int)fd, &cookie) != 0)
                continue;
            /* stdin and stdout are often one socket: one record, two fds. */
            int same = same_socket_fd(cookie);
            if (same >= 0) {
                link_fd(same, (int)fd, 1);
            } else {
                track((int)fd, family, type, protocol, origin, 0, NULL);
                if (origin == SL_ORIGIN_PRE_ATTACH)
                    adopt_pre_attach((int)fd);
            }
        }
    }
    SL_REAL(close)(dir);
}

static unsigned max_fds(void)
{
    char buf[32] = { 0 };
    unsigned long n = 0;
    int fd = open("/proc/sys/fs/nr_open", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (SL_REAL(read)(fd, buf, sizeof(buf) - 1) > 0)
            n = strtoul(buf, NULL, 10);
        SL_REAL(close)(fd);
    }
    if (n == 0)
        n = 1u << 20;     /* the kernel's default nr_open */
    return n > (1u << 30) ? 1u << 30 : (unsigned)n;
}

static void warn_cb(const char *msg)
{
    sl_out_warn(msg);
}

void sl_init(void)
{
    int expected = 0;
    /* The loser of a race (or a hook re-entered from inside init) runs on
     * untracked until init is done. */
    if (!__atomic_compare_exchange_n(&init_state, &expected, 1, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return;
    sl_in_shim = 1;
    sl_real_resolve();
    start_ns = sl_now_ns();
    cached_pid = (int)syscall(SYS_getpid);
    sl_options_parse(&sl_opts, secure_getenv("SOCKLEAK_OPTIONS"), opts_buf,
                     sizeof(opts_buf), warn_cb);
    if (sl_opts.help)
        sl_options_help(warn_cb);
    if (sl_opts.stack_depth < 1 || sl_opts.stack_depth > SL_STACK_MAX)
        sl_opts.stack_depth = sl_opts.stack_depth < 1 ? 1 : SL_STACK_MAX;
    if (sl_fdtable_init(max_fds()) != 0) {
        sl_out_warn("sockleak: cannot allocate the fd table; not tracking sockets");
        sl_in_shim = 0;
        return;
    }
    sl_stack_init();
    /* Before the inherited sockets: a TCP one starts the watcher, which
     * needs its path and the options. */
    sl_watcher_init();
    __atomic_store_n(&sl_ready, 1, __ATOMIC_RELEASE);
    sl_lang_init();
    track_existing(SL_ORIGIN_INHERITED);
    on_exit(exit_handler, NULL);
    exit_handler_registered = 1;
    __atomic_store_n(&init_state, 2, __ATOMIC_RELEASE);
    sl_in_shim = 0;
}

static void forked_cb(int fd, uint32_t id, void *arg)
{
    (void)fd;
    (void)arg;
    struct sl_sock *s = sl_sock_get(id);
    if (s != NULL)
        __atomic_fetch_or(&s->flags, SL_SOCK_FORKED, __ATOMIC_RELAXED);
}

void sl_on_fork_parent(void)
{
    /* The child holds a copy of every socket: closing ours no longer ends
     * the connection, so it is never "closed here first" (a fork server
     * closing each connection it handed to a child). */
    if (__atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE) && !in_vfork_child())
        sl_fd_foreach(0, ~0u, forked_cb, NULL);
}

void sl_on_fork_child(void)
{
    if (!__atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE))
        return;
    /* The child counts, reports and watches only what it does itself. */
    __atomic_store_n(&cached_pid, (int)syscall(SYS_getpid), __ATOMIC_RELAXED);
    __atomic_fetch_add(&fork_epoch, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&sl_stats.opened, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&sl_stats.closed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&sl_stats.closed_untracked, 0, __ATOMIC_RELAXED);
    sl_in_shim = 0;
    sl_out_after_fork();
    sl_symbolize_reset();
    sl_watcher_after_fork();
}

/* ---- attach mode ---- */

int sl_runtime_attached(void)
{
    return __atomic_load_n(&attached, __ATOMIC_ACQUIRE);
}

int sl_runtime_attach(const char *options)
{
    int state = __atomic_load_n(&init_state, __ATOMIC_ACQUIRE);
    /* Preloaded (or attached) already: one runtime per process. */
    if (__atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE) || state == 1 ||
        !__atomic_compare_exchange_n(&init_state, &state, 1, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return -EEXIST;
    sl_in_shim = 1;
    start_ns = sl_now_ns();
    cached_pid = (int)syscall(SYS_getpid);
    sl_options_parse(&sl_opts, options, opts_buf, sizeof(opts_buf), warn_cb);
    if (sl_opts.stack_depth < 1 || sl_opts.stack_depth > SL_STACK_MAX)
        sl_opts.stack_depth = sl_opts.stack_depth < 1 ? 1 : SL_STACK_MAX;
    if (sl_fdtable_init(max_fds()) != 0) {
        __atomic_store_n(&init_state, state, __ATOMIC_RELEASE);
        sl_in_shim = 0;
        return -ENOMEM;
    }
    sl_stack_init();            /* the watcher's launch shares the stacks again */
    __atomic_store_n(&exit_reported_pid, 0, __ATOMIC_RELAXED);
    /* before the first socket: the watcher process gets these options */
    sl_watcher_init();
    sl_watcher_set_options(options);
    __atomic_store_n(&attached, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&sl_ready, 1, __ATOMIC_RELEASE);
    track_existing(SL_ORIGIN_PRE_ATTACH);
    /* Registered once per process: it stays when we detach (there is no
     * way to remove it) and then finds nothing to report. */
    if (!exit_handler_registered && on_exit(exit_handler, NULL) == 0)
        exit_handler_registered = 1;
    __atomic_store_n(&init_state, 2, __ATOMIC_RELEASE);
    sl_in_shim = 0;
    return 0;
}

static void forget_cb(int fd, uint32_t id, void *arg)
{
    (void)id;
    (void)arg;
    uint32_t taken = sl_fd_take(fd);
    struct sl_sock *s = sl_sock_get(taken);
    if (s != NULL && __atomic_fetch_sub(&s->nfds, 1, __ATOMIC_ACQ_REL) == 1)
        rec_free(taken);
}

/* Forget every record and count, so a later attach starts clean. */
static void forget_all(void)
{
    sl_fd_foreach(0, ~0u, forget_cb, NULL);
    __atomic_store_n(&sl_stats.opened, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&sl_stats.closed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&sl_stats.inherited, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&sl_stats.pre_attach, 0, __ATOMIC_RELAXED);
}

void sl_runtime_detach(void)
{
    if (!__atomic_load_n(&attached, __ATOMIC_ACQUIRE))
        return;
    int saved = errno;
    sl_in_shim = 1;
    sl_watcher_stop();
    int pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    if (__atomic_exchange_n(&exit_reported_pid, pid, __ATOMIC_ACQ_REL) != pid)
        report_now(-1, "detach");
    /* Hooks still running in other threads see this and record nothing. */
    __atomic_store_n(&sl_ready, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&attached, 0, __ATOMIC_RELEASE);
    forget_all();
    sl_watcher_detach();        /* drops its state and closes its fds */
    sl_symbolize_reset();       /* closes the ELF files libdw opened */
    sl_in_shim = 0;
    errno = saved;
}

void sl_runtime_forget(void)
{
    __atomic_store_n(&sl_ready, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&attached, 0, __ATOMIC_RELEASE);
    sl_watcher_after_fork();    /* the parent's watcher fds and stack store fd */
    __atomic_store_n(&exit_reported_pid, (int)syscall(SYS_getpid), __ATOMIC_RELAXED);
}
