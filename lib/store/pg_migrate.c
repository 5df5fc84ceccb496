/*
 * pg_migrate.c: the PostgreSQL backend's schema, as versioned migrations, and the step that applies the
 * pending ones when a store opens.
 *
 * The schema is the SQLite backend's latest (sqlite_migrate.c): the same tables, columns, keys and
 * indexes under the same names, with PostgreSQL's types. Its versions are its own: version 1 is the whole
 * of SQLite's version 17, and each later one follows one of SQLite's (2: SQLite's 18), but for what
 * only a database shared by several daemons needs (3: job leases).
 *
 * Invariants:
 * - migrations[i] takes the schema from version i to i + 1; wapd_schema holds the version the database is
 *   at. Every pending migration and the new version are applied in one transaction (PostgreSQL's DDL is
 *   transactional), so a crash leaves the old schema or the new one. A released migration is never
 *   edited.
 * - Daemons starting at once take turns: the migration holds PG_MIGRATE_LOCK, so one applies it and the
 *   others find it done.
 * - Nothing needs a superuser or an extension: the case-insensitive collation of users' emails is an ICU
 *   collation the database's owner may create.
 * - Text columns compare byte by byte (COLLATE "C"), as SQLite's do, whatever the database's locale: the
 *   order of ids, and every range over text, is the SQLite backend's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "pg.h"

#define TXT "TEXT COLLATE \"C\""
#define INT "BIGINT"
#define REAL "DOUBLE PRECISION"
/* seq: the position (never reused); id: the UUID; rev: the revision. */
#define KEYS                                                                                       \
    " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id " TXT " NOT NULL UNIQUE,"            \
    " rev " INT " NOT NULL DEFAULT 1,"
#define AUTO " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"

/* Versioned migrations: migrations[i] takes the schema from version i to i + 1. Never edit a released
 * one; append. */
