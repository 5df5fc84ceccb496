/*
 * inventory.c: the admin's host inventory endpoints (refresh, unmanaged, simulate), VM re-association and
 * VM role join. Simulate, reassociate and join answer at once (200); refresh is a job (202).
 */
#include "internal.h"

#include "../lib/inventory.h"
#include "../lib/vmrole.h"

static const jv_field_t simulate_spec[] = {
    {"regenerateIds", JV_STRING_ARRAY, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const jv_field_t target_spec[] = {
    {"hostId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {"hypervisorId", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const jv_field_t join_spec[] = {
    {"vmId", JV_STRING, JV_UUID, 0, 0, NULL, NULL},
    {"hostId", JV_STRING, JV_UUID, 0, 0, NULL, NULL},
    {"hypervisorId", JV_STRING, 0, 1, 64, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

void
api_admin_host_refresh(api_req_t *r)
{
    err_t err = {0};

    api_reply_job(r, inventory_refresh(r->store, r->params[0], &err), &err);
}

void
api_admin_host_unmanaged(api_req_t *r)
{
    err_t err = {0};
    json_t *list = inventory_unmanaged(r->store, r->params[0], &err);

    if (list == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_json(r, 200, json_pack("{s:o}", "value", list));
}

/* 200 with out, or the error. */
static void
reply_ok(api_req_t *r, json_t *out, const err_t *err)
{
    if (out == NULL)
        api_reply_err(r, err);
    else
        api_reply_json(r, 200, out);
}

typedef json_t *(*body_fn)(store_t *st, const char *id, const json_t *body, err_t *err);

/* The body checked against spec, then fn on the path's id with it. */
static void
call_with_body(api_req_t *r, const jv_field_t *spec, body_fn fn)
{
    err_t err = {0};
    json_t *body = api_body(r, spec, false, false), *out;

    if (body == NULL)
        return;
    out = fn(r->store, r->params[0], body, &err);
    json_decref(body);
    reply_ok(r, out, &err);
}

void
api_admin_host_simulate(api_req_t *r)
{
    err_t err = {0};
    json_t *out;

    /* 404 for a missing host comes before the body. */
    out = inventory_unmanaged(r->store, r->params[0], &err);
    if (out == NULL) {
        api_reply_err(r, &err);
        return;
    }
    json_decref(out);
    call_with_body(r, simulate_spec, inventory_simulate);
}

void
api_admin_vm_reassociate(api_req_t *r)
{
    call_with_body(r, target_spec, inventory_reassociate);
}

void
api_admin_vmrole_join(api_req_t *r)
{
    call_with_body(r, join_spec, vmrole_join);
}
