/* symbolize.c -- report-time symbolizer: return addresses of this process to
 * module+offset, function and file:line, inlined calls included (libdwfl). */

#include "symbolize.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <link.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Inline chains deeper than this are cut at the outer end; real code rarely
 * nests past a dozen. */
#define MAX_FRAMES_PER_PC 64
#define INITIAL_BUCKETS 1024

/* A chained hash table of nodes that embed this header first. */
struct node {
    struct node *next;
    size_t hash;
};

struct table {
    struct node **buckets;
    size_t nbuckets;
    size_t count;
};

/* Cached expansion of one pc; frame strings point into the string table. */
struct pc_entry {
    struct node node;
    uintptr_t pc;
    int nframes;
    struct sl_frame frames[];
};

struct str_entry {
    struct node node;
    char str[];
};

typedef char *(*cxa_demangle_fn)(const char *, char *, size_t *, int *);

static struct {
    Dwfl *dwfl;
    pid_t pid;                  /* the process dwfl describes */
    unsigned long long loads;   /* load_count() when modules were reported */
    struct table pcs;           /* pc -> struct pc_entry */
    struct table strings;       /* interned strings, owned until reset */
    int demangle_looked_up;
    cxa_demangle_fn demangle;   /* libstdc++'s, when the process has it */
} sym;

static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t other_pid;         /* the watcher process: describe this one */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
};

/* ---- hash tables ---- */

static size_t hash_pc(uintptr_t pc)
{
    uint64_t h = (uint64_t)pc * 0x9e3779b97f4a7c15ull;
    return (size_t)(h ^ (h >> 29));
}

static size_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (size_t)h;
}

static struct node *table_chain(const struct table *t, size_t hash)
{
    if (t->buckets == NULL)
        return NULL;
    return t->buckets[hash & (t->nbuckets - 1)];
}

/* Double the bucket array; on allocation failure keep the longer chains. */
static void table_grow(struct table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : INITIAL_BUCKETS;
    struct node **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct node *e = t->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

static int table_insert(struct table *t, struct node *e)
{
    if (t->count >= t->nbuckets * 2)
        table_grow(t);
    if (t->buckets == NULL)
        return -1;
    struct node **head = &t->buckets[e->hash & (t->nbuckets - 1)];
    e->next = *head;
    *head = e;
    t->count++;
    return 0;
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct node *e = t->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

/* ---- strings ---- */

/* Return a copy of s that lives until reset; identical strings are stored
 * once, since thousands of frames share a few module and file names. */
static const char *intern(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t hash = hash_str(s);
    for (struct node *n = table_chain(&sym.strings, hash); n; n = n->next) {
        struct str_entry *e = (struct str_entry *)n;
        if (n->hash == hash && strcmp(e->str, s) == 0)
            return e->str;
    }
    size_t len = strlen(s);
    struct str_entry *e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->str, s, len + 1);
    e->node.hash = hash;
    if (table_insert(&sym.strings, &e->node) < 0) {
        free(e);
        return NULL;
    }
    return e->str;
}

/* libdw already joins file names with their include directory, which is
 * the compilation directory for index 0; a name still relative gets the
 * compilation directory when that is absolute. A relative one (builds with
 * -fdebug-prefix-map=...=.) was already applied: joining would double it. */
static const char *intern_path(const char *file, const char *comp_dir)
{
    if (file == NULL || file[0] == '/' || comp_dir == NULL || comp_dir[0] != '/')
        return intern(file);
    char *full;
    if (asprintf(&full, "%s/%s", comp_dir, file) < 0)
        return intern(file);
    const char *s = intern(full);
    free(full);
    return s;
}

/* C++ names are demangled only when the process already has libstdc++
 * loaded (then it is a C++ program); we do not link it ourselves. */
static const char *intern_function(const char *name)
{
    if (name == NULL || strncmp(name, "_Z", 2) != 0)
        return intern(name);
    if (!sym.demangle_looked_up) {
        *(void **)&sym.demangle = dlsym(RTLD_DEFAULT, "__cxa_demangle");
        sym.demangle_looked_up = 1;
    }
    if (sym.demangle == NULL)
        return intern(name);
    int status = -1;
    char *plain = sym.demangle(name, NULL, NULL, &status);
    const char *s = intern(status == 0 && plain ? plain : name);
    free(plain);
    return s;
}

/* ---- dwfl session ---- */

static int read_load_count(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *count = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
        *count = info->dlpi_adds + info->dlpi_subs;
    return 1;
}

/* How many times the dynamic linker loaded or unloaded an object: a lookup
 * miss re-reads the maps only when this moved, so the many pcs of JIT code
 * (in no module) do not cost a /proc read each. Without the counters
 * (very old glibc) every call differs, so every miss re-reads. */
static unsigned long long load_count(void)
{
    static unsigned long long fallback;
    unsigned long long count = 0;
    if (other_pid != 0)
        return ++fallback;      /* another process's loads are not ours to count */
    dl_iterate_phdr(read_load_count, &count);
    return count != 0 ? count : ++fallback;
}

/* Re-read /proc/PID/maps; modules that did not move keep their debug info. */
static int report_modules(void)
{
    sym.loads = load_count();
    dwfl_report_begin(sym.dwfl);
    int rc = dwfl_linux_proc_report(sym.dwfl, sym.pid);
    if (dwfl_report_end(sym.dwfl, NULL, NULL) != 0)
        rc = -1;
    return rc == 0 ? 0 : -1;
}

/* A dwfl describes one pid, so a forked child builds its own. Cached frames
 * stay: the child's mappings are the parent's. */
static int ensure_dwfl(void)
{
    pid_t pid = other_pid ? other_pid : getpid();
    if (sym.dwfl != NULL && sym.pid == pid)
        return 0;
    if (sym.dwfl != NULL)
        dwfl_end(sym.dwfl);
    sym.dwfl = dwfl_begin(&proc_callbacks);
    if (sym.dwfl == NULL)
        return -1;
    sym.pid = pid;
    report_modules();
    return 0;
}

/* A miss may be a library dlopen'ed after the last report: re-report once. */
static Dwfl_Module *find_module(Dwarf_Addr addr)
{
    Dwfl_Module *mod = dwfl_addrmodule(sym.dwfl, addr);
    if (mod == NULL && load_count() != sym.loads && report_modules() == 0)
        mod = dwfl_addrmodule(sym.dwfl, addr);
    return mod;
}

/* ---- one pc ---- */

static void fill_module(Dwfl_Module *mod, uintptr_t pc, struct sl_frame *f)
{
    Dwarf_Addr start = 0, bias = 0;
    const char *name = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL,
                                        NULL, NULL);
    /* libdwfl names the vDSO "[vdso: PID]"; /proc/self/maps says "[vdso]". */
    if (name != NULL && strncmp(name, "[vdso", 5) == 0)
        name = "[vdso]";
    f->module = intern(name);
    /* Without the ELF file the bias is unknown; the mapping start is exact
     * for the usual objects whose first segment is at vaddr 0. */
    if (dwfl_module_getelf(mod, &bias) != NULL)
        f->offset = pc - bias;
    else
        f->offset = pc - start;
}

