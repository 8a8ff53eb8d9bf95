/* attach.c -- interposition without LD_PRELOAD ("sockleak attach PID"):
 * patch the GOT slots (JUMP_SLOT, GLOB_DAT, R_X86_64_64) of every loaded
 * object that name a function the hooks wrap, and undo exactly that at
 * detach. The same hooks run as under LD_PRELOAD; only the real functions
 * differ: what the program's slots held (the global definition), not
 * RTLD_NEXT of a preloaded library. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "objrange.h"
#include "output.h"
#include "ownfd.h"
#include "real.h"
#include "runtime.h"

#define SL_EXPORT __attribute__((visibility("default")))

#define MAX_PATCHES  65536
#define MAX_RANGES   16384
#define MAPS_BYTES   (4u << 20)

struct hook {
    const char *name;
    void **real;        /* the pointer the hook calls */
    void *hook;         /* our definition; NULL: not wrapped */
};

static void *real_dlopen, *real_pipe2;
static void *attach_dlopen(const char *file, int mode);
static int attach_pipe2(int fds[2], int flags);

static struct hook hooks[] = {
#define HOOK_ROW(ret, name, params) { #name, (void **)&sl_real.name, NULL },
    SL_REAL_FUNCS(HOOK_ROW)
#undef HOOK_ROW
    /* attach only: a library loaded later gets its slots patched too */
    { "dlopen", &real_dlopen, (void *)attach_dlopen },
    /* attach only: libunwind's validation pipe goes high and is ours to close */
    { "pipe2", &real_pipe2, (void *)attach_pipe2 },
};
#define NHOOKS (sizeof(hooks) / sizeof(hooks[0]))

/* One slot we changed, and what it held. */
struct patch {
    void **slot;
    void *old;
    void *hook;
};

