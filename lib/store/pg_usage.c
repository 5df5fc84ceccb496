/*
 * pg_usage.c: the PostgreSQL backend's VM timeline, settings, usage records and WAP usage records (see
 * store.h), with the same answers as sqlite_usage.c.
 *
 * Invariants: the timeline only grows by appends in the caller's transaction (a VM's rows are forgotten
 * only when its creation failed); vm_state has one row per VM on the timeline and follows its last row;
 * a usage record is written once per resource, meter, period and variant (a WAP record once per VM,
 * period and size), a second write being a no-op that neither fails nor aborts the transaction;
 * positions and EventIds only grow, purged ones are never handed out again.
 *
 * Positions: a usage record's position (seq) and a WAP record's EventId come from identity columns. A
 * second write of a record is found before the insert (under the write lock no other writer runs), so it
 * takes no number and positions stay dense as SQLite's. The highest ever issued is the highest row's,
 * or, once purging took the highest rows, what the purge wrote down in meta before deleting (the
 * sequences themselves count numbers of rolled-back inserts too, which were never handed out).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_util.h"
#include "pg.h"
#include "../util.h"

/* The meta keys where a purge writes down the highest position and EventId it took away. */
#define ISSUED_POS_KEY "pg.usage_records.issued"
#define ISSUED_EVENT_KEY "pg.wap_usage.issued"

/* Writes v as a text parameter that reads back as the same double. */
static const char *
f64(char buf[40], double v)
{
    snprintf(buf, 40, "%.17g", v);
    return buf;
}

static double
cell_f64(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0.0 : strtod(PQgetvalue(res, row, col), NULL);
}

/* ---- the VM timeline ---- */

int
pg_timeline_append(store_conn_t *c, const json_t *vm, const char *event, err_t *err)
{
    const char *id = json_string_value(json_object_get(vm, "id"));
    store_vm_metered_t m, last;
    char now[24], b_cores[24], b_mem[24], b_storage[24], b_hc[24], b_hs[24], b_assigned[24];
    const char *p[14];
    PGresult *res;
    bool same;

    store__vm_metered(vm, &m);
    /* A change only: the last row of the VM is compared first. */
    p[0] = id;
    res = pg__query(c,
                    "SELECT event, power_state, size, cores, memory_mb, storage_gb, holds_compute,"
                    " holds_storage, coalesce(assigned_memory_mb, memory_mb) FROM vm_timeline"
                    " WHERE vm_id = $1 ORDER BY seq DESC LIMIT 1;",
                    1, p, "reading the VM timeline", err);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        last.power = PQgetvalue(res, 0, 1);
        last.size = PQgetvalue(res, 0, 2);
        last.cores = pg__int(res, 0, 3);
        last.mem = pg__int(res, 0, 4);
        last.storage = pg__int(res, 0, 5);
        last.hc = pg__int(res, 0, 6);
        last.hs = pg__int(res, 0, 7);
        last.assigned = pg__int(res, 0, 8);
    }
    same = PQntuples(res) == 1 && store__vm_metered_same(event, PQgetvalue(res, 0, 0), &last, &m);
    PQclear(res);
    if (same)
        return 0;
    pg__i64(now, util_now_ms());
    p[0] = id;
    p[1] = json_string_value(json_object_get(vm, "subscriptionId"));
    p[2] = now;
    p[3] = event;
    p[4] = m.power ? m.power : "unknown";
    p[5] = m.size ? m.size : "";
    p[6] = pg__i64(b_cores, m.cores);
    p[7] = pg__i64(b_mem, m.mem);
    p[8] = pg__i64(b_storage, m.storage);
    p[9] = pg__i64(b_hc, m.hc);
    p[10] = pg__i64(b_hs, m.hs);
    p[11] = json_string_value(json_object_get(vm, "name"));
    p[12] = m.type ? m.type : "vm";
    p[13] = pg__i64(b_assigned, m.assigned);
    if (pg__run(c,
                "INSERT INTO vm_timeline(vm_id, subscription_id, at_ms, event, power_state, size,"
                " cores, memory_mb, storage_gb, holds_compute, holds_storage, name, resource_type,"
                " assigned_memory_mb) VALUES ($1, $2, $3::bigint, $4, $5, $6, $7::bigint, $8::bigint,"
                " $9::bigint, $10::bigint, $11::bigint, $12, $13, $14::bigint);",
                14, p, "recording the VM timeline", err) < 0)
        return -1;
    /* The VM's entry in vm_state follows its last row: gone when that row is its deletion. */
    p[1] = event;
    return pg__run(c,
                   "INSERT INTO vm_state(vm_id, gone_ms)"
                   " VALUES ($1, CASE WHEN $2::text = 'deleted' THEN $3::bigint END)"
                   " ON CONFLICT (vm_id) DO UPDATE SET gone_ms = excluded.gone_ms;",
                   3, p, "recording the VM's state", err) < 0
               ? -1
               : 0;
}

