/* inject.c -- call functions inside a running process with ptrace: load
 * libsockleak.so with the target's own dlopen, then call sl_attach() or
 * sl_detach() (kubo/injector's technique, no gdb).
 *
 * Only one thread is traced and stopped: a thread blocked in a system call that is not a lock wait
 * (futex) or a memory call, whose pc is not in the loader. It cannot be
 * inside malloc or the loader then, and the other threads run on, so a lock
 * one of them holds is released as usual instead of deadlocking the
 * injected dlopen. Its registers (general and extended state) are saved,
 * the call runs on its stack below the red zone and "returns" to address 0,
 * which stops it with SIGSEGV; then the registers are restored, so the
 * interrupted system call restarts as after any signal. */
#include "inject.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 4096
#define RTLD_NOW_ 0x2
#define RTLD_NODELETE_ 0x1000
#define MFD_CLOEXEC_ 0x1
#define XSTATE_MAX 16384

struct target {
    pid_t pid;
    pid_t tids[MAX_THREADS];
    int ntids;
    pid_t tid;                       /* the thread running our calls */
    struct user_regs_struct saved;
    unsigned char xstate[XSTATE_MAX];
    size_t xstate_len;
    int pending_sig;                 /* a signal that arrived while we held it */
    uint64_t libc_base, lib_base, ldso_lo, ldso_hi;
    char lib_map[PATH_MAX];          /* the library as the target maps it */
    struct slt_inject *r;
};

static int fail(struct slt_inject *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct slt_inject *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
    return -1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int read_text(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

/* "Key:\tvalue" of /proc/PID/status, as a number; -1 when absent. */
static long status_field(pid_t pid, const char *key)
{
    char path[64], buf[8192];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (read_text(path, buf, sizeof(buf)) < 0)
        return -1;
    size_t klen = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            char *v = line + klen + 1;
            while (*v == ' ' || *v == '\t') v++;
            if (*v >= 'A' && *v <= 'Z') return *v;   /* State: one letter */
            return strtol(v, NULL, 10);
        }
    return -1;
}

/* ---- the target's memory ---- */

static int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
    if (process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len)
        return 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = pread(fd, buf, len, (off_t)addr);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

static int mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
    struct iovec local = { (void *)buf, len }, remote = { (void *)(uintptr_t)addr, len };
    if (process_vm_writev(pid, &local, 1, &remote, 1, 0) == (ssize_t)len)
        return 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = pwrite(fd, buf, len, (off_t)addr);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

static uint32_t gnu_hash(const char *s)
{
    uint32_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

/* The address of a dynamic symbol of the object mapped at base in the
 * target, read from its in-memory dynamic section (GNU hash); 0: none. */
static uint64_t remote_sym(pid_t pid, uint64_t base, const char *name)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph[64];
    if (mem_read(pid, base, &eh, sizeof(eh)) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_phnum > 64 || mem_read(pid, base + eh.e_phoff, ph, eh.e_phnum * sizeof(*ph)))
        return 0;
    uint64_t bias = base, dyn = 0;
    int first = 1;
    for (int i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && first) {
            bias = base - (ph[i].p_vaddr & ~0xfffull);
            first = 0;
        }
        if (ph[i].p_type == PT_DYNAMIC)
            dyn = ph[i].p_vaddr;
    }
    if (dyn == 0)
        return 0;
    uint64_t symtab = 0, strtab = 0, gnuhash = 0;
    Elf64_Dyn d[512];
    if (mem_read(pid, bias + dyn, d, sizeof(d[0]) * 64))
        return 0;
    for (int i = 0; i < 64 && d[i].d_tag != DT_NULL; i++) {
        uint64_t v = d[i].d_un.d_ptr < bias ? bias + d[i].d_un.d_ptr : d[i].d_un.d_ptr;
        if (d[i].d_tag == DT_SYMTAB) symtab = v;
        if (d[i].d_tag == DT_STRTAB) strtab = v;
        if (d[i].d_tag == DT_GNU_HASH) gnuhash = v;
    }
    uint32_t hdr[4];
    if (!symtab || !strtab || !gnuhash || mem_read(pid, gnuhash, hdr, sizeof(hdr)))
        return 0;
    uint32_t nbuckets = hdr[0], symoffset = hdr[1], bloom_size = hdr[2], h = gnu_hash(name);
    uint64_t buckets = gnuhash + 16 + (uint64_t)bloom_size * 8;
    uint64_t chains = buckets + (uint64_t)nbuckets * 4;
    uint32_t idx;
    if (nbuckets == 0 || mem_read(pid, buckets + (h % nbuckets) * 4, &idx, 4) || idx < symoffset)
        return 0;
    for (;; idx++) {
        uint32_t ch;
        Elf64_Sym sym;
        char got[128];
        if (mem_read(pid, chains + (uint64_t)(idx - symoffset) * 4, &ch, 4))
            return 0;
        if ((ch | 1) == (h | 1) && !mem_read(pid, symtab + (uint64_t)idx * sizeof(sym), &sym, sizeof(sym)) &&
            sym.st_value != 0 && !mem_read(pid, strtab + sym.st_name, got, strlen(name) + 1) &&
            !memcmp(got, name, strlen(name) + 1))
            return bias + sym.st_value;
        if (ch & 1)
            return 0;
    }
}

