/*
 * http.c: libmicrohttpd glue and the request pipeline shared by both listeners.
 *
 * A request passes, in this order: size limit (413, refused on the headers when Content-Length says so),
 * authentication (401), route (404), tenant subscription scope (404, the same answer for a foreign id as for a
 * missing one), method (405 with Allow), then the handler, which parses its body (415, 400) and calls lib/.
 * Writes (every method but GET) run in one store transaction together with their Idempotency-Key record; the
 * answer is sent only after that transaction has committed, so an acknowledged write survives kill -9.
 *
 * Per libmicrohttpd's model the request state lives in *req_cls and is freed in the completion callback; the
 * answer is queued on a later call than the first, which keeps keep-alive connections open.
 */
#include "internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../lib/accounts.h"

#define IDEMPOTENCY_MAX_AGE_MS (24LL * 3600 * 1000)

struct api_server {
    api_ctx_t *ctx;
    api_listener_t listener;
    struct MHD_Daemon *daemon;
    int inflight; /* atomic */
};

static const char *
listener_name(api_listener_t l)
{
    return l == API_LISTENER_ADMIN ? "admin" : "tenant";
}

/* ---- replies ---- */

static void
reply_text(api_req_t *r, int status, char *text /* taken */)
{
    if (r->replied) {
        free(text);
        return;
    }
    r->replied = true;
    r->status = status;
    r->resp = text;
    r->resp_len = text ? strlen(text) : 0;
}

void
api_reply_json(api_req_t *r, int status, json_t *body)
{
    char *text = NULL;

    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (text == NULL) {
            api_reply_error(r, ERR_INTERNAL, NULL, "The answer could not be encoded.");
            return;
        }
    }
    reply_text(r, status, text);
}

void
api_reply_err(api_req_t *r, const err_t *err)
{
    err_code_t code = err && err->code != ERR_NONE ? err->code : ERR_INTERNAL;
    json_t *body;

    body = json_pack("{s:{s:s, s:s, s:s?}}", "error", "code", err_code_name(code), "message",
                     err && err->message[0] ? err->message : "The request failed.", "target",
                     err && err->target[0] ? err->target : NULL);
    api_reply_json(r, err_http_status(code), body);
}

void
api_reply_error(api_req_t *r, err_code_t code, const char *target, const char *fmt, ...)
{
    err_t e = {.code = code};
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    snprintf(e.target, sizeof(e.target), "%s", target ? target : "");
    api_reply_err(r, &e);
}

void
api_reply_record(api_req_t *r, int status, json_t *rec, int64_t rev)
{
    if (rev > 0)
        snprintf(r->etag, sizeof(r->etag), "\"%lld\"", (long long) rev);
    api_reply_json(r, status, rec);
}

void
api_reply_accepted(api_req_t *r, json_t *body, const char *job_id)
{
    if (r->listener == API_LISTENER_ADMIN)
        snprintf(r->location, sizeof(r->location), "/v1/admin/jobs/%s", job_id);
    else
        snprintf(r->location, sizeof(r->location), "/v1/subscriptions/%s/jobs/%s",
                 json_string_value(json_object_get(r->sub, "id")), job_id);
    r->retry_after = 1;
    api_reply_json(r, 202, body);
}

void
api_reply_no_content(api_req_t *r)
{
    reply_text(r, 204, NULL);
}

/* ---- request helpers ---- */

static bool
is_json_type(const char *ct)
{
    static const char *const types[] = {"application/json", "application/merge-patch+json", NULL};
    size_t i, n;

    if (ct == NULL)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    for (i = 0; types[i]; i++) {
        n = strlen(types[i]);
        if (strncasecmp(ct, types[i], n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
            return true;
    }
    return false;
}

/* Names the duplicated key from jansson's message "duplicate object key near '"name"'". */
static void
duplicate_key_target(const char *text, char *out, size_t n)
{
    const char *p = strstr(text, "near '\"");
    size_t len;

    out[0] = '\0';
    if (p == NULL)
        return;
    p += 7;
    len = strcspn(p, "\"");
    snprintf(out, n, "%.*s", (int) len, p);
}

json_t *
api_body(api_req_t *r, const jv_field_t *spec, bool partial, bool allow_empty)
{
    json_error_t jerr;
    err_t err = {0};
    char target[ERR_TARGET_MAX];
    json_t *obj;

    if (r->body_len == 0) {
        if (allow_empty)
            return json_object();
        api_reply_error(r, ERR_INVALID_JSON, NULL, "A JSON object is required as the body.");
        return NULL;
    }
    if (!is_json_type(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type"))) {
        api_reply_error(r, ERR_UNSUPPORTED_MEDIA_TYPE, NULL,
                        "The body must be sent with Content-Type: application/json.");
        return NULL;
    }
    obj = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        if (json_error_code(&jerr) == json_error_duplicate_key) {
            duplicate_key_target(jerr.text, target, sizeof(target));
            api_reply_error(r, ERR_INVALID_REQUEST, target,
                            "The field '%s' appears more than once.", target);
        } else {
            api_reply_error(r, ERR_INVALID_JSON, NULL,
                            "The body is not valid JSON (at byte %d: %s).", jerr.position,
                            jerr.text);
        }
        return NULL;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        api_reply_error(r, ERR_INVALID_JSON, NULL, "The body must be a JSON object.");
        return NULL;
    }
    if (spec && api_json_validate(obj, spec, partial, &err)) {
        json_decref(obj);
        api_reply_err(r, &err);
        return NULL;
    }
    return obj;
}

const char *
api_query(api_req_t *r, const char *name)
{
    const char *value = NULL;
    size_t len = 0;

    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &value,
                                      &len) != MHD_YES)
        return NULL;
    return value ? value : "";
}

