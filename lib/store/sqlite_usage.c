/*
 * sqlite_usage.c: the SQLite backend's VM timeline, settings, usage records and WAP usage records (see
 * store.h).
 *
 * Invariants: the timeline only grows by appends in the caller's transaction (a VM's rows are forgotten
 * only when its creation failed); vm_state has one row per VM on the timeline and follows its last row;
 * a usage record is written once per resource, meter, period and variant (a WAP record once per VM,
 * period and size), a second write being a no-op; positions and EventIds only grow, purged ones are
 * never handed out again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_util.h"
#include "sqlite.h"
#include "../util.h"

/* ---- the VM timeline ---- */

int
sqlite_timeline_append(store_conn_t *c, const json_t *vm, const char *event, err_t *err)
{
    sqlite3_stmt *s;
    char last_power[32] = "", last_size[128] = "", last_event[16] = "";
    store_vm_metered_t m, last = {.power = last_power, .size = last_size};
    int rc;

    store__vm_metered(vm, &m);
    /* A change only: the last row of the VM is compared first. */
    s = sqlite__stmt(c,
                 "SELECT event, power_state, size, cores, memory_mb, storage_gb, holds_compute,"
                 " holds_storage, coalesce(assigned_memory_mb, memory_mb) FROM vm_timeline"
                 " WHERE vm_id = ? ORDER BY seq DESC LIMIT 1;",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, json_string_value(json_object_get(vm, "id")), -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        snprintf(last_event, sizeof(last_event), "%s", sqlite3_column_text(s, 0));
        snprintf(last_power, sizeof(last_power), "%s", sqlite3_column_text(s, 1));
        snprintf(last_size, sizeof(last_size), "%s", sqlite3_column_text(s, 2));
        last.cores = sqlite3_column_int64(s, 3);
        last.mem = sqlite3_column_int64(s, 4);
        last.storage = sqlite3_column_int64(s, 5);
        last.hc = sqlite3_column_int64(s, 6);
        last.hs = sqlite3_column_int64(s, 7);
        last.assigned = sqlite3_column_int64(s, 8);
    }
    sqlite__stmt_done(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sqlite__db_err(c->db, rc, "reading the VM timeline", err);
    if (rc == SQLITE_ROW && store__vm_metered_same(event, last_event, &last, &m))
        return 0;
    s = sqlite__stmt(c,
                 "INSERT INTO vm_timeline(vm_id, subscription_id, at_ms, event, power_state, size,"
                 " cores, memory_mb, storage_gb, holds_compute, holds_storage, name, resource_type,"
                 " assigned_memory_mb) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, json_string_value(json_object_get(vm, "id")), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, json_string_value(json_object_get(vm, "subscriptionId")), -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, util_now_ms());
    sqlite3_bind_text(s, 4, event, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, m.power ? m.power : "unknown", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, m.size ? m.size : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, m.cores);
    sqlite3_bind_int64(s, 8, m.mem);
    sqlite3_bind_int64(s, 9, m.storage);
    sqlite3_bind_int64(s, 10, m.hc);
    sqlite3_bind_int64(s, 11, m.hs);
    sqlite3_bind_text(s, 12, json_string_value(json_object_get(vm, "name")), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 13, m.type ? m.type : "vm", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 14, m.assigned);
    if (sqlite__stmt_run(c, s, "recording the VM timeline", err) < 0)
        return -1;
    /* The VM's entry in vm_state follows its last row: gone when that row is its deletion. */
    s = sqlite__stmt(c,
                    "INSERT INTO vm_state(vm_id, gone_ms) VALUES (?1, CASE WHEN ?2 = 'deleted' THEN ?3 END)"
                    " ON CONFLICT(vm_id) DO UPDATE SET gone_ms = excluded.gone_ms;",
                    err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, json_string_value(json_object_get(vm, "id")), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, event, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, util_now_ms());
    return sqlite__stmt_run(c, s, "recording the VM's state", err) < 0 ? -1 : 0;
}

int
sqlite_timeline_forget(store_conn_t *c, const char *vm_id, err_t *err)
{
    sqlite3_stmt *s;

    s = sqlite__stmt(c, "DELETE FROM vm_timeline WHERE vm_id = ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, vm_id, -1, SQLITE_STATIC);
    if (sqlite__stmt_run(c, s, "forgetting a VM timeline", err) < 0)
        return -1;
    s = sqlite__stmt(c, "DELETE FROM vm_state WHERE vm_id = ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, vm_id, -1, SQLITE_STATIC);
    return sqlite__stmt_run(c, s, "forgetting a VM's state", err) < 0 ? -1 : 0;
}

/* ---- settings, usage records ---- */

int
sqlite_meta_get(store_conn_t *c, const char *key, int64_t *value, err_t *err)
{
    sqlite3_stmt *s;
    int rc;

    s = sqlite__stmt(c, "SELECT value FROM meta WHERE key = ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int64(s, 0);
    sqlite__stmt_done(s);
    if (rc == SQLITE_DONE)
        return 1;
    if (rc != SQLITE_ROW)
        return sqlite__db_err(c->db, rc, "reading a setting", err);
    return 0;
}

int
sqlite_meta_set(store_conn_t *c, const char *key, int64_t value, err_t *err)
{
    sqlite3_stmt *s;

    s = sqlite__stmt(c, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?);", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, value);
    return sqlite__stmt_run(c, s, "saving a setting", err) < 0 ? -1 : 0;
}

int
sqlite_timeline_first(store_conn_t *c, int64_t *first_ms, err_t *err)
{
    sqlite3_stmt *s;
    int rc;

    s = sqlite__stmt(c, "SELECT min(at_ms) FROM vm_timeline;", err);
    if (s == NULL)
        return -1;
    rc = sqlite3_step(s);
    *first_ms = rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL
                    ? sqlite3_column_int64(s, 0)
                    : -1;
    sqlite__stmt_done(s);
    return rc == SQLITE_ROW ? 0 : sqlite__db_err(c->db, rc, "reading the VM timeline", err);
}

int
sqlite_timeline_chunk_end(store_conn_t *c, int64_t from_ms, const char *after_vm, int n, char *out,
                         size_t outn, err_t *err)
{
    sqlite3_stmt *s;
    int rc, found = 0;

    s = sqlite__stmt(c,
                    "SELECT vm_id FROM vm_state WHERE vm_id > ?1 AND (gone_ms IS NULL OR gone_ms >= ?3)"
                    " ORDER BY vm_id LIMIT 1 OFFSET ?2;",
                    err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, after_vm ? after_vm : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, n - 1);
    sqlite3_bind_int64(s, 3, from_ms);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (snprintf(out, outn, "%s", (const char *) sqlite3_column_text(s, 0)) >= (int) outn) {
            sqlite__stmt_done(s);
            return err_set(err, ERR_INTERNAL, NULL, "A VM id on the timeline is too long.");
        }
        found = 1;
    }
    sqlite__stmt_done(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sqlite__db_err(c->db, rc, "reading the VMs' state", err);
    return found;
}

int
sqlite_timeline_each(store_conn_t *c, int64_t from_ms, int64_t until_ms, const char *after_vm,
                    const char *last_vm, store_timeline_fn fn, void *arg, err_t *err)
{
    store_timeline_row_t row;
    sqlite3_stmt *s;
    int rc;

    /* What a window needs, for the VMs in (after_vm, last_vm]: every change within it, and each VM's
     * state as it stood at its start, the VM's last row before it (unless the VM was gone by then). That
     * row is found from the end of the VM's rows, so the cost does not grow with its history. The changes
     * are read VM by VM, each from the first of its rows in the window, through the index by VM and time:
     * a chunk of a close then costs its own VMs' rows within the window, where the index by time would
     * read the whole window's rows for every chunk and the index by VM each VM's whole history. Every VM
     * with a row on the timeline has its entry in vm_state unless it was gone before a period already
     * closed, so it has no row in a window still to close. */
    s = sqlite__stmt(c,
                    "SELECT t.vm_id, t.subscription_id, t.at_ms, t.event, t.power_state, t.size, t.cores,"
                    " t.memory_mb, t.storage_gb, t.holds_compute, t.holds_storage, coalesce(t.name, ''),"
                    " t.seq, t.resource_type, coalesce(t.assigned_memory_mb, t.memory_mb)"
                    " FROM vm_state v CROSS JOIN vm_timeline t INDEXED BY vm_timeline_vm_at"
                    " WHERE v.vm_id > ?3 AND v.vm_id <= ?4 AND t.vm_id = v.vm_id AND t.at_ms >= ?1"
                    " AND t.at_ms < ?2"
                    " UNION ALL"
                    " SELECT t.vm_id, t.subscription_id, t.at_ms, t.event, t.power_state, t.size, t.cores,"
                    " t.memory_mb, t.storage_gb, t.holds_compute, t.holds_storage, coalesce(t.name, ''),"
                    " t.seq, t.resource_type, coalesce(t.assigned_memory_mb, t.memory_mb)"
                    " FROM vm_state v JOIN vm_timeline t ON t.seq = (SELECT seq FROM vm_timeline"
                    " INDEXED BY vm_timeline_vm WHERE vm_id = v.vm_id AND at_ms < ?1"
                    " ORDER BY seq DESC LIMIT 1)"
                    " WHERE v.vm_id > ?3 AND v.vm_id <= ?4"
                    " AND (v.gone_ms IS NULL OR v.gone_ms >= ?1) AND t.event != 'deleted'"
                    " ORDER BY 1, 13;",
                    err);
    sqlite3_bind_int64(s, 1, from_ms);
    sqlite3_bind_int64(s, 2, until_ms);
    sqlite3_bind_text(s, 3, after_vm ? after_vm : "", -1, SQLITE_STATIC);
    /* No last VM: up to a text above any id (U+10FFFF), so that both bounds are the index's range. */
    sqlite3_bind_text(s, 4, last_vm ? last_vm : "\xf4\x8f\xbf\xbf", -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        row.vm_id = (const char *) sqlite3_column_text(s, 0);
        row.subscription_id = (const char *) sqlite3_column_text(s, 1);
        row.at_ms = sqlite3_column_int64(s, 2);
        row.event = (const char *) sqlite3_column_text(s, 3);
        row.power_state = (const char *) sqlite3_column_text(s, 4);
        row.size = (const char *) sqlite3_column_text(s, 5);
        row.cores = sqlite3_column_int64(s, 6);
        row.memory_mb = sqlite3_column_int64(s, 7);
        row.storage_gb = sqlite3_column_int64(s, 8);
        row.holds_compute = sqlite3_column_int(s, 9) != 0;
        row.holds_storage = sqlite3_column_int(s, 10) != 0;
        row.name = (const char *) sqlite3_column_text(s, 11);
        row.resource_type = (const char *) sqlite3_column_text(s, 13);
        row.assigned_memory_mb = sqlite3_column_int64(s, 14);
        if (fn(arg, &row, err) != 0) {
            sqlite__stmt_done(s);
            return -1;
        }
    }
    sqlite__stmt_done(s);
    if (rc != SQLITE_DONE)
        return sqlite__db_err(c->db, rc, "reading the VM timeline", err);
    return 0;
}

int
sqlite_usage_record_put(store_conn_t *c, const store_usage_rec_t *r, err_t *err)
{
    sqlite3_stmt *s;

    /* Exactly one record per resource, meter, period and variant: a second write of the same one is a
     * no-op. */
    s = sqlite__stmt(c,
                 "INSERT OR IGNORE INTO usage_records(id, subscription_id, resource_id, resource_type,"
                 " meter, quantity, unit, period_start_ms, period_end_ms, properties, variant)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r->subscription_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, r->resource_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, r->resource_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, r->meter, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 6, r->quantity);
    sqlite3_bind_text(s, 7, r->unit, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, r->period_start_ms);
    sqlite3_bind_int64(s, 9, r->period_end_ms);
    sqlite3_bind_text(s, 10, r->properties, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 11, r->variant ? r->variant : "", -1, SQLITE_STATIC);
    return sqlite__stmt_run(c, s, "saving a usage record", err) < 0 ? -1 : 0;
}

json_t *
sqlite_usage_records(store_conn_t *c, const char *sid, int64_t after, int64_t from_ms, int64_t to_ms,
                    int limit, int64_t *last, err_t *err)
{
    sqlite3_stmt *s;
    json_t *list;
    char start[UTIL_TIME_LEN + 1], end[UTIL_TIME_LEN + 1];
    int rc;

    s = sqlite__stmt(c,
                 "SELECT seq, id, subscription_id, resource_id, resource_type, meter, quantity, unit,"
                 " period_start_ms, period_end_ms, properties FROM usage_records"
                 " WHERE seq > ?1 AND (?2 IS NULL OR subscription_id = ?2)"
                 " AND period_start_ms >= ?3 AND period_end_ms <= ?4 ORDER BY seq LIMIT ?5;",
                 err);
    if (s == NULL)
        return NULL;
    sqlite3_bind_int64(s, 1, after);
    if (sid)
        sqlite3_bind_text(s, 2, sid, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 2);
    sqlite3_bind_int64(s, 3, from_ms);
    sqlite3_bind_int64(s, 4, to_ms);
    sqlite3_bind_int(s, 5, limit);
    list = json_array();
    *last = after;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        util_time_format(sqlite3_column_int64(s, 8), start);
        util_time_format(sqlite3_column_int64(s, 9), end);
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:o}", "id",
                            sqlite3_column_text(s, 1), "subscriptionId", sqlite3_column_text(s, 2),
                            "resourceId", sqlite3_column_text(s, 3), "resourceType",
                            sqlite3_column_text(s, 4), "meter", sqlite3_column_text(s, 5),
                            "quantity", sqlite3_column_double(s, 6), "unit",
                            sqlite3_column_text(s, 7), "periodStart", start, "periodEnd", end,
                            "properties",
                            json_loads((const char *) sqlite3_column_text(s, 10), 0, NULL)));
        *last = sqlite3_column_int64(s, 0);
    }
    sqlite__stmt_done(s);
    if (rc != SQLITE_DONE) {
        sqlite__db_err(c->db, rc, "reading usage records", err);
        json_decref(list);
        return NULL;
    }
    return list;
}

int
sqlite_wap_usage_put(store_conn_t *c, const store_wap_rec_t *r, err_t *err)
{
    sqlite3_stmt *s;

    s = sqlite__stmt(c,
                 "INSERT OR IGNORE INTO wap_usage(resource_id, subscription_id, vm_name, subscriber,"
                 " period_start_ms, period_end_ms, cpu_max, memory_max, disk_bytes_max, size, cpu_avg,"
                 " memory_avg, memory_consumed_min, memory_consumed_max, memory_consumed_avg,"
                 " disk_bytes_avg)"
                 " VALUES (?, ?, ?, (SELECT u.email FROM subscriptions s JOIN users u ON u.id = s.user_id"
                 " WHERE s.id = ?2), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, r->resource_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r->subscription_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, r->period_start_ms);
    sqlite3_bind_int64(s, 5, r->period_end_ms);
    sqlite3_bind_int64(s, 6, r->cpu_max);
    sqlite3_bind_int64(s, 7, r->memory_max);
    sqlite3_bind_int64(s, 8, r->disk_bytes_max);
    sqlite3_bind_text(s, 9, r->size ? r->size : "", -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 10, r->cpu_avg);
    sqlite3_bind_double(s, 11, r->memory_avg);
    sqlite3_bind_int64(s, 12, r->memory_consumed_min);
    sqlite3_bind_int64(s, 13, r->memory_consumed_max);
    sqlite3_bind_double(s, 14, r->memory_consumed_avg);
    sqlite3_bind_double(s, 15, r->disk_bytes_avg);
    return sqlite__stmt_run(c, s, "saving a WAP usage record", err) < 0 ? -1 : 0;
}

/* The Resources of the WAP record at the statement's row, whose counters start at column col. */
static json_t *
wap_resources(sqlite3_stmt *s, int col)
{
    static const char *const names[] = {
        "CPUAllocationCount-Max", "CPUAllocationCount-Average", "MemoryAllocated-Max",
        "MemoryAllocated-Average", "MemoryConsumed-Min", "MemoryConsumed-Max",
        "MemoryConsumed-Average", "CrossDiskSizeAllocated-Max", "CrossDiskSizeAllocated-Average",
    };
    json_t *res = json_object();
    char num[40];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        store__wap_number(sqlite3_column_double(s, col + (int) i), num);
        json_object_set_new(res, names[i], json_string(num));
    }
    return res;
}

json_t *
sqlite_wap_usage_after(store_conn_t *c, int64_t last_id, int batch, err_t *err)
{
    sqlite3_stmt *s;
    char start[UTIL_TIME_LEN + 1], end[UTIL_TIME_LEN + 1];
    json_t *list;
    int rc;

    /* Records written before the averages were kept show their maximum as each counter. */
    s = sqlite__stmt(c,
                 "SELECT event_id, resource_id, subscription_id, coalesce(vm_name, ''),"
                 " coalesce(subscriber, ''), period_start_ms, period_end_ms, cpu_max,"
                 " coalesce(cpu_avg, cpu_max), memory_max, coalesce(memory_avg, memory_max),"
                 " coalesce(memory_consumed_min, memory_max), coalesce(memory_consumed_max, memory_max),"
                 " coalesce(memory_consumed_avg, memory_max), disk_bytes_max,"
                 " coalesce(disk_bytes_avg, disk_bytes_max)"
                 " FROM wap_usage WHERE event_id > ? ORDER BY event_id LIMIT ?;",
                 err);
    if (s == NULL)
        return NULL;
    sqlite3_bind_int64(s, 1, last_id);
    sqlite3_bind_int(s, 2, batch);
    list = json_array();
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        util_time_format(sqlite3_column_int64(s, 5), start);
        util_time_format(sqlite3_column_int64(s, 6), end);
        json_array_append_new(
            list, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o}", "EventId",
                            (json_int_t) sqlite3_column_int64(s, 0), "ResourceId",
                            sqlite3_column_text(s, 1), "StartTime", start, "EndTime", end,
                            "ServiceType", "VirtualMachine", "SubscriptionId",
                            sqlite3_column_text(s, 2), "Properties", "VMName",
                            sqlite3_column_text(s, 3), "Subscriber", sqlite3_column_text(s, 4),
                            "Resources", wap_resources(s, 7)));
    }
    sqlite__stmt_done(s);
    if (rc != SQLITE_DONE) {
        sqlite__db_err(c->db, rc, "reading WAP usage records", err);
        json_decref(list);
        return NULL;
    }
    return list;
}

