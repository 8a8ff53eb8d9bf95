/* lang_node.c -- JavaScript frames for sockets a node program makes.
 *
 * node makes its sockets a tick after the program's connect() and accepts
 * them from the event loop, so the frames must come from JavaScript: the
 * constructor appends `--require "<dir>/sockleak-node.js"` (the file next
 * to this library) to NODE_OPTIONS; that preload records the program's
 * frames where it connects or listens, and hands them over with the fd as
 * soon as node has made it, by a synchronous readlink() of a path starting
 * with SL_NODE_MAGIC, which the readlink hook answers (hooks_lang.c). */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lang.h"
#include "real.h"
#include "stackdepot.h"

#define PRELOAD_NAME "sockleak-node.js"
#define NODE_NATIVE_KEEP 6

static int node_on;

/* More than one thread: node is running already (the shim was loaded late,
 * by sockleak attach). Too late for NODE_OPTIONS, and setenv() would race
 * with node's threads reading the environment. */
static int already_running(void)
{
    char buf[4096];
    int dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC), threads = 0;
    if (dir < 0)
        return 1;
    for (long n; threads < 2 && (n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0;)
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            threads += d->d_name[0] != '.';
        }
    SL_REAL(close)(dir);
    return threads != 1;
}

int sl_lang_node_init(void)
{
    Dl_info info;
    char path[4096], *slash, *opts;
    const char *old;
    if (dlsym(RTLD_DEFAULT, "napi_module_register") == NULL || already_running() ||
        dladdr((void *)sl_lang_node_init, &info) == 0 || info.dli_fname == NULL)
        return 0;
    /* An absolute path: node would take "build/x.js" for a package name,
     * and fail to start without it. */
    if (realpath(info.dli_fname, path) == NULL ||
        strlen(path) + sizeof(PRELOAD_NAME) >= sizeof(path))
        return 0;
    slash = strrchr(path, '/');
    if (slash == NULL)
        return 0;
    strcpy(slash + 1, PRELOAD_NAME);
    /* NODE_OPTIONS quotes with "..." and no escapes: such paths are out. */
    if (strpbrk(path, "\"\\") != NULL || access(path, R_OK) != 0)
        return 0;
    old = getenv("NODE_OPTIONS");
    if (asprintf(&opts, "%s --require \"%s\"", old ? old : "", path) < 0)
        return 0;
    /* The preload strips exactly " --require "PATH"" again; a leading space
     * on an empty NODE_OPTIONS is harmless to node. */
    int rc = setenv("NODE_OPTIONS", opts, 1);
    free(opts);
    node_on = rc == 0;
    return node_on;
}

/* "fd\x1fFD" then "\x1eFUNCTION\x1fFILE\x1fLINE\x1fCOLUMN" per frame. */
static int parse_frames(const char *msg, int *fd, uintptr_t *lang, unsigned max, unsigned *n)
{
    char *end;
    if (strncmp(msg, "fd\x1f", 3) != 0)
        return -1;
    long v = strtol(msg + 3, &end, 10);
    if (end == msg + 3 || v < 0 || v > 0x7fffffff)
        return -1;
    *fd = (int)v;
    *n = 0;
    for (const char *p = end; *p == '\x1e' && *n < max;) {
        char function[256], file[SL_LANG_STR_MAX];
        const char *f = p + 1, *e1 = strchr(f, '\x1f');
        const char *e2 = e1 ? strchr(e1 + 1, '\x1f') : NULL;
        if (e2 == NULL)
            return -1;
        size_t fl = (size_t)(e1 - f) < sizeof(function) - 1 ? (size_t)(e1 - f) : sizeof(function) - 1;
        size_t il = (size_t)(e2 - e1 - 1) < sizeof(file) - 1 ? (size_t)(e2 - e1 - 1) : sizeof(file) - 1;
        memcpy(function, f, fl);
        function[fl] = '\0';
        memcpy(file, e1 + 1, il);
        file[il] = '\0';
        struct sl_lang_frame lf = { .lang = SL_LANG_JS, .function = function,
                                    .file = il ? file : NULL };
        lf.line = (int)strtol(e2 + 1, &end, 10);
        if (*end == '\x1f')
            lf.column = (int)strtol(end + 1, &end, 10);
        uintptr_t word = sl_lang_frame_put(&lf);
        if (word != 0)
            lang[(*n)++] = word;
        p = strchr(end, '\x1e');
        if (p == NULL)
            break;
    }
    return 0;
}

static ssize_t reply(char *buf, size_t len, const char *text)
{
    size_t n = strlen(text) < len ? strlen(text) : len;
    memcpy(buf, text, n);
    return (ssize_t)n;
}

ssize_t sl_lang_node_message(const char *msg, char *buf, size_t len)
{
    uintptr_t lang[SL_LANG_FRAMES_MAX];
    unsigned n = 0;
    int fd;
    if (strcmp(msg, "hello") == 0)
        return reply(buf, len, "sockleak1");
    if (parse_frames(msg, &fd, lang, SL_LANG_FRAMES_MAX, &n) != 0 || n == 0)
        return reply(buf, len, "bad");
    uint32_t id = sl_sock_id_of_fd(fd);
    struct sl_sock *s = sl_sock_get(id);
    if (s == NULL)
        return reply(buf, len, "untracked");
    uint32_t gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
    const uintptr_t *pcs;
    unsigned npcs = sl_stack_get(__atomic_load_n(&s->stack_id, __ATOMIC_RELAXED), &pcs);
    /* libuv and node's binding (uv__socket ... TCPWrap::Connect); below
     * them V8's trampolines repeat once per JavaScript call. */
    unsigned native = sl_lang_native_before_jit(pcs, npcs);
    if (native > NODE_NATIVE_KEEP)
        native = NODE_NATIVE_KEEP;
    return reply(buf, len, sl_sock_add_lang(id, gen, lang, n, native) == 0 ? "ok" : "gone");
}

int sl_lang_node_is_message(const char *path)
{
    return node_on && path != NULL && strncmp(path, SL_NODE_MAGIC, sizeof(SL_NODE_MAGIC) - 1) == 0;
}