/* ---- what is mapped ---- */

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* libc, the loader and (if loaded) our library, from /proc/PID/maps. */
static int scan_maps(struct target *t, const char *lib)
{
    char path[64], line[PATH_MAX + 256];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)t->pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    t->libc_base = t->lib_base = t->ldso_lo = t->ldso_hi = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi, off;
        char perms[8], file[PATH_MAX] = "";
        if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095[^\n]", &lo, &hi, perms, &off, file) < 4)
            continue;
        const char *b = base_name(file);
        if (!strncmp(b, "libc.so", 7) && off == 0 && !t->libc_base)
            t->libc_base = lo;
        if (!strncmp(b, "ld-linux", 8)) {
            if (!t->ldso_lo || lo < t->ldso_lo) t->ldso_lo = lo;
            if (hi > t->ldso_hi) t->ldso_hi = hi;
        }
        if (off == 0 && !t->lib_base &&
            ((lib && !strcmp(file, lib)) || !strncmp(b, "libsockleak.so", 14) ||
             !strncmp(file, "/memfd:sockleak-lib", 19))) {
            t->lib_base = lo;
            snprintf(t->lib_map, sizeof(t->lib_map), "%s", file);
        }
    }
    fclose(f);
    return 0;
}

/* ---- refusals, each saying what to do ---- */

static int exe_is_static(pid_t pid, int *is64)
{
    char path[64];
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC), interp = 0;
    *is64 = 1;
    if (fd < 0)
        return -1;
    if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG)) {
        close(fd);
        return -1;
    }
    *is64 = eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_machine == EM_X86_64;
    for (int i = 0; *is64 && i < eh.e_phnum; i++)
        if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) == sizeof(ph) &&
            ph.p_type == PT_INTERP)
            interp = 1;
    close(fd);
    return !interp;
}

static int why_eperm(struct target *t)
{
    struct slt_inject *r = t->r;
    char yama[16] = "";
    long uid = status_field(t->pid, "Uid"), tracer = status_field(t->pid, "TracerPid");
    int scope = read_text("/proc/sys/kernel/yama/ptrace_scope", yama, sizeof(yama)) > 0 ? atoi(yama) : -1;
    if (tracer > 0)
        return fail(r, "process %d is already traced by process %ld (a debugger or strace); "
                    "detach that one first", (int)t->pid, tracer);
    if (uid >= 0 && (uid_t)uid != geteuid())
        return fail(r, "no permission to trace process %d: it runs as uid %ld, you as uid %d. "
                    "Run sockleak attach as that user, or as root (CAP_SYS_PTRACE)",
                    (int)t->pid, uid, (int)geteuid());
    if (scope >= 3)
        return fail(r, "kernel.yama.ptrace_scope is 3: no process may be traced until reboot; "
                    "sockleak attach cannot work here (use sockleak run, or sockleak scan %d)", (int)t->pid);
    if (scope == 2)
        return fail(r, "kernel.yama.ptrace_scope is 2: only root (CAP_SYS_PTRACE) may trace; "
                    "run sockleak attach with sudo");
    if (scope == 1)
        return fail(r, "kernel.yama.ptrace_scope is 1: only a parent may trace its children. "
                    "Run sockleak attach with sudo (CAP_SYS_PTRACE), or allow it with "
                    "sysctl kernel.yama.ptrace_scope=0");
    return fail(r, "no permission to trace process %d (it is not dumpable: a setuid program, "
                "or it called prctl(PR_SET_DUMPABLE, 0), or a security module forbids it). "
                "Run sockleak attach as root (CAP_SYS_PTRACE)", (int)t->pid);
}

