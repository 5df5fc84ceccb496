/*
 * auth.c: the authentication stage: who is calling, from the bearer token.
 *
 * The token's SHA-256 (hex) both authenticates and scopes the caller's Idempotency-Keys (r->scope). On
 * the admin listener the caller is the bootstrap token (compared with the daemon's digest in constant
 * time; scope admin, id "bootstrap") or a live named admin token; its scope then decides, from the method
 * and path alone, whether it may make the request (403 Forbidden naming the scope needed): admin may do
 * everything, readOnly every GET but the backup, usage only the usage feeds (GET /v1/admin/usage, POST
 * /v1/admin/usage/ack, GET /usage). A tenant token names its user (r->user_id) and works only on the
 * tenant listener. The caller's token id (never the token) is kept in r->token_id for the request log. No
 * token is ever copied into the request or logged.
 *
 * A known token is not hashed again: each thread keeps the digests of the tokens it saw last, in a small
 * table keyed by a fast hash of the token's text, the text compared in constant time. A token's digest
 * never changes, so an entry never goes stale; whether the token still authenticates (revoked, expired,
 * its user) is read every time, through the store's record cache, which a commit that writes tokens
 * invalidates before the next request: a revoke holds at once.
 */
#include "../internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>

#include "../../lib/accounts.h"

#define DIGEST_SLOTS 64
#define DIGEST_TOKEN_MAX 160 /* longer tokens are hashed every time */

/* One token seen by this thread and its digest. len 0: empty. */
typedef struct {
    uint64_t hash;
    size_t len;
    char token[DIGEST_TOKEN_MAX];
    char digest[UTIL_SHA256_HEX_LEN + 1];
} digest_slot_t;

static __thread digest_slot_t digest_slots[DIGEST_SLOTS];

/* FNV-1a over the token's text: picks the slot, and a mismatch skips the constant-time compare. */
static uint64_t
fast_hash(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char) s[i]) * 1099511628211ull;
    return h;
}

/* Whether a and b (n bytes each) are equal, in time that depends only on n. */
static bool
same_bytes(const char *a, const char *b, size_t n)
{
    unsigned char diff = 0;
    size_t i;

    for (i = 0; i < n; i++)
        diff |= (unsigned char) (a[i] ^ b[i]);
    return diff == 0;
}

/* The SHA-256 hex of token into out, from this thread's table when it saw the token before. */
static void
token_digest(const char *token, char out[UTIL_SHA256_HEX_LEN + 1])
{
    size_t n = strlen(token);
    uint64_t h = fast_hash(token, n);
    digest_slot_t *e = &digest_slots[h % DIGEST_SLOTS];

    if (e->len == n && e->hash == h && same_bytes(e->token, token, n)) {
        memcpy(out, e->digest, UTIL_SHA256_HEX_LEN + 1);
        return;
    }
    util_sha256_hex(token, n, out);
    if (n == 0 || n >= DIGEST_TOKEN_MAX)
        return;
    e->hash = h;
    e->len = n;
    memcpy(e->token, token, n);
    memcpy(e->digest, out, UTIL_SHA256_HEX_LEN + 1);
}

static const char *
bearer_token(api_req_t *r)
{
    const char *h = api_header(r, "Authorization");

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

_Static_assert(sizeof(((api_req_t *) 0)->token_id) >= ACCOUNTS_ADMIN_TOKEN_ID_MAX &&
                   sizeof(((api_req_t *) 0)->token_id) > UTIL_UUID_LEN,
               "r->token_id holds any caller's token id");

/* Whether r is the WAP usage feed acknowledging what it read (GET /usage?lastID=N: a write). */
static bool
wap_usage_ack(api_req_t *r)
{
    const char *last = strcmp(r->path, "/usage") == 0 ? api_query(r, "lastID") : NULL;

    return last != NULL && *last != '\0';
}

/* Whether a token of scope may make r's request on the admin listener; else writes the scope it needs.
 * Reads are GETs, but for the backup (admin) and the WAP feed's acknowledgement (usage or admin). */
static bool
scope_allows(accounts_admin_scope_t scope, api_req_t *r, accounts_admin_scope_t *needs)
{
    bool get = r->method_id == API_GET;
    bool ack = get && wap_usage_ack(r);

    if (ack)
        *needs = ACCOUNTS_ADMIN_SCOPE_USAGE;
    else if (get && strcmp(r->path, "/v1/admin/backup") != 0)
        *needs = ACCOUNTS_ADMIN_SCOPE_READ_ONLY;
    else
        *needs = ACCOUNTS_ADMIN_SCOPE_ADMIN;
    switch (scope) {
    case ACCOUNTS_ADMIN_SCOPE_ADMIN:
        return true;
    case ACCOUNTS_ADMIN_SCOPE_READ_ONLY:
        return *needs == ACCOUNTS_ADMIN_SCOPE_READ_ONLY;
    case ACCOUNTS_ADMIN_SCOPE_USAGE:
        return (get && (strcmp(r->path, "/v1/admin/usage") == 0 || strcmp(r->path, "/usage") == 0)) ||
               (r->method_id == API_POST && strcmp(r->path, "/v1/admin/usage/ack") == 0);
    }
    return false;
}

/* The admin listener: the bootstrap token or a live admin token, then its scope. */
static int
admin_auth_or_reply(api_req_t *r)
{
    accounts_admin_caller_t who = {.scope = ACCOUNTS_ADMIN_SCOPE_ADMIN};
    accounts_admin_scope_t needs;
    err_t err = {0};

    if (util_digest_equal(r->scope, r->ctx->admin_token_hash)) {
        snprintf(r->token_id, sizeof(r->token_id), "bootstrap");
        return 0;
    }
    if (accounts_admin_authenticate(r->store, r->scope, &who, &err)) {
        api_reply_err(r, &err);
        return -1;
    }
    snprintf(r->token_id, sizeof(r->token_id), "%s", who.id);
    if (!scope_allows(who.scope, r, &needs)) {
        api_reply_error(r, ERR_FORBIDDEN, NULL,
                        "This request needs a token of scope %s%s; this token's scope is %s.",
                        accounts_admin_scope_name(needs),
                        needs != ACCOUNTS_ADMIN_SCOPE_ADMIN ? " (or admin)" : "",
                        accounts_admin_scope_name(who.scope));
        return -1;
    }
    return 0;
}

int
api_auth_or_reply(api_req_t *r)
{
    const char *token = bearer_token(r);
    char tenant_token_id[UTIL_UUID_LEN + 1];
    err_t err = {0};

    assert(r != NULL && !r->replied);
    if (token == NULL) {
        api_reply_error(r, ERR_UNAUTHORIZED, NULL, "A bearer token is required.");
        return -1;
    }
    token_digest(token, r->scope);
    if (r->listener == API_LISTENER_ADMIN)
        return admin_auth_or_reply(r);
    if (accounts_authenticate_token(r->store, r->scope, r->user_id, tenant_token_id, &err)) {
        api_reply_err(r, &err);
        return -1;
    }
    snprintf(r->token_id, sizeof(r->token_id), "%s", tenant_token_id);
    return 0;
}
