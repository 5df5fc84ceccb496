/*
 * auth.c: the authentication stage: who is calling, from the bearer token.
 *
 * The token is hashed once per request (SHA-256, hex); the digest both authenticates and scopes the
 * caller's Idempotency-Keys (r->scope). The admin token is compared with the daemon's digest in constant
 * time and works only on the admin listener; a tenant token names its user (r->user_id) and works only on
 * the tenant listener. No token is ever copied into the request or logged.
 */
#include "../internal.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

#include "../../lib/accounts.h"

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
    util_sha256_hex(token, strlen(token), r->scope);
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
