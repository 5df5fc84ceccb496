/*
 * pipeline.c: the path of one request from its parsed headers and body to its answer, the same for both
 * listeners. The listener (listener.c) calls api_pipeline_run once the body is in, and api_pipeline_done
 * once the answer is queued.
 *
 * Stages, in this order (the order of the errors is part of the contract):
 *   1. limits: a body over API_BODY_MAX is 413, before anything else is looked at;
 *   2. authentication (auth.c): 401, unless the route is public; then an admin token's scope (403); then,
 *      on the tenant listener, the token's rate limit (ratelimit.c): 429;
 *   3. routing (router.c): 404 when no route matches;
 *   4. the transaction: this file is its one owner. A request whose route has a handler for a method that
 *      writes (every method but GET) runs in one write transaction; every other request in one read
 *      transaction (one snapshot). A GET's read transaction opens before authentication, so the token is
 *      read in the same snapshot; a write's transaction opens only after authentication and routing, so a
 *      refused write never waits for the write gate;
 *   5. scope: a tenant path under /v1/subscriptions/{sid} loads the caller's subscription and its plan into
 *      r->sub and r->plan, once, inside that transaction (404, the same for a foreign id as a missing one);
 *      no layer below reads them again;
 *   6. method: 405 with Allow when the route has no handler for it;
 *   7. idempotency (idempotency.c): a POST with Idempotency-Key may be replayed here;
 *   8. the handler, which answers exactly once (reply.c);
 *   9. the end of the transaction: a write commits only when its answer is a success, together with its
 *      Idempotency-Key record, and is rolled back otherwise; an answer is sent only after its commit, so an
 *      acknowledged write survives kill -9. A failed commit replaces the answer with its error.
 *  10. with --public-url, a Location (a path, as handlers and saved Idempotency-Key answers hold it)
 *      becomes that URL and the path; without it, Location stays the path, which a client resolves against
 *      the URL it asked (scheme, host and port included, behind TLS or not).
 */
#include "../internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/accounts.h"
#include "../../lib/log.h"

static const char *
listener_name(api_listener_t l)
{
    return l == API_LISTENER_ADMIN ? "admin" : "tenant";
}

/* Opens the request's transaction of that kind; replies and returns -1 when it cannot. */
static int
tx_begin_or_reply(api_req_t *r, api_tx_t kind)
{
    err_t err = {0};
    int rc;

    assert(r->tx == API_TX_NONE && kind != API_TX_NONE);
    rc = kind == API_TX_READ ? store_tx_begin_read(r->store, &err) : store_tx_begin(r->store, &err);
    if (rc) {
        api_reply_err(r, &err);
        return -1;
    }
    r->tx = kind;
    return 0;
}

/* A write that could not commit: rolled back, and its answer replaced by the error (err). */
static void
commit_failed(api_req_t *r, err_t *err)
{
    if (err->code == ERR_NONE)
        err_set(err, ERR_INTERNAL, NULL, "The change could not be committed.");
    store_tx_rollback(r->store);
    api_reply_retract(r);
    api_reply_err(r, err);
}

/* Ends the request's transaction (when one is open): a read ends; a write commits a successful answer with
 * its Idempotency-Key record, and rolls back anything else. */
static void
tx_end(api_req_t *r, api_idem_t *idem)
{
    err_t err = {0};

    assert(r->replied);
    switch (r->tx) {
    case API_TX_NONE:
        break;
    case API_TX_READ:
        store_tx_commit(r->store, &err);
        break;
    case API_TX_WRITE:
        if (r->status >= 400 || idem->replayed)
            store_tx_rollback(r->store);
        else if (api_idem_save(r, idem, &err) || store_tx_commit(r->store, &err))
            commit_failed(r, &err);
        break;
    }
    r->tx = API_TX_NONE;
    api_idem_release(idem); /* after the commit: a later request finds the saved answer */
}

/* Stage 10: Location on --public-url, on the tenant listener (the one a public proxy fronts; the admin
 * listener's links never point at it, so an admin token never goes there). A URL too long for r->location
 * keeps the path, which is still right. */
static void
location_public(api_req_t *r)
{
    char path[sizeof(r->location)];
    int n;

    if (r->ctx->public_url == NULL || r->listener != API_LISTENER_TENANT || r->location[0] != '/')
        return;
    snprintf(path, sizeof(path), "%s", r->location);
    n = snprintf(r->location, sizeof(r->location), "%s%s", r->ctx->public_url, path);
    if (n < 0 || (size_t) n >= sizeof(r->location))
        snprintf(r->location, sizeof(r->location), "%s", path);
}

