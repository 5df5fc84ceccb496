/*
 * accounts.c: users' creation, tokens, subscriptions (see accounts.h); a user's change, suspend and
 * delete are in accounts/users.c.
 *
 * Invariants: a token row never holds the token, only its SHA-256; a subscription refers to an existing
 * user and plan; a decommissioned plan, or a suspended user, takes
 * no new subscription. Every record is built here from the
 * request's struct, field by field: nothing a caller sends reaches the store unnamed. Every change raises
 * its event in its own transaction (user.created, token.created and token.revoked name no subscription;
 * a token's event never holds the token).
 */
#include "accounts/accounts_internal.h"

#include <stdbool.h>
#include <assert.h>
#include <string.h>

#include "catalog.h"
#include "events.h"
#include "jget.h"
#include "job.h"
#include "snapshot.h"
#include "util.h"
#include "vm.h"

static const char *const state_names[] = {"active", "suspended", "deleting"};

UTIL_ENUM_NAMES(accounts_subscription_state, accounts_subscription_state_t, state_names)

/* Writes a fresh id and the time now, for a new record. */
static void
new_id_and_time(char id[UTIL_UUID_LEN + 1], char now[UTIL_TIME_LEN + 1])
{
    util_uuid(id);
    util_time_format(util_now_ms(), now);
}

int
accounts__write_with_event(store_t *st, const store_kind_t *kind, const json_t *rec, bool insert,
                           const char *type, const char *resource_id, json_t *data, err_t *err)
{
    int rc;

    assert(st != NULL && kind != NULL && rec != NULL && type != NULL && resource_id != NULL);
    if (store_tx_begin(st, err)) {
        json_decref(data);
        return -1;
    }
    rc = insert ? store_rec_insert(st, kind, rec, err)
                : store_rec_update(st, kind, jget_str(rec, "id"), rec, 0, err);
    if (rc == 0)
        rc = events_emit(st, type, NULL, resource_id, data, err);
    else
        json_decref(data);
    if (rc == 0 && store_tx_commit(st, err) == 0)
        return 0;
    store_tx_rollback(st);
    return -1;
}

json_t *
accounts_user_create(store_t *st, const accounts_user_req_t *req, err_t *err)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    json_t *rec;
    int found;

    assert(st != NULL && req != NULL && req->email != NULL);
    found = store_rec_lookup_by(st, &store_kind_user, "email", req->email, NULL, err);
    if (found != 0) {
        if (found == 1)
            err_set(err, ERR_CONFLICT, "email", "A user with this email already exists.");
        return NULL;
    }
    new_id_and_time(id, now);
    rec = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s}", "id", id, "email", req->email, "name",
                    req->name, "state", "active", "createdAt", now, "updatedAt", now);
    if (rec == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    if (accounts__write_with_event(st, &store_kind_user, rec, true, "user.created", id,
                                   json_pack("{s:s, s:s?}", "email", req->email, "name", req->name),
                                   err)) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

json_t *
accounts_token_create(store_t *st, const char *user_id, const accounts_token_req_t *req,
                      err_t *err)
{
    unsigned char raw[32];
    char secret[sizeof(ACCOUNTS_TOKEN_PREFIX) + 44], hash[UTIL_SHA256_HEX_LEN + 1];
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1], expires[UTIL_TIME_LEN + 1];
    int64_t days = ACCOUNTS_TOKEN_DAYS_DEFAULT;
    json_t *user, *rec, *answer;
    int64_t now_ms = util_now_ms();

    assert(st != NULL && user_id != NULL);
    assert(req == NULL || req->expires_in_days >= 0);
    user = store_rec_get(st, &store_kind_user, user_id, NULL, err);
    if (user == NULL)
        return NULL;
    json_decref(user);
    if (req != NULL && req->expires_in_days > 0)
        days = req->expires_in_days;
    if (util_random_bytes(raw, sizeof(raw))) {
        err_set(err, ERR_INTERNAL, NULL, "The random number generator failed.");
        return NULL;
    }
    memcpy(secret, ACCOUNTS_TOKEN_PREFIX, sizeof(ACCOUNTS_TOKEN_PREFIX) - 1);
    util_b64url_encode(raw, sizeof(raw), secret + sizeof(ACCOUNTS_TOKEN_PREFIX) - 1);
    util_sha256_hex(secret, strlen(secret), hash);
    util_uuid(id);
    util_time_format(now_ms, now);
    util_time_format(now_ms + days * 86400000, expires);
    rec = json_pack("{s:s, s:s, s:s, s:s, s:n, s:s}", "id", id, "userId", user_id, "hash", hash,
                    "expiresAt", expires, "revokedAt", "createdAt", now);
    if (rec == NULL)
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    /* The feed names the token, never its value. */
    if (rec == NULL ||
        accounts__write_with_event(st, &store_kind_token, rec, true, "token.created", id,
                                   json_pack("{s:s, s:s}", "userId", user_id, "expiresAt", expires),
                                   err)) {
        json_decref(rec);
        return NULL;
    }
    json_decref(rec);
    answer = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "userId", user_id, "token", secret,
                       "expiresAt", expires, "createdAt", now);
    memset(secret, 0, sizeof(secret));
    return answer;
}

