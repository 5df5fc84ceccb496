/* The store's conformance suite, part three: usage records and WAP usage records (written once, their
 * positions, the highest issued surviving a purge, what a purge takes), the VMs' state the period closer
 * walks (chunks, pruning), a cloud's summed hosts, and the hook filters that queue deliveries, on every
 * backend of the list in test_store_conformance.h (see test_store_conformance.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/util.h"
#include "test_store_conformance.h"

#define HOUR INT64_C(3600000)

static store_usage_rec_t
usage_rec(const char *id, const char *resource, const char *meter, const char *variant, double q,
          int64_t start)
{
    store_usage_rec_t r = {
        .id = id,
        .subscription_id = "s1",
        .resource_id = resource,
        .resource_type = "vm",
        .meter = meter,
        .unit = "hours",
        .properties = "{\"size\":\"small\"}",
        .variant = variant,
        .quantity = q,
        .period_start_ms = start,
        .period_end_ms = start + HOUR,
    };

    return r;
}

static store_wap_rec_t
wap_rec(const char *resource, const char *size, int64_t start)
{
    store_wap_rec_t r = {
        .resource_id = resource,
        .subscription_id = "s1",
        .name = "web",
        .size = size,
        .period_start_ms = start,
        .period_end_ms = start + HOUR,
        .cpu_max = 2,
        .memory_max = 2048,
        .disk_bytes_max = INT64_C(42949672960),
        .memory_consumed_min = 512,
        .memory_consumed_max = 2048,
        .cpu_avg = 1.5,
        .memory_avg = 1536.25,
        .memory_consumed_avg = 1000.0 / 3.0,
        .disk_bytes_avg = 42949672960.0,
    };

    return r;
}

static void
put_usage(store_t *st, store_usage_rec_t r)
{
    err_t err = {0};

    assert_int_equal(store_usage_record_put(st, &r, &err), 0);
}

static void
case_usage_records_written_once(store_t *st)
{
    int64_t last = -1, first = -1, next = -1, pos = -1, ev = -1;
    err_t err = {0};
    json_t *list, *r;

    world(st);
    assert_int_equal(store_usage_issued(st, &pos, &ev, &err), 0);
    assert_int_equal(pos, 0);
    assert_int_equal(ev, 0);
    put_usage(st, usage_rec("r1", "vm-a", "compute.hours", "small", 0.1, 0));
    put_usage(st, usage_rec("r2", "vm-a", "storage.gbHours", "", 12.5, 0));
    /* The same resource, meter, period and variant again: ignored. */
    put_usage(st, usage_rec("r1-again", "vm-a", "compute.hours", "small", 99, 0));
    /* Another variant (size) of the same period is a record of its own. */
    put_usage(st, usage_rec("r3", "vm-a", "compute.hours", "large", 0.9, 0));
    put_usage(st, usage_rec("r4", "vm-b", "compute.hours", "small", 1, HOUR));

    list = store_usage_records(st, NULL, 0, INT64_MIN, INT64_MAX, 10, &last, &err);
    assert_non_null(list);
    assert_int_equal(json_array_size(list), 4);
    /* The last record's position is the highest issued (an ignored write may or may not have taken
     * one: positions only grow). */
    assert_int_equal(store_usage_issued(st, &pos, &ev, &err), 0);
    assert_int_equal(pos, last);
    assert_true(last >= 4);
    assert_int_equal(ev, 0);
    r = json_array_get(list, 0);
    assert_string_equal(sfield(r, "id"), "r1");
    assert_string_equal(sfield(r, "subscriptionId"), "s1");
    assert_string_equal(sfield(r, "resourceId"), "vm-a");
    assert_string_equal(sfield(r, "meter"), "compute.hours");
    assert_true(json_real_value(json_object_get(r, "quantity")) == 0.1);
    assert_string_equal(sfield(r, "unit"), "hours");
    assert_string_equal(sfield(r, "periodStart"), "1970-01-01T00:00:00.000Z");
    assert_string_equal(sfield(r, "periodEnd"), "1970-01-01T01:00:00.000Z");
    assert_string_equal(sfield(json_object_get(r, "properties"), "size"), "small");
    assert_string_equal(sfield(json_array_get(list, 1), "id"), "r2");
    assert_true(json_real_value(json_object_get(json_array_get(list, 1), "quantity")) == 12.5);
    assert_string_equal(sfield(json_array_get(list, 2), "id"), "r3");
    json_decref(list);

    /* Pages by position; a window by period; a subscription's own. */
    list = store_usage_records(st, NULL, 0, INT64_MIN, INT64_MAX, 1, &first, &err);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    list = store_usage_records(st, NULL, first, INT64_MIN, INT64_MAX, 2, &next, &err);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(sfield(json_array_get(list, 0), "id"), "r2");
    assert_string_equal(sfield(json_array_get(list, 1), "id"), "r3");
    assert_true(next > first && next < last);
    json_decref(list);
    list = store_usage_records(st, NULL, 0, HOUR, 2 * HOUR, 10, &next, &err);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(sfield(json_array_get(list, 0), "id"), "r4");
    json_decref(list);
    assert_int_equal(next, last);
    list = store_usage_records(st, "nope", 0, INT64_MIN, INT64_MAX, 10, &next, &err);
    assert_int_equal(json_array_size(list), 0);
    assert_int_equal(next, 0);
    json_decref(list);
    list = store_usage_records(st, "s1", last, INT64_MIN, INT64_MAX, 10, &next, &err);
    assert_int_equal(json_array_size(list), 0);
    assert_int_equal(next, last);
    json_decref(list);
}
CASE(usage_records_written_once)

