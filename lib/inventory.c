/*
 * inventory.c: host inventory sync, unmanaged VMs, the simulated storage incident and re-association.
 *
 * A sync (the host.refresh job, started by an admin or by the periodic sweep) asks the host's agent what
 * VMs it has and compares with the records of the VMs placed there:
 * - a record whose VM the host no longer has becomes powerState unknown;
 * - a record whose VM the host reports in another steady power state takes the host's state;
 * - a VM on the host that no record owns is listed as unmanaged.
 * It never fights a running job: a VM with a job under way is left alone. The records are compared a page
 * of SYNC_PAGE at a time, each page in its own transaction, so that a sync's memory and the time it holds
 * the write lock stay bounded however many VMs the host has.
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

/* How many records a sync compares per transaction. */
#define SYNC_PAGE 256

/* True while a job is under way on the VM: its provisioning or power state is transitional. */
static bool
busy(const vm_rec_t *vm)
{
    return vm->provisioning == VM_PROV_CREATING || vm->provisioning == VM_PROV_UPDATING ||
           vm->provisioning == VM_PROV_DELETING || vm->power == VM_POWER_STARTING ||
           vm->power == VM_POWER_STOPPING || vm->power == VM_POWER_DEALLOCATING;
}

/* The power state a host reports (NULL: unknown) as the record's enum; a text no state names is an
 * internal error (the host's answer is not one the record can hold). */
static int
host_power(const char *text, vm_power_t *out, err_t *err)
{
    if (text == NULL) {
        *out = VM_POWER_UNKNOWN;
        return 0;
    }
    if (vm_power_parse(text, out))
        return err_set(err, ERR_INTERNAL, "powerState", "The host reported a power state no VM has.");
    return 0;
}

/* Copies text (NULL: "") into a record's buffer of size; a text too long for it is an internal error
 * naming field (the host's answer does not fit a record). */
static int
put_text(char *out, size_t size, const char *text, const char *field, err_t *err)
{
    if (text != NULL && strlen(text) >= size)
        return err_set(err, ERR_INTERNAL, field, "The host's %s does not fit a VM record.", field);
    snprintf(out, size, "%s", text ? text : "");
    return 0;
}

/* Brings one record (not busy, placed on host_id) in line with what the host reports of it (seen; NULL
 * when the host no longer has it) and saves it when it changed. */
static int
sync_one(store_t *st, const char *host_id, vm_rec_t *vm, const json_t *seen, err_t *err)
{
    const char *hp;
    vm_power_t power;

    if (seen == NULL) {
        if (vm->power == VM_POWER_UNKNOWN)
            return 0;
        if (events_emit(st, "vm.missing", vm->subscription_id, vm->id,
                        json_pack("{s:s, s:s, s:s}", "hostId", host_id, "hypervisorId",
                                  vm->hypervisor_id, "lastPowerState", vm_power_name(vm->power)),
                        err))
            return -1;
        vm->power = VM_POWER_UNKNOWN;
        return vmrec_save(st, vm, err);
    }
    hp = jget_str(seen, "powerState");
    if (hp == NULL || strcmp(hp, vm_power_name(vm->power)) == 0)
        return 0;
    if (host_power(hp, &power, err))
        return -1;
    /* Changed on the host: the record follows, and so do its holdings. */
    if (power == VM_POWER_DEALLOCATED && vmrec_release_host(st, vm, true, false, err))
        return -1;
    if (power != VM_POWER_DEALLOCATED && !vm->hold.holds_compute &&
        store_host_allocate(st, host_id, vm->cores, vm->memory_mb, 0, err) == 0)
        vm->hold.holds_compute = true;
    vm->power = power;
    return vmrec_save(st, vm, err);
}

