/*
 * power.c: power actions, the requests and their jobs (vm.start, vm.stop, vm.shutdown, vm.restart,
 * vm.deallocate), and the subscription-wide stop.
 *
 * Power state machine: start from stopped or deallocated; stop, shutdown and restart from
 * running; deallocate from running or stopped. The request sets the transitional state and the job the
 * final one. A failed job asks the host what is true (cleanup) and records that (on_failed), fixing the
 * VM's holdings to match. Starting a deallocated VM takes its host compute back at the request; when its
 * host has no room, the request reserves room on another host of the cloud and the job moves the VM there
 * (moveToHost, then removeFromOldHost).
 */
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../hostreg.h"
#include "../placement.h"
#include "../util.h"
#include "vmstep.h"

typedef struct {
    const char *action;
    vm_power_t transitional, final;
    agent_power_op_t op; /* for deallocate: release instead */
} action_def_t;

static const action_def_t actions[] = {
    {"start", VM_POWER_STARTING, VM_POWER_RUNNING, AGENT_POWER_START},
    {"stop", VM_POWER_STOPPING, VM_POWER_STOPPED, AGENT_POWER_STOP},
    {"shutdown", VM_POWER_STOPPING, VM_POWER_STOPPED, AGENT_POWER_SHUTDOWN},
    {"restart", VM_POWER_STARTING, VM_POWER_RUNNING, AGENT_POWER_RESTART},
    {"deallocate", VM_POWER_DEALLOCATING, VM_POWER_DEALLOCATED, AGENT_POWER_STOP},
    {NULL, VM_POWER_UNKNOWN, VM_POWER_UNKNOWN, AGENT_POWER_START},
};

static const action_def_t *
find_action(const char *name)
{
    int i;

    for (i = 0; name && actions[i].action; i++)
        if (strcmp(actions[i].action, name) == 0)
            return &actions[i];
    return NULL;
}

static bool
action_allowed(const char *action, vm_power_t power)
{
    if (strcmp(action, "start") == 0)
        return power == VM_POWER_STOPPED || power == VM_POWER_DEALLOCATED;
    if (strcmp(action, "deallocate") == 0)
        return power == VM_POWER_RUNNING || power == VM_POWER_STOPPED;
    return power == VM_POWER_RUNNING; /* stop, shutdown, restart */
}

/* A deallocated VM about to start takes compute on its own host when it has room, else reserves room on
 * another host of its cloud, named in move_to. */
static int
hold_or_move(store_t *st, vm_rec_t *vm, char move_to[UTIL_UUID_LEN + 1], err_t *err)
{
    json_t *host;
    int rc = store_host_allocate(st, vm->host_id, vm->cores, vm->memory_mb, 0, err);

    if (rc == 0) {
        vm->hold.holds_compute = true;
        return 0;
    }
    if (rc < 0)
        return -1;
    host = store_rec_get(st, &store_kind_host, vm->host_id, NULL, err);
    rc = host ? placement_place(st, jget_str(host, "cloudId"), vm->cores, vm->memory_mb,
                                vm->hold.storage_gb, move_to, err)
              : -1;
    json_decref(host);
    return rc;
}

/* Starts the power job for a loaded VM (request side); the caller has checked the subscription. */
static json_t *
submit_action(store_t *st, vm_rec_t *vm, const action_def_t *a, err_t *err)
{
    const char *ps = vm_power_name(vm->power);
    char kind[32], move_to[UTIL_UUID_LEN + 1];
    json_t *params, *j;

    if (vmrec_ready(vm, err))
        return NULL;
    if (!action_allowed(a->action, vm->power)) {
        err_set(err, ERR_INVALID_POWER_STATE, NULL, "A VM that is %s cannot %s.", ps, a->action);
        return NULL;
    }
    if (vm->os_state == VM_OS_GENERALIZED &&
        (strcmp(a->action, "start") == 0 || strcmp(a->action, "restart") == 0)) {
        err_set(err, ERR_INVALID_POWER_STATE, NULL,
                "A generalized VM cannot %s; make a VM from its image instead.", a->action);
        return NULL;
    }
    /* Starting a deallocated VM takes host capacity back first: on its own host when it has room, else
     * on another host of the cloud, where the job moves it. No room anywhere is 409 NoCapacity now. */
    move_to[0] = '\0';
    if (strcmp(a->action, "start") == 0 && !vm->hold.holds_compute &&
        hold_or_move(st, vm, move_to, err))
        return NULL;
    params = json_pack("{s:s, s:s, s:s?}", "action", a->action, "from", ps, "moveTo",
                       move_to[0] ? move_to : NULL);
    snprintf(kind, sizeof(kind), "vm.%s", a->action);
    vm->power = a->transitional;
    j = vmrec_submit(st, vm, kind, params, err);
    json_decref(params);
    return j;
}

