/* Unit tests of lib/accounts through its typed requests: users, tokens, subscriptions and their PATCH.
 * The plans they subscribe to are written straight into the store, so that these tests depend on
 * nothing of the catalog but its record shape. */
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
#include "../../lib/fault.h"
#include "../../lib/job.h"
#include "../../lib/util.h"

/* A cloud and a plan on it named name in state state, as the catalog stores them. */
static json_t *
put_plan(store_t *st, const char *name, const char *state)
{
    char cloud_id[UTIL_UUID_LEN + 1], plan_id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    err_t err = {0};
    json_t *cloud, *plan;

    util_uuid(cloud_id);
    util_uuid(plan_id);
    util_time_format(util_now_ms(), now);
    cloud = json_pack("{s:s, s:s, s:n, s:s, s:s}", "id", cloud_id, "name", "c", "description",
                      "createdAt", now, "updatedAt", now);
    plan = json_pack("{s:s, s:s, s:s, s:s, s:{}, s:[], s:[], s:[], s:s, s:n, s:s, s:s}", "id", plan_id,
                     "name", name, "cloudId", cloud_id, "state", state, "quotas", "imageIds",
                     "sizeNames", "galleryItemIds", "checkpointMode", "viewRestore",
                     "checkpointRetentionHours", "createdAt", now, "updatedAt", now);
    assert_int_equal(store_rec_insert(st, &store_kind_cloud, cloud, &err), 0);
    assert_int_equal(store_rec_insert(st, &store_kind_plan, plan, &err), 0);
    json_decref(cloud);
    return plan;
}

static json_t *
new_user(store_t *st, const char *email, const char *name)
{
    accounts_user_req_t req = {.email = email, .name = name};
    err_t err = {0};
    json_t *user = accounts_user_create(st, &req, &err);

    assert_non_null(user);
    return user;
}

