/*
 * Unit tests of the request pipeline (api/http/pipeline.c with auth.c, idempotency.c, reply.c and the route
 * matcher), driven without a socket: each test builds a request with api_req_new (headers given as pairs),
 * runs it through api_pipeline_run against a small route table of its own, and reads the recorded answer.
 * The handlers below write through the store, so that what the pipeline commits or rolls back shows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"

#include "../../api/catalog.h"
#include "../../api/internal.h"
#include "../../lib/accounts.h"
#include "../../lib/catalog.h"

#define ADMIN_TOKEN "pipeline-admin-token-0123456789"

/* What the test handlers saw. */
static int calls;
static bool saw_tx;
static char seen_params[2][64];
static bool tenant_context;

/* Whether the calling thread has a transaction open: a read transaction cannot nest in one. */
static bool
tx_is_open(store_t *st)
{
    err_t err = {0};

    if (store_tx_begin_read(st, &err) == 0) {
        store_tx_commit(st, &err);
        return false;
    }
    return true;
}

static void
h_echo(api_req_t *r)
{
    calls++;
    saw_tx = tx_is_open(r->store);
    snprintf(seen_params[0], sizeof(seen_params[0]), "%s", r->nparams > 0 ? r->params[0] : "");
    snprintf(seen_params[1], sizeof(seen_params[1]), "%s", r->nparams > 1 ? r->params[1] : "");
    api_reply_json(r, 200, json_pack("{s:i}", "n", r->nparams));
}

/* Creates a cloud named by the body, then answers 201, or 409 when the body says fail. */
static void
h_create(api_req_t *r)
{
    err_t err = {0};
    json_t *body = api_body(r, NULL, false, false), *name, *cloud;

    calls++;
    saw_tx = tx_is_open(r->store);
    if (body == NULL)
        return;
    name = json_pack("{s:O}", "name", json_object_get(body, "name"));
    cloud = api_catalog_cloud_create(r->store, name, &err);
    json_decref(name);
    assert_non_null(cloud);
    if (json_is_true(json_object_get(body, "fail"))) {
        json_decref(cloud);
        api_reply_error(r, ERR_CONFLICT, NULL, "Refused after the write.");
    } else {
        snprintf(r->location, sizeof(r->location), "/clouds/%s",
                 json_string_value(json_object_get(cloud, "id")));
        api_reply_json(r, 201, cloud);
    }
    json_decref(body);
}

static void
h_tenant(api_req_t *r)
{
    calls++;
    saw_tx = tx_is_open(r->store);
    tenant_context = r->sub != NULL && r->plan != NULL &&
                     strcmp(json_string_value(json_object_get(r->sub, "planId")),
                            json_string_value(json_object_get(r->plan, "id"))) == 0;
    api_reply_no_content(r);
}

#define A API_LISTENER_ADMIN
#define T API_LISTENER_TENANT
static const api_route_t rows[] = {
    {A, "/open", {h_echo, NULL, NULL, NULL, NULL}, API_ROUTE_PUBLIC, NULL},
    {A, "/things/{id}/parts/{part}", {h_echo, h_echo, NULL, NULL, NULL}, 0, NULL},
    {A, "/clouds", {NULL, h_create, NULL, NULL, NULL}, 0, NULL},
    {T, "/v1/subscriptions/{sid}/x", {NULL, h_tenant, NULL, NULL, NULL}, 0, NULL},
};
static const api_route_table_t table = {rows, (int) (sizeof(rows) / sizeof(rows[0]))};

typedef struct {
    fixture_t f;
    api_ctx_t ctx;
    err_t err;
} pfix_t;

static int
psetup(void **state)
{
    pfix_t *p;
    fixture_t *f;

    setup(state);
    f = *state;
    p = calloc(1, sizeof(*p));
    p->f = *f;
    free(f);
    p->ctx.store = p->f.st;
    util_sha256_hex(ADMIN_TOKEN, strlen(ADMIN_TOKEN), p->ctx.admin_token_hash);
    calls = 0;
    saw_tx = tenant_context = false;
    *state = p;
    return 0;
}