/* File:line of the instruction itself, from the line table. */
static void fill_line(Dwfl_Module *mod, Dwarf_Addr addr, struct sl_frame *f)
{
    Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
    int lineno = 0, col = 0;
    if (line == NULL)
        return;
    const char *file = dwfl_lineinfo(line, NULL, &lineno, &col, NULL, NULL);
    if (file == NULL)
        return;
    f->file = intern_path(file, dwfl_line_comp_dir(line));
    f->line = lineno;
    f->column = col;
}

/* Name of a subprogram or inlined instance; the abstract origin (followed
 * by dwarf_attr_integrate) has it. The linkage name is preferred so C++
 * frames demangle to their full signature. */
static const char *die_function(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    static const int names[] = {
        DW_AT_linkage_name, DW_AT_MIPS_linkage_name, DW_AT_name,
    };
    const char *name = NULL;
    for (size_t i = 0; name == NULL && i < sizeof(names) / sizeof(names[0]); i++)
        name = dwarf_formstring(dwarf_attr_integrate(die, names[i], &attr));
    return intern_function(name);
}

/* An inlined scope's call site is the caller's file:line. */
static void fill_call_site(Dwarf_Die *inlined, struct sl_frame *f)
{
    Dwarf_Attribute attr;
    Dwarf_Word file = 0, line = 0, col = 0;
    Dwarf_Files *files = NULL;
    Dwarf_Die cu;

    f->file = NULL;
    f->line = f->column = 0;
    if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &line) == 0)
        f->line = (int)line;
    if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_column, &attr), &col) == 0)
        f->column = (int)col;
    if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &file) != 0
        || dwarf_diecu(inlined, &cu, NULL, NULL) == NULL
        || dwarf_getsrcfiles(&cu, &files, NULL) != 0)
        return;
    f->file = intern_path(dwarf_filesrc(files, file, NULL, NULL),
                          dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &attr)));
}

/* The DIEs that physically enclose the code at addr, innermost first.
 * dwarf_getscopes alone also walks into the abstract origins of inlined
 * instances, so take its innermost DIE and walk its real parents (as
 * eu-addr2line -i does). */
static int physical_scopes(Dwfl_Module *mod, Dwarf_Addr addr, Dwarf_Die **out)
{
    Dwarf_Addr bias = 0;
    Dwarf_Die *cudie = dwfl_module_addrdie(mod, addr, &bias);
    Dwarf_Die *scopes = NULL;
    *out = NULL;
    if (cudie == NULL)
        return 0;
    int n = dwarf_getscopes(cudie, addr - bias, &scopes);
    if (n > 0)
        n = dwarf_getscopes_die(&scopes[0], out);
    free(scopes);
    return n;
}

