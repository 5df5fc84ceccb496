/* Unit tests of lib/accounts' admin tokens: what a create answers and stores, the scope names, the
 * authentication of a live token (and not of a revoked, expired or unknown one), and the events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"

#include "../../lib/accounts.h"
#include "../../lib/events.h"
#include "../../lib/util.h"

static void
scope_names_round_trip(void **state)
{
    static const char *const names[] = {"admin", "readOnly", "usage"};
    accounts_admin_scope_t scope;
    size_t i;

    (void) state;
    for (i = 0; i < 3; i++) {
        assert_int_equal(accounts_admin_scope_parse(names[i], &scope), 0);
        assert_string_equal(accounts_admin_scope_name(scope), names[i]);
    }
    assert_int_equal(accounts_admin_scope_parse("readonly", &scope), -1);
    assert_int_equal(accounts_admin_scope_parse(NULL, &scope), -1);
}

/* The hash of the token a create answered. */
static void
hash_of(const json_t *answer, char hash[UTIL_SHA256_HEX_LEN + 1])
{
    const char *token = json_string_value(json_object_get(answer, "token"));

    assert_non_null(token);
    util_sha256_hex(token, strlen(token), hash);
}

static void
create_answers_the_token_once(void **state)
{
    fixture_t *f = *state;
    accounts_admin_token_req_t req = {.name = "collector", .scope = ACCOUNTS_ADMIN_SCOPE_USAGE};
    char hash[UTIL_SHA256_HEX_LEN + 1];
    err_t err = {0};
    json_t *answer, *rec, *view;
    const char *token;

    answer = accounts_admin_token_create(f->st, &req, &err);
    assert_non_null(answer);
    token = json_string_value(json_object_get(answer, "token"));
    assert_non_null(token);
    assert_int_equal(strncmp(token, ACCOUNTS_ADMIN_TOKEN_PREFIX, strlen(ACCOUNTS_ADMIN_TOKEN_PREFIX)),
                     0);
    assert_string_equal(json_string_value(json_object_get(answer, "scope")), "usage");
    assert_string_equal(json_string_value(json_object_get(answer, "name")), "collector");
    assert_true(json_is_null(json_object_get(answer, "expiresAt"))); /* none given: never */
    hash_of(answer, hash);
    rec = store_rec_get(f->st, &store_kind_admin_token, id_of(answer), NULL, &err);
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "hash")), hash);
    assert_null(json_object_get(rec, "token"));
    view = accounts_admin_token_view(f->st, rec, &err);
    assert_non_null(view);
    assert_null(json_object_get(view, "hash"));
    assert_string_equal(json_string_value(json_object_get(view, "id")), id_of(answer));
    json_decref(view);
    json_decref(rec);
    json_decref(answer);
}

static void
authenticate_live_tokens_only(void **state)
{
    fixture_t *f = *state;
    accounts_admin_token_req_t req = {.name = "ro", .scope = ACCOUNTS_ADMIN_SCOPE_READ_ONLY,
                                      .expires_in_days = 7};
    accounts_admin_caller_t who = {.scope = ACCOUNTS_ADMIN_SCOPE_USAGE};
    char hash[UTIL_SHA256_HEX_LEN + 1], past[UTIL_TIME_LEN + 1];
    err_t err = {0};
    json_t *answer, *rec;

    answer = accounts_admin_token_create(f->st, &req, &err);
    assert_non_null(answer);
    assert_true(json_is_string(json_object_get(answer, "expiresAt")));
    hash_of(answer, hash);
    assert_int_equal(accounts_admin_authenticate(f->st, hash, &who, &err), 0);
    assert_string_equal(who.id, id_of(answer));
    assert_int_equal(who.scope, ACCOUNTS_ADMIN_SCOPE_READ_ONLY);

    assert_int_equal(accounts_admin_authenticate(f->st, "00", &who, &err), -1);
    assert_int_equal(err.code, ERR_UNAUTHORIZED);

    /* Expired: the same row with an expiry in the past. */
    rec = store_rec_get(f->st, &store_kind_admin_token, id_of(answer), NULL, &err);
    assert_non_null(rec);
    util_time_format(util_now_ms() - 1000, past);
    json_object_set_new(rec, "expiresAt", json_string(past));
    assert_int_equal(store_rec_update(f->st, &store_kind_admin_token, id_of(answer), rec, 0, &err), 0);
    err = (err_t){0};
    assert_int_equal(accounts_admin_authenticate(f->st, hash, &who, &err), -1);
    assert_int_equal(err.code, ERR_UNAUTHORIZED);
    json_decref(rec);
    json_decref(answer);
}

static void
revoke_holds_at_once(void **state)
{
    fixture_t *f = *state;
    accounts_admin_token_req_t req = {.name = "ops", .scope = ACCOUNTS_ADMIN_SCOPE_ADMIN};
    accounts_admin_caller_t who = {.scope = ACCOUNTS_ADMIN_SCOPE_USAGE};
    char hash[UTIL_SHA256_HEX_LEN + 1];
    err_t err = {0};
    json_t *answer, *page, *ev;
    int64_t next = 0;
    size_t i;
    int created = 0, revoked = 0;

    answer = accounts_admin_token_create(f->st, &req, &err);
    assert_non_null(answer);
    hash_of(answer, hash);
    assert_int_equal(accounts_admin_authenticate(f->st, hash, &who, &err), 0);
    assert_int_equal(who.scope, ACCOUNTS_ADMIN_SCOPE_ADMIN);
    /* A stale revision is refused and changes nothing. */
    assert_int_equal(accounts_admin_token_revoke(f->st, id_of(answer), 99, &err), -1);
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    assert_int_equal(accounts_admin_authenticate(f->st, hash, &who, &err), 0);
    assert_int_equal(accounts_admin_token_revoke(f->st, id_of(answer), 0, &err), 0);
    err = (err_t){0};
    assert_int_equal(accounts_admin_authenticate(f->st, hash, &who, &err), -1);
    assert_int_equal(err.code, ERR_UNAUTHORIZED);
    /* Twice: there is no live token of that id any more. */
    err = (err_t){0};
    assert_int_equal(accounts_admin_token_revoke(f->st, id_of(answer), 0, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);

    page = events_page(f->st, 0, 100, &next, &err);
    assert_non_null(page);
    json_array_foreach(page, i, ev) {
        const char *type = json_string_value(json_object_get(ev, "type"));
        char *text = json_dumps(ev, 0);

        assert_non_null(text);
        assert_null(strstr(text, json_string_value(json_object_get(answer, "token"))));
        assert_null(strstr(text, hash));
        free(text);
        if (strcmp(type, "adminToken.created") == 0)
            created++;
        if (strcmp(type, "adminToken.revoked") == 0)
            revoked++;
        assert_string_equal(json_string_value(json_object_get(ev, "resourceId")), id_of(answer));
    }
    assert_int_equal(created, 1);
    assert_int_equal(revoked, 1);
    json_decref(page);
    json_decref(answer);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scope_names_round_trip),
        cmocka_unit_test_setup_teardown(create_answers_the_token_once, setup, teardown),
        cmocka_unit_test_setup_teardown(authenticate_live_tokens_only, setup, teardown),
        cmocka_unit_test_setup_teardown(revoke_holds_at_once, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
