/* test_fdtable.c -- unit tests of the two-level fd table (shim/fdtable.c). */

#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fdtable.h"

#define TABLE_FDS   (1u << 20)
#define NTHREADS    16
#define OPS         20000
#define NSHARED     64                    /* fds every thread writes */
#define NOWN        128                   /* fds only one thread writes */
#define SHARED_BASE (40 * SL_FD_CHUNK + 100)  /* chunks no other test touches */
#define OWN_BASE    (41 * SL_FD_CHUNK - 300)  /* own ranges straddle a chunk edge */

static int group_setup(void **state)
{
    (void)state;
    return sl_fdtable_init(TABLE_FDS);
}

static int clear_table(void **state)
{
    (void)state;
    sl_fdtable_clear();
    return 0;
}

struct visit {
    int fds[64];
    uint32_t ids[64];
    int n;
};

static void record_visit(int fd, uint32_t id, void *arg)
{
    struct visit *v = arg;
    if (v->n < 64) {
        v->fds[v->n] = fd;
        v->ids[v->n] = id;
    }
    v->n++;
}

static int count_entries(void)
{
    struct visit v = { .n = 0 };
    sl_fd_foreach(0, ~0u, record_visit, &v);
    return v.n;
}

/* A table with nothing stored answers 0 for any fd and holds no entries. */
static void test_fdtable_empty_get_is_zero(void **state)
{
    (void)state;
    assert_true(sl_fdtable_capacity() >= TABLE_FDS);
    assert_int_equal(sl_fd_get(0), 0);
    assert_int_equal(sl_fd_get(3), 0);
    assert_int_equal(sl_fd_get((int)sl_fdtable_capacity() - 1), 0);
    assert_int_equal(sl_fd_take(7), 0);
    assert_int_equal(count_entries(), 0);
}

/* set returns the previous id, get sees the latest, take returns it and
 * leaves the slot empty. */
static void test_fdtable_set_get_take_round_trip(void **state)
{
    (void)state;
    assert_int_equal(sl_fd_set(5, 11), 0);
    assert_int_equal(sl_fd_get(5), 11);
    assert_int_equal(sl_fd_set(5, 12), 11);
    assert_int_equal(sl_fd_get(5), 12);
    assert_int_equal(sl_fd_get(4), 0);
    assert_int_equal(sl_fd_get(6), 0);
    assert_int_equal(sl_fd_take(5), 12);
    assert_int_equal(sl_fd_get(5), 0);
    assert_int_equal(sl_fd_take(5), 0);
    assert_int_equal(count_entries(), 0);
}

/* Negative fds and fds at or beyond the capacity are ignored: nothing is
 * stored, nothing crashes, and in-range neighbours are untouched. */
static void test_fdtable_out_of_range_ignored(void **state)
{
    int cap = (int)sl_fdtable_capacity();
    (void)state;
    assert_int_equal(sl_fd_set(cap - 1, 77), 0);
    int bad[] = { -1, -4096, INT_MIN, cap, cap + 1, cap + SL_FD_CHUNK, INT_MAX };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sl_fd_set(bad[i], 99), 0);
        assert_int_equal(sl_fd_get(bad[i]), 0);
        assert_int_equal(sl_fd_take(bad[i]), 0);
    }
    assert_int_equal(sl_fd_get(cap - 1), 77);
    assert_int_equal(count_entries(), 1);
    /* A range reaching past the end is clamped, not overrun. */
    struct visit v = { .n = 0 };
    sl_fd_foreach((unsigned)cap - 10, ~0u, record_visit, &v);
    assert_int_equal(v.n, 1);
    assert_int_equal(v.fds[0], cap - 1);
}

/* Chunks are allocated on first use: fds far apart (first chunk, a middle
 * one, the last one) can all be stored and read back independently. */
