/*
 * metrics.h: what lib/ measures for /metrics, kept in memory for the life of the process: a histogram
 * type counted with atomic adds only, the jobs that ended (by kind and status, with their durations), and
 * the usage periods' close (its duration, and the end of the last closed period).
 *
 * lib/ records here and never prints; api/metrics.c reads and prints (lib never includes api/). Figures
 * that live in the database (jobs queued, deliveries pending) are not kept here: they are read from the
 * store at each scrape.
 *
 * Invariants: recording never blocks and never allocates: every counter is a fixed slot added to
 * atomically, and a job kind's slot is claimed once with compare-and-swap. A reader sees each counter as
 * it was at some moment; a histogram's count is the sum of its buckets, so a scrape never sees a count
 * below a bucket's.
 */
#ifndef WAPD_METRICS_H
#define WAPD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_BUCKETS_MAX 16

/* The upper bounds of a histogram's buckets (seconds, ascending, at most METRICS_BUCKETS_MAX; static). */
typedef struct {
    const double *v;
    size_t n;
} metrics_bounds_t;

/* A histogram of values in seconds over some bounds, which every call on it names (the same ones each
 * time). A value above the last bound falls into the +Inf bucket only. All zero is empty. */
typedef struct {
    uint64_t counts[METRICS_BUCKETS_MAX + 1]; /* per bucket, not cumulative; [n]: above the last bound */
    uint64_t sum_ns;
} metrics_hist_t;

/* What a histogram held at one moment: cumulative counts per bound, the count and the sum. */
typedef struct {
    uint64_t cum[METRICS_BUCKETS_MAX];
    uint64_t count;
    double sum;
} metrics_hist_snap_t;

/* Counts value (seconds; a negative value counts as 0) into h. Lock-free. */
void metrics_hist_observe(metrics_hist_t *h, const metrics_bounds_t *b, double seconds);
/* Reads h into *out. */
void metrics_hist_read(const metrics_hist_t *h, const metrics_bounds_t *b, metrics_hist_snap_t *out);

/* ---- jobs that ended ---- */

/* The bounds of the job duration histograms. */
extern const metrics_bounds_t metrics_job_bounds;

/* A job of kind ended with status ("succeeded", "failed" or "canceled") after seconds (from its submit to
 * its end). kind must live as long as the process (a registered kind's name); kinds past the table's room
 * (64) are not counted. Lock-free. */
void metrics_job_ended(const char *kind, const char *status, double seconds);
/* The job statuses counted, in the order metrics_job_each reports them. */
#define METRICS_JOB_ENDS 3
extern const char *const metrics_job_end_names[METRICS_JOB_ENDS];
/* Calls fn(arg, kind, ends) for every kind a job of which has ended, in the order they first did; ends
 * (borrowed for the call) holds one histogram per status of metrics_job_end_names. */
typedef void (*metrics_job_fn)(void *arg, const char *kind, const metrics_hist_t *ends);
void metrics_job_each(metrics_job_fn fn, void *arg);

/* ---- usage periods ---- */

/* A usage period was closed, in seconds. */
void metrics_usage_close_observe(double seconds);
/* Every period that ended by until_ms is closed (the closer's mark, after each round). */
void metrics_usage_closed_until(int64_t until_ms);
/* The bounds of the close duration histogram; the histogram; the mark (-1 until a close round has run). */
extern const metrics_bounds_t metrics_usage_close_bounds;
const metrics_hist_t *metrics_usage_close_hist(void);
int64_t metrics_usage_closed_until_ms(void);

/* Test hook: forgets everything recorded. Not while other threads record. */
void metrics__reset(void);

#endif
