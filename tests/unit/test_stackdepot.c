/* test_stackdepot.c -- unit tests of the creation-stack store (shim/stackdepot.c). */

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stackdepot.h"

#define NTHREADS 16
#define NSTACKS  600

/* Keep x alive after a call so the call is not a tail jump. */
#define KEEP(x) __asm__ volatile("" : "+r"(x))

static int group_setup(void **state)
{
    (void)state;
    sl_stack_init();
    return 0;
}

/* Storing the same frames twice gives the same id; get returns them. */
static void test_stackdepot_identical_stacks_same_id(void **state)
{
    uintptr_t a[] = { 0x401000, 0x402000, 0x403000 };
    uintptr_t copy[] = { 0x401000, 0x402000, 0x403000 };
    const uintptr_t *got;
    (void)state;

    uint32_t id = sl_stack_put(a, 3);
    assert_int_not_equal(id, 0);
    assert_int_equal(sl_stack_put(copy, 3), id);
    assert_int_equal(sl_stack_get(id, &got), 3);
    assert_non_null(got);
    assert_memory_equal(got, a, sizeof(a));
}

/* Stacks that differ in one frame, in length, or in order get different
 * ids, each returning its own frames. */
static void test_stackdepot_different_stacks_different_ids(void **state)
{
    uintptr_t base[] = { 0x501000, 0x502000, 0x503000 };
    uintptr_t other_frame[] = { 0x501000, 0x502000, 0x503008 };
    uintptr_t swapped[] = { 0x502000, 0x501000, 0x503000 };
    const uintptr_t *got;
    (void)state;

    uint32_t ids[] = {
        sl_stack_put(base, 3), sl_stack_put(other_frame, 3),
        sl_stack_put(swapped, 3), sl_stack_put(base, 2), sl_stack_put(base, 1),
    };
    for (size_t i = 0; i < 5; i++) {
        assert_int_not_equal(ids[i], 0);
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(ids[i], ids[j]);
    }
    assert_int_equal(sl_stack_get(ids[1], &got), 3);
    assert_memory_equal(got, other_frame, sizeof(other_frame));
    assert_int_equal(sl_stack_get(ids[3], &got), 2);
    assert_memory_equal(got, base, 2 * sizeof(uintptr_t));
}

/* Unknown ids (0, or past everything stored) have no frames. */
static void test_stackdepot_unknown_id_empty(void **state)
{
    const uintptr_t *got = (const uintptr_t *)1;
    (void)state;
    assert_int_equal(sl_stack_get(0, &got), 0);
    assert_null(got);
    got = (const uintptr_t *)1;
    assert_int_equal(sl_stack_get(0x7fffffff, &got), 0);
    assert_null(got);
}

/* A stack longer than SL_STACK_MAX is stored cut to SL_STACK_MAX frames. */
static void test_stackdepot_long_stack_truncated(void **state)
{
    uintptr_t pcs[SL_STACK_MAX + 10];
    const uintptr_t *got;
    (void)state;
    for (unsigned i = 0; i < SL_STACK_MAX + 10; i++)
        pcs[i] = 0x600000 + i * 16;
    uint32_t id = sl_stack_put(pcs, SL_STACK_MAX + 10);
    assert_int_not_equal(id, 0);
    assert_int_equal(sl_stack_get(id, &got), SL_STACK_MAX);
    assert_memory_equal(got, pcs, SL_STACK_MAX * sizeof(uintptr_t));
    assert_int_equal(sl_stack_put(pcs, SL_STACK_MAX), id);
}

/* ---- concurrency ---- */

struct putter {
    pthread_t thread;
    unsigned index;
    pthread_barrier_t *start;
    uint32_t ids[NSTACKS];
};

/* Stack k of the concurrent test: 1 to 8 frames, unique to this test. */
static unsigned make_stack(unsigned k, uintptr_t *pcs)
{
    unsigned n = 1 + k % 8;
    for (unsigned i = 0; i < n; i++)
        pcs[i] = 0x7e0000000000u + (uintptr_t)k * 0x1000 + i * 8;
    return n;
}

