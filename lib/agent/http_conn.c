/*
 * http_conn.c: the transport of the http agent: one request to a wapd-agent over libcurl.
 *
 * libcurl is initialised once per process (pthread_once). Each host keeps up to HTTP_POOL_MAX idle
 * easy handles; a call takes one (or makes one), resets its options (which keeps its live
 * connection), runs its transfer with no lock held, and returns it, so consecutive calls reuse the
 * kept-alive connection. Signals are never used (CURLOPT_NOSIGNAL), so the transfer is safe in any
 * worker thread.
 *
 * What a call's outcome becomes (protocol.md, "Errors"):
 * - an HTTP answer: by the wire table: a 2xx is success, but 202, AGENT_PENDING with its progress;
 * any other status is an error of the table's status, with the agent's own message;
 * - no request reached the agent (refused, no route, name not resolved, no connection within the
 * connect timeout): AGENT_ERR_UNREACHABLE, nothing was done;
 * - the call's time ran out after the request was sent: AGENT_ERR_TIMEOUT, the outcome is unknown;
 * - the connection broke after the request was sent: AGENT_ERR_TRANSIENT (a retry with the same
 * operation id is answered by the agent's journal);
 * - a certificate that does not verify, or a CA file that cannot be read: AGENT_ERR_PERMANENT.
 * https is verified against the host's own CA file, else the process's default (wapd --cacert), else the
 * system's CAs.
 * The token is sent only in its header and never appears in a message.
 */
#include "http_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "wire.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;
/* Written only at start, before any host is opened; read by every call after that. */
static char *default_ca_file;

int
agent_http_set_default_ca_file(const char *path)
{
    char *copy = NULL;

    if (path != NULL && (copy = strdup(path)) == NULL)
        return -1;
    free(default_ca_file);
    default_ca_file = copy;
    return 0;
}

