/*
 * test_events.c: the events outbox and hook deliveries in the store (lib/events.c, lib/hooks.c CRUD).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/events.h"
#include "../../lib/hooks.h"
#include "../../lib/util.h"
#include "fixture.h"

static int notified;

static void
count_notify(void *arg)
{
    (void) arg;
    notified++;
}

static json_t *
feed(store_t *st)
{
    int64_t next = 0;
    err_t err = {0};
    json_t *list = events_page(st, 0, 1000, &next, &err);

    assert_non_null(list);
    return list;
}

static json_t *
hook(store_t *st, const char *events_json, bool active)
{
    err_t err = {0};
    json_t *events = json_loads(events_json, 0, NULL), *h;
    const char *names[4];
    hooks_req_t req = {.url = "http://127.0.0.1:9/h", .events = names, .secret = "k",
                       .active = active};

    assert_true(json_array_size(events) <= 4);
    for (req.nevents = 0; req.nevents < json_array_size(events); req.nevents++)
        names[req.nevents] = json_string_value(json_array_get(events, req.nevents));
    h = hooks_create(st, &req, &err);
    assert_non_null(h);
    json_decref(events);
    return h;
}

static size_t
due_count(store_t *st, const char *hook_id, int64_t now)
{
    err_t err = {0};
    json_t *due = store_deliveries_due(st, hook_id, now, 100, &err);
    size_t n;

    assert_non_null(due);
    n = json_array_size(due);
    json_decref(due);
    return n;
}

/* An event exists exactly when the transaction that wrote it committed; the listener hears once. */
static void
event_only_with_its_commit(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *list, *ev;

    notified = 0;
    events_set_listener(count_notify, NULL);
    assert_int_equal(store_tx_begin(f->st, &err), 0);
    assert_int_equal(events_emit(f->st, "vm.created", "s1", "v1", NULL, &err), 0);
    store_tx_rollback(f->st);
    list = feed(f->st);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    assert_int_equal(notified, 0);

    assert_int_equal(store_tx_begin(f->st, &err), 0);
    assert_int_equal(events_emit(f->st, "vm.created", "s1", "v1", json_pack("{s:i}", "n", 1), &err),
                     0);
    assert_int_equal(events_emit(f->st, "vm.deleted", "s1", "v1", NULL, &err), 0);
    assert_int_equal(notified, 0); /* not before the commit */
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    assert_int_equal(notified, 1); /* once for the transaction */
    list = feed(f->st);
    assert_int_equal(json_array_size(list), 2);
    ev = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "vm.created");
    assert_string_equal(json_string_value(json_object_get(ev, "resourceId")), "v1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "data"), "n")), 1);
    assert_true(util_uuid_valid(json_string_value(json_object_get(ev, "id"))));
    json_decref(list);
    /* No subscription: null, present. */
    assert_int_equal(events_emit(f->st, "plan.updated", NULL, "p1", NULL, &err), 0);
    list = feed(f->st);
    assert_true(json_is_null(json_object_get(json_array_get(list, 2), "subscriptionId")));
    json_decref(list);
    events_set_listener(NULL, NULL);
}

/* A delivery is queued for every active hook whose list names the type, or "*", from its creation on. */
static void
deliveries_follow_subscriptions(void **state)
{
    fixture_t *f = *state;
    int64_t now = util_now_ms() + 1000;
    err_t err = {0};
    json_t *h1, *h2, *h3, *h4;

    h1 = hook(f->st, "[\"vm.created\"]", true);
    h2 = hook(f->st, "[\"*\"]", true);
    h3 = hook(f->st, "[\"vm.created\"]", false);
    assert_int_equal(events_emit(f->st, "vm.created", "s", "v", NULL, &err), 0);
    assert_int_equal(events_emit(f->st, "subscription.created", "s", "s", NULL, &err), 0);
    h4 = hook(f->st, "[\"*\"]", true);
    assert_int_equal(due_count(f->st, id_of(h1), now), 1);
    assert_int_equal(due_count(f->st, id_of(h2), now), 2);
    assert_int_equal(due_count(f->st, id_of(h3), now), 0);
    assert_int_equal(due_count(f->st, id_of(h4), now), 0);
    json_decref(h1);
    json_decref(h2);
    json_decref(h3);
    json_decref(h4);
}