/* A mapping of /proc/self/maps: the protection to restore exactly. */
struct range {
    uintptr_t lo, hi;
    int prot;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int attached;
static struct patch *patches;      /* mmap'ed once, never freed */
static size_t npatches;
static struct range *ranges;
static size_t nranges;
static char *maps_buf;
static uintptr_t self_lo, self_hi, ldso_base, vdso_base;
static long page_size;
static const char *only_name;      /* a pass that patches just this function */

/* libunwind's memory-validation pipe: made (once per process) through its
 * pipe2 slot while our unwinder runs; closed at detach, and remade on the
 * same numbers at the next attach, since libunwind keeps using them. */

/* Re-checks for slots lazy binding or a concurrent dlopen wrote after us. */
static pthread_t recheck_thread;
static int recheck_started;
static pthread_mutex_t recheck_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t recheck_cond;
static int recheck_stop;

/* ---- the loaded objects ---- */

static void *self_handle(void)
{
    Dl_info info;
    void *lm = NULL;
    /* glibc's handles are link maps: ours, to find our own definitions. */
    if (dladdr1((void *)&sl_attach, &info, &lm, RTLD_DL_LINKMAP) == 0)
        return NULL;
    return lm;
}

int sl_attach_loaded_late(void)
{
    Dl_info a, b;
    void *def = dlsym(RTLD_DEFAULT, "socket");
    /* Preloaded (or linked in first), the program's socket() is ours. */
    if (def == NULL || dladdr(def, &a) == 0 || dladdr((void *)&sl_attach, &b) == 0)
        return 0;
    return a.dli_fbase != b.dli_fbase;
}

/* ---- page protection ---- */

static void load_maps(void)
{
    nranges = 0;
    if (maps_buf == NULL) {
        void *p = mmap(NULL, MAPS_BYTES + MAX_RANGES * sizeof(struct range),
                       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return;
        maps_buf = p;
        ranges = (struct range *)(maps_buf + MAPS_BYTES);
    }
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t len = 0;
    ssize_t n;
    while (len < MAPS_BYTES - 1 &&
           (n = SL_REAL(read)(fd, maps_buf + len, MAPS_BYTES - 1 - len)) > 0)
        len += (size_t)n;
    SL_REAL(close)(fd);
    maps_buf[len] = '\0';
    for (char *line = maps_buf; *line != '\0' && nranges < MAX_RANGES;) {
        char *end;
        struct range r;
        r.lo = strtoul(line, &end, 16);
        r.hi = *end == '-' ? strtoul(end + 1, &end, 16) : 0;
        r.prot = 0;
        if (*end == ' ' && end[1] && end[2] && end[3]) {
            r.prot = (end[1] == 'r' ? PROT_READ : 0) | (end[2] == 'w' ? PROT_WRITE : 0) |
                     (end[3] == 'x' ? PROT_EXEC : 0);
            if (r.hi > r.lo)
                ranges[nranges++] = r;
        }
        char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        line = nl + 1;
    }
}

/* The protection of the page at addr, -1 when unmapped. */
static int prot_of(uintptr_t addr)
{
    for (size_t i = 0; i < nranges; i++)
        if (addr >= ranges[i].lo && addr < ranges[i].hi)
            return ranges[i].prot;
    return -1;
}

/* Write one slot; a read-only (full RELRO) page is made writable for the
 * write and given back exactly the protection it had. */
static int write_slot(void **slot, void *value)
{
    uintptr_t page = (uintptr_t)slot & ~(uintptr_t)(page_size - 1);
    int prot = prot_of(page);
    if (prot < 0)
        return -1;
    if (prot & PROT_WRITE) {
        __atomic_store_n(slot, value, __ATOMIC_RELEASE);
        return 0;
    }
    if (mprotect((void *)page, (size_t)page_size, prot | PROT_READ | PROT_WRITE) != 0)
        return -1;
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
    mprotect((void *)page, (size_t)page_size, prot);
    return 0;
}

/* ---- patching ---- */

static const struct hook *find_hook(const char *name)
{
    for (size_t i = 0; i < NHOOKS; i++)
        if (hooks[i].hook != NULL && name[0] == hooks[i].name[0] &&
            strcmp(name, hooks[i].name) == 0 && (only_name == NULL || !strcmp(name, only_name)))
            return &hooks[i];
    return NULL;
}

struct object {
    uintptr_t base, lo, hi;
    const ElfW(Sym) *symtab;
    const char *strtab;
};

static uintptr_t dyn_ptr(uintptr_t base, ElfW(Addr) v)
{
    /* ld.so relocates these entries in place; an unrelocated one is an offset */
    return v < base ? base + v : v;
}

static void patch_relocs(const struct object *o, const ElfW(Rela) *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned type = (unsigned)ELF64_R_TYPE(r[i].r_info);
        size_t sym = ELF64_R_SYM(r[i].r_info);
        if (sym == 0 || (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT &&
                         type != R_X86_64_64) ||
            (type == R_X86_64_64 && r[i].r_addend != 0))
            continue;
        const struct hook *h = find_hook(o->strtab + o->symtab[sym].st_name);
        if (h == NULL)
            continue;
        void **slot = (void **)(o->base + r[i].r_offset);
        void *cur = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        /* Only a slot that reaches the real function, or (lazy binding, not
         * resolved yet) the object's own PLT stub: another interposer's
         * slot stays as it is. */
        int lazy = type == R_X86_64_JUMP_SLOT && (uintptr_t)cur >= o->lo &&
                   (uintptr_t)cur < o->hi;
        if (cur == h->hook || (cur != *h->real && !lazy) || npatches >= MAX_PATCHES)
            continue;
        if (write_slot(slot, h->hook) == 0)
            patches[npatches++] = (struct patch){ slot, cur, h->hook };
    }
}

/* The object's range and dynamic tables; 0 when it is one we leave alone. */
static int object_of(struct dl_phdr_info *info, struct object *o, const ElfW(Dyn) **dyn)
{
    memset(o, 0, sizeof(*o));
    o->base = info->dlpi_addr;
    o->lo = UINTPTR_MAX;
    *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_DYNAMIC)
            *dyn = (const ElfW(Dyn) *)start;
        if (ph->p_type != PT_LOAD)
            continue;
        if (start < o->lo) o->lo = start;
        if (start + ph->p_memsz > o->hi) o->hi = start + ph->p_memsz;
    }
    /* Not ourselves, the loader, or the vDSO. */
    if (*dyn == NULL || (o->lo >= self_lo && o->lo < self_hi) ||
        (ldso_base != 0 && o->base == ldso_base) || (vdso_base != 0 && o->lo == vdso_base))
        return 0;
    return 1;
}