int
accounts_token_revoke(store_t *st, const char *user_id, const char *token_id, err_t *err)
{
    char now[UTIL_TIME_LEN + 1];
    json_t *rec = store_rec_get(st, &store_kind_token, token_id, NULL, err);
    int rc;

    assert(st != NULL && user_id != NULL && token_id != NULL);
    if (rec == NULL)
        return -1;
    if (strcmp(json_string_value(json_object_get(rec, "userId")), user_id) != 0 ||
        !json_is_null(json_object_get(rec, "revokedAt"))) {
        json_decref(rec);
        return err_set(err, ERR_NOT_FOUND, NULL, "The token was not found.");
    }
    util_time_format(util_now_ms(), now);
    json_object_set_new(rec, "revokedAt", json_string(now));
    rc = accounts__write_with_event(st, &store_kind_token, rec, false, "token.revoked", token_id,
                                    json_pack("{s:s}", "userId", user_id), err);
    json_decref(rec);
    return rc;
}

int
accounts_authenticate(store_t *st, const char *token_hash, char user_id[UTIL_UUID_LEN + 1],
                      err_t *err)
{
    return accounts_authenticate_token(st, token_hash, user_id, NULL, err);
}

int
accounts_authenticate_token(store_t *st, const char *token_hash, char user_id[UTIL_UUID_LEN + 1],
                            char token_id[UTIL_UUID_LEN + 1], err_t *err)
{
    int64_t expires_ms;
    json_t *rec = NULL;
    int found;

    assert(st != NULL && token_hash != NULL && user_id != NULL);
    found = store_rec_lookup_by_shared(st, &store_kind_token, "hash", token_hash, &rec, err);
    if (found < 0)
        return -1;
    if (found == 0)
        return err_set(err, ERR_UNAUTHORIZED, NULL, "A valid bearer token is required.");
    if (!json_is_null(json_object_get(rec, "revokedAt")) ||
        util_time_parse(json_string_value(json_object_get(rec, "expiresAt")), &expires_ms) ||
        expires_ms <= util_now_ms()) {
        json_decref(rec);
        return err_set(err, ERR_UNAUTHORIZED, NULL, "A valid bearer token is required.");
    }
    memcpy(user_id, json_string_value(json_object_get(rec, "userId")), UTIL_UUID_LEN + 1);
    if (token_id != NULL)
        memcpy(token_id, json_string_value(json_object_get(rec, "id")), UTIL_UUID_LEN + 1);
    json_decref(rec);
    return 0;
}