static const char *
field(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

static void
state_names_round_trip(void **state)
{
    accounts_subscription_state_t s = ACCOUNTS_SUBSCRIPTION_ACTIVE;

    (void) state;
    assert_string_equal(accounts_subscription_state_name(ACCOUNTS_SUBSCRIPTION_SUSPENDED), "suspended");
    assert_int_equal(accounts_subscription_state_parse("deleting", &s), 0);
    assert_int_equal(s, ACCOUNTS_SUBSCRIPTION_DELETING);
    assert_int_equal(accounts_subscription_state_parse("Active", &s), -1);
    assert_int_equal(accounts_subscription_state_parse(NULL, &s), -1);
    assert_int_equal(s, ACCOUNTS_SUBSCRIPTION_DELETING); /* untouched when it fails */
}

/* A user is stored as asked, with name null when not given; an email in use is 409 on email, once. */
static void
user_create_builds_the_record(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    accounts_user_req_t dup = {.email = "a@b.c", .name = "other"};
    json_t *named = new_user(f->st, "n@b.c", "Ann"), *plain = new_user(f->st, "a@b.c", NULL);
    json_t *stored = store_rec_get(f->st, &store_kind_user, id_of(plain), NULL, &err);

    assert_string_equal(field(named, "name"), "Ann");
    assert_non_null(stored);
    assert_string_equal(field(stored, "email"), "a@b.c");
    assert_true(json_is_null(json_object_get(stored, "name")));
    assert_true(util_uuid_valid(id_of(stored)));
    assert_string_equal(field(stored, "createdAt"), field(stored, "updatedAt"));
    assert_null(accounts_user_create(f->st, &dup, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "email");
    assert_string_equal(err.message, "A user with this email already exists.");
    /* The store failing at that lookup is its own error, not rewritten into the business one. */
    err_clear(&err);
    fault_arm(FAULT_STORE, 1);
    assert_null(accounts_user_create(f->st, &dup, &err));
    fault_arm(FAULT_STORE, 0);
    assert_int_equal(err.code, ERR_INTERNAL);
    assert_int_equal(store_rec_count(f->st, &store_kind_user, NULL, 0, &err), 2);
    json_decref(stored);
    json_decref(plain);
    json_decref(named);
}

/* expiresInDays, when given, sets the expiry; otherwise it is a year. */
static void
token_expiry_given_or_not(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    accounts_token_req_t two = {.expires_in_days = 2}, none = {0};
    json_t *user = new_user(f->st, "t@b.c", NULL), *t2, *t0, *tn;
    int64_t created, expires;

    t2 = accounts_token_create(f->st, id_of(user), &two, &err);
    t0 = accounts_token_create(f->st, id_of(user), &none, &err);
    tn = accounts_token_create(f->st, id_of(user), NULL, &err);
    assert_non_null(t2);
    assert_non_null(t0);
    assert_non_null(tn);
    assert_int_equal(util_time_parse(field(t2, "createdAt"), &created), 0);
    assert_int_equal(util_time_parse(field(t2, "expiresAt"), &expires), 0);
    assert_int_equal(expires - created, 2 * 86400000LL);
    assert_int_equal(util_time_parse(field(t0, "createdAt"), &created), 0);
    assert_int_equal(util_time_parse(field(t0, "expiresAt"), &expires), 0);
    assert_int_equal(expires - created, ACCOUNTS_TOKEN_DAYS_DEFAULT * 86400000LL);
    assert_int_equal(util_time_parse(field(tn, "createdAt"), &created), 0);
    assert_int_equal(util_time_parse(field(tn, "expiresAt"), &expires), 0);
    assert_int_equal(expires - created, ACCOUNTS_TOKEN_DAYS_DEFAULT * 86400000LL);
    /* A token for nobody is the 404 of the user. */
    assert_null(accounts_token_create(f->st, "no-such-user", &two, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    json_decref(tn);
    json_decref(t0);
    json_decref(t2);
    json_decref(user);
}

/* The subscription takes the plan's name unless it is given one, starts active with zero usage and the
 * plan's checkpoint mode; references are answered once each; a decommissioned plan takes none. */
static void
subscription_create_builds_the_record(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *plan = put_plan(f->st, "gold", "public"), *old = put_plan(f->st, "old", "decommissioned");
    json_t *user = new_user(f->st, "s@b.c", NULL), *a, *b;
    accounts_subscription_req_t req = {.user_id = id_of(user), .plan_id = id_of(plan)};
    accounts_subscription_req_t bad_user = {.user_id = "nope", .plan_id = id_of(plan)};
    accounts_subscription_req_t bad_plan = {.user_id = id_of(user), .plan_id = "nope"};
    accounts_subscription_req_t closed = {.user_id = id_of(user), .plan_id = id_of(old)};

    a = accounts_subscription_create(f->st, &req, &err);
    assert_non_null(a);
    req.display_name = "mine";
    b = accounts_subscription_create(f->st, &req, &err);
    assert_non_null(b);
    assert_string_equal(field(a, "displayName"), "gold");
    assert_string_equal(field(b, "displayName"), "mine");
    assert_string_equal(field(a, "state"), "active");
    assert_string_equal(field(a, "checkpointMode"), "viewRestore");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "usage"), "cores")), 0);

    assert_null(accounts_subscription_create(f->st, &bad_user, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "userId");
    assert_string_equal(err.message, "No user has the id given in userId.");
    err_clear(&err);
    assert_null(accounts_subscription_create(f->st, &bad_plan, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "planId");
    assert_string_equal(err.message, "No plan has the id given in planId.");
    err_clear(&err);
    fault_arm(FAULT_STORE, 2); /* the plan's read */
    assert_null(accounts_subscription_create(f->st, &bad_plan, &err));
    fault_arm(FAULT_STORE, 0);
    assert_int_equal(err.code, ERR_INTERNAL);
    err_clear(&err);
    assert_null(accounts_subscription_create(f->st, &closed, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "planId");
    assert_int_equal(store_rec_count(f->st, &store_kind_subscription, NULL, 0, &err), 2);
    json_decref(b);
    json_decref(a);
    json_decref(user);
    json_decref(old);
    json_decref(plan);
}

/* A PATCH changes only what it gives: a name alone keeps the state and starts no job; suspending
 * starts the suspend job; activating lifts it without one. */
static void
subscription_patch_changes_what_it_gives(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *plan = put_plan(f->st, "gold", "public"), *user = new_user(f->st, "p@b.c", NULL);
    accounts_subscription_req_t req = {.user_id = id_of(user), .plan_id = id_of(plan)};
    accounts_subscription_patch_t rename = {.display_name = "renamed"};
    accounts_subscription_patch_t suspend = {.has_state = true,
                                             .state = ACCOUNTS_SUBSCRIPTION_SUSPENDED};
    accounts_subscription_patch_t activate = {.has_state = true,
                                              .state = ACCOUNTS_SUBSCRIPTION_ACTIVE};
    json_t *sub = accounts_subscription_create(f->st, &req, &err), *rec, *job = NULL;
    int64_t rev = 0;

    assert_non_null(sub);
    rec = accounts_subscription_update(f->st, id_of(sub), &rename, 0, &job, &err);
    assert_non_null(rec);
    assert_null(job);
    json_decref(rec);
    rec = accounts_subscription_get(f->st, id_of(sub), NULL, &rev, &err);
    assert_string_equal(field(rec, "displayName"), "renamed");
    assert_string_equal(field(rec, "state"), "active");
    assert_int_equal(rev, 2);
    json_decref(rec);

    /* A stale If-Match changes nothing. */
    assert_null(accounts_subscription_update(f->st, id_of(sub), &suspend, 1, &job, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    rec = accounts_subscription_update(f->st, id_of(sub), &suspend, 2, &job, &err);
    assert_non_null(rec);
    assert_non_null(job);
    assert_string_equal(field(rec, "state"), "suspended");
    assert_string_equal(field(rec, "displayName"), "renamed");
    assert_string_equal(field(job, "kind"), "subscription.suspend");
    json_decref(rec);
    json_decref(job);
    job = NULL;
    rec = accounts_subscription_update(f->st, id_of(sub), &activate, 0, &job, &err);
    assert_non_null(rec);
    assert_null(job);
    assert_string_equal(field(rec, "state"), "active");
    json_decref(rec);

    /* Once it is being deleted it takes no PATCH (another subscription: this one's suspend job, never
     * run here, holds its lock). */
    json_decref(sub);
    sub = accounts_subscription_create(f->st, &req, &err);
    assert_non_null(sub);
    job = accounts_subscription_delete(f->st, id_of(sub), 0, &err);
    assert_non_null(job);
    json_decref(job);
    job = NULL;
    assert_null(accounts_subscription_update(f->st, id_of(sub), &rename, 0, &job, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.message, "The subscription is being deleted.");
    json_decref(sub);
    json_decref(user);
    json_decref(plan);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_names_round_trip),
        cmocka_unit_test_setup_teardown(user_create_builds_the_record, setup, teardown),
        cmocka_unit_test_setup_teardown(token_expiry_given_or_not, setup, teardown),
        cmocka_unit_test_setup_teardown(subscription_create_builds_the_record, setup, teardown),
        cmocka_unit_test_setup_teardown(subscription_patch_changes_what_it_gives, setup, teardown),
    };

    if (accounts_jobs_register())
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