static void *put_all(void *arg)
{
    struct putter *p = arg;
    uintptr_t pcs[8];
    pthread_barrier_wait(p->start);
    /* Each thread walks the stacks from a different point, twice. */
    for (unsigned round = 0; round < 2; round++)
        for (unsigned i = 0; i < NSTACKS; i++) {
            unsigned k = (i + p->index * 37) % NSTACKS;
            uint32_t id = sl_stack_put(pcs, make_stack(k, pcs));
            if (round == 0 || p->ids[k] != id)
                p->ids[k] = round == 0 ? id : 0;   /* 0 marks an unstable id */
        }
    return NULL;
}

/* 16 threads storing the same stacks at once all get the same id for each
 * stack, distinct stacks get distinct ids, and each stack is stored once
 * (sl_stack_count grows by exactly the number of distinct stacks). */
static void test_stackdepot_concurrent_puts_consistent(void **state)
{
    static struct putter p[NTHREADS];
    pthread_barrier_t start;
    uintptr_t pcs[8];
    const uintptr_t *got;
    (void)state;

    unsigned before = sl_stack_count();
    pthread_barrier_init(&start, NULL, NTHREADS);
    for (unsigned t = 0; t < NTHREADS; t++) {
        p[t].index = t;
        p[t].start = &start;
        assert_int_equal(pthread_create(&p[t].thread, NULL, put_all, &p[t]), 0);
    }
    for (unsigned t = 0; t < NTHREADS; t++)
        pthread_join(p[t].thread, NULL);
    pthread_barrier_destroy(&start);

    assert_int_equal(sl_stack_count() - before, NSTACKS);
    uint32_t *sorted = malloc(NSTACKS * sizeof(*sorted));
    assert_non_null(sorted);
    for (unsigned k = 0; k < NSTACKS; k++) {
        assert_int_not_equal(p[0].ids[k], 0);
        for (unsigned t = 1; t < NTHREADS; t++)
            assert_int_equal(p[t].ids[k], p[0].ids[k]);
        unsigned n = make_stack(k, pcs);
        assert_int_equal(sl_stack_get(p[0].ids[k], &got), n);
        assert_memory_equal(got, pcs, n * sizeof(uintptr_t));
        assert_int_equal(sl_stack_put(pcs, n), p[0].ids[k]);
        sorted[k] = p[0].ids[k];
    }
    for (unsigned k = 0; k < NSTACKS; k++)
        for (unsigned j = 0; j < k; j++)
            assert_int_not_equal(sorted[k], sorted[j]);
    free(sorted);
}

/* ---- capture ----
 * The runtime is linked into this test executable, and sl_stack_capture
 * drops the leading frames that lie in the module holding the runtime (in
 * production: libsockleak.so). Here that module is the test executable, so
 * captures go through qsort: the comparator's frames are dropped as "shim"
 * frames, libc's qsort frames stop the skipping, and the frames of the
 * functions below are kept, as a program's frames are under the shim. */

static uint32_t captured;

static int capture_cmp(const void *a, const void *b)
{
    if (captured == 0)
        captured = sl_stack_capture(SL_STACK_MAX);
    return *(const int *)a - *(const int *)b;
}

/* Capture a stack whose frames below libc are this function's caller's;
 * *ret is this function's return address (inside the caller). */
static __attribute__((noinline, noclone)) uint32_t capture_through_libc(uintptr_t *ret)
{
    int two[2] = { 2, 1 };
    captured = 0;
    qsort(two, 2, sizeof(int), capture_cmp);
    *ret = (uintptr_t)__builtin_return_address(0);
    uint32_t id = captured;
    KEEP(id);
    return id;
}

static int stack_contains(uint32_t id, uintptr_t pc)
{
    const uintptr_t *pcs;
    unsigned n = sl_stack_get(id, &pcs);
    for (unsigned i = 0; i < n; i++)
        if (pcs[i] == pc)
            return 1;
    return 0;
}

/* A captured stack holds the return address into the function that made
 * the call (this test), within its code. */
static void test_stackdepot_capture_contains_caller(void **state)
{
    uintptr_t ret = 0;
    (void)state;
    uint32_t id = capture_through_libc(&ret);
    KEEP(id);
    assert_int_not_equal(id, 0);
    assert_int_not_equal(ret, 0);
    assert_true(stack_contains(id, ret));
    /* The return address lies between this function's start and its end. */
    assert_true(ret > (uintptr_t)&test_stackdepot_capture_contains_caller);
}

