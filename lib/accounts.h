/*
 * accounts.h: users, their API tokens, subscriptions, and tenant authentication.
 *
 * Tokens are 256 random bits, shown once when created and stored only as their SHA-256; a revoked or
 * expired token stops working at once (every request looks the hash up). A subscription belongs to one
 * user and one plan; tenants see only their own.
 * Requests come as structs the api edge has filled from bodies it has shape-checked (types, lengths,
 * choices); their strings are borrowed for the call. These functions decide what needs the state and
 * build the store records from the structs. Records returned are new references.
 */
#ifndef WAPD_ACCOUNTS_H
#define WAPD_ACCOUNTS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "store.h"
#include "util.h"

#define ACCOUNTS_TOKEN_PREFIX "wapd_"
#define ACCOUNTS_TOKEN_DAYS_DEFAULT 365

/* A subscription's state: tenants write only while it is active; deleting is set by DELETE alone. */
typedef enum {
    ACCOUNTS_SUBSCRIPTION_ACTIVE,
    ACCOUNTS_SUBSCRIPTION_SUSPENDED,
    ACCOUNTS_SUBSCRIPTION_DELETING,
} accounts_subscription_state_t;

/* "active", "suspended", "deleting"; parse answers -1 for any other text (NULL included). */
const char *accounts_subscription_state_name(accounts_subscription_state_t state);
int accounts_subscription_state_parse(const char *text, accounts_subscription_state_t *out);

/* A user create. email is required; name NULL: none (stored as null). */
typedef struct {
    const char *email;
    const char *name;
} accounts_user_req_t;

/* A token create. expires_in_days 0: not given (ACCOUNTS_TOKEN_DAYS_DEFAULT); otherwise 1 to 3650. */
typedef struct {
    int expires_in_days;
} accounts_token_req_t;

/* A subscription create. user_id and plan_id are required; display_name NULL: the plan's name. */
typedef struct {
    const char *user_id;
    const char *plan_id;
    const char *display_name;
} accounts_subscription_req_t;

/* A subscription PATCH: only what was given. The contract gives null no meaning here (the api edge
 * refuses it), so display_name NULL is "not given". state is active or suspended. */
typedef struct {
    bool has_state;
    accounts_subscription_state_t state;
    const char *display_name;
} accounts_subscription_patch_t;

/* A user's state: a suspended user's subscriptions are suspended (tenant writes refused), its tokens
 * still authenticate. */
typedef enum {
    ACCOUNTS_USER_ACTIVE,
    ACCOUNTS_USER_SUSPENDED,
} accounts_user_state_t;

/* "active", "suspended"; parse answers -1 for any other text (NULL included). */
const char *accounts_user_state_name(accounts_user_state_t state);
int accounts_user_state_parse(const char *text, accounts_user_state_t *out);

/* A user PATCH: only what was given. email and name NULL: not given (null is refused at the api edge
 * for email; name_null sets the name to null). */
typedef struct {
    const char *email;
    const char *name;
    bool name_null;
    bool has_state;
    accounts_user_state_t state;
} accounts_user_patch_t;

/* Registers the job kinds of this module (subscription.suspend, subscription.delete). */
int accounts_jobs_register(void);

/* Creates a user (409 on email when the address is taken) and answers its record. */
json_t *accounts_user_create(store_t *st, const accounts_user_req_t *req, err_t *err);

/* Applies a user PATCH in one transaction and answers the user's record (users.c). A taken email is 409
 * naming email. Suspending suspends each of the user's active subscriptions as the subscription PATCH
 * does (one subscription.suspend job each, its params naming the user), emits user.suspended {
 * subscriptionIds, jobIds}; activating reactivates the subscriptions that the user's suspend suspended
 * (those whose last suspend job names the user; one an admin suspended on its own stays suspended) and
 * emits user.activated {subscriptionIds}. A change of name or email emits user.updated {changes}. */
json_t *accounts_user_update(store_t *st, const char *id, const accounts_user_patch_t *patch,
                             int64_t expect_rev, err_t *err);
/* Deletes a user that has no subscription (409 Conflict naming subscriptions while any exists, whatever
 * its state), with its tokens (revoked at once), in one transaction; emits user.deleted. */
int accounts_user_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err);

/* Creates a token for the user: answers {id, userId, token, expiresAt, createdAt}; the token text appears
 * nowhere else. req may be NULL (every field not given). */
json_t *accounts_token_create(store_t *st, const char *user_id, const accounts_token_req_t *req,
                              err_t *err);
