/*
 * migrate.c: an admin's move of a VM to another host, the request and its job (vm.migrate: importOnTarget,
 * switchOver, deleteFromSource). See migrate.h.
 *
 * The request reserves on the target what the VM holds on its source (cores and memory when it holds
 * compute, its storage when it holds storage) and puts the VM in provisioningState updating; its power state
 * never changes, so a running VM is running at every moment. The target's host then makes a copy of the VM
 * (agent_vm_import, polled while it copies, its bytes shown as the job's copy). The switch-over is one
 * transaction: the record points at the target, the source's holdings are released and the reservation
 * becomes the VM's holdings. Nothing metered changes (power, size, storage, the holding flags), so the
 * save writes no timeline row and the usage series goes on unbroken. Only then is the source's copy
 * deleted.
 *
 * vm_migrate_away is the same request with the target chosen by placement among the ok hosts of the VM's
 * cloud: the move of each VM off a host put in maintenance (lib/evacuate.c).
 *
 * Invariants: the reservation is held exactly from the request to the switch-over (which takes it over) or
 * to on_failed (which releases it); a job that failed before the switch-over leaves the VM on its source,
 * succeeded, and removes what it made on the target; once switched the job only has the source's copy to
 * delete, and a failure then changes nothing.
 */
#include "migrate.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../events.h"
#include "../hostreg.h"
#include "../placement.h"
#include "vmstep.h"

/* A migration copies whole disks: it may take long. */
#define MIGRATE_DEADLINE_MS (60 * 60 * 1000)

/* The job's data: the target's hypervisor id once the import answered, and the mark on_failed leaves. */
#define DATA_TARGET_HYP "toHypervisorId"
#define DATA_RELEASED "reservationReleased"

#define MIB ((int64_t) 1024 * 1024)
#define GIB (MIB * 1024)

/* ---- the request ---- */

/* The VM's state allows a move to a host of the same cloud (same_cloud) or another. */
static int
check_vm(const vm_rec_t *vm, bool same_cloud, err_t *err)
{
    if (vmrec_ready(vm, err))
        return -1;
    if (vm->power == VM_POWER_UNKNOWN)
        return err_set(err, ERR_INVALID_POWER_STATE, NULL,
                       "The VM's power state is unknown; refresh its host first.");
    if (!same_cloud && vm->power != VM_POWER_STOPPED && vm->power != VM_POWER_DEALLOCATED)
        return err_set(err, ERR_INVALID_POWER_STATE, NULL,
                       "A VM moves to another cloud only while it is stopped or deallocated; it is %s.",
                       vm_power_name(vm->power));
    return 0;
}

/* The target host's record (a new reference), or NULL with err: 400 naming hostId when there is none,
 * 409 Conflict when it is the VM's own host. */
static json_t *
target_host(store_t *st, const vm_rec_t *vm, const char *host_id, err_t *err)
{
    json_t *host = store_rec_get_shared(st, &store_kind_host, host_id, NULL, err);

    if (host == NULL) {
        if (err->code == ERR_NOT_FOUND) {
            err_clear(err);
            err_set(err, ERR_INVALID_REQUEST, "hostId", "There is no host with that id.");
        }
        return NULL;
    }
    if (strcmp(host_id, vm->host_id) == 0) {
        json_decref(host);
        err_set(err, ERR_CONFLICT, "hostId", "The VM is already on that host.");
        return NULL;
    }
    return host;
}

/* Whether the VM's host (source) and the target are in the same cloud: 1, 0, or -1 with err. */
static int
same_cloud(store_t *st, const vm_rec_t *vm, const json_t *target, err_t *err)
{
    json_t *src = store_rec_get_shared(st, &store_kind_host, vm->host_id, NULL, err);
    const char *a, *b;
    int rc;

    if (src == NULL)
        return -1;
    a = jget_str(src, "cloudId");
    b = jget_str(target, "cloudId");
    rc = a != NULL && b != NULL && strcmp(a, b) == 0;
    json_decref(src);
    return rc;
}

/* What the VM holds on its host, which a move reserves on the target: {cores, memoryMB, storageGB}. */
static void
held(const vm_rec_t *vm, int64_t out[3])
{
    out[0] = vm->hold.holds_compute ? vm->cores : 0;
    out[1] = vm->hold.holds_compute ? vm->memory_mb : 0;
    out[2] = vm->hold.holds_storage ? vm->hold.storage_gb : 0;
}

/* 409 Conflict when the VM is on no host (or has no id there) to be moved from. */
static int
check_placed(const vm_rec_t *vm, err_t *err)
{
    if (vm->host_id[0] == '\0' || vm->hypervisor_id[0] == '\0')
        return err_set(err, ERR_CONFLICT, NULL, "The VM is on no host it could be moved from.");
    return 0;
}

