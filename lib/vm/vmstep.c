/*
 * vmstep.c: the job-step toolkit of VM jobs (see vmstep.h), and the registration of every VM job kind.
 *
 * Nothing here changes the database except vmstep_apply_true_power, which runs in on_failed's transaction;
 * the rest reads the VM and talks to its host, so every function may run again after a crash.
 */
#include "vmstep.h"

#include <assert.h>
#include <string.h>

#include "../hostreg.h"

job_step_result_t
vmstep_result(const agent_err_t *aerr, err_t *err)
{
    switch (aerr->status) {
    case AGENT_OK:
        return JOB_STEP_DONE;
    case AGENT_ERR_TRANSIENT:
    case AGENT_ERR_TIMEOUT:
        err_set(err, ERR_UNAVAILABLE, NULL, "The host did not complete the operation: %s",
                aerr->message);
        return JOB_STEP_RETRY;
    default:
        err_set(err, ERR_HOST_FAILED, NULL, "The host refused the operation: %s", aerr->message);
        return JOB_STEP_FAILED;
    }
}

agent_call_t
vmstep_call(job_ctx_t *ctx)
{
    agent_call_t c = {job_ctx_op_id(ctx), VM_AGENT_TIMEOUT_MS};

    return c;
}

int
vmstep_job_vm(job_ctx_t *ctx, vm_rec_t *vm, err_t *err)
{
    assert(ctx != NULL && vm != NULL);
    return vmrec_load(job_ctx_store(ctx), NULL, job_ctx_resource(ctx), vm, NULL, err);
}

/* A host whose record says unreachable (the heartbeat's word, lib/hostwatch.c) is not asked: the step is
 * retried until the host answers again or the job's deadline ends it with HostUnreachable. */
static job_step_result_t
host_unreachable(store_t *st, const char *host_id, err_t *err)
{
    json_t *host = store_rec_get_shared(st, &store_kind_host, host_id, NULL, err);
    const char *state = jget_str(host, "state");
    bool down = state != NULL && strcmp(state, "unreachable") == 0;

    json_decref(host);
    if (down)
        err_set(err, ERR_HOST_UNREACHABLE, NULL, "The VM's host does not answer.");
    return host == NULL || down ? JOB_STEP_RETRY : JOB_STEP_DONE;
}

job_step_result_t
vmstep_vm(job_ctx_t *ctx, vm_rec_t *vm, agent_t **agent, err_t *err)
{
    int rc = vmstep_job_vm(ctx, vm, err);

    if (rc < 0)
        return JOB_STEP_RETRY;
    if (rc == 0) {
        err_set(err, ERR_NOT_FOUND, NULL, "The VM was not found.");
        return JOB_STEP_FAILED;
    }
    if (agent == NULL)
        return JOB_STEP_DONE;
    *agent = vm->host_id[0] ? hostreg_agent(job_ctx_store(ctx), vm->host_id, err) : NULL;
    if (*agent == NULL) {
        if (err->code == ERR_NONE)
            err_set(err, ERR_HOST_FAILED, NULL, "The VM has no host.");
        return err->code == ERR_UNAVAILABLE ? JOB_STEP_RETRY : JOB_STEP_FAILED;
    }
    return host_unreachable(job_ctx_store(ctx), vm->host_id, err);
}

json_t *
vmstep_host_view(job_ctx_t *ctx, const vm_rec_t *vm, bool *asked)
{
    agent_call_t c = {"inventory", VM_AGENT_TIMEOUT_MS};
    agent_err_t aerr;
    err_t err = {0};
    agent_t *a;
    json_t *list = NULL, *e, *found = NULL;
    size_t i;
    int attempt;

    *asked = false;
    if (vm->host_id[0] == '\0')
        return NULL;
    a = hostreg_agent(job_ctx_store(ctx), vm->host_id, &err);
    if (a == NULL)
        return NULL;
    /* A read may be asked again at will: a few tries before the answer is "unknown". */
    for (attempt = 0; attempt < 3; attempt++)
        if (agent_inventory(a, &c, &list, &aerr) == 0)
            break;
    if (attempt == 3)
        return NULL;
    *asked = true;
    json_array_foreach(list, i, e)
        if (vm->hypervisor_id[0] && jget_str(e, "hypervisorId") &&
            strcmp(jget_str(e, "hypervisorId"), vm->hypervisor_id) == 0)
            found = json_incref(e);
    json_decref(list);
    return found;
}

