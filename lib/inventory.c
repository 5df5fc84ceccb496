/*
 * inventory.c: host inventory sync, unmanaged VMs, the simulated storage incident and re-association.
 *
 * A sync (the host.refresh job, started by an admin or by the periodic sweep) asks the host's agent what
 * VMs it has and compares with the records of the VMs placed there:
 * - a record whose VM the host no longer has becomes powerState unknown;
 * - a record whose VM the host reports in another steady power state takes the host's state;
 * - a VM on the host that no record owns is listed as unmanaged.
 * It never fights a running job: a VM with a job under way is left alone.
 *
 * Re-association points a record at the VM that reappeared under a new hypervisor id: the record keeps
 * its id, role membership, checkpoint and history.
 */
#include "inventory.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "catalog.h"
#include "events.h"
#include "hostreg.h"
#include "job.h"
#include "placement.h"
#include "quota.h"
#include "util.h"
#include "vm/vmstep.h"

static bool
busy(const json_t *vm)
{
    static const char *const states[] = {"creating", "updating", "deleting", "starting",
                                         "stopping", "deallocating", NULL};
    const char *ps = jget_str(vm, "provisioningState"), *pw = jget_str(vm, "powerState");
    int i;

    for (i = 0; states[i]; i++)
        if (strcmp(ps, states[i]) == 0 || strcmp(pw, states[i]) == 0)
            return true;
    return false;
}

/* The host's inventory, keyed by hypervisor id (new reference); NULL with err. */
static json_t *
host_inventory(store_t *st, const char *host_id, err_t *err)
{
    agent_call_t c = {"inventory", VM_AGENT_TIMEOUT_MS};
    agent_err_t aerr = {0};
    agent_t *a = hostreg_agent(st, host_id, err);
    json_t *list = NULL, *by_id, *vm;
    size_t i;

    if (a == NULL)
        return NULL;
    if (agent_inventory(a, &c, &list, &aerr) != 0) {
        err_set(err, ERR_UNAVAILABLE, NULL, "The host did not answer its inventory: %s",
                aerr.message);
        return NULL;
    }
    by_id = json_object();
    json_array_foreach(list, i, vm)
        json_object_set(by_id, jget_str(vm, "hypervisorId"), vm);
    json_decref(list);
    return by_id;
}

static json_t *
vms_on_host(store_t *st, const char *host_id, err_t *err)
{
    store_filter_t f = {.field = "hostId", .op = STORE_FILTER_EQ, .value = host_id};

    return store_rec_list_all(st, &store_kind_vm, &f, 1, err);
}

/* Whether any record owns hypervisor id hyp. */
static int
owned(store_t *st, const char *hyp, err_t *err)
{
    store_filter_t f = {.field = "hypervisorId", .op = STORE_FILTER_EQ, .value = hyp};
    int64_t n = store_rec_count(st, &store_kind_vm, &f, 1, err);

    return n < 0 ? -1 : n > 0;
}

int
inventory_sync(store_t *st, const char *host_id, err_t *err)
{
    json_t *inv, *vms = NULL, *vm, *seen, *unmanaged, *host;
    const char *key, *hyp, *hp;
    char now[UTIL_TIME_LEN + 1];
    size_t i;
    int rc = -1, o;

    assert(st != NULL && host_id != NULL);
    inv = host_inventory(st, host_id, err);
    if (inv == NULL)
        return -1;
    if (store_tx_begin(st, err))
        goto out;
    if ((vms = vms_on_host(st, host_id, err)) == NULL)
        goto fail;
    json_array_foreach(vms, i, vm) {
        hyp = jget_str(vm, "hypervisorId");
        if (hyp == NULL || busy(vm))
            continue; /* never fight a running job */
        seen = json_object_get(inv, hyp);
        if (seen == NULL) {
            if (strcmp(jget_str(vm, "powerState"), "unknown") == 0)
                continue;
            if (events_emit(st, "vm.missing", jget_str(vm, "subscriptionId"), jget_str(vm, "id"),
                            json_pack("{s:s, s:s, s:s}", "hostId", host_id, "hypervisorId", hyp,
                                      "lastPowerState", jget_str(vm, "powerState")),
                            err))
                goto fail;
            json_object_set_new(vm, "powerState", json_string("unknown"));
        } else {
            hp = jget_str(seen, "powerState");
            if (hp == NULL || strcmp(hp, jget_str(vm, "powerState")) == 0)
                continue;
            /* Changed on the host: the record follows, and so do its holdings. */
            if (strcmp(hp, "deallocated") == 0 && vmrec_release_host(st, vm, true, false, err))
                goto fail;
            if (strcmp(hp, "deallocated") != 0 && !vmrec_holds_compute(vm) &&
                store_host_allocate(st, host_id, jget_int(vm, "cores"), jget_int(vm, "memoryMB"), 0,
                                    err) == 0)
                vmrec_set_compute_held(vm);
            json_object_set_new(vm, "powerState", json_string(hp));
        }
        if (vmrec_save(st, vm, err))
            goto fail;
    }
    unmanaged = json_array();
    json_object_foreach(inv, key, seen) {
        o = owned(st, key, err);
        if (o < 0) {
            json_decref(unmanaged);
            goto fail;
        }
        if (!o)
            json_array_append_new(unmanaged,
                                  json_pack("{s:s, s:O?, s:O?}", "hypervisorId", key, "name",
                                            json_object_get(seen, "name"), "powerState",
                                            json_object_get(seen, "powerState")));
    }
    rc = store_unmanaged_replace(st, host_id, unmanaged, err);
    json_decref(unmanaged);
    if (rc)
        goto fail;
    host = store_rec_get(st, &store_kind_host, host_id, NULL, err);
    if (host == NULL)
        goto fail;
    util_time_format(util_now_ms(), now);
    json_object_set_new(host, "lastSeenAt", json_string(now));
    rc = store_rec_update(st, &store_kind_host, host_id, host, 0, err);
    json_decref(host);
    if (rc || store_tx_commit(st, err))
        goto fail;
    rc = 0;
    goto out;
fail:
    rc = -1;
    store_tx_rollback(st);
out:
    json_decref(vms);
    json_decref(inv);
    return rc;
}

