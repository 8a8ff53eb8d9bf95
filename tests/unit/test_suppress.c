/* test_suppress.c -- suppression patterns and files (shim/suppress.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "suppress.h"

/* An unanchored pattern matches anywhere in the name. */
static void test_suppress_substring(void **state)
{
    (void)state;
    assert_true(sl_suppress_match("db_connect", "db_connect"));
    assert_true(sl_suppress_match("connect", "db_connect_pool"));
    assert_true(sl_suppress_match("libfoo.so", "/usr/lib/libfoo.so.1"));
    assert_false(sl_suppress_match("db_connect", "db_conn"));
}

/* '*' matches any run, including an empty one. */
static void test_suppress_wildcards(void **state)
{
    (void)state;
    assert_true(sl_suppress_match("db_*_pool", "db_connect_pool"));
    assert_true(sl_suppress_match("db_*_pool", "my_db__pool_x"));
    assert_true(sl_suppress_match("*", "anything"));
    assert_false(sl_suppress_match("db_*_pool", "db_connect_poo"));
    assert_true(sl_suppress_match("a*b*c", "xxaxxbxxcxx"));
    assert_false(sl_suppress_match("a*b*c", "xxaxxcxxbxx"));
    assert_true(sl_suppress_match("^d*t$", "db_connect"));
}

/* '^' and '$' anchor the pattern at the start and the end. */
static void test_suppress_anchors(void **state)
{
    (void)state;
    assert_true(sl_suppress_match("^db_", "db_connect"));
    assert_false(sl_suppress_match("^db_", "my_db_connect"));
    assert_true(sl_suppress_match("client.c$", "/src/client.c"));
    assert_false(sl_suppress_match("client.c$", "/src/client.cc"));
    assert_true(sl_suppress_match("^main$", "main"));
    assert_false(sl_suppress_match("^main$", "main2"));
}

/* NULL names (unknown function or file) never match. */
static void test_suppress_null(void **state)
{
    (void)state;
    assert_false(sl_suppress_match("x", NULL));
    assert_false(sl_suppress_match(NULL, "x"));
    assert_false(sl_suppress_match("x", ""));
}

/* A file's leak: lines become patterns; comments and blanks are skipped. */
static void test_suppress_parse_file_text(void **state)
{
    struct sl_suppressions s = { 0 };
    char err[256];
    (void)state;
    assert_int_equal(sl_suppress_parse(&s, "# comment\n\n  leak:db_connect  \nleak:libfoo*\r\n", "test",
                                       err, sizeof(err)), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.v[0].pattern, "db_connect");
    assert_string_equal(s.v[1].pattern, "libfoo*");
    const char *names[] = { NULL, "/lib/libfoo.so", "main" };
    assert_int_equal(sl_suppress_find(&s, names, 3), 1);
    sl_suppress_free(&s);
}

/* A line without "leak:" is an error naming its line number. */
static void test_suppress_bad_line(void **state)
{
    struct sl_suppressions s = { 0 };
    char err[256];
    (void)state;
    assert_int_equal(sl_suppress_parse(&s, "leak:a\nrace:b\n", "test", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "test:2:"));
    assert_non_null(strstr(err, "race:b"));
    sl_suppress_free(&s);
}

/* A missing file is an error naming the path. */
static void test_suppress_missing_file(void **state)
{
    struct sl_suppressions s = { 0 };
    char err[256];
    (void)state;
    assert_int_equal(sl_suppress_load(&s, "/nonexistent/supp.txt", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/supp.txt"));
}

/* A file on disk loads like the same text. */
static void test_suppress_load_file(void **state)
{
    struct sl_suppressions s = { 0 };
    char path[] = "/tmp/test_suppressXXXXXX", err[256];
    (void)state;
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "leak:x\n", 7), 7);
    close(fd);
    assert_int_equal(sl_suppress_load(&s, path, err, sizeof(err)), 0);
    assert_int_equal(s.n, 1);
    unlink(path);
    sl_suppress_free(&s);
}

/* A FIFO (no writer: a blocking open would hang), /dev/zero (endless) and
 * a file over 1 MiB are refused at once, the error naming the file and why. */
static void test_suppress_load_refuses_fifo_device_and_huge_files(void **state)
{
    char dir[] = "/tmp/sl-supp-XXXXXX", fifo[64], big[64], err[512];
    struct sl_suppressions s = { 0 };
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    snprintf(big, sizeof(big), "%s/big", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    FILE *f = fopen(big, "w");
    assert_non_null(f);
    for (int i = 0; i < 120000; i++)
        fputs("# padding\n", f);
    fclose(f);
    assert_int_equal(sl_suppress_load(&s, fifo, err, sizeof(err)), -1);
    assert_non_null(strstr(err, fifo));
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(sl_suppress_load(&s, "/dev/zero", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(sl_suppress_load(&s, big, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "larger than 1 MiB"));
    assert_int_equal(s.n, 0);
    unlink(fifo);
    unlink(big);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suppress_substring),
        cmocka_unit_test(test_suppress_wildcards),
        cmocka_unit_test(test_suppress_anchors),
        cmocka_unit_test(test_suppress_null),
        cmocka_unit_test(test_suppress_parse_file_text),
        cmocka_unit_test(test_suppress_bad_line),
        cmocka_unit_test(test_suppress_missing_file),
        cmocka_unit_test(test_suppress_load_file),
        cmocka_unit_test(test_suppress_load_refuses_fifo_device_and_huge_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
