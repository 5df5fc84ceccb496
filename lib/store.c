/*
 * store.c: the SQLite backend of the store.
 *
 * Invariants:
 * - WAL journal, synchronous=FULL, foreign keys on: a COMMIT that returned is on disk, so an answer sent after
 *   it survives kill -9 and power loss.
 * - One connection per thread (a pthread key per store), each with a cache of prepared statements keyed by
 *   their SQL text; statements are reset after every use, never finalized until the store closes.
 * - Every table has `seq` (position, INTEGER PRIMARY KEY, never reused: AUTOINCREMENT), `id` (UUID text),
 *   and `rev` (revision, +1 on every update).
 * - Records are mapped to rows by the kind's column table; nested API fields ("capacity.cores") map to
 *   flat columns, JSON-valued fields (lists, quota objects) to text columns.
 */
#include "store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store_internal.h"
#include "util.h"

typedef enum {
    COL_TEXT,
    COL_INT,
    COL_BOOL,
    COL_JSON,
} col_type_t;

#define COL_IMMUTABLE 1u /* written by insert only */

typedef struct {
    const char *field;  /* API name; one dot allowed for a nested field */
    const char *column; /* SQL column */
    col_type_t type;
    unsigned flags;
} store_col_t;

struct store_kind {
    int index; /* 0 .. STORE_KINDS - 1: the kind's slot in the change counters */
    const char *table;
    const char *what; /* for messages: "cloud", "host" … */
    const store_col_t *cols;
    size_t ncols;
};

#define STORE_KINDS 16 /* bits of conn_t.written */
#define KIND(var, idx, tbl, noun, arr)                                                             \
    const store_kind_t var = {idx, tbl, noun, arr, sizeof(arr) / sizeof(arr[0])}

static const store_col_t cloud_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"name", "name", COL_TEXT, 0},
    {"description", "description", COL_TEXT, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"updatedAt", "updated_at", COL_TEXT, 0},
};
KIND(store_kind_cloud, 0, "clouds", "cloud", cloud_cols);

static const store_col_t host_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"name", "name", COL_TEXT, 0},
    {"cloudId", "cloud_id", COL_TEXT, 0},
    {"agent.kind", "agent_kind", COL_TEXT, 0},
    {"agent.uri", "agent_uri", COL_TEXT, 0},
    {"capacity.cores", "cap_cores", COL_INT, 0},
    {"capacity.memoryMB", "cap_memory_mb", COL_INT, 0},
    {"capacity.storageGB", "cap_storage_gb", COL_INT, 0},
    /* Changed only by store_host_allocate, never by a record update (which could undo a concurrent
     * placement). */
    {"allocated.cores", "alloc_cores", COL_INT, COL_IMMUTABLE},
    {"allocated.memoryMB", "alloc_memory_mb", COL_INT, COL_IMMUTABLE},
    {"allocated.storageGB", "alloc_storage_gb", COL_INT, COL_IMMUTABLE},
    {"state", "state", COL_TEXT, 0},
    {"lastSeenAt", "last_seen_at", COL_TEXT, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"updatedAt", "updated_at", COL_TEXT, 0},
};
KIND(store_kind_host, 1, "hosts", "host", host_cols);

static const store_col_t size_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"name", "name", COL_TEXT, 0},
    {"cores", "cores", COL_INT, 0},
    {"memoryMB", "memory_mb", COL_INT, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"updatedAt", "updated_at", COL_TEXT, 0},
};
KIND(store_kind_size, 2, "sizes", "size", size_cols);

static const store_col_t image_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"name", "name", COL_TEXT, 0},
    {"osType", "os_type", COL_TEXT, 0},
    {"generation", "generation", COL_INT, 0},
    {"osDiskGB", "os_disk_gb", COL_INT, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"updatedAt", "updated_at", COL_TEXT, 0},
};
KIND(store_kind_image, 3, "images", "image", image_cols);

static const store_col_t gallery_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"name", "name", COL_TEXT, 0},
    {"version", "item_version", COL_TEXT, 0},
    {"imageId", "image_id", COL_TEXT, 0},
    {"defaultSize", "default_size", COL_TEXT, 0},
    {"minInstances", "min_instances", COL_INT, 0},
    {"maxInstances", "max_instances", COL_INT, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"updatedAt", "updated_at", COL_TEXT, 0},
};
KIND(store_kind_gallery_item, 4, "gallery_items", "gallery item", gallery_cols);

static const store_col_t plan_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"name", "name", COL_TEXT, 0},
    {"cloudId", "cloud_id", COL_TEXT, 0},
    {"state", "state", COL_TEXT, 0},
    {"quotas", "quotas", COL_JSON, 0},
    {"imageIds", "image_ids", COL_JSON, 0},
    {"sizeNames", "size_names", COL_JSON, 0},
    {"galleryItemIds", "gallery_item_ids", COL_JSON, 0},
    {"checkpointMode", "checkpoint_mode", COL_TEXT, 0},
    {"checkpointRetentionHours", "checkpoint_retention_hours", COL_INT, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"updatedAt", "updated_at", COL_TEXT, 0},
};
KIND(store_kind_plan, 5, "plans", "plan", plan_cols);

static const store_col_t user_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"email", "email", COL_TEXT, 0},
    {"name", "name", COL_TEXT, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"updatedAt", "updated_at", COL_TEXT, 0},
};
KIND(store_kind_user, 6, "users", "user", user_cols);

static const store_col_t token_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"userId", "user_id", COL_TEXT, COL_IMMUTABLE},
    {"hash", "hash", COL_TEXT, COL_IMMUTABLE},
    {"expiresAt", "expires_at", COL_TEXT, 0},
    {"revokedAt", "revoked_at", COL_TEXT, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
};
KIND(store_kind_token, 7, "tokens", "token", token_cols);

static const store_col_t subscription_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"userId", "user_id", COL_TEXT, COL_IMMUTABLE},
    {"planId", "plan_id", COL_TEXT, 0},
    {"displayName", "display_name", COL_TEXT, 0},
    {"state", "state", COL_TEXT, 0},
    {"checkpointMode", "checkpoint_mode", COL_TEXT, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"updatedAt", "updated_at", COL_TEXT, 0},
    /* Read with the record; changed only by store_usage_adjust and store_usage_set. */
    {"usage.vms", "usage_vms", COL_INT, COL_IMMUTABLE},
    {"usage.cores", "usage_cores", COL_INT, COL_IMMUTABLE},
    {"usage.memoryMB", "usage_memory_mb", COL_INT, COL_IMMUTABLE},
    {"usage.storageGB", "usage_storage_gb", COL_INT, COL_IMMUTABLE},
    {"usage.vmRoles", "usage_vm_roles", COL_INT, COL_IMMUTABLE},
    {"usage.networks", "usage_networks", COL_INT, COL_IMMUTABLE},
};
KIND(store_kind_subscription, 8, "subscriptions", "subscription", subscription_cols);

static const store_col_t job_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"kind", "kind", COL_TEXT, COL_IMMUTABLE},
    {"status", "status", COL_TEXT, 0},
    {"resourceId", "resource_id", COL_TEXT, 0},
    {"subscriptionId", "subscription_id", COL_TEXT, 0},
    {"progress", "progress", COL_INT, 0},
    {"steps", "steps", COL_JSON, 0},
    {"error", "error", COL_JSON, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"startedAt", "started_at", COL_TEXT, 0},
    {"endedAt", "ended_at", COL_TEXT, 0},
    /* The engine's own fields (job.c keeps them out of the API's view). */
    {"_params", "params", COL_JSON, COL_IMMUTABLE},
    {"_data", "data", COL_JSON, 0},
    {"_lockKey", "lock_key", COL_TEXT, COL_IMMUTABLE},
    {"_runAfterMs", "run_after_ms", COL_INT, 0},
    {"_deadlineMs", "deadline_ms", COL_INT, 0},
    {"_attempts", "attempts", COL_INT, 0},
    {"_epoch", "epoch", COL_INT, 0},
};
KIND(store_kind_job, 9, "jobs", "job", job_cols);