json_t *
accounts_subscription_create(store_t *st, const accounts_subscription_req_t *req, err_t *err)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    json_t *plan = NULL, *rec = NULL, *user = NULL;
    const char *display_name;
    int found;

    assert(st != NULL && req != NULL && req->user_id != NULL && req->plan_id != NULL);
    found = store_rec_lookup(st, &store_kind_user, req->user_id, &user, NULL, err);
    if (found == 0)
        err_set(err, ERR_INVALID_REQUEST, "userId", "No user has the id given in userId.");
    if (found != 1)
        return NULL;
    /* A suspended user's subscriptions are all suspended: a new one would not be. */
    found = jget_str(user, "state") != NULL && strcmp(jget_str(user, "state"), "suspended") == 0;
    json_decref(user);
    if (found) {
        err_set(err, ERR_CONFLICT, "userId",
                "The user is suspended and takes no new subscriptions.");
        return NULL;
    }
    found = store_rec_lookup(st, &store_kind_plan, req->plan_id, &plan, NULL, err);
    if (found == 0)
        err_set(err, ERR_INVALID_REQUEST, "planId", "No plan has the id given in planId.");
    if (found != 1)
        return NULL;
    if (jget_str(plan, "state") != NULL && strcmp(jget_str(plan, "state"), "decommissioned") == 0) {
        err_set(err, ERR_CONFLICT, "planId", "The plan is decommissioned and takes no new subscriptions.");
        goto fail;
    }
    display_name = req->display_name != NULL ? req->display_name : jget_str(plan, "name");
    new_id_and_time(id, now);
    /* The usage counters start at zero; only the store's usage calls change them from now on. */
    rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i}}",
                    "id", id, "userId", req->user_id, "planId", req->plan_id, "displayName",
                    display_name, "state", accounts_subscription_state_name(ACCOUNTS_SUBSCRIPTION_ACTIVE),
                    "checkpointMode", json_object_get(plan, "checkpointMode"), "createdAt", now,
                    "updatedAt", now, "usage", "vms", 0, "cores", 0, "memoryMB", 0, "storageGB", 0,
                    "vmRoles", 0, "networks", 0);
    if (rec == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        goto fail;
    }
    if (store_rec_insert(st, &store_kind_subscription, rec, err) ||
        events_emit(st, "subscription.created", id, id,
                    json_pack("{s:s, s:s, s:s}", "userId", req->user_id, "planId", req->plan_id,
                              "displayName", display_name),
                    err))
        goto fail;
    json_decref(plan);
    return rec;
fail:
    json_decref(plan);
    json_decref(rec);
    return NULL;
}

static json_t *
subscription_get(store_t *st, const char *id, const char *user_id, bool shared, int64_t *rev,
                 err_t *err)
{
    json_t *rec = NULL;
    int found;

    assert(st != NULL && id != NULL);
    found = shared ? store_rec_lookup_shared(st, &store_kind_subscription, id, &rec, rev, err)
                   : store_rec_lookup(st, &store_kind_subscription, id, &rec, rev, err);
    if (found < 0)
        return NULL;
    /* Another user's subscription is as missing as one that does not exist. */
    if (found == 0 || (user_id && strcmp(jget_str(rec, "userId"), user_id) != 0)) {
        json_decref(rec);
        err_set(err, ERR_NOT_FOUND, NULL, "The subscription was not found.");
        return NULL;
    }
    return rec;
}

json_t *
accounts_subscription_get(store_t *st, const char *id, const char *user_id, int64_t *rev,
                          err_t *err)
{
    return subscription_get(st, id, user_id, false, rev, err);
}

json_t *
accounts_subscription_peek(store_t *st, const char *id, const char *user_id, int64_t *rev,
                           err_t *err)
{
    return subscription_get(st, id, user_id, true, rev, err);
}

/* subscription.suspend, its one step: a stop job for every running VM; a VM busy with another job is
 * stopped once that job has ended (the step runs again). A subscription made active again before the step
 * ran (or ran again) keeps its VMs as they are: the suspend is over. */
