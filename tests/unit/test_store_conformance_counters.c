/* The store's conformance suite, part two: counters and small tables (quota usage, host allocation,
 * addresses, unmanaged VMs), the timeline and settings, events and deliveries, the purge of ended jobs,
 * and the fault wrapper, on
 * every backend of the list in test_store_conformance.h (see test_store_conformance.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/fault.h"
#include "test_store_conformance.h"

/* ---- quota counters, hosts, addresses, unmanaged VMs ---- */

static void
case_quota_counters_refuse_whole(store_t *st)
{
    const int64_t grow[STORE_QUOTAS] = {1, 2, 512, 10, 0, 1}, shrink[STORE_QUOTAS] = {-5, -5, 0, 0, 0, 0};
    const int64_t limit[STORE_QUOTAS] = {2, 3, -1, -1, -1, -1}, set[STORE_QUOTAS] = {4, 4, 4, 4, 4, 4};
    int64_t usage[STORE_QUOTAS], expect[STORE_QUOTAS] = {1, 2, 512, 10, 0, 1};
    err_t err = {0};
    json_t *sub;
    int i;

    world(st);
    assert_int_equal(store_usage_get(st, "s1", usage, &err), 0);
    for (i = 0; i < STORE_QUOTAS; i++)
        assert_int_equal(usage[i], 0);
    sub = store_rec_get_shared(st, &store_kind_subscription, "s1", NULL, &err); /* now cached */
    json_decref(sub);
    assert_int_equal(store_usage_adjust(st, "s1", grow, limit, &err), 0);
    /* Cores would reach 4 > 3: refused as a whole, nothing changed, no error. */
    assert_int_equal(store_usage_adjust(st, "s1", grow, limit, &err), 1);
    assert_int_equal(err.code, ERR_NONE);
    assert_int_equal(store_usage_get(st, "s1", usage, &err), 0);
    for (i = 0; i < STORE_QUOTAS; i++)
        assert_int_equal(usage[i], expect[i]);
    /* The record shows the counters, read again after the change. */
    sub = store_rec_get_shared(st, &store_kind_subscription, "s1", NULL, &err);
    assert_int_equal(nested(sub, "usage", "cores"), 2);
    json_decref(sub);
    /* Without limits it applies; decreases stop at 0; a missing subscription refuses. */
    assert_int_equal(store_usage_adjust(st, "s1", grow, NULL, &err), 0);
    assert_int_equal(store_usage_adjust(st, "s1", shrink, limit, &err), 0);
    assert_int_equal(store_usage_get(st, "s1", usage, &err), 0);
    assert_int_equal(usage[0], 0);
    assert_int_equal(usage[2], 1024);
    assert_int_equal(store_usage_adjust(st, "nope", grow, NULL, &err), 1);
    assert_int_equal(store_usage_get(st, "nope", usage, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(store_usage_set(st, "s1", set, &err), 0);
    sub = store_rec_get(st, &store_kind_subscription, "s1", NULL, &err);
    assert_int_equal(nested(sub, "usage", "networks"), 4);
    json_decref(sub);
    /* What the resources say: one network, nothing else. */
    assert_int_equal(store_usage_recompute(st, "s1", usage, &err), 0);
    assert_int_equal(usage[0], 0);
    assert_int_equal(usage[5], 1);
}
CASE(quota_counters_refuse_whole)

static void
case_host_allocation_refuses_growth(store_t *st)
{
    int64_t out[3] = {-1, -1, -1};
    err_t err = {0};
    json_t *h;

    world(st);
    h = store_rec_get_shared(st, &store_kind_host, "h1", NULL, &err); /* now cached */
    json_decref(h);
    assert_int_equal(store_host_allocate(st, "h1", 6, 512, 50, &err), 0);
    assert_int_equal(store_host_allocate(st, "h1", 4, 0, 0, &err), 1);
    assert_int_equal(err.code, ERR_NONE);
    assert_int_equal(store_host_allocate(st, "nope", 1, 0, 0, &err), 1);
    h = store_rec_get_shared(st, &store_kind_host, "h1", NULL, &err);
    assert_int_equal(nested(h, "allocated", "cores"), 6);
    assert_int_equal(nested(h, "allocated", "memoryMB"), 512);
    json_decref(h);
    /* Release always applies; storage growth that happened is recorded past the capacity. */
    assert_int_equal(store_host_allocate(st, "h1", -6, -512, 0, &err), 0);
    assert_int_equal(store_host_grow_storage(st, "h1", 80, &err), 0);
    h = store_rec_get(st, &store_kind_host, "h1", NULL, &err);
    assert_int_equal(nested(h, "allocated", "cores"), 0);
    assert_int_equal(nested(h, "allocated", "storageGB"), 130);
    json_decref(h);
    /* No VM holds anything on it. */
    assert_int_equal(store_host_recompute(st, "h1", out, &err), 0);
    assert_int_equal(out[0] + out[1] + out[2], 0);
}
CASE(host_allocation_refuses_growth)

/* The addresses in use of a network, as a string "a,b,c" (empty when none). */
static void
used_text(store_t *st, const char *network_id, char *out, size_t outn)
{
    int64_t *ips = (int64_t *) 1;
    size_t n = 99, i, len = 0;
    err_t err = {0};

    assert_int_equal(store_ip_used(st, network_id, &ips, &n, &err), 0);
    assert_true(n == 0 || ips != NULL);
    out[0] = '\0';
    for (i = 0; i < n; i++)
        len += (size_t) snprintf(out + len, outn - len, "%s%lld", i ? "," : "", (long long) ips[i]);
    free(ips);
}

static void
case_addresses_claimed_once(store_t *st)
{
    err_t err = {0};
    char used[64];

    world(st);
    used_text(st, "n1", used, sizeof(used));
    assert_string_equal(used, "");
    /* Claims in any order; the addresses in use come back ascending. */
    assert_int_equal(store_ip_claim(st, "n1", "vm-a", 12, &err), 1);
    assert_int_equal(store_ip_claim(st, "n1", "vm-b", 10, &err), 1);
    assert_int_equal(store_ip_claim(st, "n1", "vm-b", 30, &err), 1);
    used_text(st, "n1", used, sizeof(used));
    assert_string_equal(used, "10,12,30");
    assert_int_equal(store_ip_count(st, "n1", &err), 3);
    /* An address already taken is refused, with nothing changed and no error. */
    assert_int_equal(store_ip_claim(st, "n1", "vm-c", 12, &err), 0);
    assert_int_equal(err.code, ERR_NONE);
    assert_int_equal(store_ip_count(st, "n1", &err), 3);
    /* A VM gives back every address it holds; a released address can be claimed again. */
    assert_int_equal(store_ip_release_vm(st, "vm-b", &err), 0);
    used_text(st, "n1", used, sizeof(used));
    assert_string_equal(used, "12");
    assert_int_equal(store_ip_claim(st, "n1", "vm-c", 10, &err), 1);
    assert_int_equal(store_ip_release_vm(st, "vm-a", &err), 0);
    assert_int_equal(store_ip_count(st, "n1", &err), 1);
    /* Another network's addresses are its own. */
    used_text(st, "nope", used, sizeof(used));
    assert_string_equal(used, "");
    assert_int_equal(store_ip_count(st, "nope", &err), 0);
}
CASE(addresses_claimed_once)

static void
case_addresses_used_many(store_t *st)
{
    int64_t *ips = NULL, i;
    size_t n = 0;
    err_t err = {0};

    world(st);
    /* More than any first guess of room, claimed from the top down. */
    assert_int_equal(store_tx_begin(st, &err), 0);
    for (i = 299; i >= 0; i--)
        assert_int_equal(store_ip_claim(st, "n1", "vm-a", 1000 + 7 * i, &err), 1);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(store_ip_used(st, "n1", &ips, &n, &err), 0);
    assert_int_equal(n, 300);
    for (i = 0; i < 300; i++)
        assert_int_equal(ips[i], 1000 + 7 * i);
    free(ips);
}
CASE(addresses_used_many)

static void
case_unmanaged_list(store_t *st)
{
    json_t *vms = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "hypervisorId", "hv-b", "name", "b",
                            "powerState", "running", "hypervisorId", "hv-a", "name", "a",
                            "powerState", "stopped"),
           *list, *none = json_array();
    err_t err = {0};

    world(st);
    list = store_unmanaged_list(st, "h1", &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    assert_int_equal(store_unmanaged_replace(st, "h1", vms, &err), 0);
    list = store_unmanaged_list(st, "h1", &err);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(sfield(json_array_get(list, 0), "hypervisorId"), "hv-a");
    assert_string_equal(sfield(json_array_get(list, 0), "powerState"), "stopped");
    assert_non_null(sfield(json_array_get(list, 0), "seenAt"));
    json_decref(list);
    assert_int_equal(store_unmanaged_remove(st, "h1", "hv-a", &err), 0);
    list = store_unmanaged_list(st, "h1", &err);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(sfield(json_array_get(list, 0), "hypervisorId"), "hv-b");
    json_decref(list);
    assert_int_equal(store_unmanaged_replace(st, "h1", none, &err), 0);
    list = store_unmanaged_list(st, "h1", &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    json_decref(none);
    json_decref(vms);
}
CASE(unmanaged_list)

/* ---- the timeline, settings, events and deliveries ---- */

typedef struct {
    int rows;
    char events[8][16];
} seen_t;

static int
see_row(void *arg, const store_timeline_row_t *row, err_t *err)
{
    seen_t *s = arg;

    (void) err;
    if (s->rows < 8)
        snprintf(s->events[s->rows], sizeof(s->events[0]), "%s", row->event);
    s->rows++;
    return strcmp(row->vm_id, "vm1") == 0 && row->cores == 2 ? 0 : -1;
}

static void
case_timeline_appends_changes(store_t *st)
{
    json_t *vm = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:b, s:b}", "id", "vm1",
                           "subscriptionId", "s1", "name", "web", "powerState", "running", "size",
                           "Small", "cores", 2, "memoryMB", 1024, "_storageGB", 30, "_holdsCompute",
                           1, "_holdsStorage", 1);
    seen_t seen = {0};
    int64_t first = 0, value = 0;
    err_t err = {0};
    char end[64];

    assert_int_equal(store_timeline_first(st, &first, &err), 0);
    assert_int_equal(first, -1);
    assert_int_equal(store_timeline_append(st, vm, "created", &err), 0);
    assert_int_equal(store_timeline_append(st, vm, "changed", &err), 0); /* nothing metered changed */
    json_object_set_new(vm, "powerState", json_string("stopped"));
    assert_int_equal(store_timeline_append(st, vm, "changed", &err), 0);
    assert_int_equal(store_timeline_each(st, 0, INT64_MAX, NULL, NULL, see_row, &seen, &err), 0);
    assert_int_equal(seen.rows, 2);
    assert_string_equal(seen.events[0], "created");
    assert_string_equal(seen.events[1], "changed");
    assert_int_equal(store_timeline_first(st, &first, &err), 0);
    assert_true(first > 0);
    assert_int_equal(store_timeline_chunk_end(st, 0, NULL, 1, end, sizeof(end), &err), 1);
    assert_string_equal(end, "vm1");
    assert_int_equal(store_timeline_chunk_end(st, 0, NULL, 2, end, sizeof(end), &err), 0);
    assert_int_equal(store_timeline_forget(st, "vm1", &err), 0);
    seen.rows = 0;
    assert_int_equal(store_timeline_each(st, 0, INT64_MAX, NULL, NULL, see_row, &seen, &err), 0);
    assert_int_equal(seen.rows, 0);
    /* Settings. */
    assert_int_equal(store_meta_get(st, "closedUntil", &value, &err), 1);
    assert_int_equal(store_meta_set(st, "closedUntil", 42, &err), 0);
    assert_int_equal(store_meta_get(st, "closedUntil", &value, &err), 0);
    assert_int_equal(value, 42);
    json_decref(vm);
}
CASE(timeline_appends_changes)

static json_t *
event(const char *id, const char *type)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{}}", "id", id, "type", type, "occurredAt", TS,
                     "subscriptionId", "s1", "resourceId", "vm1", "data");
}