int
pg_timeline_forget(store_conn_t *c, const char *vm_id, err_t *err)
{
    const char *p[1] = {vm_id};

    if (pg__run(c, "DELETE FROM vm_timeline WHERE vm_id = $1;", 1, p, "forgetting a VM timeline",
                err) < 0)
        return -1;
    return pg__run(c, "DELETE FROM vm_state WHERE vm_id = $1;", 1, p, "forgetting a VM's state",
                   err) < 0
               ? -1
               : 0;
}

/* ---- settings, usage records ---- */

int
pg_meta_get(store_conn_t *c, const char *key, int64_t *value, err_t *err)
{
    const char *p[1] = {key};
    PGresult *res;
    int rc;

    res = pg__query(c, "SELECT value FROM meta WHERE key = $1;", 1, p, "reading a setting", err);
    if (res == NULL)
        return -1;
    rc = PQntuples(res) > 0 ? 0 : 1;
    if (rc == 0)
        *value = pg__int(res, 0, 0);
    PQclear(res);
    return rc;
}

int
pg_meta_set(store_conn_t *c, const char *key, int64_t value, err_t *err)
{
    char b[24];
    const char *p[2] = {key, pg__i64(b, value)};

    return pg__run(c,
                   "INSERT INTO meta(key, value) VALUES ($1, $2)"
                   " ON CONFLICT (key) DO UPDATE SET value = excluded.value;",
                   2, p, "saving a setting", err) < 0
               ? -1
               : 0;
}

int
pg_timeline_first(store_conn_t *c, int64_t *first_ms, err_t *err)
{
    PGresult *res;

    res = pg__query(c, "SELECT min(at_ms) FROM vm_timeline;", 0, NULL, "reading the VM timeline", err);
    if (res == NULL)
        return -1;
    *first_ms = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? pg__int(res, 0, 0) : -1;
    PQclear(res);
    return 0;
}

int
pg_timeline_chunk_end(store_conn_t *c, int64_t from_ms, const char *after_vm, int n, char *out,
                      size_t outn, err_t *err)
{
    char b_off[24], b_from[24];
    const char *p[3] = {after_vm ? after_vm : "", pg__i64(b_off, n - 1), pg__i64(b_from, from_ms)};
    PGresult *res;
    int found = 0;

    res = pg__query(c,
                    "SELECT vm_id FROM vm_state WHERE vm_id > $1"
                    " AND (gone_ms IS NULL OR gone_ms >= $3::bigint)"
                    " ORDER BY vm_id LIMIT 1 OFFSET $2::bigint;",
                    3, p, "reading the VMs' state", err);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        if (snprintf(out, outn, "%s", PQgetvalue(res, 0, 0)) >= (int) outn) {
            PQclear(res);
            return err_set(err, ERR_INTERNAL, NULL, "A VM id on the timeline is too long.");
        }
        found = 1;
    }
    PQclear(res);
    return found;
}