/* Revokes the user's token at once; 404 when the user has no such live token. */
int accounts_token_revoke(store_t *st, const char *user_id, const char *token_id, err_t *err);
/* Finds the user of a live tenant token, given the token's SHA-256 (hex); writes user_id on success;
 * 401 Unauthorized otherwise. */
int accounts_authenticate(store_t *st, const char *token_hash, char user_id[UTIL_UUID_LEN + 1],
                          err_t *err);

/* Creates an active subscription of an existing user to an existing plan that is not decommissioned
 * (400 on userId or planId when either is missing, 409 on planId when decommissioned), emits
 * subscription.created, and answers its record. */
json_t *accounts_subscription_create(store_t *st, const accounts_subscription_req_t *req, err_t *err);
/* Applies a PATCH in a transaction of its own (nested in the caller's when one is open) and answers the
 * updated record. Suspending also answers the suspend job in *job (202 for the caller); otherwise *job
 * is NULL. */
json_t *accounts_subscription_update(store_t *st, const char *id,
                                     const accounts_subscription_patch_t *patch, int64_t expect_rev,
                                     json_t **job, err_t *err);
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

/* ---- admin tokens (accounts/admin_tokens.c) ----
 * A named token of the admin listener with a scope: admin (everything), readOnly (every GET but the
 * backup), usage (the usage feeds and their acknowledgement). Like a tenant token it is 256 random bits
 * shown once (prefix ACCOUNTS_ADMIN_TOKEN_PREFIX), stored as its SHA-256, and stops working at the commit
 * that revokes it. The bootstrap token (the daemon's --admin-token) is not one of them. */
#define ACCOUNTS_ADMIN_TOKEN_PREFIX "wapdadm_"
#define ACCOUNTS_ADMIN_TOKEN_ID_MAX 40 /* room for a UUID or "bootstrap" */

typedef enum {
    ACCOUNTS_ADMIN_SCOPE_ADMIN,
    ACCOUNTS_ADMIN_SCOPE_READ_ONLY,
    ACCOUNTS_ADMIN_SCOPE_USAGE,
} accounts_admin_scope_t;

/* "admin", "readOnly", "usage"; parse answers -1 for any other text (NULL included). */
const char *accounts_admin_scope_name(accounts_admin_scope_t scope);
int accounts_admin_scope_parse(const char *text, accounts_admin_scope_t *out);

/* An admin token create. name 1 to 100 characters (required); expires_in_days 0: never expires,
 * otherwise 1 to 3650. */
typedef struct {
    const char *name;
    accounts_admin_scope_t scope;
    int expires_in_days;
} accounts_admin_token_req_t;

/* Who called the admin listener: the token's id and its scope. */
typedef struct {
    char id[ACCOUNTS_ADMIN_TOKEN_ID_MAX];
    accounts_admin_scope_t scope;
} accounts_admin_caller_t;

/* Creates an admin token and emits adminToken.created in one transaction (nested in the caller's when one
 * is open); answers {id, name, scope, token, createdAt, expiresAt}, the one place the token appears. */
json_t *accounts_admin_token_create(store_t *st, const accounts_admin_token_req_t *req, err_t *err);
/* The admin's view of a stored admin token: every field but its hash (a new object; rec borrowed). */
json_t *accounts_admin_token_view(store_t *st, const json_t *rec, err_t *err);
/* Revokes admin token id at once and emits adminToken.revoked, in one transaction; 404 when there is no
 * such live token, 412 when expect_rev (> 0) is not its revision. */
int accounts_admin_token_revoke(store_t *st, const char *id, int64_t expect_rev, err_t *err);
/* Finds the live admin token whose SHA-256 (hex) is token_hash: writes *caller on success; 401
 * Unauthorized when there is none (unknown, revoked or expired). */
int accounts_admin_authenticate(store_t *st, const char *token_hash, accounts_admin_caller_t *caller,
                                err_t *err);
/* When each admin token was last used, to the minute: accounts_admin_authenticate notes a use in memory
 * when the stored lastUsedAt is a minute old or more (no write on the request path); the daemon's main loop
 * writes the noted uses with accounts_admin_tokens_flush, each in a transaction of its own (a token revoked
 * meanwhile is left alone). Returns the number of tokens written, or -1 (the uses not written stay noted). */
int accounts_admin_tokens_flush(store_t *st, err_t *err);
/* accounts_authenticate that also writes the token's id (token_id may be NULL). */
int accounts_authenticate_token(store_t *st, const char *token_hash, char user_id[UTIL_UUID_LEN + 1],
                                char token_id[UTIL_UUID_LEN + 1], err_t *err);

#endif
