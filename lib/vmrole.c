/*
 * vmrole.c: VM roles, WAP's scale-out groups of identical VMs made from a gallery item.
 *
 * A role's instances are VMs (vmRoleId set, named <role>-1, <role>-2, …) and live under /vms like any other.
 * Create, scale and delete are jobs with one step per instance, so progress shows instance by instance
 * and a failed instance fails its own step: restarting the job retries that instance, restarting it with
 * skipLastFailedStep skips it (WAP's Repair with Skip). Scale-in removes the highest-numbered instances
 * first. An instance step is idempotent: it finds its instance by name, reserves it only once, and drives
 * the host with operation ids that replay after a crash.
 *
 * Quotas count the role (vmRoles) and each instance's resources (reserved by its step).
 */
#include "vmrole.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "events.h"
#include "hostreg.h"
#include "inventory.h"
#include "quota.h"
#include "util.h"
#include "vm_internal.h"

static const char *
str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t
num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* The instance number of a VM named <role>-<n>, or 0. */
static int64_t
instance_number(const json_t *role, const json_t *vm)
{
    const char *name = str(vm, "name"), *rn = str(role, "name");
    size_t n = strlen(rn);
    int64_t v;

    if (name == NULL || strncmp(name, rn, n) != 0 || name[n] != '-' ||
        util_parse_int64(name + n + 1, false, &v))
        return 0;
    return v;
}

static int
by_number(const void *a, const void *b)
{
    int64_t x = num(*(json_t *const *) a, "_n"), y = num(*(json_t *const *) b, "_n");

    return x < y ? -1 : x > y;
}

/* The role's instances (records), by instance number; each carries "_n". */
static json_t *
instances(store_t *st, const json_t *role, err_t *err)
{
    store_filter_t f = {.field = "vmRoleId", .op = STORE_FILTER_EQ, .value = str(role, "id")};
    json_t *all = store_rec_list_all(st, &store_kind_vm, &f, 1, err), *vm, **v, *sorted;
    size_t i, n;

    if (all == NULL)
        return NULL;
    n = json_array_size(all);
    v = calloc(n + 1, sizeof(*v));
    json_array_foreach(all, i, vm) {
        json_object_set_new(vm, "_n", json_integer(instance_number(role, vm)));
        v[i] = vm;
    }
    qsort(v, n, sizeof(*v), by_number);
    sorted = json_array();
    for (i = 0; i < n; i++)
        json_array_append(sorted, v[i]);
    free(v);
    json_decref(all);
    return sorted;
}

json_t *
vmrole_view(store_t *st, const json_t *role, err_t *err)
{
    json_t *view = json_deep_copy(role), *list = instances(st, role, err), *ids, *vm;
    size_t i;

    if (list == NULL) {
        json_decref(view);
        return NULL;
    }
    ids = json_array();
    json_array_foreach(list, i, vm)
        json_array_append(ids, json_object_get(vm, "id"));
    json_decref(list);
    json_object_set_new(view, "instances", ids);
    return view;
}

json_t *
vmrole_get(store_t *st, const char *sid, const char *id, err_t *err)
{
    json_t *role = store_rec_get_where(st, &store_kind_vmrole, id, "subscriptionId", sid, NULL, err),
           *view;

    if (role == NULL)
        return NULL;
    view = vmrole_view(st, role, err);
    json_decref(role);
    return view;
}

/* Steps "addInstance-<n>" for n in (from, to]; "removeInstance-<n>" for the given instances. */
static json_t *
add_steps(int64_t from, int64_t to)
{
    json_t *names = json_array();
    char name[48];
    int64_t n;

    for (n = from + 1; n <= to; n++) {
        snprintf(name, sizeof(name), "addInstance-%lld", (long long) n);
        json_array_append_new(names, json_string(name));
    }
    return names;
}

