/*
 * request.c: the request as handlers read it: its life (new, free), its headers and query, its body's
 * framing, its body as a checked JSON object, and If-Match.
 *
 * A request is created by the listener on libmicrohttpd's first call for it and freed in the completion
 * callback; every string in it is owned by it. On that first call, before any of the body is read, the
 * listener has its framing checked (api_req_framing_or_reply): libmicrohttpd 0.9.75 takes the first of two
 * different Content-Length headers, and reads a body of an unknown Transfer-Encoding until the client
 * closes, so both are refused here, with the connection closed after the answer. Without a connection
 * (the pipeline's unit tests) headers come from r->fake_headers and there is no query.
 */
#include "../internal.h"
#include "guard.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool
request_id_ok(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (n >= 128 || !(isalnum((unsigned char) s[n]) || strchr("-_.:", s[n])))
            return false;
    return n > 0;
}

api_req_t *
api_req_new(api_ctx_t *ctx, api_listener_t listener, struct MHD_Connection *conn,
            const char *const *fake_headers, const char *url, const char *method)
{
    api_req_t *r = calloc(1, sizeof(*r));
    const char *rid;

    assert(ctx != NULL && method != NULL);
    if (r == NULL)
        return NULL;
    r->ctx = ctx;
    r->store = ctx->store;
    r->listener = listener;
    r->conn = conn;
    r->fake_headers = fake_headers;
    r->start_ns = util_mono_ns();
    r->route_index = -1;
    snprintf(r->method, sizeof(r->method), "%s", method);
    /* HEAD is a GET whose answer has no body (RFC 9110, 9.3.2): it runs as the GET does, through the same
     * authentication, scope and handler, and libmicrohttpd sends the GET's status and headers (its
     * Content-Length included) without the body. r->method keeps "HEAD" for the request log. */
    r->method_id = strcmp(method, "HEAD") == 0 ? API_GET : api_method_parse(method);
    r->path = strdup(url ? url : "/");
    if (r->path == NULL) {
        free(r);
        return NULL;
    }
    rid = api_header(r, "X-Request-Id");
    if (rid && request_id_ok(rid)) {
        snprintf(r->request_id, sizeof(r->request_id), "%s", rid);
    } else {
        char id[UTIL_UUID_LEN + 1];
        util_uuid(id);
        snprintf(r->request_id, sizeof(r->request_id), "%s", id);
    }
    return r;
}

void
api_req_free(api_req_t *r)
{
    int i;

    if (r == NULL)
        return;
    assert(r->tx == API_TX_NONE); /* the pipeline ended its transaction */
    for (i = 0; i < r->nparams; i++)
        free(r->params[i]);
    json_decref(r->sub);
    json_decref(r->plan);
    free(r->body);
    free(r->resp);
    free(r->idem_body);
    api_reply_fd_drop(r);
    free(r->path);
    free(r);
}

const char *
api_header(api_req_t *r, const char *name)
{
    const char *const *h;

    if (r->conn != NULL)
        return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
    for (h = r->fake_headers; h && h[0]; h += 2)
        if (strcasecmp(h[0], name) == 0)
            return h[1];
    return NULL;
}

/* What the headers say about the body's framing (see api_req_framing_or_reply). */
typedef struct {
    const char *length;   /* the first Content-Length */
    bool length_differs;  /* a later Content-Length differs from the first */
    int codings;          /* Transfer-Encoding headers */
    bool coding_other;    /* one that is not exactly "chunked" */
} framing_t;

/* Whether value, without surrounding blanks, is the one token "chunked" (compared without case). */
static bool
only_chunked(const char *value)
{
    size_t n;

    while (*value == ' ' || *value == '\t')
        value++;
    n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    return n == 7 && strncasecmp(value, "chunked", 7) == 0;
}

static void
framing_see(framing_t *f, const char *name, const char *value)
{
    if (value == NULL)
        value = "";
    if (strcasecmp(name, "Content-Length") == 0) {
        if (f->length == NULL)
            f->length = value;
        else if (strcmp(f->length, value) != 0)
            f->length_differs = true;
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        f->codings++;
        if (!only_chunked(value))
            f->coding_other = true;
    }
}

static enum MHD_Result
framing_header(void *cls, enum MHD_ValueKind kind, const char *name, const char *value)
{
    (void) kind;
    framing_see(cls, name, value);
    return MHD_YES;
}

int
api_req_framing_or_reply(api_req_t *r)
{
    framing_t f = {0};
    const char *const *h;

    assert(r != NULL && !r->replied);
    if (r->conn != NULL)
        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, framing_header, &f);
    else
        for (h = r->fake_headers; h && h[0]; h += 2)
            framing_see(&f, h[0], h[1]);
    if (f.codings > 1 || f.coding_other)
        api_reply_error(r, ERR_NOT_IMPLEMENTED, "Transfer-Encoding", API_MSG_CODINGS);
    else if (f.codings == 1 && f.length != NULL)
        api_reply_error(r, ERR_INVALID_REQUEST, "Content-Length", API_MSG_CODING_AND_LENGTH);
    else if (f.length_differs)
        api_reply_error(r, ERR_INVALID_REQUEST, "Content-Length", API_MSG_LENGTHS_DIFFER);
    else
        return 0;
    r->close = true;
    return -1;
}

const char *
api_query(api_req_t *r, const char *name)
{
    const char *value = NULL;
    size_t len = 0;

    if (r->conn == NULL ||
        MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &value,
                                      &len) != MHD_YES)
        return NULL;
    return value ? value : "";
}

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
    json_t *obj, *details = NULL;

    if (r->body_len == 0) {
        if (allow_empty)
            return json_object();
        api_reply_error(r, ERR_INVALID_JSON, NULL, "A JSON object is required as the body.");
        return NULL;
    }
    if (!is_json_type(api_header(r, "Content-Type"))) {
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
    if (spec && api_json_check(obj, spec, partial, &err, &details)) {
        json_decref(obj);
        api_reply_err_details(r, &err, details);
        return NULL;
    }
    return obj;
}

int
api_if_match(api_req_t *r, int64_t *rev)
{
    const char *h = api_header(r, "If-Match");
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
    n = h[0] == '"' ? strcspn(h + 1, "\"") : 0;
    if (n > 0 && n < sizeof(digits) && h[1 + n] == '"') {
        snprintf(digits, sizeof(digits), "%.*s", (int) n, h + 1);
        if (util_parse_int64(digits, false, rev) == 0 && *rev > 0)
            return 0;
    }
    *rev = 0;
    api_reply_error(r, ERR_PRECONDITION_FAILED, NULL,
                    "If-Match does not name a current ETag of this resource.");
    return -1;
}