static void test_fdtable_lazy_chunks_far_apart(void **state)
{
    int cap = (int)sl_fdtable_capacity();
    int fds[] = { 1, SL_FD_CHUNK - 1, SL_FD_CHUNK, 100 * SL_FD_CHUNK + 17, cap - 1 };
    size_t n = sizeof(fds) / sizeof(fds[0]);
    (void)state;
    /* Reading a never-touched chunk must not allocate or fault. */
    assert_int_equal(sl_fd_get(200 * SL_FD_CHUNK + 5), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sl_fd_set(fds[i], (uint32_t)(1000 + i)), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sl_fd_get(fds[i]), 1000 + i);
    assert_int_equal(sl_fd_get(SL_FD_CHUNK + 1), 0);
    assert_int_equal(sl_fd_get(100 * SL_FD_CHUNK + 16), 0);
    assert_int_equal(count_entries(), (int)n);
}

/* foreach visits exactly the fds with an entry inside [first, last], each
 * once, in ascending order, with its current id. */
static void test_fdtable_foreach_visits_set_entries_in_order(void **state)
{
    int fds[] = { 0, 2, 9, SL_FD_CHUNK - 1, SL_FD_CHUNK, 3 * SL_FD_CHUNK + 5,
                  9 * SL_FD_CHUNK };
    size_t n = sizeof(fds) / sizeof(fds[0]);
    (void)state;
    for (size_t i = n; i-- > 0;)      /* stored in reverse: order comes from the table */
        sl_fd_set(fds[i], (uint32_t)(500 + fds[i]));

    struct visit v = { .n = 0 };
    sl_fd_foreach(0, ~0u, record_visit, &v);
    assert_int_equal(v.n, (int)n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v.fds[i], fds[i]);
        assert_int_equal(v.ids[i], 500 + fds[i]);
    }

    /* Bounds are inclusive and may fall inside chunks. */
    memset(&v, 0, sizeof(v));
    sl_fd_foreach(2, SL_FD_CHUNK, record_visit, &v);
    assert_int_equal(v.n, 4);
    assert_int_equal(v.fds[0], 2);
    assert_int_equal(v.fds[1], 9);
    assert_int_equal(v.fds[2], SL_FD_CHUNK - 1);
    assert_int_equal(v.fds[3], SL_FD_CHUNK);

    memset(&v, 0, sizeof(v));
    sl_fd_foreach(3, SL_FD_CHUNK - 2, record_visit, &v);
    assert_int_equal(v.n, 1);
    assert_int_equal(v.fds[0], 9);

    memset(&v, 0, sizeof(v));
    sl_fd_foreach(SL_FD_CHUNK + 1, 3 * SL_FD_CHUNK + 4, record_visit, &v);
    assert_int_equal(v.n, 0);

    memset(&v, 0, sizeof(v));
    sl_fd_foreach(9, 9, record_visit, &v);
    assert_int_equal(v.n, 1);
    assert_int_equal(v.fds[0], 9);

    memset(&v, 0, sizeof(v));
    sl_fd_foreach(10, 9, record_visit, &v);       /* empty range */
    assert_int_equal(v.n, 0);

    /* A taken entry is no longer visited. */
    sl_fd_take(9);
    memset(&v, 0, sizeof(v));
    sl_fd_foreach(0, ~0u, record_visit, &v);
    assert_int_equal(v.n, (int)n - 1);
    assert_int_equal(v.fds[2], SL_FD_CHUNK - 1);
}

/* ---- concurrency ---- */

