/*
 * usage.c: usage for billing collectors (the admin's cursor feed) and the tenant's totals.
 */
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../lib/usage.h"

void
api_admin_usage(api_req_t *r)
{
    int64_t pos, next = 0;
    int limit;
    err_t err = {0};
    json_t *list;

    if (api_feed_paging(r, "u1.", &limit, &pos))
        return;
    list = usage_page(r->store, pos, limit, &next, &err);
    if (list == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_feed(r, "u1.", list, next);
}

static int
time_param(api_req_t *r, const char *name, int64_t *out)
{
    const char *v = api_query(r, name);

    if (v == NULL)
        return 0;
    if (util_time_parse(v, out)) {
        api_reply_error(r, ERR_INVALID_REQUEST, name, "%s must be an RFC 3339 time.", name);
        return -1;
    }
    return 0;
}

void
api_tenant_usage(api_req_t *r)
{
    int64_t from = INT64_MIN, to = INT64_MAX;
    err_t err = {0};
    json_t *out;

    if (time_param(r, "from", &from) || time_param(r, "to", &to))
        return;
    if (from > to) {
        api_reply_error(r, ERR_INVALID_REQUEST, "from", "from must not be after to.");
        return;
    }
    out = usage_totals(r->store, r->params[0], from, to, &err);
    if (out == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_json(r, 200, out);
}

void
api_wap_usage(api_req_t *r)
{
    const char *last = api_query(r, "lastID"), *b = api_query(r, "batchSize");
    int64_t batch = API_LIMIT_DEFAULT;
    err_t err = {0};
    json_t *list;

    if (b != NULL && (util_parse_int64(b, false, &batch) || batch < 1 || batch > API_LIMIT_MAX)) {
        api_reply_error(r, ERR_INVALID_REQUEST, "batchSize",
                        "batchSize must be a whole number from 1 to %d.", API_LIMIT_MAX);
        return;
    }
    list = usage_wap(r->store, last, (int) batch, &err);
    if (list == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_json_array(r, 200, list);
}
