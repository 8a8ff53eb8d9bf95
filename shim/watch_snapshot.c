/* watch_snapshot.c -- a running program's open sockets, counted by state,
 * with its current CLOSE_WAIT leaks (on its snapshot signal, or every
 * snapshot_s seconds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "grow.h"
#include "runtime.h"
#include "sockinfo.h"
#include "watchproc.h"

static void count_state(struct sl_snapshot *snap, const char *name)
{
    for (int i = 0; i < snap->nstates; i++)
        if (!strcmp(snap->states[i].name, name)) {
            snap->states[i].count++;
            return;
        }
    if (snap->nstates < SL_SNAPSHOT_STATES) {
        strncpy(snap->states[snap->nstates].name, name, sizeof(snap->states[0].name) - 1);
        snap->states[snap->nstates++].count = 1;
    }
}

void wp_snapshot(const char *trigger, int64_t now)
{
    struct sl_diag_list tcp = { 0 };
    struct sl_leak *leaks = NULL;
    size_t nleaks = 0, leaks_cap = 0;
    struct sl_snapshot snap = {
        .pid = wp.host_pid, .trigger = trigger,
        .opened = __atomic_load_n(&wp.r->opened, __ATOMIC_RELAXED),
        .closed = __atomic_load_n(&wp.r->closed, __ATOMIC_RELAXED),
        .closed_first = __atomic_load_n(&wp.r->closed_first, __ATOMIC_RELAXED),
        .time_wait = wp_in_time_wait(now),
    };
    sl_diag_list_tcp(wp.diag, ~0u, &tcp);     /* a failed dump: states unknown */
    wp_host_fds_refresh();
    uint32_t max = __atomic_load_n(&wp.r->max_id, __ATOMIC_ACQUIRE);
    for (uint32_t id = 1; id < max && id < SL_LIVE_MAX_SOCKS; id++) {
        struct sl_live_sock *e = wp_entry(id, 0);
        int fds[SL_LEAK_MAX_FDS], nfds;
        char fam[16], typ[16], name[40];
        struct sl_leak l;
        if (e == NULL)
            continue;
        const struct sl_diag_sock *d = e->type == SOCK_STREAM &&
                                       (e->family == AF_INET || e->family == AF_INET6)
            ? wp_find(&tcp, e) : NULL;
        uint64_t ino = d != NULL && d->ino ? d->ino : wp_ino_of(e);
        if (ino == 0 || (nfds = wp_host_fds(ino, fds, SL_LEAK_MAX_FDS)) == 0)
            continue;
        wp_describe(e, d, fds, nfds, now, &l);
        snap.sockets++;
        if (l.tcp_state >= 0) {
            count_state(&snap, sl_tcp_state_name(l.tcp_state));
        } else {
            snprintf(name, sizeof(name), "%s/%s", sl_family_name(l.family, fam, sizeof(fam)),
                     sl_type_name(l.type, typ, sizeof(typ)));
            count_state(&snap, name);
        }
        if (l.kind != SL_KIND_CLOSE_WAIT) {
            snap.open++;
            continue;
        }
        snap.close_wait++;
        if (e->origin == SL_ORIGIN_INHERITED && !sl_opts.report_inherited)
            continue;
        if (SL_GROW(leaks, leaks_cap, nleaks) == 0)
            leaks[nleaks++] = l;
    }
    if (wp_begin_write()) {
        sl_report_snapshot(&snap, leaks, nleaks);
        wp_end_write();
    }
    free(leaks);
    sl_diag_list_free(&tcp);
}