int
sqlite_usage_issued(store_conn_t *c, int64_t *last_pos, int64_t *last_event_id, err_t *err)
{
    sqlite3_stmt *s;
    int rc;

    /* The autoincrement counters: they keep the highest ever handed out, purged rows included. */
    s = sqlite__stmt(c,
                 "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'usage_records'), 0),"
                 " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'wap_usage'), 0);",
                 err);
    if (s == NULL)
        return -1;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *last_pos = sqlite3_column_int64(s, 0);
        *last_event_id = sqlite3_column_int64(s, 1);
    }
    sqlite__stmt_done(s);
    return rc == SQLITE_ROW ? 0 : sqlite__db_err(c->db, rc, "reading the usage positions", err);
}

/* Purging, the usage records first: ?1 the acknowledged position, ?2 the acknowledged EventId, ?3 the end of
 * retention. A record goes past retention once acknowledged: by its position (the native ack), or when
 * every WAP record of its VM's period is (the WAP adapter's lastID). A WAP record goes past retention once
 * acknowledged, or once its period's usage records are gone. */
static const char *const purge_sql[] = {
    "DELETE FROM usage_records WHERE period_end_ms < ?3 AND (seq <= ?1"
    " OR (EXISTS (SELECT 1 FROM wap_usage w WHERE w.resource_id = usage_records.resource_id"
    " AND w.period_start_ms = usage_records.period_start_ms)"
    " AND NOT EXISTS (SELECT 1 FROM wap_usage w WHERE w.resource_id = usage_records.resource_id"
    " AND w.period_start_ms = usage_records.period_start_ms AND w.event_id > ?2)));",
    "DELETE FROM wap_usage WHERE period_end_ms < ?3 AND (event_id <= ?2"
    " OR NOT EXISTS (SELECT 1 FROM usage_records u WHERE u.resource_id = wap_usage.resource_id"
    " AND u.period_start_ms = wap_usage.period_start_ms));",
};

int64_t
sqlite_usage_purge(store_conn_t *c, int64_t acked_pos, int64_t acked_event_id, int64_t older_than_ms,
                   err_t *err)
{
    sqlite3_stmt *s;
    int64_t n = 0;
    size_t i;
    int changed;

    for (i = 0; i < sizeof(purge_sql) / sizeof(purge_sql[0]); i++) {
        s = sqlite__stmt(c, purge_sql[i], err);
        if (s == NULL)
            return -1;
        sqlite3_bind_int64(s, 1, acked_pos);
        sqlite3_bind_int64(s, 2, acked_event_id);
        sqlite3_bind_int64(s, 3, older_than_ms);
        if ((changed = sqlite__stmt_run(c, s, "purging usage records", err)) < 0)
            return -1;
        n += changed;
    }
    return n;
}

int64_t
sqlite_vm_state_prune(store_conn_t *c, int64_t before_ms, err_t *err)
{
    sqlite3_stmt *s;
    int changed;

    s = sqlite__stmt(c, "DELETE FROM vm_state WHERE gone_ms < ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, before_ms);
    if ((changed = sqlite__stmt_run(c, s, "pruning the VMs' state", err)) < 0)
        return -1;
    return changed;
}
