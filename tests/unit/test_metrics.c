/* Unit tests of /metrics (api/metrics.c, api/metrics/, lib/metrics.c, lib/job/end.c): request counters by
 * route, method and status and latency histograms by route and method only; label values escaped;
 * histograms whose count is the sum of their buckets; job ends counted once, and only when the end
 * commits; the active jobs, the hook backlog and the store's size read from the store at each scrape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"

#include "../../api/internal.h"
#include "../../api/metrics/metrics_internal.h"
#include "../../lib/job/job_internal.h"
#include "../../lib/metrics.h"

/* The value of the sample whose line starts with series (name and labels), or -1 when none. */
static double
sample(const char *text, const char *series)
{
    const char *p = text;
    size_t n = strlen(series);

    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    return -1;
}

static void
requests_count_by_status_and_time_by_method(void **state)
{
    char *text;
    const char *route = api_routes[3].pattern; /* an admin route */
    char want[512];

    (void) state;
    api_metrics_observe(api_routes[3].listener, 3, "GET", 200, 0.0004);
    api_metrics_observe(api_routes[3].listener, 3, "GET", 200, 0.003);
    api_metrics_observe(api_routes[3].listener, 3, "GET", 404, 0.2);
    api_metrics_observe(API_LISTENER_TENANT, -1, "BREW", 405, 0.001);
    text = api_metrics_render(NULL);
    assert_non_null(text);
    snprintf(want, sizeof(want),
             "wapd_http_requests_total{listener=\"admin\",route=\"%s\",method=\"GET\",status=\"200\"}",
             route);
    assert_true(sample(text, want) == 2);
    snprintf(want, sizeof(want),
             "wapd_http_requests_total{listener=\"admin\",route=\"%s\",method=\"GET\",status=\"404\"}",
             route);
    assert_true(sample(text, want) == 1);
    /* One histogram for the three GETs, whatever their status. */
    snprintf(want, sizeof(want),
             "wapd_http_request_duration_seconds_bucket{listener=\"admin\",route=\"%s\",method=\"GET\","
             "le=\"0.0005\"}",
             route);
    assert_true(sample(text, want) == 1);
    snprintf(want, sizeof(want),
             "wapd_http_request_duration_seconds_bucket{listener=\"admin\",route=\"%s\",method=\"GET\","
             "le=\"0.005\"}",
             route);
    assert_true(sample(text, want) == 2);
    snprintf(want, sizeof(want),
             "wapd_http_request_duration_seconds_count{listener=\"admin\",route=\"%s\",method=\"GET\"}",
             route);
    assert_true(sample(text, want) == 3);
    assert_null(strstr(text, "wapd_http_request_duration_seconds_bucket{listener=\"admin\",route=\"/"
                             "v1/admin/clouds\",method=\"GET\",status"));
    assert_true(sample(text, "wapd_http_requests_total{listener=\"tenant\",route=\"unmatched\","
                             "method=\"OTHER\",status=\"405\"}") == 1);
    assert_non_null(strstr(text, "# TYPE wapd_http_request_duration_seconds histogram"));
    assert_non_null(strstr(text, "wapd_build_info{version=\"" WAPD_VERSION "\"} 1\n"));
    assert_true(sample(text, "process_open_fds") > 0);
    assert_true(sample(text, "process_resident_memory_bytes") > 0);
    free(text);
}

