/*
 * request.c: the snapshot requests (see snapshot.h): take, copy, delete, and the reads.
 *
 * Every request checks all it can at once and reserves what the change needs in its own transaction (nested
 * in the caller's), which it rolls back whole when anything is refused: a refused request changes nothing.
 * A snapshot's size is reserved (quota, then the host's storage) before its record is inserted with
 * _counted true, so that the record says exactly what is held; a copy takes its lease on the source in the
 * same transaction that starts the copy job.
 */
#include "snapshot_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../catalog.h"
#include "../jget.h"
#include "../lease.h"
#include "../placement.h"
#include "../quota.h"
#include "../util.h"
#include "../vm/vmrec.h"

/* The keys of a snapshot's view, in the order it shows them. */
static const char *const view_keys[] = {"id",      "name",  "vmId", "lun",      "sizeGB",
                                        "cloudId", "state", "copy", "createdAt"};

json_t *
snapshot_view(const json_t *rec)
{
    json_t *v = json_object(), *f;
    const json_t *src = json_object_get(rec, "sourceSnapshotId");
    size_t i;

    assert(rec != NULL);
    for (i = 0; v != NULL && i < sizeof(view_keys) / sizeof(view_keys[0]); i++) {
        f = json_object_get(rec, view_keys[i]);
        json_object_set_new(v, view_keys[i], f != NULL ? json_incref(f) : json_null());
    }
    if (v != NULL && json_is_string(src))
        json_object_set(v, "sourceSnapshotId", (json_t *) src);
    return v;
}

json_t *
snapshot__copy_json(int64_t copied, int64_t total)
{
    return json_pack("{s:I, s:I, s:I}", "bytesCopied", (json_int_t) copied, "bytesTotal",
                     (json_int_t) total, "percent",
                     (json_int_t) (total > 0 ? copied * 100 / total : 0));
}

int
snapshot__release(store_t *st, json_t *rec, err_t *err)
{
    assert(st != NULL && rec != NULL);
    return lease_release_holdings(st, rec, jget_int(rec, "sizeGB"), err);
}

/* A new record's own fields: a new id, its stamps, no lease, counted (its size is already reserved), on
 * host_id, in state. */
static void
stamp_new(json_t *rec, const char *host_id, const char *state)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];

    util_uuid(id);
    util_time_format(util_now_ms(), now);
    json_object_set_new(rec, "id", json_string(id));
    json_object_set_new(rec, "createdAt", json_string(now));
    json_object_set_new(rec, "updatedAt", json_string(now));
    json_object_set_new(rec, "state", json_string(state));
    json_object_set_new(rec, "_hostId", json_string(host_id));
    json_object_set_new(rec, "_leases", json_integer(0));
    json_object_set_new(rec, "_counted", json_true());
}

/* The size of the disk req names (the OS disk, or the data disk at its lun) into *size_gb; 400 naming lun
 * when the VM has no data disk there. */
static int
disk_size(const vm_rec_t *vm, const snapshot_create_req_t *req, int64_t *size_gb, err_t *err)
{
    const vm_disk_t *d;
    size_t i;

    for (i = 0; i < vm->ndisks; i++) {
        d = &vm->disks[i];
        if (req->has_lun ? d->kind == VM_DISK_DATA && d->lun == req->lun : d->kind == VM_DISK_OS) {
            *size_gb = d->size_gb;
            return 0;
        }
    }
    if (req->has_lun)
        return err_set(err, ERR_INVALID_REQUEST, "lun", "The VM has no data disk at lun %d.",
                       req->lun);
    return err_set(err, ERR_CONFLICT, NULL, "The VM has no OS disk to snapshot.");
}

/* The request's VM, free for a snapshot, and the cloud of its host into cloud_id. */
static int
load_vm(store_t *st, const vm_ctx_t *ctx, const char *vm_id, vm_rec_t *vm, json_t **host, err_t *err)
{
    int rc = vmrec_load(st, ctx->sid, vm_id, vm, NULL, err);

    if (rc == 0)
        return err_set(err, ERR_INVALID_REQUEST, "vmId", "No VM of this subscription has this id.");
    if (rc < 0 || vmrec_ready(vm, err))
        return -1;
    if (vm->host_id[0] == '\0')
        return err_set(err, ERR_CONFLICT, NULL, "The VM is on no host; its disks cannot be read.");
    rc = store_rec_lookup(st, &store_kind_host, vm->host_id, host, NULL, err);
    if (rc == 0)
        return err_set(err, ERR_INTERNAL, NULL, "The VM's host was not found.");
    return rc < 0 ? -1 : 0;
}

/* The end of a request that makes a snapshot: inserts rec (taken), starts its job and commits; answers the
 * view, the job in *job. On any failure, rolls the request's transaction back. */
