/*
 * guard_head.c: the head checker of a plain-HTTP listener's front (see guard.h). api_guard_check takes the
 * bytes a new connection has sent so far, touching no socket, and says whether they are a head still
 * arriving, a whole head libmicrohttpd may parse, or a head to refuse and with what code and message;
 * api_guard_answer writes a refusal as a whole HTTP answer in the API's JSON envelope. The thread that peeks
 * at each connection and acts on the verdict is guard.c.
 *
 * libmicrohttpd 0.9.75 answers the heads it cannot parse with its own HTML and no X-Request-Id, serves
 * HTTP/1.3 as 1.1, drops a one-word request line unanswered, and runs out of its connection memory on a head
 * of many records, answering nothing; none of this has a hook. So each of these heads is refused here first,
 * with the request's own X-Request-Id when it sent a usable one.
 */
#include "guard.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static bool
is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A byte a header value may hold: visible ASCII, blanks and obs-text; no other control character. */
static bool
is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static api_guard_result_t
refuse(api_guard_verdict_t *v, err_code_t code, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static api_guard_result_t
refuse(api_guard_verdict_t *v, err_code_t code, const char *target, const char *fmt, ...)
{
    va_list ap;

    v->code = code;
    v->target = target;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof(v->message), fmt, ap);
    va_end(ap);
    return API_GUARD_REFUSE;
}

/* Checks the request line line[0..n) (complete: its end was seen). Returns API_GUARD_MORE when nothing is
 * wrong so far; sets *records to the count of its query arguments. */
static api_guard_result_t
check_request_line(const char *line, size_t n, bool complete, int *records, api_guard_verdict_t *v)
{
    static const char proto[] = "HTTP/";
    size_t i = 0, t, k;
    const char *ver;

    while (i < n && is_tchar((unsigned char) line[i]))
        i++;
    if (i == n)
        return complete ? refuse(v, ERR_INVALID_REQUEST, NULL,
                                 "The request line must be a method, a target and an HTTP version.")
                        : API_GUARD_MORE;
    if (i == 0 || line[i] != ' ')
        return refuse(v, ERR_INVALID_REQUEST, NULL, "The request line does not start with a method.");
    t = ++i;
    while (i < n && (unsigned char) line[i] > 0x20 && (unsigned char) line[i] < 0x7f)
        i++;
    if (i > t && line[t] != '/' && !(line[t] == '*' && i == t + 1))
        return refuse(v, ERR_INVALID_REQUEST, NULL, "The request target must be a path starting with /.");
    if (i == n)
        return complete ? refuse(v, ERR_INVALID_REQUEST, NULL,
                                 "The request line must be a method, a target and an HTTP version.")
                        : API_GUARD_MORE;
    if (i == t || line[i] != ' ')
        return refuse(v, ERR_INVALID_REQUEST, NULL,
                      "The request target holds a character that is not allowed there.");
    *records = 0;
    for (k = t; k < i && line[k] != '#'; k++)
        if (line[k] == '?' || (line[k] == '&' && *records > 0))
            (*records)++;
    ver = line + i + 1;
    n -= i + 1;
    for (k = 0; k < n && k < 8; k++)
        if (k < 5 ? ver[k] != proto[k] : k == 6 ? ver[k] != '.' : (ver[k] < '0' || ver[k] > '9'))
            return refuse(v, ERR_INVALID_REQUEST, NULL,
                          "The request line must end with an HTTP version such as HTTP/1.1.");
    if (n > 8)
        return refuse(v, ERR_INVALID_REQUEST, NULL,
                      "The request line must end with an HTTP version such as HTTP/1.1.");
    if (!complete)
        return API_GUARD_MORE;
    if (n < 8)
        return refuse(v, ERR_INVALID_REQUEST, NULL,
                      "The request line must end with an HTTP version such as HTTP/1.1.");
    if (ver[5] != '1' || (ver[7] != '0' && ver[7] != '1'))
        return refuse(v, ERR_HTTP_VERSION_NOT_SUPPORTED, NULL,
                      "HTTP/%c.%c is not supported: send HTTP/1.1 or HTTP/1.0.", ver[5], ver[7]);
    return API_GUARD_MORE;
}

/* What the header lines said, for the checks made once the head is complete. */
typedef struct {
    int records;
    int codings;
    bool coding_other;
    int lengths;
    bool length_differs;
    bool length_bad;
    const char *length; /* the first Content-Length's value, trimmed */
    size_t length_n;
} head_t;

