/*
 * requests.c: the table of the routes whose bodies have required fields (requests.h), and the parse that
 * runs a body through a route's field table and typed step, as its handler does before anything else.
 *
 * The catalog's, the accounts' and the hooks' creates are the generic handler's (resource.c), which
 * checks the body against the resource's create_spec: their entries point at it.
 */
#include "requests.h"

#include <assert.h>
#include <string.h>

const api_body_route_t api_body_routes[] = {
    {"POST /v1/admin/clouds", &api_res_clouds.create_spec, NULL},
    {"POST /v1/admin/hosts", &api_res_hosts.create_spec, NULL},
    {"POST /v1/admin/hosts/{id}/simulate", &api_spec_host_simulate, NULL},
    {"POST /v1/admin/sizes", &api_res_sizes.create_spec, NULL},
    {"POST /v1/admin/images", &api_res_images.create_spec, NULL},
    {"POST /v1/admin/galleryItems", &api_res_gallery_items.create_spec, NULL},
    {"POST /v1/admin/plans", &api_res_plans.create_spec, NULL},
    {"POST /v1/admin/users", &api_res_users.create_spec, NULL},
    {"POST /v1/admin/users/{id}/tokens", &api_spec_token_create, NULL},
    {"POST /v1/admin/tokens", &api_spec_admin_token_create, NULL},
    {"POST /v1/admin/subscriptions", &api_res_subscriptions.create_spec, NULL},
    {"POST /v1/admin/vms/{id}/reassociate", &api_spec_vm_reassociate, NULL},
    {"POST /v1/admin/vms/{id}/migrate", &api_spec_vm_migrate, NULL},
    {"POST /v1/admin/checkpoints/prune", &api_spec_checkpoint_prune, NULL},
    {"POST /v1/admin/usage/ack", &api_spec_usage_ack, NULL},
    {"POST /v1/admin/hooks", &api_res_hooks.create_spec, NULL},
    {"POST /v1/subscriptions/{sid}/snapshots", &api_spec_snapshot_create, NULL},
    {"POST /v1/subscriptions/{sid}/snapshots/{id}/copy", &api_spec_snapshot_copy, NULL},
    {"POST /v1/subscriptions/{sid}/vms", &api_spec_vm_create, api_vm_create_typed},
    {"POST /v1/subscriptions/{sid}/vms/{id}/disks", &api_spec_disk_attach, api_disk_attach_typed},
    {"PUT /v1/subscriptions/{sid}/vms/{id}/checkpoint", &api_spec_checkpoint_put, NULL},
    {"POST /v1/subscriptions/{sid}/vms/{id}/capture", &api_spec_vm_capture, NULL},
    {"POST /v1/subscriptions/{sid}/vmroles", &api_spec_vmrole_create, NULL},
    {"POST /v1/subscriptions/{sid}/vmroles/{id}/scale", &api_spec_vmrole_scale, NULL},
    {"POST /v1/subscriptions/{sid}/networks", &api_spec_network_create, NULL},
    {NULL, NULL, NULL},
};

const api_body_route_t *
api_body_route(const char *route)
{
    const api_body_route_t *b;

    assert(route != NULL);
    for (b = api_body_routes; b->route != NULL; b++)
        if (strcmp(b->route, route) == 0)
            return b;
    return NULL;
}

int
api_body_parse(const api_body_route_t *b, const json_t *body, err_t *err, json_t **details)
{
    assert(b != NULL && b->spec != NULL && *b->spec != NULL && body != NULL);
    if (api_json_check(body, *b->spec, false, err, details))
        return -1;
    return b->typed != NULL ? b->typed(body, err) : 0;
}
