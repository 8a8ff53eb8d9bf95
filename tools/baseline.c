/* baseline.c -- read and write baseline files (JSON via json-c) keyed by stack fingerprint. */
#include "baseline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

static int cmp_u64(const void *pa, const void *pb) {
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return (a > b) - (a < b);
}

static int parse_fp(const char *s, uint64_t *out) {
    if (strlen(s) != 16 || strspn(s, "0123456789abcdefABCDEF") != 16) return -1;
    *out = strtoull(s, NULL, 16);
    return 0;
}

/* Fill b from the parsed document; the caller frees doc. */
static int load_doc(struct slt_baseline *b, struct json_object *doc, const char *path,
                    char *err, size_t errlen) {
    struct json_object *leaks, *fp;
    if (!json_object_is_type(doc, json_type_object) ||
        !json_object_object_get_ex(doc, "leaks", &leaks) ||
        !json_object_is_type(leaks, json_type_array)) {
        snprintf(err, errlen, "%s: not a sockleak baseline (no \"leaks\" array)", path);
        return -1;
    }
    size_t n = json_object_array_length(leaks);
    b->fps = calloc(n ? n : 1, sizeof(*b->fps));
    if (!b->fps) { snprintf(err, errlen, "out of memory"); return -1; }
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(leaks, i);
        if (!json_object_is_type(e, json_type_object) ||
            !json_object_object_get_ex(e, "fingerprint", &fp) ||
            !json_object_is_type(fp, json_type_string) ||
            parse_fp(json_object_get_string(fp), &b->fps[b->n])) {
            snprintf(err, errlen, "%s: leaks[%zu] has no \"fingerprint\" of 16 hex digits", path, i);
            return -1;
        }
        b->n++;
    }
    qsort(b->fps, b->n, sizeof(*b->fps), cmp_u64);
    return 0;
}

int slt_baseline_load(struct slt_baseline *b, const char *path, char *err, size_t errlen) {
    memset(b, 0, sizeof(*b));
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read baseline %s: %s", path, strerror(errno));
        return -1;
    }
    fclose(f);
    struct json_object *doc = json_object_from_file(path);
    if (!doc) {
        snprintf(err, errlen, "%s: not valid JSON: %s", path, json_util_get_last_err());
        return -1;
    }
    int rc = load_doc(b, doc, path, err, errlen);
    json_object_put(doc);
    if (rc) slt_baseline_free(b);
    return rc;
}

size_t slt_baseline_apply(const struct slt_baseline *b, struct slt_grouping *g) {
    size_t hits = 0;
    for (size_t i = 0; i < g->n; i++) {
        uint64_t fp = g->groups[i].fingerprint;
        g->groups[i].baselined = b->n && bsearch(&fp, b->fps, b->n, sizeof(fp), cmp_u64);
        hits += (size_t)g->groups[i].baselined;
    }
    return hits;
}

static struct json_object *group_entry(const struct slt_group *grp) {
    char hex[17], where[1024];
    slt_fingerprint_hex(grp->fingerprint, hex);
    slt_leak_where(grp->leaks[0], where, sizeof(where));
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "fingerprint", json_object_new_string(hex));
    json_object_object_add(e, "kind", json_object_new_string(grp->kind));
    json_object_object_add(e, "where", json_object_new_string(where));
    json_object_object_add(e, "sockets", json_object_new_int64((int64_t)grp->n));
    json_object_object_add(e, "processes", json_object_new_int64((int64_t)grp->nprocs));
    return e;
}

int slt_baseline_write(const struct slt_grouping *g, const char *path, char *err, size_t errlen) {
    struct json_object *doc = json_object_new_object(), *leaks = json_object_new_array();
    json_object_object_add(doc, "sockleak_baseline", json_object_new_int(1));
    for (size_t i = 0; i < g->n; i++) json_object_array_add(leaks, group_entry(&g->groups[i]));
    json_object_object_add(doc, "leaks", leaks);
    int rc = json_object_to_file_ext(path, doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    json_object_put(doc);
    if (rc) snprintf(err, errlen, "cannot write baseline %s: %s", path, strerror(errno));
    return rc ? -1 : 0;
}

void slt_baseline_free(struct slt_baseline *b) {
    free(b->fps);
    memset(b, 0, sizeof(*b));
}
