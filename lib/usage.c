/*
 * usage.c: closing metering periods from the VM timeline (see usage.h).
 *
 * A VM's timeline is a list of states, each in force from its time to the next one's (or to the VM's
 * deletion). For a period [p0, p1) each meter adds up the state durations clipped to the period and to the
 * VM's life. One transaction per period writes its records and moves the closed-until mark, so a crash
 * closes the period again from the start, and the records' uniqueness keeps it to one record each.
 */
#include "usage.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define CLOSED_UNTIL "usage.closedUntilMs"
#define MS_PER_HOUR 3600000.0

static const char *
str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t
num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static int
add_record(store_t *st, const char *vm_id, const json_t *last, const char *meter, double qty,
           const char *unit, int64_t p0, int64_t p1, err_t *err)
{
    char id[UTIL_UUID_LEN + 1];
    json_t *rec;
    int rc;

    util_uuid_v7(p1, id);
    rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:I, s:I, s:{s:s, s:I, s:I}}", "id", id,
                    "subscriptionId", str(last, "subscriptionId"), "resourceId", vm_id,
                    "resourceType", "vm", "meter", meter, "quantity", qty, "unit", unit,
                    "periodStartMs", (json_int_t) p0, "periodEndMs", (json_int_t) p1, "properties",
                    "size", str(last, "size"), "cores", (json_int_t) num(last, "cores"), "memoryMB",
                    (json_int_t) num(last, "memoryMB"));
    if (rec == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    rc = store_usage_record_add(st, rec, err);
    json_decref(rec);
    return rc;
}

/* The records of one VM for [p0, p1): none when it did not exist then. */
static int
meter_vm(store_t *st, const char *vm_id, const json_t *rows, int64_t p0, int64_t p1, err_t *err)
{
    double compute = 0, running = 0, gb = 0;
    const json_t *row, *next, *last = NULL;
    int64_t from, to, created = num(json_array_get(rows, 0), "at"), dur;
    int64_t cpu_max = 0, mem_max = 0, gb_max = 0;
    json_t *wap;
    int rc;
    size_t i, n = json_array_size(rows);

    if (n == 0 || created >= p1)
        return 0;
    json_array_foreach(rows, i, row) {
        if (strcmp(str(row, "event"), "deleted") == 0) {
            if (num(row, "at") <= p0)
                return 0; /* gone before the period */
            break;
        }
        next = i + 1 < n ? json_array_get(rows, i + 1) : NULL;
        from = num(row, "at") > p0 ? num(row, "at") : p0;
        to = next && num(next, "at") < p1 ? num(next, "at") : p1;
        if (to <= from)
            continue;
        dur = to - from;
        last = row;
        if (json_is_true(json_object_get(row, "holdsCompute")))
            compute += (double) dur / MS_PER_HOUR;
        if (strcmp(str(row, "powerState"), "running") == 0)
            running += (double) dur / MS_PER_HOUR;
        if (json_is_true(json_object_get(row, "holdsStorage")))
            gb += (double) num(row, "storageGB") * (double) dur / MS_PER_HOUR;
        if (json_is_true(json_object_get(row, "holdsCompute"))) {
            cpu_max = num(row, "cores") > cpu_max ? num(row, "cores") : cpu_max;
            mem_max = num(row, "memoryMB") > mem_max ? num(row, "memoryMB") : mem_max;
        }
        if (json_is_true(json_object_get(row, "holdsStorage")) && num(row, "storageGB") > gb_max)
            gb_max = num(row, "storageGB");
    }
    if (last == NULL) {
        /* Every change fell outside the period: the state before it still held. */
        for (i = n; i > 0; i--) {
            row = json_array_get(rows, i - 1);
            if (num(row, "at") <= p0 && strcmp(str(row, "event"), "deleted") != 0) {
                last = row;
                break;
            }
        }
        if (last == NULL)
            return 0;
    }
    if (add_record(st, vm_id, last, "compute.hours", compute, "hours", p0, p1, err) ||
        add_record(st, vm_id, last, "compute.runningHours", running, "hours", p0, p1, err) ||
        add_record(st, vm_id, last, "storage.gbHours", gb, "GB-hours", p0, p1, err))
        return -1;
    /* The WAP record of the VM's period: the most it had allocated (disk in bytes). */
    wap = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "resourceId", vm_id,
                    "subscriptionId", str(last, "subscriptionId"), "name", str(last, "name"),
                    "periodStartMs", (json_int_t) p0, "periodEndMs", (json_int_t) p1, "cpuMax",
                    (json_int_t) cpu_max, "memoryMax", (json_int_t) mem_max, "diskBytesMax",
                    (json_int_t) (gb_max * 1024 * 1024 * 1024));
    rc = wap ? store_wap_usage_add(st, wap, err) : err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    json_decref(wap);
    return rc;
}

