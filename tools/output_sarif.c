/* output_sarif.c -- SARIF 2.1.0 for code scanning: one result per leak group, at the program's own line. */
#include "analyze.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#define SARIF_SCHEMA "https://json.schemastore.org/sarif-2.1.0.json"
#define SRCROOT "%SRCROOT%"

static struct json_object *str(const char *s) { return json_object_new_string(s ? s : ""); }

static void rule_id(const char *kind, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "socket-leak-%s", kind);
    for (char *c = buf; c < buf + (n < len ? n : len - 1); c++)
        if (*c == '_') *c = '-';
}

static const char *rule_text(const char *kind) {
    if (!strcmp(kind, "close_wait"))
        return "A socket stayed open after its peer closed (CLOSE_WAIT) until the process exited.";
    if (!strcmp(kind, "open_at_exit"))
        return "A socket was still open when the process exited.";
    if (!strcmp(kind, "received"))
        return "A socket received through SCM_RIGHTS was still held when the process exited.";
    return "A socket was leaked.";
}

/* "file://" (when absolute) and the path, percent-encoded; caller frees. */
static char *file_uri(const char *path, int absolute) {
    static const char keep[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/";
    char *uri = malloc(strlen(path) * 3 + 8), *w = uri;
    if (!uri) { perror("sockleak"); exit(2); }
    *w = '\0';                                   /* an empty path: an empty URI */
    if (absolute) w += sprintf(w, "file://");
    for (const unsigned char *c = (const unsigned char *)path; *c; c++)
        w += strchr(keep, *c) ? sprintf(w, "%c", *c) : sprintf(w, "%%%02X", *c);
    return uri;
}

/* Paths under the working directory become relative to %SRCROOT% so code
 * scanning can match them to the checkout; others stay absolute file URIs. */
static struct json_object *artifact(const char *path) {
    char cwd[PATH_MAX];
    int rel = path[0] != '/';
    size_t n = getcwd(cwd, sizeof(cwd)) ? strlen(cwd) : 0;
    if (!rel && n > 1 && !strncmp(path, cwd, n) && path[n] == '/') { path += n + 1; rel = 1; }
    char *uri = file_uri(path, !rel);
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "uri", json_object_new_string(uri));
    if (rel) json_object_object_add(a, "uriBaseId", str(SRCROOT));
    free(uri);
    return a;
}

static struct json_object *location(const struct slt_frame *f) {
    struct json_object *loc = json_object_new_object(), *phys = json_object_new_object();
    int has_line = f->file && *f->file && f->line > 0;
    json_object_object_add(phys, "artifactLocation", artifact(has_line ? f->file : f->module ? f->module : "unknown"));
    if (has_line) {
        struct json_object *region = json_object_new_object();
        json_object_object_add(region, "startLine", json_object_new_int64(f->line));
        json_object_object_add(phys, "region", region);
    }
    json_object_object_add(loc, "physicalLocation", phys);
    return loc;
}

static struct json_object *stack(const struct slt_leak *l) {
    struct json_object *frames = json_object_new_array();
    for (size_t i = 0; i < l->nframes; i++) {
        const struct slt_frame *f = &l->frames[i];
        struct json_object *fr = json_object_new_object(), *loc = location(f), *msg = json_object_new_object();
        json_object_object_add(msg, "text", str(f->function ? f->function : "??"));
        json_object_object_add(loc, "message", msg);
        json_object_object_add(fr, "location", loc);
        if (f->module) json_object_object_add(fr, "module", str(f->module));
        json_object_array_add(frames, fr);
    }
    struct json_object *st = json_object_new_object(), *msg = json_object_new_object();
    json_object_object_add(msg, "text", str("creation stack"));
    json_object_object_add(st, "message", msg);
    json_object_object_add(st, "frames", frames);
    struct json_object *stacks = json_object_new_array();
    json_object_array_add(stacks, st);
    return stacks;
}