static int check_target(struct target *t)
{
    struct slt_inject *r = t->r;
    pid_t pid = t->pid;
    char path[64];
    int is64;
    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    if (pid <= 0 || access(path, F_OK) != 0)
        return fail(r, "no process with pid %d (is it still running? check with ps -p %d)",
                    (int)pid, (int)pid);
    if (pid == getpid())
        return fail(r, "process %d is sockleak itself", (int)pid);
    long state = status_field(pid, "State");
    if (state == 'Z' || state == 'X')
        return fail(r, "process %d has exited (a zombie); nothing to attach to", (int)pid);
    if (state == 'T' || state == 't')
        return fail(r, "process %d is stopped (SIGSTOP or a debugger); continue it first: kill -CONT %d",
                    (int)pid, (int)pid);
    int st = exe_is_static(pid, &is64);
    if (st < 0) {
        if (errno == EACCES || errno == EPERM)
            return why_eperm(t);
        return fail(r, "cannot read the program of process %d (/proc/%d/exe): %s", (int)pid,
                    (int)pid, strerror(errno));
    }
    if (!is64)
        return fail(r, "process %d is not an x86_64 program; sockleak attach supports x86_64 only",
                    (int)pid);
    if (st == 1)
        return fail(r, "process %d runs a statically linked program: no library can be loaded into it. "
                    "Use sockleak scan %d to list its CLOSE_WAIT sockets (without stacks)", (int)pid, (int)pid);
    long seccomp = status_field(pid, "Seccomp");
    if (seccomp > 0)
        return fail(r, "process %d runs under a seccomp filter (Seccomp: %ld): a call injected into it "
                    "could be refused or kill it, so sockleak does not attach. Start it under "
                    "sockleak run instead, or use sockleak scan %d", (int)pid, seccomp, (int)pid);
    if (scan_maps(t, NULL) != 0) {
        if (errno == EACCES || errno == EPERM)
            return why_eperm(t);
        return fail(r, "cannot read /proc/%d/maps: %s", (int)pid, strerror(errno));
    }
    if (!t->libc_base)
        return fail(r, "process %d does not use glibc's libc.so.6 (musl?); sockleak attach needs "
                    "glibc's dlopen. Use sockleak scan %d", (int)pid, (int)pid);
    return 0;
}

/* ---- ptrace ---- */

/* Every thread of the process (nothing is stopped or traced yet). */
static int list_threads(struct target *t)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid);
    DIR *d = opendir(path);
    struct dirent *e;
    if (!d)
        return fail(t->r, "no process with pid %d (it exited)", (int)t->pid);
    t->ntids = 0;
    while ((e = readdir(d)) && t->ntids < MAX_THREADS) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid > 0)
            t->tids[t->ntids++] = tid;
    }
    closedir(d);
    return 0;
}

static void release_thread(struct target *t)
{
    if (t->tid > 0)
        ptrace(PTRACE_DETACH, t->tid, 0, (void *)(uintptr_t)t->pending_sig);
    t->tid = 0;
}

/* How good a thread is to borrow: 2 blocked in a restartable call, 1 in
 * epoll_wait (which returns EINTR after a ptrace stop), 0 not usable. */