static job_step_result_t
step_stop_vms(job_ctx_t *ctx, err_t *err)
{
    json_t *sub = NULL;
    int rc = store_rec_lookup(job_ctx_store(ctx), &store_kind_subscription, job_ctx_resource(ctx), &sub,
                              NULL, err);
    bool suspended = rc == 1 && jget_str(sub, "state") != NULL &&
                     strcmp(jget_str(sub, "state"), "suspended") == 0;

    json_decref(sub);
    if (rc < 0)
        return JOB_STEP_RETRY;
    if (!suspended)
        return JOB_STEP_DONE;
    rc = vm_stop_all(job_ctx_store(ctx), job_ctx_resource(ctx), err);

    if (rc == 0 && err->code == ERR_NONE)
        err_set(err, ERR_OPERATION_IN_PROGRESS, NULL, "Some VMs are busy; they are stopped next.");
    return rc == 1 ? JOB_STEP_DONE : JOB_STEP_RETRY;
}

/* subscription.delete, step 1: a delete job for every VM, then, once none is left, the networks; then a
 * delete job for every snapshot. */
static job_step_result_t
step_delete_resources(job_ctx_t *ctx, err_t *err)
{
    int rc = vm_delete_all(job_ctx_store(ctx), job_ctx_resource(ctx), err);

    if (rc == 1)
        rc = snapshot_delete_all(job_ctx_store(ctx), job_ctx_resource(ctx), err);
    if (rc == 0 && err->code == ERR_NONE)
        err_set(err, ERR_OPERATION_IN_PROGRESS, NULL, "VMs or snapshots are still being deleted.");
    return rc == 1 ? JOB_STEP_DONE : JOB_STEP_RETRY;
}

/* subscription.delete, step 2: the subscription itself (already gone counts as done). */
static job_step_result_t
step_delete_subscription(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    int found;

    if (job_ctx_begin(ctx, err))
        return JOB_STEP_RETRY;
    /* In the step's write transaction: nothing removes it between the lookup and the delete. */
    found = store_rec_lookup(st, &store_kind_subscription, job_ctx_resource(ctx), NULL, NULL, err);
    if (found == 0)
        return JOB_STEP_DONE;
    if (found < 0 ||
        store_rec_delete(st, &store_kind_subscription, job_ctx_resource(ctx), 0, err) != 0)
        return JOB_STEP_RETRY;
    if (events_emit(job_ctx_store(ctx), "subscription.deleted", job_ctx_resource(ctx),
                    job_ctx_resource(ctx), NULL, err))
        return JOB_STEP_RETRY;
    return JOB_STEP_DONE;
}

static const job_step_def_t suspend_steps[] = {
    {"stopVms", step_stop_vms},
    {NULL, NULL},
};
static const job_step_def_t delete_steps[] = {
    {"deleteResources", step_delete_resources},
    {"deleteSubscription", step_delete_subscription},
    {NULL, NULL},
};
static const job_kind_def_t suspend_kind = {"subscription.suspend", suspend_steps, 10 * 60 * 1000,
                                            NULL, NULL, NULL, NULL};
static const job_kind_def_t delete_kind = {"subscription.delete", delete_steps, 30 * 60 * 1000,
                                           NULL, NULL, NULL, NULL};

int
accounts_jobs_register(void)
{
    return job_kind_register(&suspend_kind) || job_kind_register(&delete_kind) ? -1 : 0;
}

json_t *
accounts_subscription_update(store_t *st, const char *id,
                             const accounts_subscription_patch_t *patch, int64_t expect_rev,
                             json_t **job, err_t *err)
{
    return accounts__subscription_update(st, id, patch, expect_rev, NULL, job, err);
}

