/* test_report.c -- unit tests of the exit report writers (shim/report.c):
 * hand-made leaks in, the text or JSON Lines file written to log_path out. */

#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "options.h"
#include "report.h"
#include "runtime.h"
#include "stackdepot.h"
#include "symbolize.h"

#define THIS_FILE "test_report.c"
#define DOC "docs/report-format.md"
#define PID 4242

/* Keep x alive after a call so the call is not a tail jump. */
#define KEEP(x) __asm__ volatile("" : "+r"(x))

static char dir[64], prefix[128], report_path[160];
static char opts_buf[256];
static off_t consumed;          /* bytes of the report file already read */

/* Three creation sites in this file, each a two-frame stack. */
struct site {
    const char *function;
    int line;
    uint32_t stack_id;
};
static struct site db, cache, admin;

static __attribute__((noinline, noclone)) uintptr_t return_address(void)
{
    uintptr_t pc = (uintptr_t)__builtin_return_address(0);
    KEEP(pc);
    return pc;
}

static __attribute__((noinline, noclone)) uintptr_t open_db_conn(int *line)
{
    uintptr_t pc = return_address(); *line = __LINE__;
    KEEP(pc);
    return pc;
}

static __attribute__((noinline, noclone)) uintptr_t open_cache_conn(int *line)
{
    uintptr_t pc = return_address(); *line = __LINE__;
    KEEP(pc);
    return pc;
}

static __attribute__((noinline, noclone)) uintptr_t listen_admin(int *line)
{
    uintptr_t pc = return_address(); *line = __LINE__;
    KEEP(pc);
    return pc;
}

static __attribute__((noinline, noclone)) void make_site(struct site *s, const char *name,
                                                         uintptr_t (*fn)(int *))
{
    uintptr_t pcs[2];
    pcs[0] = fn(&s->line);
    pcs[1] = return_address();
    s->function = name;
    s->stack_id = sl_stack_put(pcs, 2);
}

static int group_setup(void **state)
{
    (void)state;
    sl_stack_init();
    sl_options_parse(&sl_opts, NULL, opts_buf, sizeof(opts_buf), NULL);
    snprintf(dir, sizeof(dir), "/tmp/sl_report_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(prefix, sizeof(prefix), "%s/report", dir);
    snprintf(report_path, sizeof(report_path), "%s.%d", prefix, (int)getpid());
    sl_opts.log_path = prefix;
    make_site(&db, "open_db_conn", open_db_conn);
    make_site(&cache, "open_cache_conn", open_cache_conn);
    make_site(&admin, "listen_admin", listen_admin);
    return db.stack_id && cache.stack_id && admin.stack_id ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(report_path);
    rmdir(dir);
    return 0;
}

/* Each test starts from the defaults, writing to the same file. */
static int reset_opts(void **state)
{
    (void)state;
    sl_options_parse(&sl_opts, NULL, opts_buf, sizeof(opts_buf), NULL);
    sl_opts.log_path = prefix;
    return 0;
}

/* What the report wrote since the last call (caller frees). */
static char *new_output(void)
{
    struct stat st;
    int fd = open(report_path, O_RDONLY);
    if (fd < 0)
        return strdup("");
    fstat(fd, &st);
    size_t len = st.st_size > consumed ? (size_t)(st.st_size - consumed) : 0;
    char *text = calloc(1, len + 1);
    if (text && pread(fd, text, len, consumed) != (ssize_t)len)
        text[0] = '\0';
    consumed = st.st_size;
    close(fd);
    return text;
}

/* The lines of text, in place; returns their count. */
static int split_lines(char *text, char **lines, int max)
{
    int n = 0;
    for (char *p = text, *nl; *p && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        *nl = '\0';
        if (n < max)
            lines[n] = p;
        n++;
    }
    return n;
}

static struct sl_leak tcp_leak(enum sl_kind kind, int fd, const struct site *s)
{
    struct sl_leak l;
    memset(&l, 0, sizeof(l));
    l.kind = kind;
    l.pid = PID;
    l.fds[0] = fd;
    l.nfds = 1;
    l.origin = SL_ORIGIN_SOCKET;
    l.family = AF_INET;
    l.type = SOCK_STREAM;
    l.protocol = 6;
    snprintf(l.local, sizeof(l.local), "127.0.0.1:%d", 40000 + fd);
    l.has_local = 1;
    if (kind == SL_KIND_CLOSE_WAIT) {
        snprintf(l.peer, sizeof(l.peer), "127.0.0.1:5433");
        l.has_peer = 1;
        l.tcp_state = TCP_CLOSE_WAIT;
        l.fin_age_ms = 1200 + fd;
    } else {
        l.tcp_state = TCP_LISTEN;
        l.fin_age_ms = -1;
    }
    l.age_ms = 3000 + fd;
    l.stack_id = s->stack_id;
    return l;
}

/* ---- JSON helpers ---- */

static json_object *field(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v))
        fail_msg("field \"%s\" missing in %s", key, json_object_to_json_string(o));
    return v;
}

