/*
 * request.c: VM roles, WAP's scale-out groups of identical VMs made from a gallery item.
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
#include "../vmrole.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../catalog.h"
#include "../events.h"
#include "../hostreg.h"
#include "../inventory.h"
#include "../quota.h"
#include "../util.h"
#include "../vm/vmstep.h"
#include "role.h"

/* The instance number of a VM named <role>-<n>, or 0. */
static int64_t
instance_number(const json_t *role, const char *name)
{
    const char *rn = jget_str(role, "name");
    size_t n = strlen(rn);
    int64_t v;

    if (strncmp(name, rn, n) != 0 || name[n] != '-' || util_parse_int64(name + n + 1, false, &v))
        return 0;
    return v;
}

static int
by_number(const void *a, const void *b)
{
    int64_t x = ((const vmrole_instance_t *) a)->n, y = ((const vmrole_instance_t *) b)->n;

    return x < y ? -1 : x > y;
}

int
vmrole__instances(store_t *st, const json_t *role, vmrole_instance_t **out, size_t *count,
                  err_t *err)
{
    store_filter_t f = {.field = "vmRoleId", .op = STORE_FILTER_EQ, .value = jget_str(role, "id")};
    json_t *all, *rec;
    vmrole_instance_t *v = NULL;
    size_t i, n;
    int rc = -1;

    assert(st != NULL && role != NULL && out != NULL && count != NULL);
    if ((all = store_rec_list_all(st, &store_kind_vm, &f, 1, err)) == NULL)
        return -1;
    n = json_array_size(all);
    if (n > 0 && (v = calloc(n, sizeof(*v))) == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        goto out;
    }
    json_array_foreach(all, i, rec) {
        if (vmrec_from_store(rec, &v[i].vm, err))
            goto out;
        v[i].n = instance_number(role, v[i].vm.name);
    }
    if (n > 0)
        qsort(v, n, sizeof(*v), by_number);
    *out = v;
    *count = n;
    v = NULL;
    rc = 0;
out:
    free(v);
    json_decref(all);
    return rc;
}

json_t *
vmrole_view(store_t *st, const json_t *role, err_t *err)
{
    vmrole_instance_t *list = NULL;
    json_t *view, *ids;
    size_t i, n = 0;

    if (vmrole__instances(st, role, &list, &n, err))
        return NULL;
    view = json_deep_copy(role);
    ids = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(ids, json_string(list[i].vm.id));
    free(list);
    json_object_set_new(view, "instances", ids);
    return view;
}

json_t *
vmrole_get(store_t *st, const char *sid, const char *id, err_t *err)
{
    return vmrole_get_rev(st, sid, id, NULL, err);
}

json_t *
vmrole_get_rev(store_t *st, const char *sid, const char *id, int64_t *rev, err_t *err)
{
    json_t *role, *view;

    assert(st != NULL && sid != NULL && id != NULL);
    role = store_rec_get_where(st, &store_kind_vmrole, id, "subscriptionId", sid, rev, err);
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

int
vmrole__set_state(store_t *st, json_t *role, const char *state, err_t *err)
{
    assert(st != NULL && jget_str(role, "id") != NULL && state != NULL);
    json_object_set_new(role, "provisioningState", json_string(state));
    catalog_record_touch(role);
    return store_rec_update(st, &store_kind_vmrole, jget_str(role, "id"), role, 0, err);
}

/* 400 on instanceCount unless count is within the gallery item's min and max. */
static int
check_count(const json_t *item, int64_t count, err_t *err)
{
    if (count < jget_int(item, "minInstances") || count > jget_int(item, "maxInstances"))
        return err_set(err, ERR_INVALID_REQUEST, "instanceCount",
                       "instanceCount must be from %lld to %lld for this gallery item.",
                       (long long) jget_int(item, "minInstances"),
                       (long long) jget_int(item, "maxInstances"));
    return 0;
}

/* The gallery item a new role is made from, checked against ctx's plan and the request: the item (new
 * reference) and, in *size, the size its instances take. */
static json_t *
check_new_role(store_t *st, const vm_ctx_t *ctx, const vmrole_create_req_t *req, const char **size,
               err_t *err)
{
    json_t *item = NULL;
    int rc;

    rc = vmrec_lookup(st, &store_kind_gallery_item, req->gallery_item_id, NULL, NULL, &item, err);
    if (rc < 0)
        return NULL;
    /* A missing item is the same answer as one the plan does not offer. */
    if (rc == 0 || !catalog_plan_allows(ctx->plan, "galleryItemIds", req->gallery_item_id)) {
        err_set(err, ERR_INVALID_REQUEST, "galleryItemId",
                "The plan offers no gallery item with this id.");
        goto fail;
    }
    *size = req->size ? req->size : jget_str(item, "defaultSize");
    if (!catalog_plan_allows(ctx->plan, "sizeNames", *size)) {
        err_set(err, ERR_INVALID_REQUEST, "size", "The plan offers no size named '%s'.", *size);
        goto fail;
    }
    if (check_count(item, req->instance_count, err))
        goto fail;
    if (req->network_id != NULL) {
        rc = vmrec_exists(st, &store_kind_network, req->network_id, "subscriptionId", ctx->sid,
                          err);
        if (rc == 0)
            err_set(err, ERR_INVALID_REQUEST, "networkId",
                    "networkId names no network of this subscription.");
        if (rc <= 0)
            goto fail;
    }
    return item;
fail:
    json_decref(item);
    return NULL;
}

/* A new role record (creating), its fields in the order a GET shows them. */
static json_t *
new_record(const vm_ctx_t *ctx, const vmrole_create_req_t *req, const char *size)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];

    util_uuid(id);
    util_time_format(util_now_ms(), now);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:I, s:s, s:s, s:s}", "id", id, "name", req->name,
                     "subscriptionId", ctx->sid, "galleryItemId", req->gallery_item_id, "size", size,
                     "networkId", req->network_id, "instanceCount", (json_int_t) req->instance_count,
                     "provisioningState", "creating", "createdAt", now, "updatedAt", now);
}

