/*
 * router.c: the route table of both listeners and the path matcher.
 *
 * One row per path: its listener, its pattern, a handler per method and, for the generic handlers of
 * resource.c (LIST, CREATE, GET, PATCH, REMOVE below), the resource they serve. A path either matches one
 * row (and its {name} segments become the request's params, in order) or none (404). A method without a handler on a
 * matched row is 405 with Allow. HEAD is served on every row with a GET, as that GET (see api_req_new), and
 * Allow names it there. Segments are compared after libmicrohttpd has percent-decoded the path, so
 * "%2e%2e" is "..", which matches nothing.
 */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define A API_LISTENER_ADMIN
#define T API_LISTENER_TENANT
/*                GET, POST, PUT, PATCH, DELETE */
#define H(g, po, pu, pa, d)                                                                        \
    {                                                                                              \
        g, po, pu, pa, d                                                                           \
    }
/* The generic handlers of resource.c, which read the row's resource. */
#define LIST api_resource_list
#define CREATE api_resource_create
#define GET api_resource_get
#define PATCH api_resource_patch
#define REMOVE api_resource_remove

const api_route_t api_routes[] = {
    {A, "/healthz", H(api_health_get, NULL, NULL, NULL, NULL), API_ROUTE_PUBLIC, NULL},
    {A, "/readyz", H(api_ready_get, NULL, NULL, NULL, NULL), API_ROUTE_PUBLIC, NULL},
    {A, "/metrics", H(api_metrics_get, NULL, NULL, NULL, NULL), API_ROUTE_PUBLIC, NULL},
    {A, "/usage", H(api_wap_usage, NULL, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/clouds", H(LIST, CREATE, NULL, NULL, NULL), 0, &api_res_clouds},
    {A, "/v1/admin/clouds/{id}", H(GET, NULL, NULL, PATCH, REMOVE), 0, &api_res_clouds},
    {A, "/v1/admin/hosts", H(LIST, CREATE, NULL, NULL, NULL), 0, &api_res_hosts},
    {A, "/v1/admin/hosts/{id}", H(GET, NULL, NULL, PATCH, REMOVE), 0, &api_res_hosts},
    {A, "/v1/admin/hosts/{id}/refresh", H(NULL, api_admin_host_refresh, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/hosts/{id}/unmanaged", H(api_admin_host_unmanaged, NULL, NULL, NULL, NULL), 0,
     NULL},
    {A, "/v1/admin/hosts/{id}/simulate", H(NULL, api_admin_host_simulate, NULL, NULL, NULL), 0,
     NULL},
    {A, "/v1/admin/sizes", H(LIST, CREATE, NULL, NULL, NULL), 0, &api_res_sizes},
    {A, "/v1/admin/sizes/{id}", H(GET, NULL, NULL, PATCH, REMOVE), 0, &api_res_sizes},
    {A, "/v1/admin/images", H(LIST, CREATE, NULL, NULL, NULL), 0, &api_res_images},
    {A, "/v1/admin/images/{id}", H(GET, NULL, NULL, PATCH, REMOVE), 0, &api_res_images},
    {A, "/v1/admin/galleryItems", H(LIST, CREATE, NULL, NULL, NULL), 0, &api_res_gallery_items},
    {A, "/v1/admin/galleryItems/{id}", H(GET, NULL, NULL, PATCH, REMOVE), 0, &api_res_gallery_items},
    {A, "/v1/admin/plans", H(LIST, CREATE, NULL, NULL, NULL), 0, &api_res_plans},
    {A, "/v1/admin/plans/{id}", H(GET, NULL, NULL, PATCH, REMOVE), 0, &api_res_plans},
    {A, "/v1/admin/users", H(LIST, CREATE, NULL, NULL, NULL), 0, &api_res_users},
    {A, "/v1/admin/users/{id}", H(GET, NULL, NULL, PATCH, REMOVE), 0, &api_res_users},
    {A, "/v1/admin/users/{id}/tokens", H(api_admin_tokens_list, api_admin_tokens_create, NULL, NULL,
     NULL), 0, NULL},
    {A, "/v1/admin/users/{id}/tokens/{tokenId}", H(NULL, NULL, NULL, NULL, api_admin_token_delete),
     0, NULL},
    {A, "/v1/admin/tokens", H(LIST, api_admin_token_create, NULL, NULL, NULL), 0,
     &api_res_admin_tokens},
    {A, "/v1/admin/tokens/{id}", H(GET, NULL, NULL, NULL, REMOVE), 0, &api_res_admin_tokens},
    {A, "/v1/admin/backup", H(api_admin_backup_get, NULL, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/subscriptions", H(LIST, CREATE, NULL, NULL, NULL), 0, &api_res_subscriptions},
    {A, "/v1/admin/subscriptions/{id}",
     H(GET, NULL, NULL, api_admin_subscription_patch, api_admin_subscription_delete), 0,
     &api_res_subscriptions},
    {A, "/v1/admin/subscriptions/{id}/reconcile",
     H(NULL, api_admin_subscription_reconcile, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/vms", H(api_admin_vms_list, NULL, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/vms/{id}", H(api_admin_vm_get, NULL, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/vms/{id}/reassociate", H(NULL, api_admin_vm_reassociate, NULL, NULL, NULL), 0,
     NULL},
    {A, "/v1/admin/vms/{id}/migrate", H(NULL, api_admin_vm_migrate, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/vmroles/{id}/join", H(NULL, api_admin_vmrole_join, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/vms/{id}/checkpoint", H(NULL, NULL, NULL, NULL, api_admin_checkpoint_delete), 0,
     NULL},
    {A, "/v1/admin/checkpoints/prune", H(NULL, api_admin_checkpoints_prune, NULL, NULL, NULL), 0,
     NULL},
    {A, "/v1/admin/usage", H(api_admin_usage, NULL, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/usage/ack", H(NULL, api_admin_usage_ack, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/hooks", H(LIST, CREATE, NULL, NULL, NULL), 0, &api_res_hooks},
    {A, "/v1/admin/hooks/{id}", H(GET, NULL, NULL, PATCH, REMOVE), 0, &api_res_hooks},
    {A, "/v1/admin/hooks/{id}/deliveries", H(api_admin_hook_deliveries, NULL, NULL, NULL, NULL), 0,
     NULL},
    {A, "/v1/admin/hooks/{id}/deliveries/{did}/redeliver",
     H(NULL, api_admin_hook_redeliver, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/events", H(api_admin_events, NULL, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/jobs", H(api_jobs_list, NULL, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/jobs/{id}", H(api_jobs_get, NULL, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/jobs/{id}/cancel", H(NULL, api_jobs_cancel, NULL, NULL, NULL), 0, NULL},
    {A, "/v1/admin/jobs/{id}/restart", H(NULL, api_jobs_restart, NULL, NULL, NULL), 0, NULL},

    {T, "/healthz", H(api_health_get, NULL, NULL, NULL, NULL), API_ROUTE_PUBLIC, NULL},
    {T, "/v1/subscriptions", H(api_tenant_subscriptions_list, NULL, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}", H(api_tenant_subscription_get, NULL, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/images", H(api_tenant_images_list, NULL, NULL, NULL, NULL), 0,
     NULL},
    {T, "/v1/subscriptions/{sid}/images/{id}",
     H(api_tenant_image_get, NULL, NULL, NULL, api_tenant_image_delete), 0, NULL},
    {T, "/v1/subscriptions/{sid}/snapshots",
     H(api_tenant_snapshots_list, api_tenant_snapshots_create, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/snapshots/{id}",
     H(api_tenant_snapshot_get, NULL, NULL, NULL, api_tenant_snapshot_delete), 0, NULL},
    {T, "/v1/subscriptions/{sid}/snapshots/{id}/copy",
     H(NULL, api_tenant_snapshot_copy, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/sizes", H(api_tenant_sizes_list, NULL, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/galleryItems", H(api_tenant_gallery_list, NULL, NULL, NULL, NULL),
     0, NULL},
    {T, "/v1/subscriptions/{sid}/vms", H(api_tenant_vms_list, api_tenant_vms_create, NULL, NULL,
     NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/vms/{id}",
     H(api_tenant_vm_get, NULL, NULL, api_tenant_vm_patch, api_tenant_vm_delete), 0, NULL},
    {T, "/v1/subscriptions/{sid}/vms/{id}/disks",
     H(NULL, api_tenant_vm_disk_attach, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/vms/{id}/disks/{lun}",
     H(NULL, NULL, NULL, NULL, api_tenant_vm_disk_detach), 0, NULL},
    {T, "/v1/subscriptions/{sid}/vms/{id}/checkpoint",
     H(api_tenant_checkpoint_get, NULL, api_tenant_checkpoint_put, NULL,
       api_tenant_checkpoint_delete), 0, NULL},
    {T, "/v1/subscriptions/{sid}/vms/{id}/checkpoint/restore",
     H(NULL, api_tenant_checkpoint_restore, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/vms/{id}/generalize",
     H(NULL, api_tenant_vm_generalize, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/vms/{id}/capture", H(NULL, api_tenant_vm_capture, NULL, NULL, NULL),
     0, NULL},
    /* After every fixed /vms/{id}/… path: the power actions. */
    {T, "/v1/subscriptions/{sid}/vms/{id}/{action}", H(NULL, api_tenant_vm_action, NULL, NULL, NULL),
     0, NULL},
    {T, "/v1/subscriptions/{sid}/vmroles",
     H(api_tenant_vmroles_list, api_tenant_vmroles_create, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/vmroles/{id}",
     H(api_tenant_vmrole_get, NULL, NULL, NULL, api_tenant_vmrole_delete), 0, NULL},
    {T, "/v1/subscriptions/{sid}/vmroles/{id}/scale",
     H(NULL, api_tenant_vmrole_scale, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/networks",
     H(api_tenant_networks_list, api_tenant_networks_create, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/networks/{id}",
     H(api_tenant_network_get, NULL, NULL, NULL, api_tenant_network_delete), 0, NULL},
    {T, "/v1/subscriptions/{sid}/usage", H(api_tenant_usage, NULL, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/jobs", H(api_jobs_list, NULL, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/jobs/{id}", H(api_jobs_get, NULL, NULL, NULL, NULL), 0, NULL},
    {T, "/v1/subscriptions/{sid}/jobs/{id}/cancel", H(NULL, api_jobs_cancel, NULL, NULL, NULL), 0,
     NULL},
    {T, "/v1/subscriptions/{sid}/jobs/{id}/restart", H(NULL, api_jobs_restart, NULL, NULL, NULL), 0,
     NULL},
};

const int api_route_count = (int) (sizeof(api_routes) / sizeof(api_routes[0]));
const api_route_table_t api_route_table = {api_routes, (int) (sizeof(api_routes) / sizeof(api_routes[0]))};

static const char *const method_names[API__METHODS] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

api_method_t
api_method_parse(const char *method)
{
    int i;

    for (i = 0; i < API__METHODS; i++)
        if (strcmp(method, method_names[i]) == 0)
            return (api_method_t) i;
    return API__METHODS;
}

void
api_route_allow(const api_route_t *route, char *buf, size_t n)
{
    size_t len = 0;
    int i;

    buf[0] = '\0';
    for (i = 0; i < API__METHODS; i++) {
        if (route->handlers[i] == NULL)
            continue;
        /* HEAD is served wherever GET is (as a GET without its body) */
        len += (size_t) snprintf(buf + len, len < n ? n - len : 0, "%s%s%s", len ? ", " : "",
                                 method_names[i], i == API_GET ? ", HEAD" : "");
        if (len >= n)
            break;
    }
}

/* Matches one pattern; on success fills r->params (owned copies). */
static int
match(api_req_t *r, const char *pattern, const char *path)
{
    const char *p = pattern, *s = path, *pe, *se;
    char *params[API_MAX_PARAMS];
    int n = 0, i;

    while (*p && *s) {
        if (*p != '/' || *s != '/')
            goto no;
        p++;
        s++;
        pe = p + strcspn(p, "/");
        se = s + strcspn(s, "/");
        if (*p == '{') {
            if (se == s || n == API_MAX_PARAMS)
                goto no;
            params[n] = strndup(s, (size_t) (se - s));
            if (params[n] == NULL)
                goto no;
            n++;
        } else if (pe - p != se - s || strncmp(p, s, (size_t) (pe - p)) != 0) {
            goto no;
        }
        p = pe;
        s = se;
    }
    if (*p || *s)
        goto no;
    for (i = 0; i < n; i++)
        r->params[i] = params[i];
    r->nparams = n;
    return 1;
no:
    for (i = 0; i < n; i++)
        free(params[i]);
    return 0;
}

const api_route_t *
api_route_find(const api_route_table_t *table, api_req_t *r, api_listener_t listener, const char *path)
{
    int i;

    assert(table != NULL && r != NULL && path != NULL && r->nparams == 0);
    for (i = 0; i < table->count; i++)
        if (table->rows[i].listener == listener && match(r, table->rows[i].pattern, path))
            return &table->rows[i];
    return NULL;
}

const api_route_t *
api_route_match(api_req_t *r, api_listener_t listener, const char *path)
{
    return api_route_find(&api_route_table, r, listener, path);
}
