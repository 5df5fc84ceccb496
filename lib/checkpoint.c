/*
 * checkpoint.c: the single checkpoint slot of a VM, plan checkpoint modes, pruning and retention.
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
#include "checkpoint.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "hostreg.h"
#include "util.h"
#include "vm_internal.h"

static const char *
str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int
mode_allows(const json_t *sub, checkpoint_op_t op, err_t *err)
{
    const char *mode = str(sub, "checkpointMode");

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

json_t *
checkpoint_get(store_t *st, const char *sid, const char *vm_id, err_t *err)
{
    json_t *sub, *vm, *cp, *out = NULL;

    vm = vm__load(st, sid, vm_id, NULL, err);
    if (vm == NULL)
        return NULL;
    sub = store_rec_get_shared(st, &store_kind_subscription, str(vm, "subscriptionId"), NULL, err);
    if (sub != NULL && (sid == NULL || mode_allows(sub, CHECKPOINT_VIEW, err) == 0)) {
        cp = json_object_get(vm, "checkpoint");
        if (json_is_object(cp))
            out = view_of(cp);
        else
            err_set(err, ERR_NO_CHECKPOINT, NULL, "The VM has no checkpoint.");
    }
    json_decref(sub);
    json_decref(vm);
    return out;
}

int
checkpoint_check(store_t *st, const char *sid, const char *vm_id, checkpoint_op_t op, err_t *err)
{
    json_t *vm = vm__load(st, sid, vm_id, NULL, err), *sub;
    int rc;

    if (vm == NULL)
        return -1;
    json_decref(vm);
    if (sid == NULL)
        return 0;
    sub = store_rec_get_shared(st, &store_kind_subscription, sid, NULL, err);
    if (sub == NULL)
        return -1;
    rc = mode_allows(sub, op, err);
    json_decref(sub);
    return rc;
}

/* The request side of every slot operation: the VM (of sid; any with NULL), the mode, the VM free for a
 * job. Returns the VM record. */
static json_t *
prepare(store_t *st, const char *sid, const char *vm_id, checkpoint_op_t op, err_t *err)
{
    json_t *vm = vm__load(st, sid, vm_id, NULL, err), *sub;

    if (vm == NULL)
        return NULL;
    if (sid != NULL) {
        sub = store_rec_get(st, &store_kind_subscription, sid, NULL, err);
        if (sub == NULL || mode_allows(sub, op, err) || vm_subscription_writable(sub, err)) {
            json_decref(sub);
            json_decref(vm);
            return NULL;
        }
        json_decref(sub);
    }
    return vm;
}