static int
pteardown(void **state)
{
    pfix_t *p = *state;
    fixture_t *f = calloc(1, sizeof(*f));

    *f = p->f;
    free(p);
    *state = f;
    return teardown(state);
}

/* Runs one request through the pipeline; the caller frees it with api_req_free. */
static api_req_t *
run(pfix_t *p, api_listener_t l, const char *method, const char *path, const char *const *headers,
    const char *body)
{
    api_req_t *r = api_req_new(&p->ctx, l, NULL, headers, path, method);

    assert_non_null(r);
    if (body) {
        r->body = strdup(body);
        r->body_len = strlen(body);
    }
    api_pipeline_run(r, &table);
    assert_true(r->replied);
    assert_int_equal(r->tx, API_TX_NONE);
    return r;
}

static const char *const admin_h[] = {"Authorization", "Bearer " ADMIN_TOKEN, NULL};
static const char *const admin_json_h[] = {"Authorization", "Bearer " ADMIN_TOKEN, "Content-Type",
                                           "application/json", NULL};

static int64_t
count_clouds(pfix_t *p)
{
    err_t err = {0};
    int64_t n = store_rec_count(p->f.st, &store_kind_cloud, NULL, 0, &err);

    assert_true(n >= 0);
    return n;
}

static void
routes_match_with_params(void **state)
{
    pfix_t *p = *state;
    api_req_t *r = run(p, A, "GET", "/things/t1/parts/p2", admin_h, NULL);

    assert_int_equal(r->status, 200);
    assert_string_equal(r->resp, "{\"n\":2}");
    assert_string_equal(seen_params[0], "t1");
    assert_string_equal(seen_params[1], "p2");
    assert_ptr_equal(r->route, &rows[1]);
    assert_int_equal(r->route_index, 1);
    assert_true(saw_tx); /* a GET runs in its read transaction */
    api_req_free(r);

    r = run(p, A, "GET", "/things/t1/parts", admin_h, NULL);
    assert_int_equal(r->status, 404);
    assert_int_equal(r->route_index, -1);
    assert_int_equal(calls, 1);
    api_req_free(r);
}

static void
method_not_allowed_names_allow(void **state)
{
    pfix_t *p = *state;
    api_req_t *r = run(p, A, "DELETE", "/things/a/parts/b", admin_h, NULL);

    assert_int_equal(r->status, 405);
    assert_string_equal(r->allow, "GET, HEAD, POST");
    assert_non_null(strstr(r->resp, "MethodNotAllowed"));
    api_req_free(r);
    r = run(p, A, "BREW", "/open", NULL, NULL);
    assert_int_equal(r->status, 405);
    assert_string_equal(r->allow, "GET, HEAD");
    api_req_free(r);
    assert_int_equal(calls, 0);
}

/* HEAD runs as the GET of its path (the listener sends the answer's headers only); a path without a GET
 * has no HEAD either. */
static void
head_runs_as_get(void **state)
{
    pfix_t *p = *state;
    api_req_t *r = run(p, A, "HEAD", "/things/t1/parts/p2", admin_h, NULL);

    assert_int_equal(r->status, 200);
    assert_int_equal(r->method_id, API_GET);
    assert_string_equal(r->method, "HEAD");
    assert_string_equal(r->resp, "{\"n\":2}");
    assert_true(saw_tx); /* in a read transaction, as the GET */
    assert_int_equal(calls, 1);
    api_req_free(r);
    r = run(p, A, "HEAD", "/things/t1/parts/p2", NULL, NULL); /* and authenticated as the GET */
    assert_int_equal(r->status, 401);
    api_req_free(r);
    r = run(p, A, "HEAD", "/clouds", admin_h, NULL);
    assert_int_equal(r->status, 405);
    assert_string_equal(r->allow, "POST");
    api_req_free(r);
    assert_int_equal(calls, 1);
}