json_t *
vmrole_create(store_t *st, const vm_ctx_t *ctx, const vmrole_create_req_t *req, json_t **job,
              err_t *err)
{
    json_t *item = NULL, *role = NULL, *j = NULL, *names;
    const char *size = NULL;
    int64_t d[STORE_QUOTAS] = {0};

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && ctx->plan != NULL && req != NULL);
    assert(req->name != NULL && req->gallery_item_id != NULL && job != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    if (vm_subscription_writable(ctx->sub, err) ||
        (item = check_new_role(st, ctx, req, &size, err)) == NULL)
        goto fail;
    d[QUOTA_VMROLES] = 1;
    if (quota_reserve(st, ctx->sid, ctx->plan, d, err))
        goto fail;
    if ((role = new_record(ctx, req, size)) == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        goto fail;
    }
    if (store_rec_insert(st, &store_kind_vmrole, role, err))
        goto fail;
    names = add_steps(0, req->instance_count);
    j = job_submit_steps(st, "vmrole.create", jget_str(role, "id"), ctx->sid, jget_str(role, "id"),
                         NULL, names, err);
    json_decref(names);
    if (j == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(item);
    *job = j;
    json_object_set_new(role, "instances", json_array());
    return role;
fail:
    store_tx_rollback(st);
    json_decref(item);
    json_decref(role);
    json_decref(j);
    return NULL;
}

/* The role of ctx's subscription at revision expect_rev (any when 0; 412 otherwise), free for a job (409
 * OperationInProgress while one runs, Conflict when it failed). Runs in the caller's transaction. */
static json_t *
role_for_job(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev, err_t *err)
{
    int64_t rev = 0;
    json_t *role = store_rec_get_where(st, &store_kind_vmrole, id, "subscriptionId", ctx->sid, &rev,
                                       err);
    const char *ps;

    if (role == NULL)
        return NULL;
    if (expect_rev > 0 && rev != expect_rev) {
        json_decref(role);
        err_set(err, ERR_PRECONDITION_FAILED, NULL, "The VM role has changed since the ETag was read.");
        return NULL;
    }
    if (vm_subscription_writable(ctx->sub, err)) {
        json_decref(role);
        return NULL;
    }
    ps = jget_str(role, "provisioningState");
    if (strcmp(ps, "succeeded") != 0 && strcmp(ps, "failed") != 0) {
        json_decref(role);
        err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                "Another operation on this VM role is still in progress.");
        return NULL;
    }
    return role;
}

/* Steps "removeInstance-<n>" into names and the instances' ids into remove, for the instances of list (n
 * of them) after the first keep: the highest-numbered first. */
static void
remove_steps(const vmrole_instance_t *list, size_t n, size_t keep, json_t *names, json_t *remove)
{
    char name[48];
    size_t i;

    for (i = n; i > keep; i--) {
        snprintf(name, sizeof(name), "removeInstance-%lld", (long long) list[i - 1].n);
        json_array_append_new(names, json_string(name));
        json_array_append_new(remove, json_string(list[i - 1].vm.id));
    }
}