/* "prefix.*" filters select every type under the prefix and its dot, in the store's delivery query as in
 * events_filter_matches; "*" selects every type. */
static void
prefix_filters_select_types_under_them(void **state)
{
    fixture_t *f = *state;
    int64_t now = util_now_ms() + 1000;
    err_t err = {0};
    json_t *vm, *sub, *job, *disk, *all;
    static const char *const types[] = {"vm.created", "vm.disk.attached", "vmrole.created",
                                        "subscription.created", "job.succeeded", "job.canceled"};
    size_t i;

    vm = hook(f->st, "[\"vm.*\"]", true);
    sub = hook(f->st, "[\"subscription.*\", \"job.canceled\"]", true);
    job = hook(f->st, "[\"job.*\"]", true);
    disk = hook(f->st, "[\"vm.disk.*\"]", true);
    all = hook(f->st, "[\"*\"]", true);
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        assert_int_equal(events_emit(f->st, types[i], "s", "r", NULL, &err), 0);
    assert_int_equal(due_count(f->st, id_of(vm), now), 2);   /* not vmrole.created */
    assert_int_equal(due_count(f->st, id_of(sub), now), 2);  /* subscription.created, job.canceled */
    assert_int_equal(due_count(f->st, id_of(job), now), 2);
    assert_int_equal(due_count(f->st, id_of(disk), now), 1);
    assert_int_equal(due_count(f->st, id_of(all), now), 6);
    /* The reference rule agrees. */
    assert_true(events_filter_matches("vm.*", "vm.disk.attached"));
    assert_false(events_filter_matches("vm.*", "vmrole.created"));
    assert_true(events_filter_matches("*", "job.failed"));
    assert_true(events_filter_matches("job.failed", "job.failed"));
    assert_false(events_filter_matches("job.failed", "job.canceled"));
    assert_false(events_filter_matches("vm.disk.*", "vm.diskless"));
    json_decref(vm);
    json_decref(sub);
    json_decref(job);
    json_decref(disk);
    json_decref(all);
}

/* A filter is a known type, "*", or a prefix of known types ending in ".*"; every type is letters and
 * dots, so no prefix holds a wildcard of SQL's LIKE or GLOB. */
static void
filters_valid_only_when_they_name_types(void **state)
{
    static const char *const good[] = {"*", "vm.created", "vm.*", "vm.disk.*", "vm.checkpoint.*",
                                       "job.*", "subscription.*", "host.*", "token.*"};
    static const char *const bad[] = {"", ".*", "*.*", "vm*", "vm.", "vm", "vm.**", "vm..*",
                                      "nothing.*", "vm.dis.*", "v%.*", "vm_.*", "VM.*", "vm.gone",
                                      "*vm"};
    size_t i, j;
    const char *t;

    (void) state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(events_filter_valid(good[i]));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (events_filter_valid(bad[i]))
            fail_msg("%s was taken as a filter", bad[i]);
    }
    assert_false(events_filter_valid(NULL));
    for (i = 0; (t = events_types[i]) != NULL; i++) {
        for (j = 0; t[j]; j++)
            assert_true((t[j] >= 'a' && t[j] <= 'z') || (t[j] >= 'A' && t[j] <= 'Z') || t[j] == '.');
        assert_true(events_filter_valid(t));
    }
}

