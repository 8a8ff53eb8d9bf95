/* fuzz_suppress.c -- libFuzzer target: any bytes as a suppressions file. The
 * parser must not crash or leak, must name SRC:LINE in every error, and the
 * patterns it keeps must behave as patterns: '*' alone matches anything, and
 * a pattern without '*', '^' or '$' matches its own text. */
#include <stdlib.h>
#include <string.h>

#include "suppress.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *text = malloc(size + 1), err[512];
    struct sl_suppressions s = { 0 };
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    err[0] = '\0';
    if (sl_suppress_parse(&s, text, "fuzz.supp", err, sizeof(err)) != 0 &&
        strncmp(err, "fuzz.supp:", 10) != 0)
        abort();
    for (size_t i = 0; i < s.n; i++) {
        const char *p = s.v[i].pattern;
        if (p == NULL)
            abort();
        if (!sl_suppress_match("*", p))
            abort();
        if (strpbrk(p, "*^$") == NULL && *p && !sl_suppress_match(p, p))
            abort();
        sl_suppress_match(p, text);     /* any text: must not crash */
        const char *names[3] = { p, NULL, text };
        sl_suppress_find(&s, names, 3);
    }
    sl_suppress_free(&s);
    free(text);
    return 0;
}