static int thread_score(struct target *t, pid_t tid)
{
    char path[96], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)t->pid, (int)tid);
    if (read_text(path, buf, sizeof(buf)) < 0 || !strncmp(buf, "running", 7))
        return 0;
    char *p = buf;
    long nr = strtol(p, &p, 10);
    unsigned long v[8] = { 0 };
    for (int i = 0; i < 8; i++)
        v[i] = strtoul(p, &p, 16);
    uint64_t pc = v[7];
    if (nr < 0 || (pc >= t->ldso_lo && pc < t->ldso_hi))
        return 0;
    switch (nr) {
    case SYS_futex: case SYS_mmap: case SYS_munmap: case SYS_brk: case SYS_mprotect:
    case SYS_madvise: case SYS_mremap: case SYS_exit: case SYS_exit_group: case SYS_execve:
        return 0;       /* a lock wait (malloc's, the loader's?) or memory management */
    case SYS_epoll_wait: case SYS_epoll_pwait: case SYS_epoll_pwait2:
        return 1;
    }
    return 2;
}

static int wait_stop(pid_t tid, int *status)
{
    for (;;) {
        pid_t w = waitpid(tid, status, __WALL);
        if (w == tid)
            return 0;
        if (w < 0 && errno != EINTR)
            return -1;
    }
}

/* Trace and interrupt the best thread and keep it stopped; 0 or -1. Only
 * that thread is traced: the others never stop. */
static int grab_thread(struct target *t)
{
    double deadline = now_ms() + 1000;
    for (;;) {
        pid_t best = 0;
        if (list_threads(t))
            return -1;
        int best_score = 0;
        for (int i = 0; i < t->ntids; i++) {
            int s = thread_score(t, t->tids[i]);
            if (s > best_score) {
                best_score = s;
                best = t->tids[i];
            }
        }
        if (best != 0) {
            int status;
            if (ptrace(PTRACE_SEIZE, best, 0, 0) != 0) {
                if (errno == ESRCH)
                    continue;       /* the thread just exited */
                if (errno == EPERM || errno == EACCES)
                    return why_eperm(t);
                return fail(t->r, "cannot trace process %d: %s", (int)t->pid, strerror(errno));
            }
            t->tid = best;
            if (ptrace(PTRACE_INTERRUPT, best, 0, 0) != 0 || wait_stop(best, &status) != 0)
                return fail(t->r, "cannot stop thread %d of process %d: %s", (int)best, (int)t->pid,
                            strerror(errno));
            if (WIFEXITED(status) || WIFSIGNALED(status))
                return fail(t->r, "process %d exited", (int)t->pid);
            /* A signal for the thread came first: this stop will do, and the
             * signal is delivered when we let go. */
            if (WIFSTOPPED(status) && (status >> 16) != PTRACE_EVENT_STOP)
                t->pending_sig = WSTOPSIG(status);
            if (ptrace(PTRACE_GETREGS, best, 0, &t->saved) != 0)
                return fail(t->r, "cannot read the registers of thread %d: %s", (int)best, strerror(errno));
            long nr = (long)t->saved.orig_rax;
            /* It may have moved on between our look and the stop. */
            if (nr == SYS_futex || (t->saved.rip >= t->ldso_lo && t->saved.rip < t->ldso_hi)) {
                release_thread(t);
                t->pending_sig = 0;
            } else {
                struct iovec iov = { t->xstate, sizeof(t->xstate) };
                if (ptrace(PTRACE_GETREGSET, best, (void *)NT_X86_XSTATE, &iov) == 0)
                    t->xstate_len = iov.iov_len;
                return 0;
            }
        }
        if (now_ms() > deadline)
            return fail(t->r, "no thread of process %d is blocked in a system call outside the loader "
                        "and malloc (all are busy or waiting on locks), so none is safe to borrow; "
                        "try again when it is less busy", (int)t->pid);
        usleep(5000);
    }
}

/* Put the thread back as it was. A system call our stop interrupted
 * (-ERESTART*) is restarted by the kernel when the thread resumes from
 * this signal stop, exactly as after a signal without a handler. */