static const char *const migrations[] = {
    /* 1: SQLite's schema at its version 17. */
    "CREATE COLLATION wapd_nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);"
    "CREATE TABLE clouds(" KEYS
    " name " TXT " NOT NULL, description " TXT ","
    " created_at " TXT " NOT NULL, updated_at " TXT " NOT NULL);"
    "CREATE TABLE hosts(" KEYS
    " name " TXT " NOT NULL, cloud_id " TXT " NOT NULL REFERENCES clouds(id),"
    " agent_kind " TXT " NOT NULL, agent_uri " TXT ","
    " cap_cores " INT " NOT NULL, cap_memory_mb " INT " NOT NULL, cap_storage_gb " INT " NOT NULL,"
    " alloc_cores " INT " NOT NULL DEFAULT 0, alloc_memory_mb " INT " NOT NULL DEFAULT 0,"
    " alloc_storage_gb " INT " NOT NULL DEFAULT 0,"
    " state " TXT " NOT NULL, last_seen_at " TXT ", created_at " TXT " NOT NULL,"
    " updated_at " TXT " NOT NULL, agent_token " TXT ", agent_ca_file " TXT ");"
    "CREATE INDEX hosts_cloud ON hosts(cloud_id);"
    "CREATE TABLE sizes(" KEYS
    " name " TXT " NOT NULL UNIQUE, cores " INT " NOT NULL, memory_mb " INT " NOT NULL,"
    " created_at " TXT " NOT NULL, updated_at " TXT " NOT NULL, dynamic_memory " TXT ");"
    "CREATE TABLE images(" KEYS
    " name " TXT " NOT NULL, os_type " TXT " NOT NULL, generation " INT " NOT NULL,"
    " os_disk_gb " INT " NOT NULL, created_at " TXT " NOT NULL, updated_at " TXT " NOT NULL);"
    "CREATE TABLE gallery_items(" KEYS
    " name " TXT " NOT NULL, item_version " TXT " NOT NULL,"
    " image_id " TXT " NOT NULL REFERENCES images(id),"
    " default_size " TXT " NOT NULL, min_instances " INT " NOT NULL, max_instances " INT " NOT NULL,"
    " created_at " TXT " NOT NULL, updated_at " TXT " NOT NULL);"
    "CREATE TABLE plans(" KEYS
    " name " TXT " NOT NULL, cloud_id " TXT " NOT NULL REFERENCES clouds(id), state " TXT " NOT NULL,"
    " quotas " TXT " NOT NULL, image_ids " TXT " NOT NULL, size_names " TXT " NOT NULL,"
    " gallery_item_ids " TXT " NOT NULL, checkpoint_mode " TXT " NOT NULL,"
    " checkpoint_retention_hours " INT ", created_at " TXT " NOT NULL, updated_at " TXT " NOT NULL,"
    " replica_cloud_ids " TXT ");"
    "CREATE INDEX plans_cloud ON plans(cloud_id);"
    "CREATE TABLE users(" KEYS
    " email TEXT COLLATE wapd_nocase NOT NULL UNIQUE, name " TXT ","
    " created_at " TXT " NOT NULL, updated_at " TXT " NOT NULL, state " TXT ");"
    "CREATE TABLE tokens(" KEYS
    " user_id " TXT " NOT NULL REFERENCES users(id), hash " TXT " NOT NULL UNIQUE,"
    " expires_at " TXT " NOT NULL, revoked_at " TXT ", created_at " TXT " NOT NULL);"
    "CREATE INDEX tokens_user ON tokens(user_id);"
    "CREATE TABLE subscriptions(" KEYS
    " user_id " TXT " NOT NULL REFERENCES users(id), plan_id " TXT " NOT NULL REFERENCES plans(id),"
    " display_name " TXT " NOT NULL, state " TXT " NOT NULL, checkpoint_mode " TXT " NOT NULL,"
    " created_at " TXT " NOT NULL, updated_at " TXT " NOT NULL,"
    " usage_vms " INT " NOT NULL DEFAULT 0, usage_cores " INT " NOT NULL DEFAULT 0,"
    " usage_memory_mb " INT " NOT NULL DEFAULT 0, usage_storage_gb " INT " NOT NULL DEFAULT 0,"
    " usage_vm_roles " INT " NOT NULL DEFAULT 0, usage_networks " INT " NOT NULL DEFAULT 0);"
    "CREATE INDEX subscriptions_user ON subscriptions(user_id);"
    "CREATE INDEX subscriptions_plan ON subscriptions(plan_id);"
    "CREATE TABLE jobs(" KEYS
    " kind " TXT " NOT NULL, status " TXT " NOT NULL, resource_id " TXT ", subscription_id " TXT ","
    " progress " INT " NOT NULL DEFAULT 0, steps " TXT " NOT NULL, error " TXT ","
    " created_at " TXT " NOT NULL, started_at " TXT ", ended_at " TXT ","
    " params " TXT ", data " TXT ", lock_key " TXT ", run_after_ms " INT " NOT NULL DEFAULT 0,"
    " deadline_ms " INT ", attempts " INT " NOT NULL DEFAULT 0, epoch " INT " NOT NULL DEFAULT 0,"
    " copy " TXT ");"
    "CREATE INDEX jobs_subscription ON jobs(subscription_id, seq);"
    /* At most one active job per lock key (a VM, say): the schema refuses a second. */
    "CREATE UNIQUE INDEX jobs_active_lock ON jobs(lock_key)"
    " WHERE lock_key IS NOT NULL AND status IN ('queued', 'running');"
    "CREATE INDEX jobs_active ON jobs(status) WHERE status IN ('queued', 'running');"
    "CREATE INDEX jobs_ended ON jobs(ended_at) WHERE status IN ('succeeded', 'failed', 'canceled');"
    "CREATE TABLE idempotency("
    " scope " TXT " NOT NULL, method " TXT " NOT NULL, path " TXT " NOT NULL, idem_key " TXT " NOT NULL,"
    " body_hash " TXT " NOT NULL, status " INT " NOT NULL, location " TXT ", body " TXT " NOT NULL,"
    " created_ms " INT " NOT NULL, PRIMARY KEY(scope, method, path, idem_key));"
    "CREATE INDEX idempotency_age ON idempotency(created_ms);"
    "CREATE TABLE vms(" KEYS
    " name " TXT " NOT NULL, subscription_id " TXT " NOT NULL REFERENCES subscriptions(id),"
    " size " TXT " NOT NULL, cores " INT " NOT NULL, memory_mb " INT " NOT NULL,"
    " image_id " TXT " NOT NULL, generation " INT " NOT NULL, os_type " TXT " NOT NULL,"
    " vm_role_id " TXT ", provisioning_state " TXT " NOT NULL, power_state " TXT " NOT NULL,"
    " disks " TXT " NOT NULL, nics " TXT " NOT NULL, checkpoint " TXT ", created_at " TXT " NOT NULL,"
    " updated_at " TXT " NOT NULL, host_id " TXT " REFERENCES hosts(id), hypervisor_id " TXT ","
    " storage_gb " INT " NOT NULL, holds_compute " INT " NOT NULL DEFAULT 0,"
    " holds_storage " INT " NOT NULL DEFAULT 0, counted " INT " NOT NULL DEFAULT 1,"
    " os_state " TXT " NOT NULL DEFAULT 'specialized', dynamic_memory " TXT ","
    " assigned_memory_mb " INT ", instance_view " TXT ");"
    "CREATE INDEX vms_subscription ON vms(subscription_id, seq);"
    "CREATE INDEX vms_host ON vms(host_id);"
    "CREATE INDEX vms_role ON vms(vm_role_id);"
    "CREATE INDEX vms_hypervisor ON vms(hypervisor_id);"
    "CREATE TABLE networks(" KEYS
    " subscription_id " TXT " NOT NULL REFERENCES subscriptions(id), name " TXT " NOT NULL,"
    " address_prefix " TXT " NOT NULL, created_at " TXT " NOT NULL, updated_at " TXT " NOT NULL);"
    "CREATE INDEX networks_subscription ON networks(subscription_id, seq);"
    "CREATE TABLE nic_ips("
    " network_id " TXT " NOT NULL REFERENCES networks(id), ip " INT " NOT NULL,"
    " vm_id " TXT " NOT NULL, PRIMARY KEY(network_id, ip));"
    "CREATE INDEX nic_ips_vm ON nic_ips(vm_id);"
    "CREATE TABLE vm_roles(" KEYS
    " name " TXT " NOT NULL, subscription_id " TXT " NOT NULL REFERENCES subscriptions(id),"
    " gallery_item_id " TXT " NOT NULL, size " TXT " NOT NULL, network_id " TXT ","
    " instance_count " INT " NOT NULL, provisioning_state " TXT " NOT NULL,"
    " created_at " TXT " NOT NULL, updated_at " TXT " NOT NULL);"
    "CREATE INDEX vm_roles_subscription ON vm_roles(subscription_id, seq);"
    /* What the last inventory sync of each host found that no record owns. */
    "CREATE TABLE unmanaged_vms("
    " host_id " TXT " NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,"
    " hypervisor_id " TXT " NOT NULL, name " TXT ", power_state " TXT ", seen_at " TXT " NOT NULL,"
    " PRIMARY KEY(host_id, hypervisor_id));"
    /* The VM timeline, the only source of metering, and every VM on it with when it went. */
    "CREATE TABLE vm_timeline(" AUTO
    " vm_id " TXT " NOT NULL, subscription_id " TXT " NOT NULL, at_ms " INT " NOT NULL,"
    " event " TXT " NOT NULL, power_state " TXT " NOT NULL, size " TXT " NOT NULL,"
    " cores " INT " NOT NULL, memory_mb " INT " NOT NULL, storage_gb " INT " NOT NULL,"
    " holds_compute " INT " NOT NULL, holds_storage " INT " NOT NULL, name " TXT ","
    " resource_type " TXT " NOT NULL DEFAULT 'vm', assigned_memory_mb " INT ");"
    "CREATE INDEX vm_timeline_vm ON vm_timeline(vm_id, seq);"
    "CREATE INDEX vm_timeline_at ON vm_timeline(at_ms);"
    "CREATE TABLE vm_state(vm_id " TXT " PRIMARY KEY, gone_ms " INT ");"
    /* Usage records: exactly one per resource, meter, period and variant. */
    "CREATE TABLE usage_records(" AUTO
    " id " TXT " NOT NULL, subscription_id " TXT " NOT NULL,"
    " resource_id " TXT " NOT NULL, resource_type " TXT " NOT NULL, meter " TXT " NOT NULL,"
    " quantity " REAL " NOT NULL, unit " TXT " NOT NULL, period_start_ms " INT " NOT NULL,"
    " period_end_ms " INT " NOT NULL, properties " TXT " NOT NULL,"
    " variant " TXT " NOT NULL DEFAULT '',"
    " UNIQUE(resource_id, meter, period_start_ms, variant));"
    "CREATE INDEX usage_subscription ON usage_records(subscription_id, period_start_ms);"
    /* The store's own settings. A value is kept uncompressed, so that the write probe's value takes the
     * room it names. */
    "CREATE TABLE meta(key " TXT " PRIMARY KEY, value " TXT " NOT NULL);"
    "ALTER TABLE meta ALTER COLUMN value SET STORAGE EXTERNAL;"
    /* The WAP usage contract: one record per VM, period and size, EventId ascending. */
    "CREATE TABLE wap_usage("
    " event_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, resource_id " TXT " NOT NULL,"
    " subscription_id " TXT " NOT NULL, vm_name " TXT ", subscriber " TXT ","
    " period_start_ms " INT " NOT NULL, period_end_ms " INT " NOT NULL,"
    " cpu_max " INT " NOT NULL, memory_max " INT " NOT NULL, disk_bytes_max " INT " NOT NULL,"
    " size " TXT " NOT NULL DEFAULT '', cpu_avg " REAL ", memory_avg " REAL ","
    " memory_consumed_min " INT ", memory_consumed_max " INT ", memory_consumed_avg " REAL ","
    " disk_bytes_avg " REAL ", UNIQUE(resource_id, period_start_ms, size));"
    /* Events (an outbox written with the change each describes), hooks, their deliveries (one row per
     * hook and event) and one log row per attempt. */
    "CREATE TABLE events(" AUTO
    " id " TXT " NOT NULL UNIQUE, type " TXT " NOT NULL, occurred_ms " INT " NOT NULL,"
    " subscription_id " TXT ", resource_id " TXT ", body " TXT " NOT NULL);"
    "CREATE TABLE hooks(" KEYS
    " url " TXT " NOT NULL, events " TXT " NOT NULL, secret " TXT " NOT NULL, active " INT " NOT NULL,"
    " description " TXT ", created_at " TXT " NOT NULL, updated_at " TXT " NOT NULL);"
    "CREATE TABLE deliveries(" AUTO
    " hook_id " TXT " NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,"
    " event_seq " INT " NOT NULL REFERENCES events(seq), state " TXT " NOT NULL,"
    " attempts " INT " NOT NULL DEFAULT 0, next_ms " INT " NOT NULL, queued_ms " INT " NOT NULL);"
    "CREATE INDEX deliveries_due ON deliveries(hook_id, next_ms) WHERE state = 'pending';"
    "CREATE INDEX deliveries_event ON deliveries(event_seq);"
    "CREATE TABLE delivery_attempts(" AUTO
    " id " TXT " NOT NULL UNIQUE, hook_id " TXT " NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,"
    " delivery_seq " INT " NOT NULL, event_seq " INT " NOT NULL, attempt " INT " NOT NULL,"
    " status_code " INT ", error " TXT ", at_ms " INT " NOT NULL);"
    "CREATE INDEX delivery_attempts_hook ON delivery_attempts(hook_id, seq);"
    "CREATE INDEX delivery_attempts_at ON delivery_attempts(at_ms);"
    /* Disk snapshots and private images: volumes kept on a host, leased while a job reads them. */
    "CREATE TABLE snapshots(" KEYS
    " name " TXT " NOT NULL, subscription_id " TXT " NOT NULL REFERENCES subscriptions(id),"
    " vm_id " TXT " NOT NULL, lun " INT ", size_gb " INT " NOT NULL, cloud_id " TXT " NOT NULL,"
    " state " TXT " NOT NULL, copy " TXT ", source_snapshot_id " TXT ","
    " created_at " TXT " NOT NULL, updated_at " TXT " NOT NULL,"
    " host_id " TXT " REFERENCES hosts(id), leases " INT " NOT NULL DEFAULT 0,"
    " counted " INT " NOT NULL DEFAULT 1);"
    "CREATE INDEX snapshots_subscription ON snapshots(subscription_id, seq);"
    "CREATE INDEX snapshots_host ON snapshots(host_id);"
    "CREATE TABLE private_images(" KEYS
    " name " TXT " NOT NULL, subscription_id " TXT " NOT NULL REFERENCES subscriptions(id),"
    " source_vm_id " TXT " NOT NULL, os_type " TXT " NOT NULL, generation " INT " NOT NULL,"
    " os_disk_gb " INT " NOT NULL, data_disks " TXT " NOT NULL, cloud_id " TXT " NOT NULL,"
    " state " TXT " NOT NULL, created_at " TXT " NOT NULL, updated_at " TXT " NOT NULL,"
    " host_id " TXT " REFERENCES hosts(id), storage_gb " INT " NOT NULL,"
    " leases " INT " NOT NULL DEFAULT 0, counted " INT " NOT NULL DEFAULT 1);"
    "CREATE INDEX private_images_subscription ON private_images(subscription_id, seq);"
    "CREATE INDEX private_images_host ON private_images(host_id);"
    /* Named admin tokens with a scope, stored as a hash. */
    "CREATE TABLE admin_tokens(" KEYS
    " name " TXT " NOT NULL, scope " TXT " NOT NULL, hash " TXT " NOT NULL UNIQUE,"
    " expires_at " TXT ", revoked_at " TXT ", last_used_at " TXT ", created_at " TXT " NOT NULL,"
    " updated_at " TXT " NOT NULL);",
    /* 2: SQLite's version 18: the usage close reads each VM's rows within the period it closes, without
     * reading the VM's history before it. */
    "CREATE INDEX vm_timeline_vm_at ON vm_timeline(vm_id, at_ms);",
    /* 3: job leases (pg_leases.c): which daemon of the database runs a job now, and until when. No
     * SQLite version follows: a SQLite database is one process's. */
    "CREATE TABLE job_leases(job_id " TXT " PRIMARY KEY, owner " TXT " NOT NULL, until_ms " INT " NOT NULL);"
    "CREATE INDEX job_leases_owner ON job_leases(owner);",
};

