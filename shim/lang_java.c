/* lang_java.c -- Java frames for sockets a HotSpot JVM makes.
 *
 * Under plain LD_PRELOAD, with no flag: the java launcher loads libjvm
 * RTLD_GLOBAL, so JNI_GetCreatedJavaVMs is found with dlsym once the VM
 * exists; in the socket hook, on a thread attached to the VM, JVMTI's
 * GetStackTrace gives the Java frames. Methods are resolved (class, name,
 * source file, line table) once per (jmethodID, location) and cached. */
#include "lang.h"

#if defined(__has_include)
#if __has_include(<jvmti.h>)
#define SL_HAVE_JVMTI 1
#endif
#endif

#ifndef SL_HAVE_JVMTI

int sl_lang_java_init(void)
{
    return 0;
}

unsigned sl_lang_java_capture(const uintptr_t *pcs, unsigned *n, uintptr_t *lang, unsigned max)
{
    (void)pcs; (void)n; (void)lang; (void)max;
    return 0;
}

#else

#include <dlfcn.h>
#include <jvmti.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>

#include "stackdepot.h"

/* HttpClient's user frame sits at depth 34 (NOTES): look 64 deep. */
#define JAVA_DEPTH   64
#define CACHE_SLOTS  (1u << 15)

typedef jint (*get_vms_fn)(JavaVM **, jsize, jsize *);

static struct {
    get_vms_fn get_vms;
    const struct link_map *jvm;  /* libjvm.so: its own threads are skipped */
    jvmtiEnv *_Atomic jvmti;
    _Atomic int jvmti_state;     /* 0 none, 1 being made, 2 ready, 3 failed */
} jv;

/* (jmethodID, location) -> language frame word. Slots are claimed with a
 * CAS on method; word is published last, so a reader never sees a half
 * entry (a race costs one more resolution, never a wrong frame). */
struct slot {
    _Atomic uintptr_t method;
    jlocation location;
    _Atomic uintptr_t word;
};
static struct slot *cache;

