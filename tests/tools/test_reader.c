/* test_reader.c -- the JSON Lines reader: valid events, unknown events, malformed and hostile lines. */
#include "fixtures.h"

static int setup(void **state) {
    struct slt_report *r = calloc(1, sizeof(*r));
    slt_report_init(r);
    *state = r;
    return 0;
}

static int teardown(void **state) {
    slt_report_free(*state);
    free(*state);
    return 0;
}

static int parse(struct slt_report *r, const char *line, char *err) {
    return slt_report_parse_line(r, 0, line, strlen(line), err, 256);
}

/* Every documented field of a leak arrives in the record. */
static void test_reader_leak_fields(void **state) {
    struct slt_report *r = *state;
    assert_int_equal(feed_leak(r, 4242, 3, "close_wait", "db_connect"), 0);
    slt_report_finish(r);
    assert_int_equal(r->nleaks, 1);
    struct slt_leak *l = &r->leaks[0];
    assert_string_equal(l->kind, "close_wait");
    assert_int_equal(l->pid, 4242);
    assert_int_equal(l->fd, 3);
    assert_string_equal(l->peer, "127.0.0.1:5433");
    assert_int_equal(l->fin_age_ms, 1200);
    assert_int_equal(l->nframes, 3);
    assert_string_equal(l->frames[0].function, "db_connect");
    assert_int_equal(l->frames[0].line, 42);
    assert_null(l->frames[2].file);
    assert_int_equal(r->nprocs, 1);
}

/* Summaries give per-process totals; a process seen only in a summary counts. */
static void test_reader_summary_and_procs(void **state) {
    struct slt_report *r = *state;
    char *l = leak_line(1, 3, "close_wait", "f", "/m"), *text;
    assert_true(asprintf(&text, "%s\n%s", l,
        "{\"event\":\"summary\",\"pid\":1,\"sockets_opened\":5,\"sockets_closed\":4}\n"
        "{\"event\":\"summary\",\"pid\":2,\"sockets_opened\":2,\"sockets_closed\":2}\n") > 0);
    feed(r, "one file", text);
    free(l); free(text);
    slt_report_finish(r);
    assert_int_equal(r->nprocs, 2);
    assert_int_equal(r->procs[0].opened + r->procs[1].opened, 7);
    assert_int_equal(r->procs[r->leaks[0].proc].pid, 1);
}

/* Newer events and fields are skipped silently, not reported as errors. */
static void test_reader_unknown_events_ignored(void **state) {
    struct slt_report *r = *state;
    assert_int_equal(feed(r, "t", "{\"event\":\"closed_late\",\"pid\":1,\"fd\":3}\n"
                                  "{\"event\":\"snapshot\",\"x\":[1,{}]}\n\n   \n"
                                  "{\"event\":\"peer_not_closing\",\"new_field\":true}\n"), 0);
    assert_int_equal(r->nleaks, 0);
}

