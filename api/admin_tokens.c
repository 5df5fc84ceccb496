/*
 * admin_tokens.c: the named admin tokens of /v1/admin/tokens (see lib/accounts.h for their scopes).
 *
 * Listing, reading (with ETag) and revoking (DELETE with If-Match, 204) are the generic handlers of
 * resource.c over api_res_admin_tokens, whose view drops the hash. The create has a handler of its own:
 * its answer is the one place the token appears, so it is answered as lib made it, not re-read.
 *
 * No secret at rest: a POST with Idempotency-Key does not keep that answer. What the key keeps, and a
 * reuse of the key replays, is a 409 Conflict naming the token that the first request created (whose
 * value was shown once): a client that lost the answer revokes that token and creates another.
 */
#include "internal.h"
#include "requests.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "../lib/accounts.h"
#include "../lib/jget.h"

#define JV_END {NULL, 0, 0, 0, 0, NULL, NULL}

static const char *const scopes[] = {"admin", "readOnly", "usage", NULL};

static const jv_field_t admin_token_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 100, NULL, NULL},
    {"scope", JV_STRING, JV_REQUIRED, 1, 16, scopes, NULL},
    {"expiresInDays", JV_INT, 0, 1, 3650, NULL, NULL},
    JV_END,
};
const jv_field_t *const api_spec_admin_token_create = admin_token_spec;

static const char *const admin_token_filters[] = {"scope", "name", NULL};

const api_resource_t api_res_admin_tokens = {
    .kind = &store_kind_admin_token,
    .view = accounts_admin_token_view,
    .filters = admin_token_filters,
    .remove = accounts_admin_token_revoke,
};

void
api_admin_token_create(api_req_t *r)
{
    accounts_admin_token_req_t req = {0};
    err_t err = {0};
    json_t *body = api_body(r, admin_token_spec, false, false), *answer;
    int rc;

    if (body == NULL)
        return;
    req.name = jget_str(body, "name");
    rc = accounts_admin_scope_parse(jget_str(body, "scope"), &req.scope);
    assert(rc == 0); /* the table's choices */
    (void) rc;
    req.expires_in_days = (int) jget_int(body, "expiresInDays"); /* absent: 0, never expires */
    answer = accounts_admin_token_create(r->store, &req, &err);
    json_decref(body);
    if (answer == NULL) {
        api_reply_err(r, &err);
        return;
    }
    snprintf(r->location, sizeof(r->location), "%s/%s", r->route->pattern, jget_str(answer, "id"));
    if (api_header(r, "Idempotency-Key") != NULL && api_idem_keep_redacted(r, "admin token", jget_str(answer, "id"))) {
        json_decref(answer);
        api_reply_error(r, ERR_INTERNAL, NULL, "Out of memory."); /* rolls the create back */
        return;
    }
    api_reply_json(r, 201, answer);
}
