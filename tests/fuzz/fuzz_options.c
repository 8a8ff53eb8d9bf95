/* fuzz_options.c -- libFuzzer target: any bytes as SOCKLEAK_OPTIONS. The
 * parser must not crash, must warn in one printable line per bad entry, keep
 * string values inside its buffer, and give the same result twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

static int warnings;

static void check_warning(const char *msg)
{
    warnings++;
    if (strncmp(msg, "sockleak: ", 10) != 0)
        abort();                        /* says who is talking */
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            abort();                    /* one line, no terminal escapes */
}

static int str_ok(const char *s, const char *buf, size_t size)
{
    if (s == NULL)
        return 1;
    if (s >= buf && s < buf + size)
        return 1;
    for (size_t i = 0; i < sl_option_count; i++)   /* a default from the table */
        if (s == sl_option_table[i].def)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char spec[8192], buf1[4096], buf2[4096];
    struct sl_options a, b;
    if (size >= sizeof(spec))
        return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';

    warnings = 0;
    int bad = sl_options_parse(&a, spec, buf1, sizeof(buf1), check_warning);
    if (bad != warnings || bad < 0)
        abort();                        /* each bad entry warns exactly once */
#define SL_CHECK_BOOL(f) if (a.f != 0 && a.f != 1) abort();
#define SL_CHECK_INT(f)  if (a.f < 0) abort();
#define SL_CHECK_STR(f)  if (!str_ok(a.f, buf1, sizeof(buf1))) abort();
#define SL_CHECK_ENUM(f) if (a.f < 0) abort();
#define SL_OPTION(type, name, def, help) SL_CHECK_##type(name)
#include "options.inc"
#undef SL_OPTION

    warnings = 0;
    if (sl_options_parse(&b, spec, buf2, sizeof(buf2), check_warning) != bad)
        abort();                        /* deterministic */
#define SL_SAME_BOOL(f) if (a.f != b.f) abort();
#define SL_SAME_INT(f)  if (a.f != b.f) abort();
#define SL_SAME_ENUM(f) if (a.f != b.f) abort();
#define SL_SAME_STR(f)  if ((a.f == NULL) != (b.f == NULL) || (a.f && strcmp(a.f, b.f))) abort();
#define SL_OPTION(type, name, def, help) SL_SAME_##type(name)
#include "options.inc"
#undef SL_OPTION
    return 0;
}
