/* langframe.c -- library frames and the text form of language frames, shared
 * by the shim's report and the sockleak command. */
#include <stdio.h>
#include <string.h>

#include "langframe.h"

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path;
}

static int starts(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

int sl_langframe_is_library(const char *lang, const char *function, const char *file)
{
    if (lang == NULL)
        return 0;
    if (strcmp(lang, "python") == 0)
        /* "<frozen importlib._bootstrap>", Lib/ of any install; installed
         * packages (site-packages, dist-packages) are someone's code. */
        return file == NULL || file[0] == '<' ||
               (strstr(file, "/lib/python") != NULL && strstr(file, "-packages/") == NULL);
    if (strcmp(lang, "java") == 0) {
        static const char *const jdk[] = { "java.", "javax.", "sun.", "jdk.", "com.sun.", NULL };
        for (int i = 0; jdk[i]; i++)
            if (starts(function, jdk[i]))
                return 1;
        return 0;
    }
    if (strcmp(lang, "js") == 0)
        return file == NULL || starts(file, "node:");
    return 0;
}

void sl_langframe_text(char *buf, size_t len, const char *lang, const char *function,
                       const char *file, long line, long column)
{
    const char *fn = function && *function ? function : "<unknown>";
    if (len == 0)
        return;
    if (lang != NULL && strcmp(lang, "python") == 0) {
        snprintf(buf, len, "File \"%s\", line %ld, in %s", file ? file : "<unknown>", line, fn);
    } else if (lang != NULL && strcmp(lang, "java") == 0) {
        if (file != NULL && line > 0)
            snprintf(buf, len, "at %s(%s:%ld)", fn, base_name(file), line);
        else if (file != NULL)
            snprintf(buf, len, "at %s(%s)", fn, base_name(file));
        else
            snprintf(buf, len, "at %s(Unknown Source)", fn);
    } else {
        if (column > 0)
            snprintf(buf, len, "at %s (%s:%ld:%ld)", fn, file ? file : "<anonymous>", line, column);
        else
            snprintf(buf, len, "at %s (%s:%ld)", fn, file ? file : "<anonymous>", line);
    }
}

void sl_langframe_short(char *buf, size_t len, const char *function, const char *file,
                        long line)
{
    const char *fn = function && *function ? function : "??";
    if (file != NULL && line > 0)
        snprintf(buf, len, "%s (%s:%ld)", fn, base_name(file), line);
    else if (file != NULL)
        snprintf(buf, len, "%s (%s)", fn, base_name(file));
    else
        snprintf(buf, len, "%s", fn);
}