static json_t *
insert_and_submit(store_t *st, json_t *rec, const char *kind, const char *lock_key,
                  const json_t *params, json_t **job, err_t *err)
{
    json_t *j = NULL, *view = NULL;

    if (rec == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        goto fail;
    }
    if (store_rec_insert(st, &store_kind_snapshot, rec, err))
        goto fail;
    j = job_submit(st, kind, jget_str(rec, "id"), jget_str(rec, "subscriptionId"),
                   lock_key ? lock_key : jget_str(rec, "id"), params, err);
    if (j == NULL)
        goto fail;
    if ((view = snapshot_view(rec)) == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        goto fail;
    }
    if (store_tx_commit(st, err))
        goto fail;
    json_decref(rec);
    *job = j;
    return view;
fail:
    store_tx_rollback(st);
    json_decref(rec);
    json_decref(j);
    json_decref(view);
    return NULL;
}

json_t *
snapshot_create(store_t *st, const vm_ctx_t *ctx, const snapshot_create_req_t *req, json_t **job,
                err_t *err)
{
    int64_t size = 0, delta[STORE_QUOTAS] = {0};
    json_t *host = NULL, *rec;
    vm_rec_t vm;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && ctx->plan != NULL);
    assert(req != NULL && req->name != NULL && req->vm_id != NULL && job != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    if (vm_subscription_writable(ctx->sub, err) || load_vm(st, ctx, req->vm_id, &vm, &host, err) ||
        disk_size(&vm, req, &size, err))
        goto fail;
    delta[QUOTA_STORAGE] = size;
    if (quota_reserve(st, ctx->sid, ctx->plan, delta, err) ||
        placement_hold(st, vm.host_id, 0, 0, size, "The VM's host has no room for the snapshot.",
                       err))
        goto fail;
    rec = json_pack("{s:s, s:s, s:s, s:o, s:I, s:O, s:n, s:n}", "name", req->name, "subscriptionId",
                    ctx->sid, "vmId", vm.id, "lun", req->has_lun ? json_integer(req->lun) : json_null(),
                    "sizeGB", (json_int_t) size, "cloudId", json_object_get(host, "cloudId"), "copy",
                    "sourceSnapshotId");
    if (rec != NULL)
        stamp_new(rec, vm.host_id, "creating");
    json_decref(host);
    /* Locked by the VM: no other job of the VM runs while its disk is read. */
    return insert_and_submit(st, rec, "snapshot.create", vm.id, NULL, job, err);
fail:
    store_tx_rollback(st);
    json_decref(host);
    return NULL;
}

json_t *
snapshot_get(store_t *st, const char *sid, const char *id, int64_t *rev, err_t *err)
{
    json_t *rec, *view;

    assert(st != NULL && sid != NULL && id != NULL);
    rec = store_rec_get_where(st, &store_kind_snapshot, id, "subscriptionId", sid, rev, err);
    if (rec == NULL)
        return NULL;
    view = snapshot_view(rec);
    json_decref(rec);
    if (view == NULL)
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return view;
}

json_t *
snapshot_list(store_t *st, const char *sid, int64_t after, int limit, int64_t *next, err_t *err)
{
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = sid};
    json_t *page, *views, *rec, *v;
    size_t i;

    assert(st != NULL && sid != NULL && next != NULL);
    page = store_rec_list(st, &store_kind_snapshot, &f, 1, after, limit, next, err);
    if (page == NULL)
        return NULL;
    views = json_array();
    json_array_foreach(page, i, rec) {
        v = snapshot_view(rec);
        if (views == NULL || v == NULL || json_array_append_new(views, v)) {
            json_decref(views);
            views = NULL;
            err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
            break;
        }
    }
    json_decref(page);
    return views;
}

/* The ok host of cloud_id with the most free storage, if it has room for size_gb: its allocation grows by
 * it, its id into host_id. 409 Conflict naming cloudId when no host of the cloud can take the copy. */