json_t *
vm_action(store_t *st, const vm_ctx_t *ctx, const char *id, const char *action, err_t *err)
{
    const action_def_t *a = find_action(action);
    json_t *j = NULL;
    vm_rec_t vm;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && id != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    if (vmrec__load_or_404(st, ctx->sid, id, &vm, NULL, err))
        goto fail;
    if (a == NULL) {
        err_set(err, ERR_NOT_FOUND, NULL, "No action '%s' exists.", action);
        goto fail;
    }
    if (vm_subscription_writable(ctx->sub, err))
        goto fail;
    j = submit_action(st, &vm, a, err);
    if (j == NULL || store_tx_commit(st, err))
        goto fail;
    return j;
fail:
    store_tx_rollback(st);
    json_decref(j);
    return NULL;
}

static job_step_result_t
step_power(job_ctx_t *ctx, err_t *err)
{
    const action_def_t *a = find_action(jget_str(job_ctx_params(ctx), "action"));
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *ag;

    if (a == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Unknown action."), JOB_STEP_FAILED;
    if ((r = vmstep_vm(ctx, &vm, &ag, err)) != JOB_STEP_DONE)
        return r;
    if (strcmp(a->action, "deallocate") == 0)
        agent_vm_release(ag, &c, vm.hypervisor_id, &aerr);
    else
        agent_vm_power(ag, &c, vm.hypervisor_id, a->op, &aerr);
    r = vmstep_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        /* The checkpoint's differencing disk grew while the VM ran: record its size now. */
        int64_t cp_size = vmstep_checkpoint_size(ctx, &vm);
        vm.power = a->final;
        if (job_ctx_begin(ctx, err) ||
            vmrec_set_checkpoint_size(job_ctx_store(ctx), &vm, cp_size, err) ||
            (strcmp(a->action, "deallocate") == 0 &&
             vmrec_release_host(job_ctx_store(ctx), &vm, true, false, err)) ||
            vmrec_save(job_ctx_store(ctx), &vm, err))
            r = JOB_STEP_RETRY;
    }
    return r;
}

/* vm.start, step 1: a deallocated VM whose host had no room moves to the host reserved for it: created
 * there from its record, its storage released on the old host (nothing to do for other starts). */
static job_step_result_t
step_move_to_host(job_ctx_t *ctx, err_t *err)
{
    const char *to = jget_str(job_ctx_params(ctx), "moveTo");
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    vmstep_spec_t spec;
    char hyp[AGENT_ID_MAX];
    json_t *data;
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;

    if (to == NULL)
        return JOB_STEP_DONE;
    if ((r = vmstep_vm(ctx, &vm, NULL, err)) != JOB_STEP_DONE)
        return r;
    if (strcmp(vm.host_id, to) == 0)
        return JOB_STEP_DONE; /* moved before a crash */
    a = hostreg_agent(job_ctx_store(ctx), to, err);
    if (a == NULL)
        return err->code == ERR_UNAVAILABLE ? JOB_STEP_RETRY : JOB_STEP_FAILED;
    vmstep_fill_spec(&vm, &spec);
    agent_vm_create(a, &c, &spec.spec, hyp, &aerr);
    r = vmstep_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        data = job_ctx_data(ctx);
        json_object_set_new(data, "oldHostId", vm.host_id[0] ? json_string(vm.host_id) : json_null());
        json_object_set_new(data, "oldHypervisorId",
                            vm.hypervisor_id[0] ? json_string(vm.hypervisor_id) : json_null());
        if (job_ctx_begin(ctx, err) || vmrec_release_host(job_ctx_store(ctx), &vm, false, true, err))
            return JOB_STEP_RETRY;
        /* The new host's cores, memory and storage were reserved by the request. */
        snprintf(vm.host_id, sizeof(vm.host_id), "%s", to);
        snprintf(vm.hypervisor_id, sizeof(vm.hypervisor_id), "%s", hyp);
        vm.hold.holds_compute = vm.hold.holds_storage = true;
        if (vmrec_save(job_ctx_store(ctx), &vm, err))
            r = JOB_STEP_RETRY;
    }
    return r;
}

/* Deletes a moved VM's old copy from its old host (already gone counts as done). */
static job_step_result_t
remove_old_copy(job_ctx_t *ctx, const char *op, err_t *err)
{
    const json_t *data = job_ctx_data(ctx);
    const char *host = jget_str(data, "oldHostId"), *hyp = jget_str(data, "oldHypervisorId");
    agent_call_t c = {op, VM_AGENT_TIMEOUT_MS, NULL};
    agent_t *a;

    if (host == NULL || hyp == NULL)
        return JOB_STEP_DONE;
    a = hostreg_agent(job_ctx_store(ctx), host, err);
    if (a == NULL)
        return err->code == ERR_NOT_FOUND ? JOB_STEP_DONE : JOB_STEP_RETRY;
    return vmstep_delete_on_host(a, &c, hyp, err);
}