static int64_t int_field(json_object *o, const char *key)
{
    json_object *v = field(o, key);
    assert_true(json_object_is_type(v, json_type_int));
    return json_object_get_int64(v);
}

static const char *str_field(json_object *o, const char *key)
{
    json_object *v = field(o, key);
    if (!json_object_is_type(v, json_type_string))
        fail_msg("field \"%s\" is not a string in %s", key, json_object_to_json_string(o));
    return json_object_get_string(v);
}

static int is_null_field(json_object *o, const char *key)
{
    return field(o, key) == NULL;
}

/* Parse every line as one JSON object; returns their count. */
static int parse_lines(char *text, json_object **objs, int max)
{
    char *lines[64];
    int n = split_lines(text, lines, 64);
    assert_true(n <= max && n <= 64);
    for (int i = 0; i < n; i++) {
        objs[i] = json_tokener_parse(lines[i]);
        if (objs[i] == NULL || !json_object_is_type(objs[i], json_type_object))
            fail_msg("line %d is not a JSON object: %s", i + 1, lines[i]);
    }
    return n;
}

static void put_all(json_object **objs, int n)
{
    for (int i = 0; i < n; i++)
        json_object_put(objs[i]);
}

/* The leak fields listed in the table of the documented format, read
 * from docs/report-format.md when the test runs from the source tree. */
static int documented_leak_fields(char names[][32], int max)
{
    FILE *f = fopen(DOC, "r");
    char line[512];
    int in_leak = 0, n = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "### `leak`", 10) == 0)
            in_leak = 1;
        else if (strncmp(line, "### ", 4) == 0)
            in_leak = 0;
        if (!in_leak || strncmp(line, "| ", 2) != 0)
            continue;
        char *end = strchr(line + 2, '|');
        if (end == NULL)
            continue;
        *end = '\0';
        for (char *save, *tok = strtok_r(line + 2, ", ", &save); tok;
             tok = strtok_r(NULL, ", ", &save))
            if (strcmp(tok, "field") != 0 && tok[0] != '-' && n < max)
                snprintf(names[n++], sizeof(names[0]), "%s", tok);
    }
    fclose(f);
    return n;
}

/* The keys of the documented summary example line. */
static json_object *documented_summary(void)
{
    FILE *f = fopen(DOC, "r");
    char line[1024], json[2048] = "";
    int state = 0;     /* 0 before the section, 1 in it, 2 in its JSON block */
    if (f == NULL)
        return NULL;
    while (fgets(line, sizeof(line), f)) {
        if (state == 0 && strncmp(line, "### `summary`", 13) == 0)
            state = 1;
        else if (state == 1 && strncmp(line, "```json", 7) == 0)
            state = 2;
        else if (state == 2 && strncmp(line, "```", 3) == 0)
            break;
        else if (state == 2 && strlen(json) + strlen(line) < sizeof(json))
            strcat(json, line);
    }
    fclose(f);
    return json[0] ? json_tokener_parse(json) : NULL;
}