static void
trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t'))
        (*s)++, (*n)--;
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

static bool
request_id_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 128)
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              strchr("-_.:", s[i]) != NULL))
            return false;
    return true;
}

static bool
name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Checks one header line line[0..n) (complete: its end was seen) and notes what it says in *h. */
static api_guard_result_t
check_header_line(const char *line, size_t n, bool complete, head_t *h, api_guard_verdict_t *v)
{
    size_t i = 0, vn, k;
    const char *val;

    if (n > 0 && (line[0] == ' ' || line[0] == '\t'))
        return refuse(v, ERR_INVALID_REQUEST, NULL, "A header line may not be folded onto the next.");
    while (i < n && is_tchar((unsigned char) line[i]))
        i++;
    if (i == n)
        return complete ? refuse(v, ERR_INVALID_REQUEST, NULL, "A header line must be a name, a colon and a value.")
                        : API_GUARD_MORE;
    if (i == 0 || line[i] != ':')
        return refuse(v, ERR_INVALID_REQUEST, NULL, "A header line must be a name, a colon and a value.");
    for (k = i + 1; k < n; k++)
        if (!is_value_char((unsigned char) line[k]))
            return refuse(v, ERR_INVALID_REQUEST, NULL, "A header value holds a control character.");
    if (!complete)
        return API_GUARD_MORE;
    if (++h->records > API_GUARD_RECORDS_MAX)
        return refuse(v, ERR_HEADERS_TOO_LARGE, NULL,
                      "The request has more than %d headers, query arguments and cookies.",
                      API_GUARD_RECORDS_MAX);
    val = line + i + 1;
    vn = n - i - 1;
    trim(&val, &vn);
    if (name_is(line, i, "Content-Length")) {
        if (vn == 0)
            h->length_bad = true;
        for (k = 0; k < vn; k++)
            if (val[k] < '0' || val[k] > '9')
                h->length_bad = true;
        if (h->lengths++ == 0) {
            h->length = val;
            h->length_n = vn;
        } else if (vn != h->length_n || memcmp(val, h->length, vn) != 0) {
            h->length_differs = true;
        }
    } else if (name_is(line, i, "Transfer-Encoding")) {
        h->codings++;
        if (!(vn == 7 && strncasecmp(val, "chunked", 7) == 0))
            h->coding_other = true;
    } else if (name_is(line, i, "Cookie")) {
        for (k = 0; k < vn; k++)
            if (val[k] == ';')
                h->records++;
        h->records++;
    } else if (name_is(line, i, "X-Request-Id") && request_id_ok(val, vn)) {
        memcpy(v->request_id, val, vn);
        v->request_id[vn] = '\0';
    }
    return API_GUARD_MORE;
}

/* The checks of a complete head. */
static api_guard_result_t
check_head(const head_t *h, int64_t body_max, api_guard_verdict_t *v)
{
    int64_t len = 0;
    size_t k;

    if (h->records > API_GUARD_RECORDS_MAX)
        return refuse(v, ERR_HEADERS_TOO_LARGE, NULL,
                      "The request has more than %d headers, query arguments and cookies.",
                      API_GUARD_RECORDS_MAX);
    if (h->codings > 1 || h->coding_other)
        return refuse(v, ERR_NOT_IMPLEMENTED, "Transfer-Encoding", API_MSG_CODINGS);
    if (h->codings == 1 && h->lengths > 0)
        return refuse(v, ERR_INVALID_REQUEST, "Content-Length", API_MSG_CODING_AND_LENGTH);
    if (h->length_bad)
        return refuse(v, ERR_INVALID_REQUEST, "Content-Length",
                      "Content-Length must be the body's length in bytes, in digits.");
    if (h->length_differs)
        return refuse(v, ERR_INVALID_REQUEST, "Content-Length", API_MSG_LENGTHS_DIFFER);
    if (h->lengths > 0) {
        if (h->length_n > 18)
            len = INT64_MAX;
        else
            for (k = 0; k < h->length_n; k++)
                len = len * 10 + (h->length[k] - '0');
        if (len > body_max)
            return refuse(v, ERR_PAYLOAD_TOO_LARGE, NULL, API_MSG_BODY_TOO_LARGE, (int) body_max);
    }
    return API_GUARD_PASS;
}

/* A refused head's X-Request-Id, wherever it is among the lines that arrived (the fault may come before
 * it): a best effort, so that the client can match the refusal to its request. */