/* The same call site captured twice gives one id; two call sites give two. */
static void test_stackdepot_capture_call_sites(void **state)
{
    uintptr_t ret[3];
    uint32_t id[3];
    int reps = 2;
    (void)state;
    KEEP(reps);              /* an unknown bound: the loop is not unrolled */
    for (int i = 0; i < reps && i < 2; i++) {
        id[i] = capture_through_libc(&ret[i]);
        KEEP(id[i]);
    }
    id[2] = capture_through_libc(&ret[2]);
    KEEP(id[2]);

    assert_int_not_equal(id[0], 0);
    assert_int_not_equal(id[2], 0);
    assert_true(ret[0] == ret[1]);
    assert_true(ret[0] != ret[2]);
    assert_int_equal(id[0], id[1]);
    assert_int_not_equal(id[0], id[2]);
    assert_true(stack_contains(id[0], ret[0]));
    assert_true(stack_contains(id[2], ret[2]));
}

/* depth limits the number of frames kept. */
static void test_stackdepot_capture_depth_limit(void **state)
{
    const uintptr_t *pcs;
    (void)state;
    uint32_t id = sl_stack_capture(2);
    assert_int_not_equal(id, 0);
    unsigned n = sl_stack_get(id, &pcs);
    assert_true(n >= 1 && n <= 2);
}

/* Two call sites of the same shape: their unwind starts at the same stack
 * address (the remembered-stack key), so only the return addresses tell
 * them apart. Three frames are kept: the loop calling these may be
 * compiled into several copies of its call. */
#define KEPT 3

static __attribute__((noinline)) unsigned unwind_from_a(uintptr_t *pcs)
{
    unsigned n = sl_stack_unwind(pcs, KEPT);
    KEEP(n);
    return n;
}

static __attribute__((noinline)) unsigned unwind_from_b(uintptr_t *pcs)
{
    __asm__ volatile("nop");    /* not folded into unwind_from_a */
    unsigned n = sl_stack_unwind(pcs, KEPT);
    KEEP(n);
    return n;
}

static __attribute__((noinline)) unsigned unwind_nested(uintptr_t *pcs, int depth)
{
    unsigned n = depth > 0 ? unwind_nested(pcs, depth - 1) : sl_stack_unwind(pcs, KEPT);
    KEEP(n);
    return n;
}

static __attribute__((noinline)) unsigned unwind_at(int which, uintptr_t *pcs, int site)
{
    KEEP(site);
    unsigned n = which == 0 ? unwind_from_a(pcs)
               : which == 1 ? unwind_from_b(pcs) : unwind_nested(pcs, 1);
    KEEP(n);
    return n;
}

/* Two sites calling unwind_at with the same stack: the third frame differs. */
static __attribute__((noinline)) unsigned unwind_via(int which, int site, uintptr_t *pcs)
{
    unsigned n;
    if (site == 0)
        n = unwind_at(which, pcs, 10);
    else
        n = unwind_at(which, pcs, 20);
    KEEP(n);
    return n;
}

/* Two stacks that take turns at one place (a program's socket() and
 * accept() called from frames of the same depth) are each walked twice,
 * then remembered: never once a socket. Each pair of the four stacks at
 * unwind_at's depth runs in a child of its own, where nothing is
 * remembered yet. */
static void test_stackdepot_stacks_taking_turns_are_remembered(void **state)
{
    (void)state;
    for (int x = 0; x < 4; x++) {
        for (int y = x + 1; y < 4; y++) {
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                uintptr_t pcs[SL_STACK_MAX];
                unsigned before = sl_stack_walks();
                for (int i = 0; i < 200; i++) {
                    int k = i % 2 ? y : x;
                    unwind_via(k % 2, k / 2, pcs);
                }
                _exit((int)(sl_stack_walks() - before));
            }
            int st;
            assert_int_equal(waitpid(pid, &st, 0), pid);
            assert_true(WIFEXITED(st));
            print_message("stacks %d and %d taking turns 200 times: %d walks\n",
                          x, y, WEXITSTATUS(st));
            assert_true(WEXITSTATUS(st) <= 4);
        }
    }
}

/* Called again and again from the same places (where the shim remembers a
 * stack instead of unwinding it), every unwind gives what the first, real
 * unwind gave at that place, and the places never mix up. */
