/*
 * migrate.c: POST /v1/admin/vms/{id}/migrate {hostId}: moves a VM to another host (lib/vm/migrate.h).
 *
 * The body is strict (hostId, a UUID; any other field is 400); the answer is 202 with the vm.migrate job
 * and its Location, as every 202 but a create's carries its job.
 */
#include <assert.h>

#include "internal.h"
#include "requests.h"

#include "../lib/vm/migrate.h"

static const jv_field_t migrate_spec[] = {
    {"hostId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_vm_migrate = migrate_spec;

void
api_admin_vm_migrate(api_req_t *r)
{
    err_t err = {0};
    json_t *body, *job;

    assert(r != NULL && r->params[0] != NULL);
    if ((body = api_body(r, migrate_spec, false, false)) == NULL)
        return;
    job = vm_migrate(r->store, r->params[0], json_string_value(json_object_get(body, "hostId")), &err);
    json_decref(body);
    api_reply_job(r, job, &err);
}