static void
case_wap_records_written_once(store_t *st)
{
    store_wap_rec_t a = wap_rec("vm-a", "small", 0), again = wap_rec("vm-a", "small", 0);
    store_wap_rec_t b = wap_rec("vm-a", "large", 0), c = wap_rec("vm-b", "small", HOUR);
    int64_t pos = -1, ev = -1, ids[3];
    err_t err = {0};
    json_t *list, *r, *res;

    world(st);
    again.cpu_max = 64;
    assert_int_equal(store_wap_usage_put(st, &a, &err), 0);
    assert_int_equal(store_wap_usage_put(st, &again, &err), 0); /* ignored */
    assert_int_equal(store_wap_usage_put(st, &b, &err), 0);
    c.subscription_id = "nope"; /* no subscriber to look up */
    assert_int_equal(store_wap_usage_put(st, &c, &err), 0);

    list = store_wap_usage_after(st, 0, 10, &err);
    assert_non_null(list);
    assert_int_equal(json_array_size(list), 3);
    ids[0] = json_integer_value(json_object_get(json_array_get(list, 0), "EventId"));
    ids[1] = json_integer_value(json_object_get(json_array_get(list, 1), "EventId"));
    ids[2] = json_integer_value(json_object_get(json_array_get(list, 2), "EventId"));
    assert_true(ids[0] >= 1 && ids[0] < ids[1] && ids[1] < ids[2]);
    assert_int_equal(store_usage_issued(st, &pos, &ev, &err), 0);
    assert_int_equal(pos, 0);
    assert_int_equal(ev, ids[2]);
    r = json_array_get(list, 0);
    assert_string_equal(sfield(r, "ResourceId"), "vm-a");
    assert_string_equal(sfield(r, "SubscriptionId"), "s1");
    assert_string_equal(sfield(r, "StartTime"), "1970-01-01T00:00:00.000Z");
    assert_string_equal(sfield(r, "EndTime"), "1970-01-01T01:00:00.000Z");
    assert_string_equal(sfield(json_object_get(r, "Properties"), "VMName"), "web");
    assert_string_equal(sfield(json_object_get(r, "Properties"), "Subscriber"), "ann@example.com");
    res = json_object_get(r, "Resources");
    assert_string_equal(sfield(res, "CPUAllocationCount-Max"), "2");
    assert_string_equal(sfield(res, "CPUAllocationCount-Average"), "1.5");
    assert_string_equal(sfield(res, "MemoryAllocated-Average"), "1536.25");
    assert_string_equal(sfield(res, "MemoryConsumed-Min"), "512");
    assert_string_equal(sfield(res, "MemoryConsumed-Average"), "333.333");
    assert_string_equal(sfield(res, "CrossDiskSizeAllocated-Max"), "42949672960");
    assert_string_equal(sfield(res, "CrossDiskSizeAllocated-Average"), "42949672960");
    r = json_array_get(list, 2);
    assert_string_equal(sfield(r, "ResourceId"), "vm-b");
    assert_string_equal(sfield(json_object_get(r, "Properties"), "Subscriber"), "");
    json_decref(list);
    list = store_wap_usage_after(st, ids[0], 1, &err);
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "EventId")), ids[1]);
    assert_string_equal(sfield(json_object_get(json_array_get(list, 0), "Resources"),
                               "CPUAllocationCount-Max"),
                        "2"); /* the first write of vm-a's small record, not the ignored second */
    json_decref(list);
}
CASE(wap_records_written_once)

