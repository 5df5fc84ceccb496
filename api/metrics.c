/*
 * metrics.c: request counters and latency histograms per listener, route, method and status, rendered in
 * the Prometheus text format at GET /metrics.
 *
 * Series are kept per route (a request that matched no route counts under route="unmatched" of its
 * listener); each route's series list has its own lock, so requests to different routes never contend.
 */
#include "internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,   5,     10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define MAX_SERIES 48

typedef struct {
    char method[16];
    int status;
    uint64_t count;
    uint64_t bucket_counts[NBUCKETS]; /* not cumulative */
    double sum;
} series_t;

typedef struct {
    pthread_mutex_t lock;
    int n;
    series_t series[MAX_SERIES];
} route_stats_t;

#define MAX_ROUTES 128
/* [0, api_route_count): routes; then one "unmatched" slot per listener. */
static route_stats_t stats[MAX_ROUTES + 2];
static pthread_once_t stats_once = PTHREAD_ONCE_INIT;

static void
stats_init(void)
{
    size_t i;

    for (i = 0; i < sizeof(stats) / sizeof(stats[0]); i++)
        pthread_mutex_init(&stats[i].lock, NULL);
}

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
    route_stats_t *rs;
    series_t *s = NULL;
    size_t b;
    int i;

    pthread_once(&stats_once, stats_init);
    rs = slot(listener, route_index);
    /* Methods outside the ones we serve are folded together so that clients cannot grow the table. */
    if (api_method_parse(method) == API__METHODS)
        method = "OTHER";
    pthread_mutex_lock(&rs->lock);
    for (i = 0; i < rs->n; i++) {
        if (rs->series[i].status == status && strcmp(rs->series[i].method, method) == 0) {
            s = &rs->series[i];
            break;
        }
    }
    if (s == NULL && rs->n < MAX_SERIES) {
        s = &rs->series[rs->n++];
        snprintf(s->method, sizeof(s->method), "%s", method);
        s->status = status;
    }
    if (s != NULL) {
        s->count++;
        s->sum += seconds;
        for (b = 0; b < NBUCKETS; b++) {
            if (seconds <= buckets[b]) {
                s->bucket_counts[b]++;
                break;
            }
        }
    }
    pthread_mutex_unlock(&rs->lock);
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
    uint64_t cum;
    size_t b;
    int i;

    pthread_mutex_lock(&rs->lock);
    for (i = 0; i < rs->n; i++) {
        series_t *s = &rs->series[i];
        const char *lbl = "listener=\"%s\",route=\"%s\",method=\"%s\",status=\"%d\"";
        char labels[512];

        snprintf(labels, sizeof(labels), lbl, listener, route, s->method, s->status);
        if (pass == 0) {
            out_add(o, "wapd_http_requests_total{%s} %llu\n", labels, (unsigned long long) s->count);
            continue;
        }
        cum = 0;
        for (b = 0; b < NBUCKETS; b++) {
            cum += s->bucket_counts[b];
            out_add(o, "wapd_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", labels,
                    buckets[b], (unsigned long long) cum);
        }
        out_add(o, "wapd_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", labels,
                (unsigned long long) s->count);
        out_add(o, "wapd_http_request_duration_seconds_sum{%s} %.6f\n", labels, s->sum);
        out_add(o, "wapd_http_request_duration_seconds_count{%s} %llu\n", labels,
                (unsigned long long) s->count);
    }
    pthread_mutex_unlock(&rs->lock);
}

char *
api_metrics_render(void)
{
    out_t o = {malloc(8192), 0, 8192};
    int pass, i;

    pthread_once(&stats_once, stats_init);
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
    return o.buf;
}
