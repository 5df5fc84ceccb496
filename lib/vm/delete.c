/*
 * delete.c: VM deletion, the request and its job (vm.delete: deleteFromHost, releaseResources), and the
 * subscription-wide delete that empties a subscription before it goes.
 *
 * A VM is deleted from its host first, then releases what it holds and loses its record in one step. A
 * failed delete leaves the VM failed in the power state its host reports, unless the host no longer has it:
 * the delete is then done.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../events.h"
#include "../quota.h"
#include "image.h"
#include "vmstep.h"

static json_t *
submit_delete(store_t *st, vm_rec_t *vm, err_t *err)
{
    if (vm->provisioning == VM_PROV_CREATING || vm->provisioning == VM_PROV_UPDATING ||
        vm->provisioning == VM_PROV_DELETING || vm->power == VM_POWER_STARTING ||
        vm->power == VM_POWER_STOPPING || vm->power == VM_POWER_DEALLOCATING) {
        err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                "Another operation on this VM is still in progress.");
        return NULL;
    }
    vm->provisioning = VM_PROV_DELETING;
    return vmrec_submit(st, vm, "vm.delete", NULL, err);
}


json_t *
vm_delete(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev, err_t *err)
{
    json_t *j = NULL;
    vm_rec_t vm;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && id != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    if (vm__load_for_change(st, ctx, id, expect_rev, &vm, err) == 0)
        j = submit_delete(st, &vm, err);
    if (j == NULL || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        json_decref(j);
        j = NULL;
    }
    return j;
}

static job_step_result_t
step_delete_from_host(job_ctx_t *ctx, err_t *err)
{
    agent_call_t c = vmstep_call(ctx);
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;

    agent_vm_info_t hv;
    int found;

    if ((r = vmstep_vm(ctx, &vm, NULL, err)) != JOB_STEP_DONE)
        return r;
    if (vm.host_id[0] == '\0')
        return JOB_STEP_DONE;
    if (vm.hypervisor_id[0] == '\0') {
        /* A create whose answer was lost may have made the VM all the same: the host knows it by the
         * wapd VM id, and it goes with the record. */
        if ((found = vmstep_host_view(ctx, &vm, &hv)) < 0) {
            err_set(err, ERR_UNAVAILABLE, NULL, "The host could not be asked whether it has the VM.");
            return JOB_STEP_RETRY;
        }
        if (found == 0)
            return JOB_STEP_DONE;
    } else {
        snprintf(hv.hypervisor_id, sizeof(hv.hypervisor_id), "%s", vm.hypervisor_id);
    }
    if ((r = vmstep_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    return vmstep_delete_on_host(a, &c, hv.hypervisor_id, err);
}

static job_step_result_t
step_release_and_remove(job_ctx_t *ctx, err_t *err)
{
    vm_rec_t vm;
    int rc = vmstep_job_vm(ctx, &vm, err);

    if (rc <= 0)
        return rc == 0 ? JOB_STEP_DONE : JOB_STEP_RETRY; /* gone already, or the store failed */
    if (job_ctx_begin(ctx, err) || vmrec_remove(job_ctx_store(ctx), &vm, err))
        return JOB_STEP_RETRY;
    return JOB_STEP_DONE;
}

static int
failed_delete(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *data = job_ctx_data(ctx);
    vm_rec_t vm;
    int rc;

    if ((rc = vmstep_job_vm(ctx, &vm, err)) <= 0)
        return rc; /* a VM that is gone has nothing to put right */
    if (json_is_true(json_object_get(data, "hostAsked")) &&
        !json_is_true(json_object_get(data, "hostHasVm")))
        return vmrec_remove(st, &vm, err); /* the host no longer has it: the delete is done */
    vm.provisioning = VM_PROV_FAILED;
    rc = vmstep_apply_true_power(st, ctx, &vm, err);
    return rc == 0 ? vmrec_save(st, &vm, err) : rc;
}


/* ---- subscription-wide ---- */

/* Once no VM is left, the VM roles and networks go, and with them their quota (and the private images,
 * vm_image__remove_all); each says so in the feed. */
static int
delete_roles_and_networks(store_t *st, const char *sid, err_t *err)
{
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = sid};
    const store_kind_t *kinds[] = {&store_kind_vmrole, &store_kind_network};
    const int quotas[] = {QUOTA_VMROLES, QUOTA_NETWORKS};
    const char *const events[] = {"vmrole.deleted", "network.deleted"};
    json_t *list, *n;
    size_t i, k;

    for (k = 0; k < 2; k++) {
        int64_t d[STORE_QUOTAS] = {0};
        d[quotas[k]] = -1;
        list = store_rec_list_all(st, kinds[k], &f, 1, err);
        if (list == NULL)
            return -1;
        json_array_foreach(list, i, n)
            if (store_rec_delete(st, kinds[k], jget_str(n, "id"), 0, err) ||
                quota_apply(st, sid, d, err) ||
                events_emit(st, events[k], sid, jget_str(n, "id"),
                            json_pack("{s:s}", "name", jget_str(n, "name")), err)) {
                json_decref(list);
                return -1;
            }
        json_decref(list);
    }
    return 0;
}

int
vm_delete_all(store_t *st, const char *sid, err_t *err)
{
    json_t *vms, *rec;
    int images = 1;
    vm_rec_t vm;
    size_t i, n;

    if ((vms = vmrec_begin_all(st, sid, err)) == NULL)
        return -1;
    /* A busy VM (no job now) is deleted once its job has ended: the caller tries again (a record that does
     * not parse is never deleted here, and keeps the subscription). */
    json_array_foreach(vms, i, rec)
        if (vmrec_from_store(rec, &vm, NULL) == 0 && vm.provisioning != VM_PROV_DELETING)
            json_decref(submit_delete(st, &vm, NULL));
    n = json_array_size(vms);
    json_decref(vms);
    if ((n == 0 && (delete_roles_and_networks(st, sid, err) ||
                    (images = vm_image__remove_all(st, sid, err)) < 0)) ||
        store_tx_commit(st, err)) {
        store_tx_rollback(st);
        return -1;
    }
    return n == 0 && images == 1;
}

static const job_step_def_t delete_steps[] = {
    {"deleteFromHost", step_delete_from_host},
    {"releaseResources", step_release_and_remove},
    {NULL, NULL},
};
static const job_kind_def_t delete_kind = {
    "vm.delete", delete_steps, VM_JOB_DEADLINE_MS, failed_delete, vmstep_ask_host, NULL, NULL,
};

int
vm_delete_kinds_register(void)
{
    return job_kind_register(&delete_kind);
}
