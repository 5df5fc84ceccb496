/*
 * steps.c: the jobs of VM roles (vmrole.create, vmrole.scale, vmrole.delete): one step per instance,
 * named addInstance-<n>, removeInstance-<n> or deleteRole, run by one step function.
 *
 * An add step is idempotent: it finds its instance by name, reserves it only once (in a transaction of its
 * own, committed before the host is asked), and drives the host with operation ids that replay after a
 * crash. A failed instance is made again from scratch when the job is restarted (WAP's Repair). The role
 * ends succeeded, or failed with its failed instance failed and holding nothing (unless its host kept
 * its VM: then it holds what that VM uses); a canceled create leaves nothing behind.
 *
 * Ownership: no VM is left on a host without a record owning it, whatever step fails. The record names
 * the VM (hypervisorId) in a commit of its own as soon as the host has made it. An add step whose host
 * call fails for good first takes its instance's VM off the host (the undo: resumable, its state in the
 * job's data) and only then fails; an undo the host keeps failing leaves the record naming the VM. A job
 * that fails at its deadline tries once more in its cleanup. Scale-in, delete and repair remove the VM of
 * any instance, a failed one included, finding it by the wapd VM id the host keeps when the record names
 * none.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../events.h"
#include "../hostreg.h"
#include "../quota.h"
#include "../util.h"
#include "../vmrole.h"
#include "../vm/vmstep.h"
#include "role.h"

/* Missing as a value: 1 with the job's role (a new reference) in *role, 0 when it is gone, -1 with err. */
static int
job_role(job_ctx_t *ctx, json_t **role, err_t *err)
{
    return vmrec_lookup(job_ctx_store(ctx), &store_kind_vmrole, job_ctx_resource(ctx), NULL, NULL,
                        role, err);
}

/* Missing as a value: 1 with instance n of the role in *vm, 0 when it has none, -1 with err. */
static int
find_instance(store_t *st, const json_t *role, int64_t n, vm_rec_t *vm, err_t *err)
{
    vmrole_instance_t *list = NULL;
    size_t i, count = 0;
    int rc = 0;

    if (vmrole__instances(st, role, &list, &count, err))
        return -1;
    for (i = 0; i < count && rc == 0; i++)
        if (list[i].n == n) {
            *vm = list[i].vm;
            rc = 1;
        }
    free(list);
    return rc;
}

/* Instance n's record, made and reserved in its own transaction (committed before the host is asked),
 * into *vm: the role's subscription and plan are read here, as a job step has no request context. 0, or
 * -1 with err. */
static int
reserve_instance(store_t *st, const json_t *role, int64_t n, vm_rec_t *vm, err_t *err)
{
    const char *sid = jget_str(role, "subscriptionId");
    json_t *item, *sub = NULL, *plan = NULL;
    int rc = -1;
    vm_create_req_t req;
    vm_ctx_t vctx;
    char name[160];

    if (store_tx_begin(st, err))
        return -1;
    item = store_rec_get(st, &store_kind_gallery_item, jget_str(role, "galleryItemId"), NULL, err);
    sub = item ? store_rec_get_shared(st, &store_kind_subscription, sid, NULL, err) : NULL;
    plan = sub ? store_rec_get_shared(st, &store_kind_plan, jget_str(sub, "planId"), NULL, err) : NULL;
    if (plan != NULL) {
        snprintf(name, sizeof(name), "%s-%lld", jget_str(role, "name"), (long long) n);
        memset(&req, 0, sizeof(req));
        req.name = name;
        req.image_id = jget_str(item, "imageId");
        req.size = jget_str(role, "size");
        req.network_id = jget_str(role, "networkId");
        vctx.sid = sid;
        vctx.sub = sub;
        vctx.plan = plan;
        rc = vm__reserve_new(st, &vctx, &req, jget_str(role, "id"), vm, err);
    }
    if (rc != 0 || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        rc = -1;
    }
    json_decref(item);
    json_decref(sub);
    json_decref(plan);
    return rc;
}

/* Saves (or removes) vm in a transaction of its own, committed before the host is asked anything more. 0,
 * or -1 with err. */
static int
commit_vm(store_t *st, vm_rec_t *vm, bool remove, err_t *err)
{
    if (store_tx_begin(st, err))
        return -1;
    if ((remove ? vmrec_remove(st, vm, err) : vmrec_save(st, vm, err)) || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        return -1;
    }
    return 0;
}