static const store_col_t vm_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"name", "name", COL_TEXT, 0},
    {"subscriptionId", "subscription_id", COL_TEXT, COL_IMMUTABLE},
    {"size", "size", COL_TEXT, 0},
    {"cores", "cores", COL_INT, 0},
    {"memoryMB", "memory_mb", COL_INT, 0},
    {"imageId", "image_id", COL_TEXT, COL_IMMUTABLE},
    {"generation", "generation", COL_INT, COL_IMMUTABLE},
    {"osType", "os_type", COL_TEXT, COL_IMMUTABLE},
    {"vmRoleId", "vm_role_id", COL_TEXT, 0},
    {"provisioningState", "provisioning_state", COL_TEXT, 0},
    {"powerState", "power_state", COL_TEXT, 0},
    {"disks", "disks", COL_JSON, 0},
    {"nics", "nics", COL_JSON, 0},
    {"checkpoint", "checkpoint", COL_JSON, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"updatedAt", "updated_at", COL_TEXT, 0},
    {"hostId", "host_id", COL_TEXT, 0},
    {"hypervisorId", "hypervisor_id", COL_TEXT, 0},
    /* What the VM holds, so that holdings can be released exactly and recomputed. */
    {"_storageGB", "storage_gb", COL_INT, 0},
    {"_holdsCompute", "holds_compute", COL_BOOL, 0},
    {"_holdsStorage", "holds_storage", COL_BOOL, 0},
    {"_counted", "counted", COL_BOOL, 0},
};
KIND(store_kind_vm, 10, "vms", "VM", vm_cols);

static const store_col_t network_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"subscriptionId", "subscription_id", COL_TEXT, COL_IMMUTABLE},
    {"name", "name", COL_TEXT, 0},
    {"addressPrefix", "address_prefix", COL_TEXT, COL_IMMUTABLE},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"updatedAt", "updated_at", COL_TEXT, 0},
};
KIND(store_kind_network, 11, "networks", "network", network_cols);

static const store_col_t vmrole_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"name", "name", COL_TEXT, COL_IMMUTABLE},
    {"subscriptionId", "subscription_id", COL_TEXT, COL_IMMUTABLE},
    {"galleryItemId", "gallery_item_id", COL_TEXT, COL_IMMUTABLE},
    {"size", "size", COL_TEXT, 0},
    {"networkId", "network_id", COL_TEXT, COL_IMMUTABLE},
    {"instanceCount", "instance_count", COL_INT, 0},
    {"provisioningState", "provisioning_state", COL_TEXT, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"updatedAt", "updated_at", COL_TEXT, 0},
};
KIND(store_kind_vmrole, 12, "vm_roles", "VM role", vmrole_cols);

static const store_col_t hook_cols[] = {
    {"id", "id", COL_TEXT, COL_IMMUTABLE},
    {"url", "url", COL_TEXT, 0},
    {"events", "events", COL_JSON, 0},
    {"secret", "secret", COL_TEXT, 0}, /* write-only: lib/hooks.c keeps it out of every view */
    {"active", "active", COL_BOOL, 0},
    {"description", "description", COL_TEXT, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE},
    {"updatedAt", "updated_at", COL_TEXT, 0},
};
KIND(store_kind_hook, 13, "hooks", "hook", hook_cols);

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
};

#define STMT_BUCKETS 256

typedef struct stmt_entry {
    char *sql;
    sqlite3_stmt *stmt;
    struct stmt_entry *next;
} stmt_entry_t;

/* Statements of the generic record operations, found by (kind, operation, detail) without building their
 * SQL text again. */
#define QCACHE_SLOTS 256

typedef enum {
    Q_INSERT,
    Q_SELECT_BY, /* detail: column index */
    Q_UPDATE,    /* detail: 1 when the revision is checked */
    Q_DELETE,    /* detail: 1 when the revision is checked */
} qop_t;

typedef struct {
    const store_kind_t *kind;
    int op, detail;
    sqlite3_stmt *stmt; /* owned by the text cache */
} qslot_t;

/* The record cache: single-record reads (by id, or by one field such as a token's hash) of each thread,
 * kept while their kind has not changed. Each kind has a change counter in the store, bumped after every
 * commit that wrote it; an entry is tagged with the counter as it was before its row was read, and is used
 * only while the counter still has that value. So a hit is never older than the last commit, and a write
 * (a revoked token, a changed plan) is seen by every thread's next read. */
#define RCACHE_SLOTS 512

typedef struct {
    const store_kind_t *kind;
    int col;
    char *value;
    json_t *rec;
    int64_t rev;
    uint64_t tag;
} rslot_t;

#define ON_COMMIT_MAX 16

typedef struct {
    void (*fn)(void *arg);
    void *arg;
} on_commit_t;

struct conn {
    sqlite3 *db;
    int tx_depth;
    on_commit_t on_commit[ON_COMMIT_MAX];
    int n_on_commit;
    bool tx_write;                 /* the open transaction may write: bypass the record cache */
    bool tx_large;                 /* the open transaction has the large page cache */
    bool tx_gate;                  /* the open transaction holds the write gate */
    unsigned written;              /* kinds written in the open transaction (bit per kind index) */
    uint64_t tx_gen[STORE_KINDS];  /* change counters when the open read transaction began */
    stmt_entry_t *buckets[STMT_BUCKETS];
    qslot_t q[QCACHE_SLOTS];
    rslot_t rc[RCACHE_SLOTS];
    struct conn *next;
};

/* A writer waiting at the gate (see gate_enter). */
typedef struct gate_waiter {
    pthread_cond_t cv;
    struct gate_waiter *next;
} gate_waiter_t;

struct store {
    char *path;
    int busy_timeout_ms;
    int migrate_to;
    /* The write gate: this process's write transactions take turns in arrival order. */
    pthread_mutex_t gate_lock;
    bool gate_held;
    gate_waiter_t *gate_head, *gate_tail;
    pthread_key_t key;
    pthread_mutex_t lock; /* guards conns and fail_countdown */
    conn_t *conns;
    long fail_countdown;
    int schema_version;
    uint64_t gen[STORE_KINDS]; /* change counters, atomic */
    uint64_t reads[STORE_KINDS]; /* single-record reads asked of the store, atomic (store__reads) */
};

/* ---- connections and statements ---- */

static int
db_err(sqlite3 *db, int rc, const char *doing, err_t *err)
{
    int ext = db ? sqlite3_extended_errcode(db) : rc;

    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return err_set(err, ERR_CONFLICT, NULL, "A record with the same unique value already exists.");
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
        return err_set(err, ERR_CONFLICT, NULL,
                       "The change conflicts with records that refer to, or are referred by, it.");
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return err_set(err, ERR_UNAVAILABLE, NULL, "The database is busy; retry the request.");
    fprintf(stderr,
            "{\"level\":\"error\",\"msg\":\"database error\",\"doing\":\"%s\",\"code\":%d,"
            "\"detail\":\"%s\"}\n",
            doing, ext, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return err_set(err, ERR_INTERNAL, NULL, "The database failed while %s.", doing);
}

static int
injected_failure(store_t *st, err_t *err)
{
    int fail = 0;

    if (__atomic_load_n(&st->fail_countdown, __ATOMIC_RELAXED) == 0)
        return 0;
    pthread_mutex_lock(&st->lock);
    if (st->fail_countdown > 0 && --st->fail_countdown == 0)
        fail = 1;
    pthread_mutex_unlock(&st->lock);
    if (fail)
        return err_set(err, ERR_INTERNAL, NULL, "The database failed (injected fault).");
    return 0;
}

void
store__fail_call(store_t *st, long n)
{
    pthread_mutex_lock(&st->lock);
    st->fail_countdown = n;
    pthread_mutex_unlock(&st->lock);
}

static int
conn_exec(conn_t *c, const char *sql, err_t *err)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return db_err(c->db, rc, "running a statement", err);
    return 0;
}

static sqlite3_stmt *stmt_get(conn_t *c, const char *sql, err_t *err);
static void stmt_done(sqlite3_stmt *s);

/* Runs one statement (BEGIN, COMMIT, SAVEPOINT …) through the statement cache. */
static int
conn_run(conn_t *c, const char *sql, err_t *err)
{
    sqlite3_stmt *s = stmt_get(c, sql, err);
    int rc;

    if (s == NULL)
        return -1;
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_err(c->db, rc, "running a statement", err);
    return 0;
}