static int patch_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    struct object o;
    const ElfW(Dyn) *dyn;
    if (!object_of(info, &o, &dyn))
        return 0;
    const ElfW(Rela) *jmprel = NULL, *rela = NULL;
    size_t pltrelsz = 0, relasz = 0;
    long pltrel = DT_RELA;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: o.symtab = (const ElfW(Sym) *)dyn_ptr(o.base, d->d_un.d_ptr); break;
        case DT_STRTAB: o.strtab = (const char *)dyn_ptr(o.base, d->d_un.d_ptr); break;
        case DT_JMPREL: jmprel = (const ElfW(Rela) *)dyn_ptr(o.base, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
        case DT_PLTREL: pltrel = (long)d->d_un.d_val; break;
        case DT_RELA: rela = (const ElfW(Rela) *)dyn_ptr(o.base, d->d_un.d_ptr); break;
        case DT_RELASZ: relasz = d->d_un.d_val; break;
        }
    }
    if (o.symtab == NULL || o.strtab == NULL)
        return 0;
    if (jmprel != NULL && pltrel == DT_RELA)
        patch_relocs(&o, jmprel, pltrelsz / sizeof(ElfW(Rela)));
    if (rela != NULL)
        patch_relocs(&o, rela, relasz / sizeof(ElfW(Rela)));
    return 0;
}

/* Run fn over every loaded object with fresh page protections, as the
 * shim (its own calls are not recorded). Caller holds lock. */
static void each_object(int (*fn)(struct dl_phdr_info *, size_t, void *))
{
    int in_shim = sl_in_shim;
    sl_in_shim = 1;
    load_maps();
    dl_iterate_phdr(fn, NULL);
    sl_in_shim = in_shim;
}

/* Patch every object's slots (idempotent). Caller holds lock. */
static void patch_all(void)
{
    each_object(patch_object);
}

/* Restore the slots of one object that still hold our hooks; newest first,
 * so a slot patched twice ends with what it held before the first time.
 * Done while dl_iterate_phdr holds the list: the object cannot be unmapped
 * under us. */
static int unpatch_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    struct object o;
    const ElfW(Dyn) *dyn;
    if (!object_of(info, &o, &dyn))
        return 0;
    for (size_t i = npatches; i-- > 0;) {
        struct patch *p = &patches[i];
        if ((uintptr_t)p->slot < o.lo || (uintptr_t)p->slot >= o.hi)
            continue;
        if (__atomic_load_n(p->slot, __ATOMIC_ACQUIRE) == p->hook)
            write_slot(p->slot, p->old);
        p->hook = NULL;     /* done */
    }
    return 0;
}

/* Slots of objects unloaded meanwhile are simply forgotten. */
static void unpatch_all(void)
{
    each_object(unpatch_object);
    npatches = 0;
}

/* ---- dlopen while attached ---- */

/* $ORIGIN in a name given to dlopen means the caller's directory; called
 * from here it would mean ours, so expand it for the caller. */
static const char *expand_origin(const char *file, const char *caller_path, char *buf, size_t len)
{
    const char *at = strstr(file, "$ORIGIN");
    size_t skip = 7;
    if (at == NULL && (at = strstr(file, "${ORIGIN}")) != NULL)
        skip = 9;
    const char *slash = caller_path ? strrchr(caller_path, '/') : NULL;
    if (at == NULL || slash == NULL)
        return file;
    int n = snprintf(buf, len, "%.*s%.*s%s", (int)(at - file), file,
                     (int)(slash - caller_path), caller_path, at + skip);
    return n > 0 && (size_t)n < len ? buf : file;
}