int
pg_timeline_each(store_conn_t *c, int64_t from_ms, int64_t until_ms, const char *after_vm,
                 const char *last_vm, store_timeline_fn fn, void *arg, err_t *err)
{
    char b_from[24], b_until[24];
    const char *p[4] = {pg__i64(b_from, from_ms), pg__i64(b_until, until_ms),
                        after_vm ? after_vm : "", last_vm};
    store_timeline_row_t row;
    PGresult *res;
    int i;

    /* What a window needs, for the VMs in (after_vm, last_vm]: every change within it, and each VM's
     * state as it stood at its start, the VM's last row before it (unless the VM was gone by then). That
     * row is found from the end of the VM's rows, so the cost does not grow with its history. The changes
     * are read VM by VM, from vm_state, each from the first of its rows in the window (the index by VM and
     * time), so that a chunk costs its own VMs' rows within the window, not their history. Every VM with a
     * row on the timeline has its entry in vm_state unless it was gone before a period already closed, so
     * it has no row in a window still to close. The order of VM ids is the database's, the same one
     * pg_timeline_chunk_end cuts chunks by. */
    res = pg__query(c,
                    "SELECT t.vm_id, t.subscription_id, t.at_ms, t.event, t.power_state, t.size, t.cores,"
                    " t.memory_mb, t.storage_gb, t.holds_compute, t.holds_storage, coalesce(t.name, ''),"
                    " t.seq, t.resource_type, coalesce(t.assigned_memory_mb, t.memory_mb)"
                    " FROM vm_state v JOIN vm_timeline t ON t.vm_id = v.vm_id"
                    " AND t.at_ms >= $1::bigint AND t.at_ms < $2::bigint"
                    " WHERE v.vm_id > $3::text AND ($4::text IS NULL OR v.vm_id <= $4::text)"
                    " UNION ALL"
                    " SELECT t.vm_id, t.subscription_id, t.at_ms, t.event, t.power_state, t.size, t.cores,"
                    " t.memory_mb, t.storage_gb, t.holds_compute, t.holds_storage, coalesce(t.name, ''),"
                    " t.seq, t.resource_type, coalesce(t.assigned_memory_mb, t.memory_mb)"
                    " FROM vm_state v JOIN vm_timeline t ON t.seq = (SELECT seq FROM vm_timeline"
                    " WHERE vm_id = v.vm_id AND at_ms < $1::bigint ORDER BY seq DESC LIMIT 1)"
                    " WHERE v.vm_id > $3::text AND ($4::text IS NULL OR v.vm_id <= $4::text)"
                    " AND (v.gone_ms IS NULL OR v.gone_ms >= $1::bigint) AND t.event <> 'deleted'"
                    " ORDER BY 1, 13;",
                    4, p, "reading the VM timeline", err);
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        row.vm_id = PQgetvalue(res, i, 0);
        row.subscription_id = PQgetvalue(res, i, 1);
        row.at_ms = pg__int(res, i, 2);
        row.event = PQgetvalue(res, i, 3);
        row.power_state = PQgetvalue(res, i, 4);
        row.size = PQgetvalue(res, i, 5);
        row.cores = pg__int(res, i, 6);
        row.memory_mb = pg__int(res, i, 7);
        row.storage_gb = pg__int(res, i, 8);
        row.holds_compute = pg__int(res, i, 9) != 0;
        row.holds_storage = pg__int(res, i, 10) != 0;
        row.name = PQgetvalue(res, i, 11);
        row.resource_type = PQgetvalue(res, i, 13);
        row.assigned_memory_mb = pg__int(res, i, 14);
        if (fn(arg, &row, err) != 0) {
            PQclear(res);
            return -1;
        }
    }
    PQclear(res);
    return 0;
}