#define CURSOR_PREFIX "p1."

int
api_paging(api_req_t *r, int *limit, int64_t *after)
{
    const char *lim = api_query(r, "limit"), *cur = api_query(r, "cursor");
    char raw[64];
    long n;
    int64_t v = API_LIMIT_DEFAULT;

    if (lim != NULL && (util_parse_int64(lim, false, &v) || v < 1 || v > API_LIMIT_MAX)) {
        api_reply_error(r, ERR_INVALID_REQUEST, "limit",
                        "limit must be a whole number from 1 to %d.", API_LIMIT_MAX);
        return -1;
    }
    *limit = (int) v;
    *after = 0;
    if (cur == NULL)
        return 0;
    n = strlen(cur) < 80 ? util_b64url_decode(cur, raw, sizeof(raw) - 1) : -1;
    if (n > 0)
        raw[n] = '\0';
    if (n <= (long) strlen(CURSOR_PREFIX) || strncmp(raw, CURSOR_PREFIX, strlen(CURSOR_PREFIX)) ||
        util_parse_int64(raw + strlen(CURSOR_PREFIX), false, after)) {
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
api_reply_page(api_req_t *r, json_t *list, int limit, int64_t next)
{
    char raw[48], cursor[80], query[2048], host[256];
    const char *h;
    qbuf_t q = {query, 0, sizeof(query)};
    json_t *body = json_pack("{s:o}", "value", list);
    char *link;
    size_t i;

    if (next > 0 && body) {
        snprintf(raw, sizeof(raw), CURSOR_PREFIX "%lld", (long long) next);
        util_b64url_encode(raw, strlen(raw), cursor);
        query[0] = '\0';
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
        query[q.len] = '\0';
        h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
        snprintf(host, sizeof(host), "%s", h && *h ? h : "localhost");
        for (i = 0; host[i]; i++)
            if (!isgraph((unsigned char) host[i]) || host[i] == '/' || host[i] == '?')
                host[i] = '\0';
        if (asprintf(&link, "http://%s%s?%slimit=%d&cursor=%s", host, r->path, query, limit,
                     cursor) > 0)
            json_object_set_new(body, "nextLink", json_string(link));
        free(link);
    }
    api_reply_json(r, 200, body);
}

int
api_feed_paging(api_req_t *r, const char *prefix, int *limit, int64_t *after)
{
    const char *cur = api_query(r, "after"), *lim = api_query(r, "limit");
    int64_t v = API_LIMIT_DEFAULT;
    size_t plen = strlen(prefix);
    char raw[64];
    long n;

    if (lim != NULL && (util_parse_int64(lim, false, &v) || v < 1 || v > API_LIMIT_MAX)) {
        api_reply_error(r, ERR_INVALID_REQUEST, "limit", "limit must be a whole number from 1 to %d.",
                        API_LIMIT_MAX);
        return -1;
    }
    *limit = (int) v;
    *after = 0;
    if (cur == NULL || cur[0] == '\0')
        return 0;
    n = strlen(cur) < 60 ? util_b64url_decode(cur, raw, sizeof(raw) - 1) : -1;
    if (n > 0)
        raw[n] = '\0';
    if (n <= (long) plen || strncmp(raw, prefix, plen) || util_parse_int64(raw + plen, false, after)) {
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

int
api_if_match(api_req_t *r, int64_t *rev)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-Match");
    char digits[32];
    size_t n;

    *rev = 0;
    if (h == NULL)
        return 0;
    while (*h == ' ')
        h++;
    if (strcmp(h, "*") == 0)
        return 0;
    if (strncmp(h, "W/", 2) == 0)
        h += 2;
    n = strcspn(h + 1, "\"");
    if (h[0] != '"' || n == 0 || n >= sizeof(digits) || h[1 + n] != '"') {
        api_reply_error(r, ERR_PRECONDITION_FAILED, NULL,
                        "If-Match does not name a current ETag of this resource.");
        return -1;
    }
    snprintf(digits, sizeof(digits), "%.*s", (int) n, h + 1);
    if (util_parse_int64(digits, false, rev) || *rev <= 0) {
        api_reply_error(r, ERR_PRECONDITION_FAILED, NULL,
                        "If-Match does not name a current ETag of this resource.");
        return -1;
    }
    return 0;
}

/* ---- pipeline ---- */

static bool
request_id_ok(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (n >= 128 || !(isalnum((unsigned char) s[n]) || strchr("-_.:", s[n])))
            return false;
    return n > 0;
}

static const char *
bearer_token(api_req_t *r)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

static int
authenticate(api_req_t *r)
{
    const char *token = bearer_token(r);
    err_t err = {0};

    if (token == NULL) {
        api_reply_error(r, ERR_UNAUTHORIZED, NULL, "A bearer token is required.");
        return -1;
    }
    /* One digest per request: it authenticates and scopes Idempotency-Keys. */
    util_sha256_hex(token, strlen(token), r->scope);
    if (r->listener == API_LISTENER_ADMIN) {
        if (!util_digest_equal(r->scope, r->ctx->admin_token_hash)) {
            api_reply_error(r, ERR_UNAUTHORIZED, NULL, "A valid bearer token is required.");
            return -1;
        }
    } else if (accounts_authenticate(r->store, r->scope, r->user_id, &err)) {
        api_reply_err(r, &err);
        return -1;
    }
    return 0;
}

/* Replays a stored answer, or reports a conflicting reuse of the key. 1: answered; 0: go on; -1: failed. */
static int
idempotency_check(api_req_t *r, const char *key, const char *body_hash)
{
    err_t err = {0};
    json_t *ans = store_idem_lookup(r->store, r->scope, r->method, r->path, key,
                                    IDEMPOTENCY_MAX_AGE_MS, &err);
    const char *loc, *body;

    if (ans == NULL) {
        if (err.code != ERR_NONE) {
            api_reply_err(r, &err);
            return -1;
        }
        return 0;
    }
    if (strcmp(json_string_value(json_object_get(ans, "bodyHash")), body_hash) != 0) {
        json_decref(ans);
        api_reply_error(r, ERR_CONFLICT, "Idempotency-Key",
                        "This Idempotency-Key was used with a different body.");
        return 1;
    }
    loc = json_string_value(json_object_get(ans, "location"));
    body = json_string_value(json_object_get(ans, "body"));
    if (loc)
        snprintf(r->location, sizeof(r->location), "%s", loc);
    r->status = (int) json_integer_value(json_object_get(ans, "status"));
    if (r->status == 202)
        r->retry_after = 1;
    reply_text(r, r->status, body && *body ? strdup(body) : NULL);
    json_decref(ans);
    return 1;
}

static void
idempotency_save(api_req_t *r, const char *key, const char *body_hash, err_t *err)
{
    json_t *ans = json_pack("{s:s, s:i, s:s?, s:s}", "bodyHash", body_hash, "status", r->status,
                            "location", r->location[0] ? r->location : NULL, "body",
                            r->resp ? r->resp : "");

    if (ans == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return;
    }
    store_idem_save(r->store, r->scope, r->method, r->path, key, ans, err);
    json_decref(ans);
}

/* Runs the handler of a write inside one transaction with its idempotency record. */
static void
run_write(api_req_t *r, api_handler_t handler)
{
    const char *key = r->method_id == API_POST
                          ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key")
                          : NULL;
    char body_hash[UTIL_SHA256_HEX_LEN + 1];
    err_t err = {0};
    int rc;

    if (key && (strlen(key) == 0 || strlen(key) > 255)) {
        api_reply_error(r, ERR_INVALID_REQUEST, "Idempotency-Key",
                        "Idempotency-Key must be 1 to 255 characters.");
        return;
    }
    if (store_tx_begin(r->store, &err)) {
        api_reply_err(r, &err);
        return;
    }
    if (key) {
        util_sha256_hex(r->body ? r->body : "", r->body_len, body_hash);
        rc = idempotency_check(r, key, body_hash);
        if (rc != 0) {
            store_tx_rollback(r->store);
            return;
        }
    }
    handler(r);
    if (!r->replied)
        api_reply_error(r, ERR_INTERNAL, NULL, "The request was not answered.");
    if (r->status >= 400) {
        store_tx_rollback(r->store);
        return;
    }
    if (key)
        idempotency_save(r, key, body_hash, &err);
    if (err.code != ERR_NONE || store_tx_commit(r->store, &err)) {
        if (err.code == ERR_NONE)
            err_set(&err, ERR_INTERNAL, NULL, "The change could not be committed.");
        store_tx_rollback(r->store);
        free(r->resp);
        r->resp = NULL;
        r->replied = false;
        r->location[0] = r->etag[0] = '\0';
        r->retry_after = 0;
        api_reply_err(r, &err);
    }
}

static void dispatch_in_tx(api_req_t *r);

/* GETs run in one read transaction: one snapshot, and the database's locks taken once. */
static void
dispatch(api_req_t *r)
{
    err_t err = {0};
    bool read = r->method_id == API_GET && !r->body_too_large;

    if (read && store_tx_begin_read(r->store, &err)) {
        api_reply_err(r, &err);
        return;
    }
    dispatch_in_tx(r);
    if (read) {
        err_clear(&err);
        store_tx_commit(r->store, &err);
    }
}

static void
dispatch_in_tx(api_req_t *r)
{
    const api_route_t *route;
    api_handler_t handler;
    err_t err = {0};

    if (r->body_too_large) {
        api_reply_error(r, ERR_PAYLOAD_TOO_LARGE, NULL, "The body is larger than %d bytes.",
                        API_BODY_MAX);
        return;
    }
    route = api_route_match(r, r->listener, r->path);
    if (route == NULL || !(route->flags & API_ROUTE_PUBLIC)) {
        if (authenticate(r))
            return;
    }
    if (route == NULL) {
        api_reply_error(r, ERR_NOT_FOUND, NULL, "No resource lives at this path.");
        return;
    }
    r->route = route;
    r->route_index = (int) (route - api_routes);
    if (r->listener == API_LISTENER_TENANT && strstr(route->pattern, "{sid}")) {
        r->sub = accounts_subscription_peek(r->store, r->params[0], r->user_id, &r->sub_rev, &err);
        if (r->sub == NULL) {
            api_reply_err(r, &err);
            return;
        }
        r->plan = store_rec_get_shared(r->store, &store_kind_plan,
                                       json_string_value(json_object_get(r->sub, "planId")), NULL,
                                       &err);
        if (r->plan == NULL) {
            api_reply_err(r, &err);
            return;
        }
    }
    handler = r->method_id < API__METHODS ? route->handlers[r->method_id] : NULL;
    if (handler == NULL) {
        api_route_allow(route, r->allow, sizeof(r->allow));
        api_reply_error(r, ERR_METHOD_NOT_ALLOWED, NULL, "This path takes only %s.", r->allow);
        return;
    }
    if (r->method_id == API_GET)
        handler(r);
    else
        run_write(r, handler);
    if (!r->replied)
        api_reply_error(r, ERR_INTERNAL, NULL, "The request was not answered.");
}

static void
log_request(api_req_t *r, double seconds)
{
    json_t *line;
    char now[UTIL_TIME_LEN + 1];
    char *text;

    if (!r->ctx->log_requests)
        return;
    util_time_format(util_now_ms(), now);
    line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:f}", "ts", now, "level", "info",
                     "msg", "request", "listener", listener_name(r->listener), "requestId",
                     r->request_id, "method", r->method, "path", r->path, "status", r->status,
                     "durationMs", seconds * 1000.0);
    if (line == NULL)
        return;
    text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(4));
    json_decref(line);
    if (text) {
        fprintf(stderr, "%s\n", text);
        free(text);
    }
}

