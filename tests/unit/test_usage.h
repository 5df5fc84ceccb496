/*
 * test_usage.h: the timeline the usage tests drive and what they read back. A test appends VM records to
 * the timeline (the store stamps each row with the wall clock), reads the rows back with their times, and
 * works out what each period's records should hold from those times on its own: each row is in force from
 * its time to the next row's, nothing from the deletion on. Include after <cmocka.h> and "fixture.h".
 */
#ifndef WAPD_TEST_USAGE_H
#define WAPD_TEST_USAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/usage.h"
#include "../../lib/util.h"

#define HOUR 3600000
#define MAX_ROWS 16

/* What a VM runs and holds, as its record tells the timeline. */
typedef struct {
    const char *power, *size;
    int64_t cores, memory_mb, storage_gb;
    bool holds_compute, holds_storage;
} vm_state_t;

static const vm_state_t running_s = {"running", "S", 2, 2048, 30, true, true};

/* A VM's timeline rows as the store has them. */
typedef struct {
    const char *vm_id;
    size_t n;
    int64_t at[MAX_ROWS], cores[MAX_ROWS], gb[MAX_ROWS];
    bool deleted[MAX_ROWS], running[MAX_ROWS], hc[MAX_ROWS], hs[MAX_ROWS];
} rows_t;

/* Appends a row for VM id of subscription sid; *lo and *hi (when not NULL) bound the time it got. */
static void
append(store_t *st, const char *id, const char *sid, const char *event, const vm_state_t *s,
       int64_t *lo, int64_t *hi)
{
    json_t *vm = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:b}", "id", id,
                           "subscriptionId", sid, "name", id, "powerState", s->power, "size", s->size,
                           "cores", (json_int_t) s->cores, "memoryMB", (json_int_t) s->memory_mb,
                           "_storageGB", (json_int_t) s->storage_gb, "_holdsCompute",
                           s->holds_compute, "_holdsStorage", s->holds_storage);
    err_t err = {0};

    assert_non_null(vm);
    if (lo)
        *lo = util_now_ms();
    assert_int_equal(store_timeline_append(st, vm, event, &err), 0);
    if (hi)
        *hi = util_now_ms();
    json_decref(vm);
}

/* Polls the clock until it reads at least ms (a generous deadline guards the loop). */
static void
wait_until(int64_t ms)
{
    int64_t deadline = util_now_ms() + 60000;

    while (util_now_ms() < ms) {
        assert_true(util_now_ms() < deadline);
        usleep(1000);
    }
}

static int
gather(void *arg, const store_timeline_row_t *r, err_t *err)
{
    rows_t *rows = arg;
    size_t i = rows->n;

    (void) err;
    if (strcmp(r->vm_id, rows->vm_id) != 0)
        return 0;
    assert_true(i < MAX_ROWS);
    rows->at[i] = r->at_ms;
    rows->cores[i] = r->cores;
    rows->gb[i] = r->storage_gb;
    rows->deleted[i] = strcmp(r->event, "deleted") == 0;
    rows->running[i] = strcmp(r->power_state, "running") == 0;
    rows->hc[i] = r->holds_compute;
    rows->hs[i] = r->holds_storage;
    rows->n++;
    return 0;
}

/* The whole timeline of one VM, in order. */
static void
read_rows(store_t *st, const char *vm_id, rows_t *rows)
{
    err_t err = {0};

    memset(rows, 0, sizeof(*rows));
    rows->vm_id = vm_id;
    assert_int_equal(store_timeline_each(st, 0, INT64_MAX, NULL, NULL, gather, rows, &err), 0);
}

/* Whether the VM existed during [p0, p1), and what each meter should hold for it then: q[0]
 * compute.hours, q[1] compute.runningHours, q[2] storage.gbHours. Each row is in force from its time to
 * the next row's; nothing is in force from the deletion on. */
static bool
expect(const rows_t *r, int64_t p0, int64_t p1, double q[3])
{
    int64_t from, to, end;
    size_t i;

    q[0] = q[1] = q[2] = 0;
    if (r->n == 0 || r->at[0] >= p1)
        return false;
    for (i = 0; i < r->n && !r->deleted[i]; i++) {
        end = i + 1 < r->n ? r->at[i + 1] : INT64_MAX;
        from = r->at[i] > p0 ? r->at[i] : p0;
        to = end < p1 ? end : p1;
        if (to <= from)
            continue;
        q[0] += r->hc[i] ? (double) (to - from) / HOUR : 0;
        q[1] += r->running[i] ? (double) (to - from) / HOUR : 0;
        q[2] += r->hs[i] ? (double) r->gb[i] * (double) (to - from) / HOUR : 0;
    }
    return !(i < r->n && r->deleted[i] && r->at[i] <= p0);
}

