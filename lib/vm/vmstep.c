/*
 * vmstep.c: the job-step toolkit of VM jobs (see vmstep.h), and the registration of every VM job kind.
 *
 * Nothing here changes the database except vmstep_apply_true_power, which runs in on_failed's transaction;
 * the rest reads the VM and talks to its host, so every function may run again after a crash.
 */
#include "vmstep.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../hostreg.h"
#include "image.h"
#include "migrate.h"

job_step_result_t
vmstep_result(const agent_err_t *aerr, err_t *err)
{
    switch (aerr->status) {
    case AGENT_OK:
        return JOB_STEP_DONE;
    case AGENT_PENDING:
        err_set(err, ERR_UNAVAILABLE, NULL, "The host is still carrying the operation out.");
        return JOB_STEP_POLL; /* polled with the same operation id */
    case AGENT_ERR_TRANSIENT:
    case AGENT_ERR_TIMEOUT:
        err_set(err, ERR_UNAVAILABLE, NULL, "The host did not complete the operation: %s",
                aerr->message);
        return JOB_STEP_RETRY;
    case AGENT_ERR_UNREACHABLE: /* nothing was done: retried until the job's deadline */
        err_set(err, ERR_HOST_UNREACHABLE, NULL, "The host could not be reached: %s", aerr->message);
        return JOB_STEP_RETRY;
    default:
        err_set(err, ERR_HOST_FAILED, NULL, "The host refused the operation: %s", aerr->message);
        return JOB_STEP_FAILED;
    }
}

agent_call_t
vmstep_call(job_ctx_t *ctx)
{
    agent_call_t c = {job_ctx_op_id(ctx), VM_AGENT_TIMEOUT_MS, NULL};

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
    return vmstep_vm_of(ctx, job_ctx_resource(ctx), vm, agent, err);
}