int
pg_usage_record_put(store_conn_t *c, const store_usage_rec_t *r, err_t *err)
{
    char b_q[40], b_start[24], b_end[24];
    const char *p[11] = {
        r->id,     r->subscription_id, r->resource_id,
        r->resource_type, r->meter,    f64(b_q, r->quantity),
        r->unit,   pg__i64(b_start, r->period_start_ms), pg__i64(b_end, r->period_end_ms),
        r->properties, r->variant ? r->variant : "",
    };

    /* Exactly one record per resource, meter, period and variant: a second write of the same one is a
     * no-op. It is looked for first, so that it takes no position; the conflict clause stays as the
     * guard the unique key gives. */
    return pg__run(c,
                   "INSERT INTO usage_records(id, subscription_id, resource_id, resource_type, meter,"
                   " quantity, unit, period_start_ms, period_end_ms, properties, variant)"
                   " SELECT $1, $2, $3, $4, $5, $6::double precision, $7, $8::bigint, $9::bigint, $10,"
                   " $11::text WHERE NOT EXISTS (SELECT 1 FROM usage_records WHERE resource_id = $3"
                   " AND meter = $5 AND period_start_ms = $8::bigint AND variant = $11::text)"
                   " ON CONFLICT DO NOTHING;",
                   11, p, "saving a usage record", err) < 0
               ? -1
               : 0;
}

json_t *
pg_usage_records(store_conn_t *c, const char *sid, int64_t after, int64_t from_ms, int64_t to_ms,
                 int limit, int64_t *last, err_t *err)
{
    char b_after[24], b_from[24], b_to[24], b_limit[24];
    char start[UTIL_TIME_LEN + 1], end[UTIL_TIME_LEN + 1];
    const char *p[5] = {pg__i64(b_after, after), sid, pg__i64(b_from, from_ms), pg__i64(b_to, to_ms),
                        pg__i64(b_limit, limit)};
    PGresult *res;
    json_t *list;
    int i;

    res = pg__query(c,
                    "SELECT seq, id, subscription_id, resource_id, resource_type, meter, quantity, unit,"
                    " period_start_ms, period_end_ms, properties FROM usage_records"
                    " WHERE seq > $1::bigint AND ($2::text IS NULL OR subscription_id = $2::text)"
                    " AND period_start_ms >= $3::bigint AND period_end_ms <= $4::bigint"
                    " ORDER BY seq LIMIT $5::bigint;",
                    5, p, "reading usage records", err);
    if (res == NULL)
        return NULL;
    list = json_array();
    *last = after;
    for (i = 0; i < PQntuples(res); i++) {
        util_time_format(pg__int(res, i, 8), start);
        util_time_format(pg__int(res, i, 9), end);
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:o}", "id",
                            PQgetvalue(res, i, 1), "subscriptionId", PQgetvalue(res, i, 2),
                            "resourceId", PQgetvalue(res, i, 3), "resourceType",
                            PQgetvalue(res, i, 4), "meter", PQgetvalue(res, i, 5), "quantity",
                            cell_f64(res, i, 6), "unit", PQgetvalue(res, i, 7), "periodStart", start,
                            "periodEnd", end, "properties",
                            json_loads(PQgetvalue(res, i, 10), 0, NULL)));
        *last = pg__int(res, i, 0);
    }
    PQclear(res);
    return list;
}

