/* The store's conformance suite, part three: the figures /metrics reads (store_job_counts,
 * store_delivery_backlog, store_size_bytes), on every backend of test_store_conformance.h: only active
 * jobs and pending deliveries count, and the earliest queued pending delivery gives the backlog's age. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_store_conformance.h"

static json_t *
job(const char *id, const char *kind, const char *status)
{
    return json_pack("{s:s, s:s, s:s, s:n, s:n, s:i, s:[], s:n, s:n, s:s, s:n, s:n, s:i, s:i, s:i}",
                     "id", id, "kind", kind, "status", status, "resourceId", "subscriptionId",
                     "progress", 0, "steps", "error", "copy", "createdAt", TS, "startedAt", "endedAt",
                     "_runAfterMs", 0, "_attempts", 0, "_epoch", 0);
}

typedef struct {
    char seen[8][64];
    int64_t n[8];
    int rows;
} counts_t;

static void
on_count(void *arg, const char *kind, const char *status, int64_t n)
{
    counts_t *c = arg;

    assert_true(c->rows < 8);
    snprintf(c->seen[c->rows], sizeof(c->seen[0]), "%s/%s", kind, status);
    c->n[c->rows++] = n;
}

static int64_t
count_of(const counts_t *c, const char *key)
{
    int i;

    for (i = 0; i < c->rows; i++)
        if (strcmp(c->seen[i], key) == 0)
            return c->n[i];
    return 0;
}

static void
case_job_counts_are_of_active_jobs(store_t *st)
{
    counts_t c = {0};
    err_t err = {0};

    assert_int_equal(store_job_counts(st, on_count, &c, &err), 0);
    assert_int_equal(c.rows, 0);
    put(st, &store_kind_job, job("j1", "vm.create", "queued"));
    put(st, &store_kind_job, job("j2", "vm.create", "queued"));
    put(st, &store_kind_job, job("j3", "vm.create", "running"));
    put(st, &store_kind_job, job("j4", "vm.delete", "running"));
    put(st, &store_kind_job, job("j5", "vm.delete", "succeeded"));
    put(st, &store_kind_job, job("j6", "vm.start", "failed"));
    assert_int_equal(store_job_counts(st, on_count, &c, &err), 0);
    assert_int_equal(c.rows, 3);
    assert_int_equal(count_of(&c, "vm.create/queued"), 2);
    assert_int_equal(count_of(&c, "vm.create/running"), 1);
    assert_int_equal(count_of(&c, "vm.delete/running"), 1);
}
CASE(job_counts_are_of_active_jobs)

static void
case_delivery_backlog_is_of_pending_deliveries(store_t *st)
{
    json_t *ev, *due, *a;
    int64_t pending = -7, oldest = -7, seq;
    err_t err = {0};
    int i;

    world(st);
    assert_int_equal(store_delivery_backlog(st, &pending, &oldest, &err), 0);
    assert_int_equal(pending, 0);
    assert_int_equal(oldest, -1);
    for (i = 0; i < 3; i++) {
        ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{}}", "id", i == 0 ? "e1" : i == 1 ? "e2" : "e3",
                       "type", "vm.created", "occurredAt", TS, "subscriptionId", "s1", "resourceId",
                       "vm1", "data");
        assert_int_equal(store_event_add(st, ev, 1000 + i * 100, &err), 0);
        json_decref(ev);
    }
    assert_int_equal(store_delivery_backlog(st, &pending, &oldest, &err), 0);
    assert_int_equal(pending, 3);
    assert_int_equal(oldest, 1000);
    /* The earliest one delivered: the backlog is the two after it. */
    due = store_deliveries_due(st, "k1", 5000, 1, &err);
    seq = json_integer_value(json_object_get(json_array_get(due, 0), "seq"));
    json_decref(due);
    a = json_pack("{s:s, s:i, s:i, s:n, s:i}", "id", "a1", "attempt", 1, "statusCode", 204, "error",
                  "atMs", 5000);
    assert_int_equal(store_delivery_record(st, seq, a, "succeeded", 0, &err), 0);
    json_decref(a);
    assert_int_equal(store_delivery_backlog(st, &pending, &oldest, &err), 0);
    assert_int_equal(pending, 2);
    assert_int_equal(oldest, 1100);
}
CASE(delivery_backlog_is_of_pending_deliveries)

static void
case_size_grows_with_the_data(store_t *st)
{
    int64_t before = store_size_bytes(st);
    char id[16];
    int i;

    assert_true(before > 0);
    for (i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        put(st, &store_kind_cloud, cloud(id, id));
    }
    assert_true(store_size_bytes(st) > before);
}
CASE(size_grows_with_the_data)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(job_counts_are_of_active_jobs),
        cmocka_unit_test(delivery_backlog_is_of_pending_deliveries),
        cmocka_unit_test(size_grows_with_the_data),
    };

    return cmocka_run_group_tests_name("store conformance (figures)", tests, NULL, NULL);
}
