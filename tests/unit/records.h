/*
 * records.h: make(), shared by the unit tests that build catalog and account records: calls a create
 * function with a body it takes, and fails the test with the error when the create fails. Include after
 * <cmocka.h> and fixture.h.
 */
#ifndef WAPD_TEST_RECORDS_H
#define WAPD_TEST_RECORDS_H

#include <jansson.h>

#include "../../lib/err.h"
#include "../../lib/store.h"

static json_t *
make(json_t *(*fn)(store_t *, const json_t *, err_t *), store_t *st, json_t *body)
{
    err_t err = {0};
    json_t *rec = fn(st, body, &err);

    if (rec == NULL)
        fail_msg("create failed: %s (%s)", err.message, err.target);
    json_decref(body);
    return rec;
}

#endif
