/*
 * records.h: make(), shared by the unit tests that build catalog records: calls a create function with a
 * body it takes, and fails the test with the error when the create fails; make_user() and
 * make_subscription() do the same for the account records, which take typed requests. Include after
 * <cmocka.h> and fixture.h.
 */
#ifndef WAPD_TEST_RECORDS_H
#define WAPD_TEST_RECORDS_H

#include <jansson.h>

#include "../../lib/accounts.h"
#include "../../lib/err.h"
#include "../../lib/store.h"

static inline json_t *
make(json_t *(*fn)(store_t *, const json_t *, err_t *), store_t *st, json_t *body)
{
    err_t err = {0};
    json_t *rec = fn(st, body, &err);

    if (rec == NULL)
        fail_msg("create failed: %s (%s)", err.message, err.target);
    json_decref(body);
    return rec;
}

/* A user with that email and no name; a subscription of user to plan, named after the plan. Both fail the
 * test when the create fails. */
static inline json_t *
make_user(store_t *st, const char *email)
{
    accounts_user_req_t req = {.email = email};
    err_t err = {0};
    json_t *rec = accounts_user_create(st, &req, &err);

    if (rec == NULL)
        fail_msg("user create failed: %s (%s)", err.message, err.target);
    return rec;
}

static inline json_t *
make_subscription(store_t *st, const json_t *user, const json_t *plan)
{
    accounts_subscription_req_t req = {.user_id = id_of(user), .plan_id = id_of(plan)};
    err_t err = {0};
    json_t *rec = accounts_subscription_create(st, &req, &err);

    if (rec == NULL)
        fail_msg("subscription create failed: %s (%s)", err.message, err.target);
    return rec;
}

#endif
