/*
 * snapshot.c: the tenant's disk snapshots and their copies (lib/snapshot.h decides everything; these
 * handlers parse, call one entry point and reply once).
 *
 * Invariants: a snapshot id in the path that is not the caller's is 404 on every path, before its body is
 * read; a take or a copy answers 202 with the new snapshot and a Location naming its job; a delete answers
 * 202 with its job.
 */
#include "internal.h"
#include "requests.h"
#include "vmctx.h"

#include "../lib/snapshot.h"

static const jv_field_t create_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {"vmId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {"lun", JV_INT, JV_NULLABLE, 0, 63, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_snapshot_create = create_spec;
static const jv_field_t copy_spec[] = {
    {"cloudId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_snapshot_copy = copy_spec;

/* 202 with the new snapshot's view and its job's Location, or the error. */
static void
reply_made(api_req_t *r, json_t *view, json_t *job, const err_t *err)
{
    if (view == NULL)
        api_reply_err(r, err);
    else
        api_reply_accepted(r, view, json_string_value(json_object_get(job, "id")));
    json_decref(job);
}

void
api_tenant_snapshots_list(api_req_t *r)
{
    api_list_keyed(r, snapshot_list, r->params[0]);
}

void
api_tenant_snapshots_create(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    snapshot_create_req_t req = {0};
    json_t *body = api_body(r, create_spec, false, false), *view, *job = NULL, *lun;
    err_t err = {0};

    if (body == NULL)
        return;
    lun = json_object_get(body, "lun");
    req.name = json_string_value(json_object_get(body, "name"));
    req.vm_id = json_string_value(json_object_get(body, "vmId"));
    req.has_lun = json_is_integer(lun);
    req.lun = req.has_lun ? (int) json_integer_value(lun) : -1;
    view = snapshot_create(r->store, &c, &req, &job, &err);
    json_decref(body);
    reply_made(r, view, job, &err);
}

void
api_tenant_snapshot_get(api_req_t *r)
{
    err_t err = {0};
    int64_t rev = 0;
    json_t *view = snapshot_get(r->store, r->params[0], r->params[1], &rev, &err);

    if (view == NULL)
        api_reply_err(r, &err);
    else
        api_reply_record(r, 200, view, rev);
}

void
api_tenant_snapshot_delete(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    int64_t rev;

    if (api_if_match(r, &rev))
        return;
    api_reply_job(r, snapshot_delete(r->store, &c, r->params[1], rev, &err), &err);
}

void
api_tenant_snapshot_copy(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    json_t *body, *view, *job = NULL;
    err_t err = {0};

    /* 404 before 400: the snapshot in the path must be the caller's before its body is read. */
    if ((view = snapshot_get(r->store, r->params[0], r->params[1], NULL, &err)) == NULL) {
        api_reply_err(r, &err);
        return;
    }
    json_decref(view);
    if ((body = api_body(r, copy_spec, false, false)) == NULL)
        return;
    view = snapshot_copy(r->store, &c, r->params[1],
                         json_string_value(json_object_get(body, "cloudId")), &job, &err);
    json_decref(body);
    reply_made(r, view, job, &err);
}
