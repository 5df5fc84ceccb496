/*
 * usage.c: usage for billing collectors (the admin's cursor feed) and the tenant's totals.
 */
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../lib/usage.h"

#define USAGE_CURSOR "u1."

static void
encode_cursor(int64_t pos, char out[64])
{
    char raw[40];

    snprintf(raw, sizeof(raw), USAGE_CURSOR "%lld", (long long) pos);
    util_b64url_encode(raw, strlen(raw), out);
}

void
api_admin_usage(api_req_t *r)
{
    const char *after = api_query(r, "after"), *lim = api_query(r, "limit");
    int64_t pos = 0, next = 0, limit = API_LIMIT_DEFAULT;
    char raw[64], cursor[64];
    err_t err = {0};
    json_t *list;
    long n;

    if (lim != NULL && (util_parse_int64(lim, false, &limit) || limit < 1 || limit > API_LIMIT_MAX)) {
        api_reply_error(r, ERR_INVALID_REQUEST, "limit", "limit must be a whole number from 1 to %d.",
                        API_LIMIT_MAX);
        return;
    }
    if (after != NULL && after[0] != '\0') {
        n = strlen(after) < 60 ? util_b64url_decode(after, raw, sizeof(raw) - 1) : -1;
        if (n > 0)
            raw[n] = '\0';
        if (n <= (long) strlen(USAGE_CURSOR) || strncmp(raw, USAGE_CURSOR, strlen(USAGE_CURSOR)) ||
            util_parse_int64(raw + strlen(USAGE_CURSOR), false, &pos)) {
            api_reply_error(r, ERR_INVALID_REQUEST, "after",
                            "after must be a nextCursor this service handed out.");
            return;
        }
    }
    list = usage_page(r->store, pos, (int) limit, &next, &err);
    if (list == NULL) {
        api_reply_err(r, &err);
        return;
    }
    encode_cursor(next, cursor);
    api_reply_json(r, 200, json_pack("{s:o, s:s}", "value", list, "nextCursor", cursor));
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
    api_reply_json(r, 200, list);
}
