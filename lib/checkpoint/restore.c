/*
 * restore.c: a checkpoint's restore gives the VM back the power state, size (cores, memory) and disks it
 * had when the checkpoint was taken; data disks attached since are detached and deleted.
 *
 * The checkpoint keeps what the VM was (the slot's _vm, never shown: checkpoint__capture, in the step that
 * fills the slot). The request reserves the size difference at once, against the plan's quotas and on
 * the VM's host when the VM holds (or will hold) compute there, as a resize does, so that concurrent
 * requests cannot overshoot. The job then
 *   1. revertCheckpoint: the host reverts the VM to the checkpoint, configuration included;
 *   2. dropDisks: the host lets go of every data disk whose lun the record and the checkpoint do not
 *      share (one already gone is fine): attached since, or detached since and brought back by the revert;
 *   3. recordRestore: one transaction sets the record's size, cores, memory, disks and power state, gives
 *      back the storage of the disks attached since (quota and host), empties the checkpoint's
 *      differencing disk and saves (the timeline's "changed" row and vm.resized follow from the save).
 * Each step reads the record afresh and the record changes only in step 3, so a step run again after a
 * crash does the same thing again. A failed (or canceled) job gives the reserved difference back unless
 * the host says the VM has the size asked for; then the record takes it, and lets go of the data disks the
 * host no longer has.
 *
 * A checkpoint made before wapd kept _vm restores the power state only. A size the plan no longer offers
 * is restored all the same: it is the VM's own past (quotas still apply).
 */
#include "restore.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../events.h"
#include "../placement.h"
#include "../quota.h"
#include "../util.h"
#include "../vm/vmstep.h"

void
checkpoint__capture(vm_rec_t *vm)
{
    vm_checkpoint_vm_t *c = &vm->checkpoint.vm;

    assert(vm != NULL && vm->ndisks <= VM_REC_MAX_DISKS);
    c->present = true;
    memcpy(c->size, vm->size, sizeof(c->size));
    c->cores = vm->cores;
    c->memory_mb = vm->memory_mb;
    c->has_dynamic_memory = true;
    c->dynamic_memory = vm->dynamic_memory;
    c->ndisks = vm->ndisks;
    memcpy(c->disks, vm->disks, vm->ndisks * sizeof(vm->disks[0]));
}

/* The data disk at lun among disks[0..n), or NULL. */
static const vm_disk_t *
find_lun(const vm_disk_t *disks, size_t n, int lun)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (disks[i].lun >= 0 && disks[i].lun == lun)
            return &disks[i];
    return NULL;
}

void
checkpoint__restore_plan(const vm_rec_t *vm, checkpoint_restore_plan_t *out)
{
    const vm_checkpoint_vm_t *c = &vm->checkpoint.vm;
    size_t i;

    assert(vm != NULL && out != NULL && vm->checkpoint.present);
    memset(out, 0, sizeof(*out));
    if (!c->present)
        return;
    out->d_cores = c->cores - vm->cores;
    out->d_memory_mb = c->memory_mb - vm->memory_mb;
    for (i = 0; i < vm->ndisks; i++) /* attached since */
        if (vm->disks[i].lun >= 0 && find_lun(c->disks, c->ndisks, vm->disks[i].lun) == NULL) {
            out->luns[out->nluns++] = vm->disks[i].lun;
            out->d_storage_gb -= vm->disks[i].size_gb;
        }
    for (i = 0; i < c->ndisks; i++) /* detached since: gone for good, whatever the revert brought back */
        if (c->disks[i].lun >= 0 && find_lun(vm->disks, vm->ndisks, c->disks[i].lun) == NULL)
            out->luns[out->nluns++] = c->disks[i].lun;
}

void
checkpoint__restore_apply(vm_rec_t *vm)
{
    const vm_checkpoint_vm_t *c = &vm->checkpoint.vm;
    size_t i, n = 0;

    assert(vm != NULL && vm->checkpoint.present);
    if (!c->present)
        return;
    memcpy(vm->size, c->size, sizeof(vm->size));
    vm->cores = c->cores;
    vm->memory_mb = c->memory_mb;
    if (c->has_dynamic_memory)
        vm->dynamic_memory = c->dynamic_memory;
    for (i = 0; i < vm->ndisks; i++)
        if (vm->disks[i].lun < 0 || find_lun(c->disks, c->ndisks, vm->disks[i].lun) != NULL)
            vm->disks[n++] = vm->disks[i];
    vm->ndisks = n;
}