static conn_t *
conn_open(store_t *st, err_t *err)
{
    conn_t *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    rc = sqlite3_open_v2(st->path, &c->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, NULL, "The database could not be opened: %s.",
                c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, st->busy_timeout_ms);
    sqlite3_extended_result_codes(c->db, 1);
    if (conn_exec(c, "PRAGMA journal_mode=WAL;", err) ||
        conn_exec(c, "PRAGMA synchronous=FULL;", err) ||
        conn_exec(c, "PRAGMA foreign_keys=ON;", err)) {
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    return c;
}

static void
conn_free(conn_t *c)
{
    stmt_entry_t *e, *n;
    int i;

    for (i = 0; i < RCACHE_SLOTS; i++) {
        free(c->rc[i].value);
        json_decref(c->rc[i].rec);
    }
    for (i = 0; i < STMT_BUCKETS; i++) {
        for (e = c->buckets[i]; e; e = n) {
            n = e->next;
            sqlite3_finalize(e->stmt);
            free(e->sql);
            free(e);
        }
    }
    sqlite3_close(c->db);
    free(c);
}

static conn_t *
store_conn(store_t *st, err_t *err)
{
    conn_t *c = pthread_getspecific(st->key);

    if (c != NULL)
        return c;
    c = conn_open(st, err);
    if (c == NULL)
        return NULL;
    pthread_setspecific(st->key, c);
    pthread_mutex_lock(&st->lock);
    c->next = st->conns;
    st->conns = c;
    pthread_mutex_unlock(&st->lock);
    return c;
}

/* Hot: every statement run looks itself up here. The length and the text's two ends tell statements
 * apart well enough for a bucket; the comparison on lookup decides. */
static unsigned
sql_hash(const char *s)
{
    size_t n = strlen(s), i, k = n < 48 ? n : 48;
    unsigned h = 2166136261u ^ (unsigned) n;

    for (i = 0; i < k; i++)
        h = (h ^ (unsigned char) s[i]) * 16777619u;
    for (i = n - k; i < n; i++)
        h = (h ^ (unsigned char) s[i]) * 16777619u;
    return h;
}

/* A reset prepared statement for sql, from the connection's cache. Borrowed: call stmt_done after use. */
static sqlite3_stmt *
stmt_get(conn_t *c, const char *sql, err_t *err)
{
    unsigned b = sql_hash(sql) % STMT_BUCKETS;
    stmt_entry_t *e;
    sqlite3_stmt *s = NULL;
    int rc;

    for (e = c->buckets[b]; e; e = e->next)
        if (strcmp(e->sql, sql) == 0)
            return e->stmt;
    rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK) {
        db_err(c->db, rc, "preparing a statement", err);
        return NULL;
    }
    e = malloc(sizeof(*e));
    if (e == NULL || (e->sql = strdup(sql)) == NULL) {
        free(e);
        sqlite3_finalize(s);
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    e->stmt = s;
    e->next = c->buckets[b];
    c->buckets[b] = e;
    return s;
}

static void
stmt_done(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

static unsigned
qslot_index(const store_kind_t *kind, int op, int detail)
{
    uintptr_t h = (uintptr_t) kind;

    h = (h >> 4) * 31u + (unsigned) op * 7u + (unsigned) detail;
    return (unsigned) (h % QCACHE_SLOTS);
}

/* The cached statement for (kind, op, detail), or NULL when it has not been prepared yet. */
static sqlite3_stmt *
qcache_get(conn_t *c, const store_kind_t *kind, int op, int detail)
{
    unsigned i = qslot_index(kind, op, detail), n;

    for (n = 0; n < QCACHE_SLOTS; n++, i = (i + 1) % QCACHE_SLOTS) {
        if (c->q[i].kind == NULL)
            return NULL;
        if (c->q[i].kind == kind && c->q[i].op == op && c->q[i].detail == detail)
            return c->q[i].stmt;
    }
    return NULL;
}

static void
qcache_put(conn_t *c, const store_kind_t *kind, int op, int detail, sqlite3_stmt *stmt)
{
    unsigned i = qslot_index(kind, op, detail), n;

    for (n = 0; n < QCACHE_SLOTS; n++, i = (i + 1) % QCACHE_SLOTS) {
        if (c->q[i].kind == NULL) {
            c->q[i].kind = kind;
            c->q[i].op = op;
            c->q[i].detail = detail;
            c->q[i].stmt = stmt;
            return;
        }
    }
    /* Full: the statement stays reachable through the text cache. */
}

/* Runs a statement that returns no rows. Returns sqlite3_changes() or -1. */
static int
stmt_run(conn_t *c, sqlite3_stmt *s, const char *doing, err_t *err)
{
    int rc = sqlite3_step(s);

    if (rc != SQLITE_DONE) {
        db_err(c->db, rc, doing, err);
        stmt_done(s);
        return -1;
    }
    stmt_done(s);
    return sqlite3_changes(c->db);
}

/* ---- open, close, checks ---- */

static int
store_migrate(store_t *st, conn_t *c, err_t *err)
{
    sqlite3_stmt *s = NULL;
    int version = 0, target = (int) (sizeof(migrations) / sizeof(migrations[0])), rc;
    char sql[64];

    if (conn_exec(c, "BEGIN IMMEDIATE;", err))
        return -1;
    rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version;", -1, &s, NULL);
    if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
        db_err(c->db, rc, "reading the schema version", err);
        goto fail;
    }
    version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (st->migrate_to > 0 && st->migrate_to < target)
        target = st->migrate_to;
    if (version > target) {
        err_set(err, ERR_INTERNAL, NULL,
                "The database is at schema version %d, newer than this wapd knows (%d).", version,
                target);
        goto fail;
    }
    for (; version < target; version++) {
        if (conn_exec(c, migrations[version], err))
            goto fail;
    }
    snprintf(sql, sizeof(sql), "PRAGMA user_version=%d;", version);
    if (conn_exec(c, sql, err) || conn_exec(c, "COMMIT;", err))
        goto fail;
    st->schema_version = version;
    return 0;
fail:
    sqlite3_finalize(s);
    sqlite3_exec(c->db, "ROLLBACK;", NULL, NULL, NULL);
    return -1;
}

static int
store_check(conn_t *c, const char *pragma, err_t *err)
{
    sqlite3_stmt *s = NULL;
    int rc, ok = 0;

    rc = sqlite3_prepare_v2(c->db, pragma, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return db_err(c->db, rc, "checking the database", err);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        ok = t && strcmp((const char *) t, "ok") == 0;
        if (!ok)
            err_set(err, ERR_INTERNAL, NULL, "The database check failed: %s.",
                    t ? (const char *) t : "no answer");
    } else {
        db_err(c->db, rc, "checking the database", err);
    }
    sqlite3_finalize(s);
    return ok ? 0 : -1;
}

static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void
sqlite_configure(void)
{
    /* SQLite's memory statistics serialize every allocation of every connection on one global mutex;
     * connections here are per thread (SQLITE_OPEN_NOMUTEX), so they need no shared lock at all. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    sqlite3_initialize();
}

store_t *
store_open(const char *path, const store_options_t *opts, err_t *err)
{
    store_t *st;
    conn_t *c;

    pthread_once(&sqlite_once, sqlite_configure);
    st = calloc(1, sizeof(*st));

    if (st == NULL || (st->path = strdup(path)) == NULL) {
        free(st);
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    st->busy_timeout_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    st->migrate_to = opts ? opts->migrate_to : 0;
    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->gate_lock, NULL);
    if (pthread_key_create(&st->key, NULL) != 0) {
        pthread_mutex_destroy(&st->lock);
        pthread_mutex_destroy(&st->gate_lock);
        free(st->path);
        free(st);
        err_set(err, ERR_INTERNAL, NULL, "No thread key is left for the store.");
        return NULL;
    }
    c = store_conn(st, err);
    if (c == NULL || store_check(c, "PRAGMA quick_check;", err) || store_migrate(st, c, err)) {
        store_close(st);
        return NULL;
    }
    return st;
}

void
store_close(store_t *st)
{
    conn_t *c, *n;

    if (st == NULL)
        return;
    for (c = st->conns; c; c = n) {
        n = c->next;
        conn_free(c);
    }
    pthread_key_delete(st->key);
    pthread_mutex_destroy(&st->lock);
    pthread_mutex_destroy(&st->gate_lock);
    free(st->path);
    free(st);
}

int
store_schema_version(store_t *st)
{
    return st->schema_version;
}

int
store_ping(store_t *st, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;
    int rc;

    if (c == NULL || (s = stmt_get(c, "SELECT 1;", err)) == NULL)
        return -1;
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_ROW)
        return db_err(c->db, rc, "answering a ping", err);
    return 0;
}

int
store_integrity_check(store_t *st, err_t *err)
{
    conn_t *c = store_conn(st, err);

    if (c == NULL)
        return -1;
    return store_check(c, "PRAGMA integrity_check;", err);
}

/* ---- change counters and the record cache ---- */

static uint64_t
gen_now(store_t *st, const store_kind_t *kind)
{
    return __atomic_load_n(&st->gen[kind->index], __ATOMIC_ACQUIRE);
}

/* After a successful write of kind: bump now (autocommit) or when the transaction commits. */
static void
note_write(store_t *st, conn_t *c, const store_kind_t *kind)
{
    if (c->tx_depth == 0)
        __atomic_add_fetch(&st->gen[kind->index], 1, __ATOMIC_ACQ_REL);
    else
        c->written |= 1u << kind->index;
}

static void
bump_written(store_t *st, conn_t *c)
{
    int k;

    for (k = 0; k < STORE_KINDS; k++)
        if (c->written & (1u << k))
            __atomic_add_fetch(&st->gen[k], 1, __ATOMIC_ACQ_REL);
    c->written = 0;
}

static unsigned
rslot_index(const store_kind_t *kind, int col, const char *value)
{
    unsigned h = 2166136261u ^ (unsigned) kind->index ^ ((unsigned) col << 8);

    for (; *value; value++)
        h = (h ^ (unsigned char) *value) * 16777619u;
    return h % RCACHE_SLOTS;
}

/* The cached record for (kind, col, value) if it is still current: a copy, or with shared a new reference
 * to the cached record itself (which nobody may modify). */
static json_t *
rcache_get(conn_t *c, const store_kind_t *kind, int col, const char *value, uint64_t current,
           bool shared, int64_t *rev)
{
    rslot_t *e = &c->rc[rslot_index(kind, col, value)];

    if (e->rec == NULL || e->kind != kind || e->col != col || e->tag != current ||
        strcmp(e->value, value) != 0)
        return NULL;
    if (rev)
        *rev = e->rev;
    return shared ? json_incref(e->rec) : json_deep_copy(e->rec);
}

/* Caches rec: a copy of it, or with shared rec itself (a new reference). */
static void
rcache_put(conn_t *c, const store_kind_t *kind, int col, const char *value, json_t *rec,
           int64_t rev, uint64_t tag, bool shared)
{
    rslot_t *e = &c->rc[rslot_index(kind, col, value)];
    char *v = strdup(value);
    json_t *copy = shared ? json_incref(rec) : json_deep_copy(rec);

    if (v == NULL || copy == NULL) {
        free(v);
        json_decref(copy);
        return;
    }
    free(e->value);
    json_decref(e->rec);
    e->kind = kind;
    e->col = col;
    e->value = v;
    e->rec = copy;
    e->rev = rev;
    e->tag = tag;
}

/* ---- transactions ---- */

static void
run_on_commit(conn_t *c)
{
    on_commit_t hooks[ON_COMMIT_MAX];
    int n = c->n_on_commit, i;

    memcpy(hooks, c->on_commit, sizeof(hooks[0]) * (size_t) n);
    c->n_on_commit = 0;
    for (i = 0; i < n; i++)
        hooks[i].fn(hooks[i].arg);
}

int
store_tx_on_commit(store_t *st, void (*fn)(void *arg), void *arg, err_t *err)
{
    conn_t *c = store_conn(st, err);
    int i;

    if (c == NULL)
        return -1;
    if (c->tx_depth == 0) {
        fn(arg);
        return 0;
    }
    for (i = 0; i < c->n_on_commit; i++)
        if (c->on_commit[i].fn == fn && c->on_commit[i].arg == arg)
            return 0; /* once per transaction is enough */
    if (c->n_on_commit == ON_COMMIT_MAX)
        return err_set(err, ERR_INTERNAL, NULL, "Too many commit hooks in one transaction.");
    c->on_commit[c->n_on_commit].fn = fn;
    c->on_commit[c->n_on_commit].arg = arg;
    c->n_on_commit++;
    return 0;
}

/* The write gate. SQLite lets one writer in at a time, and a writer that finds the database locked sleeps
 * and polls, so a thread that writes transaction after transaction (the usage closer's chunks) can take the
 * lock again and again before a waiting request wakes up. The gate hands write transactions of this
 * process out in arrival order instead: a request waits for at most the transactions queued before it.
 * Waiting is bounded by the busy timeout, like waiting for SQLite's lock (503 Unavailable). */
static int
gate_enter(store_t *st, err_t *err)
{
    gate_waiter_t me = {.next = NULL};
    struct timespec deadline;
    int rc = 0;

    pthread_mutex_lock(&st->gate_lock);
    if (!st->gate_held && st->gate_head == NULL) {
        st->gate_held = true;
        pthread_mutex_unlock(&st->gate_lock);
        return 0;
    }
    pthread_cond_init(&me.cv, NULL);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += st->busy_timeout_ms / 1000;
    deadline.tv_nsec += (long) (st->busy_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    if (st->gate_tail)
        st->gate_tail->next = &me;
    else
        st->gate_head = &me;
    st->gate_tail = &me;
    while (st->gate_held || st->gate_head != &me) {
        if (pthread_cond_timedwait(&me.cv, &st->gate_lock, &deadline) != 0 &&
            (st->gate_held || st->gate_head != &me)) {
            rc = -1;
            break;
        }
    }
    /* Leave the queue, holding the gate or not. */
    if (st->gate_head == &me) {
        st->gate_head = me.next;
    } else {
        gate_waiter_t *w = st->gate_head;
        while (w && w->next != &me)
            w = w->next;
        if (w)
            w->next = me.next;
    }
    if (st->gate_tail == &me) {
        gate_waiter_t *w = st->gate_head;
        while (w && w->next)
            w = w->next;
        st->gate_tail = w;
    }
    if (rc == 0)
        st->gate_held = true;
    else if (!st->gate_held && st->gate_head)
        pthread_cond_signal(&st->gate_head->cv);
    pthread_mutex_unlock(&st->gate_lock);
    pthread_cond_destroy(&me.cv);
    if (rc)
        return err_set(err, ERR_UNAVAILABLE, NULL, "The database is busy; retry the request.");
    return 0;
}

int
store__gate_waiters(store_t *st)
{
    const gate_waiter_t *w;
    int n = 0;

    pthread_mutex_lock(&st->gate_lock);
    for (w = st->gate_head; w; w = w->next)
        n++;
    pthread_mutex_unlock(&st->gate_lock);
    return n;
}

static void
gate_leave(store_t *st, conn_t *c)
{
    if (!c->tx_gate)
        return;
    c->tx_gate = false;
    pthread_mutex_lock(&st->gate_lock);
    st->gate_held = false;
    if (st->gate_head)
        pthread_cond_signal(&st->gate_head->cv);
    pthread_mutex_unlock(&st->gate_lock);
}

int
store_tx_begin(store_t *st, err_t *err)
{
    conn_t *c = store_conn(st, err);
    char sql[48];

    if (c == NULL || injected_failure(st, err))
        return -1;
    if (c->tx_depth == 0) {
        if (gate_enter(st, err))
            return -1;
        c->tx_gate = true;
        if (conn_run(c, "BEGIN IMMEDIATE;", err)) {
            gate_leave(st, c);
            return -1;
        }
        c->tx_write = true;
        c->written = 0;
    } else {
        snprintf(sql, sizeof(sql), "SAVEPOINT sp%d;", c->tx_depth);
        if (conn_run(c, sql, err))
            return -1;
    }
    c->tx_depth++;
    return 0;
}

int
store_tx_begin_read(store_t *st, err_t *err)
{
    conn_t *c = store_conn(st, err);
    int k;

    if (c == NULL || injected_failure(st, err))
        return -1;
    if (c->tx_depth > 0)
        return err_set(err, ERR_INTERNAL, NULL, "A read transaction cannot nest.");
    /* Read the counters before the snapshot exists (it is taken at the first read), so that every
     * record this transaction reads is at least as new as the counters say. */
    for (k = 0; k < STORE_KINDS; k++)
        c->tx_gen[k] = __atomic_load_n(&st->gen[k], __ATOMIC_ACQUIRE);
    if (conn_run(c, "BEGIN DEFERRED;", err))
        return -1;
    c->tx_write = false;
    c->written = 0;
    c->tx_depth++;
    return 0;
}

#define LARGE_CACHE_KIB 131072 /* a large transaction's page cache */

int
store_tx_begin_large(store_t *st, err_t *err)
{
    conn_t *c;
    char sql[48];

    if (store_tx_begin(st, err))
        return -1;
    c = store_conn(st, err);
    if (c->tx_depth == 1) {
        snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d;", LARGE_CACHE_KIB);
        if (conn_exec(c, sql, NULL) == 0)
            c->tx_large = true;
    }
    return 0;
}

/* After the outermost transaction: a large one gives its page cache back. */
static void
end_large(conn_t *c)
{
    if (c->tx_large) {
        conn_exec(c, "PRAGMA cache_size=-2000;", NULL);
        c->tx_large = false;
    }
}

int
store_tx_commit(store_t *st, err_t *err)
{
    conn_t *c = store_conn(st, err);
    char sql[48];

    if (c == NULL)
        return -1;
    if (c->tx_depth <= 0)
        return err_set(err, ERR_INTERNAL, NULL, "No transaction is open.");
    if (c->tx_depth == 1) {
        if (conn_run(c, "COMMIT;", err)) {
            sqlite3_exec(c->db, "ROLLBACK;", NULL, NULL, NULL);
            c->tx_depth = 0;
            c->tx_write = false;
            c->written = 0;
            c->n_on_commit = 0;
            end_large(c);
            gate_leave(st, c);
            return -1;
        }
        bump_written(st, c);
        c->tx_write = false;
        end_large(c);
        gate_leave(st, c);
        run_on_commit(c);
    } else {
        snprintf(sql, sizeof(sql), "RELEASE sp%d;", c->tx_depth - 1);
        if (conn_run(c, sql, err))
            return -1;
    }
    c->tx_depth--;
    return 0;
}

void
store_tx_rollback(store_t *st)
{
    conn_t *c = store_conn(st, NULL);
    char sql[64];

    if (c == NULL || c->tx_depth <= 0)
        return;
    if (c->tx_depth == 1) {
        if (conn_run(c, "ROLLBACK;", NULL))
            sqlite3_exec(c->db, "ROLLBACK;", NULL, NULL, NULL);
        c->tx_write = false;
        c->written = 0;
        c->n_on_commit = 0;
        end_large(c);
        gate_leave(st, c);
    } else {
        snprintf(sql, sizeof(sql), "ROLLBACK TO sp%d; RELEASE sp%d;", c->tx_depth - 1,
                 c->tx_depth - 1);
        sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    }
    c->tx_depth--;
}

/* ---- record mapping ---- */

/* The value at field (one level of nesting allowed) of rec; borrowed, NULL when absent. */
static json_t *
rec_field(const json_t *rec, const char *field)
{
    const char *dot = strchr(field, '.');
    char head[64];
    json_t *obj;

    if (dot == NULL)
        return json_object_get(rec, field);
    snprintf(head, sizeof(head), "%.*s", (int) (dot - field), field);
    obj = json_object_get(rec, head);
    return json_is_object(obj) ? json_object_get(obj, dot + 1) : NULL;
}

static void
rec_set(json_t *rec, const char *field, json_t *value /* stolen */)
{
    const char *dot = strchr(field, '.');
    char head[64];
    json_t *obj;

    if (dot == NULL) {
        json_object_set_new(rec, field, value);
        return;
    }
    snprintf(head, sizeof(head), "%.*s", (int) (dot - field), field);
    obj = json_object_get(rec, head);
    if (!json_is_object(obj)) {
        obj = json_object();
        json_object_set_new(rec, head, obj);
    }
    json_object_set_new(obj, dot + 1, value);
}

static int
bind_value(sqlite3_stmt *s, int idx, const store_col_t *col, const json_t *v, err_t *err)
{
    char *text;
    int rc;

    if (v == NULL || json_is_null(v))
        return sqlite3_bind_null(s, idx) == SQLITE_OK ? 0 : -1;
    switch (col->type) {
    case COL_TEXT:
        if (!json_is_string(v))
            return err_set(err, ERR_INTERNAL, col->field, "Field %s must be a string.", col->field);
        rc = sqlite3_bind_text(s, idx, json_string_value(v), (int) json_string_length(v),
                               SQLITE_TRANSIENT);
        break;
    case COL_INT:
        if (!json_is_integer(v))
            return err_set(err, ERR_INTERNAL, col->field, "Field %s must be an integer.",
                           col->field);
        rc = sqlite3_bind_int64(s, idx, json_integer_value(v));
        break;
    case COL_BOOL:
        rc = sqlite3_bind_int(s, idx, json_is_true(v) ? 1 : 0);
        break;
    case COL_JSON:
        text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL)
            return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        rc = sqlite3_bind_text(s, idx, text, -1, free);
        break;
    default:
        rc = SQLITE_MISUSE;
    }
    if (rc != SQLITE_OK)
        return err_set(err, ERR_INTERNAL, NULL, "A value could not be bound.");
    return 0;
}

static json_t *
column_value(sqlite3_stmt *s, int idx, const store_col_t *col)
{
    const char *text;

    if (sqlite3_column_type(s, idx) == SQLITE_NULL)
        return json_null();
    switch (col->type) {
    case COL_TEXT:
        return json_stringn((const char *) sqlite3_column_text(s, idx),
                            (size_t) sqlite3_column_bytes(s, idx));
    case COL_INT:
        return json_integer(sqlite3_column_int64(s, idx));
    case COL_BOOL:
        return json_boolean(sqlite3_column_int(s, idx));
    case COL_JSON:
        text = (const char *) sqlite3_column_text(s, idx);
        return json_loads(text, JSON_DECODE_ANY, NULL);
    }
    return json_null();
}

/* Builds the record from columns [first, first + ncols) of the current row. */
static json_t *
row_record(sqlite3_stmt *s, int first, const store_kind_t *kind)
{
    json_t *rec = json_object(), *v;
    size_t i;

    if (rec == NULL)
        return NULL;
    for (i = 0; i < kind->ncols; i++) {
        v = column_value(s, first + (int) i, &kind->cols[i]);
        if (v == NULL) {
            json_decref(rec);
            return NULL;
        }
        rec_set(rec, kind->cols[i].field, v);
    }
    return rec;
}

static const store_col_t *
kind_col(const store_kind_t *kind, const char *field)
{
    size_t i;

    for (i = 0; i < kind->ncols; i++)
        if (strcmp(kind->cols[i].field, field) == 0)
            return &kind->cols[i];
    return NULL;
}

/* A growing SQL text; on overflow it reports and further appends are ignored. */
typedef struct {
    char buf[2048];
    size_t len;
    int overflow;
} sqlbuf_t;

static void
sb_add(sqlbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_add(sqlbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->buf + b->len, sizeof(b->buf) - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sizeof(b->buf) - b->len)
        b->overflow = 1;
    else
        b->len += (size_t) n;
}

static void
sb_columns(sqlbuf_t *b, const store_kind_t *kind)
{
    size_t i;

    for (i = 0; i < kind->ncols; i++)
        sb_add(b, "%s%s", i ? ", " : "", kind->cols[i].column);
}

/* ---- generic record operations ---- */

int
store_rec_insert(store_t *st, const store_kind_t *kind, const json_t *rec, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlbuf_t sb = {.len = 0};
    sqlite3_stmt *s;
    size_t i;

    if (c == NULL || injected_failure(st, err))
        return -1;
    s = qcache_get(c, kind, Q_INSERT, 0);
    if (s == NULL) {
        sb_add(&sb, "INSERT INTO %s(", kind->table);
        sb_columns(&sb, kind);
        sb_add(&sb, ") VALUES (");
        for (i = 0; i < kind->ncols; i++)
            sb_add(&sb, "%s?", i ? ", " : "");
        sb_add(&sb, ");");
        if (sb.overflow)
            return err_set(err, ERR_INTERNAL, NULL, "A statement is too long.");
        if ((s = stmt_get(c, sb.buf, err)) == NULL)
            return -1;
        qcache_put(c, kind, Q_INSERT, 0, s);
    }
    for (i = 0; i < kind->ncols; i++) {
        if (bind_value(s, (int) i + 1, &kind->cols[i], rec_field(rec, kind->cols[i].field), err)) {
            stmt_done(s);
            return -1;
        }
    }
    if (stmt_run(c, s, "creating a record", err) < 0)
        return -1;
    note_write(st, c, kind);
    return 0;
}

static json_t *
select_one(store_t *st, const store_kind_t *kind, size_t col, const char *value, bool shared,
           int64_t *rev, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlbuf_t sb = {.len = 0};
    sqlite3_stmt *s;
    json_t *rec = NULL;
    bool cached = false;
    uint64_t tag = 0;
    int rc;

    if (c == NULL || injected_failure(st, err))
        return NULL;
    __atomic_add_fetch(&st->reads[kind->index], 1, __ATOMIC_RELAXED);
    /* A transaction that writes must read its own changes: only other reads use the cache. */
    if (!(c->tx_depth > 0 && c->tx_write)) {
        uint64_t current = gen_now(st, kind);
        tag = c->tx_depth > 0 ? c->tx_gen[kind->index] : current;
        rec = rcache_get(c, kind, (int) col, value, current, shared, rev);
        if (rec != NULL)
            return rec;
        cached = true;
    }
    s = qcache_get(c, kind, Q_SELECT_BY, (int) col);
    if (s == NULL) {
        sb_add(&sb, "SELECT rev, ");
        sb_columns(&sb, kind);
        sb_add(&sb, " FROM %s WHERE %s = ? ORDER BY seq LIMIT 1;", kind->table,
               kind->cols[col].column);
        if (sb.overflow || (s = stmt_get(c, sb.buf, err)) == NULL) {
            err_set(err, ERR_INTERNAL, NULL, "A statement could not be prepared.");
            return NULL;
        }
        qcache_put(c, kind, Q_SELECT_BY, (int) col, s);
    }
    sqlite3_bind_text(s, 1, value, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        rec = row_record(s, 1, kind);
        if (rec == NULL) {
            err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        } else {
            if (rev)
                *rev = sqlite3_column_int64(s, 0);
            if (cached)
                rcache_put(c, kind, (int) col, value, rec, sqlite3_column_int64(s, 0), tag,
                           shared);
        }
    } else if (rc == SQLITE_DONE) {
        err_set(err, ERR_NOT_FOUND, NULL, "The %s was not found.", kind->what);
    } else {
        db_err(c->db, rc, "reading a record", err);
    }
    stmt_done(s);
    return rec;
}

json_t *
store_rec_get(store_t *st, const store_kind_t *kind, const char *id, int64_t *rev, err_t *err)
{
    return select_one(st, kind, 0, id, false, rev, err); /* column 0 is the id of every kind */
}

json_t *
store_rec_get_where(store_t *st, const store_kind_t *kind, const char *id, const char *field,
                    const char *value, int64_t *rev, err_t *err)
{
    int64_t r = 0;
    json_t *rec = store_rec_get(st, kind, id, &r, err);
    const char *have;

    if (rec == NULL || value == NULL)
        goto out;
    have = json_string_value(rec_field(rec, field));
    if (have == NULL || strcmp(have, value) != 0) {
        json_decref(rec);
        err_set(err, ERR_NOT_FOUND, NULL, "The %s was not found.", kind->what);
        return NULL;
    }
out:
    if (rec != NULL && rev)
        *rev = r;
    return rec;
}

json_t *
store_rec_get_shared(store_t *st, const store_kind_t *kind, const char *id, int64_t *rev,
                     err_t *err)
{
    return select_one(st, kind, 0, id, true, rev, err);
}

static json_t *
find_by(store_t *st, const store_kind_t *kind, const char *field, const char *value, bool shared,
        err_t *err)
{
    const store_col_t *col = kind_col(kind, field);

    if (col == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "The %s has no field %s.", kind->what, field);
        return NULL;
    }
    return select_one(st, kind, (size_t) (col - kind->cols), value, shared, NULL, err);
}

json_t *
store_rec_find(store_t *st, const store_kind_t *kind, const char *field, const char *value,
               err_t *err)
{
    return find_by(st, kind, field, value, false, err);
}

json_t *
store_rec_find_shared(store_t *st, const store_kind_t *kind, const char *field, const char *value,
                      err_t *err)
{
    return find_by(st, kind, field, value, true, err);
}

static int
add_filters(sqlbuf_t *sb, const store_kind_t *kind, const store_filter_t *f, size_t nf,
            err_t *err)
{
    const store_col_t *col;
    size_t i;

    for (i = 0; i < nf; i++) {
        col = kind_col(kind, f[i].field);
        if (col == NULL)
            return err_set(err, ERR_INTERNAL, NULL, "The %s has no field %s.", kind->what,
                           f[i].field);
        if (f[i].op == STORE_FILTER_IN)
            sb_add(sb, " AND %s IN (SELECT value FROM json_each(?))", col->column);
        else
            sb_add(sb, " AND %s = ?", col->column);
    }
    return 0;
}

static int
bind_filters(sqlite3_stmt *s, int first, const store_kind_t *kind, const store_filter_t *f,
             size_t nf, err_t *err)
{
    const store_col_t *col;
    char *text;
    size_t i;
    int64_t n;

    for (i = 0; i < nf; i++) {
        col = kind_col(kind, f[i].field);
        if (f[i].op == STORE_FILTER_IN) {
            text = json_dumps(f[i].values, JSON_COMPACT | JSON_ENCODE_ANY);
            if (text == NULL)
                return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
            sqlite3_bind_text(s, first + (int) i, text, -1, free);
        } else if (col->type == COL_INT && util_parse_int64(f[i].value, true, &n) == 0) {
            sqlite3_bind_int64(s, first + (int) i, n);
        } else {
            sqlite3_bind_text(s, first + (int) i, f[i].value, -1, SQLITE_STATIC);
        }
    }
    return 0;
}

json_t *
store_rec_list(store_t *st, const store_kind_t *kind, const store_filter_t *filters,
               size_t nfilters, int64_t after, int limit, int64_t *next, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlbuf_t sb = {.len = 0};
    sqlite3_stmt *s;
    json_t *list = NULL, *rec;
    int64_t last = 0;
    int rc, n = 0, more = 0;

    if (c == NULL || injected_failure(st, err))
        return NULL;
    sb_add(&sb, "SELECT seq, ");
    sb_columns(&sb, kind);
    sb_add(&sb, " FROM %s WHERE seq > ?", kind->table);
    if (add_filters(&sb, kind, filters, nfilters, err))
        return NULL;
    sb_add(&sb, " ORDER BY seq LIMIT ?;");
    if (sb.overflow || (s = stmt_get(c, sb.buf, err)) == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "A statement could not be prepared.");
        return NULL;
    }
    sqlite3_bind_int64(s, 1, after);
    if (bind_filters(s, 2, kind, filters, nfilters, err)) {
        stmt_done(s);
        return NULL;
    }
    /* One more than asked tells whether another page follows. */
    sqlite3_bind_int(s, 2 + (int) nfilters, limit + 1);
    list = json_array();
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == limit) {
            more = 1;
            rc = SQLITE_DONE;
            break;
        }
        rec = row_record(s, 1, kind);
        if (rec == NULL || json_array_append_new(list, rec)) {
            rc = SQLITE_NOMEM;
            break;
        }
        last = sqlite3_column_int64(s, 0);
        n++;
    }
    if (rc != SQLITE_DONE) {
        db_err(c->db, rc, "listing records", err);
        json_decref(list);
        stmt_done(s);
        return NULL;
    }
    *next = more ? last : 0;
    stmt_done(s);
    return list;
}

