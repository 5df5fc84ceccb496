/*
 * admin_tokens.c: named admin tokens with a scope (see accounts.h): create, view, revoke, authenticate.
 *
 * Invariants: a row never holds the token, only its SHA-256 (the token is in the create's answer and
 * nowhere else: not in the row, not in the event, not in a log); a token authenticates while it is
 * neither revoked nor past its expiry, read through the store's record cache, which the commit of a
 * revoke invalidates before the next request, so a revoke holds from the answer on. A revoked token
 * stays listed (revokedAt set) and is never revived. Every change raises its event (adminToken.created,
 * adminToken.revoked; no subscription) in the transaction of the change. lastUsedAt is kept to the minute:
 * a use is noted in memory and written by the main loop (so authentication never writes) into the store's
 * meta table beside the record, not into it, so that it never changes the token's revision and ETag.
 */
#include "accounts_internal.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>

#include "../events.h"
#include "../jget.h"
#include "../util.h"

static const char *const scope_names[] = {"admin", "readOnly", "usage"};

UTIL_ENUM_NAMES(accounts_admin_scope, accounts_admin_scope_t, scope_names)

static void admin_token_view_last_use(store_t *st, json_t *view);

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

    assert(rec != NULL);
    view = json_copy((json_t *) rec);
    if (view == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    json_object_del(view, "hash"); /* never leaves the store */
    admin_token_view_last_use(st, view);
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

#define USES_MAX 256
#define USE_GRANULE_MS 60000 /* lastUsedAt is written at most once a minute per token */
#define USE_META_PREFIX "adminToken.lastUsedMs."

/* What this process knows of each token's uses, under uses_lock: the last use to write (pending) and
 * when the last write happened. A full table forgets an entry with nothing pending. */
typedef struct {
    char id[UTIL_UUID_LEN + 1]; /* "": a free entry */
    int64_t at_ms;              /* the use to write, when pending */
    int64_t written_ms;         /* the use last written (0: none by this process) */
    bool pending;
} use_t;

static pthread_mutex_t uses_lock = PTHREAD_MUTEX_INITIALIZER;
static use_t uses[USES_MAX];

/* The entry of id, made when missing (NULL: the table is full of pending uses). uses_lock held. */
static use_t *
use_entry(const char *id)
{
    use_t *free_e = NULL, *idle = NULL;
    int i;

    for (i = 0; i < USES_MAX; i++) {
        if (strcmp(uses[i].id, id) == 0)
            return &uses[i];
        if (uses[i].id[0] == '\0') {
            if (free_e == NULL)
                free_e = &uses[i];
        } else if (!uses[i].pending && (idle == NULL || uses[i].written_ms < idle->written_ms)) {
            idle = &uses[i];
        }
    }
    if (free_e == NULL)
        free_e = idle;
    if (free_e != NULL) {
        memset(free_e, 0, sizeof(*free_e));
        memcpy(free_e->id, id, strlen(id) + 1);
    }
    return free_e;
}

/* Notes a use of token id now, unless this process wrote one less than a minute ago. */
static void
note_use(const char *id)
{
    int64_t now = util_now_ms();
    use_t *e;

    if (strlen(id) > UTIL_UUID_LEN)
        return;
    pthread_mutex_lock(&uses_lock);
    e = use_entry(id);
    if (e != NULL && !e->pending && now - e->written_ms >= USE_GRANULE_MS) {
        e->at_ms = now;
        e->pending = true;
    }
    pthread_mutex_unlock(&uses_lock);
}

/* The store key of token id's last use. */
static void
use_key(const char *id, char *key, size_t n)
{
    snprintf(key, n, "%s%.40s", USE_META_PREFIX, id); /* an id is a UUID */
}

/* Sets view's lastUsedAt from the store (left as it is when none is written or it cannot be read). */
static void
admin_token_view_last_use(store_t *st, json_t *view)
{
    char key[96], at[UTIL_TIME_LEN + 1];
    const char *id = jget_str(view, "id");
    err_t err = {0};
    int64_t last;

    if (st == NULL || id == NULL)
        return;
    use_key(id, key, sizeof(key));
    if (store_meta_get(st, key, &last, &err) == 0) {
        util_time_format(last, at);
        json_object_set_new(view, "lastUsedAt", json_string(at));
    }
}

/* Writes at_ms as token id's last use (in the store's meta table, so that the token's revision and ETag
 * stay) unless the token is revoked or gone, or a later use is written. Returns 0 or -1. */
static int
write_use(store_t *st, const char *id, int64_t at_ms, err_t *err)
{
    char key[96];
    int64_t last = 0;
    json_t *rec;
    bool live;
    int got = 1;

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
    live = json_is_null(json_object_get(rec, "revokedAt"));
    json_decref(rec);
    use_key(id, key, sizeof(key));
    if (live)
        got = store_meta_get(st, key, &last, err);
    if (got < 0 || (live && (got == 1 || last < at_ms) && store_meta_set(st, key, at_ms, err)) ||
        store_tx_commit(st, err)) {
        store_tx_rollback(st);
        return -1;
    }
    return 0;
}

int
accounts_admin_tokens_flush(store_t *st, err_t *err)
{
    use_t todo[USES_MAX];
    int n = 0, i, j;

    assert(st != NULL);
    pthread_mutex_lock(&uses_lock);
    for (i = 0; i < USES_MAX; i++)
        if (uses[i].pending)
            todo[n++] = uses[i];
    pthread_mutex_unlock(&uses_lock);
    for (i = 0; i < n; i++) {
        if (write_use(st, todo[i].id, todo[i].at_ms, err))
            return -1; /* what is still pending is written at the next round */
        pthread_mutex_lock(&uses_lock);
        for (j = 0; j < USES_MAX; j++)
            if (strcmp(uses[j].id, todo[i].id) == 0) {
                uses[j].pending = false;
                uses[j].written_ms = todo[i].at_ms;
            }
        pthread_mutex_unlock(&uses_lock);
    }
    return n;
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
    note_use(id);
    rc = 0;
cleanup:
    json_decref(rec);
    return rc;
}
