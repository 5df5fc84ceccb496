/*
 * text.c: the Prometheus text exposition format (version 0.0.4) for /metrics: a family's HELP and TYPE
 * lines, label values escaped, and the samples of a histogram.
 *
 * Invariants: a label value never carries a raw backslash, double quote or newline; a histogram's
 * buckets are cumulative, end with le="+Inf", and that bucket equals its _count.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"

void
api_metrics__printf(util_buf_t *b, const char *fmt, ...)
{
    char line[1024], *big;
    va_list ap;
    int n;

    assert(b != NULL && fmt != NULL);
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t) n < sizeof(line)) {
        util_buf_add(b, line, (size_t) n);
        return;
    }
    big = malloc((size_t) n + 1);
    if (big == NULL) {
        b->failed = true; /* as a failed append does: the text is lost */
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t) n + 1, fmt, ap);
    va_end(ap);
    util_buf_add(b, big, (size_t) n);
    free(big);
}

void
api_metrics__family(util_buf_t *b, const char *name, const char *type, const char *help)
{
    assert(name != NULL && type != NULL && help != NULL);
    api_metrics__printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
api_metrics__escape(const char *value, char out[API_METRICS_LABEL_MAX])
{
    size_t o = 0;
    const char *p;

    assert(value != NULL && out != NULL);
    for (p = value; *p != '\0' && o + 3 < API_METRICS_LABEL_MAX; p++) {
        if (*p == '\\' || *p == '"') {
            out[o++] = '\\';
            out[o++] = *p;
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

void
api_metrics__hist(util_buf_t *b, const char *name, const char *labels, const metrics_hist_t *h,
                  const metrics_bounds_t *bounds)
{
    const char *sep = labels[0] ? "," : "";
    metrics_hist_snap_t snap;
    size_t i;

    assert(name != NULL && labels != NULL && h != NULL && bounds != NULL);
    metrics_hist_read(h, bounds, &snap);
    for (i = 0; i < bounds->n; i++)
        api_metrics__printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds->v[i],
                            (unsigned long long) snap.cum[i]);
    api_metrics__printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                        (unsigned long long) snap.count);
    if (labels[0]) {
        api_metrics__printf(b, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels, snap.sum, name,
                            labels, (unsigned long long) snap.count);
    } else {
        api_metrics__printf(b, "%s_sum %.6f\n%s_count %llu\n", name, snap.sum, name,
                            (unsigned long long) snap.count);
    }
}
