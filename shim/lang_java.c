/* lang_java.c -- Java frames for sockets a HotSpot JVM makes (JVMTI). */
#include "lang.h"

int sl_lang_java_init(void)
{
    return 0;
}

unsigned sl_lang_java_capture(const uintptr_t *pcs, unsigned *n, uintptr_t *lang, unsigned max)
{
    (void)pcs; (void)n; (void)lang; (void)max;
    return 0;
}
