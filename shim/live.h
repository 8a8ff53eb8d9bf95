/* live.h -- what a process shares with its watcher process: one MAP_SHARED
 * memfd region per process (a fork child makes its own). The program's
 * threads only write it (lock-free, a few stores per socket); the watcher
 * process reads it, and writes back only what it found (flags, FIN time).
 *
 * The watcher process gets, at fixed fd numbers: */
#ifndef SL_LIVE_H
#define SL_LIVE_H

#include <netinet/in.h>
#include <stdint.h>

#define SL_LIVE_FD_REGION  3    /* this region's memfd */
#define SL_LIVE_FD_STACKS  4    /* the stack depot's memfd */
#define SL_LIVE_FD_EPOLL   5    /* the host's epoll set of TCP sockets (EPOLLRDHUP) */
#define SL_LIVE_FD_WAKE    6    /* an eventfd: snapshot requests (may be absent) */
#define SL_LIVE_FD_ALIVE   7    /* a pipe's read end: EOF once the host exits or
                                   execs; or a memfd the host maps (writable,
                                   shared) without keeping an fd: it can be
                                   sealed F_SEAL_WRITE once the host's mapping
                                   is gone (the host exited or exec'ed) */
#define SL_LIVE_NFDS       5
#define SL_LIVE_FD_REPORT  8    /* attach only: the memfd reports go to (else not open) */

#define SL_LIVE_MAGIC      0x534c4c56u      /* "SLLV" */
#define SL_LIVE_VERSION    5
#define SL_LIVE_MAX_SOCKS  (1u << 22)       /* record ids (runtime.c's pool) */
#define SL_LIVE_NPEER      1024             /* closed-first connections watched at once */
#define SL_LIVE_NDEST      256              /* destinations counted for port pressure */
#define SL_LIVE_OPTIONS    4096
#define SL_LIVE_NCLOSED    8192             /* closes not yet classified */

/* epoll data of the watcher's own fds (record ids start at 1, so an id of
 * 0 in the top half marks them). */
#define SL_LIVE_EV_ALIVE   1u
#define SL_LIVE_EV_WAKE    2u
#define SL_LIVE_EV_PIDFD   3u

/* Entry flags. */
#define SL_LIVE_REPORTED   0x01u    /* the watcher wrote a live leak event */
#define SL_LIVE_WATCHED    0x02u    /* in the epoll set */
#define SL_LIVE_WANTED     0x04u    /* a connection: the watcher puts it in the
                                       epoll set once it is quiet */

/* One tracked socket, indexed by its record id. */
struct sl_live_sock {
    _Atomic uint32_t gen;       /* the record's gen while open (odd), 0 once closed */
    _Atomic uint32_t flags;
    uint32_t stack_id;
    uint8_t origin;             /* enum sl_origin */
    uint8_t by_peer;            /* no cookie: known by peer and sport (accepted) */
    uint16_t sport;             /* by_peer: the local port (its listener's) */
    int32_t fd;                 /* its fd when it was made (dups may differ) */
    int32_t family, type, protocol;
    uint64_t cookie;            /* SO_COOKIE (sock_diag's idiag_cookie); 0 when
                                   by_peer: the watcher learns it (wp_cookie) */
    int64_t created_ns;         /* CLOCK_MONOTONIC (one clock for both processes) */
    _Atomic int64_t fin_ns;     /* the watcher: when the peer's FIN arrived */
    struct sockaddr_in6 peer;   /* by_peer: what accept() gave (a sockaddr_in fits) */
};

/* Slot states of the lock-free tables below. */
enum { SL_SLOT_FREE, SL_SLOT_WRITING, SL_SLOT_READY };

/* A connection this process closed (or shut down writing) first. */
struct sl_live_peer {
    _Atomic int state;
    uint8_t shut_only;          /* shutdown(SHUT_WR), not closed */
    uint32_t stack_id;
    int64_t since_ns;
    struct sockaddr_in6 local, peer;    /* sockaddr_in fits too */
};

/* A connected TCP socket the host closed as its last holder. Whether it
 * closed first is asked later, by cookie, of one sock_diag dump (its
 * orphan in FIN_WAIT or TIME_WAIT keeps the cookie), so a close costs the
 * host no syscall. A bounded multi-producer queue (Vyukov's): slot seq
 * 2 * lap is free for the lap's writer, 2 * lap + 1 ready for its reader;
 * zeroed memory is lap 0, free. */
struct sl_live_closed {
    _Atomic uint64_t seq;
    uint64_t cookie;            /* 0: found by peer and sport */
    struct sockaddr_in6 peer;
    uint16_t sport;
    int64_t closed_ns;          /* CLOCK_MONOTONIC */
    uint32_t stack_id;
    uint8_t peer_watched;       /* shutdown(SHUT_WR) already started a peer watch */
    uint8_t looked;             /* the classifier's: 0 new, 1 missed once, 2 done */
};

/* Connections closed here first, per destination (port pressure). */
struct sl_live_dest {
    _Atomic int state;
    int64_t first_ns;           /* the close that made it (CLOCK_MONOTONIC) */
    struct sockaddr_in6 addr;
    _Atomic uint64_t closed_first;
};

struct sl_live_shared {
    uint32_t magic, version;
    int32_t host_pid;
    _Atomic int stopping;           /* the host writes its exit report */
    _Atomic int busy;               /* the watcher is writing an event */
    _Atomic int snapshot_requested;
    /* 1: the watcher cannot take the host's fds (pidfd_getfd refused), so
     * the host adds each connection to the epoll set itself. */
    _Atomic int host_registers;
    /* the watcher set up and decided host_registers: the host may close
     * the fds it handed over (when it must keep none, ownfd.h) */
    _Atomic int watcher_ready;
    _Atomic uint32_t max_id;        /* every published id is below it */
    _Atomic uint64_t wanted;        /* connections flagged SL_LIVE_WANTED so far */
    _Atomic uint64_t opened, closed, closed_first, peers_dropped;
    _Atomic unsigned peer_cursor;
    char options[SL_LIVE_OPTIONS];  /* SOCKLEAK_OPTIONS as the host read it */
    struct sl_live_peer peers[SL_LIVE_NPEER];
    struct sl_live_dest dests[SL_LIVE_NDEST];
    /* closes to classify: the host adds at head, whoever holds
     * closed_owner (the watcher, or the host at exit) takes from tail */
    _Atomic uint64_t closed_head, closed_tail, closed_dropped;
    _Atomic int closed_owner;
    /* 64 bytes an entry, one cache line each (each close writes a new one) */
    struct sl_live_closed closed_ring[SL_LIVE_NCLOSED] __attribute__((aligned(64)));
    struct sl_live_sock socks[];    /* [SL_LIVE_MAX_SOCKS] */
};

#define SL_LIVE_REGION_BYTES \
    (sizeof(struct sl_live_shared) + (size_t)SL_LIVE_MAX_SOCKS * sizeof(struct sl_live_sock))

#endif