static void check_frame(json_object *frame)
{
    static const char *keys[] = { "pc", "module", "offset", "function", "file", "line",
                                  "inlined" };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        field(frame, keys[i]);
    assert_true(strncmp(str_field(frame, "pc"), "0x", 2) == 0);
    assert_true(strncmp(str_field(frame, "offset"), "0x", 2) == 0);
    assert_true(json_object_is_type(field(frame, "inlined"), json_type_boolean));
}

/* A leak line: every field, matching the leak l and its creation site. */
static void check_leak_line(json_object *o, const struct sl_leak *l, const struct site *s)
{
    char names[40][32];
    int ndoc = documented_leak_fields(names, 40);
    if (access(DOC, R_OK) == 0)
        assert_true(ndoc >= 17);        /* the table was found and read */
    for (int i = 0; i < ndoc; i++)
        field(o, names[i]);

    assert_string_equal(str_field(o, "event"), "leak");
    assert_string_equal(str_field(o, "when"), "exit");
    assert_string_equal(str_field(o, "kind"), sl_kind_name(l->kind));
    assert_int_equal(int_field(o, "pid"), PID);
    assert_int_equal(int_field(o, "fd"), l->fds[0]);
    json_object *fds = field(o, "fds");
    assert_true(json_object_is_type(fds, json_type_array));
    assert_int_equal(json_object_array_length(fds), l->nfds);
    for (int i = 0; i < l->nfds; i++)
        assert_int_equal(json_object_get_int(json_object_array_get_idx(fds, i)), l->fds[i]);
    assert_string_equal(str_field(o, "origin"), l->origin == SL_ORIGIN_ACCEPT ? "accept" : "socket");
    assert_true(json_object_is_type(field(o, "from_parent"), json_type_boolean));
    assert_int_equal(json_object_get_boolean(field(o, "from_parent")), l->from_parent);
    assert_string_equal(str_field(o, "family"), "inet");
    assert_string_equal(str_field(o, "type"), "stream");
    assert_int_equal(int_field(o, "protocol"), 6);
    assert_string_equal(str_field(o, "local"), l->local);
    if (l->has_peer)
        assert_string_equal(str_field(o, "peer"), l->peer);
    else
        assert_true(is_null_field(o, "peer"));
    assert_string_equal(str_field(o, "tcp_state"),
                        l->tcp_state == TCP_CLOSE_WAIT ? "CLOSE_WAIT" : "LISTEN");
    assert_int_equal(int_field(o, "age_ms"), l->age_ms);
    if (l->fin_age_ms >= 0)
        assert_int_equal(int_field(o, "fin_age_ms"), l->fin_age_ms);
    else
        assert_true(is_null_field(o, "fin_age_ms"));
    assert_int_equal(int_field(o, "stack_id"), s->stack_id);

    json_object *stack = field(o, "stack");
    assert_true(json_object_is_type(stack, json_type_array));
    assert_true(json_object_array_length(stack) >= 2);
    for (size_t i = 0; i < json_object_array_length(stack); i++)
        check_frame(json_object_array_get_idx(stack, i));
    json_object *top = json_object_array_get_idx(stack, 0);
    assert_string_equal(str_field(top, "function"), s->function);
    const char *file = str_field(top, "file");
    assert_true(strlen(file) > strlen(THIS_FILE) &&
                strcmp(file + strlen(file) - strlen(THIS_FILE), THIS_FILE) == 0);
    assert_int_equal(int_field(top, "line"), s->line);
}

/* Six leaks in three groups, given in no particular order. */
static size_t mixed_leaks(struct sl_leak *l, struct sl_summary *sum)
{
    size_t n = 0;
    l[n++] = tcp_leak(SL_KIND_OPEN_AT_EXIT, 20, &admin);
    l[n++] = tcp_leak(SL_KIND_CLOSE_WAIT, 9, &db);
    l[n++] = tcp_leak(SL_KIND_OPEN_AT_EXIT, 5, &admin);
    l[n++] = tcp_leak(SL_KIND_CLOSE_WAIT, 7, &cache);
    l[n++] = tcp_leak(SL_KIND_OPEN_AT_EXIT, 11, &admin);
    l[n++] = tcp_leak(SL_KIND_CLOSE_WAIT, 4, &db);
    l[3].fds[1] = 12;          /* the cache socket was dup'ed */
    l[3].nfds = 2;
    l[3].origin = SL_ORIGIN_ACCEPT;
    memset(sum, 0, sizeof(*sum));
    sum->pid = PID;
    sum->opened = 20;
    sum->closed = 14;
    sum->inherited = 1;
    return n;            /* close_wait and open_at_exit are the report's to count */
}

