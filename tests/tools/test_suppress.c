/* test_suppress.c -- suppression patterns, files and their effect on the merged report. */
#include "fixtures.h"

/* Comments and blank lines are skipped; anything but leak: is an error naming the line. */
static void test_suppress_parse(void **state) {
    (void)state;
    struct sl_suppressions s = {0};
    char err[256];
    assert_int_equal(sl_suppress_parse(&s, "# comment\n\n  leak:db_* \r\nleak:libfoo.so\n", "f", err, sizeof(err)), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.v[0].pattern, "db_*");
    assert_int_equal(sl_suppress_parse(&s, "leak:a\nrace:b\n", "supp.txt", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "supp.txt:2:"));
    assert_int_equal(sl_suppress_parse(&s, "leak:   \n", "supp.txt", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "empty pattern"));
    sl_suppress_free(&s);
}

/* A pattern matches a frame's function, source file (full or base name) or module. */
static void test_suppress_match_fields(void **state) {
    (void)state;
    static const char *const hits[] = { "db_connect", "client.c", "/src/app/*", "^app$", "libc.so*" };
    struct slt_report r;
    char err[256];
    slt_report_init(&r);
    feed_leak(&r, 1, 3, "close_wait", "db_connect");  /* module /build/app */
    for (size_t i = 0; i < sizeof(hits) / sizeof(hits[0]); i++) {
        struct sl_suppressions s = {0};
        char *line;
        assert_true(asprintf(&line, "leak:%s\n", hits[i]) > 0);
        assert_int_equal(sl_suppress_parse(&s, line, "t", err, sizeof(err)), 0);
        assert_int_equal(slt_supp_match(&s, &r.leaks[0]), 0);
        sl_suppress_free(&s);
        free(line);
    }
    struct sl_suppressions s = {0};
    sl_suppress_parse(&s, "leak:nothing_like_it\n", "t", err, sizeof(err));
    assert_int_equal(slt_supp_match(&s, &r.leaks[0]), -1);
    sl_suppress_free(&s);
    slt_report_free(&r);
}

/* Suppressed leaks leave the groups and are counted per pattern. */
static void test_suppress_counts(void **state) {
    (void)state;
    struct slt_analysis a;
    struct slt_analyze_opts o;
    char err[256];
    memset(&a, 0, sizeof(a));
    slt_report_init(&a.report);
    feed_leak(&a.report, 1, 3, "close_wait", "db_connect");
    feed_leak(&a.report, 1, 4, "close_wait", "db_connect");
    feed_leak(&a.report, 2, 4, "close_wait", "cache_get");
    assert_int_equal(sl_suppress_parse(&a.supp, "leak:unused\nleak:db_*\n", "t", err, sizeof(err)), 0);
    analyze_default(&a, &o);
    assert_int_equal(a.supp.v[0].hits, 0);
    assert_int_equal(a.supp.v[1].hits, 2);
    assert_int_equal(a.suppressed, 2);
    assert_int_equal(a.groups.n, 1);
    assert_int_equal(a.new_leaks, 1);
    slt_analysis_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suppress_parse),
        cmocka_unit_test(test_suppress_match_fields),
        cmocka_unit_test(test_suppress_counts),
    };
    return cmocka_run_group_tests_name("suppress", tests, NULL, NULL);
}
