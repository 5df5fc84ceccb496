/*
 * checkpoint.c: the checkpoint slot endpoints (tenant and admin) and pruning. Errors come in the
 * contract's order: 401, 404 (the VM), 403 (the plan's mode), 400 (the body), then 409 or 404 NoCheckpoint.
 * The slot has an ETag of its own (not the VM's): GET sends it, and PUT and both DELETEs honour If-Match
 * against it (412 when stale, compared in the transaction that would submit the job).
 */
#include "internal.h"
#include "requests.h"
#include "vmctx.h"

#include "../lib/checkpoint.h"

static const jv_field_t put_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {"description", JV_STRING, JV_NULLABLE, 0, 256, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_checkpoint_put = put_spec;
static const jv_field_t prune_spec[] = {
    {"cloudId", JV_STRING, JV_NULLABLE | JV_UUID, 0, 0, NULL, NULL},
    {"planId", JV_STRING, JV_NULLABLE | JV_UUID, 0, 0, NULL, NULL},
    {"olderThanHours", JV_INT, JV_REQUIRED, 0, 876000, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_checkpoint_prune = prune_spec;
static const jv_field_t no_fields[] = {
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

void
api_tenant_checkpoint_get(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    int64_t etag = 0;
    json_t *cp = checkpoint_get_tagged(r->store, &c, r->params[1], &etag, &err);

    /* The slot's own ETag, which its writes compare against. */
    if (cp != NULL)
        api_reply_record(r, 200, cp, etag);
    else
        api_reply_err(r, &err);
}

/* 404 (the VM), then 403 (the mode), before the body: the body checked against spec, or NULL after
 * replying. */
static json_t *
checked_body(api_req_t *r, const vm_ctx_t *c, checkpoint_op_t op, const jv_field_t *spec,
             bool allow_empty)
{
    err_t err = {0};

    if (checkpoint_check(r->store, c, r->params[1], op, &err)) {
        api_reply_err(r, &err);
        return NULL;
    }
    return api_body(r, spec, false, allow_empty);
}

void
api_tenant_checkpoint_put(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    checkpoint_put_req_t req;
    err_t err = {0};
    int64_t etag;
    json_t *body, *job;

    if (api_if_match(r, &etag))
        return;
    if ((body = checked_body(r, &c, CHECKPOINT_CREATE, put_spec, false)) == NULL)
        return;
    req.name = json_string_value(json_object_get(body, "name"));
    req.description = json_string_value(json_object_get(body, "description"));
    job = checkpoint_put_if(r->store, &c, r->params[1], &req, etag, &err);
    json_decref(body);
    api_reply_job(r, job, &err);
}

void
api_tenant_checkpoint_delete(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    int64_t etag;

    if (api_if_match(r, &etag) == 0)
        api_reply_job(r, checkpoint_delete_if(r->store, &c, r->params[1], etag, &err), &err);
}

void
api_tenant_checkpoint_restore(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    json_t *body;

    if ((body = checked_body(r, &c, CHECKPOINT_RESTORE, no_fields, true)) == NULL)
        return;
    json_decref(body);
    api_reply_job(r, checkpoint_restore(r->store, &c, r->params[1], &err), &err);
}

void
api_admin_checkpoint_delete(api_req_t *r)
{
    err_t err = {0};
    int64_t etag;

    if (api_if_match(r, &etag) == 0)
        api_reply_job(r, checkpoint_delete_if(r->store, NULL, r->params[0], etag, &err), &err);
}

void
api_admin_checkpoints_prune(api_req_t *r)
{
    checkpoint_prune_req_t req;
    err_t err = {0};
    json_t *body = api_body(r, prune_spec, false, false), *job;

    if (body == NULL)
        return;
    req.cloud_id = json_string_value(json_object_get(body, "cloudId"));
    req.plan_id = json_string_value(json_object_get(body, "planId"));
    req.older_than_hours = json_integer_value(json_object_get(body, "olderThanHours"));
    job = checkpoint_prune(r->store, &req, &err);
    json_decref(body);
    api_reply_job(r, job, &err);
}
