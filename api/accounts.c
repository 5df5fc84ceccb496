/*
 * accounts.c: the admin's users, their tokens, and subscriptions.
 *
 * Users and subscriptions are resources served by the generic handlers of resource.c (api_res_users,
 * api_res_subscriptions). Their create slots point at the adapters below, which turn a body the field
 * tables have already shape-checked into the typed request of lib/accounts.h and make the one lib call;
 * the request borrows the body's strings, and the body outlives the call; a user's PATCH and DELETE are
 * generic too (update and remove slots). Tokens, and a subscription's
 * PATCH and DELETE (which may answer a job), have handlers of their own. A token's text is in its
 * create's answer only; no listing shows its hash.
 */
#include "internal.h"
#include "requests.h"

#include <assert.h>

#include "../lib/accounts.h"
#include "../lib/jget.h"

#define JV_END {NULL, 0, 0, 0, 0, NULL, NULL}

/* What a PATCH may set; deleting is for DELETE alone. */
static const char *const subscription_states[] = {"active", "suspended", NULL};

static const jv_field_t user_spec[] = {
    {"email", JV_STRING, JV_REQUIRED | JV_EMAIL, 3, 254, NULL, NULL},
    {"name", JV_STRING, JV_NULLABLE, 0, 128, NULL, NULL},
    JV_END,
};
static const char *const user_states[] = {"active", "suspended", NULL};
static const jv_field_t user_patch_spec[] = {
    {"email", JV_STRING, JV_EMAIL, 3, 254, NULL, NULL},
    {"name", JV_STRING, JV_NULLABLE, 0, 128, NULL, NULL},
    {"state", JV_STRING, 0, 1, 32, user_states, NULL},
    JV_END,
};
static const jv_field_t token_spec[] = {
    {"expiresInDays", JV_INT, 0, 1, 3650, NULL, NULL},
    JV_END,
};
const jv_field_t *const api_spec_token_create = token_spec;

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

/* ---- the create slots of the resources: checked body -> typed request -> lib ---- */

static json_t *
user_create(store_t *st, const json_t *body, err_t *err)
{
    accounts_user_req_t req = {
        .email = jget_str(body, "email"),
        .name = jget_str(body, "name"), /* absent or null: none */
    };

    return accounts_user_create(st, &req, err);
}

/* The table has checked state against the two names. */
static json_t *
user_update(store_t *st, const char *id, const json_t *body, int64_t rev, err_t *err)
{
    const json_t *name = json_object_get(body, "name");
    accounts_user_patch_t patch = {
        .email = jget_str(body, "email"),
        .name = jget_str(body, "name"),
        .name_null = json_is_null(name),
        .has_state = json_object_get(body, "state") != NULL,
    };

    if (patch.has_state && accounts_user_state_parse(jget_str(body, "state"), &patch.state)) {
        err_set(err, ERR_INVALID_REQUEST, "state", "state must be active or suspended.");
        return NULL;
    }
    return accounts_user_update(st, id, &patch, rev, err);
}

static json_t *
subscription_create(store_t *st, const json_t *body, err_t *err)
{
    accounts_subscription_req_t req = {
        .user_id = jget_str(body, "userId"),
        .plan_id = jget_str(body, "planId"),
        .display_name = jget_str(body, "displayName"),
    };

    return accounts_subscription_create(st, &req, err);
}

static const char *const user_filters[] = {"email", NULL};
static const char *const subscription_filters[] = {"userId", "planId", "state", NULL};

const api_resource_t api_res_users = {
    .kind = &store_kind_user,
    .filters = user_filters,
    .create_spec = user_spec,
    .create = user_create,
    .patch_spec = user_patch_spec,
    .update = user_update,
    .remove = accounts_user_delete,
};
/* PATCH and DELETE of a subscription may answer a job: their handlers are below. */
const api_resource_t api_res_subscriptions = {
    .kind = &store_kind_subscription,
    .filters = subscription_filters,
    .create_spec = subscription_spec,
    .create = subscription_create,
};

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

/* The token itself is in this answer only: it is stored as its hash. The body is optional. */
void
api_admin_tokens_create(api_req_t *r)
{
    accounts_token_req_t req = {0};
    err_t err = {0};
    json_t *body = api_body(r, token_spec, false, true), *answer;

    if (body == NULL)
        return;
    /* Absent: 0, "not given" (the table allows 1 to 3650). */
    req.expires_in_days = (int) jget_int(body, "expiresInDays");
    answer = accounts_token_create(r->store, r->params[0], &req, &err);
    json_decref(body);
    if (answer == NULL) {
        api_reply_err(r, &err);
        return;
    }
    /* An Idempotency-Key keeps no token at rest: a replay is a 409 naming the token made. */
    if (api_header(r, "Idempotency-Key") != NULL &&
        api_idem_keep_redacted(r, "token", jget_str(answer, "id"))) {
        json_decref(answer);
        api_reply_error(r, ERR_INTERNAL, NULL, "Out of memory."); /* rolls the create back */
        return;
    }
    api_reply_json(r, 201, answer);
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

/* The PATCH of a body checked against subscription_patch_spec (borrowing its strings). */
static void
subscription_patch_of(const json_t *body, accounts_subscription_patch_t *patch)
{
    const char *state = jget_str(body, "state");
    int rc;

    patch->has_state = state != NULL;
    patch->state = ACCOUNTS_SUBSCRIPTION_ACTIVE;
    if (state != NULL) {
        rc = accounts_subscription_state_parse(state, &patch->state);
        assert(rc == 0 && patch->state != ACCOUNTS_SUBSCRIPTION_DELETING); /* the table's choices */
        (void) rc;
    }
    patch->display_name = jget_str(body, "displayName");
}

void
api_admin_subscription_patch(api_req_t *r)
{
    accounts_subscription_patch_t patch;
    err_t err = {0};
    int64_t rev;
    json_t *body, *rec, *job = NULL;

    if (api_if_match(r, &rev) ||
        (body = api_body(r, subscription_patch_spec, true, false)) == NULL)
        return;
    subscription_patch_of(body, &patch);
    rec = accounts_subscription_update(r->store, r->params[0], &patch, rev, &job, &err);
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
