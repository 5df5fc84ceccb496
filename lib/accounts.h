/*
 * accounts.h: users, their API tokens, subscriptions, and tenant authentication.
 *
 * Tokens are 256 random bits, shown once when created and stored only as their SHA-256; a revoked or
 * expired token stops working at once (every request looks the hash up). A subscription belongs to one
 * user and one plan; tenants see only their own.
 * Bodies passed in have been shape-checked by api/. Records returned are new references.
 */
#ifndef WAPD_ACCOUNTS_H
#define WAPD_ACCOUNTS_H

#include <jansson.h>

#include "err.h"
#include "store.h"
#include "util.h"

#define ACCOUNTS_TOKEN_PREFIX "wapd_"

/* Registers the job kinds of this module (subscription.suspend, subscription.delete). */
int accounts_jobs_register(void);

json_t *accounts_user_create(store_t *st, const json_t *body, err_t *err);

/* Creates a token for the user: answers {id, token, expiresAt}; the token text appears nowhere else.
 * body may be NULL or carry expiresInDays (default 365). */
json_t *accounts_token_create(store_t *st, const char *user_id, const json_t *body, err_t *err);
/* Revokes the user's token at once; 404 when the user has no such live token. */
int accounts_token_revoke(store_t *st, const char *user_id, const char *token_id, err_t *err);
/* Finds the user of a live tenant token, given the token's SHA-256 (hex); writes user_id on success;
 * 401 Unauthorized otherwise. */
int accounts_authenticate(store_t *st, const char *token_hash, char user_id[UTIL_UUID_LEN + 1],
                          err_t *err);

json_t *accounts_subscription_create(store_t *st, const json_t *body, err_t *err);
/* PATCH of {state?, displayName?}. Suspending answers the suspend job in *job (202 for the caller);
 * otherwise *job is NULL and the updated record is returned. */
json_t *accounts_subscription_update(store_t *st, const char *id, const json_t *patch,
                                     int64_t expect_rev, json_t **job, err_t *err);
/* Marks the subscription deleting and answers the job that deletes every resource it owns, then it. */
json_t *accounts_subscription_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err);
/* The subscription record if it exists and belongs to user_id (any user when user_id is NULL);
 * otherwise 404, the same for a foreign id as for a missing one. */
json_t *accounts_subscription_get(store_t *st, const char *id, const char *user_id, int64_t *rev,
                                  err_t *err);
/* The same, read-only: the record may be shared with the thread's cache and must not be modified. */
json_t *accounts_subscription_peek(store_t *st, const char *id, const char *user_id, int64_t *rev,
                                   err_t *err);
/* The tenant's view of a subscription record: plan name, quotas, usage against them, effective
 * checkpoint mode. */
json_t *accounts_subscription_view(store_t *st, const json_t *sub, err_t *err);

#endif