/* Every usage record, paged with a cursor (new reference). */
static json_t *
all_records(store_t *st)
{
    json_t *all = json_array(), *page;
    int64_t after = 0, next = 0;
    err_t err = {0};

    for (;;) {
        page = usage_page(st, after, 1000, &next, &err);
        assert_non_null(page);
        if (json_array_size(page) == 0)
            break;
        json_array_extend(all, page);
        json_decref(page);
        after = next;
    }
    json_decref(page);
    return all;
}

/* Whether rec is of (vm, meter, the period whose start is written start) and, unless size is NULL, bills
 * that size. */
static bool
is_record(const json_t *rec, const char *vm, const char *meter, const char *start, const char *size)
{
    return strcmp(json_string_value(json_object_get(rec, "resourceId")), vm) == 0 &&
           strcmp(json_string_value(json_object_get(rec, "meter")), meter) == 0 &&
           strcmp(json_string_value(json_object_get(rec, "periodStart")), start) == 0 &&
           (size == NULL ||
            strcmp(json_string_value(json_object_get(json_object_get(rec, "properties"), "size")),
                   size) == 0);
}

/* The record of (vm, meter, period starting at p0) billing size (NULL: any); fails when there is more
 * than one. */
static json_t *
find_size(const json_t *recs, const char *vm, const char *meter, int64_t p0, const char *size)
{
    char start[UTIL_TIME_LEN + 1];
    json_t *r, *found = NULL;
    size_t i;

    util_time_format(p0, start);
    json_array_foreach(recs, i, r) {
        if (is_record(r, vm, meter, start, size)) {
            assert_null(found);
            found = r;
        }
    }
    return found;
}

/* The record of (vm, meter, period starting at p0); fails when there is more than one. */
static json_t *
find(const json_t *recs, const char *vm, const char *meter, int64_t p0)
{
    return find_size(recs, vm, meter, p0, NULL);
}

static double
quantity(const json_t *rec)
{
    assert_non_null(rec);
    return json_real_value(json_object_get(rec, "quantity"));
}

/* How many records (vm, meter, period starting at p0) has, and *sum (may be NULL) their quantities: a
 * compute meter has one per size the VM had then. No two bill the same size. */
static size_t
count_records(const json_t *recs, const char *vm, const char *meter, int64_t p0, double *sum)
{
    char start[UTIL_TIME_LEN + 1];
    json_t *r;
    size_t i, n = 0;
    double q = 0;

    util_time_format(p0, start);
    json_array_foreach(recs, i, r) {
        if (!is_record(r, vm, meter, start, NULL))
            continue;
        assert_non_null(find_size(recs, vm, meter, p0,
                                  json_string_value(json_object_get(json_object_get(r, "properties"),
                                                                    "size"))));
        q += quantity(r);
        n++;
    }
    if (sum)
        *sum = q;
    return n;
}

static const char *const meters[3] = {"compute.hours", "compute.runningHours", "storage.gbHours"};

/* Checks the records of vm for [p0, p0 + period) against the timeline (each meter's records, one per
 * size for the compute meters, summing to what the VM had); answers whether the VM existed then (no
 * record at all when it did not). */
static bool
check_period(const json_t *recs, const rows_t *rows, int64_t p0, int64_t period)
{
    double q[3], sum;
    bool existed = expect(rows, p0, p0 + period, q);
    size_t m, n;

    for (m = 0; m < 3; m++) {
        n = count_records(recs, rows->vm_id, meters[m], p0, &sum);
        if (!existed) {
            assert_int_equal(n, 0);
            continue;
        }
        assert_true(n >= 1);
        assert_true(m < 2 || n == 1); /* storage: one record per period */
        assert_float_equal(sum, q[m], 1e-9);
    }
    return existed;
}

static int64_t
first_period(store_t *st, int64_t period)
{
    int64_t first;
    err_t err = {0};

    assert_int_equal(store_timeline_first(st, &first, &err), 0);
    assert_true(first > 0);
    return first / period * period;
}

#endif