int sl_lang_java_init(void)
{
    /* Only the java launcher (libjli) or a program linked with libjvm. */
    if (dlsym(RTLD_DEFAULT, "JLI_Launch") == NULL &&
        dlsym(RTLD_DEFAULT, "JNI_GetCreatedJavaVMs") == NULL)
        return 0;
    void *p = mmap(NULL, CACHE_SLOTS * sizeof(struct slot), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    cache = p;
    return 1;
}

static size_t slot_hash(uintptr_t method, jlocation loc)
{
    uint64_t h = ((uint64_t)method ^ ((uint64_t)loc * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
    return (size_t)(h >> 40) & (CACHE_SLOTS - 1);
}

static uintptr_t cache_find(jmethodID m, jlocation loc)
{
    size_t i = slot_hash((uintptr_t)m, loc);
    for (unsigned probe = 0; probe < 16; probe++, i = (i + 1) & (CACHE_SLOTS - 1)) {
        uintptr_t got = __atomic_load_n(&cache[i].method, __ATOMIC_ACQUIRE);
        if (got == 0)
            return 0;
        uintptr_t word = __atomic_load_n(&cache[i].word, __ATOMIC_ACQUIRE);
        if (got == (uintptr_t)m && word != 0 && cache[i].location == loc)
            return word;
    }
    return 0;
}

static void cache_add(jmethodID m, jlocation loc, uintptr_t word)
{
    size_t i = slot_hash((uintptr_t)m, loc);
    for (unsigned probe = 0; probe < 16; probe++, i = (i + 1) & (CACHE_SLOTS - 1)) {
        uintptr_t expected = 0;
        if (__atomic_compare_exchange_n(&cache[i].method, &expected, (uintptr_t)m, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            cache[i].location = loc;
            __atomic_store_n(&cache[i].word, word, __ATOMIC_RELEASE);
            return;
        }
    }
    /* a full neighbourhood: resolve again next time */
}

/* "Lcom/acme/Billing;" -> "com.acme.Billing." */
static size_t class_prefix(const char *sig, char *out, size_t len)
{
    size_t n = 0;
    if (sig == NULL || sig[0] != 'L')
        return 0;
    for (const char *c = sig + 1; *c && *c != ';' && n + 2 < len; c++)
        out[n++] = *c == '/' ? '.' : *c;
    out[n++] = '.';
    out[n] = '\0';
    return n;
}

/* The line of location: the line table entry with the largest start
 * location at or before it. */
static int line_of(jvmtiEnv *ti, jmethodID m, jlocation loc)
{
    jint count = 0;
    jvmtiLineNumberEntry *table = NULL;
    int line = 0;
    jlocation best = -1;
    if ((*ti)->GetLineNumberTable(ti, m, &count, &table) != JVMTI_ERROR_NONE)
        return 0;
    for (jint i = 0; i < count; i++)
        if (table[i].start_location <= loc && table[i].start_location > best) {
            best = table[i].start_location;
            line = table[i].line_number;
        }
    (*ti)->Deallocate(ti, (unsigned char *)table);
    return line;
}

static uintptr_t resolve(jvmtiEnv *ti, JNIEnv *jni, jmethodID m, jlocation loc)
{
    char function[512] = "", *name = NULL, *sig = NULL, *file = NULL;
    jclass klass = NULL;
    struct sl_lang_frame lf = { .lang = SL_LANG_JAVA };
    size_t n = 0;

    if ((*ti)->GetMethodDeclaringClass(ti, m, &klass) == JVMTI_ERROR_NONE) {
        if ((*ti)->GetClassSignature(ti, klass, &sig, NULL) == JVMTI_ERROR_NONE)
            n = class_prefix(sig, function, sizeof(function));
        if ((*ti)->GetSourceFileName(ti, klass, &file) != JVMTI_ERROR_NONE)
            file = NULL;
    }
    if ((*ti)->GetMethodName(ti, m, &name, NULL, NULL) == JVMTI_ERROR_NONE && name != NULL)
        strncat(function + n, name, sizeof(function) - n - 1);
    lf.function = function;
    lf.file = file;
    lf.line = loc >= 0 ? line_of(ti, m, loc) : 0;
    uintptr_t word = sl_lang_frame_put(&lf);
    (*ti)->Deallocate(ti, (unsigned char *)name);
    (*ti)->Deallocate(ti, (unsigned char *)sig);
    (*ti)->Deallocate(ti, (unsigned char *)file);
    if (klass != NULL)
        (*jni)->DeleteLocalRef(jni, klass);
    return word;
}

/* One JVMTI environment for the process, made by the first Java thread
 * that creates a socket in the live phase. */
static jvmtiEnv *get_jvmti(JavaVM *vm)
{
    int state = __atomic_load_n(&jv.jvmti_state, __ATOMIC_ACQUIRE);
    if (state == 2)
        return jv.jvmti;
    if (state != 0 || !__atomic_compare_exchange_n(&jv.jvmti_state, &state, 1, 0,
                                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return NULL;
    jvmtiEnv *ti = NULL;
    jvmtiCapabilities caps;
    memset(&caps, 0, sizeof(caps));
    caps.can_get_line_numbers = 1;
    caps.can_get_source_file_name = 1;
    if ((*vm)->GetEnv(vm, (void **)&ti, JVMTI_VERSION_1_2) != JNI_OK || ti == NULL) {
        __atomic_store_n(&jv.jvmti_state, 3, __ATOMIC_RELEASE);
        return NULL;
    }
    /* Without these we still get class.method; lines and files are 0/NULL. */
    (*ti)->AddCapabilities(ti, &caps);
    jv.jvmti = ti;
    __atomic_store_n(&jv.jvmti_state, 2, __ATOMIC_RELEASE);
    return ti;
}

/* The thread's JNIEnv if it is a Java thread that may call JVMTI now:
 * not the VM's own (Attach Listener, JDWP: the caller is inside libjvm,
 * where a JVMTI call breaks the thread state), attached, in the live phase. */
static JNIEnv *java_thread(const uintptr_t *pcs, unsigned n, JavaVM **vm_out, jvmtiEnv **ti_out)
{
    JavaVM *vm = NULL;
    JNIEnv *jni = NULL;
    jsize nvms = 0;
    jvmtiPhase phase;
    if (jv.get_vms == NULL) {
        get_vms_fn fn;
        *(void **)&fn = dlsym(RTLD_DEFAULT, "JNI_GetCreatedJavaVMs");
        if (fn == NULL || (jv.jvm = sl_lang_object_of((uintptr_t)fn)) == NULL)
            return NULL;     /* the VM is not loaded yet */
        jv.get_vms = fn;
    }
    if (n == 0 || sl_lang_object_of(pcs[0]) == jv.jvm)
        return NULL;
    if (jv.get_vms(&vm, 1, &nvms) != JNI_OK || nvms < 1 || vm == NULL)
        return NULL;
    if ((*vm)->GetEnv(vm, (void **)&jni, JNI_VERSION_1_6) != JNI_OK || jni == NULL)
        return NULL;         /* JNI_EDETACHED: not a Java thread */
    jvmtiEnv *ti = get_jvmti(vm);
    if (ti == NULL || (*ti)->GetPhase(ti, &phase) != JVMTI_ERROR_NONE ||
        phase != JVMTI_PHASE_LIVE)
        return NULL;
    *vm_out = vm;
    *ti_out = ti;
    return jni;
}

unsigned sl_lang_java_capture(const uintptr_t *pcs, unsigned *n, uintptr_t *lang, unsigned max)
{
    JavaVM *vm;
    jvmtiEnv *ti;
    jvmtiFrameInfo frames[JAVA_DEPTH];
    jint count = 0;
    JNIEnv *jni = java_thread(pcs, *n, &vm, &ti);
    if (jni == NULL ||
        (*ti)->GetStackTrace(ti, NULL, 0, JAVA_DEPTH, frames, &count) != JVMTI_ERROR_NONE ||
        count <= 0)
        return 0;
    unsigned k = 0;
    for (jint i = 0; i < count && k < max; i++) {
        uintptr_t word = cache_find(frames[i].method, frames[i].location);
        if (word == 0) {
            word = resolve(ti, jni, frames[i].method, frames[i].location);
            if (word != 0)
                cache_add(frames[i].method, frames[i].location, word);
        }
        if (word != 0)
            lang[k++] = word;
    }
    if (k > 0)
        *n = sl_lang_native_before_jit(pcs, *n);   /* Java_sun_nio_ch_Net_socket0 ... */
    return k;
}

#endif
