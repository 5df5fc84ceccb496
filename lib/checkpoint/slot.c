/*
 * slot.c: the single checkpoint slot of a VM, plan checkpoint modes, and the slot's jobs.
 *
 * The slot is the VM record's checkpoint (vm_checkpoint_t, with the host's checkpoint id and the VM's
 * power state at the time, which no view shows: vm_render_checkpoint makes the slot's view). It holds one checkpoint or none, and it is the only thing tenants see, so they can
 * never see two. Replacement is a job of two steps:
 *   1. createCheckpoint: the host makes the new checkpoint; in the same transaction that records the step,
 *      the slot switches to it and the old one's host id is kept in the job's data;
 *   2. deleteOldCheckpoint: the host merges the old one away.
 * A crash before step 1 committed resumes step 1 with the same operation id (the host answers the
 * checkpoint it already made, if it made it), so the old one stays until the new one exists; a crash
 * after resumes at step 2 and finishes deleting the old one. A failed job deletes from the host every
 * checkpoint of the VM that the slot does not name, so nothing leaks, and the slot keeps what it had.
 *
 * The slot's ETag is its own, not the VM's (whose revision moves with every power change): a positive
 * 63-bit FNV-1a hash of the checkpoint's host id and createdAt, which are both set when the slot takes a
 * checkpoint and never change until it takes another or is emptied; an empty slot has none (0), so any
 * If-Match against it is stale. Writes with an expected ETag compare it in their own transaction.
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
#include "restore.h"

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

/* The sid of ctx, NULL for the admin. */
static const char *
sid_of(const vm_ctx_t *ctx)
{
    return ctx ? ctx->sid : NULL;
}

/* FNV-1a of s and its NUL, continuing from h. */
static uint64_t
fnv1a(uint64_t h, const char *s)
{
    do {
        h ^= (unsigned char) *s;
        h *= 1099511628211ULL;
    } while (*s++ != '\0');
    return h;
}

/* The slot's ETag (see the top of the file): 0 for an empty slot, else positive. */
static int64_t
checkpoint_etag(const vm_checkpoint_t *cp)
{
    uint64_t h;

    assert(cp != NULL);
    if (!cp->present)
        return 0;
    h = fnv1a(fnv1a(14695981039346656037ULL, cp->host_id), cp->created_at);
    h &= 0x7fffffffffffffffULL;
    return h == 0 ? 1 : (int64_t) h;
}

json_t *
checkpoint_get(store_t *st, const vm_ctx_t *ctx, const char *vm_id, err_t *err)
{
    return checkpoint_get_tagged(st, ctx, vm_id, NULL, err);
}

json_t *
checkpoint_get_tagged(store_t *st, const vm_ctx_t *ctx, const char *vm_id, int64_t *etag,
                      err_t *err)
{
    json_t *view;
    vm_rec_t vm;

    assert(st != NULL && vm_id != NULL && (ctx == NULL || ctx->sub != NULL));
    if (vmrec__load_or_404(st, sid_of(ctx), vm_id, &vm, NULL, err))
        return NULL;
    if (ctx != NULL && mode_allows(ctx->sub, CHECKPOINT_VIEW, err))
        return NULL;
    if (!vm.checkpoint.present) {
        err_set(err, ERR_NO_CHECKPOINT, NULL, "The VM has no checkpoint.");
        return NULL;
    }
    view = vmrec__or_oom(vm_render_checkpoint(&vm.checkpoint), err);
    if (view != NULL && etag != NULL)
        *etag = checkpoint_etag(&vm.checkpoint);
    return view;
}

int
checkpoint_check(store_t *st, const vm_ctx_t *ctx, const char *vm_id, checkpoint_op_t op,
                 err_t *err)
{
    vm_rec_t vm;

    assert(st != NULL && vm_id != NULL && (ctx == NULL || ctx->sub != NULL));
    if (vmrec__load_or_404(st, sid_of(ctx), vm_id, &vm, NULL, err))
        return -1;
    return ctx == NULL ? 0 : mode_allows(ctx->sub, op, err);
}

