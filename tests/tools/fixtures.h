/* fixtures.h -- shared helpers of the sockleak command's unit tests: reports built from JSON Lines text. */
#ifndef TOOLS_FIXTURES_H
#define TOOLS_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyze.h"

/* A leak line with a three-frame stack; fn0 is the innermost function. */
static inline char *leak_line(long pid, int fd, const char *kind, const char *fn0,
                              const char *module) {
    char *s;
    int n = asprintf(&s,
        "{\"event\":\"leak\",\"when\":\"exit\",\"kind\":\"%s\",\"pid\":%ld,\"fd\":%d,\"fds\":[%d],"
        "\"local\":\"127.0.0.1:%d\",\"peer\":\"127.0.0.1:5433\",\"tcp_state\":\"CLOSE_WAIT\","
        "\"age_ms\":1500,\"fin_age_ms\":1200,\"stack_id\":1,\"stack\":["
        "{\"pc\":\"0x%lx1c9\",\"module\":\"%s\",\"offset\":\"0x11c9\",\"function\":\"%s\","
        "\"file\":\"/src/app/client.c\",\"line\":42,\"inlined\":false},"
        "{\"pc\":\"0x%lx301\",\"module\":\"%s\",\"offset\":\"0x1301\",\"function\":\"main\","
        "\"file\":\"/src/app/client.c\",\"line\":80,\"inlined\":false},"
        "{\"pc\":\"0x7f0000029d90\",\"module\":\"/lib/x86_64-linux-gnu/libc.so.6\",\"offset\":\"0x%lx\","
        "\"function\":\"__libc_start_call_main\",\"file\":null,\"line\":0,\"inlined\":false}]}",
        kind, pid, fd, fd, 40000 + fd, pid * 16, module, fn0, pid * 16, module, pid);
    assert_true(n > 0);
    return s;
}

/* Feed text (lines separated by '\n') to r as source name; returns the
 * number of malformed lines. */
static inline size_t feed(struct slt_report *r, const char *name, const char *text) {
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(f);
    size_t before = r->bad_lines;
    slt_report_read_stream(r, f, name, NULL);
    fclose(f);
    return r->bad_lines - before;
}

/* One leak line into the report's first source (one file, so pids are processes). */
static inline size_t feed_leak(struct slt_report *r, long pid, int fd, const char *kind,
                               const char *fn0) {
    char *s = leak_line(pid, fd, kind, fn0, "/build/app"), err[256];
    if (r->nfiles == 0) slt_report_add_source(r, "test");
    size_t bad = slt_report_parse_line(r, 0, s, strlen(s), err, sizeof(err)) != 0;
    free(s);
    return bad;
}

/* Analyze r with default options (text, fail on close_wait). */
static inline void analyze_default(struct slt_analysis *a, struct slt_analyze_opts *o) {
    char err[256];
    memset(o, 0, sizeof(*o));
    o->format = "text";
    o->fail_on = "close_wait";
    o->max_sockets = 10;
    a->opts = o;
    assert_int_equal(slt_analyze(a, err, sizeof(err)), 0);
}

#endif
