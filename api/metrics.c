/*
 * metrics.c: GET /metrics: request counters per listener, route, method and status, and request latency
 * histograms per listener, route and method, then every other family (api/metrics/: what lib/ and the
 * store hold, and the process), in the Prometheus text format.
 *
 * Series are kept per route (a request that matched no route counts under route="unmatched" of its
 * listener). Counting is lock-free: a counter series is claimed once with compare-and-swap, then added to
 * atomically; the latency histograms are fixed, one per route and method, added to atomically. Methods
 * outside the ones we serve fold into OTHER, so clients cannot grow the table.
 */
#include "internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics_internal.h"

static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,   5,     10};
static const metrics_bounds_t latency = {latency_bounds,
                                         sizeof(latency_bounds) / sizeof(latency_bounds[0])};
#define MAX_SERIES 48
#define METHODS (API__METHODS + 1) /* the API's methods, then OTHER */

/* A counter series: claimed once (its key set by compare-and-swap) and then only added to. */
typedef struct {
    int key; /* 0: free; else (method + 1) << 16 | status */
    uint64_t count;
} series_t;

typedef struct {
    series_t series[MAX_SERIES];
    metrics_hist_t latency[METHODS];
} route_stats_t;

#define MAX_ROUTES 128
/* [0, api_route_count): routes; then one "unmatched" slot per listener. */
static route_stats_t stats[MAX_ROUTES + 2];
static const char *const method_labels[METHODS] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OTHER"};

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
    int m = (int) api_method_parse(method), key = ((m + 1) << 16) | (status & 0xffff), k, expect;
    int i;

    assert(m >= 0 && m < METHODS);
    metrics_hist_observe(&rs->latency[m], &latency, seconds);
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
            __atomic_fetch_add(&rs->series[i].count, 1, __ATOMIC_RELAXED);
            return;
        }
    }
    /* table full: dropped rather than blocking */
}

/* The samples of one route's slot: its counters (pass 0) or its latency histograms (pass 1). */
static void
render_slot(util_buf_t *b, int pass, route_stats_t *rs, const char *listener, const char *route)
{
    char esc[API_METRICS_LABEL_MAX], labels[API_METRICS_LABEL_MAX + 64];
    metrics_hist_snap_t snap;
    int i, key;

    api_metrics__escape(route, esc);
    for (i = 0; pass == 0 && i < MAX_SERIES; i++) {
        key = __atomic_load_n(&rs->series[i].key, __ATOMIC_ACQUIRE);
        if (key == 0)
            break;
        api_metrics__printf(b,
                            "wapd_http_requests_total{listener=\"%s\",route=\"%s\",method=\"%s\","
                            "status=\"%d\"} %llu\n",
                            listener, esc, method_labels[((key >> 16) - 1) % METHODS], key & 0xffff,
                            (unsigned long long) __atomic_load_n(&rs->series[i].count,
                                                                 __ATOMIC_RELAXED));
    }
    for (i = 0; pass == 1 && i < METHODS; i++) {
        metrics_hist_read(&rs->latency[i], &latency, &snap);
        if (snap.count == 0)
            continue;
        snprintf(labels, sizeof(labels), "listener=\"%s\",route=\"%s\",method=\"%s\"", listener, esc,
                 method_labels[i]);
        api_metrics__hist(b, "wapd_http_request_duration_seconds", labels, &rs->latency[i], &latency);
    }
}

static void
render_http(util_buf_t *b)
{
    int pass, i;

    for (pass = 0; pass < 2; pass++) {
        if (pass == 0)
            api_metrics__family(b, "wapd_http_requests_total", "counter",
                                "HTTP requests answered, by listener, route, method and status.");
        else
            api_metrics__family(b, "wapd_http_request_duration_seconds", "histogram",
                                "Time from a request's headers to its answer, by listener, route and "
                                "method.");
        for (i = 0; i < api_route_count && i < MAX_ROUTES; i++)
            render_slot(b, pass, &stats[i],
                        api_routes[i].listener == API_LISTENER_ADMIN ? "admin" : "tenant",
                        api_routes[i].pattern);
        render_slot(b, pass, &stats[MAX_ROUTES], "admin", "unmatched");
        render_slot(b, pass, &stats[MAX_ROUTES + 1], "tenant", "unmatched");
    }
}

char *
api_metrics_render(store_t *st)
{
    util_buf_t b = {0};

    util_buf_reserve(&b, 64 * 1024);
    render_http(&b);
    api_metrics__family(&b, "wapd_http_rate_limited_total", "counter",
                        "Tenant requests refused with 429 by the rate limit.");
    api_metrics__printf(&b, "wapd_http_rate_limited_total %llu\n",
                        (unsigned long long) api_ratelimit_refused());
    api_metrics__state(&b, st);
    api_metrics__process(&b);
    return util_buf_take(&b);
}
