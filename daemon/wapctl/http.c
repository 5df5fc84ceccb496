/*
 * http.c: wapctl's requests to the admin API (libcurl), the pages of a list and the wait for a job.
 *
 * Every request goes to c->url: a path is appended to it, and a full URL from the API (a nextLink or a
 * Location, which may carry a public URL the CLI cannot reach) keeps only its part from "/v1/" on. An
 * answer of any status is WAPCTL_OK for the transport; only "no answer at all" is WAPCTL_CONNECT. The
 * token is sent as a bearer header and never printed.
 */
#include "wapctl.h"

#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

typedef struct {
    char *data;
    size_t len;
} wapctl_buf_t;

typedef struct {
    CURL *curl;
    FILE *out;        /* download target, or NULL */
    wapctl_buf_t buf; /* the body (of an error answer only, when out is set) */
} wapctl_sink_t;

static size_t
buf_append(wapctl_buf_t *b, const char *p, size_t n)
{
    char *grown = realloc(b->data, b->len + n + 1);

    if (grown == NULL)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    wapctl_sink_t *s = arg;
    size_t n = size * nmemb;
    long status = 0;

    if (s->out != NULL) {
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status < 400)
            return fwrite(p, 1, n, s->out);
    }
    return buf_append(&s->buf, p, n);
}

/* Keeps the value of header name ("etag:") from line into *slot, trimmed. */
static void
header_take(const char *line, size_t n, const char *name, char **slot)
{
    size_t k = strlen(name);

    if (n <= k || strncasecmp(line, name, k) != 0)
        return;
    line += k;
    n -= k;
    while (n > 0 && isspace((unsigned char) *line)) {
        line++;
        n--;
    }
    while (n > 0 && isspace((unsigned char) line[n - 1]))
        n--;
    free(*slot);
    *slot = strndup(line, n);
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    wapctl_reply_t *r = arg;
    size_t n = size * nmemb;

    header_take(p, n, "etag:", &r->etag);
    header_take(p, n, "location:", &r->location);
    return n;
}

/* The URL for path: c->url + path, or for a full URL c->url + its part from "/v1/" on. Malloc'd. */
static char *
url_for(const wapctl_t *c, const char *path)
{
    const char *v1;
    char *url;

    if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0) {
        v1 = strstr(path, "/v1/");
        if (v1 == NULL)
            return strdup(path);
        path = v1;
    }
    if (asprintf(&url, "%s%s", c->url, path) < 0)
        return NULL;
    return url;
}