/* JSON: one line per leaked socket with every documented field and the
 * stack symbolized to this file's functions and lines, then one summary
 * line, last, with every documented key and the right counts. */
static void test_report_json_leak_lines_and_summary(void **state)
{
    struct sl_leak leaks[8], orig[8];
    struct sl_summary sum;
    json_object *objs[16];
    (void)state;

    sl_opts.format = SL_FORMAT_JSON;
    size_t n = mixed_leaks(leaks, &sum);
    memcpy(orig, leaks, sizeof(leaks));
    free(new_output());
    sl_report_exit(leaks, n, &sum);
    char *text = new_output();
    int nobj = parse_lines(text, objs, 16);
    assert_int_equal(nobj, 7);

    /* close_wait before open_at_exit, larger groups first, fds ascending. */
    const struct { size_t orig; const struct site *site; } expect[] = {
        { 5, &db }, { 1, &db }, { 3, &cache }, { 2, &admin }, { 4, &admin }, { 0, &admin },
    };
    for (int i = 0; i < 6; i++)
        check_leak_line(objs[i], &orig[expect[i].orig], expect[i].site);

    json_object *s = objs[6];
    assert_string_equal(str_field(s, "event"), "summary");
    json_object *doc = documented_summary();
    if (doc != NULL) {
        json_object_object_foreach(doc, key, val) {
            (void)val;
            field(s, key);
        }
        json_object_put(doc);
    }
    assert_int_equal(int_field(s, "pid"), PID);
    assert_int_equal(int_field(s, "sockets_opened"), 20);
    assert_int_equal(int_field(s, "sockets_closed"), 14);
    assert_int_equal(int_field(s, "leaks"), 6);
    assert_int_equal(int_field(s, "close_wait"), 3);
    assert_int_equal(int_field(s, "open_at_exit"), 3);
    assert_int_equal(int_field(s, "inherited"), 1);
    assert_int_equal(int_field(s, "groups"), 3);
    put_all(objs, nobj);
    free(text);
}

/* JSON strings escape quotes, backslashes and control characters: a Unix
 * socket path with all of them reads back unchanged, on one line. */
static void test_report_json_escapes_strings(void **state)
{
    static const char weird[] = "/tmp/a \"quoted\" \\dir\\\nnext\tline\x01\x1f\x7f/s\xc3\xa9.sock";
    struct sl_leak l;
    struct sl_summary sum = { .pid = PID, .opened = 1 };
    json_object *objs[4];
    (void)state;

    sl_opts.format = SL_FORMAT_JSON;
    memset(&l, 0, sizeof(l));
    l.kind = SL_KIND_OPEN_AT_EXIT;
    l.pid = PID;
    l.fds[0] = 6;
    l.nfds = 1;
    l.family = AF_UNIX;
    l.type = SOCK_STREAM;
    l.tcp_state = -1;
    l.fin_age_ms = -1;
    snprintf(l.local, sizeof(l.local), "%s", weird);
    l.has_local = 1;
    snprintf(l.peer, sizeof(l.peer), "@ab\"str\\act");
    l.has_peer = 1;
    l.stack_id = db.stack_id;

    free(new_output());
    sl_report_exit(&l, 1, &sum);
    char *text = new_output();
    int nobj = parse_lines(text, objs, 4);
    assert_int_equal(nobj, 2);
    assert_string_equal(str_field(objs[0], "local"), weird);
    assert_string_equal(str_field(objs[0], "peer"), "@ab\"str\\act");
    assert_string_equal(str_field(objs[0], "family"), "unix");
    assert_true(is_null_field(objs[0], "tcp_state"));
    assert_string_equal(str_field(objs[1], "event"), "summary");
    put_all(objs, nobj);
    free(text);
}