void
vmstep_ask_host(job_ctx_t *ctx)
{
    json_t *data = job_ctx_data(ctx), *hv;
    vm_rec_t vm;
    bool asked;

    if (vmstep_job_vm(ctx, &vm, NULL) != 1)
        return;
    hv = vmstep_host_view(ctx, &vm, &asked);
    json_object_set_new(data, "hostAsked", json_boolean(asked));
    json_object_set_new(data, "hostHasVm", json_boolean(hv != NULL));
    if (hv)
        json_object_set(data, "hostVm", hv);
    json_decref(hv);
}

int
vmstep_apply_true_power(store_t *st, job_ctx_t *ctx, vm_rec_t *vm, err_t *err)
{
    const json_t *data = job_ctx_data(ctx);
    const char *ps = NULL;

    if (json_is_true(json_object_get(data, "hostHasVm")))
        ps = jget_str(json_object_get(data, "hostVm"), "powerState");
    if (vm_power_parse(ps, &vm->power) != 0) {
        vm->power = VM_POWER_UNKNOWN;
        return 0;
    }
    if (vm->power == VM_POWER_DEALLOCATED)
        return vmrec_release_host(st, vm, true, false, err);
    return 0;
}

void
vmstep_fill_spec(const vm_rec_t *vm, agent_vm_spec_t *spec, json_t **data_disks)
{
    *data_disks = vmrec_data_disks_json(vm);
    memset(spec, 0, sizeof(*spec));
    spec->name = vm->name;
    spec->cores = (int) vm->cores;
    spec->memory_mb = (int) vm->memory_mb;
    spec->os_disk_gb = vm->ndisks > 0 ? (int) vm->disks[0].size_gb : 0;
    spec->data_disks = *data_disks;
}

int64_t
vmstep_checkpoint_size(job_ctx_t *ctx, const vm_rec_t *vm)
{
    const json_t *cp;
    bool asked;
    json_t *hv;
    int64_t size = -1;

    if (!vm->checkpoint.present || vm->checkpoint.host_id[0] == '\0')
        return -1;
    hv = vmstep_host_view(ctx, vm, &asked);
    cp = hv ? json_object_get(json_object_get(hv, "checkpoints"), vm->checkpoint.host_id) : NULL;
    if (cp && json_is_integer(json_object_get(cp, "sizeGB")))
        size = jget_int(cp, "sizeGB");
    json_decref(hv);
    return size;
}

job_step_result_t
vmstep_finish(job_ctx_t *ctx, vm_rec_t *vm, job_step_result_t r, err_t *err)
{
    assert(ctx != NULL && vm != NULL);
    if (r == JOB_STEP_DONE &&
        (job_ctx_begin(ctx, err) || vmrec_save(job_ctx_store(ctx), vm, err)))
        r = JOB_STEP_RETRY;
    return r;
}

job_step_result_t
vmstep_call_and_apply(job_ctx_t *ctx, vmstep_agent_fn call, vmstep_apply_fn apply, err_t *err)
{
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;

    assert(call != NULL && apply != NULL);
    if ((r = vmstep_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    call(a, &c, &vm, job_ctx_params(ctx), &aerr);
    r = vmstep_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        apply(&vm, job_ctx_params(ctx));
        vm.provisioning = VM_PROV_SUCCEEDED;
    }
    return vmstep_finish(ctx, &vm, r, err);
}

job_step_result_t
vmstep_delete_on_host(agent_t *a, const agent_call_t *call, const char *hyp, err_t *err)
{
    agent_err_t aerr = {0};

    assert(a != NULL && call != NULL && hyp != NULL);
    if (agent_vm_delete(a, call, hyp, &aerr) != 0 && aerr.status == AGENT_ERR_NOT_FOUND)
        aerr.status = AGENT_OK; /* already gone */
    return vmstep_result(&aerr, err);
}

int
vm_jobs_register(void)
{
    if (vm_create_kinds_register() || vm_power_kinds_register() || vm_resize_kinds_register() ||
        vm_delete_kinds_register() || vm_disk_kinds_register())
        return -1;
    return 0;
}