/* Stage 5: a tenant path under {sid} loads the caller's subscription and its plan. Replies and returns -1
 * when either is missing. */
static int
scope_or_reply(api_req_t *r)
{
    err_t err = {0};

    assert(r->tx != API_TX_NONE && r->route != NULL);
    if (r->listener != API_LISTENER_TENANT || strstr(r->route->pattern, "{sid}") == NULL)
        return 0;
    r->sub = accounts_subscription_peek(r->store, r->params[0], r->user_id, &r->sub_rev, &err);
    if (r->sub != NULL)
        r->plan = store_rec_get_shared(r->store, &store_kind_plan,
                                       json_string_value(json_object_get(r->sub, "planId")), NULL,
                                       &err);
    if (r->plan == NULL) {
        api_reply_err(r, &err);
        return -1;
    }
    return 0;
}

void
api_pipeline_run(api_req_t *r, const api_route_table_t *table)
{
    const api_route_t *route;
    api_handler_t handler = NULL;
    api_idem_t idem = {0};
    api_tx_t kind;

    assert(r != NULL && table != NULL);
    assert(!r->replied && r->tx == API_TX_NONE);
    if (r->body_too_large) {
        api_reply_error(r, ERR_PAYLOAD_TOO_LARGE, NULL, "The body is larger than %d bytes.",
                        API_BODY_MAX);
        return;
    }
    route = api_route_find(table, r, r->listener, r->path);
    if (route != NULL && r->method_id < API__METHODS)
        handler = route->handlers[r->method_id];
    kind = handler != NULL && r->method_id != API_GET ? API_TX_WRITE : API_TX_READ;
    if (kind == API_TX_READ && tx_begin_or_reply(r, kind))
        return;
    if (route == NULL || !(route->flags & API_ROUTE_PUBLIC)) {
        if (api_auth_or_reply(r))
            goto done;
        if (r->listener == API_LISTENER_TENANT && api_ratelimit_or_reply(r))
            goto done;
    }
    if (route == NULL) {
        api_reply_error(r, ERR_NOT_FOUND, NULL, "No resource lives at this path.");
        goto done;
    }
    r->route = route;
    r->route_index = (int) (route - table->rows);
    if (kind == API_TX_WRITE && handler != NULL && api_idem_claim_or_reply(r, &idem))
        goto done;
    if (kind == API_TX_WRITE && tx_begin_or_reply(r, kind))
        goto done;
    if (scope_or_reply(r))
        goto done;
    if (handler == NULL) {
        api_route_allow(route, r->allow, sizeof(r->allow));
        api_reply_error(r, ERR_METHOD_NOT_ALLOWED, NULL, "This path takes only %s.", r->allow);
        goto done;
    }
    if (kind == API_TX_WRITE && api_idem_begin_or_reply(r, &idem))
        goto done;
    assert(r->tx == kind); /* a handler always runs inside the request's transaction */
    handler(r);
    assert(r->replied);    /* and answers */
done:
    tx_end(r, &idem);
    location_public(r);
}

static void
log_request(api_req_t *r, double seconds)
{
    json_t *line;
    char now[UTIL_TIME_LEN + 1];
    char *text;

    util_time_format(util_now_ms(), now);
    line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:f, s:s?}", "ts", now, "level",
                     "info", "msg", "request", "listener", listener_name(r->listener), "requestId",
                     r->request_id, "method", r->method, "path", r->path, "status", r->status,
                     "durationMs", seconds * 1000.0, "tokenId", r->token_id[0] ? r->token_id : NULL);
    if (line == NULL)
        return;
    text = util_json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(4));
    json_decref(line);
    if (text) {
        fprintf(stderr, "%s\n", text);
        free(text);
    }
}

void
api_pipeline_done(api_req_t *r)
{
    double seconds = (double) (util_mono_ns() - r->start_ns) / 1e9;

    assert(r->replied && r->tx == API_TX_NONE);
    api_metrics_observe(r->listener, r->route_index, r->method, r->status, seconds);
    if (r->ctx->log_requests && log_get_level() <= LOG_LEVEL_INFO) /* request lines are info lines */
        log_request(r, seconds);
}