static enum MHD_Result
queue_reply(api_req_t *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    double seconds;
    char buf[16];

    if (!r->replied)
        api_reply_error(r, ERR_INTERNAL, NULL, "The request was not answered.");
    resp = MHD_create_response_from_buffer(r->resp_len, r->resp, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL)
        return MHD_NO;
    r->resp = NULL; /* the response owns it now */
    if (r->resp_len > 0)
        MHD_add_response_header(resp, "Content-Type",
                                r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (r->etag[0])
        MHD_add_response_header(resp, "ETag", r->etag);
    if (r->location[0])
        MHD_add_response_header(resp, "Location", r->location);
    if (r->allow[0])
        MHD_add_response_header(resp, "Allow", r->allow);
    if (r->retry_after > 0) {
        snprintf(buf, sizeof(buf), "%d", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", buf);
    }
    if (r->status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    ret = MHD_queue_response(r->conn, (unsigned) r->status, resp);
    MHD_destroy_response(resp);
    seconds = (double) (util_mono_ns() - r->start_ns) / 1e9;
    api_metrics_observe(r->listener, r->route_index, r->method, r->status, seconds);
    log_request(r, seconds);
    return ret;
}

static api_req_t *
req_new(api_server_t *srv, struct MHD_Connection *conn, const char *url, const char *method)
{
    api_req_t *r = calloc(1, sizeof(*r));
    const char *rid;

    if (r == NULL)
        return NULL;
    r->ctx = srv->ctx;
    r->store = srv->ctx->store;
    r->listener = srv->listener;
    r->conn = conn;
    r->start_ns = util_mono_ns();
    r->route_index = -1;
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->method_id = api_method_parse(method);
    r->path = strdup(url ? url : "/");
    if (r->path == NULL) {
        free(r);
        return NULL;
    }
    rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && request_id_ok(rid)) {
        snprintf(r->request_id, sizeof(r->request_id), "%s", rid);
    } else {
        char id[UTIL_UUID_LEN + 1];
        util_uuid(id);
        snprintf(r->request_id, sizeof(r->request_id), "%s", id);
    }
    return r;
}

static void
req_free(api_req_t *r)
{
    int i;

    if (r == NULL)
        return;
    for (i = 0; i < r->nparams; i++)
        free(r->params[i]);
    json_decref(r->sub);
    json_decref(r->plan);
    free(r->body);
    free(r->resp);
    free(r->path);
    free(r);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    api_server_t *srv = cls;
    api_req_t *r = *req_cls;
    const char *cl;
    char *grown;
    int64_t len;

    (void) version;
    if (r == NULL) {
        r = req_new(srv, conn, url, method);
        if (r == NULL)
            return MHD_NO;
        *req_cls = r;
        __atomic_add_fetch(&srv->inflight, 1, __ATOMIC_SEQ_CST);
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && util_parse_int64(cl, false, &len) == 0 && len > API_BODY_MAX) {
            /* Refused on the headers: the body is never read and the connection closes. */
            r->body_too_large = true;
            dispatch(r);
            return queue_reply(r);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!r->replied && !r->body_too_large) {
            if (r->body_len + *upload_data_size > API_BODY_MAX) {
                r->body_too_large = true;
                free(r->body);
                r->body = NULL;
                r->body_len = 0;
            } else {
                grown = realloc(r->body, r->body_len + *upload_data_size + 1);
                if (grown == NULL)
                    return MHD_NO;
                memcpy(grown + r->body_len, upload_data, *upload_data_size);
                r->body = grown;
                r->body_len += *upload_data_size;
                r->body[r->body_len] = '\0';
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->replied)
        return MHD_YES;
    dispatch(r);
    return queue_reply(r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
             enum MHD_RequestTerminationCode toe)
{
    api_server_t *srv = cls;

    (void) conn;
    (void) toe;
    if (*req_cls == NULL)
        return;
    req_free(*req_cls);
    *req_cls = NULL;
    __atomic_sub_fetch(&srv->inflight, 1, __ATOMIC_SEQ_CST);
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    json_t *line;
    char *text;
    size_t n;

    (void) cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    line = json_pack("{s:s, s:s, s:s}", "level", "warn", "msg", "http", "detail", msg);
    text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    if (text)
        fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(line);
}

api_server_t *
api_server_start(api_ctx_t *ctx, api_listener_t listener, int listen_fd, int threads)
{
    api_server_t *srv = calloc(1, sizeof(*srv));

    if (srv == NULL)
        return NULL;
    srv->ctx = ctx;
    srv->listener = listener;
    srv->daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request,
        srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned) (threads > 0 ? threads : 1), MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) API_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, 2048u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 64 * 1024, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"the %s listener could not start\"}\n",
                listener_name(listener));
        free(srv);
        return NULL;
    }
    return srv;
}

void
api_server_quiesce(api_server_t *srv)
{
    MHD_socket fd;

    if (srv == NULL || srv->daemon == NULL)
        return;
    fd = MHD_quiesce_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

int
api_server_inflight(const api_server_t *srv)
{
    return srv ? __atomic_load_n(&srv->inflight, __ATOMIC_SEQ_CST) : 0;
}

void
api_server_free(api_server_t *srv)
{
    if (srv == NULL)
        return;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    free(srv);
}