/* Takes instance vm off its host, by its hypervisor id or, when the record has none (a create whose answer
 * was lost), by the wapd VM id the host keeps with it; such a VM's hypervisor id is then written into
 * vm->hypervisor_id (the record is not saved). Done when the host has no such VM any more (one already
 * gone included); else retry or failed with err. The delete's operation id is the step's, with ":suffix"
 * when suffix is not NULL, so that a step run again replays it. */
static job_step_result_t
off_host(job_ctx_t *ctx, vm_rec_t *vm, const char *suffix, err_t *err)
{
    char op[200];
    agent_call_t c = {op, VM_AGENT_TIMEOUT_MS, NULL};
    agent_vm_info_t hv;
    agent_t *a;
    int rc;

    if (vm->host_id[0] == '\0')
        return JOB_STEP_DONE; /* never placed */
    if (vm->hypervisor_id[0] == '\0') {
        if ((rc = vmstep_host_view(ctx, vm, &hv)) < 0) {
            err_set(err, ERR_UNAVAILABLE, NULL, "The host of VM %s could not say whether it has it.",
                    vm->id);
            return JOB_STEP_RETRY;
        }
        if (rc == 0)
            return JOB_STEP_DONE;
        snprintf(vm->hypervisor_id, sizeof(vm->hypervisor_id), "%s", hv.hypervisor_id);
    }
    if ((a = hostreg_agent(job_ctx_store(ctx), vm->host_id, err)) == NULL)
        return err->code == ERR_NOT_FOUND ? JOB_STEP_DONE : JOB_STEP_RETRY; /* a host gone has no VM */
    if (suffix != NULL)
        snprintf(op, sizeof(op), "%s:%s", job_ctx_op_id(ctx), suffix);
    else
        snprintf(op, sizeof(op), "%s", job_ctx_op_id(ctx));
    return vmstep_delete_on_host(a, &c, vm->hypervisor_id, err);
}

/* How many times an undo asks the host before it gives up: the record then keeps naming the VM, by its
 * hypervisor id or, when the host could not even be read, by the wapd VM id the host keeps with it. */
#define UNDO_TRIES 4

/* The undo of an add step that failed: its instance (vm; NULL when it has no record) is taken off its host
 * before the step fails, so that no VM is left on a host without a record owning it. The failure (code and
 * message) is kept in the job's data ("undo"), with the step's operation id, so that the undo is resumed by
 * a retry or after a crash, and the step then fails with the host's first answer. Once the host no longer
 * has the VM the record says so (no hypervisor id) in a commit of its own; an undo the host keeps failing
 * gives up and the record keeps naming the VM, so that a scale-in, a delete or a repair removes it later. */
static job_step_result_t
undo_instance(job_ctx_t *ctx, vm_rec_t *vm, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *undo = json_object_get(job_ctx_data(ctx), "undo");
    int64_t tries = jget_int(undo, "tries") + 1;
    job_step_result_t r = JOB_STEP_DONE;

    if (vm != NULL && vm->provisioning != VM_PROV_SUCCEEDED) {
        r = off_host(ctx, vm, "undo", err);
        if (r == JOB_STEP_POLL)
            return r;
        if (r != JOB_STEP_DONE && tries < UNDO_TRIES) {
            json_object_set_new(undo, "tries", json_integer(tries));
            return JOB_STEP_RETRY;
        }
        if (r == JOB_STEP_DONE)
            vm->hypervisor_id[0] = '\0';
        /* Done: the record names no VM; given up: it names the one the host may still have. */
        if (commit_vm(st, vm, false, err))
            return JOB_STEP_RETRY;
    }
    err_clear(err);
    err_set(err, (err_code_t) jget_int(undo, "code"), NULL, "%s", jget_str(undo, "message"));
    return JOB_STEP_FAILED;
}

/* The step failed (err says why) once its instance had a record: remembers the failure, then undoes. */
static job_step_result_t
fail_instance(job_ctx_t *ctx, vm_rec_t *vm, err_t *err)
{
    json_object_set_new(job_ctx_data(ctx), "undo",
                        json_pack("{s:s, s:I, s:s, s:I}", "op", job_ctx_op_id(ctx), "code",
                                  (json_int_t) err->code, "message", err->message, "tries",
                                  (json_int_t) 0));
    return undo_instance(ctx, vm, err);
}

