/*
 * vmrole.c: the tenant's VM role endpoints. Create answers 202 with the role; scale and delete answer 202
 * with their job. Instances are VMs and are driven through the VM paths.
 */
#include "internal.h"
#include "requests.h"
#include "vmctx.h"

#include "../lib/vmrole.h"

static const jv_field_t role_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 48, NULL, NULL},
    {"galleryItemId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {"size", JV_STRING, JV_NULLABLE, 1, 64, NULL, NULL},
    {"instanceCount", JV_INT, JV_REQUIRED, 0, 1000, NULL, NULL},
    {"networkId", JV_STRING, JV_NULLABLE | JV_UUID, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_vmrole_create = role_spec;
static const jv_field_t scale_spec[] = {
    {"instanceCount", JV_INT, JV_REQUIRED, 0, 1000, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_vmrole_scale = scale_spec;

/* 202 with body (the role or the job) naming job, or the error. */
static void
reply_accepted_or_err(api_req_t *r, json_t *body, const json_t *job, const err_t *err)
{
    if (body == NULL)
        api_reply_err(r, err);
    else
        api_reply_accepted(r, body, json_string_value(json_object_get(job, "id")));
}

void
api_tenant_vmroles_list(api_req_t *r)
{
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = r->params[0]};

    api_list_kind_views(r, &store_kind_vmrole, &f, 1, vmrole_view);
}

void
api_tenant_vmroles_create(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    vmrole_create_req_t req;
    err_t err = {0};
    json_t *body = api_body(r, role_spec, false, false), *role, *job = NULL;

    if (body == NULL)
        return;
    req.name = json_string_value(json_object_get(body, "name"));
    req.gallery_item_id = json_string_value(json_object_get(body, "galleryItemId"));
    req.size = json_string_value(json_object_get(body, "size"));
    req.instance_count = json_integer_value(json_object_get(body, "instanceCount"));
    req.network_id = json_string_value(json_object_get(body, "networkId"));
    /* The role as a GET shows it. */
    role = vmrole_create(r->store, &c, &req, &job, &err);
    json_decref(body);
    reply_accepted_or_err(r, role, job, &err);
    json_decref(job);
}

void
api_tenant_vmrole_get(api_req_t *r)
{
    err_t err = {0};
    int64_t rev = 0;
    json_t *role = vmrole_get_rev(r->store, r->params[0], r->params[1], &rev, &err);

    /* The ETag is the role record's revision. */
    if (role != NULL)
        api_reply_record(r, 200, role, rev);
    else
        api_reply_err(r, &err);
}

void
api_tenant_vmrole_delete(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    int64_t rev;
    json_t *job;

    if (api_if_match(r, &rev))
        return;
    job = vmrole_delete_if(r->store, &c, r->params[1], rev, &err);
    reply_accepted_or_err(r, job, job, &err);
}

void
api_tenant_vmrole_scale(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    vmrole_scale_req_t req;
    err_t err = {0};
    json_t *body, *job;

    job = vmrole_get(r->store, r->params[0], r->params[1], &err); /* 404 before 400 */
    if (job == NULL) {
        api_reply_err(r, &err);
        return;
    }
    json_decref(job);
    if ((body = api_body(r, scale_spec, false, false)) == NULL)
        return;
    req.instance_count = json_integer_value(json_object_get(body, "instanceCount"));
    job = vmrole_scale(r->store, &c, r->params[1], &req, &err);
    json_decref(body);
    reply_accepted_or_err(r, job, job, &err);
}
