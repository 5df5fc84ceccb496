/*
 * admin.c: the admin listener's account resources (users, subscriptions), the handlers that are not
 * generic, and the health, readiness and metrics endpoints. The catalog's resources are in catalog.c.
 *
 * A resource (api_res_*) tells the generic handlers of resource.c what they need: the kind, its list
 * filters, the field tables below that shape-check its bodies, and the lib/ entry points. The handlers here
 * follow the same rule: parse and shape-check the input, call one lib/ entry point, answer once. Creates
 * answer 201 with Location and ETag; subscription suspend and DELETE answer 202 with their job.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/accounts.h"
#include "../lib/job.h"

#define JV_END {NULL, 0, 0, 0, 0, NULL, NULL}

static const char *const subscription_states[] = {"active", "suspended", NULL};

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

static const char *const user_filters[] = {"email", NULL};
static const char *const subscription_filters[] = {"userId", "planId", "state", NULL};

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