static int
close_period(store_t *st, int64_t p0, int64_t p1, err_t *err)
{
    json_t *by_vm = NULL, *rows;
    const char *vm;

    if (store_tx_begin(st, err))
        return -1;
    by_vm = store_timeline_until(st, p0, p1, NULL, err);
    if (by_vm == NULL)
        goto fail;
    json_object_foreach(by_vm, vm, rows)
        if (meter_vm(st, vm, rows, p0, p1, err))
            goto fail;
    if (store_meta_set(st, CLOSED_UNTIL, p1, err) || store_tx_commit(st, err))
        goto fail;
    json_decref(by_vm);
    return 0;
fail:
    store_tx_rollback(st);
    json_decref(by_vm);
    return -1;
}

int
usage_close_due(store_t *st, int64_t period_ms, int64_t now_ms, err_t *err)
{
    int64_t until, first;
    int rc, closed = 0;

    rc = store_meta_get(st, CLOSED_UNTIL, &until, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        /* First run: from the period of the earliest change on record (or now). */
        if (store_timeline_first(st, &first, err))
            return -1;
        until = (first >= 0 ? first : now_ms) / period_ms * period_ms;
        if (store_meta_set(st, CLOSED_UNTIL, until, err))
            return -1;
    }
    while (until + period_ms <= now_ms) {
        if (close_period(st, until, until + period_ms, err))
            return -1;
        until += period_ms;
        closed++;
    }
    return closed;
}

json_t *
usage_wap(store_t *st, const char *last_id, int batch, err_t *err)
{
    int64_t id = 0, acked = 0;
    int rc;

    if (last_id && last_id[0] && util_parse_int64(last_id, false, &id)) {
        err_set(err, ERR_INVALID_REQUEST, "lastID", "lastID must be a whole EventId, or empty.");
        return NULL;
    }
    if (id > 0) {
        /* lastID acknowledges every record up to it. */
        rc = store_meta_get(st, "usage.wapAckedId", &acked, err);
        if (rc < 0)
            return NULL;
        if (id > acked && store_meta_set(st, "usage.wapAckedId", id, err))
            return NULL;
    }
    return store_wap_usage_after(st, id, batch, err);
}

json_t *
usage_page(store_t *st, int64_t after, int limit, int64_t *next, err_t *err)
{
    return store_usage_records(st, NULL, after, INT64_MIN, INT64_MAX, limit, next, err);
}

json_t *
usage_totals(store_t *st, const char *sid, int64_t from_ms, int64_t to_ms, err_t *err)
{
    json_t *meters = json_object(), *by_res = json_object(), *page, *r, *resources, *k;
    int64_t after = 0, last = 0;
    const char *key;
    char from[UTIL_TIME_LEN + 1], to[UTIL_TIME_LEN + 1];
    size_t i;

    do {
        page = store_usage_records(st, sid, after, from_ms, to_ms, 1000, &last, err);
        if (page == NULL) {
            json_decref(meters);
            json_decref(by_res);
            return NULL;
        }
        json_array_foreach(page, i, r) {
            double q = json_real_value(json_object_get(r, "quantity"));
            json_object_set_new(meters, str(r, "meter"),
                                json_real(json_real_value(json_object_get(meters, str(r, "meter"))) +
                                          q));
            k = json_object_get(by_res, str(r, "resourceId"));
            if (k == NULL) {
                k = json_object();
                json_object_set_new(by_res, str(r, "resourceId"), k);
            }
            json_object_set_new(k, str(r, "meter"),
                                json_real(json_real_value(json_object_get(k, str(r, "meter"))) + q));
        }
        i = json_array_size(page);
        json_decref(page);
        after = last;
    } while (i == 1000);
    resources = json_array();
    json_object_foreach(by_res, key, k) {
        const char *m;
        json_t *q;
        json_object_foreach(k, m, q)
            json_array_append_new(resources,
                                  json_pack("{s:s, s:s, s:O, s:s}", "resourceId", key, "meter", m,
                                            "quantity", q, "unit",
                                            strcmp(m, "storage.gbHours") == 0 ? "GB-hours"
                                                                              : "hours"));
    }
    json_decref(by_res);
    util_time_format(from_ms == INT64_MIN ? 0 : from_ms, from);
    util_time_format(to_ms == INT64_MAX ? util_now_ms() : to_ms, to);
    return json_pack("{s:s, s:s, s:o, s:o}", "from", from, "to", to, "meters", meters, "resources",
                     resources);
}

int64_t
usage_purge(store_t *st, int64_t retention_ms, int64_t now_ms, err_t *err)
{
    int64_t acked = 0, n;
    int rc = store_meta_get(st, "usage.wapAckedId", &acked, err);

    if (rc < 0)
        return -1;
    if (rc == 1)
        return 0; /* nothing acknowledged: nothing goes */
    if (store_tx_begin(st, err))
        return -1;
    n = store_usage_purge(st, acked, now_ms - retention_ms, err);
    if (n < 0 || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        return -1;
    }
    return n;
}
