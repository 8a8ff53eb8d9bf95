/* runtime.h -- the shim's state: socket records, the fd table, the events
 * the hooks report (one call each), and exit/fork handling. */
#ifndef SL_RUNTIME_H
#define SL_RUNTIME_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "options.h"
#include "sockinfo.h"     /* enum sl_origin */


/* Flags of a socket record (sl_sock.flags). */
#define SL_SOCK_SHUT_WR        0x01u  /* shutdown(SHUT_WR|SHUT_RDWR) called */
#define SL_SOCK_CONNECTED      0x02u  /* connect() succeeded (or in progress) */
#define SL_SOCK_LIVE_REPORTED  0x04u  /* a live leak event was written */
#define SL_SOCK_PEER_REPORTED  0x08u  /* a peer_not_closing event was written */
#define SL_SOCK_PEER_WATCHED   0x10u  /* the watcher waits for the peer to close */
#define SL_SOCK_EPOLLED        0x20u  /* in the watcher's epoll set (EPOLLRDHUP) */
#define SL_SOCK_FORKED         0x40u  /* a fork child got a copy: not the last holder */
#define SL_SOCK_CLOSED_UNTRACKED 0x80u /* closed behind the shim's back (raw syscall) */
#define SL_SOCK_BY_PEER        0x100u /* accepted: known by peer_addr and sport, no cookie */
#define SL_SOCK_TCP            0x200u /* a TCP socket of AF_INET or AF_INET6 */

/* One kernel socket, shared by every fd that refers to it. */
struct sl_sock {
    _Atomic uint32_t gen;       /* odd while in use; bumped on alloc and free */
    _Atomic int nfds;           /* fds of this process referring to it */
    uint32_t next_free;
    uint32_t stack_id;
    uint8_t origin;             /* enum sl_origin */
    uint32_t epoch;             /* fork generation it was created in */
    int family, type, protocol;
    uint64_t cookie;            /* SO_COOKIE: identity, to notice fds closed behind
                                   our back (unlike an inode number, never reused);
                                   0 with SL_SOCK_BY_PEER */
    uint16_t sport;             /* local port: a listener's (asked at its first
                                   accept), an accepted socket's; 0: not known */
    int64_t created_ns;         /* CLOCK_MONOTONIC */
    _Atomic int64_t fin_ns;     /* first 0-byte read on a stream, 0: none */
    _Atomic int64_t close_wait_ns; /* first seen in CLOSE_WAIT by the watcher */
    _Atomic uint32_t flags;
    socklen_t peer_len;         /* the address given to connect() or by accept(), 0: none */
    struct sockaddr_storage peer_addr;  /* (getpeername fails after shutdown) */
};

/* Process-wide counters (summary lines). */
struct sl_stats {
    _Atomic uint64_t opened;    /* created or received, not inherited */
    _Atomic uint64_t closed;    /* of those, closed */
    _Atomic uint64_t inherited;
    _Atomic uint64_t pre_attach; /* open when sockleak attach came */
    _Atomic uint64_t closed_untracked;  /* closed outside the shim, noticed later */
};

extern struct sl_stats sl_stats;
extern _Atomic int sl_ready;    /* 1 once sl_init() finished */
/* 1 while a vfork child of this process runs (hooks.c's vfork sets it in
 * the child and clears it when the parent resumes). */
extern unsigned char sl_vfork_child;

/* Per-thread re-entrancy guard: set while the shim itself runs, so calls made
 * by libunwind, libdw or our own writer are not recorded. */
extern __thread int sl_in_shim __attribute__((tls_model("initial-exec")));

void sl_init(void);
static inline void sl_ensure_init(void)
{
    if (__builtin_expect(!__atomic_load_n(&sl_ready, __ATOMIC_ACQUIRE), 0))
        sl_init();
}

/* Events, one per hook. fd is the result of the real call. */
void sl_on_socket(int fd, int family, int type, int protocol, enum sl_origin origin);
/* peer: the address accept() gave (the caller's or the hook's own buffer),
 * NULL if none: with it an accepted TCP socket's identity costs no syscall. */
void sl_on_accept(int listen_fd, int fd, enum sl_origin origin, const struct sockaddr *peer,
                  socklen_t peer_len);
