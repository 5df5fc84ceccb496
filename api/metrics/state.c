/*
 * state.c: the families of /metrics that say what wapd holds and does, as lib/ keeps it (lib/metrics.h,
 * the hook sender's and the reconcile's counters) and as the store holds it (the active jobs, the hook
 * deliveries pending, the size on disk), read at each scrape.
 *
 * Invariants: a scrape asks the store two reads, each of what is active or pending only (the jobs queued
 * and running, the deliveries pending), never of history; a read that fails leaves its family without
 * samples in that scrape rather than showing a made-up value. Kinds of jobs are label values, escaped.
 */
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/hooks.h"
#include "../../lib/reconcile.h"
#include "metrics_internal.h"

#define KINDS_MAX 128

/* ---- jobs ---- */

/* A kind's active jobs: n[0] queued, n[1] running. */
typedef struct {
    char kind[API_METRICS_LABEL_MAX];
    int64_t n[2];
} active_t;

typedef struct {
    active_t rows[KINDS_MAX];
    size_t n;
} actives_t;

/* The row of kind (escaped), added with zeros when new; NULL when the table is full. */
static active_t *
active_row(actives_t *a, const char *kind)
{
    char label[API_METRICS_LABEL_MAX];
    size_t i;

    api_metrics__escape(kind, label);
    for (i = 0; i < a->n; i++)
        if (strcmp(a->rows[i].kind, label) == 0)
            return &a->rows[i];
    if (a->n == KINDS_MAX)
        return NULL;
    memcpy(a->rows[a->n].kind, label, sizeof(label));
    return &a->rows[a->n++];
}

/* A kind whose jobs have ended shows 0 queued and 0 running rather than no series. */
static void
on_ended_kind(void *arg, const char *kind, const metrics_hist_t *ends)
{
    (void) ends;
    active_row(arg, kind);
}

static void
on_active(void *arg, const char *kind, const char *status, int64_t n)
{
    active_t *row = active_row(arg, kind);

    if (row != NULL)
        row->n[strcmp(status, "running") == 0 ? 1 : 0] += n;
}

static void
render_active(util_buf_t *b, store_t *st)
{
    static const char *const names[2] = {"wapd_jobs_queued", "wapd_jobs_running"};
    static const char *const helps[2] = {
        "Jobs whose record says queued, by kind (one a worker has taken up says so until its first "
        "step commits).",
        "Jobs whose record says running, by kind."};
    actives_t *a = calloc(1, sizeof(*a));
    err_t err = {0};
    bool read;
    size_t i;
    int s;

    if (a == NULL) {
        b->failed = true;
        return;
    }
    metrics_job_each(on_ended_kind, a);
    read = st != NULL && store_job_counts(st, on_active, a, &err) == 0;
    for (s = 0; s < 2; s++) {
        api_metrics__family(b, names[s], "gauge", helps[s]);
        for (i = 0; read && i < a->n; i++)
            api_metrics__printf(b, "%s{kind=\"%s\"} %lld\n", names[s], a->rows[i].kind,
                                (long long) a->rows[i].n[s]);
    }
    free(a);
}

/* Which family of the ended jobs a pass prints. */
typedef struct {
    util_buf_t *b;
    bool counts; /* wapd_jobs_finished_total; else wapd_job_duration_seconds */
} ended_pass_t;

static void
on_ended(void *arg, const char *kind, const metrics_hist_t *ends)
{
    ended_pass_t *p = arg;
    char label[API_METRICS_LABEL_MAX], labels[API_METRICS_LABEL_MAX + 64];
    metrics_hist_snap_t snap;
    int s;

    api_metrics__escape(kind, label);
    for (s = 0; s < METRICS_JOB_ENDS; s++) {
        snprintf(labels, sizeof(labels), "kind=\"%s\",status=\"%s\"", label, metrics_job_end_names[s]);
        if (!p->counts) {
            api_metrics__hist(p->b, "wapd_job_duration_seconds", labels, &ends[s], &metrics_job_bounds);
            continue;
        }
        metrics_hist_read(&ends[s], &metrics_job_bounds, &snap);
        api_metrics__printf(p->b, "wapd_jobs_finished_total{%s} %llu\n", labels,
                            (unsigned long long) snap.count);
    }
}

static void
render_jobs(util_buf_t *b, store_t *st)
{
    ended_pass_t pass = {b, false};

    render_active(b, st);
    api_metrics__family(b, "wapd_job_duration_seconds", "histogram",
                        "Time from a job's submit to its end, of the jobs that ended since the start, "
                        "by kind and final status.");
    metrics_job_each(on_ended, &pass);
    api_metrics__family(b, "wapd_jobs_finished_total", "counter",
                        "Jobs that ended since the start, by kind and final status.");
    pass.counts = true;
    metrics_job_each(on_ended, &pass);
}

/* ---- hooks, usage, store, reconcile, build ---- */

