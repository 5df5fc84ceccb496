/*
 * Unit tests of the admin listener's authentication (api/http/auth.c) through the pipeline: the bootstrap
 * token and named admin tokens, each scope's allowed and refused requests (403 naming the scope needed),
 * the caller's token id kept in the request, a revoke that holds at the next request, and an
 * Idempotency-Key on an admin token's create that keeps no token (api/admin_tokens.c).
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

#include "../../api/internal.h"
#include "../../lib/accounts.h"

#define BOOT "scope-bootstrap-token-0123456789"

static void
h_ok(api_req_t *r)
{
    api_reply_json(r, 200, json_object());
}

#define A API_LISTENER_ADMIN
static const api_route_t rows[] = {
    {A, "/usage", {h_ok, NULL, NULL, NULL, NULL}, 0, NULL},
    {A, "/v1/admin/usage", {h_ok, NULL, NULL, NULL, NULL}, 0, NULL},
    {A, "/v1/admin/usage/ack", {NULL, h_ok, NULL, NULL, NULL}, 0, NULL},
    {A, "/v1/admin/clouds", {h_ok, h_ok, NULL, NULL, NULL}, 0, NULL},
    {A, "/v1/admin/backup", {h_ok, NULL, NULL, NULL, NULL}, 0, NULL},
    {A, "/v1/admin/tokens", {NULL, api_admin_token_create, NULL, NULL, NULL}, 0, NULL},
};
static const api_route_table_t table = {rows, (int) (sizeof(rows) / sizeof(rows[0]))};

typedef struct {
    fixture_t *f;
    api_ctx_t ctx;
    char tokens[3][64]; /* by scope */
    char ids[3][UTIL_UUID_LEN + 1];
} sfix_t;

static int
ssetup(void **state)
{
    static const accounts_admin_scope_t scopes[] = {ACCOUNTS_ADMIN_SCOPE_ADMIN,
                                                    ACCOUNTS_ADMIN_SCOPE_READ_ONLY,
                                                    ACCOUNTS_ADMIN_SCOPE_USAGE};
    sfix_t *s = calloc(1, sizeof(*s));
    err_t err = {0};
    json_t *tok;
    int i;

    assert_non_null(s);
    setup(state);
    s->f = *state;
    s->ctx.store = s->f->st;
    util_sha256_hex(BOOT, strlen(BOOT), s->ctx.admin_token_hash);
    for (i = 0; i < 3; i++) {
        accounts_admin_token_req_t req = {.name = "t", .scope = scopes[i]};

        tok = accounts_admin_token_create(s->f->st, &req, &err);
        assert_non_null(tok);
        snprintf(s->tokens[scopes[i]], sizeof(s->tokens[0]), "%s",
                 json_string_value(json_object_get(tok, "token")));
        snprintf(s->ids[scopes[i]], sizeof(s->ids[0]), "%s", id_of(tok));
        json_decref(tok);
    }
    *state = s;
    return 0;
}

static int
steardown(void **state)
{
    sfix_t *s = *state;

    *state = s->f;
    free(s);
    return teardown(state);
}

/* The status of one request made with token (and its answer's body into out, when given). */
static int
status_of(sfix_t *s, const char *token, const char *method, const char *path, const char *body,
          const char *idem_key, char *out, size_t n, char token_id[40])
{
    char auth[128];
    const char *h[] = {"Authorization", auth, "Content-Type", "application/json", NULL, NULL, NULL};
    api_req_t *r;
    int status;

    snprintf(auth, sizeof(auth), "Bearer %s", token);
    if (idem_key != NULL) {
        h[4] = "Idempotency-Key";
        h[5] = idem_key;
    }
    r = api_req_new(&s->ctx, A, NULL, h, path, method);
    assert_non_null(r);
    if (body != NULL) {
        r->body = strdup(body);
        r->body_len = strlen(body);
    }
    api_pipeline_run(r, &table);
    assert_true(r->replied);
    status = r->status;
    if (out != NULL)
        snprintf(out, n, "%s", r->resp ? r->resp : "");
    if (token_id != NULL)
        memcpy(token_id, r->token_id, sizeof(r->token_id));
    api_req_free(r);
    return status;
}

#define STATUS(s, tok, m, p) status_of(s, tok, m, p, m[0] == 'P' ? "{}" : NULL, NULL, NULL, 0, NULL)

