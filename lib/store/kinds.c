/*
 * kinds.c: the kinds of record the store keeps, as tables of fields and the columns they map to, and the
 * helpers that read and write a record's (possibly nested) fields. Backend-neutral data: every backend
 * builds its statements from these tables.
 *
 * Invariants: column 0 of every kind is "id"; each kind's index is unique and below STORE_KINDS; a column
 * marked COL_IMMUTABLE is written by insert only (a record update never touches it).
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "kind.h"

/* Every kind's first column; and the creation and last change times most kinds keep. */
#define ID {"id", "id", COL_TEXT, COL_IMMUTABLE}
#define STAMPS {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE}, {"updatedAt", "updated_at", COL_TEXT, 0}

/* A column named as its field. */
#define SAME(field, type) {field, field, type, 0}

/* A kind: its change-counter slot, table, noun for messages, and columns in order. */
#define KIND(var, idx, tbl, noun, ...)                                                             \
    static const store_col_t var##_cols[] = {__VA_ARGS__};                                         \
    const store_kind_t var = {idx, tbl, noun, var##_cols, sizeof(var##_cols) / sizeof(var##_cols[0])}

KIND(store_kind_cloud, 0, "clouds", "cloud",
    ID,
    SAME("name", COL_TEXT),
    SAME("description", COL_TEXT),
    STAMPS);

KIND(store_kind_host, 1, "hosts", "host",
    ID,
    SAME("name", COL_TEXT),
    {"cloudId", "cloud_id", COL_TEXT, 0},
    {"agent.kind", "agent_kind", COL_TEXT, 0},
    {"agent.uri", "agent_uri", COL_TEXT, 0},
    {"agent.token", "agent_token", COL_TEXT, 0},
    {"agent.caFile", "agent_ca_file", COL_TEXT, 0},
    {"capacity.cores", "cap_cores", COL_INT, 0},
    {"capacity.memoryMB", "cap_memory_mb", COL_INT, 0},
    {"capacity.storageGB", "cap_storage_gb", COL_INT, 0},
    /* Changed only by store_host_allocate, never by a record update (which could undo a concurrent
     * placement). */
    {"allocated.cores", "alloc_cores", COL_INT, COL_IMMUTABLE},
    {"allocated.memoryMB", "alloc_memory_mb", COL_INT, COL_IMMUTABLE},
    {"allocated.storageGB", "alloc_storage_gb", COL_INT, COL_IMMUTABLE},
    SAME("state", COL_TEXT),
    {"lastSeenAt", "last_seen_at", COL_TEXT, 0},
    STAMPS);

KIND(store_kind_size, 2, "sizes", "size",
    ID,
    SAME("name", COL_TEXT),
    SAME("cores", COL_INT),
    {"memoryMB", "memory_mb", COL_INT, 0},
    {"dynamicMemory", "dynamic_memory", COL_JSON, 0}, /* null or {enabled, minimumMB, maximumMB} */
    STAMPS);

KIND(store_kind_image, 3, "images", "image",
    ID,
    SAME("name", COL_TEXT),
    {"osType", "os_type", COL_TEXT, 0},
    SAME("generation", COL_INT),
    {"osDiskGB", "os_disk_gb", COL_INT, 0},
    STAMPS);

KIND(store_kind_gallery_item, 4, "gallery_items", "gallery item",
    ID,
    SAME("name", COL_TEXT),
    {"version", "item_version", COL_TEXT, 0},
    {"imageId", "image_id", COL_TEXT, 0},
    {"defaultSize", "default_size", COL_TEXT, 0},
    {"minInstances", "min_instances", COL_INT, 0},
    {"maxInstances", "max_instances", COL_INT, 0},
    STAMPS);

KIND(store_kind_plan, 5, "plans", "plan",
    ID,
    SAME("name", COL_TEXT),
    {"cloudId", "cloud_id", COL_TEXT, 0},
    SAME("state", COL_TEXT),
    SAME("quotas", COL_JSON),
    {"imageIds", "image_ids", COL_JSON, 0},
    {"sizeNames", "size_names", COL_JSON, 0},
    {"galleryItemIds", "gallery_item_ids", COL_JSON, 0},
    {"checkpointMode", "checkpoint_mode", COL_TEXT, 0},
    {"checkpointRetentionHours", "checkpoint_retention_hours", COL_INT, 0},
    {"replicaCloudIds", "replica_cloud_ids", COL_JSON, 0}, /* where snapshots may be copied; null: none */
    STAMPS);

KIND(store_kind_user, 6, "users", "user",
    ID,
    SAME("email", COL_TEXT),
    SAME("name", COL_TEXT),
    SAME("state", COL_TEXT), /* active or suspended */
    STAMPS);

KIND(store_kind_token, 7, "tokens", "token",
    ID,
    {"userId", "user_id", COL_TEXT, COL_IMMUTABLE},
    {"hash", "hash", COL_TEXT, COL_IMMUTABLE},
    {"expiresAt", "expires_at", COL_TEXT, 0},
    {"revokedAt", "revoked_at", COL_TEXT, 0},
    {"createdAt", "created_at", COL_TEXT, COL_IMMUTABLE});

KIND(store_kind_subscription, 8, "subscriptions", "subscription",
    ID,
    {"userId", "user_id", COL_TEXT, COL_IMMUTABLE},
    {"planId", "plan_id", COL_TEXT, 0},
    {"displayName", "display_name", COL_TEXT, 0},
    SAME("state", COL_TEXT),
    {"checkpointMode", "checkpoint_mode", COL_TEXT, 0},
    STAMPS,
    /* Read with the record; changed only by store_usage_adjust and store_usage_set. */
    {"usage.vms", "usage_vms", COL_INT, COL_IMMUTABLE},
    {"usage.cores", "usage_cores", COL_INT, COL_IMMUTABLE},
    {"usage.memoryMB", "usage_memory_mb", COL_INT, COL_IMMUTABLE},
    {"usage.storageGB", "usage_storage_gb", COL_INT, COL_IMMUTABLE},
    {"usage.vmRoles", "usage_vm_roles", COL_INT, COL_IMMUTABLE},
    {"usage.networks", "usage_networks", COL_INT, COL_IMMUTABLE});

KIND(store_kind_job, 9, "jobs", "job",
    ID,
    {"kind", "kind", COL_TEXT, COL_IMMUTABLE},
    SAME("status", COL_TEXT),
    {"resourceId", "resource_id", COL_TEXT, 0},
    {"subscriptionId", "subscription_id", COL_TEXT, 0},
    SAME("progress", COL_INT),
    SAME("steps", COL_JSON),
    SAME("error", COL_JSON),
    SAME("copy", COL_JSON), /* a long copy's bytes: {bytesCopied, bytesTotal}, or null */
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
    {"_epoch", "epoch", COL_INT, 0});

KIND(store_kind_vm, 10, "vms", "VM",
    ID,
    SAME("name", COL_TEXT),
    {"subscriptionId", "subscription_id", COL_TEXT, COL_IMMUTABLE},
    SAME("size", COL_TEXT),
    SAME("cores", COL_INT),
    {"memoryMB", "memory_mb", COL_INT, 0}, /* the startup memory: what quotas and placement count */
    {"dynamicMemory", "dynamic_memory", COL_JSON, 0}, /* null or {enabled, minimumMB, maximumMB} */
    {"imageId", "image_id", COL_TEXT, COL_IMMUTABLE},
    {"generation", "generation", COL_INT, COL_IMMUTABLE},
    {"osType", "os_type", COL_TEXT, COL_IMMUTABLE},
    {"osState", "os_state", COL_TEXT, 0},
    {"vmRoleId", "vm_role_id", COL_TEXT, 0},
    {"provisioningState", "provisioning_state", COL_TEXT, 0},
    {"powerState", "power_state", COL_TEXT, 0},
    SAME("disks", COL_JSON),
    SAME("nics", COL_JSON),
    SAME("checkpoint", COL_JSON),
    STAMPS,
    {"hostId", "host_id", COL_TEXT, 0},
    {"hypervisorId", "hypervisor_id", COL_TEXT, 0},
    /* What the VM holds, so that holdings can be released exactly and recomputed. */
    {"_storageGB", "storage_gb", COL_INT, 0},
    {"_holdsCompute", "holds_compute", COL_BOOL, 0},
    {"_holdsStorage", "holds_storage", COL_BOOL, 0},
    {"_counted", "counted", COL_BOOL, 0},
    /* What the host assigns the VM now (dynamic memory lowers it; null: memoryMB), which metering
     * bills; and when each of its states was entered and the guest's heartbeat, for its instance view. */
    {"_assignedMemoryMB", "assigned_memory_mb", COL_INT, 0},
    {"_instanceView", "instance_view", COL_JSON, 0});

KIND(store_kind_network, 11, "networks", "network",
    ID,
    {"subscriptionId", "subscription_id", COL_TEXT, COL_IMMUTABLE},
    SAME("name", COL_TEXT),
    {"addressPrefix", "address_prefix", COL_TEXT, COL_IMMUTABLE},
    STAMPS);

KIND(store_kind_vmrole, 12, "vm_roles", "VM role",
    ID,
    {"name", "name", COL_TEXT, COL_IMMUTABLE},
    {"subscriptionId", "subscription_id", COL_TEXT, COL_IMMUTABLE},
    {"galleryItemId", "gallery_item_id", COL_TEXT, COL_IMMUTABLE},
    SAME("size", COL_TEXT),
    {"networkId", "network_id", COL_TEXT, COL_IMMUTABLE},
    {"instanceCount", "instance_count", COL_INT, 0},
    {"provisioningState", "provisioning_state", COL_TEXT, 0},
    STAMPS);

KIND(store_kind_hook, 13, "hooks", "hook",
    ID,
    SAME("url", COL_TEXT),
    SAME("events", COL_JSON),
    SAME("secret", COL_TEXT), /* write-only: lib/hooks.c keeps it out of every view */
    SAME("active", COL_BOOL),
    SAME("description", COL_TEXT),
    STAMPS);

/* A disk snapshot: a volume kept on one host (_hostId) of its cloud. What it holds (_counted: its size in
 * its subscription's storageGB) is released exactly once; _leases counts the running jobs that read it (a
 * copy or a clone from it), and no delete passes while one does. */
KIND(store_kind_snapshot, 14, "snapshots", "snapshot",
    ID,
    SAME("name", COL_TEXT),
    {"subscriptionId", "subscription_id", COL_TEXT, COL_IMMUTABLE},
    {"vmId", "vm_id", COL_TEXT, COL_IMMUTABLE},
    {"lun", "lun", COL_INT, COL_IMMUTABLE},
    {"sizeGB", "size_gb", COL_INT, 0},
    {"cloudId", "cloud_id", COL_TEXT, 0},
    SAME("state", COL_TEXT),
    SAME("copy", COL_JSON),
    {"sourceSnapshotId", "source_snapshot_id", COL_TEXT, COL_IMMUTABLE},
    STAMPS,
    {"_hostId", "host_id", COL_TEXT, 0},
    {"_leases", "leases", COL_INT, 0},
    {"_counted", "counted", COL_BOOL, 0});

/* A private image: the captured disks of a generalized VM, kept as volumes on one host (_hostId) of its
 * cloud, usable only in its subscription; _counted and _leases as for snapshots. */
KIND(store_kind_private_image, 15, "private_images", "image",
    ID,
    SAME("name", COL_TEXT),
    {"subscriptionId", "subscription_id", COL_TEXT, COL_IMMUTABLE},
    {"sourceVmId", "source_vm_id", COL_TEXT, COL_IMMUTABLE},
    {"osType", "os_type", COL_TEXT, COL_IMMUTABLE},
    {"generation", "generation", COL_INT, COL_IMMUTABLE},
    {"osDiskGB", "os_disk_gb", COL_INT, COL_IMMUTABLE},
    {"dataDisks", "data_disks", COL_JSON, COL_IMMUTABLE},
    {"cloudId", "cloud_id", COL_TEXT, 0},
    SAME("state", COL_TEXT),
    STAMPS,
    {"_hostId", "host_id", COL_TEXT, 0},
    {"_storageGB", "storage_gb", COL_INT, COL_IMMUTABLE}, /* the OS disk and every data disk */
    {"_leases", "leases", COL_INT, 0},
    {"_counted", "counted", COL_BOOL, 0});

/* A named admin token: its scope decides what it may do on the admin listener (see lib/accounts.h). */
KIND(store_kind_admin_token, 16, "admin_tokens", "admin token",
    ID,
    SAME("name", COL_TEXT),
    SAME("scope", COL_TEXT),
    {"hash", "hash", COL_TEXT, COL_IMMUTABLE},
    {"expiresAt", "expires_at", COL_TEXT, 0},
    {"revokedAt", "revoked_at", COL_TEXT, 0},
    {"lastUsedAt", "last_used_at", COL_TEXT, 0},
    STAMPS);

const char *const store_quota_keys[STORE_QUOTAS] = {"vms",       "cores",   "memoryMB",
                                                     "storageGB", "vmRoles", "networks"};

const store_col_t *
store__kind_col(const store_kind_t *kind, const char *field)
{
    size_t i;

    assert(kind != NULL && field != NULL);
    for (i = 0; i < kind->ncols; i++)
        if (strcmp(kind->cols[i].field, field) == 0)
            return &kind->cols[i];
    return NULL;
}

json_t *
store__rec_field(const json_t *rec, const char *field)
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

int
store__rec_set(json_t *rec, const char *field, json_t *value)
{
    const char *dot = strchr(field, '.');
    char head[64];
    json_t *obj;

    if (dot == NULL)
        return json_object_set_new(rec, field, value);
    snprintf(head, sizeof(head), "%.*s", (int) (dot - field), field);
    obj = json_object_get(rec, head);
    if (!json_is_object(obj) && json_object_set_new(rec, head, obj = json_object())) {
        json_decref(value);
        return -1;
    }
    return json_object_set_new(obj, dot + 1, value);
}