static void
case_purge_keeps_positions(store_t *st)
{
    store_wap_rec_t w1 = wap_rec("vm-a", "small", 0), w2 = wap_rec("vm-b", "small", 5 * HOUR);
    int64_t pos = -1, ev = -1, last = -1;
    err_t err = {0};
    json_t *list;

    world(st);
    put_usage(st, usage_rec("r1", "vm-a", "compute.hours", "small", 1, 0));
    put_usage(st, usage_rec("r2", "vm-c", "compute.hours", "small", 1, 0));
    put_usage(st, usage_rec("r3", "vm-b", "compute.hours", "small", 1, 5 * HOUR));
    assert_int_equal(store_wap_usage_put(st, &w1, &err), 0);
    assert_int_equal(store_wap_usage_put(st, &w2, &err), 0);
    /* Nothing acknowledged: nothing goes, however old. */
    assert_int_equal(store_usage_purge(st, 0, 0, INT64_MAX, &err), 0);
    /* vm-a's period is acknowledged by its WAP record (EventId 1): its usage record and the WAP record
     * go; r2 is acknowledged by position; the records of the later period are within retention. */
    assert_int_equal(store_usage_purge(st, 2, 1, 2 * HOUR, &err), 3);
    list = store_usage_records(st, NULL, 0, INT64_MIN, INT64_MAX, 10, &last, &err);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(sfield(json_array_get(list, 0), "id"), "r3");
    json_decref(list);
    /* Everything acknowledged and past retention: all goes, and the highest numbers stay issued. */
    assert_int_equal(store_usage_purge(st, 3, 2, INT64_MAX, &err), 2);
    list = store_wap_usage_after(st, 0, 10, &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    assert_int_equal(store_usage_issued(st, &pos, &ev, &err), 0);
    assert_int_equal(pos, 3);
    assert_int_equal(ev, 2);
    /* A position or EventId purged is never handed out again. */
    put_usage(st, usage_rec("r4", "vm-d", "compute.hours", "small", 1, 0));
    assert_int_equal(store_wap_usage_put(st, &w1, &err), 0);
    list = store_usage_records(st, NULL, 0, INT64_MIN, INT64_MAX, 10, &last, &err);
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(last, 4);
    json_decref(list);
    list = store_wap_usage_after(st, 0, 10, &err);
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "EventId")), 3);
    json_decref(list);
    assert_int_equal(store_usage_issued(st, &pos, &ev, &err), 0);
    assert_int_equal(pos, 4);
    assert_int_equal(ev, 3);
}
CASE(purge_keeps_positions)

static json_t *
vm(const char *id, const char *power)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:b, s:b}", "id", id, "subscriptionId",
                     "s1", "name", id, "powerState", power, "size", "small", "cores", 1, "memoryMB",
                     512, "_storageGB", 10, "_holdsCompute", 1, "_holdsStorage", 1);
}

static void
case_vm_state_chunks_and_prune(store_t *st)
{
    const char *ids[] = {"vm-c", "vm-a", "vm-e", "vm-b", "vm-d"};
    int64_t first = 0, now;
    err_t err = {0};
    char end[64];
    json_t *v;
    size_t i;

    world(st);
    assert_int_equal(store_timeline_first(st, &first, &err), 0);
    assert_int_equal(first, -1);
    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        v = vm(ids[i], "running");
        assert_int_equal(store_timeline_append(st, v, "created", &err), 0);
        json_decref(v);
    }
    assert_int_equal(store_timeline_first(st, &first, &err), 0);
    assert_true(first > 0);
    /* Chunks of two, in id order: vm-b, vm-d, then fewer than two remain. */
    assert_int_equal(store_timeline_chunk_end(st, 0, NULL, 2, end, sizeof(end), &err), 1);
    assert_string_equal(end, "vm-b");
    assert_int_equal(store_timeline_chunk_end(st, 0, "vm-b", 2, end, sizeof(end), &err), 1);
    assert_string_equal(end, "vm-d");
    assert_int_equal(store_timeline_chunk_end(st, 0, "vm-d", 2, end, sizeof(end), &err), 0);
    assert_int_equal(store_timeline_chunk_end(st, 0, "vm-d", 1, end, sizeof(end), &err), 1);
    assert_string_equal(end, "vm-e");
    /* vm-b goes: a window from later than its deletion does not count it; pruning forgets it. */
    v = vm("vm-b", "stopped");
    assert_int_equal(store_timeline_append(st, v, "deleted", &err), 0);
    json_decref(v);
    now = util_now_ms();
    assert_int_equal(store_timeline_chunk_end(st, now + HOUR, NULL, 2, end, sizeof(end), &err), 1);
    assert_string_equal(end, "vm-c");
    assert_int_equal(store_timeline_chunk_end(st, 0, NULL, 2, end, sizeof(end), &err), 1);
    assert_string_equal(end, "vm-b");
    assert_int_equal(store_vm_state_prune(st, 0, &err), 0);
    assert_int_equal(store_vm_state_prune(st, now + HOUR, &err), 1);
    assert_int_equal(store_timeline_chunk_end(st, 0, NULL, 2, end, sizeof(end), &err), 1);
    assert_string_equal(end, "vm-c");
}
CASE(vm_state_chunks_and_prune)

