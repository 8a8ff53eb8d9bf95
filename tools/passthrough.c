/* passthrough.c -- SOCKLEAK_OPTIONS keys as command-line flags, generated from the shim's own table. */
#include "passthrough.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

#define CHOICES_BOOL(name) NULL
#define CHOICES_INT(name)  NULL
#define CHOICES_STR(name)  NULL
#define CHOICES_ENUM(name) SL_ENUM_##name

static struct slt_passthrough table[] = {
#define SL_OPTION(type, name, def, help) { #type, #name, def, help, CHOICES_##type(name), NULL },
#include "options.inc"
#undef SL_OPTION
};

#define NROWS (sizeof(table) / sizeof(table[0]))

/* Keys the command sets itself or replaces with its own flags: the report
 * must reach it as JSON in files, and exit status, fail_on, suppressions
 * and max_sockets are applied to the merged report instead. */
static int command_owns(const char *key) {
    static const char *const own[] = {
        "log_path", "format", "exitcode", "fail_on", "suppressions", "help",
        "max_sockets", "verbose", NULL
    };
    for (int i = 0; own[i]; i++)
        if (!strcmp(key, own[i])) return 1;
    return 0;
}

/* "grace-ms" names the key grace_ms. */
static int flag_is(const char *flag, const char *key) {
    for (; *flag && *key; flag++, key++)
        if (*flag != (*key == '_' ? '-' : *key)) return 0;
    return *flag == '\0' && *key == '\0';
}

struct slt_passthrough *slt_passthrough_find(const char *flag, int *negated) {
    *negated = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *f = flag;
        if (pass == 1) {
            if (strncmp(flag, "no-", 3)) break;
            f = flag + 3;
        }
        for (size_t i = 0; i < NROWS; i++) {
            if (command_owns(table[i].name) || !flag_is(f, table[i].name)) continue;
            if (pass == 1 && strcmp(table[i].type, "BOOL")) return NULL;
            *negated = pass;
            return &table[i];
        }
    }
    return NULL;
}

static int choice_ok(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *c = choices; c && *c; ) {
        const char *e = strchr(c, '|');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == n && !strncmp(c, v, n)) return 1;
        c = e ? e + 1 : c + len;
    }
    return 0;
}

int slt_passthrough_set(struct slt_passthrough *p, const char *value, int negated,
                        char *err, size_t errlen) {
    if (!strcmp(p->type, "BOOL")) {
        if (negated && value) { snprintf(err, errlen, "takes no value"); return -1; }
        if (!value) value = negated ? "0" : "1";
        else if (!strcmp(value, "true")) value = "1";
        else if (!strcmp(value, "false")) value = "0";
        if (strcmp(value, "0") && strcmp(value, "1")) {
            snprintf(err, errlen, "expects 0, 1, true or false, not \"%s\"", value);
            return -1;
        }
    } else if (!value) {
        snprintf(err, errlen, "requires a value");
        return -1;
    } else if (!strcmp(p->type, "INT") &&
               (!*value || strspn(value, "0123456789") != strlen(value) || strlen(value) > 12)) {
        snprintf(err, errlen, "expects a whole number >= 0, not \"%s\"", value);
        return -1;
    } else if (!strcmp(p->type, "ENUM") && !choice_ok(p->choices, value)) {
        snprintf(err, errlen, "expects one of %s, not \"%s\"", p->choices, value);
        return -1;
    }
    /* ':' separates SOCKLEAK_OPTIONS entries; the shim has no escape for it */
    if (strchr(value, ':')) { snprintf(err, errlen, "cannot contain ':'"); return -1; }
    p->value = value;
    return 0;
}

void slt_passthrough_append(FILE *out) {
    for (size_t i = 0; i < NROWS; i++)
        if (table[i].value) fprintf(out, ":%s=%s", table[i].name, table[i].value);
}

void slt_passthrough_usage(FILE *out) {
    for (size_t i = 0; i < NROWS; i++) {
        const struct slt_passthrough *p = &table[i];
        if (command_owns(p->name)) continue;
        char flag[128];
        int n = snprintf(flag, sizeof(flag), "--");
        for (const char *c = p->name; *c && n < 100; c++) flag[n++] = *c == '_' ? '-' : *c;
        flag[n] = '\0';
        if (!strcmp(p->type, "BOOL")) snprintf(flag + n, sizeof(flag) - n, "[=0|1]");
        else if (!strcmp(p->type, "INT")) snprintf(flag + n, sizeof(flag) - n, "=<n>");
        else if (!strcmp(p->type, "ENUM")) snprintf(flag + n, sizeof(flag) - n, "=<%s>", p->choices);
        else snprintf(flag + n, sizeof(flag) - n, "=<value>");
        char help[512];
        size_t len = strlen(p->help);
        int dot = len > 0 && p->help[len - 1] == '.';
        snprintf(help, sizeof(help), *p->def ? "%.*s (default %s)" : "%.*s", (int)(len - dot), p->help, p->def);
        slt_usage_line(out, flag, help);
    }
}

void slt_passthrough_reset(void) {
    for (size_t i = 0; i < NROWS; i++) table[i].value = NULL;
}