static void
label_values_are_escaped(void **state)
{
    char out[API_METRICS_LABEL_MAX], big[API_METRICS_LABEL_MAX * 2];

    (void) state;
    api_metrics__escape("a\"b\\c\nd", out);
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    /* A value longer than the room is cut, never past it, and never mid-escape. */
    memset(big, '"', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    api_metrics__escape(big, out);
    assert_true(strlen(out) < API_METRICS_LABEL_MAX);
    assert_int_equal(strlen(out) % 2, 0);
}

static void
histograms_count_their_buckets(void **state)
{
    static const double v[] = {0.1, 1};
    const metrics_bounds_t b = {v, 2};
    metrics_hist_t h = {{0}, 0};
    metrics_hist_snap_t snap;

    (void) state;
    metrics_hist_observe(&h, &b, -3);  /* counts as 0 */
    metrics_hist_observe(&h, &b, 0.1); /* a bound is in its own bucket */
    metrics_hist_observe(&h, &b, 0.5);
    metrics_hist_observe(&h, &b, 7); /* above every bound: +Inf only */
    metrics_hist_read(&h, &b, &snap);
    assert_int_equal(snap.cum[0], 2);
    assert_int_equal(snap.cum[1], 3);
    assert_int_equal(snap.count, 4);
    assert_true(snap.sum > 7.59 && snap.sum < 7.61);
}

/* ---- job ends and the store's figures ---- */

static job_step_result_t
never_runs(job_ctx_t *ctx, err_t *err)
{
    (void) ctx;
    (void) err;
    return JOB_STEP_DONE;
}

static const job_step_def_t steps[] = {{"only", never_runs}, {NULL, NULL}};
static const job_kind_def_t kind_a = {.kind = "test.alpha", .steps = steps};
static const job_kind_def_t kind_b = {.kind = "test.\"beta\"", .steps = steps};

static int
setup_jobs(void **state)
{
    setup(state);
    metrics__reset();
    assert_int_equal(job_kind_register(&kind_a), 0);
    assert_int_equal(job_kind_register(&kind_b), 0);
    return 0;
}

static json_t *
submit(store_t *st, const job_kind_def_t *kind)
{
    err_t err = {0};
    json_t *job = job_submit(st, kind->kind, NULL, NULL, NULL, NULL, &err);

    assert_non_null(job);
    return job;
}

/* kind's ends with status, as metrics_job_each reports them (-1: the kind is not there). */
typedef struct {
    const char *kind;
    int status;
    int64_t count;
} ends_probe_t;

static void
probe(void *arg, const char *kind, const metrics_hist_t *ends)
{
    ends_probe_t *p = arg;
    metrics_hist_snap_t snap;

    if (strcmp(kind, p->kind) != 0)
        return;
    metrics_hist_read(&ends[p->status], &metrics_job_bounds, &snap);
    p->count = (int64_t) snap.count;
}

static int64_t
ended(const char *kind, int status)
{
    ends_probe_t p = {kind, status, -1};

    metrics_job_each(probe, &p);
    return p.count;
}

static void
job_ends_count_once_they_commit(void **state)
{
    fixture_t *f = *state;
    json_t *job = submit(f->st, &kind_a), *rec;
    err_t err = {0};

    assert_int_equal(ended("test.alpha", 1), -1);
    rec = store_rec_get(f->st, &store_kind_job, id_of(job), NULL, &err);
    assert_non_null(rec);
    json_object_set_new(rec, "status", json_string("failed"));
    json_object_set_new(rec, "endedAt", json_string("2099-01-01T00:00:00.000Z"));
    /* An end that rolls back is not counted. */
    assert_int_equal(store_tx_begin(f->st, &err), 0);
    assert_int_equal(job__emit_end(f->st, rec, &err), 0);
    store_tx_rollback(f->st);
    assert_int_equal(ended("test.alpha", 1), -1);
    /* One that commits is, once, with the time from its submit. */
    assert_int_equal(store_tx_begin(f->st, &err), 0);
    assert_int_equal(job__emit_end(f->st, rec, &err), 0);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    assert_int_equal(ended("test.alpha", 1), 1);
    assert_int_equal(ended("test.alpha", 0), 0);
    json_decref(rec);
    json_decref(job);
}

static void
scrape_reads_active_jobs_backlog_and_size(void **state)
{
    fixture_t *f = *state;
    json_t *a1 = submit(f->st, &kind_a), *a2 = submit(f->st, &kind_a), *b1 = submit(f->st, &kind_b);
    json_t *canceled, *hook, *ev;
    err_t err = {0};
    char *text;

    /* A queued job canceled ends through the same count (no engine runs: cancel ends it now). */
    canceled = job_cancel(f->st, id_of(a2), NULL, &err);
    assert_non_null(canceled);
    hook = json_pack("{s:s, s:s, s:[s], s:s, s:b, s:n, s:s, s:s}", "id", "k1", "url",
                     "http://127.0.0.1:9/hook", "events", "*", "secret", "x", "active", 1,
                     "description", "createdAt", "2026-01-01T00:00:00.000Z", "updatedAt",
                     "2026-01-01T00:00:00.000Z");
    assert_int_equal(store_rec_insert(f->st, &store_kind_hook, hook, &err), 0);
    ev = json_pack("{s:s, s:s, s:s, s:n, s:n, s:{}}", "id", "e1", "type", "vm.created", "occurredAt",
                   "2026-01-01T00:00:00.000Z", "subscriptionId", "resourceId", "data");
    assert_int_equal(store_event_add(f->st, ev, util_now_ms() - 5000, &err), 0);
    text = api_metrics_render(f->st);
    assert_non_null(text);
    assert_true(sample(text, "wapd_jobs_queued{kind=\"test.alpha\"}") == 1);
    assert_true(sample(text, "wapd_jobs_queued{kind=\"test.\\\"beta\\\"\"}") == 1);
    assert_true(sample(text, "wapd_jobs_running{kind=\"test.alpha\"}") == 0);
    assert_true(sample(text, "wapd_jobs_finished_total{kind=\"test.alpha\",status=\"canceled\"}") == 1);
    assert_true(sample(text, "wapd_jobs_finished_total{kind=\"test.alpha\",status=\"succeeded\"}") == 0);
    assert_true(sample(text, "wapd_job_duration_seconds_count{kind=\"test.alpha\",status=\"canceled\"}") ==
                1);
    assert_true(sample(text, "wapd_hook_deliveries_pending") == 1);
    assert_true(sample(text, "wapd_hook_oldest_pending_age_seconds") >= 5);
    assert_true(sample(text, "wapd_store_size_bytes") > 0);
    /* A SQLite store is its process's own: it leads the periodic work. */
    assert_true(sample(text, "wapd_leader") == 1);
    /* No close has run: no lag is made up. */
    assert_true(sample(text, "wapd_usage_close_lag_seconds") == -1);
    free(text);
    json_decref(hook);
    json_decref(ev);
    json_decref(canceled);
    json_decref(a1);
    json_decref(a2);
    json_decref(b1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(requests_count_by_status_and_time_by_method),
        cmocka_unit_test(label_values_are_escaped),
        cmocka_unit_test(histograms_count_their_buckets),
        cmocka_unit_test_setup_teardown(job_ends_count_once_they_commit, setup_jobs, teardown),
        cmocka_unit_test_setup_teardown(scrape_reads_active_jobs_backlog_and_size, setup_jobs,
                                        teardown),
    };

    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