json_t *
vmrole_scale(store_t *st, const vm_ctx_t *ctx, const char *id, const vmrole_scale_req_t *req,
             err_t *err)
{
    json_t *role = NULL, *item = NULL, *names = NULL, *params = NULL, *j = NULL, *remove;
    vmrole_instance_t *list = NULL;
    int64_t have, top = 0, count;
    size_t i, n = 0;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && id != NULL && req != NULL);
    count = req->instance_count;
    if (store_tx_begin(st, err))
        return NULL;
    if ((role = role_for_job(st, ctx, id, 0, err)) == NULL)
        goto fail;
    item = store_rec_get(st, &store_kind_gallery_item, jget_str(role, "galleryItemId"), NULL, err);
    if (item == NULL)
        goto fail;
    if (check_count(item, count, err))
        goto fail;
    if (vmrole__instances(st, role, &list, &n, err))
        goto fail;
    have = (int64_t) n;
    for (i = 0; i < n; i++)
        if (list[i].n > top)
            top = list[i].n;
    params = json_object();
    if (count > have) {
        names = add_steps(top, top + (count - have));
    } else {
        /* Scale-in removes the highest-numbered instances first. */
        names = json_array();
        remove = json_array();
        remove_steps(list, n, count < 0 ? 0 : (size_t) count, names, remove);
        json_object_set_new(params, "remove", remove);
    }
    json_object_set_new(params, "scaledFrom", json_integer(have));
    json_object_set_new(params, "scaledTo", json_integer(count));
    j = job_submit_steps(st, "vmrole.scale", id, ctx->sid, id, params, names, err);
    if (j == NULL)
        goto fail;
    json_object_set_new(role, "instanceCount", json_integer(count));
    if (vmrole__set_state(st, role, "updating", err) || store_tx_commit(st, err))
        goto fail;
    goto out;
fail:
    store_tx_rollback(st);
    json_decref(j);
    j = NULL;
out:
    json_decref(role);
    json_decref(item);
    free(list);
    json_decref(names);
    json_decref(params);
    return j;
}

json_t *
vmrole_delete(store_t *st, const vm_ctx_t *ctx, const char *id, err_t *err)
{
    return vmrole_delete_if(st, ctx, id, 0, err);
}

json_t *
vmrole_delete_if(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev, err_t *err)
{
    json_t *role = NULL, *names = NULL, *params, *remove, *j = NULL;
    vmrole_instance_t *list = NULL;
    size_t n = 0;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && id != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    if ((role = role_for_job(st, ctx, id, expect_rev, err)) == NULL)
        goto fail;
    if (vmrole__instances(st, role, &list, &n, err))
        goto fail;
    names = json_array();
    remove = json_array();
    remove_steps(list, n, 0, names, remove);
    json_array_append_new(names, json_string("deleteRole"));
    params = json_pack("{s:o}", "remove", remove);
    j = job_submit_steps(st, "vmrole.delete", id, ctx->sid, id, params, names, err);
    json_decref(params);
    if (j == NULL || vmrole__set_state(st, role, "deleting", err) || store_tx_commit(st, err))
        goto fail;
    goto out;
fail:
    store_tx_rollback(st);
    json_decref(j);
    j = NULL;
out:
    json_decref(role);
    free(list);
    json_decref(names);
    return j;
}

json_t *
vmrole_join(store_t *st, const char *role_id, const vmrole_join_req_t *req, err_t *err)
{
    json_t *role = NULL, *out = NULL;
    vm_rec_t vm;
    int rc;

    assert(st != NULL && role_id != NULL && req != NULL);
    role = store_rec_get(st, &store_kind_vmrole, role_id, NULL, err);
    if (role == NULL)
        return NULL;
    if (req->vm_id == NULL && (req->host_id == NULL || req->hypervisor_id == NULL)) {
        err_set(err, ERR_INVALID_REQUEST, "vmId", "Give vmId, or hostId and hypervisorId.");
        goto out;
    }
    /* One transaction: the VM joins and the role counts it, or neither. */
    if (store_tx_begin(st, err))
        goto out;
    if (req->vm_id != NULL) {
        rc = vmrec_load(st, jget_str(role, "subscriptionId"), req->vm_id, &vm, NULL, err);
        if (rc <= 0) {
            if (rc == 0)
                err_set(err, ERR_INVALID_REQUEST, "vmId",
                        "vmId names no VM of the role's subscription.");
            store_tx_rollback(st);
            goto out;
        }
        if (vm.vm_role_id[0] != '\0') {
            err_set(err, ERR_CONFLICT, "vmId", "The VM is already an instance of a role.");
            store_tx_rollback(st);
            goto out;
        }
        snprintf(vm.vm_role_id, sizeof(vm.vm_role_id), "%s", role_id);
        if (vmrec_save(st, &vm, err) ||
            events_emit(st, "vmrole.instanceJoined", vm.subscription_id, role_id,
                        json_pack("{s:s, s:b}", "vmId", vm.id, "adopted", false), err)) {
            store_tx_rollback(st);
            goto out;
        }
    } else if (inventory_adopt(st, role, req->host_id, req->hypervisor_id, err)) {
        store_tx_rollback(st);
        goto out;
    }
    json_object_set_new(role, "instanceCount", json_integer(jget_int(role, "instanceCount") + 1));
    catalog_record_touch(role);
    if (store_rec_update(st, &store_kind_vmrole, role_id, role, 0, err) || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        goto out;
    }
    out = vmrole_view(st, role, err);
out:
    json_decref(role);
    return out;
}