/* Frames for the function scopes at addr, innermost first, each copied
 * from frames[0] (module and line-table position) and then adjusted. */
static int expand_inlines(Dwfl_Module *mod, Dwarf_Addr addr,
                          struct sl_frame *frames, int max)
{
    Dwarf_Die *scopes, *inner_call = NULL;
    int nscopes = physical_scopes(mod, addr, &scopes);
    int n = 0;
    for (int i = 0; i < nscopes && n < max; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram
            && tag != DW_TAG_entry_point)
            continue;
        if (inner_call != NULL) {
            /* The caller's position is where it calls the inner inline. */
            frames[n] = frames[n - 1];
            fill_call_site(inner_call, &frames[n]);
        }
        frames[n].function = die_function(&scopes[i]);
        frames[n].inlined = tag == DW_TAG_inlined_subroutine;
        n++;
        if (tag != DW_TAG_inlined_subroutine)
            break;
        inner_call = &scopes[i];
    }
    free(scopes);
    return n;
}

/* Expand pc fully (up to max frames) into frames; always at least one. */
static int expand_pc(uintptr_t pc, struct sl_frame *frames, int max)
{
    Dwarf_Addr addr = pc > 0 ? pc - 1 : 0;
    Dwfl_Module *mod;

    memset(&frames[0], 0, sizeof(frames[0]));
    frames[0].pc = pc;
    if (ensure_dwfl() < 0 || (mod = find_module(addr)) == NULL)
        return 1;
    fill_module(mod, pc, &frames[0]);
    fill_line(mod, addr, &frames[0]);
    int n = expand_inlines(mod, addr, frames, max);
    if (n == 0 || frames[n - 1].function == NULL) {
        /* No DWARF here: the symbol table still names the function. */
        if (n == 0)
            n = 1;
        frames[n - 1].function = intern_function(dwfl_module_addrname(mod, addr));
    }
    return n;
}

/* ---- cache and public entry points ---- */

static struct pc_entry *cache_find(uintptr_t pc)
{
    size_t hash = hash_pc(pc);
    for (struct node *n = table_chain(&sym.pcs, hash); n; n = n->next) {
        struct pc_entry *e = (struct pc_entry *)n;
        if (e->pc == pc)
            return e;
    }
    return NULL;
}

/* Not caching on allocation failure is fine: the strings are interned. */
static void cache_add(uintptr_t pc, const struct sl_frame *frames, int n)
{
    struct pc_entry *e = malloc(sizeof(*e) + (size_t)n * sizeof(*frames));
    if (e == NULL)
        return;
    e->node.hash = hash_pc(pc);
    e->pc = pc;
    e->nframes = n;
    memcpy(e->frames, frames, (size_t)n * sizeof(*frames));
    if (table_insert(&sym.pcs, &e->node) < 0)
        free(e);
}

static int symbolize_locked(uintptr_t pc, struct sl_frame *out, int max)
{
    struct sl_frame frames[MAX_FRAMES_PER_PC];
    const struct sl_frame *src = frames;
    struct pc_entry *e = cache_find(pc);
    int n;

    if (e != NULL) {
        src = e->frames;
        n = e->nframes;
    } else {
        n = expand_pc(pc, frames, MAX_FRAMES_PER_PC);
        cache_add(pc, frames, n);
    }
    if (n > max)
        n = max;
    memcpy(out, src, (size_t)n * sizeof(*out));
    return n;
}

/* Keep the lock consistent across fork: a child of a thread that forked
 * while another thread was symbolizing would otherwise inherit it held. */
static void lock_sym(void) { pthread_mutex_lock(&sym_lock); }
static void unlock_sym(void) { pthread_mutex_unlock(&sym_lock); }

static void install_atfork(void)
{
    pthread_atfork(lock_sym, unlock_sym, unlock_sym);
}

int sl_symbolize(uintptr_t pc, struct sl_frame *out, int max)
{
    if (out == NULL || max <= 0)
        return 0;
    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&sym_lock);
    int n = symbolize_locked(pc, out, max);
    pthread_mutex_unlock(&sym_lock);
    return n;
}

void sl_symbolize_set_pid(pid_t pid)
{
    other_pid = pid;
}

void sl_symbolize_reset(void)
{
    pthread_mutex_lock(&sym_lock);
    if (sym.dwfl != NULL)
        dwfl_end(sym.dwfl);
    table_free(&sym.pcs);
    table_free(&sym.strings);
    memset(&sym, 0, sizeof(sym));
    pthread_mutex_unlock(&sym_lock);
}
