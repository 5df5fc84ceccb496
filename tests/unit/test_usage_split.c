/* Unit tests of lib/usage's split of a period at every billed change: a VM resized within a period gets
 * one compute record per size it had, prorated to the time it had it and summing to the period's; its
 * WAP records are split the same way, with maxima, time-weighted averages and the assigned memory's
 * minimum; a re-close writes nothing twice. Also the acknowledgements: a lastID or a cursor beyond what
 * was handed out is refused and acknowledges nothing, an older ack does not move the acknowledged
 * position back, and purging takes only what either feed acknowledged, once past the retention.
 *
 * Times come from the store's rows (the timeline stamps the wall clock), as in test_usage.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_usage.h"

static const vm_state_t medium = {"running", "Medium", 2, 3584, 40, true, true};
static const vm_state_t medium_stopped = {"stopped", "Medium", 2, 3584, 40, true, true};
static const vm_state_t small_stopped = {"stopped", "Small", 1, 1792, 40, true, true};
static const vm_state_t small = {"running", "Small", 1, 1792, 40, true, true};

/* Appends a row with an assigned memory (dynamic memory) of assigned MB. */
static void
append_assigned(store_t *st, const char *id, const vm_state_t *s, int64_t assigned)
{
    json_t *vm = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:b}", "id", id,
                           "subscriptionId", "sub-1", "name", id, "powerState", s->power, "size",
                           s->size, "cores", (json_int_t) s->cores, "memoryMB",
                           (json_int_t) s->memory_mb, "_assignedMemoryMB", (json_int_t) assigned,
                           "_storageGB", (json_int_t) s->storage_gb, "_holdsCompute",
                           s->holds_compute, "_holdsStorage", s->holds_storage);
    err_t err = {0};

    assert_non_null(vm);
    assert_int_equal(store_timeline_append(st, vm, "changed", &err), 0);
    json_decref(vm);
}

/* The next row of the scenario, once the last has held for at least 40 ms. */
static void
next_row(store_t *st, const char *id, const vm_state_t *s)
{
    rows_t r;

    read_rows(st, id, &r);
    wait_until(r.at[r.n - 1] + 40);
    append(st, id, "sub-1", "changed", s, NULL, NULL);
}

static const char *
resource(const json_t *wap, const char *name)
{
    return json_string_value(json_object_get(json_object_get(wap, "Resources"), name));
}

/* Medium running, stopped, resized to Small, started: two compute records of each meter, one per size,
 * prorated to the times the timeline recorded and summing to the time it held capacity; one storage
 * record; two WAP records. Closing again (the mark moved back) writes nothing twice. */
