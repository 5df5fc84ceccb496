/*
 * admin_tokens.c: named admin tokens with a scope (see accounts.h): create, view, revoke, authenticate.
 *
 * Invariants: a row never holds the token, only its SHA-256 (the token is in the create's answer and
 * nowhere else: not in the row, not in the event, not in a log); a token authenticates while it is
 * neither revoked nor past its expiry, read through the store's record cache, which the commit of a
 * revoke invalidates before the next request, so a revoke holds from the answer on. A revoked token
 * stays listed (revokedAt set) and is never revived. Every change raises its event (adminToken.created,
 * adminToken.revoked; no subscription) in the transaction of the change. lastUsedAt is kept to the minute:
 * a use is noted in memory (USES_MAX tokens at most; more wait for a later use) and written by the main
 * loop, so authentication never writes.
 */
#include "accounts_internal.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>

#include "../events.h"
#include "../jget.h"
#include "../util.h"

static const char *const scope_names[] = {"admin", "readOnly", "usage"};

#define USES_MAX 256
#define USE_GRANULE_MS 60000 /* lastUsedAt is written at most once a minute per token */

/* Uses of tokens not yet written, under uses_lock. */
typedef struct {
    char id[UTIL_UUID_LEN + 1];
    int64_t at_ms;
} use_t;

static pthread_mutex_t uses_lock = PTHREAD_MUTEX_INITIALIZER;
static use_t uses[USES_MAX];
static int nuses;

UTIL_ENUM_NAMES(accounts_admin_scope, accounts_admin_scope_t, scope_names)

json_t *
accounts_admin_token_create(store_t *st, const accounts_admin_token_req_t *req, err_t *err)
{
    unsigned char raw[32];
    char secret[sizeof(ACCOUNTS_ADMIN_TOKEN_PREFIX) + 44], hash[UTIL_SHA256_HEX_LEN + 1];
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1], expires[UTIL_TIME_LEN + 1];
    const char *scope;
    int64_t now_ms = util_now_ms();
    json_t *rec, *answer = NULL;

    assert(st != NULL && req != NULL && req->name != NULL);
    assert(req->expires_in_days >= 0 && req->expires_in_days <= 3650);
    scope = accounts_admin_scope_name(req->scope);
    if (util_random_bytes(raw, sizeof(raw))) {
        err_set(err, ERR_INTERNAL, NULL, "The random number generator failed.");
        return NULL;
    }
    memcpy(secret, ACCOUNTS_ADMIN_TOKEN_PREFIX, sizeof(ACCOUNTS_ADMIN_TOKEN_PREFIX) - 1);
    util_b64url_encode(raw, sizeof(raw), secret + sizeof(ACCOUNTS_ADMIN_TOKEN_PREFIX) - 1);
    memset(raw, 0, sizeof(raw));
    util_sha256_hex(secret, strlen(secret), hash);
    util_uuid(id);
    util_time_format(now_ms, now);
    if (req->expires_in_days > 0)
        util_time_format(now_ms + (int64_t) req->expires_in_days * 86400000, expires);
    rec = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:n, s:n, s:s, s:s}", "id", id, "name", req->name,
                    "scope", scope, "hash", hash, "expiresAt",
                    req->expires_in_days > 0 ? expires : NULL, "revokedAt", "lastUsedAt",
                    "createdAt", now, "updatedAt", now);
    if (rec == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        goto cleanup;
    }
    /* The feed names the token, never its value. */
    if (accounts__write_with_event(st, &store_kind_admin_token, rec, true, "adminToken.created", id,
                                   json_pack("{s:s, s:s, s:O}", "name", req->name, "scope", scope,
                                             "expiresAt", json_object_get(rec, "expiresAt")),
                                   err))
        goto cleanup;
    answer = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "id", id, "name", req->name, "scope", scope,
                       "token", secret, "createdAt", now, "expiresAt",
                       json_object_get(rec, "expiresAt"));
    if (answer == NULL)
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
cleanup:
    memset(secret, 0, sizeof(secret));
    json_decref(rec);
    return answer;
}