/* The job's params (a new reference) for a move of vm to host_id that reserved hold there; NULL with err
 * when out of memory. */
static json_t *
job_params(const vm_rec_t *vm, const char *host_id, const int64_t hold[3], err_t *err)
{
    json_t *params = json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:b, s:I}", "fromHostId", vm->host_id,
                               "toHostId", host_id, "fromHypervisorId", vm->hypervisor_id,
                               "holdsCompute", vm->hold.holds_compute, "cores", (json_int_t) hold[0],
                               "memoryMB", (json_int_t) hold[1], "holdsStorage",
                               vm->hold.holds_storage, "storageGB", (json_int_t) hold[2]);

    if (params == NULL)
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return params;
}

/* Checks and reserves, in the caller's transaction; the job's params (a new reference) or NULL. */
static json_t *
reserve(store_t *st, const vm_rec_t *vm, const char *host_id, err_t *err)
{
    json_t *host, *params = NULL;
    int64_t hold[3];
    int same;

    held(vm, hold);
    if (vmrec_ready(vm, err) || check_placed(vm, err))
        return NULL;
    if ((host = target_host(st, vm, host_id, err)) == NULL)
        return NULL;
    if ((same = same_cloud(st, vm, host, err)) < 0 || check_vm(vm, same == 1, err) ||
        placement_reserve_on(st, host, hold[0], hold[1], hold[2], err))
        goto out;
    params = job_params(vm, host_id, hold, err);
out:
    json_decref(host);
    return params;
}