static void
find_request_id(const char *buf, size_t len, api_guard_verdict_t *v)
{
    static const char name[] = "x-request-id:";
    const char *p = buf, *end = buf + len, *nl, *val;
    size_t vn;

    while ((nl = memchr(p, '\n', (size_t) (end - p))) != NULL) {
        p = nl + 1;
        if ((size_t) (end - p) > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0 &&
            (nl = memchr(p, '\n', (size_t) (end - p))) != NULL) {
            val = p + sizeof(name) - 1;
            vn = (size_t) (nl - val);
            if (vn > 0 && val[vn - 1] == '\r')
                vn--;
            trim(&val, &vn);
            if (request_id_ok(val, vn)) {
                memcpy(v->request_id, val, vn);
                v->request_id[vn] = '\0';
            }
            return;
        }
    }
}

static api_guard_result_t check(const char *buf, size_t len, bool ended, int64_t body_max,
                                api_guard_verdict_t *v);

api_guard_result_t
api_guard_check(const char *buf, size_t len, bool ended, int64_t body_max, api_guard_verdict_t *v)
{
    api_guard_result_t res = check(buf, len, ended, body_max, v);

    if (res == API_GUARD_REFUSE && v->request_id[0] == '\0')
        find_request_id(buf, len < API_GUARD_HEAD_MAX ? len : API_GUARD_HEAD_MAX, v);
    return res;
}

static api_guard_result_t
check(const char *buf, size_t len, bool ended, int64_t body_max, api_guard_verdict_t *v)
{
    size_t p = 0, e, n, limit = len < API_GUARD_HEAD_MAX ? len : API_GUARD_HEAD_MAX;
    bool first = true, complete;
    head_t h = {0};
    api_guard_result_t res;

    memset(v, 0, sizeof(*v));
    /* Empty lines before the request line are ignored (RFC 9112, 2.2), as libmicrohttpd does. */
    while (p < limit && (buf[p] == '\n' || (buf[p] == '\r' && p + 1 < len && buf[p + 1] == '\n')))
        p += buf[p] == '\r' ? 2 : 1;
    for (;;) {
        for (e = p; e < limit && buf[e] != '\n'; e++)
            if (buf[e] == '\r' && e + 1 < len && buf[e + 1] != '\n')
                return refuse(v, ERR_INVALID_REQUEST, NULL, "A carriage return must end a line with a line feed.");
        complete = e < limit;
        n = e - p;
        if (n > 0 && buf[p + n - 1] == '\r')
            n--;
        if (!first && complete && n == 0) { /* the blank line: the head is whole */
            v->head_len = e + 1;
            return check_head(&h, body_max, v);
        }
        res = first ? check_request_line(buf + p, n, complete, &h.records, v)
                    : check_header_line(buf + p, n, complete, &h, v);
        if (res != API_GUARD_MORE)
            return res;
        if (!complete)
            break;
        first = false;
        p = e + 1;
    }
    if (len >= API_GUARD_HEAD_MAX) {
        if (first)
            return refuse(v, ERR_URI_TOO_LONG, NULL, "The request line is longer than %d bytes.",
                          API_GUARD_HEAD_MAX);
        return refuse(v, ERR_HEADERS_TOO_LARGE, NULL, "The request head is longer than %d bytes.",
                      API_GUARD_HEAD_MAX);
    }
    if (ended)
        return refuse(v, ERR_INVALID_REQUEST, NULL, "The request ended before its head was complete.");
    return API_GUARD_MORE;
}

static const char *
reason(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

int
api_guard_answer(const api_guard_verdict_t *v, const char *request_id, char *out, size_t cap)
{
    json_t *body;
    char *text;
    char date[64];
    struct tm tm;
    time_t now = time(NULL);
    int status = err_http_status(v->code), n;

    body = json_pack("{s:{s:s, s:s, s:s?}}", "error", "code", err_code_name(v->code), "message", v->message,
                     "target", v->target);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        return -1;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    n = snprintf(out, cap,
                 "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %zu\r\nContent-Type: application/json\r\n"
                 "Date: %s\r\n%sX-Request-Id: %s\r\n\r\n%s",
                 status, reason(status), strlen(text), date, status == 503 ? "Retry-After: 1\r\n" : "",
                 v->request_id[0] ? v->request_id : request_id, text);
    free(text);
    return n > 0 && (size_t) n < cap ? n : -1;
}