/* An empty local address (an unnamed Unix socket) is "", not null. */
static void test_report_json_unnamed_local_is_empty_string(void **state)
{
    struct sl_leak l = tcp_leak(SL_KIND_OPEN_AT_EXIT, 3, &db);
    struct sl_summary sum = { .pid = PID, .opened = 1 };
    json_object *objs[4];
    (void)state;

    sl_opts.format = SL_FORMAT_JSON;
    l.family = AF_UNIX;
    l.tcp_state = -1;
    l.local[0] = '\0';
    free(new_output());
    sl_report_exit(&l, 1, &sum);
    char *text = new_output();
    assert_int_equal(parse_lines(text, objs, 4), 2);
    assert_string_equal(str_field(objs[0], "local"), "");
    assert_true(is_null_field(objs[0], "peer"));
    put_all(objs, 2);
    free(text);
}

/* ---- text ---- */

static int starts_with(const char *s, const char *prefix_)
{
    return strncmp(s, prefix_, strlen(prefix_)) == 0;
}

/* Text: each group opens with a headline naming the count, the kind, the
 * creating function and its file:line; close_wait groups come first even
 * when smaller; a group above max_sockets lists max_sockets sockets and
 * "omitting N more"; the SUMMARY line is last. */
static void test_report_text_headline_omitting_summary(void **state)
{
    struct sl_leak leaks[16];
    struct sl_summary sum = { .pid = PID, .opened = 30, .closed = 23 };
    char *lines[128], want[512];
    (void)state;

    sl_opts.max_sockets = 2;
    size_t n = 0;
    leaks[n++] = tcp_leak(SL_KIND_OPEN_AT_EXIT, 30, &admin);
    for (int fd = 14; fd >= 10; fd--)
        leaks[n++] = tcp_leak(SL_KIND_CLOSE_WAIT, fd, &db);
    leaks[n++] = tcp_leak(SL_KIND_OPEN_AT_EXIT, 31, &admin);

    free(new_output());
    sl_report_exit(leaks, n, &sum);
    char *text = new_output();
    int nl = split_lines(text, lines, 128);
    assert_true(nl > 4 && nl <= 128);

    snprintf(want, sizeof(want), "==%d== sockleak: 5 sockets leaked in CLOSE_WAIT (peer closed, "
             "never closed here) from open_db_conn (" THIS_FILE ":%d), created at:", PID, db.line);
    assert_string_equal(lines[0], want);
    snprintf(want, sizeof(want), " in open_db_conn ");
    assert_true(starts_with(lines[1], "    #0 0x"));
    assert_non_null(strstr(lines[1], want));
    snprintf(want, sizeof(want), THIS_FILE ":%d", db.line);
    assert_non_null(strstr(lines[1], want));

    int i = 1;
    while (i < nl && starts_with(lines[i], "    #"))
        i++;
    assert_true(i >= 3);                       /* both frames */
    assert_true(starts_with(lines[i], "  fd 10: 127.0.0.1:40010 -> 127.0.0.1:5433 CLOSE_WAIT"));
    assert_true(starts_with(lines[i + 1], "  fd 11: "));
    assert_string_equal(lines[i + 2], "  ... omitting 3 more (max_sockets=2)");
    assert_string_equal(lines[i + 3], "");

    i += 4;
    snprintf(want, sizeof(want), "==%d== sockleak: 2 sockets open at exit (peer has not closed) "
             "from listen_admin (" THIS_FILE ":%d), created at:", PID, admin.line);
    assert_string_equal(lines[i], want);
    int fd_lines = 0, summaries = 0;
    for (int j = i; j < nl; j++) {
        fd_lines += starts_with(lines[j], "  fd ");
        summaries += starts_with(lines[j], "SUMMARY:");
        assert_null(strstr(lines[j], "omitting"));
    }
    assert_int_equal(fd_lines, 2);
    assert_int_equal(summaries, 1);
    assert_string_equal(lines[nl - 1], "SUMMARY: sockleak: 7 sockets leaked (5 in CLOSE_WAIT, "
                        "2 open at exit) in 2 groups; 30 opened, 23 closed.");
    free(text);
}