static int
set_state(store_t *st, json_t *role, const char *state, err_t *err)
{
    json_object_set_new(role, "provisioningState", json_string(state));
    catalog_record_touch(role);
    return store_rec_update(st, &store_kind_vmrole, str(role, "id"), role, 0, err);
}

json_t *
vmrole_create(store_t *st, const char *sid, const json_t *body, json_t **job, err_t *err)
{
    json_t *sub = NULL, *plan = NULL, *item = NULL, *role = NULL, *j = NULL, *names, *net;
    const char *item_id = str(body, "galleryItemId"), *size;
    int64_t count = num(body, "instanceCount"), d[STORE_QUOTAS] = {0};
    err_t local = {0};

    if (store_tx_begin(st, err))
        return NULL;
    if ((sub = vm__writable_sub(st, sid, err)) == NULL)
        goto fail;
    plan = store_rec_get(st, &store_kind_plan, str(sub, "planId"), NULL, err);
    if (plan == NULL)
        goto fail;
    item = store_rec_get(st, &store_kind_gallery_item, item_id, NULL, &local);
    if (item == NULL || !catalog_plan_allows(plan, "galleryItemIds", item_id)) {
        err_set(err, ERR_INVALID_REQUEST, "galleryItemId",
                "The plan offers no gallery item with this id.");
        goto fail;
    }
    size = str(body, "size") ? str(body, "size") : str(item, "defaultSize");
    if (!catalog_plan_allows(plan, "sizeNames", size)) {
        err_set(err, ERR_INVALID_REQUEST, "size", "The plan offers no size named '%s'.", size);
        goto fail;
    }
    if (count < num(item, "minInstances") || count > num(item, "maxInstances")) {
        err_set(err, ERR_INVALID_REQUEST, "instanceCount",
                "instanceCount must be from %lld to %lld for this gallery item.",
                (long long) num(item, "minInstances"), (long long) num(item, "maxInstances"));
        goto fail;
    }
    if (json_is_string(json_object_get(body, "networkId"))) {
        err_clear(&local);
        net = store_rec_get_where(st, &store_kind_network, str(body, "networkId"), "subscriptionId",
                                  sid, NULL, &local);
        if (net == NULL) {
            err_set(err, ERR_INVALID_REQUEST, "networkId",
                    "networkId names no network of this subscription.");
            goto fail;
        }
        json_decref(net);
    }
    d[QUOTA_VMROLES] = 1;
    if (quota_adjust(st, sid, d, err))
        goto fail;
    role = catalog_record_new(body);
    json_object_set_new(role, "subscriptionId", json_string(sid));
    json_object_set_new(role, "size", json_string(size));
    if (json_object_get(role, "networkId") == NULL)
        json_object_set_new(role, "networkId", json_null());
    json_object_set_new(role, "provisioningState", json_string("creating"));
    if (store_rec_insert(st, &store_kind_vmrole, role, err))
        goto fail;
    names = add_steps(0, count);
    j = job_submit_steps(st, "vmrole.create", str(role, "id"), sid, str(role, "id"), NULL, names,
                         err);
    json_decref(names);
    if (j == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(sub);
    json_decref(plan);
    json_decref(item);
    *job = j;
    json_object_set_new(role, "instances", json_array());
    return role;
fail:
    store_tx_rollback(st);
    json_decref(sub);
    json_decref(plan);
    json_decref(item);
    json_decref(role);
    json_decref(j);
    return NULL;
}

/* The role of sid, free for a job (409 OperationInProgress while one runs, Conflict when it failed). */
static json_t *
role_for_job(store_t *st, const char *sid, const char *id, err_t *err)
{
    json_t *role = store_rec_get_where(st, &store_kind_vmrole, id, "subscriptionId", sid, NULL, err),
           *sub;
    const char *ps;

    if (role == NULL)
        return NULL;
    if ((sub = vm__writable_sub(st, sid, err)) == NULL) {
        json_decref(role);
        return NULL;
    }
    json_decref(sub);
    ps = str(role, "provisioningState");
    if (strcmp(ps, "succeeded") != 0 && strcmp(ps, "failed") != 0) {
        json_decref(role);
        err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                "Another operation on this VM role is still in progress.");
        return NULL;
    }
    return role;
}

