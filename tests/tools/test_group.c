/* test_group.c -- fingerprints and grouping of leaks across processes. */
#include "fixtures.h"

static struct slt_leak one(const char *text, struct slt_report *r) {
    slt_report_init(r);
    feed(r, "t", text);
    assert_int_equal(r->nleaks, 1);
    return r->leaks[0];
}

/* ASLR (pc), the module's path and libc's frames do not change a fingerprint. */
static void test_group_fingerprint_stable(void **state) {
    (void)state;
    struct slt_report r1, r2;
    char *a = leak_line(100, 3, "close_wait", "db_connect", "/build1/app");
    char *b = leak_line(200, 3, "close_wait", "db_connect", "/other/dir/app2");
    struct slt_leak la = one(a, &r1), lb = one(b, &r2);
    assert_true(la.frames[0].pc && strcmp(la.frames[0].pc, lb.frames[0].pc));
    assert_true(slt_fingerprint(&la) == slt_fingerprint(&lb));
    slt_report_free(&r1); slt_report_free(&r2); free(a); free(b);
}

/* A different function or kind is a different fingerprint. */
static void test_group_fingerprint_differs(void **state) {
    (void)state;
    struct slt_report r1, r2, r3;
    char *a = leak_line(1, 3, "close_wait", "db_connect", "/app");
    char *b = leak_line(1, 3, "close_wait", "cache_connect", "/app");
    char *c = leak_line(1, 3, "open_at_exit", "db_connect", "/app");
    struct slt_leak la = one(a, &r1), lb = one(b, &r2), lc = one(c, &r3);
    assert_true(slt_fingerprint(&la) != slt_fingerprint(&lb));
    assert_true(slt_fingerprint(&la) != slt_fingerprint(&lc));
    char hex[17];
    slt_fingerprint_hex(slt_fingerprint(&la), hex);
    assert_int_equal(strlen(hex), 16);
    slt_report_free(&r1); slt_report_free(&r2); slt_report_free(&r3);
    free(a); free(b); free(c);
}

/* The headline names the innermost own frame, then its callers up to main. */
static void test_group_where(void **state) {
    (void)state;
    struct slt_report r;
    char where[256];
    char *a = leak_line(1, 3, "close_wait", "db_connect", "/app");
    struct slt_leak l = one(a, &r);
    slt_leak_where(&l, where, sizeof(where));
    assert_string_equal(where, "db_connect (client.c:42) <- main");
    slt_report_free(&r); free(a);
}

/* libc and the shim are never "the program's own code". */
static void test_group_system_frames(void **state) {
    (void)state;
    struct slt_frame libc = { .module = "/lib/x86_64-linux-gnu/libc.so.6" },
                     ld = { .module = "/lib64/ld-linux-x86-64.so.2" },
                     shim = { .module = "/work/main/build/libsockleak.so" },
                     app = { .module = "/usr/bin/curl" }, none = { 0 };
    assert_true(slt_frame_is_system(&libc));
    assert_true(slt_frame_is_system(&ld));
    assert_true(slt_frame_is_system(&shim));
    assert_false(slt_frame_is_system(&app));
    assert_false(slt_frame_is_system(&none));
}

/* Same stack in two processes: one group, two processes; groups sorted
 * close_wait first, then by size. */
static void test_group_across_processes(void **state) {
    (void)state;
    struct slt_analysis a;
    struct slt_analyze_opts o;
    memset(&a, 0, sizeof(a));
    slt_report_init(&a.report);
    feed_leak(&a.report, 1, 3, "open_at_exit", "listen_on");
    feed_leak(&a.report, 1, 4, "open_at_exit", "listen_on");
    feed_leak(&a.report, 1, 5, "open_at_exit", "listen_on");
    feed_leak(&a.report, 1, 6, "close_wait", "db_connect");
    feed_leak(&a.report, 2, 6, "close_wait", "db_connect");
    analyze_default(&a, &o);
    assert_int_equal(a.groups.n, 2);
    assert_string_equal(a.groups.groups[0].kind, "close_wait");
    assert_int_equal(a.groups.groups[0].n, 2);
    assert_int_equal(a.groups.groups[0].nprocs, 2);
    assert_int_equal(a.groups.groups[1].n, 3);
    assert_int_equal(a.groups.groups[1].nprocs, 1);
    assert_int_equal(a.new_close_wait, 2);
    assert_int_equal(a.new_open, 3);
    slt_analysis_free(&a);
}

/* fail_on decides which kinds make the exit status 23. */
static void test_group_fail_on(void **state) {
    (void)state;
    assert_true(slt_kind_fails("close_wait", "close_wait"));
    assert_false(slt_kind_fails("close_wait", "open_at_exit"));
    assert_true(slt_kind_fails("any", "open_at_exit"));
    assert_false(slt_kind_fails("none", "close_wait"));
    /* received: close_wait and received sockets held at exit, not open_at_exit */
    assert_true(slt_kind_fails("received", "received"));
    assert_true(slt_kind_fails("received", "close_wait"));
    assert_false(slt_kind_fails("received", "open_at_exit"));
    assert_false(slt_kind_fails("close_wait", "received"));
    assert_true(slt_kind_fails("any", "received"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_fingerprint_stable),
        cmocka_unit_test(test_group_fingerprint_differs),
        cmocka_unit_test(test_group_where),
        cmocka_unit_test(test_group_system_frames),
        cmocka_unit_test(test_group_across_processes),
        cmocka_unit_test(test_group_fail_on),
    };
    return cmocka_run_group_tests_name("group", tests, NULL, NULL);
}
