/* test_symbolize.c -- unit tests of the report-time symbolizer (shim/symbolize.c). */

#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "symbolize.h"

#define MAX_FRAMES 16
#define THIS_FILE "tests/unit/test_symbolize.c"

/* Make the compiler believe x is used after a call, so the call is not
 * turned into a tail jump (which would change the return address). */
#define KEEP(x) __asm__ volatile("" : "+r"(x))

static __attribute__((noinline, noclone)) uintptr_t capture_return_address(void)
{
    uintptr_t pc = (uintptr_t)__builtin_return_address(0);
    KEEP(pc);
    return pc;
}

static __attribute__((noinline, noclone)) uintptr_t plain_caller(int *line)
{
    uintptr_t pc = capture_return_address(); *line = __LINE__;
    KEEP(pc);
    return pc;
}

static inline __attribute__((always_inline)) uintptr_t inlined_capture(int *line)
{
    uintptr_t pc = capture_return_address(); *line = __LINE__;
    KEEP(pc);
    return pc;
}

static __attribute__((noinline, noclone)) uintptr_t inline_caller(int *inner_line,
                                                                  int *call_line)
{
    uintptr_t pc = inlined_capture(inner_line); *call_line = __LINE__;
    KEEP(pc);
    return pc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int teardown(void **state)
{
    (void)state;
    sl_symbolize_reset();
    return 0;
}

/* A call in a normal function resolves to that function, this file (as an
 * absolute path) and the line of the call, in the test executable. */
static void test_symbolize_function_file_line(void **state)
{
    struct sl_frame f[MAX_FRAMES];
    int line = 0;
    uintptr_t pc = plain_caller(&line);
    char exe[4096];
    ssize_t len;
    Dl_info info;
    (void)state;

    assert_int_equal(sl_symbolize(pc, f, MAX_FRAMES), 1);
    assert_true(f[0].pc == pc);
    assert_string_equal(f[0].function, "plain_caller");
    assert_non_null(f[0].file);
    assert_true(f[0].file[0] == '/');
    assert_true(ends_with(f[0].file, THIS_FILE));
    assert_int_equal(f[0].line, line);
    assert_int_equal(f[0].inlined, 0);
    assert_non_null(f[0].module);
    len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(len > 0);
    exe[len] = '\0';
    assert_string_equal(f[0].module, exe);
    /* The executable's first segment is at vaddr 0 (PIE) or at its link
     * address, so offset is pc minus the base dladdr reports for PIE. */
    assert_true(dladdr((void *)pc, &info) != 0);
    assert_true(f[0].offset == pc - (uintptr_t)info.dli_fbase || f[0].offset == pc);
}

/* An always_inline function yields its own frame (inlined, at the line in
 * its body) followed by the caller's frame at the line of the inlined call. */
static void test_symbolize_inlined_frames(void **state)
{
    struct sl_frame f[MAX_FRAMES];
    int inner_line = 0, call_line = 0;
    uintptr_t pc = inline_caller(&inner_line, &call_line);
    (void)state;

    assert_int_equal(sl_symbolize(pc, f, MAX_FRAMES), 2);
    assert_string_equal(f[0].function, "inlined_capture");
    assert_int_equal(f[0].inlined, 1);
    assert_int_equal(f[0].line, inner_line);
    assert_true(ends_with(f[0].file, THIS_FILE));
    assert_string_equal(f[1].function, "inline_caller");
    assert_int_equal(f[1].inlined, 0);
    assert_int_equal(f[1].line, call_line);
    assert_true(ends_with(f[1].file, THIS_FILE));
    /* Both frames describe the same instruction. */
    assert_true(f[0].pc == pc && f[1].pc == pc);
    assert_true(f[0].offset == f[1].offset);
    assert_string_equal(f[0].module, f[1].module);
}

/* max caps the frames written, keeping the innermost ones. */
static void test_symbolize_max_truncates(void **state)
{
    struct sl_frame f[2] = {{0}};
    int inner_line, call_line;
    uintptr_t pc = inline_caller(&inner_line, &call_line);
    (void)state;

    assert_int_equal(sl_symbolize(pc, f, 1), 1);
    assert_string_equal(f[0].function, "inlined_capture");
    assert_null(f[1].function);
    assert_int_equal(sl_symbolize(pc, f, 0), 0);
}

/* An address inside libc resolves to the libc module and a function name. */
static void test_symbolize_libc_address(void **state)
{
    struct sl_frame f[MAX_FRAMES];
    uintptr_t pc = (uintptr_t)dlsym(RTLD_DEFAULT, "getpid") + 1;
    int n;
    (void)state;

    assert_true(pc > 1);
    n = sl_symbolize(pc, f, MAX_FRAMES);
    assert_true(n >= 1);
    assert_non_null(f[n - 1].module);
    assert_non_null(strstr(f[n - 1].module, "libc.so"));
    assert_non_null(f[n - 1].function);
    assert_non_null(strstr(f[n - 1].function, "getpid"));
    assert_int_equal(f[n - 1].inlined, 0);
}

/* An address in no mapping gives one frame with nothing but the pc. */
static void test_symbolize_garbage_address(void **state)
{
    struct sl_frame f[MAX_FRAMES];
    (void)state;

    assert_int_equal(sl_symbolize(0x10, f, MAX_FRAMES), 1);
    assert_true(f[0].pc == 0x10);
    assert_null(f[0].module);
    assert_null(f[0].function);
    assert_null(f[0].file);
    assert_int_equal(f[0].line, 0);
    assert_int_equal(sl_symbolize(0, f, MAX_FRAMES), 1);
    assert_null(f[0].function);
}

/* Repeated lookups come from the cache: same frames, same string pointers. */
static void test_symbolize_cached_strings_stable(void **state)
{
    struct sl_frame a[MAX_FRAMES], b[MAX_FRAMES];
    int line;
    uintptr_t pc = plain_caller(&line);
    (void)state;

    assert_int_equal(sl_symbolize(pc, a, MAX_FRAMES), 1);
    assert_int_equal(sl_symbolize(pc, b, MAX_FRAMES), 1);
    assert_ptr_equal(a[0].function, b[0].function);
    assert_ptr_equal(a[0].file, b[0].file);
    assert_ptr_equal(a[0].module, b[0].module);
    /* Reset drops everything; the next lookup rebuilds it. */
    sl_symbolize_reset();
    assert_int_equal(sl_symbolize(pc, b, MAX_FRAMES), 1);
    assert_string_equal(b[0].function, "plain_caller");
    assert_int_equal(b[0].line, line);
}

/* A library dlopen'ed after the first lookup still resolves. */
static void test_symbolize_after_dlopen(void **state)
{
    static const char *const libs[][2] = {
        { "libm.so.6", "cos" },
        { "libresolv.so.2", "ns_name_uncompress" },
    };
    struct sl_frame f[MAX_FRAMES];
    int line, n;
    (void)state;

    assert_int_equal(sl_symbolize(plain_caller(&line), f, MAX_FRAMES), 1);
    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        if (dlopen(libs[i][0], RTLD_NOW | RTLD_NOLOAD) != NULL)
            continue;   /* already mapped when the session began */
        void *h = dlopen(libs[i][0], RTLD_NOW);
        void *sym = h ? dlsym(h, libs[i][1]) : NULL;
        if (sym == NULL)
            continue;
        /* the object that defines it (libresolv's names live in libc now) */
        Dl_info di;
        assert_true(dladdr(sym, &di) != 0 && di.dli_fname != NULL);
        const char *base = strrchr(di.dli_fname, '/') ? strrchr(di.dli_fname, '/') + 1
                                                       : di.dli_fname;
        n = sl_symbolize((uintptr_t)sym + 1, f, MAX_FRAMES);
        assert_non_null(f[n - 1].module);
        assert_non_null(strstr(f[n - 1].module, base));
        assert_non_null(f[n - 1].function);
        return;
    }
    skip();
}