static void *attach_dlopen(const char *file, int mode)
{
    void *caller = __builtin_return_address(0);
    void *(*real)(const char *, int) = (void *(*)(const char *, int))real_dlopen;
    Dl_info info;
    void *lm = NULL;
    Lmid_t lmid = LM_ID_BASE;
    char buf[PATH_MAX];
    void *h;
    /* Keep dlopen's caller-relative meaning: the caller's namespace and
     * $ORIGIN, not ours. */
    if (dladdr1(caller, &info, &lm, RTLD_DL_LINKMAP) != 0 && lm != NULL) {
        if (file != NULL && strchr(file, '$') != NULL)
            file = expand_origin(file, info.dli_fname, buf, sizeof(buf));
        if (dlinfo(lm, RTLD_DI_LMID, &lmid) != 0)
            lmid = LM_ID_BASE;
    }
    h = lmid != LM_ID_BASE ? dlmopen(lmid, file, mode) : real(file, mode);
    if (h != NULL && __atomic_load_n(&attached, __ATOMIC_ACQUIRE)) {
        int saved = errno;
        pthread_mutex_lock(&lock);
        if (__atomic_load_n(&attached, __ATOMIC_ACQUIRE))
            patch_all();
        pthread_mutex_unlock(&lock);
        errno = saved;
    }
    return h;
}

/* ---- libunwind's pipe ---- */

/* Only the pipe our own unwinder asks for is none at all (ownfd.h), as with
 * the preloaded hooks; the program's are its own. */
static int attach_pipe2(int fds[2], int flags)
{
    if (sl_unwinding)
        return sl_unwind_pipe2(fds, flags);
    return ((int (*)(int *, int))real_pipe2)(fds, flags);
}

/* ---- re-checks ---- */

/* Lazy binding that was resolving while we patched, or a library another
 * thread was loading, can leave a slot with the real function: look again
 * after 50 ms, 250 ms, 1 s, then every 2 s (also catching libraries loaded
 * without the program's dlopen, e.g. glibc's NSS modules). */
static void *recheck_main(void *arg)
{
    static const int delays_ms[] = { 50, 200, 750 };
    unsigned round = 0;
    (void)arg;
    sl_in_shim = 1;
    pthread_mutex_lock(&recheck_lock);
    while (!recheck_stop) {
        struct timespec ts;
        int ms = round < 3 ? delays_ms[round] : 2000;
        round++;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long)(ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        while (!recheck_stop && pthread_cond_timedwait(&recheck_cond, &recheck_lock, &ts) == 0)
            ;
        if (recheck_stop)
            break;
        pthread_mutex_unlock(&recheck_lock);
        pthread_mutex_lock(&lock);
        if (__atomic_load_n(&attached, __ATOMIC_ACQUIRE))
            patch_all();
        pthread_mutex_unlock(&lock);
        pthread_mutex_lock(&recheck_lock);
    }
    pthread_mutex_unlock(&recheck_lock);
    return NULL;
}

static void start_recheck(void)
{
    pthread_condattr_t ca;
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&recheck_cond, &ca);
    pthread_condattr_destroy(&ca);
    recheck_stop = 0;
    sigfillset(&all);
    /* the thread never takes one of the program's signals */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 << 10);
    recheck_started = pthread_create(&recheck_thread, &attr, recheck_main, NULL) == 0;
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void stop_recheck(void)
{
    if (!recheck_started)
        return;
    pthread_mutex_lock(&recheck_lock);
    recheck_stop = 1;
    pthread_cond_signal(&recheck_cond);
    pthread_mutex_unlock(&recheck_lock);
    pthread_join(recheck_thread, NULL);
    pthread_cond_destroy(&recheck_cond);
    recheck_started = 0;
}