/* The body's framing, refused on the headers: each refusal closes the connection. */
static void
framing_is_checked_on_the_headers(void **state)
{
    static const struct {
        const char *const h[9];
        int status;
        const char *code;
    } cases[] = {
        {{"Content-Length", "2", NULL}, 0, NULL},
        {{"Content-Length", "2", "Content-Length", "2", NULL}, 0, NULL},
        {{"Transfer-Encoding", "chunked", NULL}, 0, NULL},
        {{"transfer-encoding", " Chunked ", NULL}, 0, NULL},
        {{"Content-Length", "2", "Content-Length", "3", NULL}, 400, "InvalidRequest"},
        {{"Content-Length", "2", "content-length", "02", NULL}, 400, "InvalidRequest"},
        {{"Transfer-Encoding", "chunked", "Content-Length", "2", NULL}, 400, "InvalidRequest"},
        {{"Transfer-Encoding", "gzip", NULL}, 501, "NotImplemented"},
        {{"Transfer-Encoding", "gzip, chunked", NULL}, 501, "NotImplemented"},
        {{"Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked", NULL}, 501, "NotImplemented"},
        {{"Transfer-Encoding", "", NULL}, 501, "NotImplemented"},
        {{"Transfer-Encoding", "gzip", "Content-Length", "2", "Content-Length", "3", NULL}, 501,
         "NotImplemented"},
    };
    pfix_t *p = *state;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        api_req_t *r = api_req_new(&p->ctx, A, NULL, cases[i].h, "/clouds", "POST");
        char code[64];

        assert_non_null(r);
        if (cases[i].status == 0) {
            assert_int_equal(api_req_framing_or_reply(r), 0);
            assert_false(r->replied);
            assert_false(r->close);
        } else {
            assert_int_equal(api_req_framing_or_reply(r), -1);
            assert_true(r->replied);
            assert_true(r->close);
            assert_int_equal(r->status, cases[i].status);
            snprintf(code, sizeof(code), "\"code\":\"%s\"", cases[i].code);
            assert_non_null(strstr(r->resp, code));
        }
        api_req_free(r);
    }
    assert_int_equal(calls, 0);
}

static void
auth_refuses_before_routing(void **state)
{
    pfix_t *p = *state;
    static const char *const wrong[] = {"Authorization", "Bearer not-the-token", NULL};
    static const char *const basic[] = {"Authorization", "Basic abc", NULL};
    api_req_t *r;

    r = run(p, A, "GET", "/things/a/parts/b", NULL, NULL);
    assert_int_equal(r->status, 401);
    api_req_free(r);
    r = run(p, A, "GET", "/things/a/parts/b", wrong, NULL);
    assert_int_equal(r->status, 401);
    api_req_free(r);
    r = run(p, A, "GET", "/no/such/path", basic, NULL); /* 401, not 404: nothing is told */
    assert_int_equal(r->status, 401);
    api_req_free(r);
    /* The admin token is refused on the tenant listener. */
    r = run(p, T, "POST", "/v1/subscriptions/s/x", admin_h, NULL);
    assert_int_equal(r->status, 401);
    api_req_free(r);
    assert_int_equal(calls, 0);
    /* A public route needs no token. */
    r = run(p, A, "GET", "/open", NULL, NULL);
    assert_int_equal(r->status, 200);
    api_req_free(r);
}

static void
too_large_is_refused_before_auth(void **state)
{
    pfix_t *p = *state;
    api_req_t *r = api_req_new(&p->ctx, A, NULL, NULL, "/clouds", "POST");

    r->body_too_large = true;
    api_pipeline_run(r, &table);
    assert_int_equal(r->status, 413);
    assert_int_equal(calls, 0);
    api_req_free(r);
}

/* POSTs body to /clouds and checks the answer's status and how many clouds the store then holds. */
static void
post_cloud(pfix_t *p, const char *const *headers, const char *body, int status, int64_t clouds)
{
    api_req_t *r = run(p, A, "POST", "/clouds", headers, body);

    assert_int_equal(r->status, status);
    assert_int_equal(count_clouds(p), clouds);
    api_req_free(r);
}

static void
write_commits_on_success(void **state)
{
    post_cloud(*state, admin_json_h, "{\"name\": \"east\"}", 201, 1);
    assert_true(saw_tx);
}