int
pg__migrate(store_db_t *db, store_conn_t *c, err_t *err)
{
    int target = (int) (sizeof(migrations) / sizeof(migrations[0]));
    int64_t version;
    char lock[160], set[96];
    PGresult *res;

    if (db->migrate_to > 0 && db->migrate_to < target)
        target = db->migrate_to;
    /* A daemon that starts while another migrates waits for it, longer than for a writer. */
    snprintf(lock, sizeof(lock),
             "BEGIN; SET LOCAL lock_timeout = '120s'; SELECT pg_advisory_xact_lock(%" PRId64 ");",
             PG_MIGRATE_LOCK);
    if (pg__exec(c, lock, err))
        goto fail;
    if (pg__exec(c, "CREATE TABLE IF NOT EXISTS wapd_schema(version " INT " NOT NULL);", err))
        goto fail;
    res = pg__query(c, "SELECT coalesce(max(version), 0) FROM wapd_schema", 0, NULL,
                    "reading the schema version", err);
    if (res == NULL)
        goto fail;
    version = pg__int(res, 0, 0);
    PQclear(res);
    if (version > target) {
        err_set(err, ERR_INTERNAL, NULL,
                "The database is at schema version %" PRId64 ", newer than this wapd knows (%d).",
                version, target);
        goto fail;
    }
    for (; version < target; version++)
        if (pg__exec(c, migrations[version], err))
            goto fail;
    snprintf(set, sizeof(set), "DELETE FROM wapd_schema; INSERT INTO wapd_schema VALUES (%d);", target);
    if (pg__exec(c, set, err) || pg__exec(c, "COMMIT;", err))
        goto fail;
    db->schema_version = target;
    return 0;
fail:
    if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c->pg, "ROLLBACK");
        PQclear(r);
    }
    return -1;
}
