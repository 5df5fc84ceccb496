/*
 * resize.c: a VM's size change, the request and its job (vm.resize: reconfigure).
 *
 * Only a stopped or deallocated VM changes size. The request reserves the difference in cores and memory
 * at once, against the plan's quotas and, when the VM holds compute, on its host; a failed job gives the
 * difference back unless the host says the new size took.
 *
 * Dynamic memory: a VM whose dynamic memory was given in its create body keeps it, and a size whose
 * memory its bounds do not hold is 400 on size; any other VM takes the new size's (null included).
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../catalog.h"
#include "../placement.h"
#include "../quota.h"
#include "vmstep.h"

/* The VM of ctx, at expect_rev when that is > 0 (412 otherwise), its subscription writable. */
int
vm__load_for_change(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev,
                    vm_rec_t *vm, err_t *err)
{
    int64_t rev = 0;

    if (vmrec__load_or_404(st, ctx->sid, id, vm, &rev, err))
        return -1;
    if (expect_rev > 0 && rev != expect_rev)
        return err_set(err, ERR_PRECONDITION_FAILED, NULL,
                       "The VM has changed since the ETag was read.");
    return vm_subscription_writable(ctx->sub, err);
}

/* The VM's dynamic memory at the new size (borrowed), in *out: its own when given at create (400 on size
 * when its bounds do not hold the size's memory), else the size's. */
static int
new_dynamic_memory(const vm_rec_t *vm, const json_t *size, catalog_dynmem_t *out, err_t *err)
{
    int64_t mb = jget_int(size, "memoryMB");
    const catalog_dynmem_t *own = &vm->dynamic_memory;

    if (vm->dynamic_memory_own) {
        if (own->enabled && (mb < own->minimum_mb || mb > own->maximum_mb))
            return err_set(err, ERR_INVALID_REQUEST, "size",
                           "The VM's dynamic memory (%lld to %lld MB) does not hold the size's %lld MB.",
                           (long long) own->minimum_mb, (long long) own->maximum_mb, (long long) mb);
        *out = *own;
        return 0;
    }
    if (catalog_dynmem_from_json(json_object_get(size, "dynamicMemory"), out))
        return err_set(err, ERR_INTERNAL, NULL, "The size's dynamic memory does not parse.");
    return 0;
}

