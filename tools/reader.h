/* reader.h -- read sockleak JSON Lines reports (docs/report-format.md) into leaks and processes. */
#ifndef SLT_READER_H
#define SLT_READER_H

#include <stddef.h>
#include <stdio.h>

struct json_object;

/* One frame of a creation stack, innermost first; NULL/0 when unknown. */
struct slt_frame {
    char *lang;              /* "python", "java", "js"; NULL for a native frame */
    char *pc;
    char *module;
    char *offset;
    char *function;
    char *file;
    long line;
    long column;             /* language frames; 0 when unknown */
    int inlined;
};

/* One "leak" event as read. Strings are owned by the leak. */
struct slt_leak {
    char *kind;              /* close_wait, open_at_exit, or a newer kind */
    char *when;              /* exit, live, snapshot or detach (sockleak attach) */
    char *origin;            /* socket, accept, ..., pre_attach; NULL when absent */
    long pid;
    size_t file;             /* index into slt_report.files */
    size_t proc;             /* index into slt_report.procs (after finish) */
    long fd;
    long stack_id;           /* -1 when absent */
    char *local, *peer, *tcp_state;
    long age_ms, fin_age_ms; /* -1 when unknown */
    struct slt_frame *frames;
    size_t nframes;
    struct json_object *obj; /* the event as read, for JSON output */
    size_t seq;              /* read order, so a later report of a socket wins */
    /* filled by the analysis (group.c, suppress.c) */
    unsigned long long fingerprint;
    int suppressed_by;       /* index of the matching suppression, or -1 */
};

/* A process seen in the input: a pid within one source file. */
struct slt_process {
    size_t file;             /* index into slt_report.files */
    long pid;
    int has_summary;
    long opened, closed, exit_status;
};

struct slt_report {
    struct slt_leak *leaks;
    size_t nleaks, leaks_cap;
    struct slt_process *sums;    /* "summary" events as read */
    size_t nsums, sums_cap;
    struct slt_process *procs;   /* distinct processes (after finish) */
    size_t nprocs;
    char **files;
    size_t nfiles;
    size_t bad_lines;        /* malformed lines skipped (each reported) */
};

/* Lines longer than this are rejected rather than parsed. */
#define SLT_MAX_LINE (4u << 20)

void slt_report_init(struct slt_report *r);
void slt_report_free(struct slt_report *r);

/* Register a source name (file path) and return its index. */
size_t slt_report_add_source(struct slt_report *r, const char *name);

/* Parse one line of source src. Returns 0 when the line was used or
 * ignored (blank, unknown event), -1 when malformed: err then says why. */
int slt_report_parse_line(struct slt_report *r, size_t src, const char *line,
                          size_t len, char *err, size_t errlen);

/* Read every line of stream f as source name; each malformed line is
 * reported on errout as "name:LINE: reason" and skipped. */
void slt_report_read_stream(struct slt_report *r, FILE *f, const char *name,
                            FILE *errout);

/* Open and read path ("-" is stdin). Returns -1 (after a message on
 * errout) when the file cannot be read at all. */
int slt_report_read_file(struct slt_report *r, const char *path, FILE *errout);

/* After the last read: drop earlier reports of a socket reported again
 * later (a "live" report followed by the "exit" one) and build procs. */
void slt_report_finish(struct slt_report *r);

#endif
