/*
 * disk.c: data disks, attach and detach: the requests and their jobs (vm.disk.attach, vm.disk.detach).
 *
 * A VM has up to 64 data disks at luns 0 to 63. Attaching reserves the disk's storage at once, against the
 * plan's quotas and on the VM's host when it holds storage there; a failed attach gives it back unless the
 * host has the disk. A detach releases the storage when the host no longer has the disk. A disk made from a
 * snapshot (of the VM host's cloud) is a clone of it, of its size: the snapshot is leased from the request
 * to the job's end, and the attach polls while the host clones. The feed hears of a disk that reached or
 * left the host, in the transaction that records it: vm.disk.attached when the attach ends (or fails with
 * the disk on the host), vm.disk.detached when the record lets the disk go; data {lun, sizeGB}.
 */
#include <assert.h>
#include <string.h>

#include "../events.h"
#include "../placement.h"
#include "../quota.h"
#include "image.h"
#include "vmstep.h"

/* The VM of ctx, free for a job, its subscription writable: 0, or -1 with err. */
static int
load_ready(store_t *st, const vm_ctx_t *ctx, const char *id, vm_rec_t *vm, err_t *err)
{
    return vm__load_for_change(st, ctx, id, 0, vm, err) || vmrec_busy(vm, err) ? -1 : 0;
}

/* The lun a new disk takes: the one asked for (409 when taken), else the lowest free one. */
static int
pick_lun(const vm_rec_t *vm, int asked, int64_t *lun, err_t *err)
{
    int64_t l;

    if (asked >= 0) {
        if (!vmrec_lun_free(vm, asked))
            return err_set(err, ERR_CONFLICT, "lun", "Lun %d is taken.", asked);
        *lun = asked;
        return 0;
    }
    for (l = 0; l <= VM_MAX_LUN && !vmrec_lun_free(vm, l); l++)
        ;
    if (l > VM_MAX_LUN)
        return err_set(err, ERR_CONFLICT, "lun", "Every lun is taken.");
    *lun = l;
    return 0;
}

/* The end of a disk request: with params (stolen), puts the VM in updating and starts the job of kind on
 * it, then commits the request's transaction; without (the request was refused, err set), rolls it back.
 * Returns the job. */