static void restore_thread(struct target *t)
{
    if (t->xstate_len) {
        struct iovec iov = { t->xstate, t->xstate_len };
        ptrace(PTRACE_SETREGSET, t->tid, (void *)NT_X86_XSTATE, &iov);
    }
    ptrace(PTRACE_SETREGS, t->tid, 0, &t->saved);
}

/* Call fn(args...) in the borrowed thread; strings are copied below its
 * stack's red zone first. Returns 0 with *ret, or -1. */
static int remote_call(struct target *t, uint64_t fn, int nargs, const uint64_t *args,
                       const char *str, uint64_t *str_addr, uint64_t *ret)
{
    struct user_regs_struct regs = t->saved;
    uint64_t sp = (t->saved.rsp - 256) & ~15ull;       /* below the 128-byte red zone */
    if (str) {
        size_t len = strlen(str) + 1;
        sp = (sp - len) & ~15ull;
        if (mem_write(t->pid, sp, str, len))
            return fail(t->r, "cannot write to the memory of process %d: %s", (int)t->pid, strerror(errno));
        *str_addr = sp;
        sp -= 64;
    }
    uint64_t zero = 0;
    sp = (sp & ~15ull) - 8;                           /* as after a call: rsp % 16 == 8 */
    if (mem_write(t->pid, sp, &zero, sizeof(zero)))
        return fail(t->r, "cannot write to the stack of process %d: %s", (int)t->pid, strerror(errno));
    uint64_t a[6] = { 0 };
    for (int i = 0; i < nargs && i < 6; i++)
        a[i] = args[i] == UINT64_MAX ? *str_addr : args[i];
    regs.rdi = a[0]; regs.rsi = a[1]; regs.rdx = a[2]; regs.rcx = a[3]; regs.r8 = a[4]; regs.r9 = a[5];
    regs.rsp = sp;
    regs.rip = fn;
    regs.rax = 0;
    regs.orig_rax = (uint64_t)-1;                     /* no system call restart on resume */
    if (ptrace(PTRACE_SETREGS, t->tid, 0, &regs) != 0 || ptrace(PTRACE_CONT, t->tid, 0, 0) != 0)
        return fail(t->r, "cannot run code in thread %d: %s", (int)t->tid, strerror(errno));
    double warn_at = now_ms() + 5000;
    for (;;) {
        int status;
        pid_t w = waitpid(t->tid, &status, __WALL | WNOHANG);
        if (w == 0) {
            if (warn_at > 0 && now_ms() > warn_at) {
                fprintf(stderr, "sockleak: the call in process %d has not returned after 5 s; waiting "
                        "(stopping now would crash it)\n", (int)t->pid);
                warn_at = 0;
            }
            usleep(200);
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 || WIFEXITED(status) || WIFSIGNALED(status))
            return fail(t->r, "process %d exited during the injected call", (int)t->pid);
        int sig = WSTOPSIG(status);
        if ((status >> 16) == PTRACE_EVENT_STOP) {
            ptrace(PTRACE_CONT, t->tid, 0, 0);
            continue;
        }
        struct user_regs_struct now;
        ptrace(PTRACE_GETREGS, t->tid, 0, &now);
        if (sig == SIGSEGV && now.rip == 0) {
            *ret = now.rax;
            return 0;
        }
        if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGABRT) {
            restore_thread(t);   /* undo the call: the process goes on as before */
            return fail(t->r, "the injected call crashed in process %d (signal %d at 0x%llx); "
                        "its registers were restored", (int)t->pid, sig, (unsigned long long)now.rip);
        }
        /* Any other signal is the program's: its handler runs as it would have. */
        ptrace(PTRACE_CONT, t->tid, 0, (void *)(uintptr_t)sig);
    }
}

/* ---- loading the library ---- */

/* Whether the target sees the same file at lib's path (not so in another
 * mount namespace, e.g. a container). */
