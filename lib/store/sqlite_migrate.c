/*
 * sqlite_migrate.c: the SQLite backend's schema, as versioned migrations, and the step that applies
 * the pending ones when a store opens.
 *
 * Invariants: migrations[i] takes the schema from version i to i + 1, and PRAGMA user_version is the
 * version the database is at; every pending migration and the new version are applied in one
 * transaction, so a crash leaves the old schema or the new one. A released migration is never edited.
 */
#include <stdio.h>

#include "sqlite.h"

/* Versioned migrations: migrations[i] takes the schema from version i to i + 1. Never edit a released
 * one; append. */
static const char *const migrations[] = {
    "CREATE TABLE clouds("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " name TEXT NOT NULL, description TEXT,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE TABLE hosts("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " name TEXT NOT NULL, cloud_id TEXT NOT NULL REFERENCES clouds(id),"
    " agent_kind TEXT NOT NULL, agent_uri TEXT,"
    " cap_cores INTEGER NOT NULL, cap_memory_mb INTEGER NOT NULL, cap_storage_gb INTEGER NOT NULL,"
    " alloc_cores INTEGER NOT NULL DEFAULT 0, alloc_memory_mb INTEGER NOT NULL DEFAULT 0,"
    " alloc_storage_gb INTEGER NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL, last_seen_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE INDEX hosts_cloud ON hosts(cloud_id);"
    "CREATE TABLE sizes("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " name TEXT NOT NULL UNIQUE, cores INTEGER NOT NULL, memory_mb INTEGER NOT NULL,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE TABLE images("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " name TEXT NOT NULL, os_type TEXT NOT NULL, generation INTEGER NOT NULL,"
    " os_disk_gb INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE TABLE gallery_items("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " name TEXT NOT NULL, item_version TEXT NOT NULL, image_id TEXT NOT NULL REFERENCES images(id),"
    " default_size TEXT NOT NULL, min_instances INTEGER NOT NULL, max_instances INTEGER NOT NULL,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE TABLE plans("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " name TEXT NOT NULL, cloud_id TEXT NOT NULL REFERENCES clouds(id), state TEXT NOT NULL,"
    " quotas TEXT NOT NULL, image_ids TEXT NOT NULL, size_names TEXT NOT NULL,"
    " gallery_item_ids TEXT NOT NULL, checkpoint_mode TEXT NOT NULL,"
    " checkpoint_retention_hours INTEGER, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE INDEX plans_cloud ON plans(cloud_id);"
    "CREATE TABLE users("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " email TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE TABLE tokens("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " user_id TEXT NOT NULL REFERENCES users(id), hash TEXT NOT NULL UNIQUE,"
    " expires_at TEXT NOT NULL, revoked_at TEXT, created_at TEXT NOT NULL);"
    "CREATE INDEX tokens_user ON tokens(user_id);"
    "CREATE TABLE subscriptions("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " user_id TEXT NOT NULL REFERENCES users(id), plan_id TEXT NOT NULL REFERENCES plans(id),"
    " display_name TEXT NOT NULL, state TEXT NOT NULL, checkpoint_mode TEXT NOT NULL,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE INDEX subscriptions_user ON subscriptions(user_id);"
    "CREATE INDEX subscriptions_plan ON subscriptions(plan_id);"
    "CREATE TABLE jobs("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " kind TEXT NOT NULL, status TEXT NOT NULL, resource_id TEXT, subscription_id TEXT,"
    " progress INTEGER NOT NULL DEFAULT 0, steps TEXT NOT NULL, error TEXT,"
    " created_at TEXT NOT NULL, started_at TEXT, ended_at TEXT);"
    "CREATE INDEX jobs_subscription ON jobs(subscription_id, seq);"
    "CREATE TABLE idempotency("
    " scope TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, idem_key TEXT NOT NULL,"
    " body_hash TEXT NOT NULL, status INTEGER NOT NULL, location TEXT, body TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, PRIMARY KEY(scope, method, path, idem_key));"
    "CREATE INDEX idempotency_age ON idempotency(created_ms);",
    /* 2: the job engine. At most one active job per lock key (a VM, say): the schema refuses a second. */
    "ALTER TABLE jobs ADD COLUMN params TEXT;"
    "ALTER TABLE jobs ADD COLUMN data TEXT;"
    "ALTER TABLE jobs ADD COLUMN lock_key TEXT;"
    "ALTER TABLE jobs ADD COLUMN run_after_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN deadline_ms INTEGER;"
    "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;"
    "CREATE UNIQUE INDEX jobs_active_lock ON jobs(lock_key)"
    " WHERE lock_key IS NOT NULL AND status IN ('queued', 'running');"
    "CREATE INDEX jobs_active ON jobs(status) WHERE status IN ('queued', 'running');",
    /* 3: VMs, networks, their addresses, and quota usage counters. */
    "CREATE TABLE vms("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " name TEXT NOT NULL, subscription_id TEXT NOT NULL REFERENCES subscriptions(id),"
    " size TEXT NOT NULL, cores INTEGER NOT NULL, memory_mb INTEGER NOT NULL,"
    " image_id TEXT NOT NULL, generation INTEGER NOT NULL, os_type TEXT NOT NULL, vm_role_id TEXT,"
    " provisioning_state TEXT NOT NULL, power_state TEXT NOT NULL, disks TEXT NOT NULL,"
    " nics TEXT NOT NULL, checkpoint TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
    " host_id TEXT REFERENCES hosts(id), hypervisor_id TEXT, storage_gb INTEGER NOT NULL,"
    " holds_compute INTEGER NOT NULL DEFAULT 0, holds_storage INTEGER NOT NULL DEFAULT 0,"
    " counted INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX vms_subscription ON vms(subscription_id, seq);"
    "CREATE INDEX vms_host ON vms(host_id);"
    "CREATE TABLE networks("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " subscription_id TEXT NOT NULL REFERENCES subscriptions(id), name TEXT NOT NULL,"
    " address_prefix TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE INDEX networks_subscription ON networks(subscription_id, seq);"
    "CREATE TABLE nic_ips("
    " network_id TEXT NOT NULL REFERENCES networks(id), ip INTEGER NOT NULL, vm_id TEXT NOT NULL,"
    " PRIMARY KEY(network_id, ip));"
    "CREATE INDEX nic_ips_vm ON nic_ips(vm_id);"
    "ALTER TABLE subscriptions ADD COLUMN usage_vms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE subscriptions ADD COLUMN usage_cores INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE subscriptions ADD COLUMN usage_memory_mb INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE subscriptions ADD COLUMN usage_storage_gb INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE subscriptions ADD COLUMN usage_vm_roles INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE subscriptions ADD COLUMN usage_networks INTEGER NOT NULL DEFAULT 0;",
    /* 4: VM roles. */
    "CREATE TABLE vm_roles("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " name TEXT NOT NULL, subscription_id TEXT NOT NULL REFERENCES subscriptions(id),"
    " gallery_item_id TEXT NOT NULL, size TEXT NOT NULL, network_id TEXT,"
    " instance_count INTEGER NOT NULL, provisioning_state TEXT NOT NULL,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE INDEX vm_roles_subscription ON vm_roles(subscription_id, seq);"
    "CREATE INDEX vms_role ON vms(vm_role_id);",
    /* 5: what the last inventory sync of each host found that no record owns. */
    "CREATE TABLE unmanaged_vms("
    " host_id TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE, hypervisor_id TEXT NOT NULL,"
    " name TEXT, power_state TEXT, seen_at TEXT NOT NULL, PRIMARY KEY(host_id, hypervisor_id));"
    "CREATE INDEX vms_hypervisor ON vms(hypervisor_id);",
    /* 6: the VM timeline, the only source of metering: every change of what a VM holds or runs. */
    "CREATE TABLE vm_timeline("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, vm_id TEXT NOT NULL, subscription_id TEXT NOT NULL,"
    " at_ms INTEGER NOT NULL, event TEXT NOT NULL, power_state TEXT NOT NULL, size TEXT NOT NULL,"
    " cores INTEGER NOT NULL, memory_mb INTEGER NOT NULL, storage_gb INTEGER NOT NULL,"
    " holds_compute INTEGER NOT NULL, holds_storage INTEGER NOT NULL);"
    "CREATE INDEX vm_timeline_vm ON vm_timeline(vm_id, seq);"
    "CREATE INDEX vm_timeline_at ON vm_timeline(at_ms);",
    /* 7: usage records (exactly one per resource, meter and period) and the store's own settings. */
    "CREATE TABLE usage_records("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, subscription_id TEXT NOT NULL,"
    " resource_id TEXT NOT NULL, resource_type TEXT NOT NULL, meter TEXT NOT NULL,"
    " quantity REAL NOT NULL, unit TEXT NOT NULL, period_start_ms INTEGER NOT NULL,"
    " period_end_ms INTEGER NOT NULL, properties TEXT NOT NULL,"
    " UNIQUE(resource_id, meter, period_start_ms));"
    "CREATE INDEX usage_subscription ON usage_records(subscription_id, period_start_ms);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    /* 8: the WAP usage contract: one record per VM and period, EventId ascending. */
    "ALTER TABLE vm_timeline ADD COLUMN name TEXT;"
    "CREATE TABLE wap_usage("
    " event_id INTEGER PRIMARY KEY AUTOINCREMENT, resource_id TEXT NOT NULL,"
    " subscription_id TEXT NOT NULL, vm_name TEXT, subscriber TEXT,"
    " period_start_ms INTEGER NOT NULL, period_end_ms INTEGER NOT NULL,"
    " cpu_max INTEGER NOT NULL, memory_max INTEGER NOT NULL, disk_bytes_max INTEGER NOT NULL,"
    " UNIQUE(resource_id, period_start_ms));",
    /* 9: events (an outbox written with the change each describes), hooks, and their deliveries: one row
     * per (hook, event) queued in the event's transaction, and one log row per attempt. */
    "CREATE TABLE events("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,"
    " occurred_ms INTEGER NOT NULL, subscription_id TEXT, resource_id TEXT, body TEXT NOT NULL);"
    "CREATE TABLE hooks("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " url TEXT NOT NULL, events TEXT NOT NULL, secret TEXT NOT NULL, active INTEGER NOT NULL,"
    " description TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE TABLE deliveries("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " hook_id TEXT NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,"
    " event_seq INTEGER NOT NULL REFERENCES events(seq), state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL, queued_ms INTEGER NOT NULL);"
    "CREATE INDEX deliveries_due ON deliveries(hook_id, next_ms) WHERE state = 'pending';"
    "CREATE INDEX deliveries_event ON deliveries(event_seq);"
    "CREATE TABLE delivery_attempts("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
    " hook_id TEXT NOT NULL REFERENCES hooks(id) ON DELETE CASCADE, delivery_seq INTEGER NOT NULL,"
    " event_seq INTEGER NOT NULL, attempt INTEGER NOT NULL, status_code INTEGER, error TEXT,"
    " at_ms INTEGER NOT NULL);"
    "CREATE INDEX delivery_attempts_hook ON delivery_attempts(hook_id, seq);"
    "CREATE INDEX delivery_attempts_at ON delivery_attempts(at_ms);",
    /* 10: usage record ids are random (v7) and never looked up, so no index keeps them unique; closing a
     * period writes one index fewer per record. Uniqueness per (resource, meter, period) stays. Positions
     * (seq) are kept, so collectors' cursors stay valid. */
    "CREATE TABLE usage_records_v10("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, subscription_id TEXT NOT NULL,"
    " resource_id TEXT NOT NULL, resource_type TEXT NOT NULL, meter TEXT NOT NULL,"
    " quantity REAL NOT NULL, unit TEXT NOT NULL, period_start_ms INTEGER NOT NULL,"
    " period_end_ms INTEGER NOT NULL, properties TEXT NOT NULL,"
    " UNIQUE(resource_id, meter, period_start_ms));"
    "INSERT INTO usage_records_v10 SELECT seq, id, subscription_id, resource_id, resource_type, meter,"
    " quantity, unit, period_start_ms, period_end_ms, properties FROM usage_records;"
    /* The position counter carries over too, even past purged records: no position is handed out twice. */
    "DELETE FROM sqlite_sequence WHERE name = 'usage_records_v10';"
    "INSERT INTO sqlite_sequence(name, seq)"
    " SELECT 'usage_records_v10', seq FROM sqlite_sequence WHERE name = 'usage_records';"
    "DROP TABLE usage_records;"
    "ALTER TABLE usage_records_v10 RENAME TO usage_records;"
    "CREATE INDEX usage_subscription ON usage_records(subscription_id, period_start_ms);",
    /* 11: every VM on the timeline, and when it went (NULL while it exists): the period closer walks this
     * instead of grouping the whole timeline's history, so closing a period stays as cheap as the history
     * grows. */
    "CREATE TABLE vm_state(vm_id TEXT PRIMARY KEY, gone_ms INTEGER) WITHOUT ROWID;"
    "INSERT INTO vm_state(vm_id, gone_ms)"
    " SELECT vm_id, CASE WHEN event = 'deleted' THEN at_ms END FROM vm_timeline"
    " WHERE seq IN (SELECT max(seq) FROM vm_timeline GROUP BY vm_id);",
    /* 12: how to reach a remote host's agent: its bearer token (never shown) and the CA bundle its https
     * uri is verified against (NULL: the system's). */
    "ALTER TABLE hosts ADD COLUMN agent_token TEXT;"
    "ALTER TABLE hosts ADD COLUMN agent_ca_file TEXT;",
    /* 13: images, snapshots and migration: a VM's OS state (generalized VMs are captured into private
     * images), the clouds a plan lets snapshots be copied to, disk snapshots and private images (volumes kept on a host, leased while a job reads them),
     * a job's copy progress, and stored objects on the timeline beside VMs (metered by their size). */
    "ALTER TABLE vms ADD COLUMN os_state TEXT NOT NULL DEFAULT 'specialized';"
    "ALTER TABLE jobs ADD COLUMN copy TEXT;"
    "ALTER TABLE vm_timeline ADD COLUMN resource_type TEXT NOT NULL DEFAULT 'vm';"
    "ALTER TABLE plans ADD COLUMN replica_cloud_ids TEXT;"
    "CREATE TABLE snapshots("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " name TEXT NOT NULL, subscription_id TEXT NOT NULL REFERENCES subscriptions(id),"
    " vm_id TEXT NOT NULL, lun INTEGER, size_gb INTEGER NOT NULL, cloud_id TEXT NOT NULL,"
    " state TEXT NOT NULL, copy TEXT, source_snapshot_id TEXT,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL, host_id TEXT REFERENCES hosts(id),"
    " leases INTEGER NOT NULL DEFAULT 0, counted INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX snapshots_subscription ON snapshots(subscription_id, seq);"
    "CREATE INDEX snapshots_host ON snapshots(host_id);"
    "CREATE TABLE private_images("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " name TEXT NOT NULL, subscription_id TEXT NOT NULL REFERENCES subscriptions(id),"
    " source_vm_id TEXT NOT NULL, os_type TEXT NOT NULL, generation INTEGER NOT NULL,"
    " os_disk_gb INTEGER NOT NULL, data_disks TEXT NOT NULL, cloud_id TEXT NOT NULL,"
    " state TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
    " host_id TEXT REFERENCES hosts(id), storage_gb INTEGER NOT NULL, leases INTEGER NOT NULL DEFAULT 0,"
    " counted INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX private_images_subscription ON private_images(subscription_id, seq);"
    "CREATE INDEX private_images_host ON private_images(host_id);",
    /* 14: fidelity: dynamic memory on sizes and VMs, the memory a VM's host assigns it (NULL: its
     * memoryMB) on the VM and on the timeline, a VM's instance view (when each state was entered, the
     * guest's heartbeat), a user's state, and usage split at every change of what is billed: a record is
     * unique per resource, meter, period and variant (the size a compute record bills; '' for the rest),
     * and the WAP records per VM, period and size carry minimum and average counters too. The position
     * counters carry over, as in 10. */
    "ALTER TABLE sizes ADD COLUMN dynamic_memory TEXT;"
    "ALTER TABLE vms ADD COLUMN dynamic_memory TEXT;"
    "ALTER TABLE vms ADD COLUMN assigned_memory_mb INTEGER;"
    "ALTER TABLE vms ADD COLUMN instance_view TEXT;"
    "ALTER TABLE users ADD COLUMN state TEXT;"
    "UPDATE users SET state = 'active';"
    "ALTER TABLE vm_timeline ADD COLUMN assigned_memory_mb INTEGER;"
    "CREATE TABLE usage_records_v14("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, subscription_id TEXT NOT NULL,"
    " resource_id TEXT NOT NULL, resource_type TEXT NOT NULL, meter TEXT NOT NULL,"
    " quantity REAL NOT NULL, unit TEXT NOT NULL, period_start_ms INTEGER NOT NULL,"
    " period_end_ms INTEGER NOT NULL, properties TEXT NOT NULL, variant TEXT NOT NULL DEFAULT '',"
    " UNIQUE(resource_id, meter, period_start_ms, variant));"
    "INSERT INTO usage_records_v14(seq, id, subscription_id, resource_id, resource_type, meter, quantity,"
    " unit, period_start_ms, period_end_ms, properties, variant)"
    " SELECT seq, id, subscription_id, resource_id, resource_type, meter, quantity, unit, period_start_ms,"
    " period_end_ms, properties, CASE WHEN meter LIKE 'compute.%'"
    " THEN coalesce(json_extract(properties, '$.size'), '') ELSE '' END FROM usage_records;"
    "DELETE FROM sqlite_sequence WHERE name = 'usage_records_v14';"
    "INSERT INTO sqlite_sequence(name, seq)"
    " SELECT 'usage_records_v14', seq FROM sqlite_sequence WHERE name = 'usage_records';"
    "DROP TABLE usage_records;"
    "ALTER TABLE usage_records_v14 RENAME TO usage_records;"
    "CREATE INDEX usage_subscription ON usage_records(subscription_id, period_start_ms);"
    "CREATE TABLE wap_usage_v14("
    " event_id INTEGER PRIMARY KEY AUTOINCREMENT, resource_id TEXT NOT NULL,"
    " subscription_id TEXT NOT NULL, vm_name TEXT, subscriber TEXT,"
    " period_start_ms INTEGER NOT NULL, period_end_ms INTEGER NOT NULL,"
    " cpu_max INTEGER NOT NULL, memory_max INTEGER NOT NULL, disk_bytes_max INTEGER NOT NULL,"
    " size TEXT NOT NULL DEFAULT '', cpu_avg REAL, memory_avg REAL, memory_consumed_min INTEGER,"
    " memory_consumed_max INTEGER, memory_consumed_avg REAL, disk_bytes_avg REAL,"
    " UNIQUE(resource_id, period_start_ms, size));"
    "INSERT INTO wap_usage_v14(event_id, resource_id, subscription_id, vm_name, subscriber,"
    " period_start_ms, period_end_ms, cpu_max, memory_max, disk_bytes_max, cpu_avg, memory_avg,"
    " memory_consumed_min, memory_consumed_max, memory_consumed_avg, disk_bytes_avg)"
    " SELECT event_id, resource_id, subscription_id, vm_name, subscriber, period_start_ms, period_end_ms,"
    " cpu_max, memory_max, disk_bytes_max, cpu_max, memory_max, memory_max, memory_max, memory_max,"
    " disk_bytes_max FROM wap_usage;"
    "DELETE FROM sqlite_sequence WHERE name = 'wap_usage_v14';"
    "INSERT INTO sqlite_sequence(name, seq)"
    " SELECT 'wap_usage_v14', seq FROM sqlite_sequence WHERE name = 'wap_usage';"
    "DROP TABLE wap_usage;"
    "ALTER TABLE wap_usage_v14 RENAME TO wap_usage;",
    /* 15: operations: named admin tokens with a scope (admin, readOnly, usage), stored as a hash like
     * tenant tokens; the bootstrap token (--admin-token, DIR/admin.token) is not among them. */
    "CREATE TABLE admin_tokens("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, rev INTEGER NOT NULL DEFAULT 1,"
    " name TEXT NOT NULL, scope TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, expires_at TEXT,"
    " revoked_at TEXT, last_used_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);",
    /* 16: no token at rest: the answers a tenant token create kept for its Idempotency-Key held the token
     * itself; from now on the key keeps a 409 naming the token instead, and those kept before go. */
    "DELETE FROM idempotency WHERE method = 'POST' AND path LIKE '/v1/admin/users/%/tokens';",
    /* 17: job retention: the purge finds ended jobs past the cutoff by their end, without reading the
     * jobs that are kept. */
    "CREATE INDEX jobs_ended ON jobs(ended_at) WHERE status IN ('succeeded', 'failed', 'canceled');",
    /* 18: the usage close reads each VM's rows within the period it closes, without reading the VM's
     * history before it. */
    "CREATE INDEX vm_timeline_vm_at ON vm_timeline(vm_id, at_ms);",
};