static void
write_rolls_back_on_error(void **state)
{
    pfix_t *p = *state;

    /* The handler wrote the cloud, then answered an error: the write is rolled back. */
    post_cloud(p, admin_json_h, "{\"name\": \"east\", \"fail\": true}", 409, 0);
    assert_int_equal(calls, 1);
    /* An answer refused by the body checks rolls back too, and the name is free again. */
    post_cloud(p, admin_h, "{\"name\": \"east\"}", 415, 0);
    post_cloud(p, admin_json_h, "{\"name\": \"east\"}", 201, 1);
}

/* Every row served by a generic handler of resource.c has a resource with what that handler calls. */
static void
generic_rows_have_their_resource(void **state)
{
    const api_route_t *row;
    const api_resource_t *res;
    int i, generic = 0;

    (void) state;
    for (i = 0; i < api_route_count; i++) {
        row = &api_routes[i];
        res = row->res;
        if (row->handlers[API_GET] == api_resource_list || row->handlers[API_GET] == api_resource_get ||
            row->handlers[API_POST] == api_resource_create ||
            row->handlers[API_PATCH] == api_resource_patch ||
            row->handlers[API_DELETE] == api_resource_remove) {
            generic++;
            assert_non_null(res);
            assert_non_null(res->kind);
        }
        if (row->handlers[API_POST] == api_resource_create) {
            assert_non_null(res->create);
            assert_non_null(res->create_spec);
            assert_null(strchr(row->pattern, '{')); /* the pattern is the Location's prefix */
        }
        if (row->handlers[API_PATCH] == api_resource_patch)
            assert_true(res->update != NULL && res->patch_spec != NULL);
        if (row->handlers[API_DELETE] == api_resource_remove)
            assert_non_null(res->remove);
    }
    assert_true(generic >= 18);
}

static void
idempotency_replays_and_refuses_another_body(void **state)
{
    pfix_t *p = *state;
    static const char *const h[] = {"Authorization", "Bearer " ADMIN_TOKEN, "Content-Type",
                                    "application/json", "Idempotency-Key", "k-1", NULL};
    static const char *const empty_key[] = {"Authorization", "Bearer " ADMIN_TOKEN,
                                            "Idempotency-Key", "", NULL};
    api_req_t *first, *again;

    first = run(p, A, "POST", "/clouds", h, "{\"name\": \"east\"}");
    assert_int_equal(first->status, 201);
    again = run(p, A, "POST", "/clouds", h, "{\"name\": \"east\"}");
    assert_int_equal(again->status, 201);
    assert_string_equal(again->resp, first->resp);
    assert_string_equal(again->location, first->location);
    assert_int_equal(calls, 1); /* replayed: the handler did not run again */
    assert_int_equal(count_clouds(p), 1);
    api_req_free(again);

    again = run(p, A, "POST", "/clouds", h, "{\"name\": \"west\"}");
    assert_int_equal(again->status, 409);
    assert_non_null(strstr(again->resp, "Idempotency-Key"));
    assert_int_equal(calls, 1);
    assert_int_equal(count_clouds(p), 1);
    api_req_free(again);

    again = run(p, A, "POST", "/clouds", empty_key, "{\"name\": \"west\"}");
    assert_int_equal(again->status, 400);
    assert_int_equal(calls, 1);
    api_req_free(again);
    api_req_free(first);
}

/* The lib/ create calls borrow their body: body() holds the latest until the next (or made()). */
static json_t *held_body;

static json_t *
body(json_t *b)
{
    json_decref(held_body);
    held_body = b;
    return b;
}

static json_t *
made(json_t *rec)
{
    body(NULL);
    assert_non_null(rec);
    return rec;
}

/* Makes a cloud, a public plan, a user with a token and a subscription; returns the subscription id
 * (owned) and writes the bearer header value into auth. */
