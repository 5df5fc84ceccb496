/*
 * slot.c: the single checkpoint slot of a VM, plan checkpoint modes, and the slot's jobs.
 *
 * The slot is the VM record's `checkpoint` (with the host's checkpoint id and the VM's power state at the
 * time, kept hidden). It holds one checkpoint or none, and it is the only thing tenants see, so they can
 * never see two. Replacement is a job of two steps:
 *   1. createCheckpoint: the host makes the new checkpoint; in the same transaction that records the step,
 *      the slot switches to it and the old one's host id is kept in the job's data;
 *   2. deleteOldCheckpoint: the host merges the old one away.
 * A crash before step 1 committed resumes step 1 with the same operation id (the host answers the
 * checkpoint it already made, if it made it), so the old one stays until the new one exists; a crash
 * after resumes at step 2 and finishes deleting the old one. A failed job deletes from the host every
 * checkpoint of the VM that the slot does not name, so nothing leaks, and the slot keeps what it had.
 *
 * Modes (from the subscription's effective mode): disabled hides checkpoints from tenants; viewRestore lets
 * them see and restore; createViewRestore also create and delete. Admins may delete any VM's checkpoint.
 */
#include "../checkpoint.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../events.h"
#include "../hostreg.h"
#include "../util.h"
#include "../vm/vmstep.h"
#include "prune.h"

static int
mode_allows(const json_t *sub, checkpoint_op_t op, err_t *err)
{
    const char *mode = jget_str(sub, "checkpointMode");

    if (mode == NULL || strcmp(mode, "disabled") == 0 ||
        ((op == CHECKPOINT_CREATE || op == CHECKPOINT_DELETE) &&
         strcmp(mode, "createViewRestore") != 0))
        return err_set(err, ERR_CHECKPOINTS_NOT_ALLOWED, NULL,
                       "The subscription's plan does not allow this with checkpoints (mode %s).",
                       mode ? mode : "disabled");
    return 0;
}

static json_t *
view_of(const json_t *cp)
{
    json_t *v = json_deep_copy(cp);

    json_object_del(v, "_hostId");
    json_object_del(v, "_powerState");
    return v;
}

/* The sid of ctx, NULL for the admin. */
static const char *
sid_of(const vm_ctx_t *ctx)
{
    return ctx ? ctx->sid : NULL;
}

json_t *
checkpoint_get(store_t *st, const vm_ctx_t *ctx, const char *vm_id, err_t *err)
{
    json_t *vm, *cp, *out = NULL;

    assert(st != NULL && vm_id != NULL && (ctx == NULL || ctx->sub != NULL));
    vm = vmrec_load_json(st, sid_of(ctx), vm_id, NULL, err);
    if (vm == NULL)
        return NULL;
    if (ctx == NULL || mode_allows(ctx->sub, CHECKPOINT_VIEW, err) == 0) {
        cp = json_object_get(vm, "checkpoint");
        if (json_is_object(cp))
            out = view_of(cp);
        else
            err_set(err, ERR_NO_CHECKPOINT, NULL, "The VM has no checkpoint.");
    }
    json_decref(vm);
    return out;
}

int
checkpoint_check(store_t *st, const vm_ctx_t *ctx, const char *vm_id, checkpoint_op_t op,
                 err_t *err)
{
    json_t *vm;

    assert(st != NULL && vm_id != NULL && (ctx == NULL || ctx->sub != NULL));
    vm = vmrec_load_json(st, sid_of(ctx), vm_id, NULL, err);
    if (vm == NULL)
        return -1;
    json_decref(vm);
    return ctx == NULL ? 0 : mode_allows(ctx->sub, op, err);
}

/* The request side of every slot operation: the VM (of ctx's subscription; any for the admin), the mode,
 * the subscription writable. Returns the VM record. */
static json_t *
prepare(store_t *st, const vm_ctx_t *ctx, const char *vm_id, checkpoint_op_t op, err_t *err)
{
    json_t *vm = vmrec_load_json(st, sid_of(ctx), vm_id, NULL, err);

    if (vm != NULL && ctx != NULL &&
        (mode_allows(ctx->sub, op, err) || vm_subscription_writable(ctx->sub, err))) {
        json_decref(vm);
        return NULL;
    }
    return vm;
}

