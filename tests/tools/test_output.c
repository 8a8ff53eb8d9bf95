/* test_output.c -- the text, JSON and SARIF writers over the same grouped data. */
#include "fixtures.h"

#include <json-c/json.h>

static char *render(void (*writer)(FILE *, const struct slt_analysis *), const char *fail_on,
                    long max_sockets) {
    struct slt_analysis a;
    struct slt_analyze_opts o;
    char *out = NULL;
    size_t len;
    memset(&a, 0, sizeof(a));
    slt_report_init(&a.report);
    for (int fd = 3; fd < 8; fd++) feed_leak(&a.report, 4242, fd, "close_wait", "db_connect");
    feed_leak(&a.report, 4243, 3, "close_wait", "db_connect");
    feed_leak(&a.report, 4243, 9, "open_at_exit", "listen_on");
    analyze_default(&a, &o);
    o.fail_on = fail_on;
    o.max_sockets = max_sockets;
    FILE *f = open_memstream(&out, &len);
    writer(f, &a);
    fclose(f);
    slt_analysis_free(&a);
    return out;
}

/* Text: headline with the creation site and process count, the cap, SUMMARY last. */
static void test_output_text(void **state) {
    (void)state;
    char *t = render(slt_write_text, "close_wait", 2);
    assert_non_null(strstr(t, "6 sockets leaked in CLOSE_WAIT (peer closed, never closed here) "
                              "from db_connect (client.c:42) <- main, in 2 processes, created at:"));
    assert_non_null(strstr(t, "    #0 0x"));
    assert_non_null(strstr(t, "  pid 4242 fd 3: 127.0.0.1:40003 -> 127.0.0.1:5433 CLOSE_WAIT, age 1.5 s, peer closed 1.2 s ago"));
    assert_non_null(strstr(t, "  ... omitting 4 more (max_sockets=2)"));
    assert_non_null(strstr(t, "==4243== sockleak: 1 socket still open at exit"));
    const char *last = strstr(t, "SUMMARY: sockleak: 7 sockets leaked (6 in CLOSE_WAIT, 1 open at exit) in 2 groups across 2 processes");
    assert_non_null(last);
    assert_string_equal(strchr(last, '\n'), "\n");
    free(t);
}

/* JSON: every line parses; leaks carry a fingerprint; a summary comes last. */
static void test_output_json(void **state) {
    (void)state;
    char *t = render(slt_write_json, "close_wait", 10), *save = NULL;
    int lines = 0;
    struct json_object *last = NULL, *v;
    for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_object_put(last);
        last = json_tokener_parse(line);
        assert_non_null(last);
        lines++;
        if (json_object_object_get_ex(last, "kind", &v))
            assert_true(json_object_object_get_ex(last, "fingerprint", &v));
    }
    assert_int_equal(lines, 8);
    assert_true(json_object_object_get_ex(last, "event", &v));
    assert_string_equal(json_object_get_string(v), "summary");
    assert_true(json_object_object_get_ex(last, "processes", &v));
    assert_int_equal(json_object_get_int(v), 2);
    json_object_put(last);
    free(t);
}

static struct json_object *at(struct json_object *o, const char *path) {
    struct json_object *v = NULL;
    assert_int_equal(json_pointer_get(o, path, &v), 0);
    return v;
}

/* SARIF 2.1.0: the fields code scanning requires, one result per group,
 * located at the program's own line. */
static void test_output_sarif(void **state) {
    (void)state;
    char *t = render(slt_write_sarif, "close_wait", 10);
    struct json_object *doc = json_tokener_parse(t), *results;
    assert_non_null(doc);
    assert_non_null(strstr(json_object_get_string(at(doc, "/$schema")), "sarif"));
    assert_string_equal(json_object_get_string(at(doc, "/version")), "2.1.0");
    assert_string_equal(json_object_get_string(at(doc, "/runs/0/tool/driver/name")), "sockleak");
    assert_non_null(at(doc, "/runs/0/tool/driver/rules/0/id"));
    assert_true(json_object_array_length(at(doc, "/runs/0/tool/driver/rules")) >= 2);
    results = at(doc, "/runs/0/results");
    assert_int_equal(json_object_array_length(results), 2);
    assert_string_equal(json_object_get_string(at(results, "/0/ruleId")), "socket-leak-close-wait");
    assert_string_equal(json_object_get_string(at(results, "/0/level")), "error");
    assert_string_equal(json_object_get_string(at(results, "/1/level")), "warning");
    assert_non_null(strstr(json_object_get_string(at(results, "/0/message/text")), "db_connect"));
    assert_string_equal(json_object_get_string(at(results, "/0/locations/0/physicalLocation/artifactLocation/uri")),
                        "file:///src/app/client.c");
    assert_int_equal(json_object_get_int(at(results, "/0/locations/0/physicalLocation/region/startLine")), 42);
    assert_int_equal(strlen(json_object_get_string(at(results, "/0/partialFingerprints/sockleakStack~1v1"))), 16);
    json_object_put(doc);
    free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_text),
        cmocka_unit_test(test_output_json),
        cmocka_unit_test(test_output_sarif),
    };
    return cmocka_run_group_tests_name("output", tests, NULL, NULL);
}