/* Attempts move a delivery along (retry later, then done), are logged, and can be redelivered. */
static void
attempts_retry_log_and_redeliver(void **state)
{
    fixture_t *f = *state;
    int64_t now = util_now_ms(), next = 0, at;
    err_t err = {0};
    json_t *h = hook(f->st, "[\"*\"]", true), *due, *a, *log;
    int64_t seq;

    assert_int_equal(events_emit(f->st, "vm.created", "s", "v", NULL, &err), 0);
    due = store_deliveries_due(f->st, id_of(h), now + 1000, 10, &err);
    assert_int_equal(json_array_size(due), 1);
    seq = json_integer_value(json_object_get(json_array_get(due, 0), "seq"));
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(due, 0), "body")),
                           "\"vm.created\""));
    json_decref(due);

    a = json_pack("{s:s, s:i, s:i, s:s, s:I}", "id", "a-1", "attempt", 1, "statusCode", 500, "error",
                  "The receiver did not answer 2xx.", "atMs", (json_int_t) now);
    assert_int_equal(store_delivery_record(f->st, seq, a, "pending", now + 5000, &err), 0);
    json_decref(a);
    assert_int_equal(due_count(f->st, id_of(h), now + 1000), 0); /* backing off */
    assert_int_equal(store_delivery_next_ms(f->st, id_of(h), &at, &err), 0);
    assert_int_equal(at, now + 5000);
    assert_int_equal(due_count(f->st, id_of(h), now + 5000), 1);
    a = json_pack("{s:s, s:i, s:i, s:n, s:I}", "id", "a-2", "attempt", 2, "statusCode", 200, "error",
                  "atMs", (json_int_t) now + 5000);
    assert_int_equal(store_delivery_record(f->st, seq, a, "succeeded", now + 5000, &err), 0);
    json_decref(a);
    assert_int_equal(due_count(f->st, id_of(h), now + 10000), 0);
    assert_int_equal(store_delivery_next_ms(f->st, id_of(h), &at, &err), 0);
    assert_int_equal(at, -1);

    log = hooks_deliveries(f->st, id_of(h), 0, 100, &next, &err);
    assert_int_equal(json_array_size(log), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(log, 0), "statusCode")), 500);
    assert_true(json_is_null(json_object_get(json_array_get(log, 1), "error")));
    assert_int_equal(next, 0);
    json_decref(log);
    log = hooks_deliveries(f->st, id_of(h), 0, 1, &next, &err);
    assert_int_equal(json_array_size(log), 1);
    assert_true(next > 0); /* a second page */
    json_decref(log);

    assert_int_equal(hooks_redeliver(f->st, id_of(h), "a-1", &err), 0);
    assert_int_equal(due_count(f->st, id_of(h), util_now_ms() + 1000), 1);
    assert_int_equal(hooks_redeliver(f->st, id_of(h), "nope", &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);

    /* Deleting the hook takes its deliveries and log with it. */
    assert_int_equal(hooks_delete(f->st, id_of(h), 0, &err), 0);
    assert_int_equal(due_count(f->st, id_of(h), util_now_ms() + 1000), 0);
    err_clear(&err);
    assert_null(hooks_deliveries(f->st, id_of(h), 0, 100, &next, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    json_decref(h);
}

/* Retries start within 2 s (0.5–1 s after the first failure), double, and never wait more than 60 s;
 * jitter spreads them. */
static void
backoff_doubles_with_jitter_up_to_a_minute(void **state)
{
    int64_t lo[12] = {0}, hi[12] = {0}, w;
    int a, i;

    (void) state;
    for (a = 1; a < 12; a++) {
        lo[a] = INT64_MAX;
        for (i = 0; i < 200; i++) {
            w = hooks__backoff_ms(a);
            lo[a] = w < lo[a] ? w : lo[a];
            hi[a] = w > hi[a] ? w : hi[a];
        }
    }
    assert_true(lo[1] >= 500 && hi[1] <= 1000);
    assert_true(hi[1] - lo[1] > 100); /* jittered */
    assert_true(lo[2] >= 1000 && hi[2] <= 2000);
    assert_true(lo[4] >= 4000 && hi[4] <= 8000);
    for (a = 7; a < 12; a++)
        assert_true(lo[a] >= 30000 && hi[a] <= 60000);
    assert_true(hooks__backoff_ms(1000) <= 60000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(event_only_with_its_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(deliveries_follow_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(attempts_retry_log_and_redeliver, setup, teardown),
        cmocka_unit_test_setup_teardown(prefix_filters_select_types_under_them, setup, teardown),
        cmocka_unit_test(filters_valid_only_when_they_name_types),
        cmocka_unit_test(backoff_doubles_with_jitter_up_to_a_minute),
    };

    return cmocka_run_group_tests_name("events+hooks", tests, NULL, NULL);
}
