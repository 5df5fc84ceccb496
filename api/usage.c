/*
 * usage.c: usage for billing collectors (the admin's cursor feed and its ack, the WAP resource-provider
 * usage contract) and the tenant's totals. A cursor is the feed's "u1." position, base64url-encoded; the
 * ack takes back only what the feed hands out.
 */
#include "internal.h"
#include "requests.h"

#include <assert.h>
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

static const jv_field_t ack_spec[] = {
    {"cursor", JV_STRING, JV_REQUIRED, 1, 96, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
const jv_field_t *const api_spec_usage_ack = ack_spec;

/* The position of a cursor the feed handed out ("u1." and a whole number, base64url-encoded); -1 when
 * cur is not one. */
static int
cursor_position(const char *cur, int64_t *pos)
{
    char raw[72];
    long n;

    assert(cur != NULL && pos != NULL);
    n = util_b64url_decode(cur, raw, sizeof(raw) - 1);
    if (n <= 3)
        return -1;
    raw[n] = '\0';
    if (strncmp(raw, "u1.", 3) != 0 || util_parse_int64(raw + 3, false, pos) || *pos < 0)
        return -1;
    return 0;
}

void
api_admin_usage_ack(api_req_t *r)
{
    json_t *body = api_body(r, ack_spec, false, false);
    const char *cursor;
    int64_t pos;
    err_t err = {0};

    if (body == NULL)
        return;
    cursor = json_string_value(json_object_get(body, "cursor"));
    if (cursor_position(cursor, &pos)) {
        api_reply_error(r, ERR_INVALID_REQUEST, "cursor",
                        "cursor must be a nextCursor of GET /v1/admin/usage, as received.");
    } else if (usage_ack(r->store, pos, &err)) {
        api_reply_err(r, &err);
    } else {
        api_reply_json(r, 200, json_pack("{s:s}", "acknowledged", cursor));
    }
    json_decref(body);
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

    if (b != NULL && (util_parse_int64(b, false, &batch) || batch < 1)) {
        api_reply_error(r, ERR_INVALID_REQUEST, "batchSize",
                        "batchSize must be a whole number of at least 1.");
        return;
    }
    if (batch > API_LIMIT_MAX)
        batch = API_LIMIT_MAX; /* served as the provider's maximum, as WAP does */
    list = usage_wap(r->store, last, (int) batch, &err);
    if (list == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_json_array(r, 200, list);
}