json_t *
vmrole_scale(store_t *st, const char *sid, const char *id, int64_t count, err_t *err)
{
    json_t *role = NULL, *item = NULL, *list = NULL, *names = NULL, *params = NULL, *j = NULL, *vm;
    int64_t have, top = 0;
    size_t i;
    char name[48];

    if (store_tx_begin(st, err))
        return NULL;
    if ((role = role_for_job(st, sid, id, err)) == NULL)
        goto fail;
    item = store_rec_get(st, &store_kind_gallery_item, str(role, "galleryItemId"), NULL, err);
    if (item == NULL)
        goto fail;
    if (count < num(item, "minInstances") || count > num(item, "maxInstances")) {
        err_set(err, ERR_INVALID_REQUEST, "instanceCount",
                "instanceCount must be from %lld to %lld for this gallery item.",
                (long long) num(item, "minInstances"), (long long) num(item, "maxInstances"));
        goto fail;
    }
    if ((list = instances(st, role, err)) == NULL)
        goto fail;
    have = (int64_t) json_array_size(list);
    json_array_foreach(list, i, vm)
        if (num(vm, "_n") > top)
            top = num(vm, "_n");
    names = json_array();
    params = json_object();
    if (count > have) {
        json_decref(names);
        names = add_steps(top, top + (count - have));
    } else {
        /* Scale-in removes the highest-numbered instances first. */
        json_t *remove = json_array();
        for (i = json_array_size(list); (int64_t) i > count; i--) {
            vm = json_array_get(list, i - 1);
            snprintf(name, sizeof(name), "removeInstance-%lld", (long long) num(vm, "_n"));
            json_array_append_new(names, json_string(name));
            json_array_append(remove, json_object_get(vm, "id"));
        }
        json_object_set_new(params, "remove", remove);
    }
    json_object_set_new(params, "scaledFrom", json_integer(have));
    json_object_set_new(params, "scaledTo", json_integer(count));
    j = job_submit_steps(st, "vmrole.scale", id, sid, id, params, names, err);
    if (j == NULL)
        goto fail;
    json_object_set_new(role, "instanceCount", json_integer(count));
    if (set_state(st, role, "updating", err) || store_tx_commit(st, err))
        goto fail;
    json_decref(role);
    json_decref(item);
    json_decref(list);
    json_decref(names);
    json_decref(params);
    return j;
fail:
    store_tx_rollback(st);
    json_decref(role);
    json_decref(item);
    json_decref(list);
    json_decref(names);
    json_decref(params);
    json_decref(j);
    return NULL;
}

json_t *
vmrole_delete(store_t *st, const char *sid, const char *id, err_t *err)
{
    json_t *role = NULL, *list = NULL, *names = NULL, *params, *remove, *j = NULL, *vm;
    char name[48];
    size_t i;

    if (store_tx_begin(st, err))
        return NULL;
    if ((role = role_for_job(st, sid, id, err)) == NULL)
        goto fail;
    if ((list = instances(st, role, err)) == NULL)
        goto fail;
    names = json_array();
    remove = json_array();
    for (i = json_array_size(list); i > 0; i--) {
        vm = json_array_get(list, i - 1);
        snprintf(name, sizeof(name), "removeInstance-%lld", (long long) num(vm, "_n"));
        json_array_append_new(names, json_string(name));
        json_array_append(remove, json_object_get(vm, "id"));
    }
    json_array_append_new(names, json_string("deleteRole"));
    params = json_pack("{s:o}", "remove", remove);
    j = job_submit_steps(st, "vmrole.delete", id, sid, id, params, names, err);
    json_decref(params);
    if (j == NULL || set_state(st, role, "deleting", err) || store_tx_commit(st, err))
        goto fail;
    json_decref(role);
    json_decref(list);
    json_decref(names);
    return j;
fail:
    store_tx_rollback(st);
    json_decref(role);
    json_decref(list);
    json_decref(names);
    json_decref(j);
    return NULL;
}