int
checkpoint__restore_reserve(store_t *st, const vm_ctx_t *ctx, vm_rec_t *vm, json_t **params,
                            err_t *err)
{
    const vm_checkpoint_t *cp = &vm->checkpoint;
    int64_t delta[STORE_QUOTAS] = {0};
    checkpoint_restore_plan_t plan;

    assert(st != NULL && vm != NULL && params != NULL && cp->present);
    checkpoint__restore_plan(vm, &plan);
    delta[QUOTA_CORES] = plan.d_cores;
    delta[QUOTA_MEMORY] = plan.d_memory_mb;
    if (vm->hold.counted && (plan.d_cores != 0 || plan.d_memory_mb != 0) &&
        (ctx != NULL && ctx->plan != NULL
             ? quota_reserve(st, ctx->sid, ctx->plan, delta, err)
             : quota_adjust(st, vm->subscription_id, delta, err)))
        return -1;
    /* Restoring to a state that holds host capacity takes it back first (409 NoCapacity now). */
    if (cp->has_power && cp->power != VM_POWER_DEALLOCATED && vmrec_hold_compute(st, vm, err))
        return -1;
    if (vm->hold.holds_compute && (plan.d_cores != 0 || plan.d_memory_mb != 0) &&
        placement_hold(st, vm->host_id, plan.d_cores, plan.d_memory_mb, 0,
                       "The VM's host has no room for the checkpoint's size.", err))
        return -1;
    *params = json_pack("{s:I, s:I, s:I, s:I}", "cores", (json_int_t) (vm->cores + plan.d_cores),
                        "memoryMB", (json_int_t) (vm->memory_mb + plan.d_memory_mb), "dCores",
                        (json_int_t) plan.d_cores, "dMemoryMB", (json_int_t) plan.d_memory_mb);
    if (*params == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return 0;
}

/* True when the host's view hv (an inventory entry's JSON) lists a data disk at lun. */
static bool
host_has_lun(const json_t *hv, int lun)
{
    const json_t *d;
    size_t i;

    json_array_foreach(json_object_get(hv, "disks"), i, d)
        if (json_is_integer(json_object_get(d, "lun")) && jget_int(d, "lun") == lun)
            return true;
    return false;
}

/* The host has the VM at the size the restore asked for (params p), after a revert the job did not get to
 * record, or with none needed: the record takes that size (its name too, when it changed) and lets go of
 * the data disks the host no longer has (their storage goes back). */
static int
take_the_hosts_word(store_t *st, vm_rec_t *vm, const json_t *p, const json_t *hv, err_t *err)
{
    int64_t gone = 0;
    size_t i, n = 0;

    if ((vm->cores != jget_int(p, "cores") || vm->memory_mb != jget_int(p, "memoryMB")) &&
        vm->checkpoint.present && vm->checkpoint.vm.present)
        memcpy(vm->size, vm->checkpoint.vm.size, sizeof(vm->size));
    vm->cores = jget_int(p, "cores");
    vm->memory_mb = jget_int(p, "memoryMB");
    for (i = 0; i < vm->ndisks; i++)
        if (vm->disks[i].lun < 0 || host_has_lun(hv, vm->disks[i].lun))
            vm->disks[n++] = vm->disks[i];
        else
            gone += vm->disks[i].size_gb;
    vm->ndisks = n;
    vm->hold.storage_gb -= gone;
    return gone == 0 ? 0 : vmrec_hold_storage(st, vm, -gone, "The VM's host was not found.", err);
}

int
checkpoint__restore_failed(store_t *st, job_ctx_t *ctx, vm_rec_t *vm, err_t *err)
{
    const json_t *p = job_ctx_params(ctx), *hv = json_object_get(job_ctx_data(ctx), "hostVm");
    int64_t dc = jget_int(p, "dCores"), dm = jget_int(p, "dMemoryMB"), d[STORE_QUOTAS] = {0};

    assert(st != NULL && vm != NULL);
    if (json_object_get(p, "cores") == NULL)
        return 0; /* submitted before restores reserved anything */
    if (hv != NULL && jget_int(hv, "cores") == jget_int(p, "cores") &&
        jget_int(hv, "memoryMB") == jget_int(p, "memoryMB"))
        return take_the_hosts_word(st, vm, p, hv, err);
    if (dc == 0 && dm == 0)
        return 0;
    d[QUOTA_CORES] = -dc;
    d[QUOTA_MEMORY] = -dm;
    if (vm->hold.counted && quota_apply(st, vm->subscription_id, d, err))
        return -1;
    if (vm->hold.holds_compute)
        return placement_hold(st, vm->host_id, -dc, -dm, 0, "The VM's host was not found.", err);
    return 0;
}

/* ---- the job's steps ---- */

job_step_result_t
checkpoint__step_revert(job_ctx_t *ctx, err_t *err)
{
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;

    if ((r = vmstep_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    if (!vm.checkpoint.present) {
        err_set(err, ERR_NO_CHECKPOINT, NULL, "The VM has no checkpoint any more.");
        return JOB_STEP_FAILED;
    }
    agent_checkpoint_restore(a, &c, vm.hypervisor_id, vm.checkpoint.host_id, &aerr);
    return vmstep_result(&aerr, err);
}

job_step_result_t
checkpoint__step_drop_disks(job_ctx_t *ctx, err_t *err)
{
    checkpoint_restore_plan_t plan;
    char op[160];
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;
    size_t i;

    if ((r = vmstep_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    if (!vm.checkpoint.present) {
        err_set(err, ERR_NO_CHECKPOINT, NULL, "The VM has no checkpoint any more.");
        return JOB_STEP_FAILED;
    }
    checkpoint__restore_plan(&vm, &plan);
    for (i = 0; i < plan.nluns && r == JOB_STEP_DONE; i++) {
        agent_call_t c = {op, VM_AGENT_TIMEOUT_MS, NULL};
        agent_err_t aerr = {0};

        /* One operation per lun, so that each call's recorded answer is its own. */
        snprintf(op, sizeof(op), "%s:lun%d", job_ctx_op_id(ctx), plan.luns[i]);
        if (agent_disk_detach(a, &c, vm.hypervisor_id, plan.luns[i], &aerr) != 0 &&
            aerr.status == AGENT_ERR_NOT_FOUND)
            aerr.status = AGENT_OK; /* gone already, or taken by the revert */
        r = vmstep_result(&aerr, err);
    }
    return r;
}

job_step_result_t
checkpoint__step_record(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    checkpoint_restore_plan_t plan;
    job_step_result_t r;
    vm_rec_t vm;

    if ((r = vmstep_vm(ctx, &vm, NULL, err)) != JOB_STEP_DONE)
        return r;
    if (!vm.checkpoint.present) {
        err_set(err, ERR_NO_CHECKPOINT, NULL, "The VM has no checkpoint any more.");
        return JOB_STEP_FAILED;
    }
    checkpoint__restore_plan(&vm, &plan);
    checkpoint__restore_apply(&vm);
    /* The VM returns to the power state it had when the checkpoint was taken. */
    vm.power = vm.checkpoint.has_power ? vm.checkpoint.power : VM_POWER_STOPPED;
    vm.provisioning = VM_PROV_SUCCEEDED;
    vm.hold.storage_gb += plan.d_storage_gb;
    /* Restoring discards the changes since the checkpoint: its disk is empty again. The size
     * difference was reserved by the request; the storage of the disks dropped goes back now. */
    if (job_ctx_begin(ctx, err) || vmrec_set_checkpoint_size(st, &vm, 0, err) ||
        (plan.d_storage_gb != 0 &&
         vmrec_hold_storage(st, &vm, plan.d_storage_gb, "The VM's host was not found.", err)) ||
        (vm.power == VM_POWER_DEALLOCATED && vmrec_release_host(st, &vm, true, false, err)) ||
        vmrec_save(st, &vm, err) ||
        events_emit(st, "vm.checkpoint.restored", vm.subscription_id, vm.id,
                    json_pack("{s:s, s:s}", "name", vm.checkpoint.name, "powerState",
                              vm_power_name(vm.power)),
                    err))
        r = JOB_STEP_RETRY;
    return r;
}