json_t *
store_rec_list_all(store_t *st, const store_kind_t *kind, const store_filter_t *filters,
                   size_t nfilters, err_t *err)
{
    int64_t after = 0, next = 0;
    json_t *all = json_array(), *page;

    do {
        page = store_rec_list(st, kind, filters, nfilters, after, 1000, &next, err);
        if (page == NULL) {
            json_decref(all);
            return NULL;
        }
        json_array_extend(all, page);
        json_decref(page);
        after = next;
    } while (next);
    return all;
}

int64_t
store_rec_count(store_t *st, const store_kind_t *kind, const store_filter_t *filters,
                size_t nfilters, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlbuf_t sb = {.len = 0};
    sqlite3_stmt *s;
    int64_t count = -1;
    int rc;

    if (c == NULL || injected_failure(st, err))
        return -1;
    sb_add(&sb, "SELECT count(*) FROM %s WHERE 1", kind->table);
    if (add_filters(&sb, kind, filters, nfilters, err))
        return -1;
    sb_add(&sb, ";");
    if (sb.overflow || (s = stmt_get(c, sb.buf, err)) == NULL)
        return -1;
    if (bind_filters(s, 1, kind, filters, nfilters, err)) {
        stmt_done(s);
        return -1;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        count = sqlite3_column_int64(s, 0);
    else
        db_err(c->db, rc, "counting records", err);
    stmt_done(s);
    return count;
}

/* After an UPDATE or DELETE that changed nothing: 404 when the record is gone, else 412. */
static int
explain_no_change(store_t *st, const store_kind_t *kind, const char *id, err_t *err)
{
    err_t local = {0};
    json_t *rec = store_rec_get(st, kind, id, NULL, &local);

    if (rec == NULL) {
        if (local.code == ERR_NOT_FOUND)
            return err_set(err, ERR_NOT_FOUND, NULL, "The %s was not found.", kind->what);
        return err_set(err, local.code, NULL, "%s", local.message);
    }
    json_decref(rec);
    return err_set(err, ERR_PRECONDITION_FAILED, NULL,
                   "The %s has changed since the ETag in If-Match was read.", kind->what);
}

int
store_rec_update(store_t *st, const store_kind_t *kind, const char *id, const json_t *rec,
                 int64_t expect_rev, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlbuf_t sb = {.len = 0};
    sqlite3_stmt *s;
    size_t i;
    int idx = 1, changed, first = 1;

    if (c == NULL || injected_failure(st, err))
        return -1;
    sb_add(&sb, "UPDATE %s SET ", kind->table);
    for (i = 0; i < kind->ncols; i++) {
        if (kind->cols[i].flags & COL_IMMUTABLE)
            continue;
        sb_add(&sb, "%s%s = ?", first ? "" : ", ", kind->cols[i].column);
        first = 0;
    }
    sb_add(&sb, ", rev = rev + 1 WHERE id = ?%s;", expect_rev > 0 ? " AND rev = ?" : "");
    if (sb.overflow || (s = stmt_get(c, sb.buf, err)) == NULL)
        return -1;
    for (i = 0; i < kind->ncols; i++) {
        if (kind->cols[i].flags & COL_IMMUTABLE)
            continue;
        if (bind_value(s, idx++, &kind->cols[i], rec_field(rec, kind->cols[i].field), err)) {
            stmt_done(s);
            return -1;
        }
    }
    sqlite3_bind_text(s, idx++, id, -1, SQLITE_STATIC);
    if (expect_rev > 0)
        sqlite3_bind_int64(s, idx, expect_rev);
    changed = stmt_run(c, s, "updating a record", err);
    if (changed < 0)
        return -1;
    note_write(st, c, kind);
    if (changed == 0)
        return explain_no_change(st, kind, id, err);
    return 0;
}

int
store_rec_delete(store_t *st, const store_kind_t *kind, const char *id, int64_t expect_rev,
                 err_t *err)
{
    conn_t *c = store_conn(st, err);
    char sql[160];
    sqlite3_stmt *s;
    int changed;

    if (c == NULL || injected_failure(st, err))
        return -1;
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = ?%s;", kind->table,
             expect_rev > 0 ? " AND rev = ?" : "");
    if ((s = stmt_get(c, sql, err)) == NULL)
        return -1;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (expect_rev > 0)
        sqlite3_bind_int64(s, 2, expect_rev);
    changed = stmt_run(c, s, "deleting a record", err);
    if (changed < 0)
        return -1;
    note_write(st, c, kind);
    if (changed == 0)
        return explain_no_change(st, kind, id, err);
    return 0;
}