json_t *
checkpoint_put(store_t *st, const vm_ctx_t *ctx, const char *vm_id,
               const checkpoint_put_req_t *req, err_t *err)
{
    json_t *vm = NULL, *job = NULL, *params, *old;

    assert(st != NULL && vm_id != NULL && req != NULL && req->name != NULL);
    assert(ctx == NULL || ctx->sub != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    vm = prepare(st, ctx, vm_id, CHECKPOINT_CREATE, err);
    if (vm == NULL || vmrec_ready_json(vm, err))
        goto fail;
    params = json_pack("{s:s, s:s?}", "name", req->name, "description", req->description);
    json_object_set_new(vm, "provisioningState", json_string("updating"));
    job = vmrec_submit_json(st, vm, "vm.checkpoint.create", params, err);
    json_decref(params);
    if (job == NULL || store_tx_commit(st, err))
        goto fail;
    old = json_object_get(vm, "checkpoint");
    json_object_set_new(job, "replaces", json_is_object(old) ? view_of(old) : json_null());
    json_decref(vm);
    return job;
fail:
    store_tx_rollback(st);
    json_decref(vm);
    json_decref(job);
    return NULL;
}

/* Restore and delete: the slot must hold a checkpoint. */
static json_t *
submit_on_slot(store_t *st, const vm_ctx_t *ctx, const char *vm_id, checkpoint_op_t op,
               const char *kind, err_t *err)
{
    json_t *vm = NULL, *job = NULL, *cp;
    const char *target;

    if (store_tx_begin(st, err))
        return NULL;
    vm = prepare(st, ctx, vm_id, op, err);
    if (vm == NULL)
        goto fail;
    cp = json_object_get(vm, "checkpoint");
    if (!json_is_object(cp)) {
        err_set(err, ERR_NO_CHECKPOINT, NULL, "The VM has no checkpoint.");
        goto fail;
    }
    if (vmrec_ready_json(vm, err))
        goto fail;
    /* Restoring to a state that holds host capacity takes it back first (409 NoCapacity now). */
    target = jget_str(cp, "_powerState");
    if (op == CHECKPOINT_RESTORE && target && strcmp(target, "deallocated") != 0 &&
        vmrec_hold_compute_json(st, vm, err))
        goto fail;
    json_object_set_new(vm, "provisioningState", json_string("updating"));
    job = vmrec_submit_json(st, vm, kind, NULL, err);
    if (job == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(vm);
    return job;
fail:
    store_tx_rollback(st);
    json_decref(vm);
    json_decref(job);
    return NULL;
}

json_t *
checkpoint_restore(store_t *st, const vm_ctx_t *ctx, const char *vm_id, err_t *err)
{
    return submit_on_slot(st, ctx, vm_id, CHECKPOINT_RESTORE, "vm.checkpoint.restore", err);
}

json_t *
checkpoint_delete(store_t *st, const vm_ctx_t *ctx, const char *vm_id, err_t *err)
{
    return submit_on_slot(st, ctx, vm_id, CHECKPOINT_DELETE, "vm.checkpoint.delete", err);
}

/* ---- job steps ---- */

static void
succeeded(json_t *vm)
{
    json_object_set_new(vm, "provisioningState", json_string("succeeded"));
}

static job_step_result_t
step_create(job_ctx_t *ctx, err_t *err)
{
    const json_t *p = job_ctx_params(ctx);
    json_t *data = job_ctx_data(ctx), *vm, *old;
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    char cp_id[AGENT_ID_MAX], now[UTIL_TIME_LEN + 1];
    job_step_result_t r;
    agent_t *a;

    if ((r = vmstep_vm_json(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    agent_checkpoint_create(a, &c, jget_str(vm, "hypervisorId"), jget_str(p, "name"), cp_id, &aerr);
    r = vmstep_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        old = json_object_get(vm, "checkpoint");
        if (json_is_object(old) && jget_str(old, "_hostId") && strcmp(jget_str(old, "_hostId"), cp_id) != 0)
            json_object_set(data, "oldId", json_object_get(old, "_hostId"));
        util_time_format(util_now_ms(), now);
        if (job_ctx_begin(ctx, err) || vmrec_set_checkpoint_size_json(job_ctx_store(ctx), vm, 0, err)) {
            json_decref(vm);
            return JOB_STEP_RETRY;
        }
        json_object_set_new(vm, "checkpoint",
                            json_pack("{s:O, s:O, s:s, s:i, s:s, s:O}", "name",
                                      json_object_get(p, "name"), "description",
                                      json_object_get(p, "description")
                                          ? json_object_get(p, "description")
                                          : json_null(),
                                      "createdAt", now, "sizeGB", 0, "_hostId", cp_id,
                                      "_powerState", json_object_get(vm, "powerState")));
        if (job_ctx_begin(ctx, err) || vmrec_save_json(job_ctx_store(ctx), vm, err) ||
            events_emit(job_ctx_store(ctx), "vm.checkpoint.created", jget_str(vm, "subscriptionId"),
                        jget_str(vm, "id"),
                        json_pack("{s:O, s:s, s:b}", "name", json_object_get(p, "name"),
                                  "createdAt", now, "replacesOld",
                                  json_object_get(data, "oldId") != NULL),
                        err))
            r = JOB_STEP_RETRY;
    }
    json_decref(vm);
    return r;
}

/* Merges checkpoint cp_id away on the VM's host (already gone counts as done). */
static job_step_result_t
host_delete(job_ctx_t *ctx, const json_t *vm, agent_t *a, const char *cp_id, const char *op,
            err_t *err)
{
    agent_call_t c = {op, VM_AGENT_TIMEOUT_MS};
    agent_err_t aerr = {0};

    if (agent_checkpoint_delete(a, &c, jget_str(vm, "hypervisorId"), cp_id, &aerr) != 0 &&
        aerr.status == AGENT_ERR_NOT_FOUND)
        aerr.status = AGENT_OK;
    (void) ctx;
    return vmstep_result(&aerr, err);
}

static job_step_result_t
step_delete_old(job_ctx_t *ctx, err_t *err)
{
    const char *old = jget_str(job_ctx_data(ctx), "oldId");
    job_step_result_t r;
    json_t *vm;
    agent_t *a;

    if ((r = vmstep_vm_json(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    if (old != NULL)
        r = host_delete(ctx, vm, a, old, job_ctx_op_id(ctx), err);
    if (r == JOB_STEP_DONE)
        succeeded(vm);
    return vmstep_finish_json(ctx, vm, r, err);
}

static job_step_result_t
step_restore(job_ctx_t *ctx, err_t *err)
{
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r;
    const json_t *cp;
    json_t *vm;
    agent_t *a;

    if ((r = vmstep_vm_json(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    cp = json_object_get(vm, "checkpoint");
    if (!json_is_object(cp)) {
        json_decref(vm);
        err_set(err, ERR_NO_CHECKPOINT, NULL, "The VM has no checkpoint any more.");
        return JOB_STEP_FAILED;
    }
    agent_checkpoint_restore(a, &c, jget_str(vm, "hypervisorId"), jget_str(cp, "_hostId"), &aerr);
    r = vmstep_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        /* The VM returns to the power state it had when the checkpoint was taken. */
        const char *ps = jget_str(cp, "_powerState") ? jget_str(cp, "_powerState") : "stopped";
        json_object_set_new(vm, "powerState", json_string(ps));
        succeeded(vm);
        /* Restoring discards the changes since the checkpoint: its disk is empty again. */
        if (job_ctx_begin(ctx, err) || vmrec_set_checkpoint_size_json(job_ctx_store(ctx), vm, 0, err) ||
            (strcmp(ps, "deallocated") == 0 &&
             vmrec_release_host_json(job_ctx_store(ctx), vm, true, false, err)) ||
            vmrec_save_json(job_ctx_store(ctx), vm, err) ||
            events_emit(job_ctx_store(ctx), "vm.checkpoint.restored", jget_str(vm, "subscriptionId"),
                        jget_str(vm, "id"),
                        json_pack("{s:O, s:s}", "name", json_object_get(cp, "name"), "powerState",
                                  ps),
                        err))
            r = JOB_STEP_RETRY;
    }
    json_decref(vm);
    return r;
}

static job_step_result_t
step_delete(job_ctx_t *ctx, err_t *err)
{
    job_step_result_t r;
    const json_t *cp;
    json_t *vm, *name;
    agent_t *a;

    if ((r = vmstep_vm_json(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    cp = json_object_get(vm, "checkpoint");
    if (json_is_object(cp) && jget_str(cp, "_hostId"))
        r = host_delete(ctx, vm, a, jget_str(cp, "_hostId"), job_ctx_op_id(ctx), err);
    if (r == JOB_STEP_DONE) {
        if (job_ctx_begin(ctx, err) || vmrec_set_checkpoint_size_json(job_ctx_store(ctx), vm, 0, err)) {
            json_decref(vm);
            return JOB_STEP_RETRY;
        }
        name = json_is_object(cp) ? json_incref(json_object_get(cp, "name")) : NULL;
        json_object_set_new(vm, "checkpoint", json_null());
        succeeded(vm);
        if (vmrec_save_json(job_ctx_store(ctx), vm, err) ||
            (name != NULL &&
             events_emit(job_ctx_store(ctx), "vm.checkpoint.deleted", jget_str(vm, "subscriptionId"),
                         jget_str(vm, "id"), json_pack("{s:O}", "name", name), err)))
            r = JOB_STEP_RETRY;
        json_decref(name);
    }
    json_decref(vm);
    return r;
}

/* cleanup of the slot's jobs: ask the host, then merge away every checkpoint of the VM that the slot does
 * not name (a new one made by a create that then failed, an old one a replacement did not get to). */
static void
cleanup_slot(job_ctx_t *ctx)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *hv, *cps, *slot;
    const char *key, *keep = NULL;
    json_t *vm, *cp;
    char op[160];
    err_t err = {0};
    agent_t *a;

    vmstep_ask_host(ctx);
    hv = json_object_get(job_ctx_data(ctx), "hostVm");
    vm = vmrec_load_json(st, NULL, job_ctx_resource(ctx), NULL, NULL);
    if (vm == NULL || hv == NULL || jget_str(vm, "hostId") == NULL) {
        json_decref(vm);
        return;
    }
    slot = json_object_get(vm, "checkpoint");
    if (json_is_object(slot))
        keep = jget_str(slot, "_hostId");
    a = hostreg_agent(st, jget_str(vm, "hostId"), &err);
    cps = json_object_get(hv, "checkpoints");
    json_object_foreach((json_t *) cps, key, cp) {
        if (keep && strcmp(key, keep) == 0)
            continue;
        snprintf(op, sizeof(op), "%s:cleanup:%s", job_ctx_op_id(ctx), key);
        if (a)
            host_delete(ctx, vm, a, key, op, &err);
    }
    json_decref(vm);
}

/* Create and delete leave the VM's power state alone; restore may have changed it. */
static int
failed_slot_common(job_ctx_t *ctx, bool power_may_differ, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *data = job_ctx_data(ctx), *hv = json_object_get(data, "hostVm"), *slot;
    json_t *vm = NULL;
    int rc = 0;

    if ((rc = vmstep_job_vm_json(ctx, &vm, err)) <= 0)
        return rc; /* a VM that is gone has nothing to put right */
    rc = 0;
    slot = json_object_get(vm, "checkpoint");
    /* A slot naming a checkpoint the host says it no longer has (a delete whose answer was lost) is
     * emptied: the slot never shows what does not exist. */
    if (json_is_object(slot) && hv &&
        json_object_get(json_object_get(hv, "checkpoints"), jget_str(slot, "_hostId")) == NULL) {
        rc = vmrec_set_checkpoint_size_json(st, vm, 0, err);
        json_object_set_new(vm, "checkpoint", json_null());
    }
    if (power_may_differ && strcmp(job_ctx_status(ctx), "canceled") != 0)
        rc = vmstep_apply_true_power_json(st, ctx, vm, err);
    succeeded(vm);
    if (rc == 0)
        rc = vmrec_save_json(st, vm, err);
    json_decref(vm);
    return rc;
}

static int
failed_slot(job_ctx_t *ctx, err_t *err)
{
    return failed_slot_common(ctx, false, err);
}

static int
failed_restore(job_ctx_t *ctx, err_t *err)
{
    return failed_slot_common(ctx, true, err);
}

/* ---- kinds ---- */

static const job_step_def_t create_steps[] = {
    {"createCheckpoint", step_create},
    {"deleteOldCheckpoint", step_delete_old},
    {NULL, NULL},
};
static const job_step_def_t restore_steps[] = {{"restoreCheckpoint", step_restore}, {NULL, NULL}};
static const job_step_def_t delete_steps[] = {{"deleteCheckpoint", step_delete}, {NULL, NULL}};

static const job_kind_def_t kinds[] = {
    {"vm.checkpoint.create", create_steps, VM_JOB_DEADLINE_MS, failed_slot, cleanup_slot, NULL, NULL},
    {"vm.checkpoint.restore", restore_steps, VM_JOB_DEADLINE_MS, failed_restore, cleanup_slot, NULL, NULL},
    {"vm.checkpoint.delete", delete_steps, VM_JOB_DEADLINE_MS, failed_slot, cleanup_slot, NULL, NULL},
};

int
checkpoint_jobs_register(void)
{
    size_t i;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (job_kind_register(&kinds[i]))
            return -1;
    return checkpoint__prune_register();
}