static void check_repeated_unwinds(void)
{
    uintptr_t first[6][SL_STACK_MAX], pcs[SL_STACK_MAX];
    unsigned nfirst[6] = { 0 };
    for (int i = 0; i < 300; i++) {
        int k = i < 6 ? i : (i * 7) % 6, which = k % 3, site = k / 3;
        unsigned n = unwind_via(which, site, pcs);
        if (i < 6) {                       /* the first, real unwinds */
            nfirst[k] = n;
            memcpy(first[k], pcs, n * sizeof(*pcs));
            continue;
        }
        assert_int_equal(n, nfirst[k]);
        assert_memory_equal(pcs, first[k], n * sizeof(*pcs));
    }
    for (int k = 0; k < 6; k++)
        assert_int_equal(nfirst[k], KEPT);
    assert_true(first[0][0] != first[1][0]);        /* a's frame is not b's */
    assert_true(first[0][2] != first[3][2]);        /* site 0 is not site 1 */
}

static void test_stackdepot_remembered_stacks_match_the_real_unwind(void **state)
{
    (void)state;
    check_repeated_unwinds();
}

static void *repeated_unwinds_thread(void *arg)
{
    (void)arg;
    check_repeated_unwinds();
    return NULL;
}

/* The same from 8 threads at once (each its own stack; the remembered
 * stacks are shared). */
static void test_stackdepot_remembered_stacks_threads(void **state)
{
    pthread_t t[8];
    (void)state;
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, repeated_unwinds_thread, NULL), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
}

/* sl_stack_capture from places of the same shape: once a place's stack is
 * remembered, a capture there answers with the depot id its first capture
 * stored, without looking the frames up again. */
static __attribute__((noinline)) uint32_t capture_from_a(void)
{
    uint32_t id = sl_stack_capture(KEPT);
    KEEP(id);
    return id;
}

static __attribute__((noinline)) uint32_t capture_from_b(void)
{
    __asm__ volatile("nop");    /* not folded into capture_from_a */
    uint32_t id = sl_stack_capture(KEPT);
    KEEP(id);
    return id;
}

static __attribute__((noinline)) uint32_t capture_at(int which, int site)
{
    KEEP(site);
    uint32_t id = which == 0 ? capture_from_a() : capture_from_b();
    KEEP(id);
    return id;
}

static __attribute__((noinline)) uint32_t capture_via(int which, int site)
{
    uint32_t id = site == 0 ? capture_at(which, 10) : capture_at(which, 20);
    KEEP(id);
    return id;
}

static uint32_t first_capture[4];

/* Every capture at place k gives first_capture[k], and its frames are
 * what a real unwind at that place gives. */
static void check_repeated_captures(void)
{
    for (int i = 0; i < 400; i++) {
        int k = (i * 3) % 4;
        assert_int_equal(capture_via(k % 2, k / 2), first_capture[k]);
    }
}

static void *repeated_captures_thread(void *arg)
{
    (void)arg;
    check_repeated_captures();
    return NULL;
}

static void test_stackdepot_remembered_capture_gives_the_stored_id(void **state)
{
    uintptr_t want[SL_STACK_MAX];
    const uintptr_t *got;
    pthread_t t[8];
    (void)state;
    for (int k = 0; k < 4; k++)
        first_capture[k] = capture_via(k % 2, k / 2);
    for (int k = 0; k < 4; k++) {
        assert_int_not_equal(first_capture[k], 0);
        for (int j = 0; j < k; j++)
            assert_int_not_equal(first_capture[k], first_capture[j]);
    }
    unsigned stored = sl_stack_count(), walks = sl_stack_walks(), lookups = sl_stack_lookups();
    check_repeated_captures();
    /* each place walked twice at most (seen, then remembered), and looked
     * up in the depot three times at most (the two walks and the first
     * remembered capture, which keeps the id): 400 before ids were kept */
    print_message("400 captures at 4 places: %u walks, %u depot lookups\n",
                  sl_stack_walks() - walks, sl_stack_lookups() - lookups);
    assert_true(sl_stack_walks() - walks <= 8);
    assert_true(sl_stack_lookups() - lookups <= 12);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, repeated_captures_thread, NULL), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(sl_stack_count(), stored);
    /* and the stored frames are the place's: the same as a real unwind */
    for (int k = 0; k < 4; k++) {
        unsigned n = sl_stack_get(first_capture[k], &got);
        assert_int_equal(n, KEPT);
        assert_true(got[0] != 0);
    }
    unsigned n = unwind_via(0, 0, want);
    unsigned m = sl_stack_get(first_capture[0], &got);
    assert_int_equal(n, m);
    /* frame 0 differs (unwind_from_a vs capture_from_a); the callers'
     * places do not line up either: compare the two sites' difference */
    assert_true(got[2] != 0 && want[2] != 0);
    const uintptr_t *got1;
    sl_stack_get(first_capture[2], &got1);          /* a, site 1 */
    assert_true(got[0] == got1[0] && got[2] != got1[2]);
}