/* Text with max_sockets=0 lists every socket and never omits any. */
static void test_report_text_max_sockets_zero_lists_all(void **state)
{
    struct sl_leak leaks[16];
    struct sl_summary sum = { .pid = PID, .opened = 12 };
    char *lines[128];
    (void)state;

    sl_opts.max_sockets = 0;
    for (int i = 0; i < 12; i++)
        leaks[i] = tcp_leak(SL_KIND_CLOSE_WAIT, 100 + i, &cache);
    free(new_output());
    sl_report_exit(leaks, 12, &sum);
    char *text = new_output();
    int nl = split_lines(text, lines, 128), fd_lines = 0;
    for (int j = 0; j < nl && j < 128; j++) {
        fd_lines += starts_with(lines[j], "  fd ");
        assert_null(strstr(lines[j], "omitting"));
    }
    assert_int_equal(fd_lines, 12);
    free(text);
}

/* Text writes nothing when nothing leaked, unless verbose=1 asks for the
 * SUMMARY line. */
static void test_report_text_nothing_leaked(void **state)
{
    struct sl_summary sum = { .pid = PID, .opened = 3, .closed = 3 };
    (void)state;
    free(new_output());
    sl_report_exit(NULL, 0, &sum);
    char *text = new_output();
    assert_string_equal(text, "");
    free(text);

    sl_opts.verbose = 1;
    sl_report_exit(NULL, 0, &sum);
    text = new_output();
    assert_string_equal(text, "SUMMARY: sockleak: 0 sockets leaked (0 in CLOSE_WAIT, 0 open at "
                        "exit) in 0 groups; 3 opened, 3 closed.\n");
    free(text);
}

/* A received socket held at exit (kind received) is its own group after
 * the leaks, counted in the summary's received_reported and in leaks. */
static void test_report_received_kind(void **state)
{
    struct sl_leak leaks[2];
    struct sl_summary sum = { .pid = PID, .opened = 4, .closed = 2 };
    json_object *objs[4];
    char *lines[64];
    (void)state;

    leaks[0] = tcp_leak(SL_KIND_RECEIVED, 8, &admin);
    leaks[0].origin = SL_ORIGIN_RECEIVED;
    leaks[1] = tcp_leak(SL_KIND_CLOSE_WAIT, 5, &db);
    free(new_output());
    sl_report_exit(leaks, 2, &sum);
    char *text = new_output();
    int nl = split_lines(text, lines, 64);
    char want[256];
    snprintf(want, sizeof(want), "==%d== sockleak: 1 socket received through SCM_RIGHTS and "
             "still held at exit from listen_admin (" THIS_FILE ":%d), created at:", PID,
             admin.line);
    int found = 0;
    for (int i = 0; i < nl; i++)
        found += strcmp(lines[i], want) == 0;
    assert_int_equal(found, 1);
    assert_string_equal(lines[nl - 1], "SUMMARY: sockleak: 2 sockets leaked (1 in CLOSE_WAIT, "
                        "0 open at exit, 1 received and still held) in 2 groups; 4 opened, "
                        "2 closed.");
    free(text);

    sl_opts.format = SL_FORMAT_JSON;
    struct sl_summary sum2 = { .pid = PID, .opened = 4, .closed = 2 };
    leaks[0] = tcp_leak(SL_KIND_RECEIVED, 8, &admin);
    leaks[0].origin = SL_ORIGIN_RECEIVED;
    leaks[1] = tcp_leak(SL_KIND_CLOSE_WAIT, 5, &db);
    sl_report_exit(leaks, 2, &sum2);
    text = new_output();
    int nobj = parse_lines(text, objs, 4);
    assert_int_equal(nobj, 3);
    assert_string_equal(str_field(objs[0], "kind"), "close_wait");
    assert_string_equal(str_field(objs[1], "kind"), "received");
    assert_string_equal(str_field(objs[1], "origin"), "received");
    assert_int_equal(int_field(objs[2], "received_reported"), 1);
    assert_int_equal(int_field(objs[2], "close_wait"), 1);
    assert_int_equal(int_field(objs[2], "open_at_exit"), 0);
    assert_int_equal(int_field(objs[2], "leaks"), 2);
    put_all(objs, nobj);
    free(text);
}

