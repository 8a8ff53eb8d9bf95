/* inject.h -- load libsockleak.so into a running process and call its
 * sl_attach()/sl_detach(), with ptrace alone (no gdb). x86_64, glibc. */
#ifndef SLT_INJECT_H
#define SLT_INJECT_H

#include <sys/types.h>

/* What the caller gets back; msg says what failed and what to do. */
struct slt_inject {
    pid_t pid;
    int report_fd;           /* sl_attach's memfd, a number in the target */
    int via_memfd;           /* the library went in through a memfd */
    int loaded_before;       /* the library was mapped already (an earlier attach) */
    pid_t tid;               /* the thread that ran the calls */
    double ms;               /* from the first check to the threads running again */
    char msg[1024];
};

/* Check that pid can be attached to, load lib into it (from a memfd when
 * the target cannot see lib's path) and call sl_attach(options). Returns 0,
 * or -1 with r->msg set (the exit status is then 2). */
int slt_inject_attach(pid_t pid, const char *lib, const char *options, struct slt_inject *r);

/* Call sl_detach() in pid. Returns 0, or -1 with r->msg set. */
int slt_inject_detach(pid_t pid, struct slt_inject *r);

#endif
