/* test_fuzz.c -- the reader's deterministic fuzz loop: mutated, truncated and retyped report lines never crash it. */
#include "fixtures.h"

#include <stdint.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t next(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static const char *const values[] = {
    "null", "1", "-1", "\"s\"", "[]", "{}", "true", "1.5", "99999999999999999999",
    "\"\\u0000\"", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "\"\\ud800\"",
    "[{\"function\":7}]", "{\"event\":\"leak\"}",
};

/* Replace the value after a random ':' with one of another type. */
static size_t retype(char *buf, size_t len, size_t cap) {
    size_t at = next() % (len ? len : 1);
    char *colon = memchr(buf + at, ':', len - at);
    if (!colon) return len;
    size_t start = (size_t)(colon - buf) + 1, end = start;
    while (end < len && buf[end] != ',' && buf[end] != '}' && buf[end] != ']') end++;
    const char *v = values[next() % (sizeof(values) / sizeof(values[0]))];
    size_t vl = strlen(v);
    if (len - (end - start) + vl >= cap) return len;
    memmove(buf + start + vl, buf + end, len - end);
    memcpy(buf + start, v, vl);
    return len - (end - start) + vl;
}

static size_t mutate(char *buf, size_t len, size_t cap) {
    int rounds = 1 + (int)(next() % 4);
    for (int i = 0; i < rounds && len > 0; i++) {
        size_t at = next() % len;
        switch (next() % 6) {
        case 0: buf[at] ^= (char)(1u << (next() % 8)); break;       /* bit flip */
        case 1: len = at; break;                                     /* truncate */
        case 2: buf[at] = (char)(next() & 0xff); break;              /* random byte */
        case 3: memmove(buf + at, buf + at + 1, len - at - 1); len--; break;
        case 4: if (len + 1 < cap) { memmove(buf + at + 1, buf + at, len - at);
                                     buf[at] = "{}[]\",:\\0"[next() % 9]; len++; } break;
        default: len = retype(buf, len, cap); break;
        }
    }
    return len;
}

/* Thousands of mutants of valid lines: each is used or rejected, and the
 * whole pipeline (group, every writer) copes with what got through. */
static void test_fuzz_reader_mutants(void **state) {
    (void)state;
    char *seeds[4] = {
        leak_line(10, 3, "close_wait", "db_connect", "/b/app"),
        leak_line(11, 4, "open_at_exit", "listen_on", "/b/app"),
        strdup("{\"event\":\"summary\",\"pid\":10,\"sockets_opened\":3,\"sockets_closed\":1,\"exit_status\":0}"),
        strdup("{\"event\":\"leak\",\"kind\":\"close_wait\",\"pid\":1,\"stack\":[{\"pc\":\"0x1\"},{}]}"),
    };
    char buf[8192], err[256];
    for (int round = 0; round < 20; round++) {
        struct slt_analysis a;
        struct slt_analyze_opts o;
        memset(&a, 0, sizeof(a));
        slt_report_init(&a.report);
        size_t src = slt_report_add_source(&a.report, "fuzz");
        for (int i = 0; i < 1000; i++) {
            const char *s = seeds[next() % 4];
            size_t len = strlen(s);
            memcpy(buf, s, len);
            len = mutate(buf, len, sizeof(buf));
            slt_report_parse_line(&a.report, src, buf, len, err, sizeof(err));
        }
        analyze_default(&a, &o);
        FILE *null = fopen("/dev/null", "w");
        slt_write_text(null, &a);
        slt_write_json(null, &a);
        slt_write_sarif(null, &a);
        fclose(null);
        slt_analysis_free(&a);
    }
    for (int i = 0; i < 4; i++) free(seeds[i]);
}

/* Pure random bytes of every length up to 300. */
static void test_fuzz_reader_random_bytes(void **state) {
    (void)state;
    struct slt_report r;
    char buf[300], err[256];
    slt_report_init(&r);
    for (int i = 0; i < 20000; i++) {
        size_t len = next() % sizeof(buf);
        for (size_t j = 0; j < len; j++) buf[j] = (char)next();
        if (i & 1) buf[0] = '{';
        assert_int_equal(slt_report_parse_line(&r, 0, buf, len, err, sizeof(err)) <= 0, 1);
    }
    slt_report_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz_reader_mutants),
        cmocka_unit_test(test_fuzz_reader_random_bytes),
    };
    return cmocka_run_group_tests_name("fuzz", tests, NULL, NULL);
}
