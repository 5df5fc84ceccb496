/*
 * admin.c: handlers of the admin listener, and the health, readiness and metrics endpoints.
 *
 * Each handler parses and shape-checks its input with the field tables below, calls one lib/ entry point and
 * answers once. Creates answer 201 with Location and ETag; plan PATCH and subscription suspend and DELETE
 * answer 202 with their job.
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

/* ---- shared helpers ---- */

void
api_list_kind_views(api_req_t *r, const store_kind_t *kind, const store_filter_t *filters, size_t n,
                    api_view_fn view)
{
    int64_t after, next = 0;
    err_t err = {0};
    json_t *list, *views, *rec, *one;
    size_t i;
    int limit;

    if (api_paging(r, &limit, &after))
        return;
    list = store_rec_list(r->store, kind, filters, n, after, limit, &next, &err);
    if (list == NULL) {
        api_reply_err(r, &err);
        return;
    }
    if (view != NULL) {
        views = json_array();
        json_array_foreach(list, i, rec) {
            one = view(r->store, rec, &err);
            if (one == NULL) {
                json_decref(list);
                json_decref(views);
                api_reply_err(r, &err);
                return;
            }
            json_array_append_new(views, one);
        }
        json_decref(list);
        list = views;
    }
    api_reply_page(r, list, limit, next);
}

void
api_list_kind(api_req_t *r, const store_kind_t *kind, const store_filter_t *filters, size_t n)
{
    api_list_kind_views(r, kind, filters, n, NULL);
}

