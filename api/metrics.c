/*
 * metrics.c: request counters and latency histograms per listener, route, method and status, rendered in
 * the Prometheus text format at GET /metrics.
 *
 * Besides them: hook deliveries, store commits, and the periodic reconcile's rounds and drifts
 * (lib/reconcile.h).
 *
 * Series are kept per route (a request that matched no route counts under route="unmatched" of its
 * listener). Counting is lock-free: a series is claimed once with compare-and-swap, then added to atomically.
 */
#include "internal.h"

#include "../lib/hooks.h"
#include "../lib/reconcile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,   5,     10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define MAX_SERIES 48

/* A series is claimed once (its key set by compare-and-swap) and then only counted into with atomic adds,
 * so requests never wait on each other here. */
typedef struct {
    int key; /* 0: free; else (method + 1) << 16 | status */
    uint64_t count;
    uint64_t bucket_counts[NBUCKETS]; /* not cumulative */
    uint64_t sum_ns;
} series_t;

typedef struct {
    series_t series[MAX_SERIES];
} route_stats_t;

#define MAX_ROUTES 128
/* [0, api_route_count): routes; then one "unmatched" slot per listener. */
static route_stats_t stats[MAX_ROUTES + 2];
static const char *const method_labels[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OTHER"};

static route_stats_t *
slot(api_listener_t listener, int route_index)
{
    if (route_index >= 0 && route_index < api_route_count && route_index < MAX_ROUTES)
        return &stats[route_index];
    return &stats[MAX_ROUTES + (listener == API_LISTENER_ADMIN ? 0 : 1)];
}

void
api_metrics_observe(api_listener_t listener, int route_index, const char *method, int status,
                    double seconds)
{
    route_stats_t *rs = slot(listener, route_index);
    /* Methods outside the ones we serve fold into OTHER, so clients cannot grow the table. */
    int key = (((int) api_method_parse(method) + 1) << 16) | (status & 0xffff), k, expect;
    series_t *s = NULL;
    size_t b;
    int i;

    for (i = 0; i < MAX_SERIES; i++) {
        k = __atomic_load_n(&rs->series[i].key, __ATOMIC_ACQUIRE);
        if (k == 0) {
            expect = 0;
            if (__atomic_compare_exchange_n(&rs->series[i].key, &expect, key, false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                k = key;
            else
                k = expect;
        }
        if (k == key) {
            s = &rs->series[i];
            break;
        }
    }
    if (s == NULL)
        return; /* table full: drop rather than block */
    for (b = 0; b < NBUCKETS && seconds > buckets[b]; b++)
        ;
    if (b < NBUCKETS)
        __atomic_fetch_add(&s->bucket_counts[b], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->sum_ns, (uint64_t) (seconds * 1e9), __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->count, 1, __ATOMIC_RELAXED);
}

typedef struct {
    char *buf;
    size_t len, cap;
} out_t;

static void
out_add(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out_add(out_t *o, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *grown;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t) n < o->cap - o->len) {
            o->len += (size_t) n;
            return;
        }
        grown = realloc(o->buf, o->cap * 2 + (size_t) n);
        if (grown == NULL)
            return;
        o->buf = grown;
        o->cap = o->cap * 2 + (size_t) n;
    }
}

static void
render_slot(out_t *o, int pass, route_stats_t *rs, const char *listener, const char *route)
{
    uint64_t cum, count;
    char labels[512];
    size_t b;
    int i, key;

    for (i = 0; i < MAX_SERIES; i++) {
        series_t *s = &rs->series[i];

        key = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
        if (key == 0)
            break;
        snprintf(labels, sizeof(labels), "listener=\"%s\",route=\"%s\",method=\"%s\",status=\"%d\"",
                 listener, route, method_labels[((key >> 16) - 1) % 6], key & 0xffff);
        count = __atomic_load_n(&s->count, __ATOMIC_RELAXED);
        if (pass == 0) {
            out_add(o, "wapd_http_requests_total{%s} %llu\n", labels, (unsigned long long) count);
            continue;
        }
        cum = 0;
        for (b = 0; b < NBUCKETS; b++) {
            cum += __atomic_load_n(&s->bucket_counts[b], __ATOMIC_RELAXED);
            out_add(o, "wapd_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", labels,
                    buckets[b], (unsigned long long) cum);
        }
        if (cum > count)
            count = cum; /* read while being counted: keep the histogram monotonic */
        out_add(o, "wapd_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", labels,
                (unsigned long long) count);
        out_add(o, "wapd_http_request_duration_seconds_sum{%s} %.6f\n", labels,
                (double) __atomic_load_n(&s->sum_ns, __ATOMIC_RELAXED) / 1e9);
        out_add(o, "wapd_http_request_duration_seconds_count{%s} %llu\n", labels,
                (unsigned long long) count);
    }
}

char *
api_metrics_render(store_t *st)
{
    out_t o = {malloc(8192), 0, 8192};
    uint64_t ok, failed, given_up;
    reconcile_stats_t rs;
    int pass, i;

    if (o.buf == NULL)
        return NULL;
    o.buf[0] = '\0';
    for (pass = 0; pass < 2; pass++) {
        if (pass == 0)
            out_add(&o, "# HELP wapd_http_requests_total HTTP requests answered.\n"
                        "# TYPE wapd_http_requests_total counter\n");
        else
            out_add(&o, "# HELP wapd_http_request_duration_seconds Time from a request's headers "
                        "to its answer.\n# TYPE wapd_http_request_duration_seconds histogram\n");
        for (i = 0; i < api_route_count && i < MAX_ROUTES; i++)
            render_slot(&o, pass, &stats[i],
                        api_routes[i].listener == API_LISTENER_ADMIN ? "admin" : "tenant",
                        api_routes[i].pattern);
        render_slot(&o, pass, &stats[MAX_ROUTES], "admin", "unmatched");
        render_slot(&o, pass, &stats[MAX_ROUTES + 1], "tenant", "unmatched");
    }
    hooks_sender_stats(&ok, &failed, &given_up);
    out_add(&o,
            "# HELP wapd_hook_attempts_total Hook delivery attempts, by outcome.\n"
            "# TYPE wapd_hook_attempts_total counter\n"
            "wapd_hook_attempts_total{outcome=\"succeeded\"} %llu\n"
            "wapd_hook_attempts_total{outcome=\"failed\"} %llu\n"
            "# HELP wapd_hook_deliveries_given_up_total Deliveries marked failed after the maximum age.\n"
            "# TYPE wapd_hook_deliveries_given_up_total counter\n"
            "wapd_hook_deliveries_given_up_total %llu\n",
            (unsigned long long) ok, (unsigned long long) failed, (unsigned long long) given_up);
    reconcile_stats(&rs);
    out_add(&o,
            "# HELP wapd_reconcile_runs_total Rounds of the periodic reconcile of quota usage and host "
            "allocation.\n"
            "# TYPE wapd_reconcile_runs_total counter\n"
            "wapd_reconcile_runs_total %llu\n"
            "# HELP wapd_reconcile_drift_total Counters found to differ from the records they count, and "
            "corrected, by kind.\n"
            "# TYPE wapd_reconcile_drift_total counter\n"
            "wapd_reconcile_drift_total{kind=\"subscription\"} %llu\n"
            "wapd_reconcile_drift_total{kind=\"host\"} %llu\n"
            "# HELP wapd_reconcile_last_run_timestamp_seconds When the last reconcile round ended (0: "
            "none yet).\n"
            "# TYPE wapd_reconcile_last_run_timestamp_seconds gauge\n"
            "wapd_reconcile_last_run_timestamp_seconds %.3f\n",
            (unsigned long long) rs.runs, (unsigned long long) rs.subscriptions,
            (unsigned long long) rs.hosts, (double) rs.last_run_ms / 1000.0);
    out_add(&o,
            "# HELP wapd_http_rate_limited_total Tenant requests refused with 429 by the rate limit.\n"
            "# TYPE wapd_http_rate_limited_total counter\n"
            "wapd_http_rate_limited_total %llu\n",
            (unsigned long long) api_ratelimit_refused());
    if (st != NULL)
        out_add(&o,
                "# HELP wapd_store_transactions_total Write transactions committed.\n"
                "# TYPE wapd_store_transactions_total counter\n"
                "wapd_store_transactions_total %llu\n"
                "# HELP wapd_store_commits_total Durable commits (fsyncs) that made them so; concurrent "
                "transactions share one.\n"
                "# TYPE wapd_store_commits_total counter\n"
                "wapd_store_commits_total %llu\n",
                (unsigned long long) store_commits(st), (unsigned long long) store_batches(st));
    return o.buf;
}