/* Each kind of bad line is rejected with a reason, never half-used. */
static void test_reader_malformed_reasons(void **state) {
    struct slt_report *r = *state;
    char err[256];
    static const struct { const char *line, *reason; } cases[] = {
        { "{\"event\":\"leak\",\"kind\":\"close_wait\",\"pid\":", "truncated" },
        { "\x01\x02junk\xff", "not valid JSON" },
        { "{\"event\":\"leak\",\"kind\":\"close_wait\",\"pid\":\"12\"}", "\"pid\" is not an integer" },
        { "{\"event\":\"leak\",\"kind\":\"close_wait\",\"pid\":1,\"stack\":{}}", "\"stack\" is not an array" },
        { "{\"event\":\"leak\",\"kind\":\"close_wait\",\"pid\":1,\"stack\":[7]}", "frame #0" },
        { "{\"event\":\"leak\",\"kind\":\"close_wait\",\"pid\":1,\"stack\":[{\"line\":\"x\"}]}", "\"line\"" },
        { "{\"event\":\"leak\",\"kind\":3,\"pid\":1}", "\"kind\" is not a string" },
        { "{\"event\":\"leak\",\"kind\":\"../../x\",\"pid\":1}", "unexpected kind" },
        { "{\"event\":\"leak\",\"pid\":1}", "without \"kind\"" },
        { "{\"event\":\"leak\",\"kind\":\"close_wait\"}", "without \"pid\"" },
        { "{\"event\":\"leak\",\"kind\":\"close_wait\",\"pid\":1e99}", "not an integer" },
        { "{\"event\":\"leak\",\"kind\":\"close_wait\",\"pid\":99999999999999999999}", "out of range" },
        { "[1,2]", "not a JSON object" },
        { "{\"pid\":1}", "no \"event\"" },
        { "{\"event\":\"summary\"} {}", "" },
        { "==42== sockleak: 1 socket leaked", "text report" },
        { "{\"event\":\"leak\",\"kind\":\"close_wait\",\"pid\":1,\"peer\":\"\xc3\x28\"}", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_int_equal(parse(r, cases[i].line, err), -1);
        assert_non_null(strstr(err, cases[i].reason));
    }
    assert_int_equal(r->nleaks, 0);
}

/* A NUL byte inside a line is binary junk, not the end of the line. */
static void test_reader_nul_byte(void **state) {
    char err[256];
    const char line[] = "{\"event\":\"leak\"\0,\"kind\":\"close_wait\",\"pid\":1}";
    assert_int_equal(slt_report_parse_line(*state, 0, line, sizeof(line) - 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "NUL"));
}

/* Errors name the file and the line number; good lines around them count. */
static void test_reader_error_names_file_and_line(void **state) {
    struct slt_report *r = *state;
    char *good = leak_line(7, 3, "close_wait", "f", "/m");
    char *text, *msg = NULL;
    size_t len;
    assert_true(asprintf(&text, "%s\n{oops\n%s\n", good, good) > 0);
    FILE *in = fmemopen(text, strlen(text), "r"), *errs = open_memstream(&msg, &len);
    slt_report_read_stream(r, in, "host1/r.7", errs);
    fclose(in);
    fclose(errs);
    assert_non_null(strstr(msg, "host1/r.7:2: "));
    assert_int_equal(r->bad_lines, 1);
    assert_int_equal(r->nleaks, 2);
    free(msg); free(text); free(good);
}

/* A line longer than SLT_MAX_LINE is refused without reading it whole into memory. */
static void test_reader_huge_line(void **state) {
    struct slt_report *r = *state;
    size_t n = SLT_MAX_LINE + 100;
    char *text = malloc(n + 2);
    memset(text, 'a', n);
    memcpy(text, "{\"event\":\"leak\",\"x\":\"", 21);
    text[n] = '\n';
    text[n + 1] = '\0';
    assert_int_equal(feed(r, "big", text), 1);
    free(text);
}

/* A socket reported live and again at exit is one leak. */
static void test_reader_live_then_exit_deduped(void **state) {
    struct slt_report *r = *state;
    char *l = leak_line(9, 4, "close_wait", "f", "/m"), *other = leak_line(9, 5, "close_wait", "f", "/m");
    char *live = strdup(l), *text;
    memcpy(strstr(live, "\"exit\""), "\"live\"", 6);
    assert_true(asprintf(&text, "%s\n%s\n%s\n", live, l, other) > 0);
    feed(r, "one file", text);
    free(other); free(text);
    slt_report_finish(r);
    assert_int_equal(r->nleaks, 2);
    assert_string_equal(r->leaks[0].when, "exit");
    free(l); free(live);
}

/* A missing file is an error naming it. */
static void test_reader_missing_file(void **state) {
    char *msg = NULL;
    size_t len;
    FILE *errs = open_memstream(&msg, &len);
    assert_int_equal(slt_report_read_file(*state, "/nonexistent/r.1", errs), -1);
    fclose(errs);
    assert_non_null(strstr(msg, "/nonexistent/r.1"));
    free(msg);
}

/* The fixture files of the end-to-end tests read as documented. */
static void test_reader_fixture_files(void **state) {
    struct slt_report *r = *state;
    assert_int_equal(slt_report_read_file(r, FIXTURES "/two_procs.a.jsonl", NULL), 0);
    assert_int_equal(slt_report_read_file(r, FIXTURES "/two_procs.b.jsonl", NULL), 0);
    slt_report_finish(r);
    assert_int_equal(r->bad_lines, 0);
    assert_int_equal(r->nleaks, 6);
    assert_int_equal(r->nprocs, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reader_leak_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_summary_and_procs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_unknown_events_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_malformed_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_nul_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_error_names_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_huge_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_live_then_exit_deduped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_fixture_files, setup, teardown),
    };
    return cmocka_run_group_tests_name("reader", tests, NULL, NULL);
}