static job_step_result_t
step_sync(job_ctx_t *ctx, err_t *err)
{
    if (inventory_sync(job_ctx_store(ctx), job_ctx_resource(ctx), err) == 0)
        return JOB_STEP_DONE;
    return err->code == ERR_NOT_FOUND ? JOB_STEP_FAILED : JOB_STEP_RETRY;
}

static const job_step_def_t refresh_steps[] = {{"syncInventory", step_sync}, {NULL, NULL}};
static const job_kind_def_t refresh_kind = {"host.refresh", refresh_steps, 5 * 60 * 1000, NULL, NULL,
                                            NULL, NULL};

int
inventory_jobs_register(void)
{
    return job_kind_register(&refresh_kind);
}

json_t *
inventory_refresh(store_t *st, const char *host_id, err_t *err)
{
    char lock[UTIL_UUID_LEN + 8];
    json_t *host;

    assert(st != NULL && host_id != NULL);
    host = store_rec_get(st, &store_kind_host, host_id, NULL, err);
    if (host == NULL)
        return NULL;
    json_decref(host);
    snprintf(lock, sizeof(lock), "host:%s", host_id);
    return job_submit(st, "host.refresh", host_id, NULL, lock, NULL, err);
}

int
inventory_sweep(store_t *st, err_t *err)
{
    int64_t after = 0, next = 0;
    json_t *page, *host, *j;
    size_t i;
    int started = 0;

    do {
        page = store_rec_list(st, &store_kind_host, NULL, 0, after, 500, &next, err);
        if (page == NULL)
            return -1;
        json_array_foreach(page, i, host) {
            /* One at a time per host: a host with a refresh under way is refused, and skipped. */
            j = inventory_refresh(st, jget_str(host, "id"), NULL);
            if (j)
                started++;
            json_decref(j);
        }
        json_decref(page);
        after = next;
    } while (next);
    return started;
}

json_t *
inventory_unmanaged(store_t *st, const char *host_id, err_t *err)
{
    json_t *host;

    assert(st != NULL && host_id != NULL);
    host = store_rec_get(st, &store_kind_host, host_id, NULL, err);

    if (host == NULL)
        return NULL;
    json_decref(host);
    return store_unmanaged_list(st, host_id, err);
}

/* The hypervisor ids of req's VMs, all on host_id (new reference); NULL with 400 on the first that is
 * not. */
static json_t *
hypervisor_ids(store_t *st, const char *host_id, const inventory_simulate_req_t *req, err_t *err)
{
    json_t *hyps = json_array(), *vm, *hyp;
    char target[48];
    size_t i;
    int rc;

    for (i = 0; i < req->nvms; i++) {
        vm = NULL;
        rc = vmrec_lookup(st, &store_kind_vm, req->vm_ids[i], "hostId", host_id, &vm, err);
        if (rc < 0)
            goto fail;
        hyp = json_object_get(vm, "hypervisorId");
        if (!json_is_string(hyp)) {
            json_decref(vm);
            snprintf(target, sizeof(target), "regenerateIds[%zu]", i);
            err_set(err, ERR_INVALID_REQUEST, target, "%s names no VM on this host.", target);
            goto fail;
        }
        json_array_append(hyps, hyp);
        json_decref(vm);
    }
    return hyps;
fail:
    json_decref(hyps);
    return NULL;
}

