/* output_json.c -- the merged report as JSON Lines: the leaks as read plus a fingerprint, then one summary. */
#include "analyze.h"

#include <json-c/json.h>

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static struct json_object *summary(const struct slt_analysis *a) {
    struct json_object *s = json_object_new_object();
    json_object_object_add(s, "event", json_object_new_string("summary"));
    json_object_object_add(s, "processes", json_object_new_int64((int64_t)a->report.nprocs));
    json_object_object_add(s, "sockets_opened", json_object_new_int64(a->opened));
    json_object_object_add(s, "sockets_closed", json_object_new_int64(a->closed));
    json_object_object_add(s, "leaks", json_object_new_int64((int64_t)a->new_leaks));
    json_object_object_add(s, "close_wait", json_object_new_int64((int64_t)a->new_close_wait));
    json_object_object_add(s, "open_at_exit", json_object_new_int64((int64_t)a->new_open));
    json_object_object_add(s, "received", json_object_new_int64((int64_t)a->new_received));
    json_object_object_add(s, "groups", json_object_new_int64((int64_t)a->new_groups));
    json_object_object_add(s, "baselined", json_object_new_int64((int64_t)a->known_leaks));
    json_object_object_add(s, "suppressed", json_object_new_int64((int64_t)a->suppressed));
    struct json_object *used = json_object_new_array();
    for (size_t i = 0; i < a->supp.n; i++) {
        if (!a->supp.v[i].hits) continue;
        struct json_object *u = json_object_new_object();
        json_object_object_add(u, "pattern", json_object_new_string(a->supp.v[i].pattern));
        json_object_object_add(u, "count", json_object_new_int64((int64_t)a->supp.v[i].hits));
        json_object_array_add(used, u);
    }
    json_object_object_add(s, "suppressions_used", used);
    return s;
}

void slt_write_json(FILE *out, const struct slt_analysis *a) {
    char hex[17];
    for (size_t i = 0; i < a->groups.n; i++) {
        const struct slt_group *g = &a->groups.groups[i];
        slt_fingerprint_hex(g->fingerprint, hex);
        for (size_t j = 0; j < g->n; j++) {
            struct json_object *o = g->leaks[j]->obj;
            json_object_object_add(o, "fingerprint", json_object_new_string(hex));
            if (g->baselined) json_object_object_add(o, "baseline", json_object_new_boolean(1));
            fprintf(out, "%s\n", json_object_to_json_string_ext(o, JSON_FLAGS));
        }
    }
    struct json_object *s = summary(a);
    fprintf(out, "%s\n", json_object_to_json_string_ext(s, JSON_FLAGS));
    json_object_put(s);
}