void sl_on_received(int fd);
void sl_on_dup(int oldfd, int newfd);       /* dup/F_DUPFD: newfd was a free number */
void sl_on_dup_onto(int oldfd, int newfd);  /* dup2/dup3: newfd replaced (a visible close) */
void sl_on_close(int fd);                   /* call BEFORE the real close */
void sl_on_close_range(unsigned first, unsigned last);
void sl_on_eof(int fd);                     /* a stream read returned 0 */
void sl_on_shutdown(int fd, int how);
void sl_on_connect(int fd, const struct sockaddr *addr, socklen_t len);
void sl_on_fork_child(void);
void sl_on_fork_parent(void);               /* every socket now has another holder */
int sl_on_exit(int status);                 /* _exit/_Exit: report; returns the status */

/* Whether s is a TCP socket of AF_INET or AF_INET6 (flagged at creation). */
static inline int sl_sock_is_tcp(const struct sl_sock *s)
{
    return (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & SL_SOCK_TCP) != 0;
}

/* The record behind fd, NULL if none (no allocation, no lock). */
struct sl_sock *sl_sock_of_fd(int fd);
struct sl_sock *sl_sock_get(uint32_t id);
uint32_t sl_sock_id_of_fd(int fd);

struct sl_leak;
/* Describe the socket s held by fds[0..nfds) as a leak snapshot: addresses,
 * TCP state, ages and its kind (close_wait if the peer has closed). */
void sl_describe(const struct sl_sock *s, const int *fds, int nfds,
                 struct sl_leak *out, int64_t now);

/* The same from the record alone (no fd is asked): for a socket closed
 * behind the shim's back, whose number may name another socket now. */
void sl_describe_record(const struct sl_sock *s, int fd, struct sl_leak *out, int64_t now);

/* Call fn once per tracked socket, with every fd of this process that still
 * refers to it (ascending; fds closed behind our back are checked by inode
 * and left out). Report time only: it allocates. */
void sl_foreach_socket(void (*fn)(struct sl_sock *s, const int *fds, int nfds, void *arg),
                       void *arg);

/* Whether s belongs in this process's leak reports: not inherited at start
 * or from a fork parent, unless report_inherited=1. */
int sl_sock_reportable(const struct sl_sock *s);

/* Put language frames (innermost first) before the native frames of the
 * creation stack of record id, if it is still generation gen (a Python
 * accept's frames arrive after the socket). Returns 0, or -1 when the
 * record was freed or reused. At most native_max native frames stay. */
int sl_sock_add_lang(uint32_t id, uint32_t gen, const uintptr_t *lang, unsigned nlang,
                     unsigned native_max);

/* Whether closing s here ends the connection: 0 when a fork child or parent
 * may still hold a copy, or when it was closed behind the shim's back. */
int sl_sock_last_holder(const struct sl_sock *s);

/* The best lower bound on the age of the peer's FIN, in ms: the kernel's
 * time since the last ACK (tcpi_last_ack_recv: the FIN's, unless segments
 * came after it), or when the program read the EOF or the watcher saw
 * CLOSE_WAIT, whichever is older; -1 when nothing tells. */
int64_t sl_fin_age_ms(const struct sl_sock *s, int64_t kernel_ms, int64_t now);
/* This process's pid as the reports name it (an exit report's writer child
 * writes as its parent). */
int sl_pid(void);

/* Nanoseconds of CLOCK_MONOTONIC. */
int64_t sl_now_ns(void);
/* The same at the kernel's tick (CLOCK_MONOTONIC_COARSE: up to a tick,
 * 1-10 ms, behind; a quarter of the cost): a socket's creation and close
 * times, which only ever give ages in milliseconds against grace_ms. */
int64_t sl_now_coarse_ns(void);

/* Write the exit report now (idempotent per process). */
void sl_report_at_exit(void);

/* ---- attach mode (shim/attach.c drives these) ---- */

/* Start the runtime in a running process with the SOCKLEAK_OPTIONS-style
 * string options (the environment is not read); every socket open now is
 * adopted as origin pre_attach. Returns 0, or -EEXIST when the runtime
 * already runs (preloaded, or attached). */
int sl_runtime_attach(const char *options);

/* Write the final report of every socket still open (when "detach"), stop
 * the watcher, release its fds and forget every record. */
void sl_runtime_detach(void);

/* A fork child of an attached process: stop tracking, touch nothing shared. */
void sl_runtime_forget(void);

/* 1 while the runtime runs in attach mode. */
int sl_runtime_attached(void);

#endif