/* Sets up one request; headers receives the list to free after it. */
static CURL *
request_setup(const wapctl_t *c, const char *method, const char *path, const char *body,
              const char *if_match, struct curl_slist **headers)
{
    CURL *curl = curl_easy_init();
    char *url = url_for(c, path);
    char *line = NULL;

    if (curl == NULL || url == NULL) {
        curl_easy_cleanup(curl);
        free(url);
        return NULL;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (c->cacert != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, c->cacert);
    *headers = curl_slist_append(NULL, "Accept: application/json");
    if (c->token != NULL && asprintf(&line, "Authorization: Bearer %s", c->token) >= 0) {
        *headers = curl_slist_append(*headers, line);
        free(line);
    }
    if (if_match != NULL && asprintf(&line, "If-Match: %s", if_match) >= 0) {
        *headers = curl_slist_append(*headers, line);
        free(line);
    }
    if (body != NULL) {
        *headers = curl_slist_append(*headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
    return curl;
}

/* Performs the request; returns WAPCTL_CONNECT (message on stderr) when no answer came. */
static int
request_perform(const wapctl_t *c, CURL *curl, wapctl_sink_t *sink, wapctl_reply_t *reply)
{
    CURLcode rc;

    sink->curl = curl;
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    if (rc != CURLE_OK && reply->status == 0) {
        fprintf(stderr, "wapctl: cannot reach %s: %s\n", c->url, curl_easy_strerror(rc));
        return WAPCTL_CONNECT;
    }
    if (rc != CURLE_OK) {
        fprintf(stderr, "wapctl: the answer from %s broke off: %s\n", c->url, curl_easy_strerror(rc));
        return WAPCTL_CONNECT;
    }
    if (sink->buf.len > 0)
        reply->body = json_loadb(sink->buf.data, sink->buf.len, 0, NULL);
    return WAPCTL_OK;
}

int
wapctl_request(const wapctl_t *c, const char *method, const char *path, const json_t *body,
               const char *if_match, wapctl_reply_t *reply)
{
    struct curl_slist *headers = NULL;
    wapctl_sink_t sink = {0};
    char *text = NULL;
    CURL *curl;
    int rc = WAPCTL_CONNECT;

    assert(c != NULL && method != NULL && path != NULL && reply != NULL);
    memset(reply, 0, sizeof(*reply));
    if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
        return WAPCTL_CONNECT;
    curl = request_setup(c, method, path, text, if_match, &headers);
    if (curl == NULL) {
        fprintf(stderr, "wapctl: out of memory\n");
        goto cleanup;
    }
    rc = request_perform(c, curl, &sink, reply);
cleanup:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(sink.buf.data);
    free(text);
    return rc;
}

void
wapctl_reply_free(wapctl_reply_t *reply)
{
    if (reply == NULL)
        return;
    json_decref(reply->body);
    free(reply->etag);
    free(reply->location);
    memset(reply, 0, sizeof(*reply));
}

int
wapctl_download(const wapctl_t *c, const char *path, FILE *out)
{
    struct curl_slist *headers = NULL;
    wapctl_sink_t sink = {0};
    wapctl_reply_t reply = {0};
    CURL *curl;
    int rc = WAPCTL_CONNECT;

    assert(c != NULL && path != NULL && out != NULL);
    curl = request_setup(c, "GET", path, NULL, NULL, &headers);
    if (curl == NULL) {
        fprintf(stderr, "wapctl: out of memory\n");
        goto cleanup;
    }
    sink.out = out;
    rc = request_perform(c, curl, &sink, &reply);
    if (rc == WAPCTL_OK && reply.status >= 400)
        rc = wapctl_fail(&reply);
cleanup:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(sink.buf.data);
    wapctl_reply_free(&reply);
    return rc;
}

int
wapctl_fail(const wapctl_reply_t *reply)
{
    const json_t *err;
    const char *code, *message, *target;

    assert(reply != NULL);
    err = json_object_get(reply->body, "error");
    code = json_string_value(json_object_get(err, "code"));
    message = json_string_value(json_object_get(err, "message"));
    target = json_string_value(json_object_get(err, "target"));
    if (code == NULL) {
        fprintf(stderr, "HTTP %ld: the API answered without an error body\n", reply->status);
        return WAPCTL_API;
    }
    fprintf(stderr, "%s: %s", code, message != NULL ? message : "");
    if (target != NULL)
        fprintf(stderr, " (target: %s)", target);
    fputc('\n', stderr);
    return WAPCTL_API;
}

int
wapctl_list_all(const wapctl_t *c, const char *path, json_t **items)
{
    wapctl_reply_t reply = {0};
    json_t *all = json_array();
    char *next = strdup(path);
    const char *link;
    int rc = WAPCTL_OK;

    assert(c != NULL && path != NULL && items != NULL);
    while (rc == WAPCTL_OK && next != NULL) {
        rc = wapctl_request(c, "GET", next, NULL, NULL, &reply);
        free(next);
        next = NULL;
        if (rc != WAPCTL_OK)
            break;
        if (reply.status >= 400) {
            rc = wapctl_fail(&reply);
        } else if (!json_is_array(json_object_get(reply.body, "value"))) {
            fprintf(stderr, "wapctl: the answer of %s is not a list\n", path);
            rc = WAPCTL_API;
        } else {
            json_array_extend(all, json_object_get(reply.body, "value"));
            link = json_string_value(json_object_get(reply.body, "nextLink"));
            next = link != NULL ? strdup(link) : NULL;
        }
        wapctl_reply_free(&reply);
    }
    free(next);
    if (rc == WAPCTL_OK)
        *items = json_pack("{s:o}", "value", all);
    else
        json_decref(all);
    return rc;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Prints why an ended job did not succeed. */
static void
job_report(const json_t *job, const char *status)
{
    const json_t *err = json_object_get(job, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *message = json_string_value(json_object_get(err, "message"));
    const char *id = json_string_value(json_object_get(job, "id"));

    if (code != NULL)
        fprintf(stderr, "%s: %s\n", code, message != NULL ? message : "");
    else
        fprintf(stderr, "%s: job %s ended %s\n", strcmp(status, "canceled") == 0 ? "Canceled" : "JobFailed",
                id != NULL ? id : "", status);
}

int
wapctl_job_wait(const wapctl_t *c, const char *job_path, json_t **job)
{
    wapctl_reply_t reply = {0};
    const char *status;
    long delay = 50;
    int rc;

    assert(c != NULL && job_path != NULL);
    for (;;) {
        rc = wapctl_request(c, "GET", job_path, NULL, NULL, &reply);
        if (rc != WAPCTL_OK)
            return rc;
        if (reply.status >= 400) {
            rc = wapctl_fail(&reply);
            wapctl_reply_free(&reply);
            return rc;
        }
        status = json_string_value(json_object_get(reply.body, "status"));
        if (status == NULL) {
            fprintf(stderr, "wapctl: %s is not a job\n", job_path);
            wapctl_reply_free(&reply);
            return WAPCTL_API;
        }
        if (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
            strcmp(status, "canceled") == 0)
            break;
        wapctl_reply_free(&reply);
        sleep_ms(delay);
        delay = delay * 2 > 1000 ? 1000 : delay * 2;
    }
    rc = WAPCTL_OK;
    if (strcmp(status, "succeeded") != 0) {
        job_report(reply.body, status);
        rc = WAPCTL_API;
    }
    if (job != NULL)
        *job = json_incref(reply.body);
    wapctl_reply_free(&reply);
    return rc;
}
