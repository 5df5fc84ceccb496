/*
 * sqlite_counters.c: the SQLite backend's counters and small tables: idempotency keys, a subscription's
 * quota usage counters, a host's allocation, a network's addresses, and the VMs an inventory sync found
 * that no record owns. Storage counts stored objects too: a subscription's storageGB and a host's
 * allocated storage are its VMs' disks plus every snapshot and private image that is _counted.
 *
 * Invariants: a reservation (quota, host capacity) is one conditional statement, checked against the
 * committed values under the write lock, so concurrent reservations never overshoot; a refused one
 * changes nothing and answers 1, never an error. An address claim is one insert that the primary key
 * (network, address) refuses when the address is taken (answered 0, never an error); which address to
 * claim is not the store's choice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite.h"
#include "../util.h"

/* ---- idempotency keys ---- */

json_t *
sqlite_idem_lookup(store_conn_t *c, const char *scope, const char *method, const char *path,
                  const char *key, int64_t max_age_ms, err_t *err)
{
    sqlite3_stmt *s;
    json_t *ans = NULL;
    int rc;

    s = sqlite__stmt(c,
                 "SELECT body_hash, status, location, body FROM idempotency"
                 " WHERE scope = ? AND method = ? AND path = ? AND idem_key = ? AND created_ms > ?;",
                 err);
    if (s == NULL)
        return NULL;
    sqlite3_bind_text(s, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, method, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, util_now_ms() - max_age_ms);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *loc = (const char *) sqlite3_column_text(s, 2);
        ans = json_pack("{s:s, s:i, s:s?, s:s}", "bodyHash", sqlite3_column_text(s, 0), "status",
                        sqlite3_column_int(s, 1), "location", loc, "body",
                        sqlite3_column_text(s, 3));
        if (ans == NULL)
            err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    } else if (rc != SQLITE_DONE) {
        sqlite__db_err(c->db, rc, "reading an idempotency key", err);
    }
    sqlite__stmt_done(s);
    return ans;
}