void
api_get_kind_view(api_req_t *r, const store_kind_t *kind, const char *id, int status,
                  api_view_fn view)
{
    err_t err = {0};
    int64_t rev = 0;
    /* Only serialized (or copied by the view): the shared (cached) record saves a copy. */
    json_t *rec = store_rec_get_shared(r->store, kind, id, &rev, &err), *one;

    if (rec != NULL && view != NULL) {
        one = view(r->store, rec, &err);
        json_decref(rec);
        rec = one;
    }
    if (rec == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_record(r, status, rec, rev);
}

void
api_get_kind(api_req_t *r, const store_kind_t *kind, const char *id)
{
    api_get_kind_view(r, kind, id, 200, NULL);
}

/* Lists with the EQ filters named (query parameter = field), skipping those not given. */
static void
list_filtered(api_req_t *r, const store_kind_t *kind, const char *const *fields)
{
    store_filter_t f[8];
    size_t n = 0, i;
    const char *v;

    for (i = 0; fields && fields[i] && n < 8; i++) {
        v = api_query(r, fields[i]);
        if (v == NULL)
            continue;
        f[n].field = fields[i];
        f[n].op = STORE_FILTER_EQ;
        f[n].value = v;
        f[n].values = NULL;
        n++;
    }
    api_list_kind(r, kind, f, n);
}

typedef json_t *(*create_fn)(store_t *st, const json_t *body, err_t *err);
typedef json_t *(*update_fn)(store_t *st, const char *id, const json_t *patch, int64_t rev,
                             err_t *err);
typedef int (*delete_fn)(store_t *st, const char *id, int64_t rev, err_t *err);

/* Creates through fn and answers 201 with the record as stored (the same shape a GET shows). */
static void
create_with(api_req_t *r, const jv_field_t *spec, create_fn fn, const store_kind_t *kind,
            const char *collection)
{
    err_t err = {0};
    json_t *body = api_body(r, spec, false, false), *rec;
    int64_t rev = 0;

    if (body == NULL)
        return;
    rec = fn(r->store, body, &err);
    json_decref(body);
    if (rec == NULL) {
        api_reply_err(r, &err);
        return;
    }
    snprintf(r->location, sizeof(r->location), "%s/%s", collection,
             json_string_value(json_object_get(rec, "id")));
    body = store_rec_get(r->store, kind, json_string_value(json_object_get(rec, "id")), &rev, &err);
    json_decref(rec);
    if (body == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_record(r, 201, body, rev);
}

static void
update_with(api_req_t *r, const jv_field_t *spec, update_fn fn, const store_kind_t *kind)
{
    err_t err = {0};
    int64_t rev;
    json_t *body, *rec;

    if (api_if_match(r, &rev) || (body = api_body(r, spec, true, false)) == NULL)
        return;
    rec = fn(r->store, r->params[0], body, rev, &err);
    json_decref(body);
    if (rec == NULL) {
        api_reply_err(r, &err);
        return;
    }
    json_decref(rec);
    api_get_kind(r, kind, r->params[0]);
}

static void
delete_with(api_req_t *r, delete_fn fn)
{
    err_t err = {0};
    int64_t rev;

    if (api_if_match(r, &rev))
        return;
    if (fn(r->store, r->params[0], rev, &err)) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_no_content(r);
}

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
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    r->replied = true;
    r->status = 200;
    r->resp = text;
    r->resp_len = strlen(text);
}

/* ---- clouds ---- */

void
api_admin_clouds_list(api_req_t *r)
{
    api_list_kind(r, &store_kind_cloud, NULL, 0);
}

void
api_admin_clouds_create(api_req_t *r)
{
    create_with(r, cloud_spec, catalog_cloud_create, &store_kind_cloud,
                "/v1/admin/clouds");
}

void
api_admin_cloud_get(api_req_t *r)
{
    api_get_kind(r, &store_kind_cloud, r->params[0]);
}

void
api_admin_cloud_patch(api_req_t *r)
{
    update_with(r, cloud_spec, catalog_cloud_update, &store_kind_cloud);
}

void
api_admin_cloud_delete(api_req_t *r)
{
    delete_with(r, catalog_cloud_delete);
}

/* ---- hosts ---- */

void
api_admin_hosts_list(api_req_t *r)
{
    static const char *const filters[] = {"cloudId", "state", NULL};

    list_filtered(r, &store_kind_host, filters);
}

void
api_admin_hosts_create(api_req_t *r)
{
    create_with(r, host_spec, catalog_host_create, &store_kind_host,
                "/v1/admin/hosts");
}

void
api_admin_host_get(api_req_t *r)
{
    api_get_kind(r, &store_kind_host, r->params[0]);
}

void
api_admin_host_patch(api_req_t *r)
{
    update_with(r, host_patch_spec, catalog_host_update, &store_kind_host);
}

void
api_admin_host_delete(api_req_t *r)
{
    delete_with(r, catalog_host_delete);
}

/* ---- sizes, images, gallery items ---- */

void
api_admin_sizes_list(api_req_t *r)
{
    api_list_kind(r, &store_kind_size, NULL, 0);
}

void
api_admin_sizes_create(api_req_t *r)
{
    create_with(r, size_spec, catalog_size_create, &store_kind_size,
                "/v1/admin/sizes");
}

void
api_admin_size_get(api_req_t *r)
{
    api_get_kind(r, &store_kind_size, r->params[0]);
}

void
api_admin_images_list(api_req_t *r)
{
    api_list_kind(r, &store_kind_image, NULL, 0);
}

void
api_admin_images_create(api_req_t *r)
{
    create_with(r, image_spec, catalog_image_create, &store_kind_image,
                "/v1/admin/images");
}

void
api_admin_image_get(api_req_t *r)
{
    api_get_kind(r, &store_kind_image, r->params[0]);
}

void
api_admin_gallery_list(api_req_t *r)
{
    api_list_kind(r, &store_kind_gallery_item, NULL, 0);
}

void
api_admin_gallery_create(api_req_t *r)
{
    create_with(r, gallery_spec, catalog_gallery_item_create, &store_kind_gallery_item,
                "/v1/admin/galleryItems");
}

void
api_admin_gallery_get(api_req_t *r)
{
    api_get_kind(r, &store_kind_gallery_item, r->params[0]);
}

/* ---- plans ---- */

void
api_admin_plans_list(api_req_t *r)
{
    static const char *const filters[] = {"cloudId", "state", NULL};

    list_filtered(r, &store_kind_plan, filters);
}

void
api_admin_plans_create(api_req_t *r)
{
    create_with(r, plan_spec, catalog_plan_create, &store_kind_plan,
                "/v1/admin/plans");
}

void
api_admin_plan_get(api_req_t *r)
{
    api_get_kind(r, &store_kind_plan, r->params[0]);
}

void
api_admin_plan_patch(api_req_t *r)
{
    err_t err = {0};
    int64_t rev;
    json_t *body, *job;

    if (api_if_match(r, &rev) || (body = api_body(r, plan_patch_spec, true, false)) == NULL)
        return;
    job = catalog_plan_update(r->store, r->params[0], body, rev, &err);
    json_decref(body);
    if (job == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_accepted(r, job, json_string_value(json_object_get(job, "id")));
}

void
api_admin_plan_delete(api_req_t *r)
{
    delete_with(r, catalog_plan_delete);
}

/* ---- users and tokens ---- */

void
api_admin_users_list(api_req_t *r)
{
    static const char *const filters[] = {"email", NULL};

    list_filtered(r, &store_kind_user, filters);
}

void
api_admin_users_create(api_req_t *r)
{
    create_with(r, user_spec, accounts_user_create, &store_kind_user,
                "/v1/admin/users");
}

void
api_admin_user_get(api_req_t *r)
{
    api_get_kind(r, &store_kind_user, r->params[0]);
}

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
    user = store_rec_get(r->store, &store_kind_user, r->params[0], NULL, &err);
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

void
api_admin_tokens_create(api_req_t *r)
{
    err_t err = {0};
    json_t *body = api_body(r, token_spec, false, true), *tok;

    if (body == NULL)
        return;
    tok = accounts_token_create(r->store, r->params[0], body, &err);
    json_decref(body);
    if (tok == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_json(r, 201, tok);
}

void
api_admin_token_delete(api_req_t *r)
{
    err_t err = {0};

    if (accounts_token_revoke(r->store, r->params[0], r->params[1], &err)) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_no_content(r);
}

/* ---- subscriptions ---- */

void
api_admin_subscriptions_list(api_req_t *r)
{
    static const char *const filters[] = {"userId", "planId", "state", NULL};

    list_filtered(r, &store_kind_subscription, filters);
}

void
api_admin_subscriptions_create(api_req_t *r)
{
    create_with(r, subscription_spec, accounts_subscription_create, &store_kind_subscription,
                "/v1/admin/subscriptions");
}

void
api_admin_subscription_get(api_req_t *r)
{
    api_get_kind(r, &store_kind_subscription, r->params[0]);
}

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
        api_reply_accepted(r, job, json_string_value(json_object_get(job, "id")));
    else
        api_get_kind(r, &store_kind_subscription, r->params[0]);
}

void
api_admin_subscription_delete(api_req_t *r)
{
    err_t err = {0};
    int64_t rev;
    json_t *job;

    if (api_if_match(r, &rev))
        return;
    job = accounts_subscription_delete(r->store, r->params[0], rev, &err);
    if (job == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_accepted(r, job, json_string_value(json_object_get(job, "id")));
}

/* ---- jobs ---- */

void
api_admin_jobs_list(api_req_t *r)
{
    static const char *const fields[] = {"status", "kind", "resourceId", "subscriptionId", NULL};
    store_filter_t f[4];
    size_t n = 0, i;
    const char *v;

    for (i = 0; fields[i]; i++) {
        v = api_query(r, fields[i]);
        if (v == NULL)
            continue;
        f[n].field = fields[i];
        f[n].op = STORE_FILTER_EQ;
        f[n].value = v;
        f[n].values = NULL;
        n++;
    }
    api_list_jobs(r, f, n);
}

void
api_admin_job_get(api_req_t *r)
{
    api_job_get(r, r->params[0], NULL);
}

void
api_admin_job_cancel(api_req_t *r)
{
    api_job_cancel(r, r->params[0], NULL);
}

void
api_admin_job_restart(api_req_t *r)
{
    api_job_restart(r, r->params[0], NULL);
}