/* In a forked child (new pid) lookups still work, cached or not. */
static void test_symbolize_after_fork(void **state)
{
    struct sl_frame f[MAX_FRAMES];
    int line, status;
    uintptr_t plain = plain_caller(&line);
    (void)state;

    assert_int_equal(sl_symbolize(plain, f, MAX_FRAMES), 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int ok = sl_symbolize(plain, f, MAX_FRAMES) == 1
                 && f[0].function && strcmp(f[0].function, "plain_caller") == 0;
        int inner, call;
        uintptr_t inl = inline_caller(&inner, &call);
        ok = ok && sl_symbolize(inl, f, MAX_FRAMES) == 2
             && f[1].function && strcmp(f[1].function, "inline_caller") == 0
             && f[1].line == call;
        ok = ok && sl_symbolize((uintptr_t)dlsym(RTLD_DEFAULT, "getpid") + 1,
                                f, MAX_FRAMES) >= 1 && f[0].function != NULL;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_symbolize_function_file_line, teardown),
        cmocka_unit_test_teardown(test_symbolize_inlined_frames, teardown),
        cmocka_unit_test_teardown(test_symbolize_max_truncates, teardown),
        cmocka_unit_test_teardown(test_symbolize_libc_address, teardown),
        cmocka_unit_test_teardown(test_symbolize_garbage_address, teardown),
        cmocka_unit_test_teardown(test_symbolize_cached_strings_stable, teardown),
        cmocka_unit_test_teardown(test_symbolize_after_dlopen, teardown),
        cmocka_unit_test_teardown(test_symbolize_after_fork, teardown),
    };

    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