json_t *
inventory_simulate(store_t *st, const char *host_id, const inventory_simulate_req_t *req,
                   err_t *err)
{
    json_t *host, *hyps, *res = NULL, *out;
    agent_err_t aerr = {0};
    agent_t *a;
    size_t i;

    assert(st != NULL && host_id != NULL && req != NULL && (req->nvms == 0 || req->vm_ids != NULL));
    host = store_rec_get(st, &store_kind_host, host_id, NULL, err);
    if (host == NULL)
        return NULL;
    if (strcmp(jget_str(json_object_get(host, "agent"), "kind"), "sim") != 0) {
        json_decref(host);
        err_set(err, ERR_INVALID_REQUEST, NULL, "Only simulated hosts take simulator controls.");
        return NULL;
    }
    json_decref(host);
    if ((hyps = hypervisor_ids(st, host_id, req, err)) == NULL)
        return NULL;
    a = hostreg_agent(st, host_id, err);
    if (a == NULL) {
        json_decref(hyps);
        return NULL;
    }
    out = json_pack("{s:O}", "regenerateIds", hyps);
    if (agent_simulate(a, out, &res, &aerr) != 0) {
        json_decref(out);
        json_decref(hyps);
        err_set(err, ERR_HOST_FAILED, NULL, "The simulated host refused: %s", aerr.message);
        return NULL;
    }
    json_decref(out);
    /* Answer per VM: its old and new hypervisor ids. */
    out = json_array();
    for (i = 0; i < req->nvms; i++) {
        const char *old = json_string_value(json_array_get(hyps, i));
        json_array_append_new(out, json_pack("{s:s, s:s, s:O}", "vmId", req->vm_ids[i], "oldHypervisorId", old,
                                             "newHypervisorId",
                                             json_object_get(json_object_get(res, "regenerated"),
                                                             old)));
    }
    json_decref(res);
    json_decref(hyps);
    return json_pack("{s:o}", "regenerated", out);
}

/* The VM the host has under hyp (new reference), or NULL: 400 naming hypervisorId, or 409 when a record
 * already owns it. */
static json_t *
unowned_on_host(store_t *st, const char *host_id, const char *hyp, err_t *err)
{
    json_t *inv = host_inventory(st, host_id, err), *vm;
    int o;

    if (inv == NULL)
        return NULL;
    vm = json_incref(json_object_get(inv, hyp));
    json_decref(inv);
    if (vm == NULL) {
        err_set(err, ERR_INVALID_REQUEST, "hypervisorId",
                "The host has no VM with this hypervisor id.");
        return NULL;
    }
    o = owned(st, hyp, err);
    if (o != 0) {
        json_decref(vm);
        if (o > 0)
            err_set(err, ERR_CONFLICT, "hypervisorId", "A record already owns this VM.");
        return NULL;
    }
    return vm;
}

/* 400 on hostId unless a host has that id. */
static int
check_host(store_t *st, const char *host_id, err_t *err)
{
    int rc = vmrec_exists(st, &store_kind_host, host_id, NULL, NULL, err);

    if (rc == 0)
        return err_set(err, ERR_INVALID_REQUEST, "hostId", "No host has this id.");
    return rc < 0 ? -1 : 0;
}

/* Moves the VM's holdings to host_id (when it moved) and points it at hyp with the host's power state. */
static int
point_at(store_t *st, json_t *vm, const char *host_id, const json_t *seen, err_t *err)
{
    const char *ps = jget_str(seen, "powerState");
    bool compute = ps && strcmp(ps, "deallocated") != 0;

    if (jget_str(vm, "hostId") == NULL || strcmp(jget_str(vm, "hostId"), host_id) != 0) {
        if (vmrec_release_host(st, vm, true, true, err))
            return -1;
        json_object_set_new(vm, "hostId", json_string(host_id));
    } else if (!compute && vmrec_release_host(st, vm, true, false, err)) {
        return -1;
    }
    if (!vmrec_holds_storage(vm)) {
        if (store_host_grow_storage(st, host_id, vmrec_storage_gb(vm), err))
            return -1;
        vmrec_set_storage_held(vm);
    }
    if (compute && !vmrec_holds_compute(vm)) {
        if (placement_hold(st, host_id, jget_int(vm, "cores"), jget_int(vm, "memoryMB"), 0,
                           "The host has no room for this VM.", err))
            return -1;
        vmrec_set_compute_held(vm);
    }
    json_object_set(vm, "hypervisorId", json_object_get(seen, "hypervisorId"));
    json_object_set_new(vm, "powerState", json_string(ps ? ps : "unknown"));
    json_object_set_new(vm, "provisioningState", json_string("succeeded"));
    return store_unmanaged_remove(st, host_id, jget_str(seen, "hypervisorId"), err);
}

