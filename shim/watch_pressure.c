/* watch_pressure.c -- connections closed here first hold a local port in
 * TIME_WAIT for 60 s: warn once per destination whose sustained closed-first
 * rate would use up the ephemeral port range, and count how many still sit
 * in TIME_WAIT (snapshots). */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "runtime.h"
#include "sockinfo.h"
#include "watchproc.h"

#define TIME_WAIT_S 60          /* Linux's TCP_TIMEWAIT_LEN */
#define NSAMPLES    64          /* one closed_first sample per second */

static int64_t port_lo = 32768, port_hi = 60999;
static struct dest_seen { uint64_t count; int64_t ns; int warned; } seen[SL_LIVE_NDEST];
static struct { int64_t ns; uint64_t count; } samples[NSAMPLES];
static unsigned nsamples;

void wp_pressure_init(void)
{
    char buf[64] = { 0 };
    int fd = open("/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (read(fd, buf, sizeof(buf) - 1) > 0) {
        char *end;
        long lo = strtol(buf, &end, 10), hi = strtol(end, NULL, 10);
        if (lo > 0 && hi >= lo) {
            port_lo = lo;
            port_hi = hi;
        }
    }
    close(fd);
}

static void sample(int64_t now)
{
    if (nsamples && now - samples[(nsamples - 1) % NSAMPLES].ns < WP_NS_PER_S)
        return;
    samples[nsamples % NSAMPLES].ns = now;
    samples[nsamples % NSAMPLES].count = __atomic_load_n(&wp.r->closed_first, __ATOMIC_RELAXED);
    nsamples++;
}

uint64_t wp_in_time_wait(int64_t now)
{
    uint64_t total = __atomic_load_n(&wp.r->closed_first, __ATOMIC_RELAXED), before = 0;
    for (unsigned i = 0; i < nsamples && i < NSAMPLES; i++) {
        unsigned k = (nsamples - 1 - i) % NSAMPLES;
        if (now - samples[k].ns >= TIME_WAIT_S * WP_NS_PER_S) {
            before = samples[k].count;
            break;
        }
    }
    return total - before;
}

static void warn(const struct sl_live_dest *d, double rate, uint64_t count)
{
    int64_t ports = port_hi - port_lo + 1;
    struct sl_port_pressure w = { .pid = wp.host_pid, .rate_per_s = rate,
                                  .closed_first = count, .time_wait_s = TIME_WAIT_S,
                                  .port_lo = port_lo, .port_hi = port_hi,
                                  .exhaust_s = (double)ports / rate };
    sl_format_sockaddr(&d->addr, d->addr.sin6_family == AF_INET ? sizeof(struct sockaddr_in)
                                                                 : sizeof(d->addr),
                       w.peer, sizeof(w.peer));
    if (wp_begin_write()) {
        sl_report_port_pressure(&w);
        wp_end_write();
    }
}

void wp_pressure_check(int64_t now)
{
    int64_t ports = port_hi - port_lo + 1;
    sample(now);
    for (int i = 0; i < SL_LIVE_NDEST; i++) {
        struct sl_live_dest *d = &wp.r->dests[i];
        struct dest_seen *s = &seen[i];
        if (__atomic_load_n(&d->state, __ATOMIC_ACQUIRE) != SL_SLOT_READY || s->warned)
            continue;
        uint64_t count = __atomic_load_n(&d->closed_first, __ATOMIC_RELAXED);
        if (s->ns == 0)     /* its rate counts from its first close, not from now */
            *s = (struct dest_seen){ .count = 0, .ns = d->first_ns ? d->first_ns : now };
        if (now - s->ns < WP_NS_PER_S)
            continue;       /* a rate over at least one second, not a burst */
        double rate = (double)(count - s->count) * WP_NS_PER_S / (double)(now - s->ns);
        if (rate * TIME_WAIT_S >= (double)ports) {
            warn(d, rate, count);
            s->warned = 1;
        }
        s->count = count;
        s->ns = now;
    }
}