/* The request side of every slot operation: the VM (of ctx's subscription; any for the admin) into *vm,
 * the slot at ETag expect_etag (any when 0; 412 otherwise), the mode, the subscription writable. 0, or -1
 * with err. Runs in the caller's transaction. */
static int
prepare(store_t *st, const vm_ctx_t *ctx, const char *vm_id, checkpoint_op_t op, int64_t expect_etag,
        vm_rec_t *vm, err_t *err)
{
    assert(expect_etag >= 0);
    if (vmrec__load_or_404(st, sid_of(ctx), vm_id, vm, NULL, err))
        return -1;
    if (expect_etag > 0 && checkpoint_etag(&vm->checkpoint) != expect_etag)
        return err_set(err, ERR_PRECONDITION_FAILED, NULL,
                       "The checkpoint slot has changed since its ETag was read.");
    if (ctx != NULL &&
        (mode_allows(ctx->sub, op, err) || vm_subscription_writable(ctx->sub, err)))
        return -1;
    return 0;
}

json_t *
checkpoint_put(store_t *st, const vm_ctx_t *ctx, const char *vm_id,
               const checkpoint_put_req_t *req, err_t *err)
{
    return checkpoint_put_if(st, ctx, vm_id, req, 0, err);
}

json_t *
checkpoint_put_if(store_t *st, const vm_ctx_t *ctx, const char *vm_id,
                  const checkpoint_put_req_t *req, int64_t expect_etag, err_t *err)
{
    json_t *job = NULL, *params, *replaces;
    vm_rec_t vm;

    assert(st != NULL && vm_id != NULL && req != NULL && req->name != NULL);
    assert(ctx == NULL || ctx->sub != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    if (prepare(st, ctx, vm_id, CHECKPOINT_CREATE, expect_etag, &vm, err) ||
        vmrec_ready(&vm, err))
        goto fail;
    params = json_pack("{s:s, s:s?}", "name", req->name, "description", req->description);
    vm.provisioning = VM_PROV_UPDATING;
    job = vmrec_submit(st, &vm, "vm.checkpoint.create", params, err);
    json_decref(params);
    if (job == NULL || store_tx_commit(st, err))
        goto fail;
    replaces = vm.checkpoint.present ? vm_render_checkpoint(&vm.checkpoint) : json_null();
    json_object_set_new(job, "replaces", replaces);
    return job;
fail:
    store_tx_rollback(st);
    json_decref(job);
    return NULL;
}

/* Restore and delete: the slot must hold a checkpoint. */
static json_t *
submit_on_slot(store_t *st, const vm_ctx_t *ctx, const char *vm_id, checkpoint_op_t op,
               const char *kind, int64_t expect_etag, err_t *err)
{
    json_t *job = NULL, *params = NULL;
    vm_rec_t vm;

    if (store_tx_begin(st, err))
        return NULL;
    if (prepare(st, ctx, vm_id, op, expect_etag, &vm, err))
        goto fail;
    if (!vm.checkpoint.present) {
        err_set(err, ERR_NO_CHECKPOINT, NULL, "The VM has no checkpoint.");
        goto fail;
    }
    if (vmrec_ready(&vm, err))
        goto fail;
    /* A restore reserves what the checkpoint's size and power state take (409 now when they do not
     * fit). */
    if (op == CHECKPOINT_RESTORE && checkpoint__restore_reserve(st, ctx, &vm, &params, err))
        goto fail;
    vm.provisioning = VM_PROV_UPDATING;
    job = vmrec_submit(st, &vm, kind, params, err);
    if (job == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(params);
    return job;
fail:
    store_tx_rollback(st);
    json_decref(params);
    json_decref(job);
    return NULL;
}

json_t *
checkpoint_restore(store_t *st, const vm_ctx_t *ctx, const char *vm_id, err_t *err)
{
    return submit_on_slot(st, ctx, vm_id, CHECKPOINT_RESTORE, "vm.checkpoint.restore", 0, err);
}

json_t *
checkpoint_delete(store_t *st, const vm_ctx_t *ctx, const char *vm_id, err_t *err)
{
    return checkpoint_delete_if(st, ctx, vm_id, 0, err);
}

json_t *
checkpoint_delete_if(store_t *st, const vm_ctx_t *ctx, const char *vm_id, int64_t expect_etag,
                     err_t *err)
{
    return submit_on_slot(st, ctx, vm_id, CHECKPOINT_DELETE, "vm.checkpoint.delete", expect_etag,
                          err);
}

/* ---- job steps ---- */

/* The slot now holds checkpoint cp_id of the host, named as the job's params say, taken in the VM's
 * current power state, size and disks. */
static void
fill_slot(vm_rec_t *vm, const json_t *p, const char *cp_id, const char *now)
{
    vm_checkpoint_t *cp = &vm->checkpoint;
    const char *desc = jget_str(p, "description");

    cp->present = true;
    snprintf(cp->name, sizeof(cp->name), "%s", jget_str(p, "name"));
    cp->has_description = desc != NULL;
    snprintf(cp->description, sizeof(cp->description), "%s", desc ? desc : "");
    snprintf(cp->created_at, sizeof(cp->created_at), "%s", now);
    cp->size_gb = 0;
    snprintf(cp->host_id, sizeof(cp->host_id), "%s", cp_id);
    cp->has_power = true;
    cp->power = vm->power;
    checkpoint__capture(vm);
}

static job_step_result_t
step_create(job_ctx_t *ctx, err_t *err)
{
    const json_t *p = job_ctx_params(ctx);
    json_t *data = job_ctx_data(ctx);
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    char cp_id[AGENT_ID_MAX], now[UTIL_TIME_LEN + 1], host_name[AGENT_NAME_MAX];
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;

    if ((r = vmstep_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    /* The host keys a checkpoint by its name: "<name> [<job id>]" makes each one its own, so that a new
     * checkpoint of the same name is made beside the old one before the old one goes. */
    snprintf(host_name, sizeof(host_name), "%.*s [%s]",
             (int) (sizeof(host_name) - strlen(job_ctx_id(ctx)) - 4), jget_str(p, "name"),
             job_ctx_id(ctx));
    agent_checkpoint_create(a, &c, vm.hypervisor_id, host_name, cp_id, &aerr);
    r = vmstep_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        if (vm.checkpoint.present && vm.checkpoint.host_id[0] &&
            strcmp(vm.checkpoint.host_id, cp_id) != 0)
            json_object_set_new(data, "oldId", json_string(vm.checkpoint.host_id));
        util_time_format(util_now_ms(), now);
        if (job_ctx_begin(ctx, err) || vmrec_set_checkpoint_size(job_ctx_store(ctx), &vm, 0, err))
            return JOB_STEP_RETRY;
        fill_slot(&vm, p, cp_id, now);
        if (job_ctx_begin(ctx, err) || vmrec_save(job_ctx_store(ctx), &vm, err) ||
            events_emit(job_ctx_store(ctx), "vm.checkpoint.created", vm.subscription_id, vm.id,
                        json_pack("{s:O, s:s, s:b}", "name", json_object_get(p, "name"),
                                  "createdAt", now, "replacesOld",
                                  json_object_get(data, "oldId") != NULL),
                        err))
            r = JOB_STEP_RETRY;
    }
    return r;
}

/* Merges checkpoint cp_id away on the VM's host (already gone counts as done). */
static job_step_result_t
host_delete(const vm_rec_t *vm, agent_t *a, const char *cp_id, const char *op, err_t *err)
{
    agent_call_t c = {op, VM_AGENT_TIMEOUT_MS, NULL};
    agent_err_t aerr = {0};

    if (agent_checkpoint_delete(a, &c, vm->hypervisor_id, cp_id, &aerr) != 0 &&
        aerr.status == AGENT_ERR_NOT_FOUND)
        aerr.status = AGENT_OK;
    return vmstep_result(&aerr, err);
}

static job_step_result_t
step_delete_old(job_ctx_t *ctx, err_t *err)
{
    const char *old = jget_str(job_ctx_data(ctx), "oldId");
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;

    if ((r = vmstep_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    if (old != NULL)
        r = host_delete(&vm, a, old, job_ctx_op_id(ctx), err);
    if (r == JOB_STEP_DONE)
        vm.provisioning = VM_PROV_SUCCEEDED;
    return vmstep_finish(ctx, &vm, r, err);
}

static job_step_result_t
step_delete(job_ctx_t *ctx, err_t *err)
{
    char name[VM_REC_NAME_MAX];
    job_step_result_t r;
    bool had;
    vm_rec_t vm;
    agent_t *a;

    if ((r = vmstep_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    if (vm.checkpoint.present && vm.checkpoint.host_id[0])
        r = host_delete(&vm, a, vm.checkpoint.host_id, job_ctx_op_id(ctx), err);
    if (r == JOB_STEP_DONE) {
        if (job_ctx_begin(ctx, err) || vmrec_set_checkpoint_size(job_ctx_store(ctx), &vm, 0, err))
            return JOB_STEP_RETRY;
        had = vm.checkpoint.present;
        memcpy(name, vm.checkpoint.name, sizeof(name));
        memset(&vm.checkpoint, 0, sizeof(vm.checkpoint));
        vm.provisioning = VM_PROV_SUCCEEDED;
        if (vmrec_save(job_ctx_store(ctx), &vm, err) ||
            (had && events_emit(job_ctx_store(ctx), "vm.checkpoint.deleted", vm.subscription_id,
                                vm.id, json_pack("{s:s}", "name", name), err)))
            r = JOB_STEP_RETRY;
    }
    return r;
}

/* cleanup of the slot's jobs: ask the host, then merge away every checkpoint of the VM that the slot does
 * not name (a new one made by a create that then failed, an old one a replacement did not get to). */
static void
cleanup_slot(job_ctx_t *ctx)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *hv, *cps;
    const char *key, *keep = NULL;
    json_t *cp;
    char op[160];
    err_t err = {0};
    vm_rec_t vm;
    agent_t *a;

    vmstep_ask_host(ctx);
    hv = json_object_get(job_ctx_data(ctx), "hostVm");
    if (vmstep_job_vm(ctx, &vm, NULL) != 1 || hv == NULL || vm.host_id[0] == '\0')
        return;
    if (vm.checkpoint.present && vm.checkpoint.host_id[0])
        keep = vm.checkpoint.host_id;
    a = hostreg_agent(st, vm.host_id, &err);
    cps = json_object_get(hv, "checkpoints");
    json_object_foreach((json_t *) cps, key, cp) {
        if (keep && strcmp(key, keep) == 0)
            continue;
        snprintf(op, sizeof(op), "%s:cleanup:%s", job_ctx_op_id(ctx), key);
        if (a)
            host_delete(&vm, a, key, op, &err);
    }
}

/* Create and delete leave the VM's power state alone; restore may have changed it. */
static int
failed_slot_common(job_ctx_t *ctx, bool power_may_differ, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *data = job_ctx_data(ctx), *hv = json_object_get(data, "hostVm");
    vm_rec_t vm;
    int rc = 0;

    if ((rc = vmstep_job_vm(ctx, &vm, err)) <= 0)
        return rc; /* a VM that is gone has nothing to put right */
    /* A restore gives back the size difference its request reserved, unless the host took it. */
    rc = power_may_differ ? checkpoint__restore_failed(st, ctx, &vm, err) : 0;
    /* A slot naming a checkpoint the host says it no longer has (a delete whose answer was lost) is
     * emptied: the slot never shows what does not exist. */
    if (rc == 0 && vm.checkpoint.present && hv &&
        json_object_get(json_object_get(hv, "checkpoints"), vm.checkpoint.host_id) == NULL) {
        rc = vmrec_set_checkpoint_size(st, &vm, 0, err);
        memset(&vm.checkpoint, 0, sizeof(vm.checkpoint));
    }
    if (rc == 0 && power_may_differ &&
        (strcmp(job_ctx_status(ctx), "canceled") != 0 || job_ctx_started(ctx)))
        rc = vmstep_apply_true_power(st, ctx, &vm, err);
    vm.provisioning = VM_PROV_SUCCEEDED;
    return rc == 0 ? vmrec_save(st, &vm, err) : rc;
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
static const job_step_def_t restore_steps[] = {
    {"revertCheckpoint", checkpoint__step_revert},
    {"dropDisks", checkpoint__step_drop_disks},
    {"recordRestore", checkpoint__step_record},
    {NULL, NULL},
};
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