/* The host's inventory, keyed by hypervisor id (new reference); NULL with err. */
static json_t *
host_inventory(store_t *st, const char *host_id, err_t *err)
{
    agent_call_t c = {"inventory", VM_AGENT_TIMEOUT_MS, NULL};
    agent_err_t aerr = {0};
    agent_t *a = hostreg_agent(st, host_id, err);
    agent_vm_list_t list;
    json_t *by_id;
    size_t i;

    if (a == NULL)
        return NULL;
    if (agent_inventory(a, &c, &list, &aerr) != 0) {
        err_set(err, ERR_UNAVAILABLE, NULL, "The host did not answer its inventory: %s",
                aerr.message);
        return NULL;
    }
    by_id = json_object();
    for (i = 0; by_id != NULL && i < list.n; i++)
        if (json_object_set_new(by_id, list.vms[i].hypervisor_id,
                                agent_vm_info_to_json(&list.vms[i]))) {
            json_decref(by_id);
            by_id = NULL;
        }
    agent_vm_list_free(&list);
    if (by_id == NULL)
        err_set(err, ERR_UNAVAILABLE, NULL, "Out of memory.");
    return by_id;
}

/* Whether any record owns hypervisor id hyp. */
static int
owned(store_t *st, const char *hyp, err_t *err)
{
    store_filter_t f = {.field = "hypervisorId", .op = STORE_FILTER_EQ, .value = hyp};
    int64_t n = store_rec_count(st, &store_kind_vm, &f, 1, err);

    return n < 0 ? -1 : n > 0;
}

/* Brings the page of records on host_id after position *after in line with the host's inventory inv, in a
 * transaction of its own; *after is then where the next page starts (0: none). Each record's sync stands
 * alone (a no-op when the record agrees), so a sync cut between pages is finished by the next. */
static int
sync_page(store_t *st, const char *host_id, const json_t *inv, int64_t *after, err_t *err)
{
    store_filter_t f = {.field = "hostId", .op = STORE_FILTER_EQ, .value = host_id};
    json_t *vms, *rec;
    int64_t next = 0;
    vm_rec_t vm;
    size_t i;

    assert(st != NULL && host_id != NULL && inv != NULL && after != NULL);
    if (store_tx_begin(st, err))
        return -1;
    if ((vms = store_rec_list(st, &store_kind_vm, &f, 1, *after, SYNC_PAGE, &next, err)) == NULL)
        goto fail;
    json_array_foreach(vms, i, rec) {
        if (vmrec_from_store(rec, &vm, err))
            goto fail;
        if (vm.hypervisor_id[0] == '\0' || busy(&vm))
            continue; /* never fight a running job */
        if (sync_one(st, host_id, &vm, json_object_get(inv, vm.hypervisor_id), err))
            goto fail;
    }
    json_decref(vms);
    vms = NULL;
    if (store_tx_commit(st, err))
        goto fail;
    *after = next;
    return 0;
fail:
    json_decref(vms);
    store_tx_rollback(st);
    return -1;
}