int
sqlite_idem_save(store_conn_t *c, const char *scope, const char *method, const char *path,
                const char *key, const json_t *answer, err_t *err)
{
    sqlite3_stmt *s;

    s = sqlite__stmt(c,
                 "INSERT OR REPLACE INTO idempotency(scope, method, path, idem_key, body_hash,"
                 " status, location, body, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, method, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, json_string_value(json_object_get(answer, "bodyHash")), -1,
                      SQLITE_STATIC);
    sqlite3_bind_int(s, 6, (int) json_integer_value(json_object_get(answer, "status")));
    if (json_is_string(json_object_get(answer, "location")))
        sqlite3_bind_text(s, 7, json_string_value(json_object_get(answer, "location")), -1,
                          SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 7);
    sqlite3_bind_text(s, 8, json_string_value(json_object_get(answer, "body")), -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(s, 9, util_now_ms());
    return sqlite__stmt_run(c, s, "saving an idempotency key", err) < 0 ? -1 : 0;
}

int64_t
sqlite_idem_purge(store_conn_t *c, int64_t max_age_ms, err_t *err)
{
    sqlite3_stmt *s;

    s = sqlite__stmt(c, "DELETE FROM idempotency WHERE created_ms <= ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, util_now_ms() - max_age_ms);
    return sqlite__stmt_run(c, s, "purging idempotency keys", err);
}

/* ---- quota usage counters, host allocation, network addresses ---- */

/* Runs sql, a query of one row with ?1 = key, and reads its first n columns into out: 0; 1 when there
 * is no row (out untouched); -1 with err. */
static int
row_ints(store_conn_t *c, const char *sql, const char *key, int64_t *out, int n, const char *doing,
         err_t *err)
{
    sqlite3_stmt *s = sqlite__stmt(c, sql, err);
    int rc, i;

    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    for (i = 0; rc == SQLITE_ROW && i < n; i++)
        out[i] = sqlite3_column_int64(s, i);
    sqlite__stmt_done(s);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc == SQLITE_ROW ? 0 : 1;
    return sqlite__db_err(c->db, rc, doing, err);
}

int
sqlite_usage_get(store_conn_t *c, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err)
{
    int rc = row_ints(c,
                      "SELECT usage_vms, usage_cores, usage_memory_mb, usage_storage_gb, usage_vm_roles,"
                      " usage_networks FROM subscriptions WHERE id = ?;",
                      sid, usage, STORE_QUOTAS, "reading quota usage", err);

    if (rc == 1)
        return err_set(err, ERR_NOT_FOUND, NULL, "The subscription was not found.");
    return rc;
}

int
sqlite_usage_adjust(store_conn_t *c, const char *sid, const int64_t delta[STORE_QUOTAS],
                   const int64_t limit[STORE_QUOTAS], err_t *err)
{
    sqlite3_stmt *s;
    int changed, i;

    /* One statement: the limits are checked against the committed counters under the write lock, so
     * concurrent reservations can never overshoot. Decreases always apply. */
    s = sqlite__stmt(c,
                 "UPDATE subscriptions SET usage_vms = max(0, usage_vms + ?1),"
                 " usage_cores = max(0, usage_cores + ?2),"
                 " usage_memory_mb = max(0, usage_memory_mb + ?3),"
                 " usage_storage_gb = max(0, usage_storage_gb + ?4),"
                 " usage_vm_roles = max(0, usage_vm_roles + ?5),"
                 " usage_networks = max(0, usage_networks + ?6)"
                 " WHERE id = ?13"
                 " AND (?1 <= 0 OR ?7 < 0 OR usage_vms + ?1 <= ?7)"
                 " AND (?2 <= 0 OR ?8 < 0 OR usage_cores + ?2 <= ?8)"
                 " AND (?3 <= 0 OR ?9 < 0 OR usage_memory_mb + ?3 <= ?9)"
                 " AND (?4 <= 0 OR ?10 < 0 OR usage_storage_gb + ?4 <= ?10)"
                 " AND (?5 <= 0 OR ?11 < 0 OR usage_vm_roles + ?5 <= ?11)"
                 " AND (?6 <= 0 OR ?12 < 0 OR usage_networks + ?6 <= ?12);",
                 err);
    if (s == NULL)
        return -1;
    for (i = 0; i < STORE_QUOTAS; i++) {
        sqlite3_bind_int64(s, i + 1, delta[i]);
        sqlite3_bind_int64(s, i + 7, limit ? limit[i] : -1);
    }
    sqlite3_bind_text(s, 13, sid, -1, SQLITE_STATIC);
    changed = sqlite__stmt_run(c, s, "reserving quota", err);
    if (changed < 0)
        return -1;
    return changed == 1 ? 0 : 1;
}

int
sqlite_usage_set(store_conn_t *c, const char *sid, const int64_t usage[STORE_QUOTAS], err_t *err)
{
    sqlite3_stmt *s;
    int i;

    s = sqlite__stmt(c,
                 "UPDATE subscriptions SET usage_vms = ?1, usage_cores = ?2, usage_memory_mb = ?3,"
                 " usage_storage_gb = ?4, usage_vm_roles = ?5, usage_networks = ?6 WHERE id = ?7;",
                 err);
    if (s == NULL)
        return -1;
    for (i = 0; i < STORE_QUOTAS; i++)
        sqlite3_bind_int64(s, i + 1, usage[i]);
    sqlite3_bind_text(s, 7, sid, -1, SQLITE_STATIC);
    return sqlite__stmt_run(c, s, "setting quota usage", err) < 0 ? -1 : 0;
}

int
sqlite_usage_recompute(store_conn_t *c, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err)
{
    return row_ints(c,
                    "SELECT count(*), coalesce(sum(cores), 0), coalesce(sum(memory_mb), 0),"
                    " coalesce(sum(storage_gb), 0)"
                    " + (SELECT coalesce(sum(size_gb), 0) FROM snapshots p"
                    "    WHERE p.subscription_id = ?1 AND p.counted = 1)"
                    " + (SELECT coalesce(sum(storage_gb), 0) FROM private_images i"
                    "    WHERE i.subscription_id = ?1 AND i.counted = 1),"
                    " (SELECT count(*) FROM vm_roles r WHERE r.subscription_id = ?1),"
                    " (SELECT count(*) FROM networks n WHERE n.subscription_id = ?1)"
                    " FROM vms WHERE subscription_id = ?1 AND counted = 1;",
                    sid, usage, STORE_QUOTAS, "recomputing quota usage", err);
}

int
sqlite_host_allocate(store_conn_t *c, const char *host_id, int64_t cores, int64_t memory_mb,
                    int64_t storage_gb, err_t *err)
{
    sqlite3_stmt *s;
    int changed;

    /* Growth must fit the capacity; release always applies. */
    s = sqlite__stmt(c,
                 "UPDATE hosts SET alloc_cores = max(0, alloc_cores + ?1),"
                 " alloc_memory_mb = max(0, alloc_memory_mb + ?2),"
                 " alloc_storage_gb = max(0, alloc_storage_gb + ?3), rev = rev + 1"
                 " WHERE id = ?4 AND (?1 <= 0 OR alloc_cores + ?1 <= cap_cores)"
                 " AND (?2 <= 0 OR alloc_memory_mb + ?2 <= cap_memory_mb)"
                 " AND (?3 <= 0 OR alloc_storage_gb + ?3 <= cap_storage_gb);",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, cores);
    sqlite3_bind_int64(s, 2, memory_mb);
    sqlite3_bind_int64(s, 3, storage_gb);
    sqlite3_bind_text(s, 4, host_id, -1, SQLITE_STATIC);
    changed = sqlite__stmt_run(c, s, "allocating host capacity", err);
    if (changed < 0)
        return -1;
    return changed == 0 ? 1 : 0;
}

int
sqlite_host_grow_storage(store_conn_t *c, const char *host_id, int64_t storage_gb, err_t *err)
{
    sqlite3_stmt *s;

    s = sqlite__stmt(c,
                 "UPDATE hosts SET alloc_storage_gb = max(0, alloc_storage_gb + ?1), rev = rev + 1"
                 " WHERE id = ?2;",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, storage_gb);
    sqlite3_bind_text(s, 2, host_id, -1, SQLITE_STATIC);
    return sqlite__stmt_run(c, s, "growing host storage", err) < 0 ? -1 : 0;
}

int
sqlite_host_recompute(store_conn_t *c, const char *host_id, int64_t out[3], err_t *err)
{
    return row_ints(c,
                    "SELECT coalesce(sum(CASE WHEN holds_compute THEN cores ELSE 0 END), 0),"
                    " coalesce(sum(CASE WHEN holds_compute THEN memory_mb ELSE 0 END), 0),"
                    " coalesce(sum(CASE WHEN holds_storage THEN storage_gb ELSE 0 END), 0)"
                    " + (SELECT coalesce(sum(size_gb), 0) FROM snapshots p"
                    "    WHERE p.host_id = ?1 AND p.counted = 1)"
                    " + (SELECT coalesce(sum(storage_gb), 0) FROM private_images i"
                    "    WHERE i.host_id = ?1 AND i.counted = 1)"
                    " FROM vms WHERE host_id = ?1;",
                    host_id, out, 3, "recomputing host allocation", err);
}

int
sqlite_cloud_capacity(store_conn_t *c, const char *cloud_id, int64_t out[7], err_t *err)
{
    return row_ints(c,
                    "SELECT count(*), coalesce(sum(cap_cores), 0), coalesce(sum(cap_memory_mb), 0),"
                    " coalesce(sum(cap_storage_gb), 0), coalesce(sum(alloc_cores), 0),"
                    " coalesce(sum(alloc_memory_mb), 0), coalesce(sum(alloc_storage_gb), 0)"
                    " FROM hosts WHERE cloud_id = ?1;",
                    cloud_id, out, 7, "summing a cloud's hosts", err);
}

int
sqlite_ip_used(store_conn_t *c, const char *network_id, int64_t **ips, size_t *n, err_t *err)
{
    sqlite3_stmt *s;
    int64_t *out = NULL, *grown;
    size_t len = 0, cap = 0;
    int rc;

    /* The primary key (network_id, ip) answers them in order. */
    s = sqlite__stmt(c, "SELECT ip FROM nic_ips WHERE network_id = ? ORDER BY ip;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, network_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? 2 * cap : 16;
            if ((grown = util_realloc(out, cap * sizeof(*out))) == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            out = grown;
        }
        out[len++] = sqlite3_column_int64(s, 0);
    }
    sqlite__stmt_done(s);
    if (rc != SQLITE_DONE) {
        free(out);
        if (rc == SQLITE_NOMEM)
            return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return sqlite__db_err(c->db, rc, "reading the addresses in use", err);
    }
    *ips = out;
    *n = len;
    return 0;
}

int
sqlite_ip_claim(store_conn_t *c, const char *network_id, const char *vm_id, int64_t ip, err_t *err)
{
    sqlite3_stmt *s;
    int changed;

    /* The primary key refuses an address already taken: no row, no error. */
    s = sqlite__stmt(c,
                 "INSERT INTO nic_ips(network_id, ip, vm_id) VALUES (?, ?, ?)"
                 " ON CONFLICT(network_id, ip) DO NOTHING;",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, network_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, ip);
    sqlite3_bind_text(s, 3, vm_id, -1, SQLITE_STATIC);
    changed = sqlite__stmt_run(c, s, "claiming an address", err);
    if (changed < 0)
        return -1;
    return changed == 1 ? 1 : 0;
}

int
sqlite_ip_release_vm(store_conn_t *c, const char *vm_id, err_t *err)
{
    sqlite3_stmt *s;

    s = sqlite__stmt(c, "DELETE FROM nic_ips WHERE vm_id = ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, vm_id, -1, SQLITE_STATIC);
    return sqlite__stmt_run(c, s, "releasing addresses", err) < 0 ? -1 : 0;
}

int64_t
sqlite_ip_count(store_conn_t *c, const char *network_id, err_t *err)
{
    sqlite3_stmt *s;
    int64_t n = -1;
    int rc;

    s = sqlite__stmt(c, "SELECT count(*) FROM nic_ips WHERE network_id = ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, network_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    else
        sqlite__db_err(c->db, rc, "counting addresses", err);
    sqlite__stmt_done(s);
    return n;
}

/* ---- unmanaged VMs ---- */

int
sqlite_unmanaged_replace(store_conn_t *c, const char *host_id, const json_t *vms, err_t *err)
{
    sqlite3_stmt *s;
    char now[UTIL_TIME_LEN + 1];
    const json_t *vm;
    size_t i;

    s = sqlite__stmt(c, "DELETE FROM unmanaged_vms WHERE host_id = ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, host_id, -1, SQLITE_STATIC);
    if (sqlite__stmt_run(c, s, "forgetting unmanaged VMs", err) < 0)
        return -1;
    util_time_format(util_now_ms(), now);
    json_array_foreach(vms, i, vm) {
        s = sqlite__stmt(c,
                     "INSERT OR REPLACE INTO unmanaged_vms(host_id, hypervisor_id, name, power_state,"
                     " seen_at) VALUES (?, ?, ?, ?, ?);",
                     err);
        if (s == NULL)
            return -1;
        sqlite3_bind_text(s, 1, host_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, json_string_value(json_object_get(vm, "hypervisorId")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(s, 3, json_string_value(json_object_get(vm, "name")), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, json_string_value(json_object_get(vm, "powerState")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(s, 5, now, -1, SQLITE_STATIC);
        if (sqlite__stmt_run(c, s, "recording unmanaged VMs", err) < 0)
            return -1;
    }
    return 0;
}

json_t *
sqlite_unmanaged_list(store_conn_t *c, const char *host_id, err_t *err)
{
    sqlite3_stmt *s;
    json_t *list;
    int rc;

    s = sqlite__stmt(c,
                 "SELECT hypervisor_id, name, power_state, seen_at FROM unmanaged_vms"
                 " WHERE host_id = ? ORDER BY hypervisor_id;",
                 err);
    if (s == NULL)
        return NULL;
    sqlite3_bind_text(s, 1, host_id, -1, SQLITE_STATIC);
    list = json_array();
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        json_array_append_new(list,
                              json_pack("{s:s, s:s?, s:s?, s:s}", "hypervisorId",
                                        sqlite3_column_text(s, 0), "name",
                                        sqlite3_column_text(s, 1), "powerState",
                                        sqlite3_column_text(s, 2), "seenAt",
                                        sqlite3_column_text(s, 3)));
    sqlite__stmt_done(s);
    if (rc != SQLITE_DONE) {
        sqlite__db_err(c->db, rc, "listing unmanaged VMs", err);
        json_decref(list);
        return NULL;
    }
    return list;
}

int
sqlite_unmanaged_remove(store_conn_t *c, const char *host_id, const char *hypervisor_id, err_t *err)
{
    sqlite3_stmt *s;

    s = sqlite__stmt(c, "DELETE FROM unmanaged_vms WHERE host_id = ? AND hypervisor_id = ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, host_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, hypervisor_id, -1, SQLITE_STATIC);
    return sqlite__stmt_run(c, s, "forgetting an unmanaged VM", err) < 0 ? -1 : 0;
}