struct worker {
    pthread_t thread;
    unsigned index;
    pthread_barrier_t *start;
    uint64_t written_sum, returned_sum;       /* over the shared fds */
    unsigned written, returned;
    uint32_t last_shared[NSHARED];            /* this thread's last write (0: take) */
    uint32_t last_own[NOWN];
    int own_mismatch;                         /* own fds: exchange returned a stranger */
};

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void *hammer(void *arg)
{
    struct worker *w = arg;
    uint32_t rnd = 2463534242u + w->index * 7919u, seq = 0;
    int own_base = OWN_BASE + (int)w->index * NOWN;

    pthread_barrier_wait(w->start);
    for (int op = 0; op < OPS; op++) {
        uint32_t r = xorshift(&rnd);
        int shared = r & 1;
        int slot = (int)((r >> 1) % (shared ? NSHARED : NOWN));
        int fd = shared ? SHARED_BASE + slot : own_base + slot;
        uint32_t *last = shared ? &w->last_shared[slot] : &w->last_own[slot];
        uint32_t prev;
        if ((r >> 20) % 3 == 0) {
            prev = sl_fd_take(fd);
            if (!shared && prev != *last)
                w->own_mismatch = 1;
            *last = 0;
        } else {
            /* Unique value per write: thread in the top bits. */
            uint32_t v = (w->index + 1) << 24 | ++seq;
            prev = sl_fd_set(fd, v);
            if (!shared && prev != *last)
                w->own_mismatch = 1;
            *last = v;
            if (shared) {
                w->written++;
                w->written_sum += v;
            }
        }
        if (shared && prev != 0) {
            w->returned++;
            w->returned_sum += prev;
        }
    }
    return NULL;
}

/* 16 threads setting and taking fds, some private to one thread, some
 * shared by all, in chunks none of them allocated yet: every private fd
 * ends with its owner's last write; every shared fd ends with the last
 * write of some thread; and every value ever written to a shared fd is seen
 * exactly once (returned by a later set/take, or still stored), so no
 * write was lost or duplicated. */
static void test_fdtable_concurrent_set_take_consistent(void **state)
{
    static struct worker w[NTHREADS];
    pthread_barrier_t start;
    uint64_t written_sum = 0, seen_sum = 0;
    unsigned written = 0, seen = 0;
    (void)state;

    memset(w, 0, sizeof(w));
    pthread_barrier_init(&start, NULL, NTHREADS);
    for (unsigned t = 0; t < NTHREADS; t++) {
        w[t].index = t;
        w[t].start = &start;
        assert_int_equal(pthread_create(&w[t].thread, NULL, hammer, &w[t]), 0);
    }
    for (unsigned t = 0; t < NTHREADS; t++)
        pthread_join(w[t].thread, NULL);
    pthread_barrier_destroy(&start);

    for (unsigned t = 0; t < NTHREADS; t++) {
        assert_false(w[t].own_mismatch);
        for (int i = 0; i < NOWN; i++)
            assert_int_equal(sl_fd_get(OWN_BASE + (int)t * NOWN + i), w[t].last_own[i]);
        written += w[t].written;
        written_sum += w[t].written_sum;
        seen += w[t].returned;
        seen_sum += w[t].returned_sum;
    }
    for (int i = 0; i < NSHARED; i++) {
        uint32_t v = sl_fd_get(SHARED_BASE + i);
        int someones_last = 0;
        for (unsigned t = 0; t < NTHREADS; t++)
            if (w[t].last_shared[i] == v)
                someones_last = 1;
        assert_true(someones_last);
        if (v != 0) {
            seen++;
            seen_sum += v;
        }
    }
    assert_int_equal(seen, written);
    assert_true(seen_sum == written_sum);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fdtable_empty_get_is_zero, clear_table, clear_table),
        cmocka_unit_test_setup_teardown(test_fdtable_set_get_take_round_trip, clear_table, clear_table),
        cmocka_unit_test_setup_teardown(test_fdtable_out_of_range_ignored, clear_table, clear_table),
        cmocka_unit_test_setup_teardown(test_fdtable_lazy_chunks_far_apart, clear_table, clear_table),
        cmocka_unit_test_setup_teardown(test_fdtable_foreach_visits_set_entries_in_order,
                                        clear_table, clear_table),
        cmocka_unit_test_setup_teardown(test_fdtable_concurrent_set_take_consistent,
                                        clear_table, clear_table),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
