/* test_langframes.c -- language frames (Python, Java, JavaScript) in merged
 * reports: read, fingerprinted, named in headlines and SARIF, printed as
 * their language prints them, suppressed by function and file. */
#include "fixtures.h"

#include <json-c/json.h>

#include "langframe.h"

/* A Python leak from billing.py:LINE in charge_card, under socket.py's
 * frame, with the interpreter's native frames at pc BASE. */
static char *py_line(long pid, int fd, int line, long base) {
    char *s;
    int n = asprintf(&s,
        "{\"event\":\"leak\",\"when\":\"exit\",\"kind\":\"close_wait\",\"pid\":%ld,\"fd\":%d,"
        "\"local\":\"127.0.0.1:4000\",\"peer\":\"127.0.0.1:5433\",\"tcp_state\":\"CLOSE_WAIT\","
        "\"age_ms\":1500,\"fin_age_ms\":1200,\"stack_id\":7,\"stack\":["
        "{\"lang\":\"python\",\"pc\":null,\"module\":null,\"offset\":null,\"function\":\"socket.__init__\","
        "\"file\":\"/usr/lib/python3.11/socket.py\",\"line\":232,\"column\":0,\"inlined\":false},"
        "{\"lang\":\"python\",\"pc\":null,\"module\":null,\"offset\":null,\"function\":\"charge_card\","
        "\"file\":\"/app/billing.py\",\"line\":%d,\"column\":0,\"inlined\":false},"
        "{\"lang\":\"python\",\"pc\":null,\"module\":null,\"offset\":null,\"function\":\"<module>\","
        "\"file\":\"/app/main.py\",\"line\":3,\"column\":0,\"inlined\":false},"
        "{\"pc\":\"0x%lx\",\"module\":\"/usr/bin/python3.11\",\"offset\":\"0x%lx\",\"function\":null,"
        "\"file\":null,\"line\":0,\"inlined\":false}]}",
        pid, fd, line, base, base);
    assert_true(n > 0);
    return s;
}

static void analyze_text(struct slt_analysis *a, struct slt_analyze_opts *o, const char *text) {
    memset(a, 0, sizeof(*a));
    slt_report_init(&a->report);
    assert_int_equal(feed(&a->report, "t", text), 0);
    analyze_default(a, o);
}

/* The reader keeps lang and column; native frames have lang NULL. */
static void test_langframes_read(void **state) {
    (void)state;
    struct slt_report r;
    char *a = py_line(1, 3, 41, 0x5f78ea);
    slt_report_init(&r);
    assert_int_equal(feed(&r, "t", a), 0);
    assert_int_equal(r.nleaks, 1);
    assert_int_equal(r.leaks[0].nframes, 4);
    assert_string_equal(r.leaks[0].frames[1].lang, "python");
    assert_string_equal(r.leaks[0].frames[1].function, "charge_card");
    assert_int_equal(r.leaks[0].frames[1].line, 41);
    assert_null(r.leaks[0].frames[1].pc);
    assert_null(r.leaks[0].frames[3].lang);
    slt_report_free(&r);
    free(a);
}

/* One call site in two processes (other line after an edit, other native
 * pcs) is one group; the headline names the user's frame, not socket.py. */
static void test_langframes_group_and_where(void **state) {
    (void)state;
    struct slt_analysis a;
    struct slt_analyze_opts o;
    char *l1 = py_line(1, 3, 41, 0x5f78ea), *l2 = py_line(2, 5, 44, 0x6000aa), where[256], *text;
    asprintf(&text, "%s\n%s\n", l1, l2);
    analyze_text(&a, &o, text);
    assert_int_equal(a.groups.n, 1);
    assert_int_equal(a.groups.groups[0].n, 2);
    slt_leak_where(a.groups.groups[0].leaks[0], where, sizeof(where));
    assert_non_null(strstr(where, "charge_card (billing.py:4"));
    assert_non_null(strstr(where, "<- <module>"));
    assert_null(strstr(where, "python3.11"));
    const struct slt_frame *f = slt_leak_source_frame(a.groups.groups[0].leaks[0]);
    assert_string_equal(f->function, "charge_card");
    slt_analysis_free(&a);
    free(l1); free(l2); free(text);
}