static void
global_init_once(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
agent_http__global_init(void)
{
    pthread_once(&global_once, global_init_once);
    return global_rc == CURLE_OK ? 0 : -1;
}

int
agent_http__fail_oom(agent_err_t *err)
{
    return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory talking to the agent.");
}

/* ---- the pool ---- */

static CURL *
pool_take(agent_http_t *h)
{
    CURL *c = NULL;

    pthread_mutex_lock(&h->lock);
    if (h->nidle > 0)
        c = h->idle[--h->nidle];
    pthread_mutex_unlock(&h->lock);
    if (c == NULL)
        return curl_easy_init();
    curl_easy_reset(c); /* forgets the last call's options, keeps its connection */
    return c;
}

static void
pool_return(agent_http_t *h, CURL *c)
{
    pthread_mutex_lock(&h->lock);
    if (h->nidle < HTTP_POOL_MAX) {
        h->idle[h->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&h->lock);
    if (c != NULL)
        curl_easy_cleanup(c);
}

void
agent_http__pool_drain(agent_http_t *h)
{
    CURL *idle[HTTP_POOL_MAX];
    int i, n;

    assert(h != NULL);
    pthread_mutex_lock(&h->lock);
    n = h->nidle;
    memcpy(idle, h->idle, sizeof(idle[0]) * (size_t) n);
    h->nidle = 0;
    pthread_mutex_unlock(&h->lock);
    for (i = 0; i < n; i++) /* closing a connection may write to it: not under the lock */
        curl_easy_cleanup(idle[i]);
}

/* ---- one request ---- */

/* The settings a call uses, copied under the lock so that a reconfigure may replace them meanwhile.
 */
typedef struct {
    char *url;
    char *auth;    /* "Authorization: Bearer …", or NULL */
    char *ca_file; /* or NULL */
} settings_t;

static void
settings_free(settings_t *s)
{
    free(s->url);
    if (s->auth != NULL)
        explicit_bzero(s->auth, strlen(s->auth));
    free(s->auth);
    free(s->ca_file);
}

static int
settings_copy(agent_http_t *h, const char *path, settings_t *s)
{
    int rc = 0;

    memset(s, 0, sizeof(*s));
    pthread_mutex_lock(&h->lock);
    if (asprintf(&s->url, "%s%s", h->base, path) < 0)
        s->url = NULL, rc = -1;
    if (rc == 0 && h->token != NULL && asprintf(&s->auth, "Authorization: Bearer %s", h->token) < 0)
        s->auth = NULL, rc = -1;
    if (rc == 0 && (h->ca_file != NULL || default_ca_file != NULL) &&
        (s->ca_file = strdup(h->ca_file != NULL ? h->ca_file : default_ca_file)) == NULL)
        rc = -1;
    pthread_mutex_unlock(&h->lock);
    if (rc != 0)
        settings_free(s);
    return rc;
}

typedef struct {
    char *data;
    size_t len, cap;
    bool too_big;
} buf_t;

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buf_t *b = userdata;
    size_t n = size * nmemb, cap;
    char *p;

    if (b->len + n + 1 > HTTP_ANSWER_MAX) {
        b->too_big = true;
        return 0; /* ends the transfer with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        if ((p = util_realloc(b->data, cap)) == NULL)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* The time the agent's backend gets (Request-Timeout-Ms): a little less than ours, so that a
 * backend that does not answer in time is reported by the agent (504) before our own clock runs
 * out. */
static int
backend_timeout_ms(int timeout_ms)
{
    int margin = timeout_ms / 5;

    if (margin > 1000)
        margin = 1000;
    if (timeout_ms - margin > AGENT_WIRE_TIMEOUT_MAX_MS)
        return AGENT_WIRE_TIMEOUT_MAX_MS;
    return timeout_ms - margin > 0 ? timeout_ms - margin : 1;
}

/* The Operation-Id header of a write: the operation id itself when the protocol's syntax allows it,
 * else a digest of it (the same id always gives the same header, so a repeat is still a repeat). */
static void
op_id_header(const char *op_id, char *out, size_t n)
{
    char digest[UTIL_SHA256_HEX_LEN + 1];

    if (agent_wire_op_id_valid(op_id)) {
        snprintf(out, n, AGENT_WIRE_OP_ID_HEADER ": %s", op_id);
        return;
    }
    util_sha256_hex(op_id, strlen(op_id), digest);
    snprintf(out, n, AGENT_WIRE_OP_ID_HEADER ": sha:%.*s", AGENT_WIRE_OP_ID_MAX - 4, digest);
}

static struct curl_slist *
headers_new(const settings_t *s, const agent_call_t *call, bool write, int timeout_ms)
{
    struct curl_slist *list = NULL, *next;
    int i, n = 0;
    const char *lines[6];
    char op[128], rt[48];

    lines[n++] = "Accept: application/json";
    lines[n++] = "Content-Type: application/json";
    lines[n++] = "Expect:"; /* no 100-continue round trip for larger bodies */
    snprintf(rt, sizeof(rt), AGENT_WIRE_TIMEOUT_HEADER ": %d", backend_timeout_ms(timeout_ms));
    lines[n++] = rt;
    if (write) {
        op_id_header(call->op_id, op, sizeof(op));
        lines[n++] = op;
    }
    if (s->auth != NULL)
        lines[n++] = s->auth;
    for (i = 0; i < n; i++) {
        if ((next = curl_slist_append(list, lines[i])) == NULL) {
            curl_slist_free_all(list);
            return NULL;
        }
        list = next;
    }
    return list;
}

static void
set_options(CURL *c, const settings_t *s, const char *method, const char *body,
            struct curl_slist *headers, buf_t *answer, int timeout_ms)
{
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
    curl_easy_setopt(
        c, CURLOPT_CONNECTTIMEOUT_MS,
        (long) (timeout_ms < HTTP_CONNECT_TIMEOUT_MS ? timeout_ms : HTTP_CONNECT_TIMEOUT_MS));
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else { /* a write without a body says so: Content-Length: 0 */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) (body != NULL ? strlen(body) : 0));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, answer);
}

/* The status of a transfer that got no HTTP answer. */
static int
fail_transport(CURL *c, CURLcode rc, const buf_t *answer, int timeout_ms, agent_err_t *err)
{
    long sent = 0;

    curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent);
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return agent_fail(err, AGENT_ERR_UNREACHABLE, "The agent could not be reached: %s.",
                          curl_easy_strerror(rc));
    case CURLE_OPERATION_TIMEDOUT:
        if (sent == 0)
            return agent_fail(err, AGENT_ERR_UNREACHABLE,
                              "The agent did not accept a connection in time.");
        return agent_fail(err, AGENT_ERR_TIMEOUT, "The agent did not answer within %d ms.",
                          timeout_ms);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "The agent's TLS certificate was not accepted: %s.",
                          curl_easy_strerror(rc));
    case CURLE_WRITE_ERROR:
        if (answer->too_big)
            return agent_fail(err, AGENT_ERR_PERMANENT,
                              "The agent's answer is larger than %d bytes.", HTTP_ANSWER_MAX);
        return agent_fail(err, AGENT_ERR_TRANSIENT, "The agent's answer could not be stored.");
    case CURLE_OUT_OF_MEMORY:
        return agent_http__fail_oom(err);
    default:
        if (sent == 0)
            return agent_fail(err, AGENT_ERR_UNREACHABLE, "The agent could not be reached: %s.",
                              curl_easy_strerror(rc));
        return agent_fail(err, AGENT_ERR_TRANSIENT, "The call to the agent broke off: %s.",
                          curl_easy_strerror(rc));
    }
}