int
inventory_sync(store_t *st, const char *host_id, err_t *err)
{
    json_t *inv, *seen, *unmanaged = NULL, *host;
    const char *key;
    char now[UTIL_TIME_LEN + 1];
    int64_t after = 0;
    int rc = -1, o;

    assert(st != NULL && host_id != NULL);
    inv = host_inventory(st, host_id, err);
    if (inv == NULL)
        return -1;
    do {
        if (sync_page(st, host_id, inv, &after, err))
            goto out;
    } while (after != 0);
    if (store_tx_begin(st, err))
        goto out;
    unmanaged = json_array();
    json_object_foreach(inv, key, seen) {
        o = owned(st, key, err);
        if (o < 0)
            goto fail;
        if (!o)
            json_array_append_new(unmanaged,
                                  json_pack("{s:s, s:O?, s:O?}", "hypervisorId", key, "name",
                                            json_object_get(seen, "name"), "powerState",
                                            json_object_get(seen, "powerState")));
    }
    if (store_unmanaged_replace(st, host_id, unmanaged, err))
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
    json_decref(unmanaged);
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
    catalog_host_state_t state;
    json_t *page, *host, *j;
    size_t i;
    int started = 0;

    do {
        page = store_rec_list(st, &store_kind_host, NULL, 0, after, 500, &next, err);
        if (page == NULL)
            return -1;
        json_array_foreach(page, i, host) {
            /* An unreachable host would only fail its refresh at the deadline: the heartbeat starts
             * one when the host answers again (lib/hostwatch.h). */
            if (catalog_host_state_parse(jget_str(host, "state"), &state) == 0 &&
                state == CATALOG_HOST_UNREACHABLE)
                continue;
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
    if (!agent_kind_can_simulate(jget_str(json_object_get(host, "agent"), "kind"))) {
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

/* Moves the VM's holdings to host_id (when it moved) and points it at the VM the host reports (seen) with
 * the host's power state. */
static int
point_at(store_t *st, vm_rec_t *vm, const char *host_id, const json_t *seen, err_t *err)
{
    const char *ps = jget_str(seen, "powerState"), *hyp = jget_str(seen, "hypervisorId");
    bool compute = ps && strcmp(ps, "deallocated") != 0;
    vm_power_t power;

    if (host_power(ps, &power, err))
        return -1;
    if (strcmp(vm->host_id, host_id) != 0) {
        if (vmrec_release_host(st, vm, true, true, err) ||
            put_text(vm->host_id, sizeof(vm->host_id), host_id, "hostId", err))
            return -1;
    } else if (!compute && vmrec_release_host(st, vm, true, false, err)) {
        return -1;
    }
    if (!vm->hold.holds_storage) {
        if (store_host_grow_storage(st, host_id, vm->hold.storage_gb, err))
            return -1;
        vm->hold.holds_storage = true;
    }
    if (compute && !vm->hold.holds_compute) {
        if (placement_hold(st, host_id, vm->cores, vm->memory_mb, 0,
                           "The host has no room for this VM.", err))
            return -1;
        vm->hold.holds_compute = true;
    }
    if (hyp != NULL && put_text(vm->hypervisor_id, sizeof(vm->hypervisor_id), hyp, "hypervisorId", err))
        return -1;
    vm->power = power;
    vm->provisioning = VM_PROV_SUCCEEDED;
    return store_unmanaged_remove(st, host_id, hyp, err);
}

json_t *
inventory_reassociate(store_t *st, const char *vm_id, const inventory_target_t *to, err_t *err)
{
    const char *host_id, *hyp;
    json_t *seen = NULL, *view = NULL;
    vm_rec_t vm;
    int rc;

    assert(st != NULL && vm_id != NULL && to != NULL && to->host_id != NULL && to->hypervisor_id != NULL);
    host_id = to->host_id;
    hyp = to->hypervisor_id;
    rc = vmrec_load(st, NULL, vm_id, &vm, NULL, err);
    if (rc == 0)
        err_set(err, ERR_NOT_FOUND, NULL, "The VM was not found.");
    if (rc <= 0)
        return NULL;
    if (busy(&vm)) {
        err_set(err, ERR_OPERATION_IN_PROGRESS, NULL, "A job is under way on this VM.");
        return NULL;
    }
    if (check_host(st, host_id, err))
        return NULL;
    if ((seen = unowned_on_host(st, host_id, hyp, err)) == NULL)
        return NULL;
    if (store_tx_begin(st, err))
        goto out;
    rc = vmrec_load(st, NULL, vm_id, &vm, NULL, err);
    if (rc == 0)
        err_set(err, ERR_NOT_FOUND, NULL, "The VM was not found.");
    if (rc <= 0 || point_at(st, &vm, host_id, seen, err) || vmrec_save(st, &vm, err) ||
        store_tx_commit(st, err)) {
        store_tx_rollback(st);
        goto out;
    }
    /* Committed: the view is made from the record as saved. */
    if ((view = vm_render_view(&vm, true)) == NULL)
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
out:
    json_decref(seen);
    return view;
}

/* The disks the host reports of an adopted VM (seen) into vm, and their storage into its holdings: the OS
 * disk (lun null) caches ReadWrite, data disks None. */
static int
adopted_disks(const json_t *seen, vm_rec_t *vm, err_t *err)
{
    const json_t *disk, *lun;
    vm_disk_t *d;
    size_t i;

    json_array_foreach(json_object_get(seen, "disks"), i, disk) {
        if (vm->ndisks == VM_REC_MAX_DISKS)
            return err_set(err, ERR_INTERNAL, "disks", "The host reports more disks than a VM has.");
        d = &vm->disks[vm->ndisks];
        lun = json_object_get(disk, "lun");
        d->lun = json_is_integer(lun) ? (int) json_integer_value(lun) : -1;
        d->size_gb = jget_int(disk, "sizeGB");
        d->caching = json_is_integer(lun) ? VM_CACHING_NONE : VM_CACHING_READ_WRITE;
        d->kind = json_is_integer(lun) ? VM_DISK_DATA : VM_DISK_OS;
        vm->hold.storage_gb += d->size_gb;
        vm->ndisks++;
    }
    return 0;
}

/* The record of an unmanaged VM (seen) adopted as an instance of role, made from the gallery item (its
 * image) and the host's report: creating and stopped, on no host yet, its holdings counted but not held. */
static int
adopted_record(store_t *st, const json_t *role, const json_t *seen, vm_rec_t *vm, err_t *err)
{
    json_t *item, *image = NULL;
    int rc = -1;

    item = store_rec_get(st, &store_kind_gallery_item, jget_str(role, "galleryItemId"), NULL, err);
    if (item == NULL)
        return -1;
    memset(vm, 0, sizeof(*vm));
    util_uuid(vm->id);
    util_time_format(util_now_ms(), vm->created_at);
    memcpy(vm->updated_at, vm->created_at, sizeof(vm->updated_at));
    vm->cores = jget_int(seen, "cores");
    vm->memory_mb = jget_int(seen, "memoryMB");
    vm->provisioning = VM_PROV_CREATING;
    vm->power = VM_POWER_STOPPED;
    if (put_text(vm->name, sizeof(vm->name), jget_str(seen, "name"), "name", err) ||
        put_text(vm->subscription_id, sizeof(vm->subscription_id), jget_str(role, "subscriptionId"),
                 "subscriptionId", err) ||
        put_text(vm->size, sizeof(vm->size), jget_str(role, "size"), "size", err) ||
        put_text(vm->image_id, sizeof(vm->image_id), jget_str(item, "imageId"), "imageId", err) ||
        put_text(vm->vm_role_id, sizeof(vm->vm_role_id), jget_str(role, "id"), "vmRoleId", err) ||
        adopted_disks(seen, vm, err))
        goto out;
    vmrec_init_holdings(vm, vm->hold.storage_gb, false);
    image = store_rec_get(st, &store_kind_image, jget_str(item, "imageId"), NULL, err);
    if (image == NULL ||
        put_text(vm->os_type, sizeof(vm->os_type), jget_str(image, "osType"), "osType", err))
        goto out;
    vm->generation = jget_int(image, "generation");
    rc = 0;
out:
    json_decref(image);
    json_decref(item);
    return rc;
}

int
inventory_adopt(store_t *st, const json_t *role, const char *host_id, const char *hyp, err_t *err)
{
    json_t *seen;
    int64_t d[STORE_QUOTAS] = {0};
    vm_rec_t vm;
    int rc = -1;

    assert(st != NULL && role != NULL && host_id != NULL && hyp != NULL);
    if (check_host(st, host_id, err))
        return -1;
    if ((seen = unowned_on_host(st, host_id, hyp, err)) == NULL)
        return -1;
    if (adopted_record(st, role, seen, &vm, err) || store_tx_begin(st, err))
        goto out;
    d[QUOTA_VMS] = 1;
    d[QUOTA_CORES] = vm.cores;
    d[QUOTA_MEMORY] = vm.memory_mb;
    d[QUOTA_STORAGE] = vm.hold.storage_gb;
    if (quota_adjust(st, vm.subscription_id, d, err) || vmrec_insert(st, &vm, err) ||
        point_at(st, &vm, host_id, seen, err) || vmrec_save(st, &vm, err) ||
        store_tx_commit(st, err)) {
        store_tx_rollback(st);
        goto out;
    }
    rc = 0;
out:
    json_decref(seen);
    return rc;
}