json_t *
accounts_admin_token_view(store_t *st, const json_t *rec, err_t *err)
{
    json_t *view;

    (void) st;
    assert(rec != NULL);
    view = json_copy((json_t *) rec);
    if (view == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    json_object_del(view, "hash"); /* never leaves the store */
    return view;
}

int
accounts_admin_token_revoke(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    char now[UTIL_TIME_LEN + 1];
    int64_t rev = 0;
    json_t *rec = NULL;

    assert(st != NULL && id != NULL);
    /* One transaction (nested in the caller's when one is open): the revision read is the one written. */
    if (store_tx_begin(st, err))
        return -1;
    rec = store_rec_get(st, &store_kind_admin_token, id, &rev, err);
    if (rec == NULL)
        goto fail;
    if (!json_is_null(json_object_get(rec, "revokedAt"))) {
        err_set(err, ERR_NOT_FOUND, NULL, "The admin token was not found.");
        goto fail;
    }
    if (expect_rev > 0 && rev != expect_rev) {
        err_set(err, ERR_PRECONDITION_FAILED, NULL,
                "The admin token has changed since the ETag in If-Match was read.");
        goto fail;
    }
    util_time_format(util_now_ms(), now);
    json_object_set_new(rec, "revokedAt", json_string(now));
    json_object_set_new(rec, "updatedAt", json_string(now));
    if (accounts__write_with_event(st, &store_kind_admin_token, rec, false, "adminToken.revoked", id,
                                   json_pack("{s:O}", "name", json_object_get(rec, "name")), err) ||
        store_tx_commit(st, err))
        goto fail;
    json_decref(rec);
    return 0;
fail:
    store_tx_rollback(st);
    json_decref(rec);
    return -1;
}

/* Whether the stored token rec may authenticate now: not revoked, not expired. */
static bool
token_live(const json_t *rec)
{
    const json_t *expires = json_object_get(rec, "expiresAt");
    int64_t expires_ms;

    if (!json_is_null(json_object_get(rec, "revokedAt")))
        return false;
    if (expires == NULL || json_is_null(expires))
        return true;
    return util_time_parse(json_string_value(expires), &expires_ms) == 0 &&
           expires_ms > util_now_ms();
}

/* Notes that token id was used at at_ms (the latest use noted wins; a full table drops it). */
static void
remember(const char *id, int64_t at_ms)
{
    int i;

    if (strlen(id) > UTIL_UUID_LEN)
        return;
    pthread_mutex_lock(&uses_lock);
    for (i = 0; i < nuses && strcmp(uses[i].id, id) != 0; i++)
        ;
    if (i < USES_MAX) {
        if (i == nuses) {
            memcpy(uses[i].id, id, strlen(id) + 1);
            uses[i].at_ms = at_ms;
            nuses++;
        } else if (at_ms > uses[i].at_ms) {
            uses[i].at_ms = at_ms;
        }
    }
    pthread_mutex_unlock(&uses_lock);
}

/* Notes a use of the token rec now, unless its stored lastUsedAt is less than a minute old. */
static void
note_use(const json_t *rec, const char *id)
{
    const char *last = jget_str(rec, "lastUsedAt");
    int64_t now = util_now_ms(), last_ms;

    if (last && util_time_parse(last, &last_ms) == 0 && now - last_ms < USE_GRANULE_MS)
        return;
    remember(id, now);
}

/* Writes lastUsedAt = at_ms on token id unless it is revoked, gone or already as late. */
static int
write_use(store_t *st, const char *id, int64_t at_ms, err_t *err)
{
    char at[UTIL_TIME_LEN + 1];
    const char *last;
    int64_t last_ms;
    json_t *rec;
    int rc = 0;

    if (store_tx_begin(st, err))
        return -1;
    rec = store_rec_get(st, &store_kind_admin_token, id, NULL, err);
    if (rec == NULL) {
        store_tx_rollback(st);
        if (err->code != ERR_NOT_FOUND)
            return -1;
        err_clear(err);
        return 0;
    }
    last = jget_str(rec, "lastUsedAt");
    if (json_is_null(json_object_get(rec, "revokedAt")) &&
        !(last && util_time_parse(last, &last_ms) == 0 && last_ms >= at_ms)) {
        util_time_format(at_ms, at);
        json_object_set_new(rec, "lastUsedAt", json_string(at));
        rc = store_rec_update(st, &store_kind_admin_token, id, rec, 0, err) ? -1 : 1;
    }
    json_decref(rec);
    if (rc >= 0 && store_tx_commit(st, err) == 0)
        return rc;
    store_tx_rollback(st);
    return -1;
}

int
accounts_admin_tokens_flush(store_t *st, err_t *err)
{
    use_t todo[USES_MAX];
    int n, i, rc, written = 0;

    assert(st != NULL);
    pthread_mutex_lock(&uses_lock);
    n = nuses;
    memcpy(todo, uses, (size_t) n * sizeof(todo[0]));
    nuses = 0;
    pthread_mutex_unlock(&uses_lock);
    for (i = 0; i < n; i++) {
        rc = write_use(st, todo[i].id, todo[i].at_ms, err);
        if (rc < 0) {
            for (; i < n; i++) /* noted again, for the next round */
                remember(todo[i].id, todo[i].at_ms);
            return -1;
        }
        written += rc;
    }
    return written;
}

int
accounts_admin_authenticate(store_t *st, const char *token_hash, accounts_admin_caller_t *caller,
                            err_t *err)
{
    json_t *rec = NULL;
    const char *id;
    int found, rc = -1;

    assert(st != NULL && token_hash != NULL && caller != NULL);
    found = store_rec_lookup_by_shared(st, &store_kind_admin_token, "hash", token_hash, &rec, err);
    if (found < 0)
        return -1;
    id = jget_str(rec, "id");
    if (found == 0 || !token_live(rec) || id == NULL || strlen(id) >= sizeof(caller->id) ||
        accounts_admin_scope_parse(jget_str(rec, "scope"), &caller->scope)) {
        err_set(err, ERR_UNAUTHORIZED, NULL, "A valid bearer token is required.");
        goto cleanup;
    }
    memcpy(caller->id, id, strlen(id) + 1);
    note_use(rec, id);
    rc = 0;
cleanup:
    json_decref(rec);
    return rc;
}