static json_t *
attempt(const char *id, int n)
{
    return json_pack("{s:s, s:i, s:i, s:s, s:i}", "id", id, "attempt", n, "statusCode", 500, "error",
                     "server error", "atMs", 1000 + n);
}

static void
case_events_and_deliveries(store_t *st)
{
    json_t *ev = event("e1", "vm.created"), *other = event("e2", "vm.deleted"), *list, *a;
    int64_t last = 0, next = 0, seq;
    err_t err = {0};

    world(st);
    assert_int_equal(store_event_add(st, ev, 1000, &err), 0);
    assert_int_equal(store_event_add(st, other, 1000, &err), 0); /* no hook asks for it */
    list = store_events_after(st, 0, 10, &last, &err);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(sfield(json_array_get(list, 0), "id"), "e1");
    assert_true(last > 0);
    json_decref(list);
    list = store_events_after(st, last, 10, &next, &err);
    assert_int_equal(json_array_size(list), 0);
    assert_int_equal(next, last);
    json_decref(list);
    /* One delivery, due from 1000. */
    list = store_deliveries_due(st, "k1", 999, 10, &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    list = store_deliveries_due(st, "k1", 1000, 10, &err);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(sfield(json_array_get(list, 0), "eventId"), "e1");
    seq = json_integer_value(json_object_get(json_array_get(list, 0), "seq"));
    json_decref(list);
    /* A failed attempt leaves it pending for later; a success ends it. */
    a = attempt("a1", 1);
    assert_int_equal(store_delivery_record(st, seq, a, "pending", 5000, &err), 0);
    json_decref(a);
    assert_int_equal(store_delivery_next_ms(st, "k1", &next, &err), 0);
    assert_int_equal(next, 5000);
    a = attempt("a2", 2);
    assert_int_equal(store_delivery_record(st, seq, a, "succeeded", 0, &err), 0);
    json_decref(a);
    assert_int_equal(store_delivery_next_ms(st, "k1", &next, &err), 0);
    assert_int_equal(next, -1);
    list = store_delivery_attempts(st, "k1", 0, 10, &next, &err);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(sfield(json_array_get(list, 0), "eventId"), "e1");
    assert_int_equal(next, 0);
    json_decref(list);
    /* Sent again on request; an unknown attempt is 404. */
    assert_int_equal(store_delivery_requeue(st, "k1", "a1", 2000, &err), 0);
    list = store_deliveries_due(st, "k1", 2000, 10, &err);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    assert_int_equal(store_delivery_requeue(st, "k1", "nope", 2000, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    /* An event a delivery refers to stays; the other one goes. */
    assert_int_equal(store_events_purge(st, 1001, &err), 1);
    json_decref(ev);
    json_decref(other);
}
CASE(events_and_deliveries)

/* ---- jobs ---- */

/* A job record of status that ended at ended (NULL: not ended). */
static json_t *
job(const char *id, const char *status, const char *ended)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:[{s:s, s:s}], s:n, s:n, s:s, s:s?, s:s?, s:n, "
                     "s:n, s:n, s:i, s:n, s:i, s:i}",
                     "id", id, "kind", "vm.create", "status", status, "resourceId", "vm1",
                     "subscriptionId", "s1", "progress", 0, "steps", "name", "create", "status",
                     "succeeded", "error", "copy", "createdAt", "2026-01-01T00:00:00.000Z",
                     "startedAt", ended ? "2026-01-01T00:00:00.000Z" : NULL, "endedAt", ended,
                     "_params", "_data", "_lockKey", "_runAfterMs", 0, "_deadlineMs", "_attempts", 0,
                     "_epoch", 0);
}

static bool
job_exists(store_t *st, const char *id)
{
    err_t err = {0};
    json_t *got = store_rec_get(st, &store_kind_job, id, NULL, &err);
    bool found = got != NULL;

    json_decref(got);
    assert_true(found || err.code == ERR_NOT_FOUND);
    return found;
}

/* Ended jobs go once their end is older than the cutoff, a batch at most at a time; jobs not ended stay
 * however old; a job read (and cached) before the purge is not found after it. */
static void
case_jobs_purge_ended_only(store_t *st)
{
    static const char *const old_ended[] = {"succeeded", "failed", "canceled"};
    char id[16];
    err_t err = {0};
    int64_t cutoff = 1767225600000LL + 3600 * 1000; /* 2026-01-01T01:00:00Z */
    int i;

    for (i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "old-%d", i);
        put(st, &store_kind_job, job(id, old_ended[i], "2026-01-01T00:59:59.999Z"));
    }
    put(st, &store_kind_job, job("new-succeeded", "succeeded", "2026-01-01T01:00:00.000Z"));
    put(st, &store_kind_job, job("old-queued", "queued", NULL));
    put(st, &store_kind_job, job("old-running", "running", NULL));
    /* Not ended: even an end time recorded by mistake does not make it go. */
    put(st, &store_kind_job, job("running-with-end", "running", "2025-01-01T00:00:00.000Z"));
    assert_true(job_exists(st, "old-0")); /* read, so that a cache may hold it */

    assert_int_equal(store_jobs_purge(st, cutoff, 2, &err), 2);
    assert_int_equal(store_jobs_purge(st, cutoff, 2, &err), 1);
    assert_int_equal(store_jobs_purge(st, cutoff, 2, &err), 0);
    assert_int_equal(err.code, ERR_NONE);
    for (i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "old-%d", i);
        assert_false(job_exists(st, id));
    }
    assert_true(job_exists(st, "new-succeeded"));
    assert_true(job_exists(st, "old-queued"));
    assert_true(job_exists(st, "old-running"));
    assert_true(job_exists(st, "running-with-end"));
    assert_int_equal(store_rec_count(st, &store_kind_job, NULL, 0, &err), 4);
    /* Inside a transaction that rolls back, nothing goes. */
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(store_jobs_purge(st, cutoff + 1, 10, &err), 1);
    store_tx_rollback(st);
    assert_true(job_exists(st, "new-succeeded"));
}
CASE(jobs_purge_ended_only)