/* ---- fork ---- */

/* A child forked while attached is not followed: it gets the program's own
 * slots back and drops the runtime before it returns from fork. */
static void fork_child(void)
{
    if (!__atomic_load_n(&attached, __ATOMIC_ACQUIRE))
        return;
    __atomic_store_n(&attached, 0, __ATOMIC_RELEASE);
    recheck_started = 0;     /* the thread stayed in the parent */
    pthread_mutex_init(&lock, NULL);
    pthread_mutex_init(&recheck_lock, NULL);
    unpatch_all();
    sl_runtime_forget();
    sl_out_close();
}

/* ---- entry points ---- */

/* Our definitions, and the real functions as the program's slots see them. */
static int resolve_hooks(void)
{
    void *self = self_handle();
    if (self == NULL)
        return -ENOENT;
    for (size_t i = 0; i < NHOOKS; i++) {
        void *def = dlsym(RTLD_DEFAULT, hooks[i].name);
        if (hooks[i].real == &real_dlopen || hooks[i].real == &real_pipe2) {
            *hooks[i].real = def;
            if (def == NULL)
                hooks[i].hook = NULL;
            continue;
        }
        void *ours = dlsym(self, hooks[i].name);
        hooks[i].hook = ours != NULL && ours != def && def != NULL ? ours : NULL;
        if (def != NULL)
            *hooks[i].real = def;
    }
    return 0;
}

static int attach_locked(const char *options)
{
    static int atfork_done;
    if (__atomic_load_n(&attached, __ATOMIC_ACQUIRE) || sl_attach_loaded_late() == 0)
        return -EEXIST;
    page_size = sysconf(_SC_PAGESIZE);
    ldso_base = getauxval(AT_BASE);
    vdso_base = getauxval(AT_SYSINFO_EHDR);
    sl_object_range((const void *)(uintptr_t)&sl_attach, &self_lo, &self_hi);
    int rc = resolve_hooks();
    if (rc != 0)
        return rc;
    if (patches == NULL) {
        void *p = mmap(NULL, MAX_PATCHES * sizeof(struct patch), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return -ENOMEM;
        patches = p;
    }
    int fd = memfd_create("sockleak-report", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (sl_out_use_fd(fd, 1) != 0)   /* (it closed fd) */
        return -EMFILE;
    npatches = 0;
    __atomic_store_n(&attached, 1, __ATOMIC_RELEASE);
    /* libunwind's pipe2 first: the runtime's start may initialise it */
    only_name = "pipe2";
    patch_all();
    only_name = NULL;
    rc = sl_runtime_attach(options);
    if (rc != 0) {
        unpatch_all();
        __atomic_store_n(&attached, 0, __ATOMIC_RELEASE);
        sl_out_close();
        return rc;
    }
    if (!atfork_done)
        atfork_done = pthread_atfork(NULL, NULL, fork_child) == 0;
    patch_all();
    /* Single-threaded, nothing can race our patching: no thread needed
     * (and none is started, so glibc's single-thread fast paths stay). */
    if (!__libc_single_threaded)
        start_recheck();
    return sl_out_fixed_fd();   /* its number in the fd zone */
}

SL_EXPORT int sl_attach(const char *options)
{
    int saved = errno;
    pthread_mutex_lock(&lock);
    int rc = attach_locked(options != NULL ? options : "");
    pthread_mutex_unlock(&lock);
    errno = saved;
    return rc;
}

SL_EXPORT int sl_detach(void)
{
    int saved = errno;
    if (!__atomic_load_n(&attached, __ATOMIC_ACQUIRE))
        return -ENOENT;
    stop_recheck();         /* before the lock: it takes it */
    pthread_mutex_lock(&lock);
    int was = __atomic_exchange_n(&attached, 0, __ATOMIC_ACQ_REL);
    if (was) {
        unpatch_all();
        sl_runtime_detach();
        sl_out_close();
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return was ? 0 : -ENOENT;
}
