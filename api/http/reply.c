/*
 * reply.c: the last stage of a request: how a handler's answer is recorded, and the one place where an
 * err_t becomes the error body {"error": {"code", "message", "target", "details"?}} with its HTTP status
 * (details[]: every field at fault in a body, the first being the error itself; see validate.c).
 *
 * Invariants: a request is answered exactly once (asserted); every body is a JSON object (the WAP billing
 * feed's array is the one exception, answered through api_reply_json_array); a record or a page shows a view,
 * which carries no key starting with '_' (asserted). A reply only records the answer in the request: the
 * pipeline decides whether it stands (after the commit) and the listener sends it.
 */
#include "../internal.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
api_reply_text(api_req_t *r, int status, const char *content_type, char *text)
{
    assert(r != NULL);
    assert(!r->replied); /* answered exactly once */
    r->replied = true;
    r->status = status;
    r->content_type = content_type;
    r->resp = text;
    r->resp_len = text ? strlen(text) : 0;
}

/* Encodes body (stolen; NULL: no body) as the answer. */
static void
reply_encoded(api_req_t *r, int status, json_t *body)
{
    char *text = NULL;

    if (body) {
        text = util_json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (text == NULL) {
            api_reply_error(r, ERR_INTERNAL, NULL, "The answer could not be encoded.");
            return;
        }
    }
    api_reply_text(r, status, NULL, text);
}

void
api_reply_json(api_req_t *r, int status, json_t *body)
{
    assert(body == NULL || json_is_object(body));
    reply_encoded(r, status, body);
}

void
api_reply_json_array(api_req_t *r, int status, json_t *list)
{
    assert(list == NULL || json_is_array(list));
    reply_encoded(r, status, list);
}

void
api_reply_err_details(api_req_t *r, const err_t *err, json_t *details)
{
    err_code_t code = err && err->code != ERR_NONE ? err->code : ERR_INTERNAL;
    json_t *body;

    assert(details == NULL || json_is_array(details));
    body = json_pack("{s:{s:s, s:s, s:s?, s:o*}}", "error", "code", err_code_name(code), "message",
                     err && err->message[0] ? err->message : "The request failed.", "target",
                     err && err->target[0] ? err->target : NULL, "details", details);
    if (code == ERR_INSUFFICIENT_STORAGE && r->retry_after <= 0)
        r->retry_after = API_STORAGE_RETRY_AFTER_S; /* space comes back when an operator makes it */
    api_reply_json(r, err_http_status(code), body);
}

void
api_reply_err(api_req_t *r, const err_t *err)
{
    api_reply_err_details(r, err, NULL);
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
api_reply_or_err(api_req_t *r, int status, json_t *body, const err_t *err)
{
    if (body == NULL)
        api_reply_err(r, err);
    else
        api_reply_json(r, status, body);
}

bool
api_view_ok(const json_t *view)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *) view, key, v)
        if (key[0] == '_')
            return false;
    return true;
}

void
api_reply_record(api_req_t *r, int status, json_t *rec, int64_t rev)
{
    assert(rec == NULL || api_view_ok(rec));
    if (rev > 0)
        snprintf(r->etag, sizeof(r->etag), "\"%lld\"", (long long) rev);
    api_reply_json(r, status, rec);
}

void
api_reply_record_text(api_req_t *r, int status, util_buf_t *b, int64_t rev)
{
    char *text;

    assert(r != NULL && b != NULL);
    if ((text = util_buf_take(b)) == NULL) {
        api_reply_error(r, ERR_INTERNAL, NULL, "The answer could not be encoded.");
        return;
    }
    if (rev > 0)
        snprintf(r->etag, sizeof(r->etag), "\"%lld\"", (long long) rev);
    api_reply_text(r, status, NULL, text);
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
api_reply_job(api_req_t *r, json_t *job, const err_t *err)
{
    if (job == NULL) {
        api_reply_err(r, err);
        return;
    }
    api_reply_accepted(r, job, json_string_value(json_object_get(job, "id")));
}

void
api_reply_no_content(api_req_t *r)
{
    api_reply_text(r, 204, NULL, NULL);
}

void
api_reply_fd(api_req_t *r, const char *content_type, const char *disposition, int fd, int64_t size)
{
    assert(fd >= 0 && size >= 0 && content_type != NULL);
    api_reply_text(r, 200, content_type, NULL);
    r->resp_from_fd = true;
    r->resp_fd = fd;
    r->resp_fd_size = size;
    r->disposition = disposition;
}

/* Closes a file answer not sent (retracted, or its request ended first). */
void
api_reply_fd_drop(api_req_t *r)
{
    if (r->resp_from_fd)
        close(r->resp_fd);
    r->resp_from_fd = false;
    r->disposition = NULL;
}

void
api_reply_retract(api_req_t *r)
{
    api_reply_fd_drop(r);
    free(r->resp);
    r->resp = NULL;
    r->resp_len = 0;
    r->replied = false;
    r->status = 0;
    r->content_type = NULL;
    r->location[0] = r->etag[0] = r->allow[0] = '\0';
    r->retry_after = 0;
}
