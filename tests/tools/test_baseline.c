/* test_baseline.c -- baseline files: written from groups, read back, accepting only known stacks. */
#include "fixtures.h"

#include <unistd.h>

static char path[] = "/tmp/sockleak-test-baseline.XXXXXX";

static int setup(void **state) {
    (void)state;
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(path);
    return 0;
}

static void analysis_with(struct slt_analysis *a, struct slt_analyze_opts *o, const char *fn2) {
    memset(a, 0, sizeof(*a));
    slt_report_init(&a->report);
    feed_leak(&a->report, 1, 3, "close_wait", "db_connect");
    feed_leak(&a->report, 1, 4, "open_at_exit", "listen_on");
    if (fn2) feed_leak(&a->report, 2, 3, "close_wait", fn2);
    analyze_default(a, o);
}

/* What was written is accepted when read back; a new stack is not. */
static void test_baseline_roundtrip(void **state) {
    (void)state;
    struct slt_analysis a, b;
    struct slt_analyze_opts o;
    struct slt_baseline bl;
    char err[256];
    analysis_with(&a, &o, NULL);
    assert_int_equal(slt_baseline_write(&a.groups, path, err, sizeof(err)), 0);
    assert_int_equal(slt_baseline_load(&bl, path, err, sizeof(err)), 0);
    assert_int_equal(bl.n, 2);
    analysis_with(&b, &o, "new_leak_site");
    assert_int_equal(slt_baseline_apply(&bl, &b.groups), 2);
    for (size_t i = 0; i < b.groups.n; i++)
        assert_int_equal(b.groups.groups[i].baselined,
                         strcmp(b.groups.groups[i].leaks[0]->frames[0].function, "new_leak_site") != 0);
    slt_baseline_free(&bl);
    slt_analysis_free(&a);
    slt_analysis_free(&b);
}

/* The file says where each accepted leak comes from, for people reviewing it. */
static void test_baseline_readable(void **state) {
    (void)state;
    struct slt_analysis a;
    struct slt_analyze_opts o;
    char err[256], text[4096] = {0};
    analysis_with(&a, &o, NULL);
    assert_int_equal(slt_baseline_write(&a.groups, path, err, sizeof(err)), 0);
    FILE *f = fopen(path, "r");
    assert_true(fread(text, 1, sizeof(text) - 1, f) > 0);
    fclose(f);
    assert_non_null(strstr(text, "\"where\""));
    assert_non_null(strstr(text, "db_connect (client.c:42) <- main"));
    slt_analysis_free(&a);
}

/* Bad baseline files are errors naming the file, not crashes or empty baselines. */
static void test_baseline_bad_files(void **state) {
    (void)state;
    static const char *const bad[] = {
        "", "not json", "[]", "{\"leaks\":{}}", "{\"leaks\":[{\"fingerprint\":12}]}",
        "{\"leaks\":[{\"fingerprint\":\"xyz\"}]}", "{\"leaks\":[7]}",
    };
    struct slt_baseline bl;
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        FILE *f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        assert_int_equal(slt_baseline_load(&bl, path, err, sizeof(err)), -1);
        assert_non_null(strstr(err, path));
    }
    assert_int_equal(slt_baseline_load(&bl, "/nonexistent/b.json", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/b.json"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_roundtrip),
        cmocka_unit_test(test_baseline_readable),
        cmocka_unit_test(test_baseline_bad_files),
    };
    return cmocka_run_group_tests_name("baseline", tests, setup, teardown);
}