json_t *
vmrole_join(store_t *st, const char *role_id, const json_t *body, err_t *err)
{
    json_t *role = NULL, *vm = NULL, *out = NULL;
    const char *vm_id = str(body, "vmId");

    role = store_rec_get(st, &store_kind_vmrole, role_id, NULL, err);
    if (role == NULL)
        return NULL;
    if (vm_id == NULL && (str(body, "hostId") == NULL || str(body, "hypervisorId") == NULL)) {
        err_set(err, ERR_INVALID_REQUEST, "vmId", "Give vmId, or hostId and hypervisorId.");
        goto out;
    }
    /* One transaction: the VM joins and the role counts it, or neither. */
    if (store_tx_begin(st, err))
        goto out;
    if (vm_id != NULL) {
        err_t local = {0};
        vm = vm__load(st, NULL, vm_id, NULL, &local);
        if (vm == NULL || strcmp(str(vm, "subscriptionId"), str(role, "subscriptionId")) != 0) {
            err_set(err, ERR_INVALID_REQUEST, "vmId", "vmId names no VM of the role's subscription.");
            store_tx_rollback(st);
            goto out;
        }
        if (!json_is_null(json_object_get(vm, "vmRoleId"))) {
            err_set(err, ERR_CONFLICT, "vmId", "The VM is already an instance of a role.");
            store_tx_rollback(st);
            goto out;
        }
        json_object_set(vm, "vmRoleId", json_object_get(role, "id"));
        if (vm__save(st, vm, err)) {
            store_tx_rollback(st);
            goto out;
        }
    } else {
        vm = inventory_adopt(st, role, str(body, "hostId"), str(body, "hypervisorId"), err);
        if (vm == NULL) {
            store_tx_rollback(st);
            goto out;
        }
    }
    json_object_set_new(role, "instanceCount", json_integer(num(role, "instanceCount") + 1));
    catalog_record_touch(role);
    if (store_rec_update(st, &store_kind_vmrole, role_id, role, 0, err) || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        goto out;
    }
    out = vmrole_view(st, role, err);
out:
    json_decref(role);
    json_decref(vm);
    return out;
}

/* ---- the instance steps ---- */

static json_t *
find_instance(store_t *st, const json_t *role, int64_t n, err_t *err)
{
    json_t *list = instances(st, role, err), *vm, *found = NULL;
    size_t i;

    json_array_foreach(list, i, vm)
        if (num(vm, "_n") == n)
            found = json_incref(vm);
    json_decref(list);
    if (found)
        json_object_del(found, "_n");
    return found;
}

