/*
 * adopt.c: pointing records at VMs a host has: re-association (a record follows its VM, which reappeared
 * under a new hypervisor id, keeping its id, role membership, checkpoint and history) and adoption (a VM
 * role takes an unmanaged VM as an instance). Both read the host's inventory and refuse a VM a record
 * already owns. Each raises its event in the transaction of its change: vm.reassociated, or
 * vmrole.instanceJoined (the adopted record's first save also raises vm.created).
 */
#include "../inventory.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../agent.h"
#include "../catalog.h"
#include "../events.h"
#include "../hostreg.h"
#include "../job.h"
#include "../placement.h"
#include "../quota.h"
#include "../util.h"
#include "../vm/vmstep.h"
#include "inventory_internal.h"

/* The VM the host has under hyp (new reference), or NULL: 400 naming hypervisorId, or 409 when a record
 * already owns it. */
static json_t *
unowned_on_host(store_t *st, const char *host_id, const char *hyp, err_t *err)
{
    json_t *inv = inventory__host_inventory(st, host_id, err), *vm;
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
    o = inventory__owned(st, hyp, err);
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

    if (inventory__host_power(ps, &power, err))
        return -1;
    if (strcmp(vm->host_id, host_id) != 0) {
        if (vmrec_release_host(st, vm, true, true, err) ||
            inventory__put_text(vm->host_id, sizeof(vm->host_id), host_id, "hostId", err))
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
    if (hyp != NULL && inventory__put_text(vm->hypervisor_id, sizeof(vm->hypervisor_id), hyp, "hypervisorId", err))
        return -1;
    vm->power = power;
    vm->provisioning = VM_PROV_SUCCEEDED;
    return store_unmanaged_remove(st, host_id, hyp, err);
}

json_t *
inventory_reassociate(store_t *st, const char *vm_id, const inventory_target_t *to, err_t *err)
{
    const char *host_id, *hyp;
    char from[sizeof(((vm_rec_t *) NULL)->host_id)];
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
    if (inventory__busy(&vm)) {
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
    if (rc > 0)
        snprintf(from, sizeof(from), "%s", vm.host_id);
    if (rc <= 0 || point_at(st, &vm, host_id, seen, err) || vmrec_save(st, &vm, err) ||
        events_emit(st, "vm.reassociated", vm.subscription_id, vm.id,
                    json_pack("{s:s?, s:s, s:s}", "fromHostId", from[0] ? from : NULL, "toHostId",
                              host_id, "hypervisorId", hyp),
                    err) ||
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
    if (inventory__put_text(vm->name, sizeof(vm->name), jget_str(seen, "name"), "name", err) ||
        inventory__put_text(vm->subscription_id, sizeof(vm->subscription_id), jget_str(role, "subscriptionId"),
                 "subscriptionId", err) ||
        inventory__put_text(vm->size, sizeof(vm->size), jget_str(role, "size"), "size", err) ||
        inventory__put_text(vm->image_id, sizeof(vm->image_id), jget_str(item, "imageId"), "imageId", err) ||
        inventory__put_text(vm->vm_role_id, sizeof(vm->vm_role_id), jget_str(role, "id"), "vmRoleId", err) ||
        adopted_disks(seen, vm, err))
        goto out;
    vmrec_init_holdings(vm, vm->hold.storage_gb, false);
    image = store_rec_get(st, &store_kind_image, jget_str(item, "imageId"), NULL, err);
    if (image == NULL ||
        inventory__put_text(vm->os_type, sizeof(vm->os_type), jget_str(image, "osType"), "osType", err))
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
        events_emit(st, "vmrole.instanceJoined", vm.subscription_id, jget_str(role, "id"),
                    json_pack("{s:s, s:b}", "vmId", vm.id, "adopted", true), err) ||
        store_tx_commit(st, err)) {
        store_tx_rollback(st);
        goto out;
    }
    rc = 0;
out:
    json_decref(seen);
    return rc;
}
