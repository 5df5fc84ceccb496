/*
 * paging.c: how lists are read and answered: pages of records (?limit=&cursor=, answered with nextLink) and
 * cursor feeds (?after=&limit=, answered with nextCursor) for usage records and events.
 *
 * Cursors are opaque to clients: base64url of a prefix and a position. A cursor this service did not hand
 * out is 400 with target naming the parameter. A nextLink repeats the request's own query parameters (but
 * limit and cursor, which it sets) so that a filtered list stays filtered on its next page. Links are
 * absolute: on --public-url when it is set (wapd behind a proxy), else on the request's Host, with https://
 * when the listeners serve TLS.
 */
#include "../internal.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURSOR_PREFIX "p1."

/* Reads ?limit= (1 to API_LIMIT_MAX, default API_LIMIT_DEFAULT); replies 400 and returns -1 when bad. */
static int
limit_param(api_req_t *r, int *limit)
{
    const char *lim = api_query(r, "limit");
    int64_t v = API_LIMIT_DEFAULT;

    if (lim != NULL && (util_parse_int64(lim, false, &v) || v < 1 || v > API_LIMIT_MAX)) {
        api_reply_error(r, ERR_INVALID_REQUEST, "limit", "limit must be a whole number from 1 to %d.",
                        API_LIMIT_MAX);
        return -1;
    }
    *limit = (int) v;
    return 0;
}

/* Decodes cursor text cur (at most max_len characters) into the position after prefix; -1 when it is not
 * one this service handed out. */
static int
cursor_decode(const char *cur, size_t max_len, const char *prefix, int64_t *pos)
{
    size_t plen = strlen(prefix);
    char raw[64];
    long n;

    n = strlen(cur) < max_len ? util_b64url_decode(cur, raw, sizeof(raw) - 1) : -1;
    if (n > 0)
        raw[n] = '\0';
    if (n <= (long) plen || strncmp(raw, prefix, plen) || util_parse_int64(raw + plen, false, pos))
        return -1;
    return 0;
}

int
api_paging(api_req_t *r, int *limit, int64_t *after)
{
    const char *cur;

    if (limit_param(r, limit))
        return -1;
    *after = 0;
    cur = api_query(r, "cursor");
    if (cur != NULL && cursor_decode(cur, 80, CURSOR_PREFIX, after)) {
        api_reply_error(r, ERR_INVALID_REQUEST, "cursor",
                        "cursor is not one this service handed out; use nextLink as given.");
        return -1;
    }
    return 0;
}

static void
url_encode(const char *in, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *in && o + 4 < n; in++) {
        unsigned char c = (unsigned char) *in;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char) c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

typedef struct {
    char *buf;
    size_t len, cap;
} qbuf_t;

static enum MHD_Result
collect_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    qbuf_t *q = cls;
    char k[256], v[1024];
    int n;

    (void) kind;
    if (strcmp(key, "cursor") == 0 || strcmp(key, "limit") == 0)
        return MHD_YES;
    url_encode(key, k, sizeof(k));
    url_encode(value ? value : "", v, sizeof(v));
    n = snprintf(q->buf + q->len, q->cap - q->len, "%s=%s&", k, v);
    if (n > 0 && (size_t) n < q->cap - q->len)
        q->len += (size_t) n;
    return MHD_YES;
}

void
api_url_base(api_req_t *r, char *buf, size_t n)
{
    char host[256];
    const char *h;
    size_t i;

    assert(r != NULL && r->ctx != NULL && buf != NULL && n > 0);
    if (r->ctx->public_url != NULL && r->listener == API_LISTENER_TENANT) {
        snprintf(buf, n, "%s", r->ctx->public_url);
        return;
    }
    h = api_header(r, "Host");
    snprintf(host, sizeof(host), "%s", h && *h ? h : "localhost");
    for (i = 0; host[i]; i++)
        if (!isgraph((unsigned char) host[i]) || host[i] == '/' || host[i] == '?')
            host[i] = '\0';
    snprintf(buf, n, "%s://%s", r->ctx->tls ? "https" : "http", host);
}

/* The nextLink of a page that ends at position next: the request's own URL with its query (but limit and
 * cursor) and the cursor of next. New text (free it), NULL when out of memory. */
static char *
next_link(api_req_t *r, int limit, int64_t next)
{
    char raw[48], cursor[80], query[2048], base[512];
    qbuf_t q = {query, 0, sizeof(query)};
    char *link = NULL;

    snprintf(raw, sizeof(raw), CURSOR_PREFIX "%lld", (long long) next);
    util_b64url_encode(raw, strlen(raw), cursor);
    query[0] = '\0';
    if (r->conn)
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
    query[q.len] = '\0';
    api_url_base(r, base, sizeof(base));
    if (asprintf(&link, "%s%s?%slimit=%d&cursor=%s", base, r->path, query, limit, cursor) < 0)
        return NULL;
    return link;
}

void
api_reply_page_or_err(api_req_t *r, json_t *list, int limit, int64_t next, const err_t *err)
{
    if (list == NULL)
        api_reply_err(r, err);
    else
        api_reply_page(r, list, limit, next);
}

void
api_reply_page(api_req_t *r, json_t *list, int limit, int64_t next)
{
    char *link = NULL;
    json_t *body, *item;
    size_t i;

    json_array_foreach(list, i, item)
        assert(api_view_ok(item));
    body = json_pack("{s:o}", "value", list);
    if (next > 0 && body) {
        if ((link = next_link(r, limit, next)) != NULL)
            json_object_set_new(body, "nextLink", json_string(link));
        free(link);
    }
    api_reply_json(r, 200, body);
}

/* A view's text is under 1 KiB but with many disks or NICs: room for that many at once. */
#define VIEW_ROOM 1024

void
api_page_open(util_buf_t *b, int limit)
{
    assert(b != NULL && b->len == 0 && limit > 0);
    util_buf_reserve(b, (size_t) limit * VIEW_ROOM);
    util_buf_add(b, "{\"value\":", 9);
}

void
api_reply_page_text(api_req_t *r, util_buf_t *b, int limit, int64_t next)
{
    char *link = NULL;

    assert(r != NULL && b != NULL);
    if (next > 0) {
        if ((link = next_link(r, limit, next)) != NULL) {
            util_buf_add(b, ",\"nextLink\":", 12);
            util_buf_json_str(b, link);
        }
        free(link);
    }
    util_buf_add(b, "}", 1);
    api_reply_record_text(r, 200, b, 0);
}

int
api_feed_paging(api_req_t *r, const char *prefix, int *limit, int64_t *after)
{
    const char *cur;

    if (limit_param(r, limit))
        return -1;
    *after = 0;
    cur = api_query(r, "after");
    if (cur != NULL && cur[0] != '\0' && cursor_decode(cur, 60, prefix, after)) {
        api_reply_error(r, ERR_INVALID_REQUEST, "after",
                        "after must be a nextCursor this service handed out.");
        return -1;
    }
    return 0;
}

void
api_reply_feed(api_req_t *r, const char *prefix, json_t *list, int64_t next)
{
    char raw[64], cursor[96];

    snprintf(raw, sizeof(raw), "%s%lld", prefix, (long long) next);
    util_b64url_encode(raw, strlen(raw), cursor);
    api_reply_json(r, 200, json_pack("{s:o, s:s}", "value", list, "nextCursor", cursor));
}