int
pg_wap_usage_put(store_conn_t *c, const store_wap_rec_t *r, err_t *err)
{
    char b[12][40];
    const char *p[15] = {
        r->resource_id,
        r->subscription_id,
        r->name,
        pg__i64(b[0], r->period_start_ms),
        pg__i64(b[1], r->period_end_ms),
        pg__i64(b[2], r->cpu_max),
        pg__i64(b[3], r->memory_max),
        pg__i64(b[4], r->disk_bytes_max),
        r->size ? r->size : "",
        f64(b[5], r->cpu_avg),
        f64(b[6], r->memory_avg),
        pg__i64(b[7], r->memory_consumed_min),
        pg__i64(b[8], r->memory_consumed_max),
        f64(b[9], r->memory_consumed_avg),
        f64(b[10], r->disk_bytes_avg),
    };

    /* One per VM, period and size; a second write takes no EventId and changes nothing. */
    return pg__run(c,
                   "INSERT INTO wap_usage(resource_id, subscription_id, vm_name, subscriber,"
                   " period_start_ms, period_end_ms, cpu_max, memory_max, disk_bytes_max, size, cpu_avg,"
                   " memory_avg, memory_consumed_min, memory_consumed_max, memory_consumed_avg,"
                   " disk_bytes_avg)"
                   " SELECT $1, $2::text, $3, (SELECT u.email FROM subscriptions s JOIN users u"
                   " ON u.id = s.user_id WHERE s.id = $2::text), $4::bigint, $5::bigint, $6::bigint,"
                   " $7::bigint, $8::bigint, $9::text, $10::double precision, $11::double precision,"
                   " $12::bigint, $13::bigint, $14::double precision, $15::double precision"
                   " WHERE NOT EXISTS (SELECT 1 FROM wap_usage WHERE resource_id = $1"
                   " AND period_start_ms = $4::bigint AND size = $9::text)"
                   " ON CONFLICT DO NOTHING;",
                   15, p, "saving a WAP usage record", err) < 0
               ? -1
               : 0;
}

/* The Resources of the WAP record at a result's row, whose counters start at column col. */
static json_t *
wap_resources(const PGresult *res, int row, int col)
{
    static const char *const names[] = {
        "CPUAllocationCount-Max", "CPUAllocationCount-Average", "MemoryAllocated-Max",
        "MemoryAllocated-Average", "MemoryConsumed-Min", "MemoryConsumed-Max",
        "MemoryConsumed-Average", "CrossDiskSizeAllocated-Max", "CrossDiskSizeAllocated-Average",
    };
    json_t *out = json_object();
    char num[40];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        store__wap_number(cell_f64(res, row, col + (int) i), num);
        json_object_set_new(out, names[i], json_string(num));
    }
    return out;
}

json_t *
pg_wap_usage_after(store_conn_t *c, int64_t last_id, int batch, err_t *err)
{
    char b_last[24], b_batch[24], start[UTIL_TIME_LEN + 1], end[UTIL_TIME_LEN + 1];
    const char *p[2] = {pg__i64(b_last, last_id), pg__i64(b_batch, batch)};
    PGresult *res;
    json_t *list;
    int i;

    /* Records written before the averages were kept show their maximum as each counter. */
    res = pg__query(c,
                    "SELECT event_id, resource_id, subscription_id, coalesce(vm_name, ''),"
                    " coalesce(subscriber, ''), period_start_ms, period_end_ms, cpu_max,"
                    " coalesce(cpu_avg, cpu_max), memory_max, coalesce(memory_avg, memory_max),"
                    " coalesce(memory_consumed_min, memory_max),"
                    " coalesce(memory_consumed_max, memory_max),"
                    " coalesce(memory_consumed_avg, memory_max), disk_bytes_max,"
                    " coalesce(disk_bytes_avg, disk_bytes_max)"
                    " FROM wap_usage WHERE event_id > $1::bigint ORDER BY event_id LIMIT $2::bigint;",
                    2, p, "reading WAP usage records", err);
    if (res == NULL)
        return NULL;
    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        util_time_format(pg__int(res, i, 5), start);
        util_time_format(pg__int(res, i, 6), end);
        json_array_append_new(
            list, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o}", "EventId",
                            (json_int_t) pg__int(res, i, 0), "ResourceId", PQgetvalue(res, i, 1),
                            "StartTime", start, "EndTime", end, "ServiceType", "VirtualMachine",
                            "SubscriptionId", PQgetvalue(res, i, 2), "Properties", "VMName",
                            PQgetvalue(res, i, 3), "Subscriber", PQgetvalue(res, i, 4), "Resources",
                            wap_resources(res, i, 7)));
    }
    PQclear(res);
    return list;
}

