/*
 * metrics.c: the figures lib/ keeps for /metrics (see metrics.h): histograms counted with atomic adds, the
 * jobs that ended by kind and status, and the usage periods' close.
 *
 * Invariants: nothing here takes a lock or allocates. A job kind's slot is claimed once, by storing the
 * kind's name with compare-and-swap into the first free slot; slots are never given back, so a reader
 * that sees a name sees it for good. A histogram's count is not stored: it is the sum of its buckets.
 */
#include "metrics.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#define JOB_KINDS_MAX 64

static const double job_bounds[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,   2.5,  5,
                                    10,   30,   60,  120,  300, 600, 1800, 3600};
const metrics_bounds_t metrics_job_bounds = {job_bounds, sizeof(job_bounds) / sizeof(job_bounds[0])};

static const double close_bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,   2.5,
                                      5,     10,    30,   60,   120, 300, 600, 1800};
const metrics_bounds_t metrics_usage_close_bounds = {close_bounds,
                                                     sizeof(close_bounds) / sizeof(close_bounds[0])};

const char *const metrics_job_end_names[METRICS_JOB_ENDS] = {"succeeded", "failed", "canceled"};

static struct {
    const char *kind; /* NULL: free; claimed once, never changed again */
    metrics_hist_t ends[METRICS_JOB_ENDS];
} jobs[JOB_KINDS_MAX];

static metrics_hist_t close_hist;
static int64_t closed_until = -1;

void
metrics_hist_observe(metrics_hist_t *h, const metrics_bounds_t *b, double seconds)
{
    size_t i;

    assert(h != NULL && b != NULL && b->n <= METRICS_BUCKETS_MAX);
    if (!(seconds > 0))
        seconds = 0; /* negative, or NaN */
    for (i = 0; i < b->n && seconds > b->v[i]; i++)
        ;
    __atomic_fetch_add(&h->counts[i], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum_ns, (uint64_t) (seconds * 1e9), __ATOMIC_RELAXED);
}

void
metrics_hist_read(const metrics_hist_t *h, const metrics_bounds_t *b, metrics_hist_snap_t *out)
{
    uint64_t cum = 0;
    size_t i;

    assert(h != NULL && b != NULL && out != NULL && b->n <= METRICS_BUCKETS_MAX);
    for (i = 0; i < b->n; i++) {
        cum += __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
        out->cum[i] = cum;
    }
    out->count = cum + __atomic_load_n(&h->counts[b->n], __ATOMIC_RELAXED);
    out->sum = (double) __atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED) / 1e9;
}

/* ---- jobs that ended ---- */

void
metrics_job_ended(const char *kind, const char *status, double seconds)
{
    const char *seen, *expect;
    int end;
    size_t i;

    assert(kind != NULL && status != NULL);
    for (end = 0; end < METRICS_JOB_ENDS && strcmp(metrics_job_end_names[end], status) != 0; end++)
        ;
    assert(end < METRICS_JOB_ENDS);
    if (end == METRICS_JOB_ENDS)
        return;
    for (i = 0; i < JOB_KINDS_MAX; i++) {
        seen = __atomic_load_n(&jobs[i].kind, __ATOMIC_ACQUIRE);
        if (seen == NULL) {
            expect = NULL;
            if (__atomic_compare_exchange_n(&jobs[i].kind, &expect, kind, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE))
                seen = kind;
            else
                seen = expect; /* another kind took it meanwhile */
        }
        if (seen == kind || strcmp(seen, kind) == 0) {
            metrics_hist_observe(&jobs[i].ends[end], &metrics_job_bounds, seconds);
            return;
        }
    }
}

void
metrics_job_each(metrics_job_fn fn, void *arg)
{
    const char *kind;
    size_t i;

    assert(fn != NULL);
    for (i = 0; i < JOB_KINDS_MAX; i++) {
        kind = __atomic_load_n(&jobs[i].kind, __ATOMIC_ACQUIRE);
        if (kind == NULL)
            break;
        fn(arg, kind, jobs[i].ends);
    }
}

/* ---- usage periods ---- */

void
metrics_usage_close_observe(double seconds)
{
    metrics_hist_observe(&close_hist, &metrics_usage_close_bounds, seconds);
}

void
metrics_usage_closed_until(int64_t until_ms)
{
    assert(until_ms >= 0);
    __atomic_store_n(&closed_until, until_ms, __ATOMIC_RELAXED);
}

const metrics_hist_t *
metrics_usage_close_hist(void)
{
    return &close_hist;
}

int64_t
metrics_usage_closed_until_ms(void)
{
    return __atomic_load_n(&closed_until, __ATOMIC_RELAXED);
}

void
metrics__reset(void)
{
    memset(jobs, 0, sizeof(jobs));
    memset(&close_hist, 0, sizeof(close_hist));
    closed_until = -1;
}