static job_step_result_t
step_add_instance(job_ctx_t *ctx, json_t *role, int64_t n, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *undo = json_object_get(job_ctx_data(ctx), "undo");
    char op[200], hyp[AGENT_ID_MAX];
    vmstep_spec_t spec;
    agent_call_t c = {NULL, 0, NULL};
    agent_err_t aerr = {0};
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;
    int found = find_instance(st, role, n, &vm, err);

    if (found < 0)
        return JOB_STEP_RETRY;
    /* An undo under way is this run's own; one left by a run before (a restart, a skip) is over. */
    if (undo != NULL && strcmp(jget_str(undo, "op"), job_ctx_op_id(ctx)) == 0)
        return undo_instance(ctx, found ? &vm : NULL, err);
    json_object_del(job_ctx_data(ctx), "undo");
    if (found && vm.provisioning == VM_PROV_FAILED) {
        /* Repair: the instance failed before; it is made again from scratch, once what it left on its
         * host (a VM its record names, or one the host keeps under its id) is gone. */
        if ((r = off_host(ctx, &vm, "discard", err)) != JOB_STEP_DONE)
            return r;
        err_clear(err);
        vm.hypervisor_id[0] = '\0';
        if (commit_vm(st, &vm, true, err))
            return JOB_STEP_RETRY;
        found = 0;
    }
    if (!found && reserve_instance(st, role, n, &vm, err))
        return err->code == ERR_UNAVAILABLE ? JOB_STEP_RETRY : JOB_STEP_FAILED;
    a = hostreg_agent(st, vm.host_id, err);
    if (a == NULL)
        return err->code == ERR_UNAVAILABLE ? JOB_STEP_RETRY : fail_instance(ctx, &vm, err);
    snprintf(op, sizeof(op), "%s:create", job_ctx_op_id(ctx));
    c.op_id = op;
    c.timeout_ms = VM_AGENT_TIMEOUT_MS;
    if (vm.hypervisor_id[0] == '\0') {
        vmstep_fill_spec(&vm, &spec);
        agent_vm_create(a, &c, &spec.spec, hyp, &aerr);
        if ((r = vmstep_result(&aerr, err)) != JOB_STEP_DONE)
            return r == JOB_STEP_FAILED ? fail_instance(ctx, &vm, err) : r;
        /* The record names the new VM before anything else can fail. */
        snprintf(vm.hypervisor_id, sizeof(vm.hypervisor_id), "%s", hyp);
        if (commit_vm(st, &vm, false, err))
            return JOB_STEP_RETRY; /* the create replays its answer */
    }
    snprintf(op, sizeof(op), "%s:start", job_ctx_op_id(ctx));
    agent_vm_power(a, &c, vm.hypervisor_id, AGENT_POWER_START, &aerr);
    if ((r = vmstep_result(&aerr, err)) == JOB_STEP_DONE) {
        vm.power = VM_POWER_RUNNING;
        vm.provisioning = VM_PROV_SUCCEEDED;
        if (job_ctx_begin(ctx, err) || vmrec_save(st, &vm, err))
            r = JOB_STEP_RETRY;
    }
    return r == JOB_STEP_FAILED ? fail_instance(ctx, &vm, err) : r;
}

/* Removes an instance: its VM from its host (found by the wapd VM id when the record names none, as a
 * failed instance's may not), then its record. A VM the host refuses to delete keeps its record, which
 * then names it. */
static job_step_result_t
step_remove_instance(job_ctx_t *ctx, const char *vm_id, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    job_step_result_t r;
    vm_rec_t vm;
    bool named;
    int rc = vmrec_load(st, NULL, vm_id, &vm, NULL, err);

    if (rc <= 0)
        return rc == 0 ? JOB_STEP_DONE : JOB_STEP_RETRY; /* already gone, or the store failed */
    named = vm.hypervisor_id[0] != '\0';
    r = off_host(ctx, &vm, NULL, err);
    if (r == JOB_STEP_FAILED && !named && vm.hypervisor_id[0] != '\0' && commit_vm(st, &vm, false, err))
        return JOB_STEP_RETRY; /* the record is to name what the host still has */
    if (r != JOB_STEP_DONE)
        return r;
    /* A failed instance was never billed: it leaves no final row. */
    if (vm.provisioning == VM_PROV_FAILED)
        vm.hypervisor_id[0] = '\0';
    if (job_ctx_begin(ctx, err) || vmrec_remove(st, &vm, err))
        return JOB_STEP_RETRY;
    return JOB_STEP_DONE;
}