int
pg_usage_issued(store_conn_t *c, int64_t *last_pos, int64_t *last_event_id, err_t *err)
{
    PGresult *res;

    /* The highest row, or the highest a purge took away (see the top of this file). */
    res = pg__query(c,
                    "SELECT GREATEST(coalesce((SELECT max(seq) FROM usage_records), 0),"
                    " coalesce((SELECT value::bigint FROM meta WHERE key = '" ISSUED_POS_KEY "'), 0)),"
                    " GREATEST(coalesce((SELECT max(event_id) FROM wap_usage), 0),"
                    " coalesce((SELECT value::bigint FROM meta WHERE key = '" ISSUED_EVENT_KEY "'), 0));",
                    0, NULL, "reading the usage positions", err);
    if (res == NULL)
        return -1;
    *last_pos = pg__int(res, 0, 0);
    *last_event_id = pg__int(res, 0, 1);
    PQclear(res);
    return 0;
}

/* Purging: first the highest position and EventId are written down (a purge may take the highest rows),
 * then the usage records go, then the WAP records. A record goes past retention once acknowledged: by its
 * position (the native ack), or when every WAP record of its VM's period is (the WAP adapter's lastID). A
 * WAP record goes past retention once acknowledged, or once its period's usage records are gone. */
int64_t
pg_usage_purge(store_conn_t *c, int64_t acked_pos, int64_t acked_event_id, int64_t older_than_ms,
               err_t *err)
{
    char b1[24], b2[24], b3[24];
    const char *p[3] = {pg__i64(b1, acked_pos), pg__i64(b2, acked_event_id),
                        pg__i64(b3, older_than_ms)};
    int64_t n, changed;

    if (pg__run(c,
                "INSERT INTO meta(key, value)"
                " SELECT '" ISSUED_POS_KEY "', max(seq) FROM usage_records HAVING max(seq) IS NOT NULL"
                " UNION ALL SELECT '" ISSUED_EVENT_KEY "', max(event_id) FROM wap_usage"
                " HAVING max(event_id) IS NOT NULL"
                " ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value::bigint,"
                " excluded.value::bigint);",
                0, NULL, "purging usage records", err) < 0)
        return -1;
    /* $1 the acknowledged position, $2 the acknowledged EventId, $3 the end of retention. */
    n = pg__run(c,
                "DELETE FROM usage_records WHERE period_end_ms < $3::bigint AND (seq <= $1::bigint"
                " OR (EXISTS (SELECT 1 FROM wap_usage w WHERE w.resource_id = usage_records.resource_id"
                " AND w.period_start_ms = usage_records.period_start_ms)"
                " AND NOT EXISTS (SELECT 1 FROM wap_usage w"
                " WHERE w.resource_id = usage_records.resource_id"
                " AND w.period_start_ms = usage_records.period_start_ms"
                " AND w.event_id > $2::bigint)));",
                3, p, "purging usage records", err);
    if (n < 0)
        return -1;
    /* $1 the acknowledged EventId, $2 the end of retention. */
    changed = pg__run(c,
                      "DELETE FROM wap_usage WHERE period_end_ms < $2::bigint AND (event_id <= $1::bigint"
                      " OR NOT EXISTS (SELECT 1 FROM usage_records u"
                      " WHERE u.resource_id = wap_usage.resource_id"
                      " AND u.period_start_ms = wap_usage.period_start_ms));",
                      2, p + 1, "purging WAP usage records", err);
    if (changed < 0)
        return -1;
    return n + changed;
}

int64_t
pg_vm_state_prune(store_conn_t *c, int64_t before_ms, err_t *err)
{
    char b[24];
    const char *p[1] = {pg__i64(b, before_ms)};

    return pg__run(c, "DELETE FROM vm_state WHERE gone_ms < $1::bigint;", 1, p,
                   "pruning the VMs' state", err);
}
