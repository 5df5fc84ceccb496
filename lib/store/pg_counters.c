/*
 * pg_counters.c: the PostgreSQL backend's counters and small tables: idempotency keys, a subscription's
 * quota usage counters, a host's allocation, a network's addresses, and the VMs an inventory sync found
 * that no record owns. The same answers as sqlite_counters.c: storage counts stored objects too (a
 * subscription's storageGB and a host's allocated storage are its VMs' disks plus every snapshot and
 * private image that is counted).
 *
 * Invariants: a reservation (quota, host capacity) is one conditional UPDATE, run inside a write
 * transaction, which holds PG_WRITE_LOCK: checked against the committed values with no other writer of
 * any daemon between, so concurrent reservations never overshoot; a refused one changes nothing and
 * answers 1, never an error. An address claim is one INSERT … ON CONFLICT DO NOTHING on the primary key
 * (network, address): a taken address answers 0 and leaves the transaction usable. Every integer
 * parameter is cast in the SQL (PostgreSQL would otherwise guess a 32-bit type from a literal beside it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "../util.h"

/* The text of a result's cell, NULL for SQL NULL. */
static const char *
cell(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* ---- idempotency keys ---- */

json_t *
pg_idem_lookup(store_conn_t *c, const char *scope, const char *method, const char *path,
               const char *key, int64_t max_age_ms, err_t *err)
{
    char since[24];
    const char *p[5] = {scope, method, path, key, pg__i64(since, util_now_ms() - max_age_ms)};
    PGresult *res;
    json_t *ans = NULL;

    res = pg__query(c,
                    "SELECT body_hash, status, location, body FROM idempotency"
                    " WHERE scope = $1 AND method = $2 AND path = $3 AND idem_key = $4"
                    " AND created_ms > $5::bigint;",
                    5, p, "reading an idempotency key", err);
    if (res == NULL)
        return NULL;
    if (PQntuples(res) > 0) {
        ans = json_pack("{s:s, s:i, s:s?, s:s}", "bodyHash", PQgetvalue(res, 0, 0), "status",
                        (int) pg__int(res, 0, 1), "location", cell(res, 0, 2), "body",
                        PQgetvalue(res, 0, 3));
        if (ans == NULL)
            err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    }
    PQclear(res);
    return ans;
}

int
pg_idem_save(store_conn_t *c, const char *scope, const char *method, const char *path,
             const char *key, const json_t *answer, err_t *err)
{
    char status[24], now[24];
    const json_t *loc = json_object_get(answer, "location");
    const char *p[9] = {
        scope,
        method,
        path,
        key,
        json_string_value(json_object_get(answer, "bodyHash")),
        pg__i64(status, json_integer_value(json_object_get(answer, "status"))),
        json_is_string(loc) ? json_string_value(loc) : NULL,
        json_string_value(json_object_get(answer, "body")),
        pg__i64(now, util_now_ms()),
    };

    return pg__run(c,
                   "INSERT INTO idempotency(scope, method, path, idem_key, body_hash, status, location,"
                   " body, created_ms) VALUES ($1, $2, $3, $4, $5, $6::bigint, $7, $8, $9::bigint)"
                   " ON CONFLICT (scope, method, path, idem_key) DO UPDATE SET"
                   " body_hash = excluded.body_hash, status = excluded.status,"
                   " location = excluded.location, body = excluded.body,"
                   " created_ms = excluded.created_ms;",
                   9, p, "saving an idempotency key", err) < 0
               ? -1
               : 0;
}

int64_t
pg_idem_purge(store_conn_t *c, int64_t max_age_ms, err_t *err)
{
    char before[24];
    const char *p[1] = {pg__i64(before, util_now_ms() - max_age_ms)};

    return pg__run(c, "DELETE FROM idempotency WHERE created_ms <= $1::bigint;", 1, p,
                   "purging idempotency keys", err);
}

/* ---- quota usage counters, host allocation, network addresses ---- */

/* Runs sql, a query of at most one row with $1 = key, and reads its first n columns into out: 0; 1 when
 * there is no row (out untouched); -1 with err. */
static int
row_ints(store_conn_t *c, const char *sql, const char *key, int64_t *out, int n, const char *doing,
         err_t *err)
{
    const char *p[1] = {key};
    PGresult *res = pg__query(c, sql, 1, p, doing, err);
    int i, rc;

    if (res == NULL)
        return -1;
    rc = PQntuples(res) > 0 ? 0 : 1;
    for (i = 0; rc == 0 && i < n && i < PQnfields(res); i++)
        out[i] = pg__int(res, 0, i);
    PQclear(res);
    return rc;
}

int
pg_usage_get(store_conn_t *c, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err)
{
    int rc = row_ints(c,
                      "SELECT usage_vms, usage_cores, usage_memory_mb, usage_storage_gb, usage_vm_roles,"
                      " usage_networks FROM subscriptions WHERE id = $1;",
                      sid, usage, STORE_QUOTAS, "reading quota usage", err);

    if (rc == 1)
        return err_set(err, ERR_NOT_FOUND, NULL, "The subscription was not found.");
    return rc;
}

int
pg_usage_adjust(store_conn_t *c, const char *sid, const int64_t delta[STORE_QUOTAS],
                const int64_t limit[STORE_QUOTAS], err_t *err)
{
    char buf[2 * STORE_QUOTAS][24];
    const char *p[2 * STORE_QUOTAS + 1];
    int64_t changed;
    int i;

    for (i = 0; i < STORE_QUOTAS; i++) {
        p[i] = pg__i64(buf[i], delta[i]);
        p[i + STORE_QUOTAS] = pg__i64(buf[i + STORE_QUOTAS], limit ? limit[i] : -1);
    }
    p[2 * STORE_QUOTAS] = sid;
    /* One statement, in a transaction holding the write lock: the limits are checked against the
     * committed counters, so concurrent reservations (of any daemon) never overshoot. Decreases always
     * apply. */
    changed = pg__run(c,
                      "UPDATE subscriptions SET usage_vms = GREATEST(0, usage_vms + $1::bigint),"
                      " usage_cores = GREATEST(0, usage_cores + $2::bigint),"
                      " usage_memory_mb = GREATEST(0, usage_memory_mb + $3::bigint),"
                      " usage_storage_gb = GREATEST(0, usage_storage_gb + $4::bigint),"
                      " usage_vm_roles = GREATEST(0, usage_vm_roles + $5::bigint),"
                      " usage_networks = GREATEST(0, usage_networks + $6::bigint)"
                      " WHERE id = $13"
                      " AND ($1::bigint <= 0 OR $7::bigint < 0 OR usage_vms + $1::bigint <= $7::bigint)"
                      " AND ($2::bigint <= 0 OR $8::bigint < 0 OR usage_cores + $2::bigint <= $8::bigint)"
                      " AND ($3::bigint <= 0 OR $9::bigint < 0"
                      "      OR usage_memory_mb + $3::bigint <= $9::bigint)"
                      " AND ($4::bigint <= 0 OR $10::bigint < 0"
                      "      OR usage_storage_gb + $4::bigint <= $10::bigint)"
                      " AND ($5::bigint <= 0 OR $11::bigint < 0"
                      "      OR usage_vm_roles + $5::bigint <= $11::bigint)"
                      " AND ($6::bigint <= 0 OR $12::bigint < 0"
                      "      OR usage_networks + $6::bigint <= $12::bigint);",
                      2 * STORE_QUOTAS + 1, p, "reserving quota", err);
    if (changed < 0)
        return -1;
    return changed == 1 ? 0 : 1;
}

int
pg_usage_set(store_conn_t *c, const char *sid, const int64_t usage[STORE_QUOTAS], err_t *err)
{
    char buf[STORE_QUOTAS][24];
    const char *p[STORE_QUOTAS + 1];
    int i;

    for (i = 0; i < STORE_QUOTAS; i++)
        p[i] = pg__i64(buf[i], usage[i]);
    p[STORE_QUOTAS] = sid;
    return pg__run(c,
                   "UPDATE subscriptions SET usage_vms = $1::bigint, usage_cores = $2::bigint,"
                   " usage_memory_mb = $3::bigint, usage_storage_gb = $4::bigint,"
                   " usage_vm_roles = $5::bigint, usage_networks = $6::bigint WHERE id = $7;",
                   STORE_QUOTAS + 1, p, "setting quota usage", err) < 0
               ? -1
               : 0;
}

int
pg_usage_recompute(store_conn_t *c, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err)
{
    return row_ints(c,
                    "SELECT count(*), coalesce(sum(cores), 0), coalesce(sum(memory_mb), 0),"
                    " coalesce(sum(storage_gb), 0)"
                    " + (SELECT coalesce(sum(size_gb), 0) FROM snapshots p"
                    "    WHERE p.subscription_id = $1 AND p.counted = 1)"
                    " + (SELECT coalesce(sum(storage_gb), 0) FROM private_images i"
                    "    WHERE i.subscription_id = $1 AND i.counted = 1),"
                    " (SELECT count(*) FROM vm_roles r WHERE r.subscription_id = $1),"
                    " (SELECT count(*) FROM networks n WHERE n.subscription_id = $1)"
                    " FROM vms WHERE subscription_id = $1 AND counted = 1;",
                    sid, usage, STORE_QUOTAS, "recomputing quota usage", err);
}

int
pg_host_allocate(store_conn_t *c, const char *host_id, int64_t cores, int64_t memory_mb,
                 int64_t storage_gb, err_t *err)
{
    char b1[24], b2[24], b3[24];
    const char *p[4] = {pg__i64(b1, cores), pg__i64(b2, memory_mb), pg__i64(b3, storage_gb), host_id};
    int64_t changed;

    /* Growth must fit the capacity; release always applies. */
    changed = pg__run(c,
                      "UPDATE hosts SET alloc_cores = GREATEST(0, alloc_cores + $1::bigint),"
                      " alloc_memory_mb = GREATEST(0, alloc_memory_mb + $2::bigint),"
                      " alloc_storage_gb = GREATEST(0, alloc_storage_gb + $3::bigint), rev = rev + 1"
                      " WHERE id = $4 AND ($1::bigint <= 0 OR alloc_cores + $1::bigint <= cap_cores)"
                      " AND ($2::bigint <= 0 OR alloc_memory_mb + $2::bigint <= cap_memory_mb)"
                      " AND ($3::bigint <= 0 OR alloc_storage_gb + $3::bigint <= cap_storage_gb);",
                      4, p, "allocating host capacity", err);
    if (changed < 0)
        return -1;
    return changed == 0 ? 1 : 0;
}

int
pg_host_grow_storage(store_conn_t *c, const char *host_id, int64_t storage_gb, err_t *err)
{
    char b[24];
    const char *p[2] = {pg__i64(b, storage_gb), host_id};

    return pg__run(c,
                   "UPDATE hosts SET alloc_storage_gb = GREATEST(0, alloc_storage_gb + $1::bigint),"
                   " rev = rev + 1 WHERE id = $2;",
                   2, p, "growing host storage", err) < 0
               ? -1
               : 0;
}

int
pg_host_recompute(store_conn_t *c, const char *host_id, int64_t out[3], err_t *err)
{
    return row_ints(c,
                    "SELECT coalesce(sum(CASE WHEN holds_compute <> 0 THEN cores ELSE 0 END), 0),"
                    " coalesce(sum(CASE WHEN holds_compute <> 0 THEN memory_mb ELSE 0 END), 0),"
                    " coalesce(sum(CASE WHEN holds_storage <> 0 THEN storage_gb ELSE 0 END), 0)"
                    " + (SELECT coalesce(sum(size_gb), 0) FROM snapshots p"
                    "    WHERE p.host_id = $1 AND p.counted = 1)"
                    " + (SELECT coalesce(sum(storage_gb), 0) FROM private_images i"
                    "    WHERE i.host_id = $1 AND i.counted = 1)"
                    " FROM vms WHERE host_id = $1;",
                    host_id, out, 3, "recomputing host allocation", err);
}

int
pg_cloud_capacity(store_conn_t *c, const char *cloud_id, int64_t out[7], err_t *err)
{
    return row_ints(c,
                    "SELECT count(*), coalesce(sum(cap_cores), 0), coalesce(sum(cap_memory_mb), 0),"
                    " coalesce(sum(cap_storage_gb), 0), coalesce(sum(alloc_cores), 0),"
                    " coalesce(sum(alloc_memory_mb), 0), coalesce(sum(alloc_storage_gb), 0)"
                    " FROM hosts WHERE cloud_id = $1;",
                    cloud_id, out, 7, "summing a cloud's hosts", err);
}

int
pg_ip_used(store_conn_t *c, const char *network_id, int64_t **ips, size_t *n, err_t *err)
{
    const char *p[1] = {network_id};
    PGresult *res;
    int64_t *out = NULL;
    int rows, i;

    /* The primary key (network_id, ip) answers them in order. */
    res = pg__query(c, "SELECT ip FROM nic_ips WHERE network_id = $1 ORDER BY ip;", 1, p,
                    "reading the addresses in use", err);
    if (res == NULL)
        return -1;
    rows = PQntuples(res);
    if (rows > 0 && (out = util_realloc(NULL, (size_t) rows * sizeof(*out))) == NULL) {
        PQclear(res);
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    }
    for (i = 0; i < rows; i++)
        out[i] = pg__int(res, i, 0);
    PQclear(res);
    *ips = out;
    *n = (size_t) rows;
    return 0;
}

int
pg_ip_claim(store_conn_t *c, const char *network_id, const char *vm_id, int64_t ip, err_t *err)
{
    char b[24];
    const char *p[3] = {network_id, pg__i64(b, ip), vm_id};
    int64_t changed;

    /* The primary key refuses an address already taken: no row, no error, the transaction goes on. */
    changed = pg__run(c,
                      "INSERT INTO nic_ips(network_id, ip, vm_id) VALUES ($1, $2::bigint, $3)"
                      " ON CONFLICT (network_id, ip) DO NOTHING;",
                      3, p, "claiming an address", err);
    if (changed < 0)
        return -1;
    return changed == 1 ? 1 : 0;
}

int
pg_ip_release_vm(store_conn_t *c, const char *vm_id, err_t *err)
{
    const char *p[1] = {vm_id};

    return pg__run(c, "DELETE FROM nic_ips WHERE vm_id = $1;", 1, p, "releasing addresses", err) < 0
               ? -1
               : 0;
}

int64_t
pg_ip_count(store_conn_t *c, const char *network_id, err_t *err)
{
    int64_t n = -1;

    if (row_ints(c, "SELECT count(*) FROM nic_ips WHERE network_id = $1;", network_id, &n, 1,
                 "counting addresses", err) < 0)
        return -1;
    return n;
}

/* ---- unmanaged VMs ---- */

int
pg_unmanaged_replace(store_conn_t *c, const char *host_id, const json_t *vms, err_t *err)
{
    char now[UTIL_TIME_LEN + 1];
    const char *p[5];
    const json_t *vm;
    size_t i;

    p[0] = host_id;
    if (pg__run(c, "DELETE FROM unmanaged_vms WHERE host_id = $1;", 1, p, "forgetting unmanaged VMs",
                err) < 0)
        return -1;
    util_time_format(util_now_ms(), now);
    json_array_foreach(vms, i, vm) {
        p[1] = json_string_value(json_object_get(vm, "hypervisorId"));
        p[2] = json_string_value(json_object_get(vm, "name"));
        p[3] = json_string_value(json_object_get(vm, "powerState"));
        p[4] = now;
        if (pg__run(c,
                    "INSERT INTO unmanaged_vms(host_id, hypervisor_id, name, power_state, seen_at)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (host_id, hypervisor_id) DO UPDATE SET"
                    " name = excluded.name, power_state = excluded.power_state,"
                    " seen_at = excluded.seen_at;",
                    5, p, "recording unmanaged VMs", err) < 0)
            return -1;
    }
    return 0;
}

json_t *
pg_unmanaged_list(store_conn_t *c, const char *host_id, err_t *err)
{
    const char *p[1] = {host_id};
    PGresult *res;
    json_t *list;
    int i;

    res = pg__query(c,
                    "SELECT hypervisor_id, name, power_state, seen_at FROM unmanaged_vms"
                    " WHERE host_id = $1 ORDER BY hypervisor_id COLLATE \"C\";",
                    1, p, "listing unmanaged VMs", err);
    if (res == NULL)
        return NULL;
    list = json_array();
    for (i = 0; i < PQntuples(res); i++)
        json_array_append_new(list, json_pack("{s:s, s:s?, s:s?, s:s}", "hypervisorId",
                                              PQgetvalue(res, i, 0), "name", cell(res, i, 1),
                                              "powerState", cell(res, i, 2), "seenAt",
                                              PQgetvalue(res, i, 3)));
    PQclear(res);
    return list;
}

int
pg_unmanaged_remove(store_conn_t *c, const char *host_id, const char *hypervisor_id, err_t *err)
{
    const char *p[2] = {host_id, hypervisor_id};

    return pg__run(c, "DELETE FROM unmanaged_vms WHERE host_id = $1 AND hypervisor_id = $2;", 2, p,
                   "forgetting an unmanaged VM", err) < 0
               ? -1
               : 0;
}
