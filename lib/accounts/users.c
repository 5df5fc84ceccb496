/*
 * users.c: a user's change, suspend, reactivation and delete (see accounts.h).
 *
 * Invariants: a user's state and what it does to the user's subscriptions change in one transaction; a
 * suspend suspends each active subscription exactly as the admin's subscription PATCH does (the state at
 * once, a subscription.suspend job that stops its VMs), and that job's params name the user ({"userId"}),
 * which is how a later activation knows what the suspend did: it reactivates only the subscriptions whose
 * last suspend job names the user, so that one an admin suspended on its own stays suspended. A user is
 * deleted only without subscriptions, its tokens with it; emails stay unique.
 */
#include "accounts_internal.h"

#include <assert.h>
#include <string.h>

#include "../catalog.h"
#include "../events.h"
#include "../jget.h"
#include "../util.h"

static const char *const user_state_names[] = {"active", "suspended"};

UTIL_ENUM_NAMES(accounts_user_state, accounts_user_state_t, user_state_names)

/* The user's subscriptions, every state (a new array), or NULL with err. */
static json_t *
user_subscriptions(store_t *st, const char *user_id, err_t *err)
{
    store_filter_t f = {.field = "userId", .op = STORE_FILTER_EQ, .value = user_id};

    return store_rec_list_all(st, &store_kind_subscription, &f, 1, err);
}

/* 1 when the subscription's last suspend job was a suspend of user_id, 0 when not (or it has none), -1
 * with err. */
static int
suspended_by(store_t *st, const char *sid, const char *user_id, err_t *err)
{
    store_filter_t f[2] = {
        {.field = "resourceId", .op = STORE_FILTER_EQ, .value = sid},
        {.field = "kind", .op = STORE_FILTER_EQ, .value = "subscription.suspend"},
    };
    json_t *jobs = store_rec_list_all(st, &store_kind_job, f, 2, err), *last;
    const char *by;
    int rc;

    if (jobs == NULL)
        return -1;
    last = json_array_get(jobs, json_array_size(jobs) - 1);
    by = jget_str(json_object_get(last, "_params"), "userId");
    rc = by != NULL && strcmp(by, user_id) == 0;
    json_decref(jobs);
    return rc;
}

/* Moves the user's subscriptions with the state from to the state to (suspending: the active ones;
 * activating: the suspended ones that the user's suspend suspended), appending their ids to sids and the
 * suspend jobs' ids to job_ids. */
static int
move_subscriptions(store_t *st, const char *user_id, accounts_subscription_state_t to, json_t *sids,
                   json_t *job_ids, err_t *err)
{
    accounts_subscription_patch_t patch = {.has_state = true, .state = to};
    accounts_subscription_state_t from = to == ACCOUNTS_SUBSCRIPTION_SUSPENDED
                                             ? ACCOUNTS_SUBSCRIPTION_ACTIVE
                                             : ACCOUNTS_SUBSCRIPTION_SUSPENDED;
    json_t *subs = user_subscriptions(st, user_id, err), *sub, *rec, *job = NULL;
    json_t *params = json_pack("{s:s}", "userId", user_id);
    accounts_subscription_state_t state;
    const char *sid;
    size_t i;
    int rc = -1, mine;

    if (subs == NULL || params == NULL) {
        if (params == NULL)
            err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        goto out;
    }
    json_array_foreach(subs, i, sub) {
        sid = jget_str(sub, "id");
        if (accounts_subscription_state_parse(jget_str(sub, "state"), &state) || state != from)
            continue;
        mine = to == ACCOUNTS_SUBSCRIPTION_ACTIVE ? suspended_by(st, sid, user_id, err) : 1;
        if (mine < 0)
            goto out;
        if (!mine)
            continue;
        rec = accounts__subscription_update(st, sid, &patch, 0, params, &job, err);
        if (rec == NULL)
            goto out;
        json_decref(rec);
        json_array_append_new(sids, json_string(sid));
        if (job != NULL)
            json_array_append(job_ids, json_object_get(job, "id"));
        json_decref(job);
        job = NULL;
    }
    rc = 0;
out:
    json_decref(subs);
    json_decref(params);
    return rc;
}

/* Changes rec's state to state, with the subscriptions and the event that go with it. */
static int
change_state(store_t *st, json_t *rec, accounts_user_state_t state, err_t *err)
{
    const char *id = jget_str(rec, "id");
    bool suspending = state == ACCOUNTS_USER_SUSPENDED;
    json_t *sids = json_array(), *job_ids = json_array(), *data;
    int rc = -1;

    assert(id != NULL);
    if (sids == NULL || job_ids == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        goto out;
    }
    if (move_subscriptions(st, id, suspending ? ACCOUNTS_SUBSCRIPTION_SUSPENDED
                                              : ACCOUNTS_SUBSCRIPTION_ACTIVE,
                           sids, job_ids, err))
        goto out;
    json_object_set_new(rec, "state", json_string(accounts_user_state_name(state)));
    data = suspending ? json_pack("{s:O, s:O}", "subscriptionIds", sids, "jobIds", job_ids)
                      : json_pack("{s:O}", "subscriptionIds", sids);
    rc = events_emit(st, suspending ? "user.suspended" : "user.activated", NULL, id, data, err);
out:
    json_decref(sids);
    json_decref(job_ids);
    return rc;
}