json_t *
accounts__subscription_update(store_t *st, const char *id,
                              const accounts_subscription_patch_t *patch, int64_t expect_rev,
                              const json_t *job_params, json_t **job, err_t *err)
{
    accounts_subscription_state_t was = ACCOUNTS_SUBSCRIPTION_ACTIVE;
    json_t *rec = NULL, *j = NULL;
    int64_t rev = 0;
    bool suspending, activating;

    assert(st != NULL && id != NULL && patch != NULL && job != NULL);
    assert(!patch->has_state || patch->state != ACCOUNTS_SUBSCRIPTION_DELETING);
    if (store_tx_begin(st, err))
        return NULL;
    rec = accounts_subscription_get(st, id, NULL, &rev, err);
    if (rec == NULL)
        goto fail;
    if (expect_rev > 0 && rev != expect_rev) {
        err_set(err, ERR_PRECONDITION_FAILED, NULL,
                "The subscription has changed since the ETag in If-Match was read.");
        goto fail;
    }
    if (accounts_subscription_state_parse(jget_str(rec, "state"), &was) == 0 &&
        was == ACCOUNTS_SUBSCRIPTION_DELETING) {
        err_set(err, ERR_CONFLICT, NULL, "The subscription is being deleted.");
        goto fail;
    }
    suspending = patch->has_state && patch->state == ACCOUNTS_SUBSCRIPTION_SUSPENDED &&
                 was != ACCOUNTS_SUBSCRIPTION_SUSPENDED;
    activating = patch->has_state && patch->state == ACCOUNTS_SUBSCRIPTION_ACTIVE &&
                 was == ACCOUNTS_SUBSCRIPTION_SUSPENDED;
    /* The state changes at once (tenant writes are refused from now on); the job stops the VMs. */
    if (patch->has_state)
        json_object_set_new(rec, "state", json_string(accounts_subscription_state_name(patch->state)));
    if (patch->display_name != NULL)
        json_object_set_new(rec, "displayName", json_string(patch->display_name));
    catalog_record_touch(rec);
    if (store_rec_update(st, &store_kind_subscription, id, rec, expect_rev, err))
        goto fail;
    if ((suspending || activating) &&
        events_emit(st, suspending ? "subscription.suspended" : "subscription.activated", id, id,
                    json_pack("{s:s}", "planId", jget_str(rec, "planId")), err))
        goto fail;
    if (suspending) {
        j = job_submit(st, "subscription.suspend", id, id, id, job_params, err);
        if (j == NULL)
            goto fail;
    }
    if (store_tx_commit(st, err))
        goto fail;
    *job = j;
    return rec;
fail:
    store_tx_rollback(st);
    json_decref(rec);
    json_decref(j);
    return NULL;
}

json_t *
accounts_subscription_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    json_t *rec, *j = NULL;
    int64_t rev = 0;

    assert(st != NULL && id != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    rec = accounts_subscription_get(st, id, NULL, &rev, err);
    if (rec == NULL)
        goto fail;
    if (expect_rev > 0 && rev != expect_rev) {
        err_set(err, ERR_PRECONDITION_FAILED, NULL,
                "The subscription has changed since the ETag in If-Match was read.");
        goto fail;
    }
    /* From now on the subscription shows state deleting and takes no changes; the job removes it. */
    json_object_set_new(rec, "state",
                        json_string(accounts_subscription_state_name(ACCOUNTS_SUBSCRIPTION_DELETING)));
    catalog_record_touch(rec);
    if (store_rec_update(st, &store_kind_subscription, id, rec, 0, err))
        goto fail;
    j = job_submit(st, "subscription.delete", id, id, id, NULL, err);
    if (j == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(rec);
    return j;
fail:
    store_tx_rollback(st);
    json_decref(rec);
    json_decref(j);
    return NULL;
}

json_t *
accounts_subscription_view(store_t *st, const json_t *sub, err_t *err)
{
    json_t *plan, *view, *usage;

    plan = store_rec_get_shared(st, &store_kind_plan,
                                json_string_value(json_object_get(sub, "planId")), NULL, err);
    if (plan == NULL)
        return NULL;
    /* The usage counters come with the record (they change in the same transactions as the
     * resources they count). */
    usage = json_object_get(sub, "usage");
    view = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "id",
                     json_object_get(sub, "id"), "displayName", json_object_get(sub, "displayName"),
                     "state", json_object_get(sub, "state"), "planId",
                     json_object_get(sub, "planId"), "planName", json_object_get(plan, "name"),
                     "quotas", json_object_get(plan, "quotas"), "usage", usage, "checkpointMode",
                     json_object_get(sub, "checkpointMode"), "createdAt",
                     json_object_get(sub, "createdAt"));
    json_decref(plan);
    if (view == NULL)
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return view;
}
