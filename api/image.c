/*
 * image.c: handlers of generalize, capture and a subscription's images (tenant API).
 *
 * The VM in the path must be the caller's (404) before its body is read; a capture answers 202 with the new
 * private image and a Location naming its job. An image id answers a private image of the path's
 * subscription or an image its plan offers; anything else is 404, exactly as a missing image.
 */
#include "internal.h"
#include "requests.h"
#include "vmctx.h"

#include "../lib/vm.h"

static const jv_field_t capture_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_vm_capture = capture_spec;
static const jv_field_t no_fields[] = {
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

/* The body of a request on the VM of the path, checked against spec; NULL after replying: 404 when the VM
 * is not the caller's (before its body is read), else the body's 400. */
static json_t *
vm_body_or_reply(api_req_t *r, const jv_field_t *spec, bool allow_empty)
{
    err_t err = {0};
    json_t *vm = vm_get(r->store, r->params[0], r->params[1], false, NULL, &err);

    if (vm == NULL)
        api_reply_err(r, &err);
    json_decref(vm);
    return vm ? api_body(r, spec, false, allow_empty) : NULL;
}

void
api_tenant_vm_generalize(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    json_t *body = vm_body_or_reply(r, no_fields, true);

    json_decref(body);
    if (body != NULL)
        api_reply_job(r, vm_generalize(r->store, &c, r->params[1], &err), &err);
}

void
api_tenant_vm_capture(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    json_t *body = vm_body_or_reply(r, capture_spec, false), *image = NULL, *job = NULL;

    if (body == NULL)
        return;
    image = vm_capture(r->store, &c, r->params[1], json_string_value(json_object_get(body, "name")),
                       &job, &err);
    json_decref(body);
    if (image == NULL)
        api_reply_err(r, &err);
    else
        api_reply_accepted(r, image, json_string_value(json_object_get(job, "id")));
    json_decref(job);
}

void
api_tenant_image_get(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    int64_t rev = 0;
    json_t *view = vm_image_get(r->store, &c, r->params[1], &rev, &err);

    if (view != NULL)
        api_reply_record(r, 200, view, rev);
    else
        api_reply_err(r, &err);
}

void
api_tenant_image_delete(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    int64_t rev;

    if (api_if_match(r, &rev))
        return;
    if (vm_image_delete(r->store, &c, r->params[1], rev, &err) == 0)
        api_reply_no_content(r);
    else
        api_reply_err(r, &err);
}