/* The status of an HTTP answer (json: its parsed body, or NULL). */
static int
answer_status(long code, const json_t *json, const agent_call_t *call, agent_err_t *err)
{
    agent_progress_t progress = {0, 0};
    agent_status_t status = agent_wire_status_of_http((int) code);

    if (status != AGENT_OK && status != AGENT_PENDING)
        return agent_wire_error_from_http((int) code, json, err);
    if (json_object_get(json, "progress") != NULL) {
        if (agent_wire_progress_from_json(json, &progress, err) != 0)
            return -1;
        if (call->progress != NULL)
            *call->progress = progress;
    }
    if (status == AGENT_PENDING)
        return agent_fail(err, AGENT_PENDING,
                          "The agent is still working on it (%lld of %lld bytes).",
                          (long long) progress.bytes_copied, (long long) progress.bytes_total);
    return 0;
}

int
agent_http__request(agent_http_t *h, const agent_call_t *call, const char *method, const char *path,
                    const json_t *body, json_t **answer, agent_err_t *err)
{
    settings_t s;
    CURL *c = NULL;
    struct curl_slist *headers = NULL;
    buf_t buf = {0};
    char *text = NULL;
    json_t *json = NULL;
    CURLcode rc;
    long code = 0;
    int timeout_ms, result = -1;

    assert(h != NULL && call != NULL && call->op_id != NULL && method != NULL && path != NULL);
    assert(answer != NULL && call->timeout_ms > 0); /* the dispatch layer set the default */
    timeout_ms = call->timeout_ms;
    if (settings_copy(h, path, &s) != 0)
        return agent_http__fail_oom(err);
    if (body != NULL && (text = util_json_dumps(body, JSON_COMPACT)) == NULL) {
        agent_http__fail_oom(err);
        goto cleanup;
    }
    headers = headers_new(&s, call, strcmp(method, "GET") != 0, timeout_ms);
    if (headers == NULL || (c = pool_take(h)) == NULL) {
        agent_http__fail_oom(err);
        goto cleanup;
    }
    set_options(c, &s, method, text, headers, &buf, timeout_ms);
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        fail_transport(c, rc, &buf, timeout_ms, err);
        goto cleanup;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (buf.len > 0)
        json = json_loadb(buf.data, buf.len, JSON_REJECT_DUPLICATES, NULL);
    if (buf.len > 0 && json == NULL && code >= 200 && code < 300) {
        agent_fail(err, AGENT_ERR_TRANSIENT, "The agent answered %ld with a body that is not JSON.",
                   code);
        goto cleanup;
    }
    if (answer_status(code, json, call, err) != 0)
        goto cleanup;
    *answer = json;
    json = NULL;
    result = 0;
cleanup:
    if (c != NULL)
        pool_return(h, c);
    curl_slist_free_all(headers);
    json_decref(json);
    free(buf.data);
    free(text);
    settings_free(&s);
    return result;
}