static char *
tenant_world(pfix_t *p, char *auth, size_t n)
{
    json_t *cloud, *plan, *user, *tok, *sub;
    char *sid;

    cloud = made(api_catalog_cloud_create(p->f.st, body(json_pack("{s:s}", "name", "c")), &p->err));
    plan = made(api_catalog_plan_create(p->f.st,
                                    body(json_pack("{s:s, s:s, s:s}", "name", "p", "cloudId",
                                                   id_of(cloud), "state", "public")),
                                    &p->err));
    user = made(accounts_user_create(p->f.st, &(accounts_user_req_t){.email = "t@example.com"},
                                     &p->err));
    tok = made(accounts_token_create(p->f.st, id_of(user), NULL, &p->err));
    sub = made(accounts_subscription_create(
        p->f.st, &(accounts_subscription_req_t){.user_id = id_of(user), .plan_id = id_of(plan)},
        &p->err));
    snprintf(auth, n, "Bearer %s", json_string_value(json_object_get(tok, "token")));
    sid = strdup(id_of(sub));
    json_decref(cloud);
    json_decref(plan);
    json_decref(user);
    json_decref(tok);
    json_decref(sub);
    return sid;
}

static void
tenant_context_is_read_once_in_the_transaction(void **state)
{
    pfix_t *p = *state;
    char auth[128], path[128];
    const char *h[] = {"Authorization", auth, NULL};
    char *sid = tenant_world(p, auth, sizeof(auth));
    uint64_t subs = store__reads(p->f.st, &store_kind_subscription);
    uint64_t plans = store__reads(p->f.st, &store_kind_plan);
    api_req_t *r;

    snprintf(path, sizeof(path), "/v1/subscriptions/%s/x", sid);
    r = run(p, T, "POST", path, h, NULL);
    assert_int_equal(r->status, 204);
    assert_true(saw_tx);
    assert_true(tenant_context);
    assert_int_equal(store__reads(p->f.st, &store_kind_subscription) - subs, 1);
    assert_int_equal(store__reads(p->f.st, &store_kind_plan) - plans, 1);
    api_req_free(r);

    /* A subscription that is not the caller's is 404, before the method is looked at (405). */
    r = run(p, T, "PUT", "/v1/subscriptions/00000000-0000-4000-8000-000000000000/x", h, NULL);
    assert_int_equal(r->status, 404);
    assert_string_equal(r->allow, "");
    api_req_free(r);
    snprintf(path, sizeof(path), "/v1/subscriptions/%s/x", sid);
    r = run(p, T, "PUT", path, h, NULL);
    assert_int_equal(r->status, 405);
    api_req_free(r);
    assert_int_equal(calls, 1);
    free(sid);
}

/* A token seen before is not hashed again, yet its revocation holds at the very next request: the
 * digest is remembered, whether the token authenticates is not. */
static void
revoked_token_is_refused_at_the_next_request(void **state)
{
    pfix_t *p = *state;
    char auth[128], digest[UTIL_SHA256_HEX_LEN + 1];
    const char *h[] = {"Authorization", auth, NULL};
    const char *path = "/v1/subscriptions/00000000-0000-4000-8000-000000000000/x";
    json_t *user, *tok;
    api_req_t *r;
    int i;

    user = made(accounts_user_create(p->f.st, &(accounts_user_req_t){.email = "r@example.com"},
                                     &p->err));
    tok = made(accounts_token_create(p->f.st, id_of(user), NULL, &p->err));
    snprintf(auth, sizeof(auth), "Bearer %s", json_string_value(json_object_get(tok, "token")));
    util_sha256_hex(auth + 7, strlen(auth + 7), digest);
    for (i = 0; i < 3; i++) { /* the first hashes, the others find the digest */
        r = run(p, T, "POST", path, h, NULL);
        assert_int_equal(r->status, 404); /* authenticated: the subscription is not the caller's */
        assert_string_equal(r->scope, digest);
        api_req_free(r);
    }
    assert_int_equal(accounts_token_revoke(p->f.st, id_of(user), id_of(tok), &p->err), 0);
    r = run(p, T, "POST", path, h, NULL);
    assert_int_equal(r->status, 401);
    api_req_free(r);
    /* Another token of one character more or less is not taken for it. */
    auth[strlen(auth) - 1] = '\0';
    r = run(p, T, "POST", path, h, NULL);
    assert_int_equal(r->status, 401);
    api_req_free(r);
    assert_int_equal(calls, 0);
    json_decref(user);
    json_decref(tok);
}

/* The tenant rate limit applies after authentication on the tenant listener only: a 401 is not counted,
 * the admin token never limited. With --public-url, Location is that URL and the path. */