static void
case_cloud_capacity_sums_hosts(store_t *st)
{
    int64_t out[7];
    err_t err = {0};
    int i;

    world(st);
    put(st, &store_kind_cloud, cloud("c2", "west"));
    assert_int_equal(store_cloud_capacity(st, "c2", out, &err), 0);
    for (i = 0; i < 7; i++)
        assert_int_equal(out[i], 0);
    put(st, &store_kind_host, host("h2", 16));
    assert_int_equal(store_host_allocate(st, "h1", 2, 256, 10, &err), 0);
    assert_int_equal(store_host_allocate(st, "h2", 4, 128, 5, &err), 0);
    assert_int_equal(store_cloud_capacity(st, "c1", out, &err), 0);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 24);
    assert_int_equal(out[2], 2048);
    assert_int_equal(out[3], 200);
    assert_int_equal(out[4], 6);
    assert_int_equal(out[5], 384);
    assert_int_equal(out[6], 15);
}
CASE(cloud_capacity_sums_hosts)

static json_t *
hook(const char *id, json_t *events /* stolen */, int active)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:b, s:n, s:s, s:s}", "id", id, "url",
                     "http://127.0.0.1:9/hook", "events", events, "secret", "x", "active", active,
                     "description", "createdAt", TS, "updatedAt", TS);
}

static size_t
due(store_t *st, const char *hook_id)
{
    err_t err = {0};
    json_t *list = store_deliveries_due(st, hook_id, INT64_MAX, 100, &err);
    size_t n;

    assert_non_null(list);
    n = json_array_size(list);
    json_decref(list);
    return n;
}

static void
case_hook_filters_select_types(store_t *st)
{
    const char *types[] = {"vm.created", "vm.deleted", "vmrole.created", "network.created"};
    err_t err = {0};
    json_t *ev;
    char id[16];
    size_t i;

    world(st); /* k1: "vm.created" */
    put(st, &store_kind_hook, hook("k-all", json_pack("[s]", "*"), 1));
    put(st, &store_kind_hook, hook("k-vm", json_pack("[s, s]", "vm.*", "network.created"), 1));
    put(st, &store_kind_hook, hook("k-off", json_pack("[s]", "*"), 0));
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        snprintf(id, sizeof(id), "e%zu", i);
        ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{}}", "id", id, "type", types[i], "occurredAt", TS,
                       "subscriptionId", "s1", "resourceId", "vm-a", "data");
        assert_int_equal(store_event_add(st, ev, 1000, &err), 0);
        json_decref(ev);
    }
    assert_int_equal(due(st, "k1"), 1);
    assert_int_equal(due(st, "k-all"), 4);
    /* "vm.*" is a prefix up to its dot: vmrole.created is not among it. */
    assert_int_equal(due(st, "k-vm"), 3);
    assert_int_equal(due(st, "k-off"), 0);
}
CASE(hook_filters_select_types)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(usage_records_written_once),
        cmocka_unit_test(wap_records_written_once),
        cmocka_unit_test(purge_keeps_positions),
        cmocka_unit_test(vm_state_chunks_and_prune),
        cmocka_unit_test(cloud_capacity_sums_hosts),
        cmocka_unit_test(hook_filters_select_types),
    };

    return cmocka_run_group_tests_name("store conformance: usage records, VMs' state, hook filters",
                                       tests, NULL, NULL);
}