static void
resize_within_a_period_splits_compute_and_wap(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    int64_t p0, end;
    double q;
    err_t err = {0};
    json_t *recs, *wap, *props;
    rows_t r;

    append(st, "vm-r", "sub-1", "created", &medium, NULL, NULL);
    next_row(st, "vm-r", &medium_stopped);
    next_row(st, "vm-r", &small_stopped);
    next_row(st, "vm-r", &small);
    read_rows(st, "vm-r", &r);
    assert_int_equal(r.n, 4);
    p0 = first_period(st, HOUR);
    end = p0 + HOUR;
    assert_true(r.at[3] < end); /* the whole scenario within one period */
    assert_int_equal(usage_close_due(st, HOUR, end, &err), 1);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 5);
    assert_int_equal(count_records(recs, "vm-r", "compute.hours", p0, &q), 2);
    assert_float_equal(q, (double) (end - r.at[0]) / HOUR, 1e-9);
    assert_float_equal(quantity(find_size(recs, "vm-r", "compute.hours", p0, "Medium")),
                       (double) (r.at[2] - r.at[0]) / HOUR, 1e-12);
    assert_float_equal(quantity(find_size(recs, "vm-r", "compute.hours", p0, "Small")),
                       (double) (end - r.at[2]) / HOUR, 1e-12);
    assert_float_equal(quantity(find_size(recs, "vm-r", "compute.runningHours", p0, "Medium")),
                       (double) (r.at[1] - r.at[0]) / HOUR, 1e-12);
    assert_float_equal(quantity(find_size(recs, "vm-r", "compute.runningHours", p0, "Small")),
                       (double) (end - r.at[3]) / HOUR, 1e-12);
    props = json_object_get(find_size(recs, "vm-r", "compute.hours", p0, "Small"), "properties");
    assert_int_equal(json_integer_value(json_object_get(props, "cores")), 1);
    assert_int_equal(json_integer_value(json_object_get(props, "memoryMB")), 1792);
    assert_int_equal(count_records(recs, "vm-r", "storage.gbHours", p0, &q), 1);
    assert_float_equal(q, 40.0 * (double) (end - r.at[0]) / HOUR, 1e-9);
    assert_string_equal(id_of(find(recs, "vm-r", "storage.gbHours", p0)),
                        id_of(json_array_get(recs, 4)));
    assert_true(check_period(recs, &r, p0, HOUR));
    json_decref(recs);
    wap = usage_wap(st, "", 100, &err);
    assert_int_equal(json_array_size(wap), 2);
    assert_string_equal(resource(json_array_get(wap, 0), "CPUAllocationCount-Max"), "2");
    assert_string_equal(resource(json_array_get(wap, 0), "MemoryAllocated-Average"), "3584");
    assert_string_equal(resource(json_array_get(wap, 1), "CPUAllocationCount-Max"), "1");
    assert_string_equal(resource(json_array_get(wap, 1), "MemoryAllocated-Max"), "1792");
    /* Small was stopped a while: it consumed no memory then. */
    assert_string_equal(resource(json_array_get(wap, 1), "MemoryConsumed-Min"), "0");
    assert_string_equal(resource(json_array_get(wap, 1), "MemoryConsumed-Max"), "1792");
    json_decref(wap);
    /* A crash before the mark moved: the period is closed again, and nothing is written twice. */
    assert_int_equal(store_meta_set(st, "usage.closedUntilMs", p0, &err), 0);
    assert_int_equal(usage_close_due(st, HOUR, end, &err), 1);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 5);
    json_decref(recs);
    wap = usage_wap(st, "", 100, &err);
    assert_int_equal(json_array_size(wap), 2);
    json_decref(wap);
}

/* A WAP counter of a mean: digits, then at most 3 decimals without a trailing zero, within rounding of
 * want. */
static void
expect_number(const char *got, double want)
{
    const char *dot = strchr(got, '.');
    size_t n = strlen(got);

    assert_true(n > 0 && strspn(got, "0123456789.") == n);
    if (dot != NULL) {
        assert_true(n - (size_t) (dot - got) - 1 >= 1 && n - (size_t) (dot - got) - 1 <= 3);
        assert_true(got[n - 1] != '0');
    }
    assert_float_equal(strtod(got, NULL), want, 0.0005 + 1e-9);
}

/* One size all period, the assigned memory lowered while it runs, then deallocated: Min <= Average <=
 * Max, averages weighted by time over the period (of a second, so that they are far from the maxima). */
static void
wap_counters_are_time_weighted(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    const vm_state_t dealloc = {"deallocated", "Medium", 2, 3584, 40, false, true};
    int64_t p0, end, t1, t2, life;
    err_t err = {0};
    json_t *wap, *w;
    rows_t r;

    wait_until((util_now_ms() / 1000 + 1) * 1000);
    append(st, "vm-w", "sub-1", "created", &medium, NULL, NULL);
    read_rows(st, "vm-w", &r);
    wait_until(r.at[0] + 40);
    append_assigned(st, "vm-w", &medium, 1000);
    next_row(st, "vm-w", &dealloc);
    read_rows(st, "vm-w", &r);
    assert_int_equal(r.n, 3);
    p0 = first_period(st, 1000);
    end = p0 + 1000;
    assert_true(r.at[2] < end);
    assert_int_equal(usage_close_due(st, 1000, end, &err), 1);
    wap = usage_wap(st, "", 100, &err);
    assert_int_equal(json_array_size(wap), 1);
    w = json_array_get(wap, 0);
    t1 = r.at[1] - r.at[0];
    t2 = r.at[2] - r.at[1];
    life = end - r.at[0];
    assert_string_equal(resource(w, "CPUAllocationCount-Max"), "2");
    expect_number(resource(w, "CPUAllocationCount-Average"), 2.0 * (double) (t1 + t2) / (double) life);
    expect_number(resource(w, "MemoryAllocated-Average"), 3584.0 * (double) (t1 + t2) / (double) life);
    assert_string_equal(resource(w, "MemoryConsumed-Min"), "0");
    assert_string_equal(resource(w, "MemoryConsumed-Max"), "3584");
    expect_number(resource(w, "MemoryConsumed-Average"),
                  (3584.0 * (double) t1 + 1000.0 * (double) t2) / (double) life);
    assert_string_equal(resource(w, "CrossDiskSizeAllocated-Max"), "42949672960");
    assert_string_equal(resource(w, "CrossDiskSizeAllocated-Average"), "42949672960");
    json_decref(wap);
}

