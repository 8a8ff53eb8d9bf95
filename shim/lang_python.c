/* lang_python.c -- Python frames for sockets a CPython (3.8+) program makes.
 *
 * A C audit hook (PySys_AddAuditHook, found with dlsym: we never link
 * libpython) sees "socket.__new__" with the GIL held, records the Python
 * frames and hands them to the socket the _socket module creates next on
 * that thread. The event comes just before socket(2) for socket.socket();
 * after accept4(2) / socketpair(2) for accept() and socketpair(), whose fds
 * are wrapped in socket objects afterwards, so those sockets wait for it. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <fcntl.h>
#include <link.h>

#include "lang.h"
#include "real.h"
#include "stackdepot.h"

typedef struct PyObject PyObject;
typedef int (*audit_hook_fn)(const char *event, PyObject *args, void *data);

static struct {
    int (*AddAuditHook)(audit_hook_fn, void *);
    PyObject *(*GetFrame)(void);                 /* borrowed */
    PyObject *(*GetBack)(PyObject *);            /* new reference (3.9+) */
    PyObject *(*GetCode)(PyObject *);            /* new reference (3.9+) */
    int (*GetLineNumber)(PyObject *);
    PyObject *(*GetAttr)(PyObject *, PyObject *);
    PyObject *(*InternFromString)(const char *);
    const char *(*AsUTF8AndSize)(PyObject *, ssize_t *);
    void (*DecRef)(PyObject *);
    void (*ErrClear)(void);
    int (*IsInitialized)(void);
    int (*IsFinalizing)(void);
    int (*GILEnsure)(void);
    void (*GILRelease)(int);
    int minor;                                   /* 3.minor */
    const struct link_map *interp;               /* object holding the C API */
    const struct link_map *_Atomic socket_mod;   /* lib-dynload/_socket.*.so */
    PyObject *name_attr, *file_attr;             /* "co_qualname", "co_filename" */
    _Atomic int hooked;                          /* 0 no, 1 yes, 2 deferred */
} py;

/* Per thread: frames for the next socket(), or sockets that wait for theirs.
 * Allocated on a thread's first use and freed when it exits: only 8 bytes
 * of static TLS for every thread of every program (a library loaded later,
 * by sockleak attach, must fit the little static TLS left). */
struct py_thread {
    unsigned n;
    uintptr_t frames[SL_LANG_FRAMES_MAX];
    unsigned npost;
    uint32_t post_id[2], post_gen[2];
};
static __thread struct py_thread *pyt_self __attribute__((tls_model("initial-exec")));
static pthread_key_t pyt_key;
static pthread_once_t pyt_once = PTHREAD_ONCE_INIT;

static void make_key(void)
{
    pthread_key_create(&pyt_key, free);
}

static struct py_thread *pyt_get(int create)
{
    struct py_thread *t = pyt_self;
    if (t != NULL || !create)
        return t;
    pthread_once(&pyt_once, make_key);
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return NULL;
    pthread_setspecific(pyt_key, t);
    pyt_self = t;
    return t;
}

/* Below _socket's own C frames the interpreter's eval loop says nothing the
 * Python frames do not, and its shape varies between calls from one line
 * (3.12+ specializes): keep SL_LANG_NATIVE_KEEP native frames, so one
 * Python call site is one stack. */
#define NATIVE_KEEP SL_LANG_NATIVE_KEEP

/* Python 3.8 has no PyFrame_GetCode/GetBack: PyFrameObject starts with
 * PyObject_VAR_HEAD, f_back, f_code there (Include/frameobject.h). */
#define PY38_F_BACK 24
#define PY38_F_CODE 32

static PyObject *frame_field(PyObject *f, size_t off)
{
    PyObject *v;
    memcpy(&v, (char *)f + off, sizeof(v));
    return v;
}

/* The UTF-8 text of attribute attr of obj, copied into buf (cut). */
static const char *attr_text(PyObject *obj, PyObject *attr, char *buf, size_t len)
{
    PyObject *v = py.GetAttr(obj, attr);
    ssize_t n = 0;
    const char *s;
    if (v == NULL) {
        py.ErrClear();
        return NULL;
    }
    s = py.AsUTF8AndSize(v, &n);
    if (s == NULL) {
        py.ErrClear();
    } else {
        size_t k = (size_t)n < len - 1 ? (size_t)n : len - 1;
        memcpy(buf, s, k);
        buf[k] = '\0';
        s = buf;
    }
    py.DecRef(v);
    return s;
}

