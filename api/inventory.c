/*
 * inventory.c: the admin's host inventory endpoints (refresh, unmanaged, simulate), VM re-association and
 * VM role join. Simulate, reassociate and join answer at once (200); refresh is a job (202).
 */
#include "internal.h"
#include "requests.h"

#include <stdlib.h>

#include "../lib/inventory.h"
#include "../lib/vmrole.h"

static const jv_field_t simulate_spec[] = {
    {"regenerateIds", JV_STRING_ARRAY, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_host_simulate = simulate_spec;
static const jv_field_t target_spec[] = {
    {"hostId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {"hypervisorId", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_vm_reassociate = target_spec;
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

/* 200 with out, or the error; releases body (the request's, whose strings the call borrowed). */
static void
reply_ok(api_req_t *r, json_t *out, json_t *body, const err_t *err)
{
    json_decref(body);
    if (out == NULL)
        api_reply_err(r, err);
    else
        api_reply_json(r, 200, out);
}

/* A string field of a body api_body checked (borrowed; NULL when absent or null). */
static const char *
str_of(const json_t *body, const char *field)
{
    return json_string_value(json_object_get(body, field));
}

void
api_admin_host_simulate(api_req_t *r)
{
    inventory_simulate_req_t req;
    const json_t *ids;
    const char **vm_ids = NULL;
    err_t err = {0};
    json_t *body, *out;
    size_t i;

    /* 404 for a missing host comes before the body. */
    out = inventory_unmanaged(r->store, r->params[0], &err);
    if (out == NULL) {
        api_reply_err(r, &err);
        return;
    }
    json_decref(out);
    if ((body = api_body(r, simulate_spec, false, false)) == NULL)
        return;
    ids = json_object_get(body, "regenerateIds");
    req.nvms = json_array_size(ids);
    vm_ids = calloc(req.nvms + 1, sizeof(*vm_ids));
    if (vm_ids == NULL) {
        json_decref(body);
        api_reply_error(r, ERR_INTERNAL, NULL, "Out of memory.");
        return;
    }
    for (i = 0; i < req.nvms; i++)
        vm_ids[i] = json_string_value(json_array_get(ids, i));
    req.vm_ids = vm_ids;
    out = inventory_simulate(r->store, r->params[0], &req, &err);
    free(vm_ids);
    reply_ok(r, out, body, &err);
}

void
api_admin_vm_reassociate(api_req_t *r)
{
    err_t err = {0};
    json_t *body = api_body(r, target_spec, false, false);
    inventory_target_t to = {str_of(body, "hostId"), str_of(body, "hypervisorId")};

    if (body != NULL)
        reply_ok(r, inventory_reassociate(r->store, r->params[0], &to, &err), body, &err);
}

void
api_admin_vmrole_join(api_req_t *r)
{
    err_t err = {0};
    json_t *body = api_body(r, join_spec, false, false);
    vmrole_join_req_t req = {str_of(body, "vmId"), str_of(body, "hostId"), str_of(body, "hypervisorId")};

    if (body != NULL)
        reply_ok(r, vmrole_join(r->store, r->params[0], &req, &err), body, &err);
}
