/*
 * steps.c: the jobs of VM roles (vmrole.create, vmrole.scale, vmrole.delete): one step per instance,
 * named addInstance-<n>, removeInstance-<n> or deleteRole, run by one step function.
 *
 * An add step is idempotent: it finds its instance by name, reserves it only once (in a transaction of its
 * own, committed before the host is asked), and drives the host with operation ids that replay after a
 * crash. A failed instance is made again from scratch when the job is restarted (WAP's Repair). The role
 * ends succeeded, or failed with its failed instance failed and holding nothing; a canceled create leaves
 * nothing behind.
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

static job_step_result_t
step_add_instance(job_ctx_t *ctx, json_t *role, int64_t n, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
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
    if (found && vm.provisioning == VM_PROV_FAILED) {
        /* Repair: the instance failed before; it is made again from scratch. */
        if (vm.hypervisor_id[0] && (a = hostreg_agent(st, vm.host_id, err)) != NULL) {
            snprintf(op, sizeof(op), "%s:discard", job_ctx_op_id(ctx));
            c.op_id = op;
            c.timeout_ms = VM_AGENT_TIMEOUT_MS;
            if ((r = vmstep_delete_on_host(a, &c, vm.hypervisor_id, err)) != JOB_STEP_DONE)
                return r;
        }
        err_clear(err);
        if (vmrec_remove(st, &vm, err))
            return JOB_STEP_RETRY;
        found = 0;
    }
    if (!found && reserve_instance(st, role, n, &vm, err))
        return err->code == ERR_UNAVAILABLE ? JOB_STEP_RETRY : JOB_STEP_FAILED;
    a = hostreg_agent(st, vm.host_id, err);
    if (a == NULL)
        return err->code == ERR_UNAVAILABLE ? JOB_STEP_RETRY : JOB_STEP_FAILED;
    snprintf(op, sizeof(op), "%s:create", job_ctx_op_id(ctx));
    c.op_id = op;
    c.timeout_ms = VM_AGENT_TIMEOUT_MS;
    if (vm.hypervisor_id[0] == '\0') {
        vmstep_fill_spec(&vm, &spec);
        agent_vm_create(a, &c, &spec.spec, hyp, &aerr);
        if ((r = vmstep_result(&aerr, err)) != JOB_STEP_DONE)
            return r;
        snprintf(vm.hypervisor_id, sizeof(vm.hypervisor_id), "%s", hyp);
    }
    snprintf(op, sizeof(op), "%s:start", job_ctx_op_id(ctx));
    agent_vm_power(a, &c, vm.hypervisor_id, AGENT_POWER_START, &aerr);
    if ((r = vmstep_result(&aerr, err)) == JOB_STEP_DONE) {
        vm.power = VM_POWER_RUNNING;
        vm.provisioning = VM_PROV_SUCCEEDED;
        if (job_ctx_begin(ctx, err) || vmrec_save(st, &vm, err))
            r = JOB_STEP_RETRY;
    }
    return r;
}

static job_step_result_t
step_remove_instance(job_ctx_t *ctx, const char *vm_id, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    agent_call_t c = {job_ctx_op_id(ctx), VM_AGENT_TIMEOUT_MS, NULL};
    job_step_result_t r = JOB_STEP_DONE;
    vm_rec_t vm;
    agent_t *a;
    int rc = vmrec_load(st, NULL, vm_id, &vm, NULL, err);

    if (rc <= 0)
        return rc == 0 ? JOB_STEP_DONE : JOB_STEP_RETRY; /* already gone, or the store failed */
    if (vm.hypervisor_id[0] && vm.host_id[0]) {
        a = hostreg_agent(st, vm.host_id, err);
        if (a == NULL)
            return JOB_STEP_RETRY;
        r = vmstep_delete_on_host(a, &c, vm.hypervisor_id, err);
    }
    if (r == JOB_STEP_DONE && (job_ctx_begin(ctx, err) || vmrec_remove(st, &vm, err)))
        r = JOB_STEP_RETRY;
    return r;
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
    if (strncmp(name, "addInstance-", 12) == 0 && util_parse_int64(name + 12, false, &n) == 0) {
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

static int
role_failed(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const char *name = job_ctx_step_name(ctx);
    json_t *role = NULL;
    vm_rec_t vm;
    int64_t n;
    int rc = job_role(ctx, &role, err);

    if (rc <= 0)
        return rc; /* a role that is gone has nothing to put right */
    rc = 0;
    /* The instance whose step failed holds nothing and shows failed, as a VM whose creation failed. */
    if (name && strncmp(name, "addInstance-", 12) == 0 &&
        util_parse_int64(name + 12, false, &n) == 0 &&
        (rc = find_instance(st, role, n, &vm, err)) == 1)
        rc = vm.provisioning != VM_PROV_FAILED ? vmrec_fail_create(st, &vm, err) : 0;
    if (rc < 0) {
        json_decref(role);
        return -1;
    }
    /* Canceled while it ran, its instances may be on hosts: the role stays, failed, as a failed create. */
    if (rc == 0 && strcmp(job_ctx_status(ctx), "canceled") == 0 && !job_ctx_started(ctx) &&
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
    if (rc == 0)
        rc = vmrole__set_state(st, role, "failed", err);
    json_decref(role);
    return rc;
}

static const job_kind_def_t kinds[] = {
    {"vmrole.create", NULL, 10 * 60 * 1000, role_failed, NULL, step_each, role_created},
    {"vmrole.scale", NULL, 10 * 60 * 1000, role_failed, NULL, step_each, role_succeeded},
    {"vmrole.delete", NULL, 10 * 60 * 1000, role_failed, NULL, step_each, role_succeeded},
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