/* Sets the name and email the patch gives; emits user.updated {changes} when either changed. A taken
 * email is 409 naming email. */
static int
change_fields(store_t *st, json_t *rec, const accounts_user_patch_t *patch, err_t *err)
{
    json_t *changes = json_object();
    int found;

    if (changes == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    if (patch->email != NULL && strcmp(patch->email, jget_str(rec, "email")) != 0) {
        found = store_rec_lookup_by(st, &store_kind_user, "email", patch->email, NULL, err);
        if (found != 0) {
            json_decref(changes);
            return found == 1 ? err_set(err, ERR_CONFLICT, "email",
                                        "A user with this email already exists.")
                              : -1;
        }
        json_object_set_new(rec, "email", json_string(patch->email));
        json_object_set_new(changes, "email", json_string(patch->email));
    }
    if (patch->name != NULL || patch->name_null) {
        json_object_set_new(rec, "name", patch->name_null ? json_null() : json_string(patch->name));
        json_object_set(changes, "name", json_object_get(rec, "name"));
    }
    if (json_object_size(changes) == 0) {
        json_decref(changes);
        return 0;
    }
    return events_emit(st, "user.updated", NULL, jget_str(rec, "id"),
                       json_pack("{s:o}", "changes", changes), err);
}

/* Reads user id for a change with its revision, checking expect_rev (when > 0) for a clear 412. */
static json_t *
user_for_change(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    int64_t rev = 0;
    json_t *rec = store_rec_get(st, &store_kind_user, id, &rev, err);

    if (rec != NULL && expect_rev > 0 && rev != expect_rev) {
        json_decref(rec);
        err_set(err, ERR_PRECONDITION_FAILED, NULL,
                "The user has changed since the ETag in If-Match was read.");
        return NULL;
    }
    return rec;
}

json_t *
accounts_user_update(store_t *st, const char *id, const accounts_user_patch_t *patch,
                     int64_t expect_rev, err_t *err)
{
    accounts_user_state_t was = ACCOUNTS_USER_ACTIVE;
    json_t *rec;

    assert(st != NULL && id != NULL && patch != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    rec = user_for_change(st, id, expect_rev, err);
    if (rec == NULL)
        goto fail;
    /* A user stored before users had a state is active. */
    (void) accounts_user_state_parse(jget_str(rec, "state"), &was);
    if (change_fields(st, rec, patch, err) ||
        (patch->has_state && patch->state != was && change_state(st, rec, patch->state, err)))
        goto fail;
    catalog_record_touch(rec);
    if (store_rec_update(st, &store_kind_user, id, rec, expect_rev, err) ||
        store_tx_commit(st, err))
        goto fail;
    return rec;
fail:
    store_tx_rollback(st);
    json_decref(rec);
    return NULL;
}

int
accounts_user_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    store_filter_t f = {.field = "userId", .op = STORE_FILTER_EQ, .value = id};
    json_t *rec, *tokens = NULL, *tok;
    int64_t n;
    size_t i;

    assert(st != NULL && id != NULL);
    if (store_tx_begin(st, err))
        return -1;
    rec = user_for_change(st, id, expect_rev, err);
    if (rec == NULL)
        goto fail;
    n = store_rec_count(st, &store_kind_subscription, &f, 1, err);
    if (n != 0) {
        if (n > 0)
            err_set(err, ERR_CONFLICT, "subscriptions",
                    "The user has subscriptions; delete them first.");
        goto fail;
    }
    /* Its tokens go with it: none authenticates from this transaction's commit on. */
    tokens = store_rec_list_all(st, &store_kind_token, &f, 1, err);
    if (tokens == NULL)
        goto fail;
    json_array_foreach(tokens, i, tok)
        if (store_rec_delete(st, &store_kind_token, jget_str(tok, "id"), 0, err))
            goto fail;
    if (store_rec_delete(st, &store_kind_user, id, expect_rev, err) ||
        events_emit(st, "user.deleted", NULL, id,
                    json_pack("{s:O}", "email", json_object_get(rec, "email")), err) ||
        store_tx_commit(st, err))
        goto fail;
    json_decref(tokens);
    json_decref(rec);
    return 0;
fail:
    store_tx_rollback(st);
    json_decref(tokens);
    json_decref(rec);
    return -1;
}