static int target_sees(pid_t pid, const char *lib)
{
    char path[PATH_MAX + 64];
    struct stat a, b;
    snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, lib);
    return stat(lib, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int copy_into(pid_t pid, long fd, const char *lib, struct slt_inject *r)
{
    char path[64], buf[65536];
    snprintf(path, sizeof(path), "/proc/%d/fd/%ld", (int)pid, fd);
    int out = open(path, O_WRONLY | O_CLOEXEC), in = open(lib, O_RDONLY | O_CLOEXEC);
    ssize_t n = 0;
    int bad = out < 0 || in < 0;
    while (!bad && (n = read(in, buf, sizeof(buf))) > 0)
        bad = write(out, buf, (size_t)n) != n;
    bad |= n < 0;
    if (out >= 0) close(out);
    if (in >= 0) close(in);
    return bad ? fail(r, "cannot copy %s into process %d's memfd: %s", lib, (int)pid, strerror(errno)) : 0;
}

static int load_library(struct target *t, const char *lib)
{
    uint64_t dlopen_fn = remote_sym(t->pid, t->libc_base, "dlopen");
    uint64_t dlerror_fn = remote_sym(t->pid, t->libc_base, "dlerror");
    uint64_t s, ret, args[2];
    char name[64];
    const char *path = lib;
    if (!dlopen_fn)
        return fail(t->r, "process %d: glibc's dlopen not found in its libc.so.6 (glibc older than "
                    "2.34?); sockleak attach needs glibc >= 2.34", (int)t->pid);
    if (!target_sees(t->pid, lib)) {
        /* Another mount namespace: hand it the library as a memfd. */
        uint64_t memfd_fn = remote_sym(t->pid, t->libc_base, "memfd_create");
        uint64_t close_fn = remote_sym(t->pid, t->libc_base, "close");
        if (!memfd_fn || !close_fn)
            return fail(t->r, "process %d cannot see %s and has no memfd_create", (int)t->pid, lib);
        args[0] = UINT64_MAX;
        args[1] = MFD_CLOEXEC_;
        if (remote_call(t, memfd_fn, 2, args, "sockleak-lib", &s, &ret))
            return -1;
        if ((int64_t)ret < 0)
            return fail(t->r, "memfd_create failed in process %d", (int)t->pid);
        long fd = (long)ret;
        int rc = copy_into(t->pid, fd, lib, t->r);
        if (rc == 0) {
            snprintf(name, sizeof(name), "/proc/self/fd/%ld", fd);
            path = name;
            args[0] = UINT64_MAX;
            args[1] = RTLD_NOW_ | RTLD_NODELETE_;
            rc = remote_call(t, dlopen_fn, 2, args, path, &s, &ret);
        }
        uint64_t r2, cargs[1] = { (uint64_t)fd };
        remote_call(t, close_fn, 1, cargs, NULL, &s, &r2);
        if (rc)
            return -1;
        t->r->via_memfd = 1;
    } else {
        args[0] = UINT64_MAX;
        args[1] = RTLD_NOW_ | RTLD_NODELETE_;
        if (remote_call(t, dlopen_fn, 2, args, path, &s, &ret))
            return -1;
    }
    if (ret == 0) {
        char why[512] = "unknown reason";
        uint64_t msg = 0;
        if (dlerror_fn && remote_call(t, dlerror_fn, 0, NULL, NULL, &s, &msg) == 0 && msg)
            mem_read(t->pid, msg, why, sizeof(why) - 1);
        why[sizeof(why) - 1] = '\0';
        return fail(t->r, "process %d could not load %s: %s (are libunwind and libdw installed "
                    "where it runs?)", (int)t->pid, lib, why);
    }
    scan_maps(t, path);
    if (!t->lib_base)
        return fail(t->r, "process %d loaded %s but it is not in its maps", (int)t->pid, lib);
    return 0;
}

/* Everything from the checks to letting go; fn runs with a borrowed thread. */
static int with_thread(pid_t pid, struct slt_inject *r, const char *lib,
                       int (*fn)(struct target *t, const char *lib, void *arg), void *arg)
{
    static struct target t;       /* large (extended register state): not on the stack */
    double start = now_ms();
    memset(&t, 0, sizeof(t));
    memset(r, 0, sizeof(*r));
    t.pid = r->pid = pid;
    t.r = r;
    r->report_fd = -1;
    if (check_target(&t))
        return -1;
    int rc = grab_thread(&t);
    if (rc == 0) {
        r->tid = t.tid;
        rc = fn(&t, lib, arg);
        restore_thread(&t);
    }
    release_thread(&t);
    r->ms = now_ms() - start;
    return rc;
}

/* A target that cannot see lib's directory cannot see sockleak-watcher
 * either: hand it a copy in a memfd named sockleak-watcher, which
 * sl_attach adopts (live_host.c) and the shim execs with execveat. */
static int hand_watcher(struct target *t, const char *lib)
{
    char watcher[PATH_MAX];
    const char *slash = strrchr(lib, '/');
    if (slash == NULL || (size_t)(slash - lib) + sizeof("/sockleak-watcher") > sizeof(watcher))
        return 0;
    snprintf(watcher, sizeof(watcher), "%.*s/sockleak-watcher", (int)(slash - lib), lib);
    if (access(watcher, X_OK) != 0 || target_sees(t->pid, watcher))
        return 0;
    uint64_t memfd_fn = remote_sym(t->pid, t->libc_base, "memfd_create");
    uint64_t close_fn = remote_sym(t->pid, t->libc_base, "close");
    uint64_t s, ret, args[2] = { UINT64_MAX, MFD_CLOEXEC_ };
    if (!memfd_fn || !close_fn || remote_call(t, memfd_fn, 2, args, "sockleak-watcher", &s, &ret) ||
        (int64_t)ret < 0)
        return 0;       /* no live reports; the final snapshot still comes */
    if (copy_into(t->pid, (long)ret, watcher, t->r) != 0) {
        uint64_t r2, cargs[1] = { ret };
        remote_call(t, close_fn, 1, cargs, NULL, &s, &r2);
        t->r->msg[0] = '\0';
    }
    return 0;
}

static int do_attach(struct target *t, const char *lib, void *arg)
{
    const char *options = arg;
    uint64_t s, ret, args[1] = { UINT64_MAX };
    scan_maps(t, lib);
    t->r->loaded_before = t->lib_base != 0;
    if (!t->lib_base && load_library(t, lib))
        return -1;
    hand_watcher(t, lib);
    uint64_t fn = remote_sym(t->pid, t->lib_base, "sl_attach");
    if (!fn)
        return fail(t->r, "%s in process %d has no sl_attach (an older libsockleak.so?)", t->lib_map, (int)t->pid);
    if (remote_call(t, fn, 1, args, options, &s, &ret))
        return -1;
    int rc = (int)(int64_t)ret;
    if (rc == -EEXIST)
        return fail(t->r, "process %d already runs libsockleak.so (preloaded with LD_PRELOAD, or "
                    "another sockleak attach is attached); its reports go where that one sends them",
                    (int)t->pid);
    if (rc < 0)
        return fail(t->r, "sl_attach failed in process %d: %s", (int)t->pid, strerror(-rc));
    t->r->report_fd = rc;
    return 0;
}

int slt_inject_attach(pid_t pid, const char *lib, const char *options, struct slt_inject *r)
{
    return with_thread(pid, r, lib, do_attach, (void *)options);
}

static int do_detach(struct target *t, const char *lib, void *arg)
{
    (void)lib;
    (void)arg;
    uint64_t s, ret;
    scan_maps(t, NULL);
    uint64_t fn = t->lib_base ? remote_sym(t->pid, t->lib_base, "sl_detach") : 0;
    if (!fn)
        return fail(t->r, "libsockleak.so is not loaded in process %d", (int)t->pid);
    if (remote_call(t, fn, 0, NULL, NULL, &s, &ret))
        return -1;
    if ((int)(int64_t)ret == -ENOENT)
        return fail(t->r, "process %d is not attached", (int)t->pid);
    return 0;
}

int slt_inject_detach(pid_t pid, struct slt_inject *r)
{
    return with_thread(pid, r, NULL, do_detach, NULL);
}
