/*
 * admin.c: the admin listener's resources and the handlers that are not generic, and the health, readiness
 * and metrics endpoints.
 *
 * A resource (api_res_*) tells the generic handlers of resource.c what they need: the kind, its list
 * filters, the field tables below that shape-check its bodies, and the lib/ entry points. The handlers here
 * follow the same rule: parse and shape-check the input, call one lib/ entry point, answer once. Creates
 * answer 201 with Location and ETag; plan PATCH and subscription suspend and DELETE answer 202 with their job.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/accounts.h"
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
static const char *const subscription_states[] = {"active", "suspended", NULL};

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

static const jv_field_t user_spec[] = {
    {"email", JV_STRING, JV_REQUIRED | JV_EMAIL, 3, 254, NULL, NULL},
    {"name", JV_STRING, JV_NULLABLE, 0, 128, NULL, NULL},
    JV_END,
};
static const jv_field_t token_spec[] = {
    {"expiresInDays", JV_INT, 0, 1, 3650, NULL, NULL},
    JV_END,
};

static const jv_field_t subscription_spec[] = {
    {"userId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {"planId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {"displayName", JV_STRING, 0, 1, 128, NULL, NULL},
    JV_END,
};
static const jv_field_t subscription_patch_spec[] = {
    {"state", JV_STRING, 0, 1, 32, subscription_states, NULL},
    {"displayName", JV_STRING, 0, 1, 128, NULL, NULL},
    JV_END,
};

/* ---- the resources the generic handlers serve ---- */

static const char *const host_filters[] = {"cloudId", "state", NULL};
static const char *const plan_filters[] = {"cloudId", "state", NULL};
static const char *const user_filters[] = {"email", NULL};
static const char *const subscription_filters[] = {"userId", "planId", "state", NULL};

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
const api_resource_t api_res_users = {
    .kind = &store_kind_user,
    .filters = user_filters,
    .create_spec = user_spec,
    .create = accounts_user_create,
};
/* PATCH and DELETE of a subscription may answer a job: their handlers are below. */
const api_resource_t api_res_subscriptions = {
    .kind = &store_kind_subscription,
    .filters = subscription_filters,
    .create_spec = subscription_spec,
    .create = accounts_subscription_create,
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

/* ---- a user's tokens ---- */

void
api_admin_tokens_list(api_req_t *r)
{
    store_filter_t f = {.field = "userId", .op = STORE_FILTER_EQ, .value = r->params[0]};
    int64_t after, next = 0;
    err_t err = {0};
    json_t *user, *list, *tok;
    size_t i;
    int limit;

    if (api_paging(r, &limit, &after))
        return;
    user = store_rec_get_shared(r->store, &store_kind_user, r->params[0], NULL, &err);
    if (user == NULL) {
        api_reply_err(r, &err);
        return;
    }
    json_decref(user);
    list = store_rec_list(r->store, &store_kind_token, &f, 1, after, limit, &next, &err);
    if (list == NULL) {
        api_reply_err(r, &err);
        return;
    }
    json_array_foreach(list, i, tok)
        json_object_del(tok, "hash"); /* never leaves the store */
    api_reply_page(r, list, limit, next);
}

/* The token itself is in this answer only: it is stored as its hash. */
void
api_admin_tokens_create(api_req_t *r)
{
    err_t err = {0};
    json_t *body = api_body(r, token_spec, false, true);

    if (body != NULL) {
        api_reply_or_err(r, 201, accounts_token_create(r->store, r->params[0], body, &err), &err);
        json_decref(body);
    }
}

void
api_admin_token_delete(api_req_t *r)
{
    err_t err = {0};

    if (accounts_token_revoke(r->store, r->params[0], r->params[1], &err))
        api_reply_err(r, &err);
    else
        api_reply_no_content(r);
}

/* ---- subscriptions: suspending and deleting are jobs ---- */

void
api_admin_subscription_patch(api_req_t *r)
{
    err_t err = {0};
    int64_t rev;
    json_t *body, *rec, *job = NULL;

    if (api_if_match(r, &rev) ||
        (body = api_body(r, subscription_patch_spec, true, false)) == NULL)
        return;
    rec = accounts_subscription_update(r->store, r->params[0], body, rev, &job, &err);
    json_decref(body);
    if (rec == NULL) {
        api_reply_err(r, &err);
        return;
    }
    json_decref(rec);
    if (job != NULL)
        api_reply_job(r, job, &err);
    else
        api_get_kind(r, &store_kind_subscription, r->params[0]);
}

void
api_admin_subscription_delete(api_req_t *r)
{
    err_t err = {0};
    int64_t rev;

    if (api_if_match(r, &rev) == 0)
        api_reply_job(r, accounts_subscription_delete(r->store, r->params[0], rev, &err), &err);
}