/* vm.start, step 3. */
static job_step_result_t
step_remove_from_old_host(job_ctx_t *ctx, err_t *err)
{
    return remove_old_copy(ctx, job_ctx_op_id(ctx), err);
}

static void
cleanup_start(job_ctx_t *ctx)
{
    char op[128];
    err_t err = {0};

    vmstep_ask_host(ctx);
    snprintf(op, sizeof(op), "%s:cleanup", job_ctx_op_id(ctx));
    remove_old_copy(ctx, op, &err);
}

static int
failed_power(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const char *from = jget_str(job_ctx_params(ctx), "from"), *move_to = jget_str(job_ctx_params(ctx), "moveTo");
    vm_rec_t vm;
    int rc;

    if ((rc = vmstep_job_vm(ctx, &vm, err)) <= 0)
        return rc; /* a VM that is gone has nothing to put right */
    if (move_to && strcmp(vm.host_id, move_to) != 0) {
        /* The move did not happen: the reservation on the other host goes, the VM stays deallocated
         * where it was. */
        rc = placement_hold(st, move_to, -vm.cores, -vm.memory_mb, -vm.hold.storage_gb,
                            "The VM's host was not found.", err);
        vm.power = VM_POWER_DEALLOCATED;
        return rc == 0 ? vmrec_save(st, &vm, err) : rc;
    }
    if (strcmp(job_ctx_status(ctx), "canceled") == 0 && !job_ctx_started(ctx)) {
        /* Canceled while queued: nothing reached the host: back to where it was, holdings included. */
        if (vm_power_parse(from, &vm.power) != 0)
            vm.power = VM_POWER_UNKNOWN;
        rc = vm.power == VM_POWER_DEALLOCATED ? vmrec_release_host(st, &vm, true, false, err) : 0;
    } else {
        rc = vmstep_apply_true_power(st, ctx, &vm, err);
    }
    return rc == 0 ? vmrec_save(st, &vm, err) : rc;
}


/* ---- subscription-wide ---- */

int
vm_stop_all(store_t *st, const char *sid, err_t *err)
{
    const action_def_t *stop = find_action("stop");
    json_t *vms, *rec, *j;
    int done = 1;
    vm_rec_t vm;
    size_t i;

    if ((vms = vmrec_begin_all(st, sid, err)) == NULL)
        return -1;
    json_array_foreach(vms, i, rec) {
        if (vmrec_from_store(rec, &vm, NULL) != 0) {
            done = 0; /* a record that does not parse is not stopped: the caller tries again */
            continue;
        }
        if (vm.power != VM_POWER_RUNNING && vm.power != VM_POWER_STARTING)
            continue;
        /* A busy VM (no job now) is stopped once its job has ended: the caller tries again. */
        j = vm.power == VM_POWER_RUNNING ? submit_action(st, &vm, stop, NULL) : NULL;
        if (j == NULL)
            done = 0;
        json_decref(j);
    }
    json_decref(vms);
    if (store_tx_commit(st, err))
        return -1;
    return done;
}

static const job_step_def_t power_steps[] = {{"powerOperation", step_power}, {NULL, NULL}};
static const job_step_def_t start_steps[] = {
    {"moveToHost", step_move_to_host},
    {"powerOperation", step_power},
    {"removeFromOldHost", step_remove_from_old_host},
    {NULL, NULL},
};

static const job_kind_def_t power_kinds[] = {
    {"vm.start", start_steps, VM_JOB_DEADLINE_MS, failed_power, cleanup_start, NULL, NULL},
    {"vm.stop", power_steps, VM_JOB_DEADLINE_MS, failed_power, vmstep_ask_host, NULL, NULL},
    {"vm.shutdown", power_steps, VM_JOB_DEADLINE_MS, failed_power, vmstep_ask_host, NULL, NULL},
    {"vm.restart", power_steps, VM_JOB_DEADLINE_MS, failed_power, vmstep_ask_host, NULL, NULL},
    {"vm.deallocate", power_steps, VM_JOB_DEADLINE_MS, failed_power, vmstep_ask_host, NULL, NULL},
};

int
vm_power_kinds_register(void)
{
    size_t i;

    for (i = 0; i < sizeof(power_kinds) / sizeof(power_kinds[0]); i++)
        if (job_kind_register(&power_kinds[i]))
            return -1;
    return 0;
}
