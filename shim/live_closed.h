/* live_closed.h -- connections this process closed (or shut down writing)
 * first, kept in the region it shares with its watcher (live.h): the peer
 * watches, the per-destination counts (port pressure), and the queue of
 * closes the host adds without a syscall and the watcher (or the host at
 * exit) classifies with one sock_diag dump. Linked into both processes. */
#ifndef SL_LIVE_CLOSED_H
#define SL_LIVE_CLOSED_H

#include <stdint.h>

#include "live.h"
#include "sockdiag.h"

/* Watch the peer of a connection closed (or shut down) here first: named
 * if still open grace_ms after since_ns. Lock-free; drops when full. */
void sl_live_peer_watch(struct sl_live_shared *r, uint32_t stack_id, int64_t since_ns,
                        const struct sockaddr_in6 *local, const struct sockaddr_in6 *peer,
                        int shut_only);

/* Queue a close for classification: no syscall, no lock, no allocation.
 * The socket is found by its cookie, or with cookie 0 (an accepted
 * connection, whose cookie was never asked) by peer and its local port
 * sport. peer (NULL if none; the address connect() was given, for a
 * cookie) also limits the dump to its port. Returns 1, or 0 when the
 * queue was full (counted in closed_dropped). */
int sl_live_closed_add(struct sl_live_shared *r, uint64_t cookie, const struct sockaddr_in6 *peer,
                       unsigned sport, uint32_t stack_id, int64_t closed_ns, int peer_watched);

/* Closes queued and not classified yet. */
uint64_t sl_live_closed_pending(struct sl_live_shared *r);

/* Classify the queued closes: closed first if the kernel still knows the
 * socket in FIN_WAIT1/2, CLOSING or TIME_WAIT (counted, per destination
 * too; a FIN_WAIT one gets a peer watch). One dump into l (kept allocated
 * by the caller). A close it misses gets a second look at the next drain:
 * a dump of a hash table that changes under it can skip a socket, and the
 * host queues a close just before the real close(2). final (the host at
 * exit) gives the misses their second dump at once. Returns the number of
 * closes settled, or -1 when another process is classifying (nothing
 * done). */
int sl_live_closed_drain(struct sl_live_shared *r, struct sl_diag *d, struct sl_diag_list *l,
                         int final);

#endif