json_t *
inventory_reassociate(store_t *st, const char *vm_id, const inventory_target_t *to, err_t *err)
{
    const char *host_id, *hyp;
    json_t *vm = NULL, *seen = NULL;

    assert(st != NULL && vm_id != NULL && to != NULL && to->host_id != NULL && to->hypervisor_id != NULL);
    host_id = to->host_id;
    hyp = to->hypervisor_id;
    vm = vmrec_load(st, NULL, vm_id, NULL, err);
    if (vm == NULL)
        return NULL;
    if (busy(vm)) {
        json_decref(vm);
        err_set(err, ERR_OPERATION_IN_PROGRESS, NULL, "A job is under way on this VM.");
        return NULL;
    }
    json_decref(vm);
    vm = NULL;
    if (check_host(st, host_id, err))
        return NULL;
    if ((seen = unowned_on_host(st, host_id, hyp, err)) == NULL)
        return NULL;
    if (store_tx_begin(st, err))
        goto out;
    vm = vmrec_load(st, NULL, vm_id, NULL, err);
    if (vm == NULL || point_at(st, vm, host_id, seen, err) || vmrec_save(st, vm, err) ||
        store_tx_commit(st, err)) {
        store_tx_rollback(st);
        json_decref(vm);
        vm = NULL;
    }
out:
    json_decref(seen);
    if (vm)
        vm_view(vm, true);
    return vm;
}

json_t *
inventory_adopt(store_t *st, const json_t *role, const char *host_id, const char *hyp, err_t *err)
{
    json_t *seen, *item = NULL, *vm = NULL, *disks;
    int64_t storage = 0, d[STORE_QUOTAS] = {0};
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    const json_t *disk;
    size_t i;

    assert(st != NULL && role != NULL && host_id != NULL && hyp != NULL);
    if (check_host(st, host_id, err))
        return NULL;
    if ((seen = unowned_on_host(st, host_id, hyp, err)) == NULL)
        return NULL;
    item = store_rec_get(st, &store_kind_gallery_item, jget_str(role, "galleryItemId"), NULL, err);
    if (item == NULL)
        goto out;
    disks = json_array();
    json_array_foreach(json_object_get(seen, "disks"), i, disk) {
        json_array_append_new(disks, json_pack("{s:O, s:O, s:O, s:s}", "lun", json_object_get(disk, "lun"),
                                               "kind", json_object_get(disk, "kind"), "sizeGB",
                                               json_object_get(disk, "sizeGB"), "caching",
                                               json_is_integer(json_object_get(disk, "lun")) ? "None"
                                                                                             : "ReadWrite"));
        storage += jget_int(disk, "sizeGB");
    }
    util_uuid(id);
    util_time_format(util_now_ms(), now);
    vm = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:s, s:O, s:s, s:s, s:o, s:[], s:n, s:s, "
                   "s:s, s:n, s:n}",
                   "id", id, "name", json_object_get(seen, "name"), "subscriptionId",
                   json_object_get(role, "subscriptionId"), "size", json_object_get(role, "size"),
                   "cores", json_object_get(seen, "cores"), "memoryMB",
                   json_object_get(seen, "memoryMB"), "imageId", json_object_get(item, "imageId"),
                   "osType", "windows", "vmRoleId", json_object_get(role, "id"), "provisioningState",
                   "creating", "powerState", "stopped", "disks", disks, "nics", "checkpoint",
                   "createdAt", now, "updatedAt", now, "hostId", "hypervisorId");
    if (vm == NULL)
        goto out;
    if (vmrec_init_holdings(vm, storage, false, err))
        goto fail_vm;
    {
        json_t *image = store_rec_get(st, &store_kind_image, jget_str(item, "imageId"), NULL, err);
        if (image == NULL)
            goto fail_vm;
        json_object_set(vm, "osType", json_object_get(image, "osType"));
        json_object_set(vm, "generation", json_object_get(image, "generation"));
        json_decref(image);
    }
    if (store_tx_begin(st, err))
        goto fail_vm;
    d[QUOTA_VMS] = 1;
    d[QUOTA_CORES] = jget_int(vm, "cores");
    d[QUOTA_MEMORY] = jget_int(vm, "memoryMB");
    d[QUOTA_STORAGE] = storage;
    if (quota_adjust(st, jget_str(role, "subscriptionId"), d, err) ||
        store_rec_insert(st, &store_kind_vm, vm, err) ||
        store_timeline_append(st, vm, "created", err) || point_at(st, vm, host_id, seen, err) ||
        vmrec_save(st, vm, err) || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        goto fail_vm;
    }
    goto out;
fail_vm:
    json_decref(vm);
    vm = NULL;
out:
    json_decref(item);
    json_decref(seen);
    return vm;
}