/* A lastID above the highest EventId issued is refused and acknowledges nothing; so is a cursor position
 * beyond the last record; an older ack does not move the acknowledged position back. */
static void
acks_beyond_what_was_handed_out_are_refused(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    int64_t p0, acked, last_pos, last_id;
    char id[32];
    err_t err = {0};
    json_t *wap;

    append(st, "vm-a", "sub-1", "created", &small, NULL, NULL);
    p0 = first_period(st, HOUR);
    assert_int_equal(usage_close_due(st, HOUR, p0 + HOUR, &err), 1);
    assert_int_equal(store_usage_issued(st, &last_pos, &last_id, &err), 0);
    assert_int_equal(last_pos, 3);
    assert_int_equal(last_id, 1);
    assert_null(usage_wap(st, "2", 100, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "lastID");
    assert_int_equal(store_meta_get(st, "usage.wapAckedId", &acked, &err), 1);
    snprintf(id, sizeof(id), "%lld", (long long) last_id);
    wap = usage_wap(st, id, 100, &err);
    assert_int_equal(json_array_size(wap), 0);
    json_decref(wap);
    err_clear(&err);
    assert_int_equal(usage_ack(st, 4, &err), -1);
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "cursor");
    assert_int_equal(store_meta_get(st, "usage.ackedPosition", &acked, &err), 1);
    assert_int_equal(usage_ack(st, 2, &err), 0);
    assert_int_equal(usage_ack(st, 1, &err), 0);
    assert_int_equal(store_meta_get(st, "usage.ackedPosition", &acked, &err), 0);
    assert_int_equal(acked, 2);
}

/* The native ack alone purges: only records at acknowledged positions, past the retention; a WAP record
 * goes once its period's records are all gone. */
static void
native_ack_purges_only_what_it_covers(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    int64_t p0, now;
    err_t err = {0};
    json_t *recs, *wap;

    append(st, "vm-n", "sub-1", "created", &small, NULL, NULL);
    p0 = first_period(st, HOUR);
    assert_int_equal(usage_close_due(st, HOUR, p0 + 2 * HOUR, &err), 2); /* positions 1-3, 4-6 */
    now = p0 + 2 * HOUR;
    assert_int_equal(usage_purge(st, 0, now + HOUR, &err), 0); /* nothing acknowledged */
    assert_int_equal(usage_ack(st, 2, &err), 0);
    assert_int_equal(usage_purge(st, 10 * HOUR, now, &err), 0); /* within the retention */
    assert_int_equal(usage_purge(st, 0, now + HOUR, &err), 2);   /* the first two records alone */
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 4);
    json_decref(recs);
    wap = usage_wap(st, "", 100, &err);
    assert_int_equal(json_array_size(wap), 2);
    json_decref(wap);
    /* The first period acknowledged whole: its WAP record goes with its last record. */
    assert_int_equal(usage_ack(st, 3, &err), 0);
    assert_int_equal(usage_purge(st, 0, now + HOUR, &err), 2);
    wap = usage_wap(st, "", 100, &err);
    assert_int_equal(json_array_size(wap), 1);
    json_decref(wap);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 3);
    json_decref(recs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(resize_within_a_period_splits_compute_and_wap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(wap_counters_are_time_weighted, setup, teardown),
        cmocka_unit_test_setup_teardown(acks_beyond_what_was_handed_out_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(native_ack_purges_only_what_it_covers, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