static void
render_hooks(util_buf_t *b, store_t *st)
{
    int64_t pending = 0, oldest = -1, now = util_now_ms();
    uint64_t ok, failed, given_up;
    err_t err = {0};
    bool read = st != NULL && store_delivery_backlog(st, &pending, &oldest, &err) == 0;

    hooks_sender_stats(&ok, &failed, &given_up);
    api_metrics__printf(b,
                        "# HELP wapd_hook_attempts_total Hook delivery attempts, by outcome.\n"
                        "# TYPE wapd_hook_attempts_total counter\n"
                        "wapd_hook_attempts_total{outcome=\"succeeded\"} %llu\n"
                        "wapd_hook_attempts_total{outcome=\"failed\"} %llu\n"
                        "# HELP wapd_hook_deliveries_given_up_total Deliveries marked failed after the "
                        "maximum age.\n"
                        "# TYPE wapd_hook_deliveries_given_up_total counter\n"
                        "wapd_hook_deliveries_given_up_total %llu\n",
                        (unsigned long long) ok, (unsigned long long) failed,
                        (unsigned long long) given_up);
    api_metrics__family(b, "wapd_hook_deliveries_pending", "gauge",
                        "Hook deliveries queued and not yet delivered or given up, every hook's.");
    if (read)
        api_metrics__printf(b, "wapd_hook_deliveries_pending %lld\n", (long long) pending);
    api_metrics__family(b, "wapd_hook_oldest_pending_age_seconds", "gauge",
                        "How long the earliest queued pending delivery has waited (0: none pending).");
    if (read)
        api_metrics__printf(b, "wapd_hook_oldest_pending_age_seconds %.3f\n",
                            oldest < 0 || oldest > now ? 0.0 : (double) (now - oldest) / 1000.0);
}

static void
render_usage(util_buf_t *b)
{
    int64_t until = metrics_usage_closed_until_ms(), now = util_now_ms();

    api_metrics__family(b, "wapd_usage_close_duration_seconds", "histogram",
                        "Time taken to close a usage period (its records metered and stored).");
    api_metrics__hist(b, "wapd_usage_close_duration_seconds", "", metrics_usage_close_hist(),
                      &metrics_usage_close_bounds);
    api_metrics__family(b, "wapd_usage_close_lag_seconds", "gauge",
                        "Now minus the end of the last closed usage period (no sample before the first "
                        "close round).");
    if (until >= 0)
        api_metrics__printf(b, "wapd_usage_close_lag_seconds %.3f\n",
                            until > now ? 0.0 : (double) (now - until) / 1000.0);
}

static void
render_store(util_buf_t *b, store_t *st)
{
    int64_t size;

    if (st == NULL)
        return;
    api_metrics__printf(b,
                        "# HELP wapd_store_transactions_total Write transactions committed.\n"
                        "# TYPE wapd_store_transactions_total counter\n"
                        "wapd_store_transactions_total %llu\n"
                        "# HELP wapd_store_commits_total Durable commits (fsyncs) that made them so; "
                        "concurrent transactions share one.\n"
                        "# TYPE wapd_store_commits_total counter\n"
                        "wapd_store_commits_total %llu\n",
                        (unsigned long long) store_commits(st), (unsigned long long) store_batches(st));
    size = store_size_bytes(st);
    api_metrics__family(b, "wapd_store_size_bytes", "gauge",
                        "Bytes the database takes on disk (its file and its write-ahead log).");
    if (size >= 0)
        api_metrics__printf(b, "wapd_store_size_bytes %lld\n", (long long) size);
    api_metrics__family(b, "wapd_leader", "gauge",
                        "1 when this daemon leads the periodic work (usage close, retention, inventory "
                        "sync, reconcile, purges, heartbeats, hook delivery), else 0.");
    api_metrics__printf(b, "wapd_leader %d\n", store_is_leader(st) ? 1 : 0);
}

static void
render_reconcile(util_buf_t *b)
{
    reconcile_stats_t rs;

    reconcile_stats(&rs);
    api_metrics__printf(b,
                        "# HELP wapd_reconcile_runs_total Rounds of the periodic reconcile of quota usage "
                        "and host allocation.\n"
                        "# TYPE wapd_reconcile_runs_total counter\n"
                        "wapd_reconcile_runs_total %llu\n"
                        "# HELP wapd_reconcile_drift_total Counters found to differ from the records they "
                        "count, and corrected, by kind.\n"
                        "# TYPE wapd_reconcile_drift_total counter\n"
                        "wapd_reconcile_drift_total{kind=\"subscription\"} %llu\n"
                        "wapd_reconcile_drift_total{kind=\"host\"} %llu\n"
                        "# HELP wapd_reconcile_last_run_timestamp_seconds When the last reconcile round "
                        "ended (0: none yet).\n"
                        "# TYPE wapd_reconcile_last_run_timestamp_seconds gauge\n"
                        "wapd_reconcile_last_run_timestamp_seconds %.3f\n",
                        (unsigned long long) rs.runs, (unsigned long long) rs.subscriptions,
                        (unsigned long long) rs.hosts, (double) rs.last_run_ms / 1000.0);
}

void
api_metrics__state(util_buf_t *b, store_t *st)
{
    char version[API_METRICS_LABEL_MAX];

    assert(b != NULL);
    render_jobs(b, st);
    render_hooks(b, st);
    render_usage(b);
    render_store(b, st);
    render_reconcile(b);
    api_metrics__escape(WAPD_VERSION, version);
    api_metrics__family(b, "wapd_build_info", "gauge", "Always 1; the version of wapd is its label.");
    api_metrics__printf(b, "wapd_build_info{version=\"%s\"} 1\n", version);
}
