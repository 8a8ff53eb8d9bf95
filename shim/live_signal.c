/* live_signal.c -- the snapshot signal (snapshot_signal=SIGUSR2): its
 * handler chains to the program's and asks the watcher process for a
 * snapshot; nothing else runs in the handler. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "runtime.h"
#include "watcher.h"

static int snapshot_signo;
static struct sigaction old_action;

static void snapshot_handler(int sig, siginfo_t *info, void *ctx)
{
    int saved = errno;
    sl_live_request_snapshot();
    /* Chain to the handler that was there; SIG_DFL would end the process
     * on a signal the user gave us for snapshots, so it is not called. */
    if (old_action.sa_flags & SA_SIGINFO) {
        if (old_action.sa_sigaction)
            old_action.sa_sigaction(sig, info, ctx);
    } else if (old_action.sa_handler != SIG_DFL && old_action.sa_handler != SIG_IGN) {
        old_action.sa_handler(sig);
    }
    errno = saved;
}

static int signal_number(const char *name)
{
    char *end;
    long n = strtol(name, &end, 10);
    if (*name && *end == '\0')
        return n > 0 && n < NSIG ? (int)n : -1;
    if (!strncmp(name, "SIG", 3))
        name += 3;
    for (int i = 1; i < NSIG; i++) {
        const char *abbrev = sigabbrev_np(i);
        if (abbrev && !strcmp(abbrev, name))
            return i;
    }
    return -1;
}

/* Installed once per process image when the watcher first starts (not at
 * load time): a program sets up its own handlers before it opens sockets,
 * so ours comes last and chains to theirs. A fork child inherits it. */
void sl_live_install_snapshot_signal(void)
{
    static _Atomic int installed;
    const char *name = sl_opts.snapshot_signal;
    struct sigaction sa = { 0 };
    if (name == NULL || name[0] == '\0' || __atomic_exchange_n(&installed, 1, __ATOMIC_ACQ_REL))
        return;
    snapshot_signo = signal_number(name);
    sa.sa_sigaction = snapshot_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (snapshot_signo <= 0 || snapshot_signo == SIGKILL || snapshot_signo == SIGSTOP ||
        sigaction(snapshot_signo, &sa, &old_action) != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "sockleak: snapshot_signal=%s is not a signal that "
                 "can be caught; no snapshots on signal", name);
        sl_out_warn(msg);
        snapshot_signo = 0;
    }
}