int
sqlite__migrate(store_db_t *db, store_conn_t *c, err_t *err)
{
    sqlite3_stmt *s = NULL;
    int version = 0, target = (int) (sizeof(migrations) / sizeof(migrations[0])), rc;
    char sql[64];

    if (sqlite__exec(c, "BEGIN IMMEDIATE;", err))
        return -1;
    rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version;", -1, &s, NULL);
    if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
        sqlite__db_err(c->db, rc, "reading the schema version", err);
        goto fail;
    }
    version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (db->migrate_to > 0 && db->migrate_to < target)
        target = db->migrate_to;
    if (version > target) {
        err_set(err, ERR_INTERNAL, NULL,
                "The database is at schema version %d, newer than this wapd knows (%d).", version,
                target);
        goto fail;
    }
    for (; version < target; version++) {
        if (sqlite__exec(c, migrations[version], err))
            goto fail;
    }
    snprintf(sql, sizeof(sql), "PRAGMA user_version=%d;", version);
    if (sqlite__exec(c, sql, err) || sqlite__exec(c, "COMMIT;", err))
        goto fail;
    db->schema_version = version;
    return 0;
fail:
    sqlite3_finalize(s);
    sqlite3_exec(c->db, "ROLLBACK;", NULL, NULL, NULL);
    return -1;
}
