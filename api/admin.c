/*
 * admin.c: the admin listener's resources and the handlers that are not generic, and the health, readiness
 * and metrics endpoints.
 *
 * A resource (api_res_*) tells the generic handlers of resource.c what they need: the kind, its list
 * filters, the field tables below that shape-check its bodies, and the lib/ entry points. The handlers here
 * follow the same rule: parse and shape-check the input, call one lib/ entry point, answer once. Creates
 * answer 201 with Location and ETag; plan PATCH answers 202 with its job. Users, their tokens and
 * subscriptions are in accounts.c.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/catalog.h"
#include "../lib/job.h"

#define JV_END {NULL, 0, 0, 0, 0, NULL, NULL}
#define BIG 1000000000000LL

static const char *const agent_kinds[] = {"sim", "http", "libvirt", NULL};
static const char *const host_states[] = {"ok", "maintenance", NULL};
static const char *const os_types[] = {"windows", "linux", NULL};
static const char *const plan_states[] = {"public", "private", "decommissioned", NULL};
static const char *const checkpoint_modes[] = {"disabled", "viewRestore", "createViewRestore",
                                               NULL};

static const jv_field_t cloud_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 128, NULL, NULL},
    {"description", JV_STRING, JV_NULLABLE, 0, 1024, NULL, NULL},
    JV_END,
};

static const jv_field_t agent_spec[] = {
    {"kind", JV_STRING, JV_REQUIRED, 1, 16, agent_kinds, NULL},
    {"uri", JV_STRING, JV_NULLABLE, 1, 1024, NULL, NULL},
    JV_END,
};
static const jv_field_t agent_patch_spec[] = {
    {"uri", JV_STRING, JV_NULLABLE, 1, 1024, NULL, NULL},
    JV_END,
};
static const jv_field_t capacity_spec[] = {
    {"cores", JV_INT, JV_REQUIRED, 1, 1000000, NULL, NULL},
    {"memoryMB", JV_INT, JV_REQUIRED, 1, BIG, NULL, NULL},
    {"storageGB", JV_INT, JV_REQUIRED, 1, BIG, NULL, NULL},
    JV_END,
};
static const jv_field_t host_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 128, NULL, NULL},
    {"cloudId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {"agent", JV_OBJECT, JV_REQUIRED, 0, 0, NULL, agent_spec},
    {"capacity", JV_OBJECT, JV_REQUIRED, 0, 0, NULL, capacity_spec},
    JV_END,
};
static const jv_field_t host_patch_spec[] = {
    {"name", JV_STRING, 0, 1, 128, NULL, NULL},
    {"state", JV_STRING, 0, 1, 32, host_states, NULL},
    {"agent", JV_OBJECT, 0, 0, 0, NULL, agent_patch_spec},
    {"capacity", JV_OBJECT, 0, 0, 0, NULL, capacity_spec},
    JV_END,
};

static const jv_field_t size_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {"cores", JV_INT, JV_REQUIRED, 1, 1024, NULL, NULL},
    {"memoryMB", JV_INT, JV_REQUIRED, 1, 16LL * 1024 * 1024, NULL, NULL},
    JV_END,
};

static const jv_field_t image_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 128, NULL, NULL},
    {"osType", JV_STRING, JV_REQUIRED, 1, 16, os_types, NULL},
    {"generation", JV_INT, JV_REQUIRED, 1, 2, NULL, NULL},
    {"osDiskGB", JV_INT, JV_REQUIRED, 1, 65536, NULL, NULL},
    JV_END,
};

static const jv_field_t gallery_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 128, NULL, NULL},
    {"version", JV_STRING, JV_REQUIRED, 1, 32, NULL, NULL},
    {"imageId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {"defaultSize", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {"minInstances", JV_INT, JV_REQUIRED, 0, 1000, NULL, NULL},
    {"maxInstances", JV_INT, JV_REQUIRED, 1, 1000, NULL, NULL},
    JV_END,
};

static const jv_field_t quota_spec[] = {
    {"vms", JV_INT, JV_NULLABLE, 0, BIG, NULL, NULL},
    {"cores", JV_INT, JV_NULLABLE, 0, BIG, NULL, NULL},
    {"memoryMB", JV_INT, JV_NULLABLE, 0, BIG, NULL, NULL},
    {"storageGB", JV_INT, JV_NULLABLE, 0, BIG, NULL, NULL},
    {"vmRoles", JV_INT, JV_NULLABLE, 0, BIG, NULL, NULL},
    {"networks", JV_INT, JV_NULLABLE, 0, BIG, NULL, NULL},
    JV_END,
};
#define PLAN_SETTINGS                                                                              \
    {"name", JV_STRING, 0, 1, 128, NULL, NULL},                                                    \
        {"state", JV_STRING, 0, 1, 32, plan_states, NULL},                                         \
        {"quotas", JV_OBJECT, JV_NULLABLE, 0, 0, NULL, quota_spec},                                \
        {"imageIds", JV_STRING_ARRAY, JV_NULLABLE | JV_UUID, 0, 0, NULL, NULL},                    \
        {"sizeNames", JV_STRING_ARRAY, JV_NULLABLE, 1, 64, NULL, NULL},                            \
        {"galleryItemIds", JV_STRING_ARRAY, JV_NULLABLE | JV_UUID, 0, 0, NULL, NULL},              \
        {"checkpointMode", JV_STRING, 0, 1, 32, checkpoint_modes, NULL},                           \
        {"checkpointRetentionHours", JV_INT, JV_NULLABLE, 1, 876000, NULL, NULL}
static const jv_field_t plan_spec[] = {
    PLAN_SETTINGS,
    {"cloudId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    JV_END,
};
static const jv_field_t plan_patch_spec[] = {
    PLAN_SETTINGS,
    JV_END,
};

/* ---- the resources the generic handlers serve ---- */

