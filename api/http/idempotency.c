/*
 * idempotency.c: the Idempotency-Key stage of a POST.
 *
 * A POST with Idempotency-Key runs, inside its write transaction, after a lookup of an answer saved for the
 * same (caller, method, path, key) within the last 24 hours: a saved answer for the same body is replayed
 * (status, Location, body) without running the handler; one for another body is 409 Conflict. A successful
 * answer is saved in the same transaction as the change it reports, so a key is never recorded for a change
 * that did not commit, and a committed change always has its key. An answer that holds a secret shown
 * once (r->idem_body set) is not kept: what stands for it is.
 *
 * While a request holds a key (claimed before its write transaction begins, so before it waits for the
 * writer, until that transaction has ended), another request with the same key is 409 Conflict at once
 * rather than waiting for it: the in-flight claims live in a small table
 * under a mutex, keyed by the digest of (caller, method, path, key); a claim is released after the commit
 * or rollback, so a request that finds no claim finds the saved answer of any that held one.
 */
#include "../internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDEMPOTENCY_MAX_AGE_MS (24LL * 3600 * 1000)

#define CLAIMS_MAX 4096 /* keys in flight at once; beyond it a request is answered 503 */

static pthread_mutex_t claims_lock = PTHREAD_MUTEX_INITIALIZER;
static char claims[CLAIMS_MAX][UTIL_SHA256_HEX_LEN + 1]; /* "" : a free slot */

/* Claims digest for this request: 0, or 1 when another request holds it, -1 when the table is full. */
static int
claim(const char *digest)
{
    int i, free_slot = -1, rc = 0;

    pthread_mutex_lock(&claims_lock);
    for (i = 0; i < CLAIMS_MAX; i++) {
        if (claims[i][0] == '\0') {
            if (free_slot < 0)
                free_slot = i;
        } else if (strcmp(claims[i], digest) == 0) {
            rc = 1;
            break;
        }
    }
    if (rc == 0 && free_slot < 0)
        rc = -1;
    if (rc == 0) {
        memcpy(claims[free_slot], digest, UTIL_SHA256_HEX_LEN + 1);
    }
    pthread_mutex_unlock(&claims_lock);
    return rc;
}

void
api_idem_release(api_idem_t *idem)
{
    int i;

    if (idem->claim[0] == '\0')
        return;
    pthread_mutex_lock(&claims_lock);
    for (i = 0; i < CLAIMS_MAX; i++)
        if (strcmp(claims[i], idem->claim) == 0) {
            claims[i][0] = '\0';
            break;
        }
    pthread_mutex_unlock(&claims_lock);
    idem->claim[0] = '\0';
}

/* Replays the saved answer ans (borrowed). */
static void
replay(api_req_t *r, const json_t *ans)
{
    const char *loc = json_string_value(json_object_get(ans, "location"));
    const char *body = json_string_value(json_object_get(ans, "body"));
    int status = (int) json_integer_value(json_object_get(ans, "status"));

    if (loc)
        snprintf(r->location, sizeof(r->location), "%s", loc);
    if (status == 202)
        r->retry_after = 1;
    api_reply_text(r, status, NULL, body && *body ? strdup(body) : NULL);
}

int
api_idem_claim_or_reply(api_req_t *r, api_idem_t *idem)
{
    char *id = NULL;
    char digest[UTIL_SHA256_HEX_LEN + 1];
    const char *key;
    int held;

    assert(r->tx == API_TX_NONE && idem->claim[0] == '\0');
    idem->key = NULL;
    idem->replayed = false;
    if (r->method_id != API_POST)
        return 0;
    key = api_header(r, "Idempotency-Key");
    if (key == NULL)
        return 0;
    if (strlen(key) == 0 || strlen(key) > 255) {
        api_reply_error(r, ERR_INVALID_REQUEST, "Idempotency-Key",
                        "Idempotency-Key must be 1 to 255 characters.");
        return 1;
    }
    if (asprintf(&id, "%s\n%s\n%s\n%s", r->scope, r->method, r->path, key) < 0) {
        api_reply_error(r, ERR_INTERNAL, NULL, "Out of memory.");
        return 1;
    }
    util_sha256_hex(id, strlen(id), digest);
    free(id);
    held = claim(digest);
    if (held > 0) {
        api_reply_error(r, ERR_CONFLICT, "Idempotency-Key",
                        "A request with this Idempotency-Key is still in progress.");
        return 1;
    }
    if (held < 0) {
        api_reply_error(r, ERR_UNAVAILABLE, NULL,
                        "Too many requests with an Idempotency-Key are in progress; try again.");
        return 1;
    }
    memcpy(idem->claim, digest, sizeof(digest));
    idem->key = key;
    return 0;
}

int
api_idem_begin_or_reply(api_req_t *r, api_idem_t *idem)
{
    err_t err = {0};
    json_t *ans;

    assert(r->tx == API_TX_WRITE);
    if (idem->key == NULL) /* no key, or not a POST (api_idem_claim_or_reply) */
        return 0;
    util_sha256_hex(r->body ? r->body : "", r->body_len, idem->body_hash);
    ans = store_idem_lookup(r->store, r->scope, r->method, r->path, idem->key, IDEMPOTENCY_MAX_AGE_MS,
                            &err);
    if (ans == NULL) {
        if (err.code == ERR_NONE)
            return 0;
        api_reply_err(r, &err);
        return 1;
    }
    if (strcmp(json_string_value(json_object_get(ans, "bodyHash")), idem->body_hash) != 0)
        api_reply_error(r, ERR_CONFLICT, "Idempotency-Key",
                        "This Idempotency-Key was used with a different body.");
    else
        replay(r, ans);
    idem->replayed = true;
    json_decref(ans);
    return 1;
}

int
api_idem_save(api_req_t *r, const api_idem_t *idem, err_t *err)
{
    json_t *ans;
    int rc;

    assert(r->tx == API_TX_WRITE && r->replied);
    if (idem->key == NULL)
        return 0;
    if (r->idem_body != NULL) /* the answer holds a secret: keep what stands for it */
        ans = json_pack("{s:s, s:i, s:s}", "bodyHash", idem->body_hash, "status", r->idem_status,
                        "body", r->idem_body);
    else
        ans = json_pack("{s:s, s:i, s:s?, s:s}", "bodyHash", idem->body_hash, "status", r->status,
                        "location", r->location[0] ? r->location : NULL, "body",
                        r->resp ? r->resp : "");
    if (ans == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    rc = store_idem_save(r->store, r->scope, r->method, r->path, idem->key, ans, err);
    json_decref(ans);
    return rc;
}

int
api_idem_keep_redacted(api_req_t *r, const char *what, const char *id)
{
    api_req_t *scratch = api_req_new(r->ctx, r->listener, NULL, NULL, r->path, r->method);

    assert(r->idem_body == NULL && what != NULL && id != NULL);
    if (scratch == NULL)
        return -1;
    api_reply_error(scratch, ERR_CONFLICT, "Idempotency-Key",
                    "This Idempotency-Key created %s %s; its value was shown once and is not kept: revoke "
                    "it and create another if the answer was lost.",
                    what, id);
    r->idem_body = scratch->resp;
    r->idem_status = scratch->status;
    scratch->resp = NULL;
    api_req_free(scratch);
    return r->idem_body != NULL ? 0 : -1;
}