/* The number n of an addInstance-<n> step, or 0. */
static int64_t
add_step_number(const char *name)
{
    int64_t n;

    if (name == NULL || strncmp(name, "addInstance-", 12) != 0 || util_parse_int64(name + 12, false, &n))
        return 0;
    return n;
}

/* The one step function of role jobs: the step's name says what it does. */
static job_step_result_t
step_each(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const char *name = job_ctx_step_name(ctx);
    json_t *role = NULL, *rm;
    job_step_result_t r = JOB_STEP_DONE;
    int64_t n;
    int rc = job_role(ctx, &role, err);

    if (rc < 0)
        return JOB_STEP_RETRY;
    if (rc == 0) {
        err_set(err, ERR_NOT_FOUND, NULL, "The VM role was not found.");
        return JOB_STEP_FAILED;
    }
    if ((n = add_step_number(name)) > 0) {
        r = step_add_instance(ctx, role, n, err);
    } else if (strncmp(name, "removeInstance-", 15) == 0) {
        /* The instances to remove were fixed at the request, one per step, in step order (the
         * removeInstance steps come first). */
        rm = json_object_get(job_ctx_params(ctx), "remove");
        r = step_remove_instance(ctx, json_string_value(json_array_get(rm, (size_t) job_ctx_step(ctx))),
                                 err);
    } else if (strcmp(name, "deleteRole") == 0) {
        int64_t d[STORE_QUOTAS] = {0};
        d[QUOTA_VMROLES] = -1;
        if (job_ctx_begin(ctx, err) ||
            store_rec_delete(st, &store_kind_vmrole, jget_str(role, "id"), 0, err) ||
            quota_apply(st, jget_str(role, "subscriptionId"), d, err) ||
            events_emit(st, "vmrole.deleted", jget_str(role, "subscriptionId"), jget_str(role, "id"),
                        json_pack("{s:s}", "name", jget_str(role, "name")), err))
            r = JOB_STEP_RETRY;
    } else {
        err_set(err, ERR_INTERNAL, NULL, "Unknown step %s.", name);
        r = JOB_STEP_FAILED;
    }
    json_decref(role);
    return r;
}

/* The job's last commit: the role is provisioned (a delete has removed it already); a create says so in
 * the feed (vmrole.created), a scale too (vmrole.scaled). */
static int
role_done(job_ctx_t *ctx, bool created, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *p;
    json_t *role = NULL;
    int rc = job_role(ctx, &role, err);

    if (rc <= 0)
        return rc; /* gone with the delete that succeeded, or the store failed */
    rc = vmrole__set_state(st, role, "succeeded", err);
    p = job_ctx_params(ctx);
    if (rc == 0 && json_is_integer(json_object_get(p, "scaledTo")))
        rc = events_emit(st, "vmrole.scaled", jget_str(role, "subscriptionId"), jget_str(role, "id"),
                         json_pack("{s:O, s:O, s:s}", "from", json_object_get(p, "scaledFrom"), "to",
                                   json_object_get(p, "scaledTo"), "name", jget_str(role, "name")),
                         err);
    if (rc == 0 && created)
        rc = events_emit(st, "vmrole.created", jget_str(role, "subscriptionId"), jget_str(role, "id"),
                         json_pack("{s:s, s:s, s:s, s:I}", "name", jget_str(role, "name"), "size",
                                   jget_str(role, "size"), "galleryItemId",
                                   jget_str(role, "galleryItemId"), "instanceCount",
                                   (json_int_t) jget_int(role, "instanceCount")),
                         err);
    json_decref(role);
    return rc;
}

static int
role_succeeded(job_ctx_t *ctx, err_t *err)
{
    return role_done(ctx, false, err);
}

static int
role_created(job_ctx_t *ctx, err_t *err)
{
    return role_done(ctx, true, err);
}

/* cleanup of a role job that failed or was canceled while it ran: the instance of the add step it ended
 * at, when it is not provisioned, is taken off its host (a job past its deadline may end in the middle
 * of a create or of an undo). What came of it is kept in the job's data for on_failed: removedFromHost
 * (the instance's id) or, when the host still has it, hostVm ({vmId, hypervisorId}). */