/* A write probe commits and leaves no record behind; the store is not full after it. */
static void
case_write_probe_leaves_nothing(store_t *st)
{
    err_t err = {0};
    int64_t v = 0;
    int i;

    assert_false(store_storage_full(st));
    for (i = 0; i < 3; i++)
        assert_int_equal(store_write_probe(st, 256 * 1024, &err), 0);
    assert_false(store_storage_full(st));
    assert_int_equal(store_meta_get(st, "writeProbe", &v, &err), 1);
    assert_int_equal(err.code, ERR_NONE);
}
CASE(write_probe_leaves_nothing)

/* ---- the fault wrapper ---- */

static void
case_injected_fault_fails_one_call(store_t *st)
{
    json_t *c = cloud("c1", "east");
    err_t err = {0};

    fault_arm(FAULT_STORE, 2);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 0);
    assert_int_equal(store_rec_insert(st, &store_kind_cloud, c, &err), -1);
    assert_int_equal(err.code, ERR_INTERNAL);
    err_clear(&err);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 0);
    assert_int_equal(store_rec_insert(st, &store_kind_cloud, c, &err), 0);
    json_decref(c);
}
CASE(injected_fault_fails_one_call)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quota_counters_refuse_whole),
        cmocka_unit_test(host_allocation_refuses_growth),
        cmocka_unit_test(addresses_claimed_once),
        cmocka_unit_test(addresses_used_many),
        cmocka_unit_test(unmanaged_list),
        cmocka_unit_test(timeline_appends_changes),
        cmocka_unit_test(events_and_deliveries),
        cmocka_unit_test(jobs_purge_ended_only),
        cmocka_unit_test(write_probe_leaves_nothing),
        cmocka_unit_test(injected_fault_fails_one_call),
    };

    return cmocka_run_group_tests_name("store conformance: counters, timeline, events", tests, NULL, NULL);
}