json_t *
checkpoint_put(store_t *st, const char *sid, const char *vm_id, const json_t *body, err_t *err)
{
    json_t *vm = NULL, *job = NULL, *params, *old;

    if (store_tx_begin(st, err))
        return NULL;
    vm = prepare(st, sid, vm_id, CHECKPOINT_CREATE, err);
    if (vm == NULL || vm__ready(vm, err))
        goto fail;
    params = json_pack("{s:O, s:O?}", "name", json_object_get(body, "name"), "description",
                       json_object_get(body, "description"));
    json_object_set_new(vm, "provisioningState", json_string("updating"));
    job = vm__submit(st, vm, "vm.checkpoint.create", params, err);
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
submit_on_slot(store_t *st, const char *sid, const char *vm_id, checkpoint_op_t op,
               const char *kind, err_t *err)
{
    json_t *vm = NULL, *job = NULL, *cp;
    const char *target;

    if (store_tx_begin(st, err))
        return NULL;
    vm = prepare(st, sid, vm_id, op, err);
    if (vm == NULL)
        goto fail;
    cp = json_object_get(vm, "checkpoint");
    if (!json_is_object(cp)) {
        err_set(err, ERR_NO_CHECKPOINT, NULL, "The VM has no checkpoint.");
        goto fail;
    }
    if (vm__ready(vm, err))
        goto fail;
    /* Restoring to a state that holds host capacity takes it back first (409 NoCapacity now). */
    target = str(cp, "_powerState");
    if (op == CHECKPOINT_RESTORE && target && strcmp(target, "deallocated") != 0 &&
        vm__hold_compute(st, vm, err))
        goto fail;
    json_object_set_new(vm, "provisioningState", json_string("updating"));
    job = vm__submit(st, vm, kind, NULL, err);
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
checkpoint_restore(store_t *st, const char *sid, const char *vm_id, err_t *err)
{
    return submit_on_slot(st, sid, vm_id, CHECKPOINT_RESTORE, "vm.checkpoint.restore", err);
}

json_t *
checkpoint_delete(store_t *st, const char *sid, const char *vm_id, err_t *err)
{
    return submit_on_slot(st, sid, vm_id, CHECKPOINT_DELETE, "vm.checkpoint.delete", err);
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
    agent_call_t c = vm__step_call(ctx);
    agent_err_t aerr = {0};
    char cp_id[AGENT_ID_MAX], now[UTIL_TIME_LEN + 1];
    job_step_result_t r;
    agent_t *a;

    if ((r = vm__step_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    agent_checkpoint_create(a, &c, str(vm, "hypervisorId"), str(p, "name"), cp_id, &aerr);
    r = vm__agent_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        old = json_object_get(vm, "checkpoint");
        if (json_is_object(old) && str(old, "_hostId") && strcmp(str(old, "_hostId"), cp_id) != 0)
            json_object_set(data, "oldId", json_object_get(old, "_hostId"));
        util_time_format(util_now_ms(), now);
        if (job_ctx_begin(ctx, err) || vm__set_checkpoint_size(job_ctx_store(ctx), vm, 0, err)) {
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
        if (job_ctx_begin(ctx, err) || vm__save(job_ctx_store(ctx), vm, err) ||
            events_emit(job_ctx_store(ctx), "vm.checkpoint.created", str(vm, "subscriptionId"),
                        str(vm, "id"),
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

    if (agent_checkpoint_delete(a, &c, str(vm, "hypervisorId"), cp_id, &aerr) != 0 &&
        aerr.status == AGENT_ERR_NOT_FOUND)
        aerr.status = AGENT_OK;
    (void) ctx;
    return vm__agent_result(&aerr, err);
}

static job_step_result_t
step_delete_old(job_ctx_t *ctx, err_t *err)
{
    const char *old = str(job_ctx_data(ctx), "oldId");
    job_step_result_t r;
    json_t *vm;
    agent_t *a;

    if ((r = vm__step_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    if (old != NULL)
        r = host_delete(ctx, vm, a, old, job_ctx_op_id(ctx), err);
    if (r == JOB_STEP_DONE) {
        succeeded(vm);
        if (job_ctx_begin(ctx, err) || vm__save(job_ctx_store(ctx), vm, err))
            r = JOB_STEP_RETRY;
    }
    json_decref(vm);
    return r;
}

static job_step_result_t
step_restore(job_ctx_t *ctx, err_t *err)
{
    agent_call_t c = vm__step_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r;
    const json_t *cp;
    json_t *vm;
    agent_t *a;

    if ((r = vm__step_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    cp = json_object_get(vm, "checkpoint");
    if (!json_is_object(cp)) {
        json_decref(vm);
        err_set(err, ERR_NO_CHECKPOINT, NULL, "The VM has no checkpoint any more.");
        return JOB_STEP_FAILED;
    }
    agent_checkpoint_restore(a, &c, str(vm, "hypervisorId"), str(cp, "_hostId"), &aerr);
    r = vm__agent_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        /* The VM returns to the power state it had when the checkpoint was taken. */
        const char *ps = str(cp, "_powerState") ? str(cp, "_powerState") : "stopped";
        json_object_set_new(vm, "powerState", json_string(ps));
        succeeded(vm);
        /* Restoring discards the changes since the checkpoint: its disk is empty again. */
        if (job_ctx_begin(ctx, err) || vm__set_checkpoint_size(job_ctx_store(ctx), vm, 0, err) ||
            (strcmp(ps, "deallocated") == 0 &&
             vm__release_host(job_ctx_store(ctx), vm, true, false, err)) ||
            vm__save(job_ctx_store(ctx), vm, err) ||
            events_emit(job_ctx_store(ctx), "vm.checkpoint.restored", str(vm, "subscriptionId"),
                        str(vm, "id"),
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

    if ((r = vm__step_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    cp = json_object_get(vm, "checkpoint");
    if (json_is_object(cp) && str(cp, "_hostId"))
        r = host_delete(ctx, vm, a, str(cp, "_hostId"), job_ctx_op_id(ctx), err);
    if (r == JOB_STEP_DONE) {
        if (job_ctx_begin(ctx, err) || vm__set_checkpoint_size(job_ctx_store(ctx), vm, 0, err)) {
            json_decref(vm);
            return JOB_STEP_RETRY;
        }
        name = json_is_object(cp) ? json_incref(json_object_get(cp, "name")) : NULL;
        json_object_set_new(vm, "checkpoint", json_null());
        succeeded(vm);
        if (vm__save(job_ctx_store(ctx), vm, err) ||
            (name != NULL &&
             events_emit(job_ctx_store(ctx), "vm.checkpoint.deleted", str(vm, "subscriptionId"),
                         str(vm, "id"), json_pack("{s:O}", "name", name), err)))
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

    vm__cleanup_ask_host(ctx);
    hv = json_object_get(job_ctx_data(ctx), "hostVm");
    vm = vm__load(st, NULL, job_ctx_resource(ctx), NULL, NULL);
    if (vm == NULL || hv == NULL || str(vm, "hostId") == NULL) {
        json_decref(vm);
        return;
    }
    slot = json_object_get(vm, "checkpoint");
    if (json_is_object(slot))
        keep = str(slot, "_hostId");
    a = hostreg_agent(st, str(vm, "hostId"), &err);
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
    json_t *vm = vm__load(st, NULL, job_ctx_resource(ctx), NULL, err);
    int rc = 0;

    if (vm == NULL)
        return err->code == ERR_NOT_FOUND ? 0 : -1;
    slot = json_object_get(vm, "checkpoint");
    /* A slot naming a checkpoint the host says it no longer has (a delete whose answer was lost) is
     * emptied: the slot never shows what does not exist. */
    if (json_is_object(slot) && hv &&
        json_object_get(json_object_get(hv, "checkpoints"), str(slot, "_hostId")) == NULL) {
        rc = vm__set_checkpoint_size(st, vm, 0, err);
        json_object_set_new(vm, "checkpoint", json_null());
    }
    if (power_may_differ && strcmp(job_ctx_status(ctx), "canceled") != 0)
        rc = vm__apply_true_power(st, ctx, vm, err);
    succeeded(vm);
    if (rc == 0)
        rc = vm__save(st, vm, err);
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

/* ---- prune and retention ---- */

json_t *
checkpoint_prune(store_t *st, const json_t *body, err_t *err)
{
    json_t *job;

    if (json_is_string(json_object_get(body, "cloudId"))) {
        json_t *c = store_rec_get(st, &store_kind_cloud, str(body, "cloudId"), NULL, err);
        if (c == NULL) {
            if (err->code == ERR_NOT_FOUND) {
                err_clear(err);
                err_set(err, ERR_INVALID_REQUEST, "cloudId", "No cloud has this id.");
            }
            return NULL;
        }
        json_decref(c);
    }
    if (json_is_string(json_object_get(body, "planId"))) {
        json_t *p = store_rec_get(st, &store_kind_plan, str(body, "planId"), NULL, err);
        if (p == NULL) {
            if (err->code == ERR_NOT_FOUND) {
                err_clear(err);
                err_set(err, ERR_INVALID_REQUEST, "planId", "No plan has this id.");
            }
            return NULL;
        }
        json_decref(p);
    }
    job = job_submit(st, "checkpoint.prune", NULL, NULL, NULL, body, err);
    return job;
}

/* VMs whose checkpoint is older than cutoff_ms, of the plans that match (all when plan_id and cloud_id
 * are NULL); appends their ids to out. */
static int
find_old(store_t *st, const char *cloud_id, const char *plan_id, int64_t cutoff_ms, json_t *out,
         err_t *err)
{
    store_filter_t pf[1];
    size_t npf = 0, i, j, k;
    int64_t after = 0, next = 0, when;
    json_t *plans, *plan, *subs, *sub, *vms, *vm, *cp;

    if (cloud_id) {
        pf[0].field = "cloudId";
        pf[0].op = STORE_FILTER_EQ;
        pf[0].value = cloud_id;
        npf = 1;
    }
    plans = json_array();
    do {
        json_t *page = store_rec_list(st, &store_kind_plan, pf, npf, after, 500, &next, err);
        if (page == NULL) {
            json_decref(plans);
            return -1;
        }
        json_array_extend(plans, page);
        json_decref(page);
        after = next;
    } while (next);
    json_array_foreach(plans, i, plan) {
        store_filter_t sf = {.field = "planId", .op = STORE_FILTER_EQ, .value = str(plan, "id")};
        if (plan_id && strcmp(plan_id, str(plan, "id")) != 0)
            continue;
        subs = store_rec_list(st, &store_kind_subscription, &sf, 1, 0, 1000, &next, err);
        json_array_foreach(subs, j, sub) {
            store_filter_t vf = {.field = "subscriptionId", .op = STORE_FILTER_EQ,
                                 .value = str(sub, "id")};
            vms = store_rec_list(st, &store_kind_vm, &vf, 1, 0, 1000, &next, err);
            json_array_foreach(vms, k, vm) {
                cp = json_object_get(vm, "checkpoint");
                if (json_is_object(cp) && util_time_parse(str(cp, "createdAt"), &when) == 0 &&
                    when <= cutoff_ms)
                    json_array_append(out, json_object_get(vm, "id"));
            }
            json_decref(vms);
        }
        json_decref(subs);
    }
    json_decref(plans);
    return 0;
}

static job_step_result_t
step_find(job_ctx_t *ctx, err_t *err)
{
    const json_t *p = job_ctx_params(ctx);
    int64_t hours = json_integer_value(json_object_get(p, "olderThanHours"));
    json_t *targets = json_array();

    if (find_old(job_ctx_store(ctx), str(p, "cloudId"), str(p, "planId"),
                 util_now_ms() - hours * 3600 * 1000, targets, err)) {
        json_decref(targets);
        return JOB_STEP_RETRY;
    }
    json_object_set_new(job_ctx_data(ctx), "targets", targets);
    json_object_set_new(job_ctx_data(ctx), "jobs", json_object());
    return JOB_STEP_DONE;
}

/* Starts a delete job per target VM (a busy VM is tried again later) and waits for them, showing
 * progress: the share of targets whose delete has ended. */
static job_step_result_t
step_prune(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *data = job_ctx_data(ctx), *targets = json_object_get(data, "targets"), *jobs, *t, *j;
    size_t i, n = json_array_size(targets), ended = 0;
    err_t local;

    jobs = json_object_get(data, "jobs");
    json_array_foreach(targets, i, t) {
        const char *vm_id = json_string_value(t);
        const char *jid = str(jobs, vm_id);
        if (jid == NULL) {
            err_clear(&local);
            j = checkpoint_delete(st, NULL, vm_id, &local);
            if (j != NULL) {
                json_object_set(jobs, vm_id, json_object_get(j, "id"));
                json_decref(j);
            } else if (local.code == ERR_NOT_FOUND || local.code == ERR_NO_CHECKPOINT) {
                json_object_set_new(jobs, vm_id, json_string("")); /* nothing left to prune */
                ended++;
            }
            continue;
        }
        if (jid[0] == '\0') {
            ended++;
            continue;
        }
        err_clear(&local);
        j = job_get(st, jid, NULL, NULL, &local);
        if (j == NULL || (strcmp(str(j, "status"), "queued") && strcmp(str(j, "status"), "running")))
            ended++;
        json_decref(j);
    }
    json_object_set_new(data, "pruned", json_integer((json_int_t) ended));
    if (ended == n)
        return JOB_STEP_DONE;
    /* 50% for finding them, the rest as their deletes end. */
    job_ctx_progress(ctx, 50 + (int) (ended * 49 / (n ? n : 1)), err);
    err_clear(err);
    err_set(err, ERR_OPERATION_IN_PROGRESS, NULL, "%zu of %zu checkpoints merged away so far.",
            ended, n);
    return JOB_STEP_RETRY;
}

int
checkpoint_retention_sweep(store_t *st, int64_t now_ms, err_t *err)
{
    int64_t after = 0, next = 0, hours;
    json_t *page, *plan, *targets, *t, *j;
    size_t i, k;
    int started = 0;
    err_t local;

    do {
        page = store_rec_list(st, &store_kind_plan, NULL, 0, after, 500, &next, err);
        if (page == NULL)
            return -1;
        json_array_foreach(page, i, plan) {
            if (!json_is_integer(json_object_get(plan, "checkpointRetentionHours")))
                continue;
            hours = json_integer_value(json_object_get(plan, "checkpointRetentionHours"));
            targets = json_array();
            if (find_old(st, NULL, str(plan, "id"), now_ms - hours * 3600 * 1000, targets, err) ==
                0) {
                json_array_foreach(targets, k, t) {
                    err_clear(&local);
                    j = checkpoint_delete(st, NULL, json_string_value(t), &local);
                    if (j)
                        started++;
                    json_decref(j); /* busy VMs are found again by the next sweep */
                }
            }
            json_decref(targets);
        }
        json_decref(page);
        after = next;
    } while (next);
    return started;
}

/* ---- kinds ---- */

static const job_step_def_t create_steps[] = {
    {"createCheckpoint", step_create},
    {"deleteOldCheckpoint", step_delete_old},
    {NULL, NULL},
};
static const job_step_def_t restore_steps[] = {{"restoreCheckpoint", step_restore}, {NULL, NULL}};
static const job_step_def_t delete_steps[] = {{"deleteCheckpoint", step_delete}, {NULL, NULL}};
static const job_step_def_t prune_steps[] = {
    {"findCheckpoints", step_find},
    {"deleteCheckpoints", step_prune},
    {NULL, NULL},
};

static const job_kind_def_t kinds[] = {
    {"vm.checkpoint.create", create_steps, VM_JOB_DEADLINE_MS, failed_slot, cleanup_slot, NULL, NULL},
    {"vm.checkpoint.restore", restore_steps, VM_JOB_DEADLINE_MS, failed_restore, cleanup_slot, NULL, NULL},
    {"vm.checkpoint.delete", delete_steps, VM_JOB_DEADLINE_MS, failed_slot, cleanup_slot, NULL, NULL},
    {"checkpoint.prune", prune_steps, 60 * 60 * 1000, NULL, NULL, NULL, NULL},
};

int
checkpoint_jobs_register(void)
{
    size_t i;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (job_kind_register(&kinds[i]))
            return -1;
    return 0;
}
