/*
 * auth.c: the authentication stage: who is calling, from the bearer token.
 *
 * The token's SHA-256 (hex) both authenticates and scopes the caller's Idempotency-Keys (r->scope). The
 * admin token is compared with the daemon's digest in constant time and works only on the admin listener;
 * a tenant token names its user (r->user_id) and works only on the tenant listener. No token is ever
 * copied into the request or logged.
 *
 * A known token is not hashed again: each thread keeps the digests of the tokens it saw last, in a small
 * table keyed by a fast hash of the token's text, the text compared in constant time. A token's digest
 * never changes, so an entry never goes stale; whether the token still authenticates (revoked, expired,
 * its user) is read every time, through the store's record cache, which a commit that writes tokens
 * invalidates before the next request: a revoke holds at once.
 */
#include "../internal.h"

#include <assert.h>
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

int
api_auth_or_reply(api_req_t *r)
{
    const char *token = bearer_token(r);
    err_t err = {0};

    assert(r != NULL && !r->replied);
    if (token == NULL) {
        api_reply_error(r, ERR_UNAUTHORIZED, NULL, "A bearer token is required.");
        return -1;
    }
    token_digest(token, r->scope);
    if (r->listener == API_LISTENER_ADMIN) {
        if (!util_digest_equal(r->scope, r->ctx->admin_token_hash)) {
            api_reply_error(r, ERR_UNAUTHORIZED, NULL, "A valid bearer token is required.");
            return -1;
        }
    } else if (accounts_authenticate(r->store, r->scope, r->user_id, &err)) {
        api_reply_err(r, &err);
        return -1;
    }
    return 0;
}