/* ---- idempotency keys ---- */

json_t *
store_idem_lookup(store_t *st, const char *scope, const char *method, const char *path,
                  const char *key, int64_t max_age_ms, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;
    json_t *ans = NULL;
    int rc;

    if (c == NULL || injected_failure(st, err))
        return NULL;
    s = stmt_get(c,
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
        db_err(c->db, rc, "reading an idempotency key", err);
    }
    stmt_done(s);
    return ans;
}

int
store_idem_save(store_t *st, const char *scope, const char *method, const char *path,
                const char *key, const json_t *answer, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;

    if (c == NULL || injected_failure(st, err))
        return -1;
    s = stmt_get(c,
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
    return stmt_run(c, s, "saving an idempotency key", err) < 0 ? -1 : 0;
}

int64_t
store_idem_purge(store_t *st, int64_t max_age_ms, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;

    if (c == NULL)
        return -1;
    s = stmt_get(c, "DELETE FROM idempotency WHERE created_ms <= ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, util_now_ms() - max_age_ms);
    return stmt_run(c, s, "purging idempotency keys", err);
}

/* ---- quota usage counters, host allocation, network addresses ---- */

const char *const store_quota_keys[STORE_QUOTAS] = {"vms",       "cores",   "memoryMB",
                                                     "storageGB", "vmRoles", "networks"};

int
store_usage_get(store_t *st, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;
    int rc, i;

    if (c == NULL || injected_failure(st, err))
        return -1;
    s = stmt_get(c,
                 "SELECT usage_vms, usage_cores, usage_memory_mb, usage_storage_gb, usage_vm_roles,"
                 " usage_networks FROM subscriptions WHERE id = ?;",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, sid, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        for (i = 0; i < STORE_QUOTAS; i++)
            usage[i] = sqlite3_column_int64(s, i);
    } else if (rc == SQLITE_DONE) {
        err_set(err, ERR_NOT_FOUND, NULL, "The subscription was not found.");
    } else {
        db_err(c->db, rc, "reading quota usage", err);
    }
    stmt_done(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

int
store_usage_adjust(store_t *st, const char *sid, const int64_t delta[STORE_QUOTAS],
                   const int64_t limit[STORE_QUOTAS], err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;
    int changed, i;

    if (c == NULL || injected_failure(st, err))
        return -1;
    /* One statement: the limits are checked against the committed counters under the write lock, so
     * concurrent reservations can never overshoot. Decreases always apply. */
    s = stmt_get(c,
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
    changed = stmt_run(c, s, "reserving quota", err);
    if (changed < 0)
        return -1;
    if (changed == 1) {
        note_write(st, c, &store_kind_subscription);
        return 0;
    }
    return 1;
}

int
store_usage_set(store_t *st, const char *sid, const int64_t usage[STORE_QUOTAS], err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;
    int i;

    if (c == NULL || injected_failure(st, err))
        return -1;
    s = stmt_get(c,
                 "UPDATE subscriptions SET usage_vms = ?1, usage_cores = ?2, usage_memory_mb = ?3,"
                 " usage_storage_gb = ?4, usage_vm_roles = ?5, usage_networks = ?6 WHERE id = ?7;",
                 err);
    if (s == NULL)
        return -1;
    for (i = 0; i < STORE_QUOTAS; i++)
        sqlite3_bind_int64(s, i + 1, usage[i]);
    sqlite3_bind_text(s, 7, sid, -1, SQLITE_STATIC);
    if (stmt_run(c, s, "setting quota usage", err) < 0)
        return -1;
    note_write(st, c, &store_kind_subscription);
    return 0;
}

int
store_usage_recompute(store_t *st, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;
    int rc;

    if (c == NULL || injected_failure(st, err))
        return -1;
    s = stmt_get(c,
                 "SELECT count(*), coalesce(sum(cores), 0), coalesce(sum(memory_mb), 0),"
                 " coalesce(sum(storage_gb), 0),"
                 " (SELECT count(*) FROM networks n WHERE n.subscription_id = ?1),"
                 " (SELECT count(*) FROM vm_roles r WHERE r.subscription_id = ?1)"
                 " FROM vms WHERE subscription_id = ?1 AND counted = 1;",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, sid, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        usage[0] = sqlite3_column_int64(s, 0);
        usage[1] = sqlite3_column_int64(s, 1);
        usage[2] = sqlite3_column_int64(s, 2);
        usage[3] = sqlite3_column_int64(s, 3);
        usage[4] = sqlite3_column_int64(s, 5);
        usage[5] = sqlite3_column_int64(s, 4);
    } else {
        db_err(c->db, rc, "recomputing quota usage", err);
    }
    stmt_done(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

int
store_host_allocate(store_t *st, const char *host_id, int64_t cores, int64_t memory_mb,
                    int64_t storage_gb, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;
    int changed;

    if (c == NULL || injected_failure(st, err))
        return -1;
    /* Growth must fit the capacity; release always applies. */
    s = stmt_get(c,
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
    changed = stmt_run(c, s, "allocating host capacity", err);
    if (changed < 0)
        return -1;
    if (changed == 0)
        return 1;
    note_write(st, c, &store_kind_host);
    return 0;
}

int
store_host_grow_storage(store_t *st, const char *host_id, int64_t storage_gb, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;

    if (c == NULL || injected_failure(st, err))
        return -1;
    s = stmt_get(c,
                 "UPDATE hosts SET alloc_storage_gb = max(0, alloc_storage_gb + ?1), rev = rev + 1"
                 " WHERE id = ?2;",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, storage_gb);
    sqlite3_bind_text(s, 2, host_id, -1, SQLITE_STATIC);
    if (stmt_run(c, s, "growing host storage", err) < 0)
        return -1;
    note_write(st, c, &store_kind_host);
    return 0;
}

int
store_host_recompute(store_t *st, const char *host_id, int64_t out[3], err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;
    int rc;

    if (c == NULL || injected_failure(st, err))
        return -1;
    s = stmt_get(c,
                 "SELECT coalesce(sum(CASE WHEN holds_compute THEN cores ELSE 0 END), 0),"
                 " coalesce(sum(CASE WHEN holds_compute THEN memory_mb ELSE 0 END), 0),"
                 " coalesce(sum(CASE WHEN holds_storage THEN storage_gb ELSE 0 END), 0)"
                 " FROM vms WHERE host_id = ?;",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, host_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out[0] = sqlite3_column_int64(s, 0);
        out[1] = sqlite3_column_int64(s, 1);
        out[2] = sqlite3_column_int64(s, 2);
    } else {
        db_err(c->db, rc, "recomputing host allocation", err);
    }
    stmt_done(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

int
store_ip_take(store_t *st, const char *network_id, const char *vm_id, int64_t first, int64_t last,
              int64_t *ip, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;
    int64_t candidate = -1;
    int rc;

    if (c == NULL || injected_failure(st, err))
        return -1;
    /* The lowest free address: first itself, or the one after a taken address whose successor is
     * free. */
    s = stmt_get(c,
                 "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM nic_ips WHERE network_id = ?1 AND ip = ?2)"
                 " THEN ?2 ELSE (SELECT min(a.ip) + 1 FROM nic_ips a WHERE a.network_id = ?1"
                 " AND a.ip >= ?2 AND NOT EXISTS (SELECT 1 FROM nic_ips b WHERE b.network_id = ?1"
                 " AND b.ip = a.ip + 1)) END;",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, network_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, first);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        candidate = sqlite3_column_int64(s, 0);
    stmt_done(s);
    if (rc != SQLITE_ROW)
        return db_err(c->db, rc, "allocating an address", err);
    if (candidate < first || candidate > last)
        return 1;
    s = stmt_get(c, "INSERT INTO nic_ips(network_id, ip, vm_id) VALUES (?, ?, ?);", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, network_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, candidate);
    sqlite3_bind_text(s, 3, vm_id, -1, SQLITE_STATIC);
    if (stmt_run(c, s, "allocating an address", err) < 0)
        return -1;
    *ip = candidate;
    return 0;
}

int
store_ip_release_vm(store_t *st, const char *vm_id, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;

    if (c == NULL || injected_failure(st, err))
        return -1;
    s = stmt_get(c, "DELETE FROM nic_ips WHERE vm_id = ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, vm_id, -1, SQLITE_STATIC);
    return stmt_run(c, s, "releasing addresses", err) < 0 ? -1 : 0;
}

int64_t
store_ip_count(store_t *st, const char *network_id, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;
    int64_t n = -1;
    int rc;

    if (c == NULL || injected_failure(st, err))
        return -1;
    s = stmt_get(c, "SELECT count(*) FROM nic_ips WHERE network_id = ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, network_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    else
        db_err(c->db, rc, "counting addresses", err);
    stmt_done(s);
    return n;
}

/* ---- unmanaged VMs ---- */

int
store_unmanaged_replace(store_t *st, const char *host_id, const json_t *vms, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;
    char now[UTIL_TIME_LEN + 1];
    const json_t *vm;
    size_t i;

    if (c == NULL || injected_failure(st, err))
        return -1;
    s = stmt_get(c, "DELETE FROM unmanaged_vms WHERE host_id = ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, host_id, -1, SQLITE_STATIC);
    if (stmt_run(c, s, "forgetting unmanaged VMs", err) < 0)
        return -1;
    util_time_format(util_now_ms(), now);
    json_array_foreach(vms, i, vm) {
        s = stmt_get(c,
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
        if (stmt_run(c, s, "recording unmanaged VMs", err) < 0)
            return -1;
    }
    return 0;
}

json_t *
store_unmanaged_list(store_t *st, const char *host_id, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;
    json_t *list;
    int rc;

    if (c == NULL || injected_failure(st, err))
        return NULL;
    s = stmt_get(c,
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
    stmt_done(s);
    if (rc != SQLITE_DONE) {
        db_err(c->db, rc, "listing unmanaged VMs", err);
        json_decref(list);
        return NULL;
    }
    return list;
}

int
store_unmanaged_remove(store_t *st, const char *host_id, const char *hypervisor_id, err_t *err)
{
    conn_t *c = store_conn(st, err);
    sqlite3_stmt *s;

    if (c == NULL || injected_failure(st, err))
        return -1;
    s = stmt_get(c, "DELETE FROM unmanaged_vms WHERE host_id = ? AND hypervisor_id = ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, host_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, hypervisor_id, -1, SQLITE_STATIC);
    return stmt_run(c, s, "forgetting an unmanaged VM", err) < 0 ? -1 : 0;
}

/* ---- what store_usage.c and store_events.c share (store_internal.h) ---- */

conn_t *
store__conn(store_t *st, err_t *err)
{
    return store_conn(st, err);
}

sqlite3 *
store__db(conn_t *c)
{
    return c->db;
}

sqlite3_stmt *
store__stmt(conn_t *c, const char *sql, err_t *err)
{
    return stmt_get(c, sql, err);
}

void
store__stmt_done(sqlite3_stmt *s)
{
    stmt_done(s);
}

int
store__stmt_run(conn_t *c, sqlite3_stmt *s, const char *doing, err_t *err)
{
    return stmt_run(c, s, doing, err);
}

int
store__db_err(sqlite3 *db, int rc, const char *doing, err_t *err)
{
    return db_err(db, rc, doing, err);
}

int
store__injected(store_t *st, err_t *err)
{
    return injected_failure(st, err);
}

uint64_t
store__reads(store_t *st, const store_kind_t *kind)
{
    return __atomic_load_n(&st->reads[kind->index], __ATOMIC_RELAXED);
}