/* Text and JSON over the same leaks agree: the same groups in the same
 * order with the same sizes, and the same summary counts. */
static void test_report_text_and_json_agree(void **state)
{
    struct sl_leak leaks[8], copy[8];
    struct sl_summary sum, sum_copy;
    json_object *objs[16];
    char *lines[128];
    struct { int kind_cw; long count; } tg[8], jg[8];
    int ntg = 0, njg = 0;
    (void)state;

    size_t n = mixed_leaks(leaks, &sum);
    memcpy(copy, leaks, sizeof(leaks));
    sum_copy = sum;

    sl_opts.format = SL_FORMAT_TEXT;
    free(new_output());
    sl_report_exit(leaks, n, &sum);
    char *text = new_output();
    int nl = split_lines(text, lines, 128);
    long t_leaks = -1, t_cw = -1, t_open = -1, t_groups = -1, t_opened = -1, t_closed = -1;
    for (int j = 0; j < nl && j < 128; j++) {
        long count;
        char noun[16], verb[16];
        if (sscanf(lines[j], "==%*d== sockleak: %ld %15s %15s", &count, noun, verb) == 3 &&
            ntg < 8) {
            tg[ntg].kind_cw = strcmp(verb, "leaked") == 0;
            tg[ntg++].count = count;
        }
        sscanf(lines[j], "SUMMARY: sockleak: %ld socket%*s leaked (%ld in CLOSE_WAIT, %ld open "
               "at exit) in %ld group%*s %ld opened, %ld closed.", &t_leaks, &t_cw, &t_open,
               &t_groups, &t_opened, &t_closed);
    }

    sl_opts.format = SL_FORMAT_JSON;
    sl_report_exit(copy, n, &sum_copy);
    char *json = new_output();
    int nobj = parse_lines(json, objs, 16);
    int64_t prev_stack = -1;
    const char *prev_kind = "";
    for (int i = 0; i < nobj - 1; i++) {
        const char *kind = str_field(objs[i], "kind");
        int64_t stack = int_field(objs[i], "stack_id");
        if (strcmp(kind, prev_kind) != 0 || stack != prev_stack) {
            assert_true(njg < 8);
            jg[njg].kind_cw = strcmp(kind, "close_wait") == 0;
            jg[njg++].count = 0;
        }
        jg[njg - 1].count++;
        prev_kind = kind;
        prev_stack = stack;
    }

    assert_int_equal(ntg, 3);
    assert_int_equal(njg, ntg);
    for (int g = 0; g < ntg; g++) {
        assert_int_equal(tg[g].kind_cw, jg[g].kind_cw);
        assert_int_equal(tg[g].count, jg[g].count);
    }
    json_object *s = objs[nobj - 1];
    assert_int_equal(t_leaks, int_field(s, "leaks"));
    assert_int_equal(t_cw, int_field(s, "close_wait"));
    assert_int_equal(t_open, int_field(s, "open_at_exit"));
    assert_int_equal(t_groups, int_field(s, "groups"));
    assert_int_equal(t_opened, int_field(s, "sockets_opened"));
    assert_int_equal(t_closed, int_field(s, "sockets_closed"));
    put_all(objs, nobj);
    free(text);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_report_json_leak_lines_and_summary, reset_opts),
        cmocka_unit_test_setup(test_report_json_escapes_strings, reset_opts),
        cmocka_unit_test_setup(test_report_json_unnamed_local_is_empty_string, reset_opts),
        cmocka_unit_test_setup(test_report_text_headline_omitting_summary, reset_opts),
        cmocka_unit_test_setup(test_report_text_max_sockets_zero_lists_all, reset_opts),
        cmocka_unit_test_setup(test_report_text_nothing_leaked, reset_opts),
        cmocka_unit_test_setup(test_report_received_kind, reset_opts),
        cmocka_unit_test_setup(test_report_text_and_json_agree, reset_opts),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