json_t *
vm_migrate(store_t *st, const char *vm_id, const char *host_id, err_t *err)
{
    json_t *params = NULL, *j = NULL;
    vm_rec_t vm;

    assert(st != NULL && vm_id != NULL && host_id != NULL && err != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    if (vmrec__load_or_404(st, NULL, vm_id, &vm, NULL, err) ||
        (params = reserve(st, &vm, host_id, err)) == NULL)
        goto fail;
    vm.provisioning = VM_PROV_UPDATING; /* the power state stays as it is */
    j = vmrec_submit(st, &vm, "vm.migrate", params, err);
    if (j == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(params);
    return j;
fail:
    store_tx_rollback(st);
    json_decref(params);
    json_decref(j);
    return NULL;
}

int
vm_migrate_check(const vm_rec_t *vm, err_t *err)
{
    assert(vm != NULL);
    return vmrec_ready(vm, err) || check_placed(vm, err) || check_vm(vm, true, err) ? -1 : 0;
}

int
vm_migrate_away(store_t *st, vm_rec_t *vm, const char *cloud_id, json_t **job, err_t *err)
{
    char to[UTIL_UUID_LEN + 1];
    json_t *params, *j;
    int64_t hold[3];

    assert(st != NULL && vm != NULL && cloud_id != NULL && job != NULL && err != NULL);
    held(vm, hold);
    if (vm_migrate_check(vm, err))
        return -1;
    if (placement_place(st, cloud_id, hold[0], hold[1], hold[2], to, err)) {
        if (err->code != ERR_NO_CAPACITY)
            return -1;
        err_clear(err); /* no room is this call's answer, not an error */
        return 1;
    }
    /* The caller took the VM's host out of ok first, so placement never chose it. */
    assert(strcmp(to, vm->host_id) != 0);
    if ((params = job_params(vm, to, hold, err)) == NULL)
        return -1;
    vm->provisioning = VM_PROV_UPDATING; /* the power state stays as it is */
    j = vmrec_submit(st, vm, "vm.migrate", params, err);
    json_decref(params);
    if (j == NULL)
        return -1;
    *job = j;
    return 0;
}

/* ---- the job ---- */

/* The agent of a host the job names (borrowed), or NULL with the step's result in *r. */
static agent_t *
job_agent(job_ctx_t *ctx, const char *host_id, job_step_result_t *r, err_t *err)
{
    agent_t *a = hostreg_agent(job_ctx_store(ctx), host_id, err);

    if (a == NULL)
        *r = err->code == ERR_UNAVAILABLE ? JOB_STEP_RETRY : JOB_STEP_FAILED;
    return a;
}

static agent_vm_power_t
agent_power_of(vm_power_t p)
{
    return p == VM_POWER_RUNNING ? AGENT_VM_RUNNING
           : p == VM_POWER_STOPPED ? AGENT_VM_STOPPED
                                   : AGENT_VM_DEALLOCATED;
}

/* The bytes an import copies: the VM's disks, and its memory when it runs (a live migration). */
static int64_t
import_bytes(const vm_rec_t *vm)
{
    int64_t gb = 0;
    size_t i;

    for (i = 0; i < vm->ndisks; i++)
        gb += vm->disks[i].size_gb;
    return gb * GIB + (vm->power == VM_POWER_RUNNING ? vm->memory_mb * MIB : 0);
}

static job_step_result_t
step_import(job_ctx_t *ctx, err_t *err)
{
    const json_t *p = job_ctx_params(ctx);
    agent_progress_t prog = {0, 0};
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    char hyp[AGENT_ID_MAX] = "";
    const char *checkpoints[1];
    agent_vm_source_t src;
    vmstep_spec_t spec;
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;

    if (json_is_true(json_object_get(job_ctx_data(ctx), DATA_RELEASED))) {
        err_set(err, ERR_CONFLICT, NULL, "A failed migration is not restarted; start a new one.");
        return JOB_STEP_FAILED;
    }
    if ((r = vmstep_vm(ctx, &vm, NULL, err)) != JOB_STEP_DONE)
        return r;
    if ((a = job_agent(ctx, jget_str(p, "toHostId"), &r, err)) == NULL)
        return r;
    vmstep_fill_spec(&vm, &spec);
    checkpoints[0] = vm.checkpoint.name;
    src.host_id = jget_str(p, "fromHostId");
    src.hypervisor_id = jget_str(p, "fromHypervisorId");
    src.power = agent_power_of(vm.power);
    src.checkpoints = checkpoints;
    src.ncheckpoints = vm.checkpoint.present ? 1 : 0;
    c.progress = &prog;
    agent_vm_import(a, &c, &spec.spec, &src, hyp, &aerr);
    r = vmstep_result(&aerr, err);
    if (r == JOB_STEP_POLL && prog.bytes_total > 0)
        job_ctx_set_copy(ctx, prog.bytes_copied, prog.bytes_total);
    if (r == JOB_STEP_DONE) {
        /* The final copy: every byte, as the host counted them or, when it did not say (an instant copy,
         * an answer from its journal), as agent.h defines them. */
        if (prog.bytes_total <= 0)
            prog.bytes_total = import_bytes(&vm);
        job_ctx_set_copy(ctx, prog.bytes_total, prog.bytes_total);
        json_object_set_new(job_ctx_data(ctx), DATA_TARGET_HYP, json_string(hyp));
    }
    return r;
}

/* The target's id of the checkpoint named name on the VM hyp of host host_id, into id ("" when the host
 * reports none of that name). */
static job_step_result_t
target_checkpoint(job_ctx_t *ctx, const char *host_id, const char *hyp, const char *name,
                  char id[AGENT_ID_MAX], err_t *err)
{
    agent_call_t c = {"inventory", 0, NULL};
    agent_vm_list_t list = {0};
    const agent_vm_info_t *vm;
    agent_err_t aerr = {0};
    job_step_result_t r;
    agent_t *a;
    int i;

    id[0] = '\0';
    if ((a = job_agent(ctx, host_id, &r, err)) == NULL)
        return r;
    if (agent_inventory(a, &c, &list, &aerr) != 0)
        return vmstep_result(&aerr, err) == JOB_STEP_FAILED ? JOB_STEP_FAILED : JOB_STEP_RETRY;
    if ((vm = agent_vm_list_find(&list, hyp)) != NULL)
        for (i = 0; i < vm->ncheckpoints; i++)
            if (strcmp(vm->checkpoints[i].name, name) == 0)
                snprintf(id, AGENT_ID_MAX, "%s", vm->checkpoints[i].id);
    agent_vm_list_free(&list);
    return JOB_STEP_DONE;
}

static job_step_result_t
step_switch(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *p = job_ctx_params(ctx);
    const char *from = jget_str(p, "fromHostId"), *to = jget_str(p, "toHostId");
    const char *hyp = jget_str(job_ctx_data(ctx), DATA_TARGET_HYP);
    char cp_id[AGENT_ID_MAX] = "";
    job_step_result_t r;
    vm_rec_t vm;

    if ((r = vmstep_vm(ctx, &vm, NULL, err)) != JOB_STEP_DONE)
        return r;
    if (strcmp(vm.host_id, to) == 0)
        return JOB_STEP_DONE; /* switched already */
    if (hyp == NULL || strlen(hyp) >= sizeof(vm.hypervisor_id)) {
        err_set(err, ERR_INTERNAL, NULL, "The target's id of the VM was not recorded.");
        return JOB_STEP_FAILED;
    }
    if (vm.checkpoint.present &&
        (r = target_checkpoint(ctx, to, hyp, vm.checkpoint.name, cp_id, err)) != JOB_STEP_DONE)
        return r;
    if (job_ctx_begin(ctx, err) || vmrec_release_host(st, &vm, true, true, err))
        return JOB_STEP_RETRY;
    snprintf(vm.host_id, sizeof(vm.host_id), "%s", to);
    snprintf(vm.hypervisor_id, sizeof(vm.hypervisor_id), "%s", hyp);
    if (vm.checkpoint.present)
        snprintf(vm.checkpoint.host_id, sizeof(vm.checkpoint.host_id), "%s", cp_id);
    /* The reservation becomes the VM's holdings: the same flags, so no timeline row. */
    vm.hold.holds_compute = json_is_true(json_object_get(p, "holdsCompute"));
    vm.hold.holds_storage = json_is_true(json_object_get(p, "holdsStorage"));
    vm.provisioning = VM_PROV_SUCCEEDED;
    if (vmrec_save(st, &vm, err) ||
        events_emit(st, "vm.migrated", vm.subscription_id, vm.id,
                    json_pack("{s:s, s:s}", "fromHostId", from, "toHostId", to), err))
        return JOB_STEP_RETRY;
    return JOB_STEP_DONE;
}

/* After the switch-over the job can only succeed: a refusal of the source is retried to the deadline. */
static job_step_result_t
step_delete_source(job_ctx_t *ctx, err_t *err)
{
    const json_t *p = job_ctx_params(ctx);
    agent_call_t c = vmstep_call(ctx);
    job_step_result_t r;
    agent_t *a;

    if ((a = job_agent(ctx, jget_str(p, "fromHostId"), &r, err)) == NULL)
        return err->code == ERR_NOT_FOUND ? JOB_STEP_DONE : JOB_STEP_RETRY; /* a host gone: nothing */
    r = vmstep_delete_on_host(a, &c, jget_str(p, "fromHypervisorId"), err);
    return r == JOB_STEP_FAILED ? JOB_STEP_RETRY : r;
}

/* A failure before the switch-over removes the VM the target made (found by the wapd VM id, whether or
 * not the import answered), best effort, and asks the source what is true. */
static void
cleanup_migrate(job_ctx_t *ctx)
{
    const char *to = jget_str(job_ctx_params(ctx), "toHostId");
    char op[128];
    agent_call_t c = {op, VM_AGENT_TIMEOUT_MS, NULL};
    agent_vm_info_t hv;
    err_t err = {0};
    vm_rec_t vm, there;
    agent_t *a;

    if (vmstep_job_vm(ctx, &vm, NULL) != 1 || strcmp(vm.host_id, to) == 0)
        return;
    vmstep_ask_host(ctx);
    there = vm;
    snprintf(there.host_id, sizeof(there.host_id), "%s", to);
    there.hypervisor_id[0] = '\0';
    if (vmstep_host_view(ctx, &there, &hv) != 1)
        return;
    snprintf(op, sizeof(op), "%s:cleanup", job_ctx_op_id(ctx));
    a = hostreg_agent(job_ctx_store(ctx), to, &err);
    if (a && vmstep_delete_on_host(a, &c, hv.hypervisor_id, &err) == JOB_STEP_DONE)
        json_object_set_new(job_ctx_data(ctx), "removedFromTarget", json_true());
}

static int
failed_migrate(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *p = job_ctx_params(ctx);
    json_t *data = job_ctx_data(ctx);
    vm_rec_t vm;
    int rc;

    if (json_is_true(json_object_get(data, DATA_RELEASED)))
        return 0;
    if ((rc = vmstep_job_vm(ctx, &vm, err)) < 0)
        return rc;
    if (rc == 1 && strcmp(vm.host_id, jget_str(p, "toHostId")) == 0)
        return 0; /* switched over: the reservation is the VM's holdings now */
    if (store_host_allocate(st, jget_str(p, "toHostId"), -jget_int(p, "cores"),
                            -jget_int(p, "memoryMB"), -jget_int(p, "storageGB"), err) < 0)
        return -1;
    json_object_set_new(data, DATA_RELEASED, json_true());
    if (rc == 0)
        return 0; /* a VM that is gone has nothing else to put right */
    /* The VM stays where it was, in the power state its host reports (cleanup asked; not on cancel). */
    if (json_is_true(json_object_get(data, "hostHasVm")) &&
        vmstep_apply_true_power(st, ctx, &vm, err))
        return -1;
    vm.provisioning = VM_PROV_SUCCEEDED;
    return vmrec_save(st, &vm, err);
}

static const job_step_def_t migrate_steps[] = {
    {"importOnTarget", step_import},
    {"switchOver", step_switch},
    {"deleteFromSource", step_delete_source},
    {NULL, NULL},
};
static const job_kind_def_t migrate_kind = {
    "vm.migrate", migrate_steps, MIGRATE_DEADLINE_MS, failed_migrate, cleanup_migrate, NULL, NULL,
};

int
vm_migrate_kinds_register(void)
{
    return job_kind_register(&migrate_kind);
}