static void
each_scope_allows_its_own(void **state)
{
    sfix_t *s = *state;
    const char *adm = s->tokens[ACCOUNTS_ADMIN_SCOPE_ADMIN];
    const char *ro = s->tokens[ACCOUNTS_ADMIN_SCOPE_READ_ONLY];
    const char *use = s->tokens[ACCOUNTS_ADMIN_SCOPE_USAGE];
    char body[512];

    assert_int_equal(STATUS(s, BOOT, "POST", "/v1/admin/clouds"), 200);
    assert_int_equal(STATUS(s, adm, "POST", "/v1/admin/clouds"), 200);
    assert_int_equal(STATUS(s, adm, "GET", "/v1/admin/backup"), 200);

    assert_int_equal(STATUS(s, ro, "GET", "/v1/admin/clouds"), 200);
    assert_int_equal(STATUS(s, ro, "GET", "/v1/admin/usage"), 200);
    assert_int_equal(STATUS(s, ro, "GET", "/usage"), 200);
    /* HEAD is a GET without the body: the same scope may make it, and no other. */
    assert_int_equal(STATUS(s, ro, "HEAD", "/v1/admin/clouds"), 200);
    assert_int_equal(STATUS(s, ro, "HEAD", "/v1/admin/backup"), 403);
    assert_int_equal(STATUS(s, use, "HEAD", "/v1/admin/clouds"), 403);
    assert_int_equal(STATUS(s, use, "HEAD", "/v1/admin/usage"), 200);
    assert_int_equal(STATUS(s, ro, "POST", "/v1/admin/clouds"), 403);
    assert_int_equal(STATUS(s, ro, "POST", "/v1/admin/usage/ack"), 403);
    assert_int_equal(status_of(s, ro, "GET", "/v1/admin/backup", NULL, NULL, body, sizeof(body), NULL),
                     403);
    assert_non_null(strstr(body, "\"Forbidden\""));
    assert_non_null(strstr(body, "scope admin;"));

    assert_int_equal(STATUS(s, use, "GET", "/v1/admin/usage"), 200);
    assert_int_equal(STATUS(s, use, "POST", "/v1/admin/usage/ack"), 200);
    assert_int_equal(STATUS(s, use, "GET", "/usage"), 200);
    assert_int_equal(status_of(s, use, "GET", "/v1/admin/clouds", NULL, NULL, body, sizeof(body), NULL),
                     403);
    assert_non_null(strstr(body, "scope readOnly (or admin); this token's scope is usage."));
    assert_int_equal(STATUS(s, use, "POST", "/v1/admin/clouds"), 403);
    assert_int_equal(STATUS(s, use, "GET", "/v1/admin/backup"), 403);
    assert_int_equal(STATUS(s, use, "GET", "/v1/admin/usage/ack"), 403);

    assert_int_equal(STATUS(s, "wapdadm_unknown", "GET", "/v1/admin/usage"), 401);
}

static void
token_id_is_kept_and_revoke_holds(void **state)
{
    sfix_t *s = *state;
    const char *use = s->tokens[ACCOUNTS_ADMIN_SCOPE_USAGE];
    char id[40];
    err_t err = {0};

    assert_int_equal(status_of(s, BOOT, "GET", "/usage", NULL, NULL, NULL, 0, id), 200);
    assert_string_equal(id, "bootstrap");
    assert_int_equal(status_of(s, use, "GET", "/usage", NULL, NULL, NULL, 0, id), 200);
    assert_string_equal(id, s->ids[ACCOUNTS_ADMIN_SCOPE_USAGE]);
    /* A refused scope still names its caller. */
    assert_int_equal(status_of(s, use, "GET", "/v1/admin/clouds", NULL, NULL, NULL, 0, id), 403);
    assert_string_equal(id, s->ids[ACCOUNTS_ADMIN_SCOPE_USAGE]);
    assert_int_equal(
        accounts_admin_token_revoke(s->f->st, s->ids[ACCOUNTS_ADMIN_SCOPE_USAGE], 0, &err), 0);
    assert_int_equal(status_of(s, use, "GET", "/usage", NULL, NULL, NULL, 0, id), 401);
    assert_string_equal(id, "");
}

static void
idempotency_key_keeps_no_token(void **state)
{
    sfix_t *s = *state;
    const char *body = "{\"name\":\"collector\",\"scope\":\"usage\"}";
    char first[512], again[512];
    json_t *ans;
    const char *token;

    assert_int_equal(status_of(s, BOOT, "POST", "/v1/admin/tokens", body, "k1", first, sizeof(first),
                               NULL),
                     201);
    ans = json_loads(first, 0, NULL);
    assert_non_null(ans);
    token = json_string_value(json_object_get(ans, "token"));
    assert_non_null(token);
    assert_int_equal(status_of(s, BOOT, "POST", "/v1/admin/tokens", body, "k1", again, sizeof(again),
                               NULL),
                     409);
    assert_null(strstr(again, token));
    assert_non_null(strstr(again, id_of(ans)));
    /* Without a key, every create is a new token. */
    assert_int_equal(status_of(s, BOOT, "POST", "/v1/admin/tokens", body, NULL, again, sizeof(again),
                               NULL),
                     201);
    assert_null(strstr(again, id_of(ans)));
    json_decref(ans);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(each_scope_allows_its_own, ssetup, steardown),
        cmocka_unit_test_setup_teardown(token_id_is_kept_and_revoke_holds, ssetup, steardown),
        cmocka_unit_test_setup_teardown(idempotency_key_keeps_no_token, ssetup, steardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