json_t *
vm_resize(store_t *st, const vm_ctx_t *ctx, const char *id, const char *size_name,
          int64_t expect_rev, err_t *err)
{
    json_t *size = NULL, *j = NULL, *params;
    int64_t dc, dm, delta[STORE_QUOTAS] = {0};
    catalog_dynmem_t dyn;
    vm_rec_t vm;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && ctx->plan != NULL && size_name != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    if (vm__load_for_change(st, ctx, id, expect_rev, &vm, err))
        goto fail;
    size = store_rec_find(st, &store_kind_size, "name", size_name, NULL);
    if (size == NULL || !catalog_plan_allows(ctx->plan, "sizeNames", size_name)) {
        err_set(err, ERR_INVALID_REQUEST, "size", "The plan offers no size named '%s'.",
                size_name);
        goto fail;
    }
    if (strlen(size_name) >= sizeof(vm.size)) {
        err_set(err, ERR_INVALID_REQUEST, "size", "size is too long.");
        goto fail;
    }
    if (vmrec_busy(&vm, err))
        goto fail;
    if (vm.power != VM_POWER_STOPPED && vm.power != VM_POWER_DEALLOCATED) {
        err_set(err, vm.power == VM_POWER_RUNNING || vm.power == VM_POWER_UNKNOWN
                         ? ERR_INVALID_POWER_STATE
                         : ERR_OPERATION_IN_PROGRESS,
                NULL, "The size changes only while the VM is stopped or deallocated; it is %s.",
                vm_power_name(vm.power));
        goto fail;
    }
    if (new_dynamic_memory(&vm, size, &dyn, err))
        goto fail;
    dc = jget_int(size, "cores") - vm.cores;
    dm = jget_int(size, "memoryMB") - vm.memory_mb;
    delta[QUOTA_CORES] = dc;
    delta[QUOTA_MEMORY] = dm;
    if (quota_reserve(st, ctx->sid, ctx->plan, delta, err))
        goto fail;
    if (vm.hold.holds_compute &&
        placement_hold(st, vm.host_id, dc, dm, 0, "The VM's host has no room for that size.", err))
        goto fail;
    params = json_pack("{s:s, s:O, s:O, s:I, s:I, s:o}", "size", size_name, "cores",
                       json_object_get(size, "cores"), "memoryMB",
                       json_object_get(size, "memoryMB"), "dCores", (json_int_t) dc, "dMemoryMB",
                       (json_int_t) dm, "dynamicMemory", catalog_dynmem_json(&dyn));
    vm.provisioning = VM_PROV_UPDATING;
    j = vmrec_submit(st, &vm, "vm.resize", params, err);
    json_decref(params);
    if (j == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(size);
    return j;
fail:
    store_tx_rollback(st);
    json_decref(size);
    json_decref(j);
    return NULL;
}

static void
apply_size(vm_rec_t *vm, const json_t *p)
{
    snprintf(vm->size, sizeof(vm->size), "%s", jget_str(p, "size"));
    vm->cores = jget_int(p, "cores");
    vm->memory_mb = jget_int(p, "memoryMB");
    /* A job submitted before dynamic memory existed has none in its params: the VM keeps its own. */
    if (json_object_get(p, "dynamicMemory") != NULL)
        catalog_dynmem_from_json(json_object_get(p, "dynamicMemory"), &vm->dynamic_memory);
}

static int
reconfigure_on_host(agent_t *a, const agent_call_t *c, const vm_rec_t *vm, const json_t *p,
                    agent_err_t *aerr)
{
    return agent_vm_reconfigure(a, c, vm->hypervisor_id, (int) jget_int(p, "cores"),
                                (int) jget_int(p, "memoryMB"), aerr);
}

static job_step_result_t
step_reconfigure(job_ctx_t *ctx, err_t *err)
{
    return vmstep_call_and_apply(ctx, reconfigure_on_host, apply_size, err);
}

static int
failed_resize(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *p = job_ctx_params(ctx), *hv = json_object_get(job_ctx_data(ctx), "hostVm");
    int64_t d[STORE_QUOTAS] = {0};
    vm_rec_t vm;
    int rc = 0;

    if ((rc = vmstep_job_vm(ctx, &vm, err)) <= 0)
        return rc; /* a VM that is gone has nothing to put right */
    rc = 0;
    if (hv && jget_int(hv, "cores") == jget_int(p, "cores") &&
        jget_int(hv, "memoryMB") == jget_int(p, "memoryMB")) {
        apply_size(&vm, p); /* the host did it; only the answer was lost */
    } else {
        d[QUOTA_CORES] = -jget_int(p, "dCores");
        d[QUOTA_MEMORY] = -jget_int(p, "dMemoryMB");
        rc = quota_apply(st, vm.subscription_id, d, err);
        if (rc == 0 && vm.hold.holds_compute)
            rc = placement_hold(st, vm.host_id, -jget_int(p, "dCores"), -jget_int(p, "dMemoryMB"), 0,
                                "The VM's host was not found.", err);
    }
    vm.provisioning = VM_PROV_SUCCEEDED;
    return rc == 0 ? vmrec_save(st, &vm, err) : rc;
}


static const job_step_def_t resize_steps[] = {{"reconfigure", step_reconfigure}, {NULL, NULL}};
static const job_kind_def_t resize_kind = {
    "vm.resize", resize_steps, VM_JOB_DEADLINE_MS, failed_resize, vmstep_ask_host, NULL, NULL,
};

int
vm_resize_kinds_register(void)
{
    return job_kind_register(&resize_kind);
}