static job_step_result_t
step_add_instance(job_ctx_t *ctx, json_t *role, int64_t n, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *vm, *item, *body;
    char name[160], op[200], hyp[AGENT_ID_MAX];
    agent_vm_spec_t spec;
    agent_call_t c;
    agent_err_t aerr = {0};
    job_step_result_t r;
    agent_t *a;

    vm = find_instance(st, role, n, err);
    if (vm == NULL && err->code != ERR_NONE)
        return JOB_STEP_RETRY;
    if (vm && strcmp(str(vm, "provisioningState"), "failed") == 0) {
        /* Repair: the instance failed before; it is made again from scratch. */
        if (str(vm, "hypervisorId") && (a = hostreg_agent(st, str(vm, "hostId"), err)) != NULL) {
            snprintf(op, sizeof(op), "%s:discard", job_ctx_op_id(ctx));
            c.op_id = op;
            c.timeout_ms = VM_AGENT_TIMEOUT_MS;
            if (agent_vm_delete(a, &c, str(vm, "hypervisorId"), &aerr) != 0 &&
                aerr.status != AGENT_ERR_NOT_FOUND) {
                json_decref(vm);
                return vm__agent_result(&aerr, err);
            }
        }
        err_clear(err);
        if (vm__remove(st, vm, err)) {
            json_decref(vm);
            return JOB_STEP_RETRY;
        }
        json_decref(vm);
        vm = NULL;
    }
    if (vm == NULL) {
        item = store_rec_get(st, &store_kind_gallery_item, str(role, "galleryItemId"), NULL, err);
        if (item == NULL)
            return JOB_STEP_FAILED;
        snprintf(name, sizeof(name), "%s-%lld", str(role, "name"), (long long) n);
        body = json_pack("{s:s, s:O, s:O, s:O?}", "name", name, "imageId",
                         json_object_get(item, "imageId"), "size", json_object_get(role, "size"),
                         "networkId", json_object_get(role, "networkId"));
        json_decref(item);
        vm = vm__reserve_new(st, str(role, "subscriptionId"), body, str(role, "id"), err);
        json_decref(body);
        if (vm == NULL)
            return err->code == ERR_UNAVAILABLE ? JOB_STEP_RETRY : JOB_STEP_FAILED;
    }
    a = hostreg_agent(st, str(vm, "hostId"), err);
    if (a == NULL) {
        json_decref(vm);
        return err->code == ERR_UNAVAILABLE ? JOB_STEP_RETRY : JOB_STEP_FAILED;
    }
    snprintf(op, sizeof(op), "%s:create", job_ctx_op_id(ctx));
    c.op_id = op;
    c.timeout_ms = VM_AGENT_TIMEOUT_MS;
    if (str(vm, "hypervisorId") == NULL) {
        json_t *data_disks;
        vm__fill_spec(vm, &spec, &data_disks);
        agent_vm_create(a, &c, &spec, hyp, &aerr);
        json_decref(data_disks);
        if ((r = vm__agent_result(&aerr, err)) != JOB_STEP_DONE) {
            json_decref(vm);
            return r;
        }
        json_object_set_new(vm, "hypervisorId", json_string(hyp));
    }
    snprintf(op, sizeof(op), "%s:start", job_ctx_op_id(ctx));
    agent_vm_power(a, &c, str(vm, "hypervisorId"), AGENT_POWER_START, &aerr);
    if ((r = vm__agent_result(&aerr, err)) == JOB_STEP_DONE) {
        json_object_set_new(vm, "powerState", json_string("running"));
        json_object_set_new(vm, "provisioningState", json_string("succeeded"));
        if (job_ctx_begin(ctx, err) || vm__save(st, vm, err))
            r = JOB_STEP_RETRY;
    }
    json_decref(vm);
    return r;
}

static job_step_result_t
step_remove_instance(job_ctx_t *ctx, const char *vm_id, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    agent_call_t c = {job_ctx_op_id(ctx), VM_AGENT_TIMEOUT_MS};
    agent_err_t aerr = {0};
    json_t *vm = vm__load(st, NULL, vm_id, NULL, err);
    job_step_result_t r = JOB_STEP_DONE;
    agent_t *a;

    if (vm == NULL) {
        if (err->code != ERR_NOT_FOUND)
            return JOB_STEP_RETRY;
        err_clear(err);
        return JOB_STEP_DONE; /* already gone */
    }
    if (str(vm, "hypervisorId") && str(vm, "hostId")) {
        a = hostreg_agent(st, str(vm, "hostId"), err);
        if (a == NULL) {
            json_decref(vm);
            return JOB_STEP_RETRY;
        }
        if (agent_vm_delete(a, &c, str(vm, "hypervisorId"), &aerr) != 0 &&
            aerr.status == AGENT_ERR_NOT_FOUND)
            aerr.status = AGENT_OK;
        r = vm__agent_result(&aerr, err);
    }
    if (r == JOB_STEP_DONE && (job_ctx_begin(ctx, err) || vm__remove(st, vm, err)))
        r = JOB_STEP_RETRY;
    json_decref(vm);
    return r;
}