job_step_result_t
vmstep_vm_of(job_ctx_t *ctx, const char *id, vm_rec_t *vm, agent_t **agent, err_t *err)
{
    int rc;

    assert(ctx != NULL && id != NULL && vm != NULL);
    rc = vmrec_load(job_ctx_store(ctx), NULL, id, vm, NULL, err);

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

int
vmstep_host_view(job_ctx_t *ctx, const vm_rec_t *vm, agent_vm_info_t *out)
{
    agent_call_t c = {"inventory", 0, NULL};
    agent_vm_list_t list = {0};
    const agent_vm_info_t *found;
    agent_err_t aerr;
    err_t err = {0};
    agent_t *a;
    int attempt;

    if (vm->host_id[0] == '\0')
        return -1;
    a = hostreg_agent(job_ctx_store(ctx), vm->host_id, &err);
    if (a == NULL)
        return -1;
    /* A read may be asked again at will: a few tries before the answer is "unknown". */
    for (attempt = 0; attempt < 3; attempt++)
        if (agent_inventory(a, &c, &list, &aerr) == 0)
            break;
    if (attempt == 3)
        return -1;
    found = vm->hypervisor_id[0] ? agent_vm_list_find(&list, vm->hypervisor_id)
                                 : agent_vm_list_find_vm_id(&list, vm->id);
    if (found != NULL)
        *out = *found;
    agent_vm_list_free(&list);
    return found != NULL;
}

void
vmstep_ask_host(job_ctx_t *ctx)
{
    json_t *data = job_ctx_data(ctx);
    agent_vm_info_t hv;
    vm_rec_t vm;
    int rc;

    if (vmstep_job_vm(ctx, &vm, NULL) != 1)
        return;
    rc = vmstep_host_view(ctx, &vm, &hv);
    json_object_set_new(data, "hostAsked", json_boolean(rc >= 0));
    json_object_set_new(data, "hostHasVm", json_boolean(rc == 1));
    if (rc == 1)
        json_object_set_new(data, "hostVm", agent_vm_info_to_json(&hv));
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

_Static_assert((int) AGENT_CACHING_NONE == (int) VM_CACHING_NONE &&
                   (int) AGENT_CACHING_READ_ONLY == (int) VM_CACHING_READ_ONLY &&
                   (int) AGENT_CACHING_READ_WRITE == (int) VM_CACHING_READ_WRITE,
               "the agent's caching values are the VM's");
_Static_assert(VM_REC_MAX_DISKS <= AGENT_MAX_DISKS && VM_REC_MAX_NICS <= AGENT_MAX_NICS,
               "a VM's disks and NICs fit an agent spec");

/* A MAC address in Hyper-V's range (00:15:5d), the same for the VM's NIC n at every call. */
static void
stable_mac(const char *vm_id, size_t n, char mac[AGENT_MAC_MAX])
{
    uint32_t h = 2166136261u; /* FNV-1a of the VM id and the NIC's index */
    const char *p;

    for (p = vm_id; *p; p++)
        h = (h ^ (unsigned char) *p) * 16777619u;
    h = (h ^ (uint32_t) n) * 16777619u;
    snprintf(mac, AGENT_MAC_MAX, "00:15:5d:%02x:%02x:%02x", (h >> 16) & 0xff, (h >> 8) & 0xff,
             h & 0xff);
}

void
vmstep_fill_spec(const vm_rec_t *vm, vmstep_spec_t *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < vm->ndisks; i++) {
        const vm_disk_t *d = &vm->disks[i];
        out->disks[i].lun = d->kind == VM_DISK_OS ? -1 : d->lun;
        out->disks[i].size_gb = (int) d->size_gb;
        out->disks[i].caching = (agent_caching_t) d->caching;
        out->disks[i].image_id = d->kind == VM_DISK_OS && vm->image_id[0] ? vm->image_id : NULL;
    }
    for (i = 0; i < vm->nnics; i++) {
        stable_mac(vm->id, i, out->macs[i]);
        out->nics[i].network_id = vm->nics[i].network_id;
        out->nics[i].mac = out->macs[i];
        out->nics[i].ip = vm->nics[i].ip_address[0] ? vm->nics[i].ip_address : NULL;
    }
    out->spec.vm_id = vm->id;
    out->spec.name = vm->name;
    out->spec.cores = (int) vm->cores;
    out->spec.memory_mb = (int) vm->memory_mb;
    if (vm->dynamic_memory.enabled) { /* else both 0: static memory */
        out->spec.memory_min_mb = (int) vm->dynamic_memory.minimum_mb;
        out->spec.memory_max_mb = (int) vm->dynamic_memory.maximum_mb;
    }
    out->spec.generation = vm->generation > 0 ? (int) vm->generation : 1;
    out->spec.disks = out->disks;
    out->spec.ndisks = (int) vm->ndisks;
    out->spec.nics = out->nics;
    out->spec.nnics = (int) vm->nnics;
}

int64_t
vmstep_checkpoint_size(job_ctx_t *ctx, const vm_rec_t *vm)
{
    agent_vm_info_t hv;
    int i;

    if (!vm->checkpoint.present || vm->checkpoint.host_id[0] == '\0' ||
        vmstep_host_view(ctx, vm, &hv) != 1)
        return -1;
    for (i = 0; i < hv.ncheckpoints; i++)
        if (strcmp(hv.checkpoints[i].id, vm->checkpoint.host_id) == 0)
            return hv.checkpoints[i].size_gb;
    return -1;
}

void
vmstep_show_copy(job_ctx_t *ctx, const agent_progress_t *progress)
{
    assert(ctx != NULL && progress != NULL);
    if (progress->bytes_total > 0)
        job_ctx_set_copy(ctx, progress->bytes_copied, progress->bytes_total);
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
    agent_progress_t progress = {0, 0};
    agent_err_t aerr = {0};
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;

    assert(call != NULL && apply != NULL);
    if ((r = vmstep_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    c.progress = &progress;
    call(a, &c, &vm, job_ctx_params(ctx), &aerr);
    r = vmstep_result(&aerr, err);
    vmstep_show_copy(ctx, &progress);
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
        vm_delete_kinds_register() || vm_disk_kinds_register() || vm_capture_kinds_register() ||
        vm_image_kinds_register() || vm_migrate_kinds_register())
        return -1;
    return 0;
}