static struct json_object *result(const struct slt_analysis *a, const struct slt_group *g, int rule_index) {
    char id[96], where[1024], text[1400], hex[17];
    const struct slt_leak *l = g->leaks[0];
    rule_id(g->kind, id, sizeof(id));
    slt_leak_where(l, where, sizeof(where));
    slt_fingerprint_hex(g->fingerprint, hex);
    int n = snprintf(text, sizeof(text), "%zu socket%s leaked (%s) from %s", g->n,
                     g->n == 1 ? "" : "s", g->kind, where);
    if (g->nprocs > 1 && n > 0 && (size_t)n < sizeof(text))
        snprintf(text + n, sizeof(text) - n, ", in %zu processes", g->nprocs);
    const struct slt_frame *f = slt_leak_source_frame(l);
    if (!f) f = slt_leak_own_frame(l);
    if (!f && l->nframes) f = &l->frames[0];
    struct slt_frame none = { .module = "unknown" };
    struct json_object *r = json_object_new_object(), *msg = json_object_new_object(),
                       *locs = json_object_new_array(), *fps = json_object_new_object(),
                       *props = json_object_new_object();
    json_object_object_add(r, "ruleId", str(id));
    json_object_object_add(r, "ruleIndex", json_object_new_int(rule_index));
    json_object_object_add(r, "level", str(slt_kind_fails(a->opts->fail_on, g->kind) ? "error" : "warning"));
    json_object_object_add(msg, "text", str(text));
    json_object_object_add(r, "message", msg);
    json_object_array_add(locs, location(f ? f : &none));
    json_object_object_add(r, "locations", locs);
    json_object_object_add(fps, "sockleakStack/v1", str(hex));
    json_object_object_add(r, "partialFingerprints", fps);
    if (l->nframes) json_object_object_add(r, "stacks", stack(l));
    json_object_object_add(props, "sockets", json_object_new_int64((int64_t)g->n));
    json_object_object_add(props, "processes", json_object_new_int64((int64_t)g->nprocs));
    json_object_object_add(r, "properties", props);
    return r;
}

/* Rules: the two documented kinds always, then any newer kind seen. */
static int rule_index(struct json_object *rules, const char *kind, const struct slt_analysis *a) {
    char id[96];
    rule_id(kind, id, sizeof(id));
    size_t n = json_object_array_length(rules);
    for (size_t i = 0; i < n; i++) {
        struct json_object *rid;
        json_object_object_get_ex(json_object_array_get_idx(rules, i), "id", &rid);
        if (!strcmp(json_object_get_string(rid), id)) return (int)i;
    }
    struct json_object *r = json_object_new_object(), *d = json_object_new_object(),
                       *cfg = json_object_new_object();
    json_object_object_add(r, "id", str(id));
    json_object_object_add(r, "name", str(kind));
    json_object_object_add(d, "text", str(rule_text(kind)));
    json_object_object_add(r, "shortDescription", d);
    json_object_object_add(cfg, "level", str(slt_kind_fails(a->opts->fail_on, kind) ? "error" : "warning"));
    json_object_object_add(r, "defaultConfiguration", cfg);
    json_object_array_add(rules, r);
    return (int)n;
}

static struct json_object *run_object(const struct slt_analysis *a) {
    struct json_object *run = json_object_new_object(), *tool = json_object_new_object(),
                       *driver = json_object_new_object(), *rules = json_object_new_array(),
                       *results = json_object_new_array();
    json_object_object_add(driver, "name", str("sockleak"));
    /* informationUri is optional: the project has no public home yet */
    rule_index(rules, "close_wait", a);
    rule_index(rules, "open_at_exit", a);
    for (size_t i = 0; i < a->groups.n; i++) {
        const struct slt_group *g = &a->groups.groups[i];
        if (!g->baselined) json_object_array_add(results, result(a, g, rule_index(rules, g->kind, a)));
    }
    json_object_object_add(driver, "rules", rules);
    json_object_object_add(tool, "driver", driver);
    json_object_object_add(run, "tool", tool);
    char cwd[PATH_MAX + 2];
    if (getcwd(cwd, PATH_MAX)) {
        struct json_object *bases = json_object_new_object(), *root = json_object_new_object();
        char *uri = file_uri(strcat(cwd, "/"), 1);
        json_object_object_add(root, "uri", str(uri));
        free(uri);
        json_object_object_add(bases, SRCROOT, root);
        json_object_object_add(run, "originalUriBaseIds", bases);
    }
    json_object_object_add(run, "results", results);
    return run;
}

void slt_write_sarif(FILE *out, const struct slt_analysis *a) {
    struct json_object *doc = json_object_new_object(), *runs = json_object_new_array();
    json_object_object_add(doc, "$schema", str(SARIF_SCHEMA));
    json_object_object_add(doc, "version", str("2.1.0"));
    json_object_array_add(runs, run_object(a));
    json_object_object_add(doc, "runs", runs);
    fprintf(out, "%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                        JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(doc);
}