static int
pick_host(store_t *st, const char *cloud_id, int64_t size_gb, char host_id[UTIL_UUID_LEN + 1],
          err_t *err)
{
    store_filter_t f[2] = {{.field = "cloudId", .op = STORE_FILTER_EQ, .value = cloud_id},
                           {.field = "state", .op = STORE_FILTER_EQ, .value = "ok"}};
    json_t *all = store_rec_list_all(st, &store_kind_host, f, 2, err), *h;
    const json_t *best = NULL;
    int64_t best_free = -1, free_gb;
    size_t i;
    int rc;

    if (all == NULL)
        return -1;
    json_array_foreach(all, i, h) {
        free_gb = jget_int(json_object_get(h, "capacity"), "storageGB") -
                  jget_int(json_object_get(h, "allocated"), "storageGB");
        if (free_gb >= size_gb && free_gb > best_free) {
            best = h;
            best_free = free_gb;
        }
    }
    if (best == NULL) {
        rc = err_set(err, ERR_CONFLICT, "cloudId",
                     "No host of the cloud is in service with room for %lld GB.",
                     (long long) size_gb);
    } else {
        snprintf(host_id, UTIL_UUID_LEN + 1, "%s", jget_str(best, "id"));
        rc = placement_hold(st, host_id, 0, 0, size_gb,
                            "The chosen host has no room left for the copy.", err);
    }
    json_decref(all);
    return rc;
}

json_t *
snapshot_copy(store_t *st, const vm_ctx_t *ctx, const char *id, const char *cloud_id, json_t **job,
              err_t *err)
{
    char host_id[UTIL_UUID_LEN + 1];
    int64_t size, delta[STORE_QUOTAS] = {0};
    json_t *src, *rec = NULL, *params = NULL, *view;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && ctx->plan != NULL);
    assert(id != NULL && cloud_id != NULL && job != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    src = store_rec_get_where(st, &store_kind_snapshot, id, "subscriptionId", ctx->sid, NULL, err);
    if (src == NULL || vm_subscription_writable(ctx->sub, err))
        goto fail;
    if (!catalog_plan_allows_cloud(ctx->plan, cloud_id)) {
        err_set(err, ERR_INVALID_REQUEST, "cloudId",
                "The plan lets snapshots be copied only to its cloud and its replicaCloudIds.");
        goto fail;
    }
    if (strcmp(jget_str(src, "state"), "ready") != 0) {
        err_set(err, ERR_CONFLICT, NULL, "Only a ready snapshot can be copied; this one is %s.",
                jget_str(src, "state"));
        goto fail;
    }
    size = jget_int(src, "sizeGB");
    delta[QUOTA_STORAGE] = size;
    if (quota_reserve(st, ctx->sid, ctx->plan, delta, err) ||
        pick_host(st, cloud_id, size, host_id, err) ||
        lease_take(st, &store_kind_snapshot, id, err))
        goto fail;
    if ((rec = json_deep_copy(src)) != NULL) {
        stamp_new(rec, host_id, "copying");
        json_object_set_new(rec, "cloudId", json_string(cloud_id));
        json_object_set_new(rec, "sourceSnapshotId", json_string(id));
        json_object_set_new(rec, "copy", snapshot__copy_json(0, size * SNAPSHOT_GIB));
    }
    params = json_pack("{s:s}", "sourceSnapshotId", id);
    json_decref(src);
    view = insert_and_submit(st, rec, "snapshot.copy", NULL, params, job, err);
    json_decref(params);
    return view;
fail:
    store_tx_rollback(st);
    json_decref(src);
    return NULL;
}

json_t *
snapshot_delete(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev, err_t *err)
{
    json_t *rec, *j = NULL;
    int64_t rev = 0;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && id != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    rec = store_rec_get_where(st, &store_kind_snapshot, id, "subscriptionId", ctx->sid, &rev, err);
    if (rec == NULL || vm_subscription_writable(ctx->sub, err))
        goto out;
    if (expect_rev > 0 && rev != expect_rev) {
        err_set(err, ERR_PRECONDITION_FAILED, NULL, "The snapshot has changed since it was read.");
        goto out;
    }
    if (lease_check_free(rec, err) == 0)
        j = job_submit(st, "snapshot.delete", id, ctx->sid, id, NULL, err);
out:
    json_decref(rec);
    if (j == NULL || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        json_decref(j);
        j = NULL;
    }
    return j;
}

int
snapshot_delete_all(store_t *st, const char *sid, err_t *err)
{
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = sid};
    json_t *all, *rec;
    size_t i, n;

    assert(st != NULL && sid != NULL);
    if (store_tx_begin(st, err))
        return -1;
    if ((all = store_rec_list_all(st, &store_kind_snapshot, &f, 1, err)) == NULL) {
        store_tx_rollback(st);
        return -1;
    }
    /* A snapshot whose delete job runs holds its lock: the second submit is refused, and ignored. */
    json_array_foreach(all, i, rec)
        if (lease_check_free(rec, NULL) == 0)
            json_decref(job_submit(st, "snapshot.delete", jget_str(rec, "id"), sid, jget_str(rec, "id"),
                                   NULL, NULL));
    n = json_array_size(all);
    json_decref(all);
    if (store_tx_commit(st, err)) {
        store_tx_rollback(st);
        return -1;
    }
    return n == 0;
}