/* The one step function of role jobs: the step's name says what it does. */
static job_step_result_t
step_each(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const char *name = job_ctx_step_name(ctx);
    json_t *role = store_rec_get(st, &store_kind_vmrole, job_ctx_resource(ctx), NULL, err), *rm;
    job_step_result_t r = JOB_STEP_DONE;
    int64_t n;

    if (role == NULL)
        return err->code == ERR_NOT_FOUND ? JOB_STEP_FAILED : JOB_STEP_RETRY;
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
            store_rec_delete(st, &store_kind_vmrole, str(role, "id"), 0, err) ||
            quota_apply(st, str(role, "subscriptionId"), d, err))
            r = JOB_STEP_RETRY;
    } else {
        err_set(err, ERR_INTERNAL, NULL, "Unknown step %s.", name);
        r = JOB_STEP_FAILED;
    }
    json_decref(role);
    return r;
}

/* The job's last commit: the role is provisioned (a delete has removed it already). */
static int
role_succeeded(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    err_t local = {0};
    json_t *role = store_rec_get(st, &store_kind_vmrole, job_ctx_resource(ctx), NULL, &local);
    const json_t *p;
    int rc;

    if (role == NULL)
        return local.code == ERR_NOT_FOUND ? 0 : err_set(err, local.code, NULL, "%s", local.message);
    rc = set_state(st, role, "succeeded", err);
    p = job_ctx_params(ctx);
    if (rc == 0 && json_is_integer(json_object_get(p, "scaledTo")))
        rc = events_emit(st, "vmrole.scaled", str(role, "subscriptionId"), str(role, "id"),
                         json_pack("{s:O, s:O, s:s}", "from", json_object_get(p, "scaledFrom"), "to",
                                   json_object_get(p, "scaledTo"), "name", str(role, "name")),
                         err);
    json_decref(role);
    return rc;
}

static int
role_failed(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const char *name = job_ctx_step_name(ctx);
    json_t *role = store_rec_get(st, &store_kind_vmrole, job_ctx_resource(ctx), NULL, err), *vm;
    int64_t n;
    int rc = 0;

    if (role == NULL)
        return err->code == ERR_NOT_FOUND ? 0 : -1;
    /* The instance whose step failed holds nothing and shows failed, as a VM whose creation failed. */
    if (name && strncmp(name, "addInstance-", 12) == 0 &&
        util_parse_int64(name + 12, false, &n) == 0) {
        vm = find_instance(st, role, n, err);
        if (vm && strcmp(str(vm, "provisioningState"), "failed") != 0)
            rc = vm__fail_create(st, vm, err);
        json_decref(vm);
    }
    if (rc == 0 && strcmp(job_ctx_status(ctx), "canceled") == 0 &&
        strcmp(job_ctx_resource(ctx), str(role, "id")) == 0 &&
        strcmp(str(role, "provisioningState"), "creating") == 0) {
        int64_t d[STORE_QUOTAS] = {0};
        d[QUOTA_VMROLES] = -1;
        /* A canceled create leaves nothing behind. */
        rc = store_rec_delete(st, &store_kind_vmrole, str(role, "id"), 0, err) ||
             quota_apply(st, str(role, "subscriptionId"), d, err);
        json_decref(role);
        return rc;
    }
    if (rc == 0)
        rc = set_state(st, role, "failed", err);
    json_decref(role);
    return rc;
}

static const job_kind_def_t kinds[] = {
    {"vmrole.create", NULL, 10 * 60 * 1000, role_failed, NULL, step_each, role_succeeded},
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
