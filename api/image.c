/*
 * image.c: handlers of generalize, capture and a subscription's images (tenant API).
 *
 * The VM in the path must be the caller's (404) before its body is read; a capture answers 202 with the new
 * private image and a Location naming its job. An image id answers a private image of the path's
 * subscription or an image its plan offers; anything else is 404, exactly as a missing image.
 */
#include "internal.h"
#include "vmctx.h"

#include "../lib/vm.h"

static const jv_field_t capture_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const jv_field_t no_fields[] = {
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

/* The VM of the path, the caller's: replies 404 and returns -1 when it is not. */
static int
vm_of_path_or_reply(api_req_t *r)
{
    err_t err = {0};
    json_t *vm = vm_get(r->store, r->params[0], r->params[1], false, NULL, &err);

    if (vm == NULL) {
        api_reply_err(r, &err);
        return -1;
    }
    json_decref(vm);
    return 0;
}

void
api_tenant_vm_generalize(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    json_t *body;

    if (vm_of_path_or_reply(r))
        return;
    if ((body = api_body(r, no_fields, false, true)) == NULL)
        return;
    json_decref(body);
    api_reply_job(r, vm_generalize(r->store, &c, r->params[1], &err), &err);
}

void
api_tenant_vm_capture(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};
    json_t *body, *image, *job = NULL;

    if (vm_of_path_or_reply(r))
        return;
    if ((body = api_body(r, capture_spec, false, false)) == NULL)
        return;
    image = vm_capture(r->store, &c, r->params[1], json_string_value(json_object_get(body, "name")),
                       &job, &err);
    json_decref(body);
    if (image == NULL) {
        api_reply_err(r, &err);
        return;
    }
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

    if (view == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_record(r, 200, view, rev);
}

void
api_tenant_image_delete(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    err_t err = {0};

    if (vm_image_delete(r->store, &c, r->params[1], &err) == 0)
        api_reply_no_content(r);
    else
        api_reply_err(r, &err);
}