/* A language frame is stored once: the same frame gives the same word,
 * which reads back as stored; a stack of language frames then native pcs
 * is deduplicated like any other. */
static void test_stackdepot_lang_frames_stored_once(void **state)
{
    struct sl_lang_frame f = { SL_LANG_PYTHON, "Billing.charge", "/app/billing.py", 41, 0 };
    struct sl_lang_frame g = f, got;
    uintptr_t native[] = { 0x601000, 0x602000 };
    const uintptr_t *pcs;
    (void)state;

    uintptr_t w = sl_lang_frame_put(&f);
    assert_true(sl_is_lang_frame(w));
    assert_int_equal(sl_lang_frame_put(&g), w);
    g.line = 42;
    uintptr_t w42 = sl_lang_frame_put(&g);
    assert_int_not_equal(w42, w);
    g.line = 41;
    g.lang = SL_LANG_JAVA;
    assert_int_not_equal(sl_lang_frame_put(&g), w);

    assert_int_equal(sl_lang_frame_get(w, &got), 1);
    assert_int_equal(got.lang, SL_LANG_PYTHON);
    assert_string_equal(got.function, "Billing.charge");
    assert_string_equal(got.file, "/app/billing.py");
    assert_int_equal(got.line, 41);
    assert_string_equal(sl_lang_name(got.lang), "python");
    assert_int_equal(sl_lang_frame_get(native[0], &got), 0);

    uint32_t a = sl_stack_put2(&w, 1, native, 2), b = sl_stack_put2(&w, 1, native, 2);
    assert_int_not_equal(a, 0);
    assert_int_equal(a, b);
    assert_int_not_equal(sl_stack_put2(&w42, 1, native, 2), a);
    assert_int_equal(sl_stack_get(a, &pcs), 3);
    assert_int_equal(pcs[0], w);
    assert_int_equal(pcs[1], native[0]);
}

/* A frame without a file keeps file NULL; overlong names are cut, not
 * refused. */
static void test_stackdepot_lang_frame_no_file_long_name(void **state)
{
    char longname[3000];
    struct sl_lang_frame f = { SL_LANG_JS, NULL, NULL, 0, 0 }, got;
    (void)state;
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    f.function = longname;
    uintptr_t w = sl_lang_frame_put(&f);
    assert_int_equal(sl_lang_frame_get(w, &got), 1);
    assert_null(got.file);
    assert_int_equal(strlen(got.function), SL_LANG_STR_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stackdepot_identical_stacks_same_id),
        cmocka_unit_test(test_stackdepot_different_stacks_different_ids),
        cmocka_unit_test(test_stackdepot_unknown_id_empty),
        cmocka_unit_test(test_stackdepot_long_stack_truncated),
        cmocka_unit_test(test_stackdepot_concurrent_puts_consistent),
        cmocka_unit_test(test_stackdepot_capture_contains_caller),
        cmocka_unit_test(test_stackdepot_capture_call_sites),
        cmocka_unit_test(test_stackdepot_capture_depth_limit),
        cmocka_unit_test(test_stackdepot_stacks_taking_turns_are_remembered),
        cmocka_unit_test(test_stackdepot_remembered_stacks_match_the_real_unwind),
        cmocka_unit_test(test_stackdepot_remembered_stacks_threads),
        cmocka_unit_test(test_stackdepot_remembered_capture_gives_the_stored_id),
        cmocka_unit_test(test_stackdepot_lang_frames_stored_once),
        cmocka_unit_test(test_stackdepot_lang_frame_no_file_long_name),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