/* The current thread's Python frames, innermost first (GIL held). */
static unsigned capture_frames(uintptr_t *out, unsigned max)
{
    char name[256], file[SL_LANG_STR_MAX];
    PyObject *f = py.GetFrame(), *owned = NULL;
    unsigned n = 0;
    while (f != NULL && n < max) {
        PyObject *code = py.GetCode ? py.GetCode(f) : frame_field(f, PY38_F_CODE);
        struct sl_lang_frame lf = { .lang = SL_LANG_PYTHON, .line = py.GetLineNumber(f) };
        if (code != NULL) {
            lf.function = attr_text(code, py.name_attr, name, sizeof(name));
            lf.file = attr_text(code, py.file_attr, file, sizeof(file));
            if (py.GetCode)
                py.DecRef(code);
        }
        uintptr_t word = sl_lang_frame_put(&lf);
        if (word != 0)
            out[n++] = word;
        PyObject *back = py.GetBack ? py.GetBack(f) : frame_field(f, PY38_F_BACK);
        if (owned != NULL)
            py.DecRef(owned);
        owned = py.GetBack ? back : NULL;
        f = back;
    }
    if (owned != NULL)
        py.DecRef(owned);
    return n;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

/* socket.accept() and socket.socketpair() wrap fds made a moment ago: the
 * event comes from socket.__init__ called by one of them. */
static int wraps_made_fd(const uintptr_t *frames, unsigned n)
{
    struct sl_lang_frame lf;
    for (unsigned i = 0; i < n && i < 2; i++)
        if (sl_lang_frame_get(frames[i], &lf) && lf.function != NULL &&
            (ends_with(lf.function, "accept") || ends_with(lf.function, "socketpair")))
            return 1;
    return 0;
}

static int audit_hook(const char *event, PyObject *args, void *data)
{
    (void)args;
    (void)data;
    if (event[0] != 's' || strcmp(event, "socket.__new__") != 0)
        return 0;
    if (py.name_attr == NULL) {
        /* First event: the interpreter is up and we hold the GIL. */
        py.name_attr = py.InternFromString(py.minor >= 11 ? "co_qualname" : "co_name");
        py.file_attr = py.InternFromString("co_filename");
        if (py.name_attr == NULL || py.file_attr == NULL) {
            py.ErrClear();
            return 0;
        }
    }
    struct py_thread *t = pyt_get(1);
    uintptr_t frames[SL_LANG_FRAMES_MAX];
    if (t == NULL)
        return 0;
    unsigned n = capture_frames(frames, SL_LANG_FRAMES_MAX);
    if (t->npost > 0 && wraps_made_fd(frames, n)) {
        sl_sock_add_lang(t->post_id[0], t->post_gen[0], frames, n, NATIVE_KEEP);
        t->post_id[0] = t->post_id[1];
        t->post_gen[0] = t->post_gen[1];
        t->npost--;
        return 0;
    }
    t->npost = 0;
    memcpy(t->frames, frames, n * sizeof(*frames));
    t->n = n;
    return 0;
}

/* The socket call comes from CPython's _socket module: built into the
 * interpreter (Debian) or lib-dynload/_socket.*.so (pyenv, python.org).
 * C extensions' own sockets (libpq, ...) get no Python frames. */
static int from_socket_module(uintptr_t pc)
{
    const struct link_map *m = sl_lang_object_of(pc);
    const struct link_map *sock = __atomic_load_n(&py.socket_mod, __ATOMIC_RELAXED);
    if (m == NULL)
        return 0;
    if (m == py.interp || m == sock)
        return 1;
    if (sock == NULL && m->l_name != NULL && strstr(m->l_name, "/_socket.") != NULL) {
        __atomic_store_n(&py.socket_mod, m, __ATOMIC_RELAXED);
        return 1;
    }
    return 0;
}

/* Debug allocators (-X dev, PYTHONDEVMODE, PYTHONMALLOC=*debug, pydebug
 * builds) abort at exit on a hook entry malloc'ed before they existed. */
static int debug_allocator(void)
{
    const char *m = getenv("PYTHONMALLOC"), *dev = getenv("PYTHONDEVMODE");
    char buf[4096];
    if ((m != NULL && strstr(m, "debug") != NULL) || (dev != NULL && dev[0] != '\0') ||
        dlsym(RTLD_DEFAULT, "_Py_RefTotal") != NULL)
        return 1;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = SL_REAL(read)(fd, buf, sizeof(buf) - 1);
    SL_REAL(close)(fd);
    for (ssize_t i = 0; i + 1 < n; i++) {
        /* "-X" "dev", or "-Xdev" */
        if (memcmp(buf + i, "-X", 2) == 0 && (i == 0 || buf[i - 1] == '\0')) {
            const char *v = buf + i + 2;
            if (*v == '\0' && v + 1 < buf + n)
                v++;
            if (strncmp(v, "dev", 3) == 0 && (v[3] == '\0' || v[3] == '='))
                return 1;
        }
    }
    return 0;
}

#define SYM(field, name) (*(void **)&py.field = dlsym(RTLD_DEFAULT, name))

int sl_lang_python_init(void)
{
    if (!SYM(AddAuditHook, "PySys_AddAuditHook"))
        return 0;    /* not Python 3.8+: nothing to do */
    const char *(*version)(void);
    *(void **)&version = dlsym(RTLD_DEFAULT, "Py_GetVersion");
    SYM(GetFrame, "PyEval_GetFrame");
    SYM(GetBack, "PyFrame_GetBack");
    SYM(GetCode, "PyFrame_GetCode");
    SYM(GetLineNumber, "PyFrame_GetLineNumber");
    SYM(GetAttr, "PyObject_GetAttr");
    SYM(InternFromString, "PyUnicode_InternFromString");
    SYM(AsUTF8AndSize, "PyUnicode_AsUTF8AndSize");
    SYM(DecRef, "Py_DecRef");
    SYM(ErrClear, "PyErr_Clear");
    SYM(IsInitialized, "Py_IsInitialized");
    if (!SYM(IsFinalizing, "Py_IsFinalizing"))
        SYM(IsFinalizing, "_Py_IsFinalizing");
    SYM(GILEnsure, "PyGILState_Ensure");
    SYM(GILRelease, "PyGILState_Release");
    if (version == NULL || strncmp(version(), "3.", 2) != 0)
        return 0;
    py.minor = atoi(version() + 2);
    if (py.minor < 8 || !py.GetFrame || !py.GetLineNumber || !py.GetAttr ||
        !py.InternFromString || !py.AsUTF8AndSize || !py.DecRef || !py.ErrClear ||
        !py.IsInitialized || (py.minor >= 9 && (!py.GetBack || !py.GetCode)) ||
        (py.interp = sl_lang_object_of((uintptr_t)py.AddAuditHook)) == NULL)
        return 0;
    if (debug_allocator() || py.IsInitialized()) {
        py.hooked = 2;      /* at the first socket, with the GIL */
        return 1;
    }
    py.hooked = py.AddAuditHook(audit_hook, NULL) == 0;
    return py.hooked;
}

/* Registering once the interpreter runs needs the GIL (and not while it is
 * finalizing); the socket that triggers it gets no Python frames. */
static void hook_late(void)
{
    int expected = 2;
    if (!py.GILEnsure || !py.GILRelease || !py.IsInitialized() ||
        (py.IsFinalizing && py.IsFinalizing()) ||
        !__atomic_compare_exchange_n(&py.hooked, &expected, 3, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return;
    int state = py.GILEnsure();
    int rc = py.AddAuditHook(audit_hook, NULL);
    py.GILRelease(state);
    __atomic_store_n(&py.hooked, rc == 0 ? 1 : 0, __ATOMIC_RELEASE);
}

unsigned sl_lang_python_capture(enum sl_origin origin, const uintptr_t *pcs, unsigned *n_io,
                                uintptr_t *lang, unsigned max)
{
    unsigned n = *n_io;
    if (__atomic_load_n(&py.hooked, __ATOMIC_ACQUIRE) == 2 && n > 0 && from_socket_module(pcs[0]))
        hook_late();
    struct py_thread *t = pyt_get(0);
    if (origin != SL_ORIGIN_SOCKET || t == NULL || t->n == 0 || n == 0 ||
        !from_socket_module(pcs[0]))
        return 0;
    unsigned k = t->n < max ? t->n : max;
    memcpy(lang, t->frames, k * sizeof(*lang));
    t->n = 0;
    if (*n_io > NATIVE_KEEP)
        *n_io = NATIVE_KEEP;
    return k;
}

void sl_lang_python_tracked(int fd, enum sl_origin origin, const uintptr_t *pcs, unsigned n)
{
    if ((origin != SL_ORIGIN_ACCEPT && origin != SL_ORIGIN_ACCEPT4 &&
         origin != SL_ORIGIN_SOCKETPAIR) || n == 0 || !from_socket_module(pcs[0]))
        return;
    uint32_t id = sl_sock_id_of_fd(fd);
    struct sl_sock *s = sl_sock_get(id);
    struct py_thread *t = pyt_get(1);
    if (s == NULL || t == NULL)
        return;
    if (origin != SL_ORIGIN_SOCKETPAIR || t->npost >= 2)
        t->npost = 0;      /* an accept's wait starts afresh */
    t->post_id[t->npost] = id;
    t->post_gen[t->npost] = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
    t->npost++;
}

unsigned sl_lang_python_native_want(enum sl_origin origin)
{
    struct py_thread *t = pyt_get(0);
    if ((origin == SL_ORIGIN_SOCKET && t != NULL && t->n > 0) || origin == SL_ORIGIN_ACCEPT ||
        origin == SL_ORIGIN_ACCEPT4 || origin == SL_ORIGIN_SOCKETPAIR)
        return NATIVE_KEEP;
    return SL_STACK_MAX;
}

int sl_lang_python_owns(enum sl_origin origin, const uintptr_t *pcs, unsigned n)
{
    return origin != SL_ORIGIN_SOCKET && origin != SL_ORIGIN_RECEIVED && n > 0 &&
           from_socket_module(pcs[0]);
}
