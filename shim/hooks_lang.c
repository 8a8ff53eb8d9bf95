/* hooks_lang.c -- the one hook language runtimes need: readlink(), which
 * node's preload (sockleak-node.js) calls with a path starting with
 * SL_NODE_MAGIC to hand the shim a socket's JavaScript frames. Every other
 * path goes to the real readlink unchanged. */
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lang.h"

#define SL_EXPORT __attribute__((visibility("default")))

static ssize_t real_readlink(const char *path, char *buf, size_t len)
{
    static ssize_t (*_Atomic real)(const char *, char *, size_t);
    ssize_t (*fn)(const char *, char *, size_t) = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (fn == NULL) {
        *(void **)&fn = dlsym(RTLD_NEXT, "readlink");
        if (fn == NULL)
            return syscall(SYS_readlink, path, buf, len);
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    return fn(path, buf, len);
}

SL_EXPORT ssize_t readlink(const char *path, char *buf, size_t len)
{
    if (__builtin_expect(path[0] == '/' && path[1] == '\001', 0) &&
        sl_lang_node_is_message(path)) {
        int saved = errno;
        ssize_t r = sl_lang_node_message(path + sizeof(SL_NODE_MAGIC) - 1, buf, len);
        errno = saved;
        return r;
    }
    return real_readlink(path, buf, len);
}