static void
rate_limit_and_public_location(void **state)
{
    pfix_t *p = *state;
    char auth[128];
    const char *h[] = {"Authorization", auth, NULL};
    const char *bad_h[] = {"Authorization", "Bearer not-a-token", NULL};
    const char *path = "/v1/subscriptions/00000000-0000-4000-8000-000000000000/x";
    json_t *user, *tok;
    api_req_t *r;
    int i;

    user = made(accounts_user_create(p->f.st, &(accounts_user_req_t){.email = "l@example.com"},
                                     &p->err));
    tok = made(accounts_token_create(p->f.st, id_of(user), NULL, &p->err));
    snprintf(auth, sizeof(auth), "Bearer %s", json_string_value(json_object_get(tok, "token")));
    p->ctx.rate_limit = 2;
    for (i = 0; i < 10; i++) { /* unauthenticated: 401, never 429 */
        r = run(p, T, "POST", path, bad_h, NULL);
        assert_int_equal(r->status, 401);
        api_req_free(r);
    }
    for (i = 0; i < 4; i++) { /* a bucket of 2N */
        r = run(p, T, "POST", path, h, NULL);
        assert_int_equal(r->status, 404);
        api_req_free(r);
    }
    r = run(p, T, "POST", path, h, NULL);
    assert_int_equal(r->status, 429);
    assert_true(r->retry_after >= 1);
    api_req_free(r);
    p->ctx.public_url = "https://wapd.example.com:8443";
    for (i = 0; i < 10; i++) { /* the admin listener is never limited, and its links keep to the request */
        r = run(p, A, "POST", "/clouds", admin_json_h, "{\"name\": \"limited\"}");
        assert_int_equal(r->status, 201);
        assert_true(strncmp(r->location, "/clouds/", 8) == 0);
        api_req_free(r);
    }
    p->ctx.public_url = NULL;
    json_decref(user);
    json_decref(tok);
}

static void
reply_contracts(void **state)
{
    pfix_t *p = *state;
    api_req_t *r = api_req_new(&p->ctx, A, NULL, NULL, "/x", "GET");
    json_t *ok = json_pack("{s:i}", "a", 1), *hidden = json_pack("{s:i, s:i}", "a", 1, "_b", 2);

    assert_true(api_view_ok(ok));
    assert_false(api_view_ok(hidden));
    api_reply_record(r, 200, ok, 7);
    assert_string_equal(r->etag, "\"7\"");
    assert_string_equal(r->resp, "{\"a\":1}");
    api_reply_retract(r);
    assert_false(r->replied);
    assert_null(r->resp);
    assert_string_equal(r->etag, "");
    api_reply_no_content(r);
    assert_int_equal(r->status, 204);
    json_decref(hidden);
    api_req_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(routes_match_with_params, psetup, pteardown),
        cmocka_unit_test_setup_teardown(method_not_allowed_names_allow, psetup, pteardown),
        cmocka_unit_test_setup_teardown(head_runs_as_get, psetup, pteardown),
        cmocka_unit_test_setup_teardown(framing_is_checked_on_the_headers, psetup, pteardown),
        cmocka_unit_test_setup_teardown(auth_refuses_before_routing, psetup, pteardown),
        cmocka_unit_test_setup_teardown(too_large_is_refused_before_auth, psetup, pteardown),
        cmocka_unit_test_setup_teardown(write_commits_on_success, psetup, pteardown),
        cmocka_unit_test_setup_teardown(write_rolls_back_on_error, psetup, pteardown),
        cmocka_unit_test_setup_teardown(idempotency_replays_and_refuses_another_body, psetup,
                                        pteardown),
        cmocka_unit_test_setup_teardown(tenant_context_is_read_once_in_the_transaction, psetup,
                                        pteardown),
        cmocka_unit_test_setup_teardown(reply_contracts, psetup, pteardown),
        cmocka_unit_test_setup_teardown(rate_limit_and_public_location, psetup, pteardown),
        cmocka_unit_test_setup_teardown(revoked_token_is_refused_at_the_next_request, psetup,
                                        pteardown),
        cmocka_unit_test(generic_rows_have_their_resource),
    };

    return cmocka_run_group_tests_name("pipeline", tests, NULL, NULL);
}
