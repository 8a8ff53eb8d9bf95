/* lang.h -- language runtimes inside the process (CPython, a HotSpot JVM,
 * node): their frames join the native creation stack of each socket.
 * Runtime layer; each runtime lives in its own lang_*.c. */
#ifndef SL_LANG_H
#define SL_LANG_H

#include <stdint.h>
#include <sys/types.h>

#include "runtime.h"

#define SL_LANG_NATIVE_KEEP 4  /* native frames kept below Python frames */
#define SL_LANG_JAVA_NATIVE 8   /* native frames unwound in a JVM first */
#define SL_LANG_FRAMES_MAX 56   /* language frames kept per stack (HttpClient's
                                 * caller sits 34 Java frames deep) */

/* Which runtimes were found at init; 0: not one, and no hook costs more
 * than this flag's test. */
extern int sl_lang_active;

/* Look for the runtimes (from sl_init, once sl_ready is set). */
void sl_lang_init(void);

/* A socket is being created by this thread (before it is tracked): pcs[0..*n)
 * is its native stack. Writes its language frames to lang (at most max)
 * and returns their count; may shorten *n (native frames below a JIT). */
unsigned sl_lang_capture(enum sl_origin origin, const uintptr_t *pcs, unsigned *n,
                         uintptr_t *lang, unsigned max);

/* How many native frames to unwind first for a socket of this origin
 * (at most depth): fewer when a runtime will put its frames first. */
unsigned sl_lang_native_want(enum sl_origin origin, unsigned depth);

/* Whether the runtime made this socket (and will add its frames later),
 * so the short native stack is the one to keep. */
int sl_lang_owns(enum sl_origin origin, const uintptr_t *pcs, unsigned n);

/* The socket fd was tracked (record id) with that native stack. */
void sl_lang_tracked(int fd, enum sl_origin origin, const uintptr_t *pcs, unsigned n);

/* Per runtime (lang_python.c, lang_java.c, lang_node.c). */
int sl_lang_python_init(void);
unsigned sl_lang_python_capture(enum sl_origin origin, const uintptr_t *pcs, unsigned *n,
                                uintptr_t *lang, unsigned max);
void sl_lang_python_tracked(int fd, enum sl_origin origin, const uintptr_t *pcs, unsigned n);
unsigned sl_lang_python_native_want(enum sl_origin origin);
int sl_lang_python_owns(enum sl_origin origin, const uintptr_t *pcs, unsigned n);
int sl_lang_java_init(void);
unsigned sl_lang_java_capture(const uintptr_t *pcs, unsigned *n, uintptr_t *lang, unsigned max);
int sl_lang_node_init(void);

/* The loaded ELF object holding pc, or NULL (JIT code, bad pc). Cheap. */
struct link_map;
const struct link_map *sl_lang_object_of(uintptr_t pc);

/* Keep the native frames before the first pc in no ELF object (the
 * interpreter's and JIT code of a VM, whose pcs move as code compiles). */
unsigned sl_lang_native_before_jit(const uintptr_t *pcs, unsigned n);

/* node's preload talks to the shim by readlink(SL_NODE_MAGIC "MESSAGE"):
 * whether path is such a message, and its answer (written to buf, not
 * NUL-terminated, as readlink does; its length). */
#define SL_NODE_MAGIC "/\001sockleak/"
int sl_lang_node_is_message(const char *path);
ssize_t sl_lang_node_message(const char *msg, char *buf, size_t len);

#define SL_LANG_PYTHON_ON 1
#define SL_LANG_JAVA_ON   2
#define SL_LANG_NODE_ON   4

#endif