static void
role_cleanup(job_ctx_t *ctx)
{
    int64_t n = add_step_number(job_ctx_step_name(ctx));
    json_t *role = NULL, *data = job_ctx_data(ctx);
    err_t err = {0};
    vm_rec_t vm;

    if (n == 0 || job_role(ctx, &role, &err) != 1)
        return;
    if (find_instance(job_ctx_store(ctx), role, n, &vm, &err) == 1 &&
        vm.provisioning != VM_PROV_SUCCEEDED) {
        if (off_host(ctx, &vm, "cleanup", &err) == JOB_STEP_DONE)
            json_object_set_new(data, "removedFromHost", json_string(vm.id));
        else if (vm.hypervisor_id[0])
            json_object_set_new(data, "hostVm", json_pack("{s:s, s:s}", "vmId", vm.id, "hypervisorId",
                                                          vm.hypervisor_id));
    }
    json_decref(role);
}

/* on_failed: the instance of the add step the job ended at shows failed and is not billed; it holds
 * nothing when its host has no VM of it, else its record names that VM and keeps holding what it uses. */
static int
fail_step_instance(job_ctx_t *ctx, const json_t *role, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *data = job_ctx_data(ctx), *seen = json_object_get(data, "hostVm");
    int64_t n = add_step_number(job_ctx_step_name(ctx));
    const char *removed = jget_str(data, "removedFromHost");
    bool changed = false;
    vm_rec_t vm;
    int rc;

    if (n == 0 || (rc = find_instance(st, role, n, &vm, err)) == 0)
        return 0;
    if (rc < 0 || vm.provisioning == VM_PROV_SUCCEEDED)
        return rc < 0 ? -1 : 0;
    if (removed != NULL && strcmp(removed, vm.id) == 0 && vm.hypervisor_id[0]) {
        vm.hypervisor_id[0] = '\0';
        changed = true;
    } else if (removed == NULL && vm.hypervisor_id[0] == '\0' && seen != NULL &&
               strcmp(jget_str(seen, "vmId"), vm.id) == 0) {
        snprintf(vm.hypervisor_id, sizeof(vm.hypervisor_id), "%s", jget_str(seen, "hypervisorId"));
        changed = true;
    }
    if (vm.provisioning != VM_PROV_FAILED && vm.hypervisor_id[0] == '\0')
        return vmrec_fail_create(st, &vm, err);
    if (vm.provisioning != VM_PROV_FAILED) {
        /* Its host still has the VM (the undo gave up): the instance shows failed, in an unknown power
         * state, and keeps holding what that VM uses until a scale-in, a delete or a repair removes it. */
        vm.provisioning = VM_PROV_FAILED;
        vm.power = VM_POWER_UNKNOWN;
        return vmrec_save(st, &vm, err) || store_timeline_forget(st, vm.id, err) ? -1 : 0;
    }
    return changed ? vmrec_save(st, &vm, err) : 0;
}

static int
role_failed(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *role = NULL;
    int rc = job_role(ctx, &role, err);

    if (rc <= 0)
        return rc; /* a role that is gone has nothing to put right */
    /* The instance whose step failed holds nothing and shows failed, as a VM whose creation failed. */
    if (fail_step_instance(ctx, role, err)) {
        json_decref(role);
        return -1;
    }
    rc = 0;
    /* Canceled while it ran, its instances may be on hosts: the role stays, failed, as a failed create. */
    if (strcmp(job_ctx_status(ctx), "canceled") == 0 && !job_ctx_started(ctx) &&
        strcmp(job_ctx_resource(ctx), jget_str(role, "id")) == 0 &&
        strcmp(jget_str(role, "provisioningState"), "creating") == 0) {
        int64_t d[STORE_QUOTAS] = {0};
        d[QUOTA_VMROLES] = -1;
        /* A canceled create leaves nothing behind. */
        rc = store_rec_delete(st, &store_kind_vmrole, jget_str(role, "id"), 0, err) ||
             quota_apply(st, jget_str(role, "subscriptionId"), d, err);
        json_decref(role);
        return rc;
    }
    rc = vmrole__set_state(st, role, "failed", err);
    json_decref(role);
    return rc;
}

static const job_kind_def_t kinds[] = {
    {"vmrole.create", NULL, 10 * 60 * 1000, role_failed, role_cleanup, step_each, role_created},
    {"vmrole.scale", NULL, 10 * 60 * 1000, role_failed, role_cleanup, step_each, role_succeeded},
    {"vmrole.delete", NULL, 10 * 60 * 1000, role_failed, role_cleanup, step_each, role_succeeded},
};

int
vmrole_jobs_register(void)
{
    size_t i;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (job_kind_register(&kinds[i]))
            return -1;
    return 0;
}
