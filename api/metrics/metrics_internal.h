/*
 * metrics_internal.h: what the files of /metrics share; not for other modules.
 *
 * api/metrics.c counts the requests and renders the page (api_metrics_render), a family after another;
 * api/metrics/text.c writes the Prometheus text format (families, escaped label values, histograms);
 * api/metrics/state.c renders what lib/ and the store know (jobs, hook deliveries, usage close, the
 * store, reconcile, build); api/metrics/process.c renders process_* from /proc/self.
 *
 * Every render call appends to a util_buf_t, whose failure (out of memory) sticks and is seen by the
 * caller once, when it takes the text.
 */
#ifndef WAPD_API_METRICS_INTERNAL_H
#define WAPD_API_METRICS_INTERNAL_H

#include <stddef.h>

#include "../../lib/metrics.h"
#include "../../lib/store.h"
#include "../../lib/util.h"

/* The room label values are escaped into; a longer value is cut. */
#define API_METRICS_LABEL_MAX 256

/* ---- text.c ---- */
void api_metrics__printf(util_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The family's "# HELP" and "# TYPE" lines; type is "counter", "gauge" or "histogram". */
void api_metrics__family(util_buf_t *b, const char *name, const char *type, const char *help);
/* value as a label value (backslash, double quote and newline escaped) into out. */
void api_metrics__escape(const char *value, char out[API_METRICS_LABEL_MAX]);
/* The samples of histogram name: _bucket for every bound and +Inf, _sum, _count; labels (already
 * escaped, "a=\"x\",b=\"y\"", or "" for none) on each. */
void api_metrics__hist(util_buf_t *b, const char *name, const char *labels, const metrics_hist_t *h,
                       const metrics_bounds_t *bounds);

/* ---- state.c ---- */
/* Every family of what lib/ keeps and the store holds; st may be NULL (only lib/'s figures then). */
void api_metrics__state(util_buf_t *b, store_t *st);

/* ---- process.c ---- */
/* process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds: each one that could be read. */
void api_metrics__process(util_buf_t *b);

#endif