static const char *const host_filters[] = {"cloudId", "state", NULL};
static const char *const plan_filters[] = {"cloudId", "state", NULL};

const api_resource_t api_res_clouds = {
    .kind = &store_kind_cloud,
    .create_spec = cloud_spec,
    .create = catalog_cloud_create,
    .patch_spec = cloud_spec,
    .update = catalog_cloud_update,
    .remove = catalog_cloud_delete,
};
const api_resource_t api_res_hosts = {
    .kind = &store_kind_host,
    .filters = host_filters,
    .create_spec = host_spec,
    .create = catalog_host_create,
    .patch_spec = host_patch_spec,
    .update = catalog_host_update,
    .remove = catalog_host_delete,
};
const api_resource_t api_res_sizes = {
    .kind = &store_kind_size,
    .create_spec = size_spec,
    .create = catalog_size_create,
};
const api_resource_t api_res_images = {
    .kind = &store_kind_image,
    .create_spec = image_spec,
    .create = catalog_image_create,
};
const api_resource_t api_res_gallery_items = {
    .kind = &store_kind_gallery_item,
    .create_spec = gallery_spec,
    .create = catalog_gallery_item_create,
};
/* A plan's PATCH is a job: subscriptions take the new settings when it has run. */
const api_resource_t api_res_plans = {
    .kind = &store_kind_plan,
    .filters = plan_filters,
    .create_spec = plan_spec,
    .create = catalog_plan_create,
    .patch_spec = plan_patch_spec,
    .update = catalog_plan_update,
    .update_job = true,
    .remove = catalog_plan_delete,
};
/* ---- health, readiness, metrics ---- */

void
api_health_get(api_req_t *r)
{
    api_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void
api_ready_get(api_req_t *r)
{
    err_t err = {0};
    int db = store_ping(r->store, &err) == 0;

    if (db && r->ctx->ready && job_engine_running())
        api_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
    else
        api_reply_json(r, 503,
                       json_pack("{s:s, s:{s:b, s:b}}", "status", "notReady", "checks", "database",
                                 db, "workers", job_engine_running()));
}

void
api_metrics_get(api_req_t *r)
{
    char *text = api_metrics_render();

    if (text == NULL) {
        api_reply_error(r, ERR_INTERNAL, NULL, "The metrics could not be rendered.");
        return;
    }
    api_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}