static json_t *
submit_or_roll_back(store_t *st, vm_rec_t *vm, const char *kind, json_t *params, err_t *err)
{
    json_t *j = NULL;

    if (params != NULL) {
        vm->provisioning = VM_PROV_UPDATING;
        j = vmrec_submit(st, vm, kind, params, err);
    }
    json_decref(params);
    if (j == NULL || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The job's params for a new disk: its lun, size and caching, and with a snapshot, the source (leased). */
static json_t *
attach_params(store_t *st, const vm_ctx_t *ctx, const vm_rec_t *vm, const vm_disk_req_t *disk,
              int64_t lun, int64_t *size, err_t *err)
{
    char cloud[VM_REC_ID_MAX];
    json_t *p = json_object();

    if (vmrec__or_oom(p, err) == NULL)
        return NULL;
    if (disk->snapshot_id != NULL &&
        (vm_image__host_cloud(st, vm->host_id, cloud, err) ||
         vm_image__use_snapshot(st, ctx->sid, cloud, disk->snapshot_id, (int) lun, "snapshotId", p,
                                size, err))) {
        json_decref(p);
        return NULL;
    }
    json_object_set_new(p, "lun", json_integer(lun));
    json_object_set_new(p, "sizeGB", json_integer(*size));
    json_object_set_new(p, "caching", json_string(vm_caching_name(disk->caching)));
    return p;
}

json_t *
vm_disk_attach(store_t *st, const vm_ctx_t *ctx, const char *id, const vm_disk_req_t *disk,
               err_t *err)
{
    int64_t lun = 0, size, delta[STORE_QUOTAS] = {0};
    json_t *params = NULL;
    vm_rec_t vm;

    assert(st != NULL && ctx != NULL && ctx->plan != NULL && disk != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    size = disk->size_gb;
    if (load_ready(st, ctx, id, &vm, err) || pick_lun(&vm, disk->lun, &lun, err) ||
        (params = attach_params(st, ctx, &vm, disk, lun, &size, err)) == NULL)
        return submit_or_roll_back(st, &vm, NULL, NULL, err);
    delta[QUOTA_STORAGE] = size;
    if (quota_reserve(st, ctx->sid, ctx->plan, delta, err) ||
        (vm.hold.holds_storage &&
         placement_hold(st, vm.host_id, 0, 0, size, "The VM's host has no room for the disk.", err))) {
        json_decref(params);
        return submit_or_roll_back(st, &vm, NULL, NULL, err);
    }
    return submit_or_roll_back(st, &vm, "vm.disk.attach", params, err);
}

json_t *
vm_disk_detach(store_t *st, const vm_ctx_t *ctx, const char *id, int lun, err_t *err)
{
    return vm_disk_detach_if(st, ctx, id, lun, 0, err);
}

json_t *
vm_disk_detach_if(store_t *st, const vm_ctx_t *ctx, const char *id, int lun, int64_t expect_rev,
                  err_t *err)
{
    int64_t rev = 0;
    vm_rec_t vm;
    int rc;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && expect_rev >= 0);
    if (store_tx_begin(st, err))
        return NULL;
    rc = vmrec__load_or_404(st, ctx->sid, id, &vm, &rev, err);
    if (rc == 0 && expect_rev > 0 && rev != expect_rev)
        rc = err_set(err, ERR_PRECONDITION_FAILED, NULL, "The VM has changed since the ETag was read.");
    if (rc == 0 && (lun < 0 || vmrec_lun_free(&vm, lun))) {
        err_set(err, ERR_NOT_FOUND, NULL, "The VM has no data disk at lun %d.", lun);
        return submit_or_roll_back(st, &vm, NULL, NULL, err);
    }
    if (rc != 0 || vm_subscription_writable(ctx->sub, err) || vmrec_busy(&vm, err))
        return submit_or_roll_back(st, &vm, NULL, NULL, err);
    return submit_or_roll_back(st, &vm, "vm.disk.detach", json_pack("{s:i}", "lun", lun), err);
}

static void
add_disk(vm_rec_t *vm, const json_t *p)
{
    vm_disk_t d = {(int) jget_int(p, "lun"), VM_DISK_DATA, jget_int(p, "sizeGB"), VM_CACHING_NONE};

    if (vmrec_lun_free(vm, d.lun) && vm->ndisks < VM_REC_MAX_DISKS) {
        vm_caching_parse(jget_str(p, "caching"), &d.caching);
        vm->disks[vm->ndisks++] = d;
        vm->hold.storage_gb += d.size_gb;
    }
}

static int
attach_on_host(agent_t *a, const agent_call_t *c, const vm_rec_t *vm, const json_t *p,
               agent_err_t *aerr)
{
    agent_disk_spec_t disk = {.lun = (int) jget_int(p, "lun"), .size_gb = (int) jget_int(p, "sizeGB")};
    vm_caching_t caching = VM_CACHING_NONE;

    disk.volume_id = vm_image__source_volume(p, disk.lun);
    vm_caching_parse(jget_str(p, "caching"), &caching);
    disk.caching = (agent_caching_t) caching;
    return agent_disk_attach(a, c, vm->hypervisor_id, &disk, aerr);
}

static job_step_result_t
step_attach(job_ctx_t *ctx, err_t *err)
{
    return vmstep_call_and_apply(ctx, attach_on_host, add_disk, err);
}

/* Whether the host's view of the VM (the job's data) has a data disk at lun. */
static bool
host_has_lun(const json_t *data, int64_t lun)
{
    const json_t *d;
    size_t i;

    json_array_foreach(json_object_get(json_object_get(data, "hostVm"), "disks"), i, d)
        if (json_is_integer(json_object_get(d, "lun")) && jget_int(d, "lun") == lun)
            return true;
    return false;
}

/* Raises type for the data disk at lun of size_gb on vm, in the open transaction. */
static int
disk_event(store_t *st, const char *type, const vm_rec_t *vm, int64_t lun, int64_t size_gb, err_t *err)
{
    return events_emit(st, type, vm->subscription_id, vm->id,
                       json_pack("{s:I, s:I}", "lun", (json_int_t) lun, "sizeGB", (json_int_t) size_gb),
                       err);
}

static int
failed_attach(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *p = job_ctx_params(ctx);
    int64_t d[STORE_QUOTAS] = {0};
    vm_rec_t vm;
    int rc = 0;

    if (vm_image__give_leases(st, p, err))
        return -1;
    if ((rc = vmstep_job_vm(ctx, &vm, err)) <= 0)
        return rc; /* a VM that is gone has nothing to put right */
    rc = 0;
    if (host_has_lun(job_ctx_data(ctx), jget_int(p, "lun"))) {
        add_disk(&vm, p); /* attached on the host; only the answer was lost */
        rc = disk_event(st, "vm.disk.attached", &vm, jget_int(p, "lun"), jget_int(p, "sizeGB"), err);
    } else {
        d[QUOTA_STORAGE] = -jget_int(p, "sizeGB");
        rc = quota_apply(st, vm.subscription_id, d, err);
        if (rc == 0 && vm.hold.holds_storage)
            rc = placement_hold(st, vm.host_id, 0, 0, -jget_int(p, "sizeGB"),
                                "The VM's host was not found.", err);
    }
    vm.provisioning = VM_PROV_SUCCEEDED;
    return rc == 0 ? vmrec_save(st, &vm, err) : rc;
}

/* Removes the disk at lun from the record and releases its storage. */
static int
remove_disk(store_t *st, vm_rec_t *vm, int64_t lun, err_t *err)
{
    int64_t size = 0;
    size_t i;

    for (i = 0; i < vm->ndisks; i++) {
        if (vm->disks[i].lun >= 0 && vm->disks[i].lun == lun) {
            size = vm->disks[i].size_gb;
            memmove(&vm->disks[i], &vm->disks[i + 1], (vm->ndisks - i - 1) * sizeof(vm->disks[0]));
            vm->ndisks--;
            break;
        }
    }
    vm->provisioning = VM_PROV_SUCCEEDED;
    if (size == 0)
        return 0;
    vm->hold.storage_gb -= size;
    if (disk_event(st, "vm.disk.detached", vm, lun, size, err))
        return -1;
    return vmrec_hold_storage(st, vm, -size, "The VM's host was not found.", err);
}

static job_step_result_t
step_detach(job_ctx_t *ctx, err_t *err)
{
    int64_t lun = jget_int(job_ctx_params(ctx), "lun");
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;

    if ((r = vmstep_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    if (agent_disk_detach(a, &c, vm.hypervisor_id, (int) lun, &aerr) != 0 &&
        aerr.status == AGENT_ERR_NOT_FOUND)
        aerr.status = AGENT_OK;
    r = vmstep_result(&aerr, err);
    if (r == JOB_STEP_DONE &&
        (job_ctx_begin(ctx, err) || remove_disk(job_ctx_store(ctx), &vm, lun, err) ||
         vmrec_save(job_ctx_store(ctx), &vm, err)))
        r = JOB_STEP_RETRY;
    return r;
}

static int
failed_detach(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    int64_t lun = jget_int(job_ctx_params(ctx), "lun");
    const json_t *data = job_ctx_data(ctx);
    vm_rec_t vm;
    int rc = 0;

    if ((rc = vmstep_job_vm(ctx, &vm, err)) <= 0)
        return rc; /* a VM that is gone has nothing to put right */
    rc = 0;
    if (json_is_true(json_object_get(data, "hostHasVm")) && !host_has_lun(data, lun))
        rc = remove_disk(st, &vm, lun, err); /* detached on the host */
    else
        vm.provisioning = VM_PROV_SUCCEEDED;
    return rc == 0 ? vmrec_save(st, &vm, err) : rc;
}


/* The disk is attached, in the commit that ends the job: the feed hears of it, and a clone's snapshot is
 * free again. */
static int
attached(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *p = job_ctx_params(ctx);
    vm_rec_t vm;
    int rc;

    if (vm_image__give_leases(st, p, err) || (rc = vmstep_job_vm(ctx, &vm, err)) < 0)
        return -1;
    if (rc == 0)
        return 0; /* a VM that is gone has no disk to tell of */
    return disk_event(st, "vm.disk.attached", &vm, jget_int(p, "lun"), jget_int(p, "sizeGB"), err);
}

static const job_step_def_t attach_steps[] = {{"attachDisk", step_attach}, {NULL, NULL}};
static const job_step_def_t detach_steps[] = {{"detachDisk", step_detach}, {NULL, NULL}};
static const job_kind_def_t disk_kinds[] = {
    {"vm.disk.attach", attach_steps, VM_JOB_DEADLINE_MS, failed_attach, vmstep_ask_host, NULL,
     attached},
    {"vm.disk.detach", detach_steps, VM_JOB_DEADLINE_MS, failed_detach, vmstep_ask_host, NULL, NULL},
};

int
vm_disk_kinds_register(void)
{
    return job_kind_register(&disk_kinds[0]) || job_kind_register(&disk_kinds[1]) ? -1 : 0;
}
