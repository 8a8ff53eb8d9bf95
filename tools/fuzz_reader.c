/* fuzz_reader.c -- libFuzzer target: arbitrary bytes as a report file, through the reader, grouping and every writer. */
#include <stdio.h>
#include <string.h>

#include "analyze.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    struct slt_analysis a;
    struct slt_analyze_opts o = { .format = "text", .fail_on = "any", .max_sockets = 3 };
    char err[256];
    memset(&a, 0, sizeof(a));
    a.opts = &o;
    slt_report_init(&a.report);
    FILE *in = fmemopen((void *)data, size, "r");
    if (!in) return 0;
    slt_report_read_stream(&a.report, in, "fuzz", NULL);
    fclose(in);
    if (slt_analyze(&a, err, sizeof(err)) == 0) {
        FILE *null = fopen("/dev/null", "w");
        slt_write_text(null, &a);
        slt_write_json(null, &a);
        slt_write_sarif(null, &a);
        fclose(null);
    }
    slt_analysis_free(&a);
    return 0;
}
