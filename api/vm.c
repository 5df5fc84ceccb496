/*
 * vm.c: handlers of VMs, their power actions and data disks, and tenant networks; the admin's VM views and
 * quota reconciliation. Every change answers 202 with a Location naming its job; a create answers the new
 * VM itself.
 */
#include "internal.h"
#include "requests.h"
#include "vmctx.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../lib/job.h"
#include "../lib/quota.h"
#include "../lib/vm.h"

static const char *const cachings[] = {"None", "ReadOnly", "ReadWrite", NULL};

/* A data disk: exactly one of sizeGB (an empty disk) and snapshotId (a clone of the snapshot). */
static const jv_field_t disk_spec[] = {
    {"sizeGB", JV_INT, 0, 1, 65536, NULL, NULL},
    {"snapshotId", JV_STRING, JV_UUID, 0, 0, NULL, NULL},
    {"caching", JV_STRING, 0, 1, 16, cachings, NULL},
    {"lun", JV_INT, 0, 0, 63, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_disk_attach = disk_spec;
static const jv_field_t vm_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {"imageId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {"size", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {"dataDisks", JV_OBJECT_ARRAY, 0, 0, 64, NULL, disk_spec},
    {"networkId", JV_STRING, JV_NULLABLE | JV_UUID, 0, 0, NULL, NULL},
    {"dynamicMemory", JV_OBJECT, JV_NULLABLE, 0, 0, NULL, api_dynmem_fields},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_vm_create = vm_spec;
static const jv_field_t vm_patch_spec[] = {
    {"size", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const jv_field_t no_fields[] = {
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const jv_field_t network_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {"addressPrefix", JV_STRING, JV_REQUIRED, 9, 18, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_network_create = network_spec;

static const char *
sid_of(api_req_t *r)
{
    return r->params[0];
}

/* 404 before 400: the VM in the path must be the caller's before its body is read. Replies and returns
 * -1 when it is not. */
static int
require_vm(api_req_t *r)
{
    err_t err = {0};
    json_t *vm = vm_get(r->store, sid_of(r), r->params[1], false, NULL, &err);

    if (vm == NULL) {
        api_reply_err(r, &err);
        return -1;
    }
    json_decref(vm);
    return 0;
}

/* A data disk of a body checked against disk_spec (borrowing its strings); at is the disk's path in the
 * body ("" for a body that is the disk). 400 unless exactly one of sizeGB and snapshotId is given. */
static int
disk_of(const json_t *d, const char *at, vm_disk_req_t *out, err_t *err)
{
    const json_t *lun = json_object_get(d, "lun");
    bool sized = json_object_get(d, "sizeGB") != NULL;
    char target[64];

    out->snapshot_id = json_string_value(json_object_get(d, "snapshotId"));
    if (sized == (out->snapshot_id != NULL)) {
        snprintf(target, sizeof(target), "%s%ssizeGB", at, at[0] ? "." : "");
        return err_set(err, ERR_INVALID_REQUEST, target,
                       "A data disk takes exactly one of sizeGB (an empty disk) and snapshotId.");
    }
    out->size_gb = json_integer_value(json_object_get(d, "sizeGB"));
    out->lun = json_is_integer(lun) ? (int) json_integer_value(lun) : -1;
    out->caching = VM_CACHING_NONE;
    vm_caching_parse(json_string_value(json_object_get(d, "caching")), &out->caching);
    return 0;
}

/* The create request of a body checked against vm_spec (borrowing its strings): 0, or -1 with err. */
static int
create_req_of(const json_t *body, vm_create_req_t *req, err_t *err)
{
    const json_t *disks = json_object_get(body, "dataDisks"), *d;
    char at[32];
    size_t i;

    memset(req, 0, sizeof(*req));
    req->name = json_string_value(json_object_get(body, "name"));
    req->image_id = json_string_value(json_object_get(body, "imageId"));
    req->size = json_string_value(json_object_get(body, "size"));
    req->network_id = json_string_value(json_object_get(body, "networkId"));
    /* null or absent: the size's */
    catalog_dynmem_of(json_object_get(body, "dynamicMemory"), &req->dynamic_memory);
    assert(json_array_size(disks) <= VM_MAX_DATA_DISKS);
    json_array_foreach(disks, i, d) {
        snprintf(at, sizeof(at), "dataDisks[%zu]", i);
        if (disk_of(d, at, &req->disks[req->ndisks++], err))
            return -1;
    }
    return 0;
}

int
api_vm_create_typed(const json_t *body, err_t *err)
{
    vm_create_req_t req;

    return create_req_of(body, &req, err);
}

int
api_disk_attach_typed(const json_t *body, err_t *err)
{
    vm_disk_req_t disk;

    return disk_of(body, "", &disk, err);
}

/* A plan switched to disabled hides existing checkpoints from tenants (it does not delete them). */
static bool
hide_checkpoint(api_req_t *r, bool admin)
{
    const char *mode = json_string_value(json_object_get(r->sub, "checkpointMode"));

    return !admin && (mode == NULL || strcmp(mode, "disabled") == 0);
}

/* Lists VMs with filters; views for the tenant or the admin, written straight to the answer. */
static void
list_vms(api_req_t *r, const store_filter_t *f, size_t n, bool admin)
{
    int64_t after, next = 0;
    util_buf_t b = {0};
    err_t err = {0};
    int limit;

    if (api_paging(r, &limit, &after))
        return;
    api_page_open(&b, limit);
    if (vm_list_text(r->store, f, n, after, limit, admin, hide_checkpoint(r, admin), &b, &next,
                     &err)) {
        util_buf_free(&b);
        api_reply_err(r, &err);
        return;
    }
    api_reply_page_text(r, &b, limit, next);
}

/* GET of one VM (of the path's subscription unless admin), its view written straight to the answer. */
static void
get_vm(api_req_t *r, const char *sid, const char *id, bool admin)
{
    util_buf_t b = {0};
    err_t err = {0};
    int64_t rev = 0;

    if (vm_get_text(r->store, sid, id, admin, hide_checkpoint(r, admin), &b, &rev, &err)) {
        util_buf_free(&b);
        api_reply_err(r, &err);
        return;
    }
    api_reply_record_text(r, 200, &b, rev);
}

void
api_tenant_vms_list(api_req_t *r)
{
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = sid_of(r)};

    list_vms(r, &f, 1, false);
}

void
api_tenant_vms_create(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    vm_create_req_t req;
    err_t err = {0};
    json_t *body = api_body(r, vm_spec, false, false), *vm, *job = NULL;

    if (body == NULL)
        return;
    vm = create_req_of(body, &req, &err) ? NULL : vm_create(r->store, &c, &req, &job, &err);
    json_decref(body);
    if (vm == NULL) {
        api_reply_err(r, &err);
        return;
    }
    /* The VM's view is what a GET shows. */
    api_reply_accepted(r, vm, json_string_value(json_object_get(job, "id")));
    json_decref(job);
}

void
api_tenant_vm_get(api_req_t *r)
{
    get_vm(r, sid_of(r), r->params[1], false);
}

void
api_tenant_vm_patch(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    int64_t rev;
    json_t *body, *job;

    if (api_if_match(r, &rev))
        return;
    if (require_vm(r))
        return;
    if ((body = api_body(r, vm_patch_spec, false, false)) == NULL)
        return;
    job = vm_resize(r->store, &c, r->params[1],
                    json_string_value(json_object_get(body, "size")), rev, &err);
    json_decref(body);
    api_reply_job(r, job, &err);
}

void
api_tenant_vm_delete(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    int64_t rev;

    if (api_if_match(r, &rev))
        return;
    api_reply_job(r, vm_delete(r->store, &c, r->params[1], rev, &err), &err);
}

void
api_tenant_vm_action(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    json_t *body;

    if (require_vm(r))
        return;
    if ((body = api_body(r, no_fields, false, true)) == NULL)
        return;
    json_decref(body);
    api_reply_job(r, vm_action(r->store, &c, r->params[1], r->params[2], &err), &err);
}

void
api_tenant_vm_disk_attach(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    vm_disk_req_t disk;
    err_t err = {0};
    json_t *body, *job;

    if (require_vm(r))
        return;
    if ((body = api_body(r, disk_spec, false, false)) == NULL)
        return;
    job = disk_of(body, "", &disk, &err) ? NULL
                                         : vm_disk_attach(r->store, &c, r->params[1], &disk, &err);
    json_decref(body);
    api_reply_job(r, job, &err);
}

void
api_tenant_vm_disk_detach(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    int64_t lun, rev;

    /* A data disk is part of its VM: If-Match names the VM's ETag. */
    if (api_if_match(r, &rev))
        return;
    if (util_parse_int64(r->params[2], false, &lun) || lun > 63) {
        api_reply_error(r, ERR_NOT_FOUND, NULL, "The VM has no data disk at that lun.");
        return;
    }
    api_reply_job(r, vm_disk_detach_if(r->store, &c, r->params[1], (int) lun, rev, &err), &err);
}

void
api_tenant_networks_list(api_req_t *r)
{
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = sid_of(r)};

    api_list_kind(r, &store_kind_network, &f, 1);
}

void
api_tenant_networks_create(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    network_create_req_t req;
    err_t err = {0};
    json_t *body = api_body(r, network_spec, false, false), *net;

    if (body == NULL)
        return;
    req.name = json_string_value(json_object_get(body, "name"));
    req.address_prefix = json_string_value(json_object_get(body, "addressPrefix"));
    net = network_create(r->store, &c, &req, &err);
    json_decref(body);
    if (net == NULL) {
        api_reply_err(r, &err);
        return;
    }
    snprintf(r->location, sizeof(r->location), "/v1/subscriptions/%s/networks/%s", sid_of(r),
             json_string_value(json_object_get(net, "id")));
    /* The network as a GET shows it, at a new record's revision. */
    api_reply_record(r, 201, net, 1);
}

void
api_tenant_network_get(api_req_t *r)
{
    err_t err = {0};
    int64_t rev = 0;
    json_t *net = store_rec_get_where(r->store, &store_kind_network, r->params[1], "subscriptionId",
                                      sid_of(r), &rev, &err);

    if (net == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_record(r, 200, net, rev);
}

void
api_tenant_network_delete(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    int64_t rev;

    if (api_if_match(r, &rev))
        return;
    if (network_delete(r->store, &c, r->params[1], rev, &err)) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_no_content(r);
}

void
api_admin_vms_list(api_req_t *r)
{
    static const char *const fields[] = {"subscriptionId", "hostId", "powerState", "vmRoleId",
                                         NULL};
    store_filter_t f[4];
    size_t n = 0, i;
    const char *v;

    for (i = 0; fields[i]; i++)
        if ((v = api_query(r, fields[i])) != NULL)
            f[n++] = (store_filter_t){.field = fields[i], .op = STORE_FILTER_EQ, .value = v};
    list_vms(r, f, n, true);
}

void
api_admin_vm_get(api_req_t *r)
{
    get_vm(r, NULL, r->params[0], true);
}

void
api_admin_subscription_reconcile(api_req_t *r)
{
    err_t err = {0};
    json_t *sub, *out;

    sub = store_rec_get(r->store, &store_kind_subscription, r->params[0], NULL, &err);
    if (sub == NULL) {
        api_reply_err(r, &err);
        return;
    }
    json_decref(sub);
    out = quota_reconcile(r->store, r->params[0], &err);
    if (out == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_json(r, 200, out);
}