/* Text prints Python frames as traceback lines, SARIF points at billing.py. */
static void test_langframes_text_and_sarif(void **state) {
    (void)state;
    struct slt_analysis a;
    struct slt_analyze_opts o;
    char *l1 = py_line(1, 3, 41, 0x5f78ea), *out = NULL;
    size_t len;
    analyze_text(&a, &o, l1);
    FILE *f = open_memstream(&out, &len);
    slt_write_text(f, &a);
    fclose(f);
    assert_non_null(strstr(out, "    #1 File \"/app/billing.py\", line 41, in charge_card\n"));
    assert_non_null(strstr(out, "from charge_card (billing.py:41)"));
    free(out);
    f = open_memstream(&out, &len);
    slt_write_sarif(f, &a);
    fclose(f);
    struct json_object *doc = json_tokener_parse(out), *v;
    assert_non_null(doc);
    assert_true(json_pointer_get(doc, "/runs/0/results/0/locations/0/physicalLocation/artifactLocation/uri", &v) == 0);
    assert_string_equal(json_object_get_string(v), "file:///app/billing.py");
    assert_true(json_pointer_get(doc, "/runs/0/results/0/locations/0/physicalLocation/region/startLine", &v) == 0);
    assert_int_equal(json_object_get_int(v), 41);
    json_object_put(doc);
    free(out);
    slt_analysis_free(&a);
    free(l1);
}

/* Java and JavaScript frames print as their stack traces do. */
static void test_langframes_text_java_js(void **state) {
    (void)state;
    char buf[256];
    sl_langframe_text(buf, sizeof(buf), "java", "com.acme.Billing.charge", "Billing.java", 41, 0);
    assert_string_equal(buf, "at com.acme.Billing.charge(Billing.java:41)");
    sl_langframe_text(buf, sizeof(buf), "js", "charge", "/app/billing.js", 41, 10);
    assert_string_equal(buf, "at charge (/app/billing.js:41:10)");
    assert_true(sl_langframe_is_library("java", "sun.nio.ch.Net.socket0", "Net.java"));
    assert_false(sl_langframe_is_library("java", "com.acme.Billing.charge", "Billing.java"));
    assert_true(sl_langframe_is_library("js", "connect", "node:net"));
    assert_true(sl_langframe_is_library("python", "create_connection", "/usr/lib/python3.11/socket.py"));
    assert_false(sl_langframe_is_library("python", "get", "/usr/lib/python3/dist-packages/requests/api.py"));
}

/* Suppressions match a language frame by function or by file. */
static void test_langframes_suppress(void **state) {
    (void)state;
    struct sl_suppressions s = { 0 };
    struct slt_report r;
    char err[256], *l1 = py_line(1, 3, 41, 0x5f78ea);
    slt_report_init(&r);
    feed(&r, "t", l1);
    assert_int_equal(sl_suppress_parse(&s, "leak:^charge_card$\n", "s", err, sizeof(err)), 0);
    assert_int_equal(slt_supp_match(&s, &r.leaks[0]), 0);
    sl_suppress_free(&s);
    assert_int_equal(sl_suppress_parse(&s, "leak:billing.py\n", "s", err, sizeof(err)), 0);
    assert_int_equal(slt_supp_match(&s, &r.leaks[0]), 0);
    sl_suppress_free(&s);
    assert_int_equal(sl_suppress_parse(&s, "leak:^refund$\n", "s", err, sizeof(err)), 0);
    assert_int_equal(slt_supp_match(&s, &r.leaks[0]), -1);
    sl_suppress_free(&s);
    slt_report_free(&r);
    free(l1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_langframes_read),
        cmocka_unit_test(test_langframes_group_and_where),
        cmocka_unit_test(test_langframes_text_and_sarif),
        cmocka_unit_test(test_langframes_text_java_js),
        cmocka_unit_test(test_langframes_suppress),
    };
    return cmocka_run_group_tests_name("langframes", tests, NULL, NULL);
}
