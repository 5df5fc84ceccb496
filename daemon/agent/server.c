/*
 * server.c: wapd-agent's HTTP side on libmicrohttpd: the listening socket, the per-request state,
 * the token check, the body limit, routing through handlers.c's table, and the answer.
 *
 * Per libmicrohttpd's model a request's state (struct conn_req) lives in *req_cls from the first
 * call for it and is freed in the completion callback. The first call sees only the headers: a
 * missing or wrong token (401) and a Content-Length over AGENT_WIRE_BODY_MAX (413) are answered at
 * once (which closes the connection, so the body is never read); otherwise it returns MHD_YES and
 * the body is accumulated, up to the limit, over the next calls; the last call routes the request,
 * checks the write's Operation-Id and Request-Timeout-Ms, parses the body and runs one handler,
 * whose answer is queued then. Every request gets exactly one answer; a response is created, queued
 * and destroyed at once. The token is compared in constant time and never logged.
 */
#include "agentd.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "../../lib/sysio.h"
#include "../../lib/util.h"

#define IDLE_TIMEOUT_S 60
#define CONNECTION_LIMIT 1024u

struct agentd_server {
    const agentd_t *d;
    struct MHD_Daemon *mhd;
    int inflight; /* atomic */
};

struct conn_req {
    char *body;
    size_t len;
    bool too_large;
    bool answered; /* on the first call (401, 413) */
    int64_t start_ns;
};

/* ---- answers ---- */

void
agentd_reply(agentd_req_t *r, int status, json_t *body)
{
    assert(r != NULL && r->answer == NULL && status >= 200);
    r->status = status;
    r->answer = body ? body : json_object();
    /* a long operation's final answer carries the bytes it copied */
    if (status == 200 && r->progress.bytes_total > 0 && json_is_object(r->answer))
        json_object_set_new(r->answer, "progress", agent_wire_progress_json(&r->progress));
}

static void
vreply_error(agentd_req_t *r, int status, const char *fmt, va_list ap)
{
    const char *code = agent_wire_code_of_http(status);
    char msg[512];

    assert(code != NULL); /* only statuses of the protocol's table */
    vsnprintf(msg, sizeof(msg), fmt, ap);
    agentd_reply(r, status, agent_wire_error_json(code, msg));
}

void
agentd_reply_error(agentd_req_t *r, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreply_error(r, status, fmt, ap);
    va_end(ap);
}

bool
agentd_ok_or_reply(agentd_req_t *r, int rc, const agent_err_t *err)
{
    const char *code;
    int http;

    assert(r != NULL && err != NULL);
    if (rc == 0 && err->status == AGENT_OK)
        return true;
    if (rc == AGENT_PENDING || err->status == AGENT_PENDING) {
        agentd_reply(r, 202, agent_wire_pending_json(&r->progress));
        return false;
    }
    http = agent_wire_http_of_status(err->status == AGENT_OK ? AGENT_ERR_PERMANENT : err->status,
                                     &code);
    agentd_reply(r, http,
                 agent_wire_error_json(code, err->message[0] ? err->message
                                                             : agent_status_name(err->status)));
    return false;
}

/* True when s can be logged inside a JSON string as it is. */
static bool
printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f || *s == '"' || *s == '\\')
            return false;
    return true;
}

static enum MHD_Result
queue(struct MHD_Connection *conn, agentd_req_t *r, const char *allow, int64_t start_ns,
      const char *method, const char *url)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *text = r->answer ? util_json_dumps(r->answer, JSON_COMPACT) : NULL;
    size_t len = text ? strlen(text) : 0;

    if (text == NULL) {
        r->status = 500; /* out of memory: no body can be made */
        resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    }
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    if (text)
        MHD_add_response_header(resp, "Content-Type", "application/json");
    if (r->status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (allow && r->status == 405)
        MHD_add_response_header(resp, "Allow", allow);
    ret = MHD_queue_response(conn, (unsigned) r->status, resp);
    MHD_destroy_response(resp);
    fprintf(stderr,
            "{\"level\":\"info\",\"msg\":\"request\",\"method\":\"%s\",\"status\":%d,\"ms\":%lld,"
            "\"path\":\"%.200s\"}\n",
            method, r->status, (long long) ((util_mono_ns() - start_ns) / 1000000),
            printable(url) ? url : "-");
    return ret;
}

/* ---- routing ---- */

/* True when path matches pattern; each "x" segment of pattern takes a path segment into params. */
static bool
match(const char *pattern, const char *path, char params[AGENTD_MAX_PARAMS][AGENT_ID_MAX])
{
    const char *p = pattern, *s = path;
    size_t pn, sn;
    int np = 0;

    while (*p == '/' && *s == '/') {
        p++;
        s++;
        pn = strcspn(p, "/");
        sn = strcspn(s, "/");
        if (pn == 1 && p[0] == 'x') {
            if (sn == 0 || sn >= AGENT_ID_MAX || np >= AGENTD_MAX_PARAMS)
                return false;
            memcpy(params[np], s, sn);
            params[np++][sn] = '\0';
        } else if (pn != sn || strncmp(p, s, pn) != 0) {
            return false;
        }
        p += pn;
        s += sn;
    }
    return *p == '\0' && *s == '\0';
}

/* The route for method and path, or NULL with r answered (404 unknown path, 405 known path, other
 * method: allow lists the methods it takes). */
static const agentd_route_t *
route_or_reply(agentd_req_t *r, const char *method, const char *path, char *allow, size_t n)
{
    const agentd_route_t *hit = NULL;
    size_t i, used = 0;

    allow[0] = '\0';
    for (i = 0; i < agentd_nroutes && hit == NULL; i++) {
        if (!match(agentd_routes[i].pattern, path, r->params))
            continue;
        if (strcmp(agentd_routes[i].method, method) == 0)
            hit = &agentd_routes[i];
        else if (used + strlen(agentd_routes[i].method) + 3 < n)
            used += (size_t) snprintf(allow + used, n - used, "%s%s", used ? ", " : "",
                                      agentd_routes[i].method);
    }
    if (hit == NULL && allow[0])
        agentd_reply_error(r, 405, "%s is not allowed on %s (allowed: %s)", method, path, allow);
    else if (hit == NULL)
        agentd_reply_error(r, 404, "There is no resource at %s.", path);
    return hit;
}

/* Reads the write's headers into r->call: Operation-Id (required) and Request-Timeout-Ms
 * (optional). -1 with r answered 400. */
static int
call_headers_or_reply(agentd_req_t *r, struct MHD_Connection *conn, bool write)
{
    const char *op = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, AGENT_WIRE_OP_ID_HEADER);
    const char *to = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, AGENT_WIRE_TIMEOUT_HEADER);
    char uuid[UTIL_UUID_LEN + 1];

    if (to != NULL && agent_wire_timeout_parse(to, &r->call.timeout_ms) != 0) {
        agentd_reply_error(r, 400, "%s must be an integer from 1 to %d.", AGENT_WIRE_TIMEOUT_HEADER,
                           AGENT_WIRE_TIMEOUT_MAX_MS);
        return -1;
    }
    if (write && !agent_wire_op_id_valid(op)) {
        agentd_reply_error(r, 400,
                           "Every write needs an %s header of 1 to %d characters of "
                           "[A-Za-z0-9._:-].",
                           AGENT_WIRE_OP_ID_HEADER, AGENT_WIRE_OP_ID_MAX);
        return -1;
    }
    if (write) {
        snprintf(r->op_id, sizeof(r->op_id), "%s", op);
    } else { /* reads are not journaled: each gets an id of its own */
        util_uuid(uuid);
        snprintf(r->op_id, sizeof(r->op_id), "read-%s", uuid);
    }
    r->call.op_id = r->op_id;
    r->call.progress = &r->progress;
    return 0;
}

/* Parses the body into r->body as the route asks. -1 with r answered 400. */
static int
body_or_reply(agentd_req_t *r, const struct conn_req *c, const agentd_route_t *route)
{
    json_error_t jerr;

    if (c->len == 0) {
        if (route->body == AGENTD_BODY_REQUIRED) {
            agentd_reply_error(r, 400, "A JSON object is required as the body.");
            return -1;
        }
        return 0;
    }
    r->body = json_loadb(c->body, c->len, JSON_REJECT_DUPLICATES, &jerr);
    if (r->body == NULL) {
        agentd_reply_error(r, 400, "The body is not valid JSON (at byte %d: %s).", jerr.position,
                           jerr.text);
        return -1;
    }
    if (!json_is_object(r->body) ||
        (route->body == AGENTD_BODY_NONE && json_object_size(r->body) > 0)) {
        agentd_reply_error(r, 400,
                           route->body == AGENTD_BODY_NONE ? "This call takes no body (or {})."
                                                           : "The body must be a JSON object.");
        return -1;
    }
    return 0;
}

static bool
authorized(const agentd_t *d, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    return util_secret_equal(h, d->token);
}

/* ---- libmicrohttpd callbacks ---- */

static void
serve(struct agentd_server *srv, struct MHD_Connection *conn, struct conn_req *c, agentd_req_t *r,
      const char *method, const char *url, char *allow, size_t n)
{
    const agentd_route_t *route;

    r->d = srv->d;
    if (c->too_large) {
        agentd_reply_error(r, 413, "The body is larger than %d bytes.", AGENT_WIRE_BODY_MAX);
        return;
    }
    route = route_or_reply(r, method, url, allow, n);
    if (route == NULL ||
        call_headers_or_reply(r, conn, strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) ||
        body_or_reply(r, c, route))
        return;
    assert(route->body != AGENTD_BODY_REQUIRED || r->body != NULL);
    r->arg = route->arg;
    route->fn(r);
    assert(r->answer != NULL); /* every handler answers */
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    struct agentd_server *srv = cls;
    struct conn_req *c = *req_cls;
    agentd_req_t r;
    enum MHD_Result ret;
    const char *cl;
    char allow[64];
    int64_t len;
    char *grown;

    (void) version;
    memset(&r, 0, sizeof(r));
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL)
            return MHD_NO;
        c->start_ns = util_mono_ns();
        *req_cls = c;
        __atomic_add_fetch(&srv->inflight, 1, __ATOMIC_SEQ_CST);
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (!authorized(srv->d, conn))
            agentd_reply_error(&r, 401, "A valid bearer token is required.");
        else if (cl && util_parse_int64(cl, false, &len) == 0 && len > AGENT_WIRE_BODY_MAX)
            agentd_reply_error(&r, 413, "The body is larger than %d bytes.", AGENT_WIRE_BODY_MAX);
        else
            return MHD_YES;
        c->answered = true;
        ret = queue(conn, &r, NULL, c->start_ns, method, url);
        json_decref(r.answer);
        return ret;
    }
    if (*upload_data_size > 0) {
        if (!c->answered && !c->too_large) {
            if (c->len + *upload_data_size > AGENT_WIRE_BODY_MAX) {
                c->too_large = true;
            } else {
                grown = realloc(c->body, c->len + *upload_data_size + 1);
                if (grown == NULL)
                    return MHD_NO;
                memcpy(grown + c->len, upload_data, *upload_data_size);
                c->body = grown;
                c->len += *upload_data_size;
                c->body[c->len] = '\0';
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (c->answered)
        return MHD_YES;
    c->answered = true;
    serve(srv, conn, c, &r, method, url, allow, sizeof(allow));
    ret = queue(conn, &r, allow, c->start_ns, method, url);
    json_decref(r.answer);
    json_decref(r.body);
    return ret;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct agentd_server *srv = cls;
    struct conn_req *c = *req_cls;

    (void) conn;
    (void) toe;
    if (c == NULL)
        return;
    free(c->body);
    free(c);
    *req_cls = NULL;
    __atomic_sub_fetch(&srv->inflight, 1, __ATOMIC_SEQ_CST);
}

/* ---- the listener ---- */

int
agentd_listen(const char *hostport, int want_port, int *port)
{
    char host[256], serv[16];
    const char *colon = strrchr(hostport, ':'), *why = NULL;
    size_t hn;

    assert(hostport != NULL && port != NULL);
    if (colon == NULL || (size_t) (colon - hostport) >= sizeof(host)) {
        fprintf(stderr, "wapd-agent: --listen '%s' is not HOST:PORT\n", hostport);
        return -1;
    }
    hn = (size_t) (colon - hostport);
    if (hostport[0] == '[' && hn >= 2 && hostport[hn - 1] == ']') /* [v6]:port */
        snprintf(host, sizeof(host), "%.*s", (int) (hn - 2), hostport + 1);
    else
        snprintf(host, sizeof(host), "%.*s", (int) hn, hostport);
    snprintf(serv, sizeof(serv), "%d", want_port);
    return sysio_listen_tcp(host, serv, port, &why); /* errno says why; the caller may retry */
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void) cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strcspn(msg, "\r\n\"\\");
    fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"http\",\"detail\":\"%.*s\"}\n", (int) n, msg);
}

agentd_server_t *
agentd_server_start(const agentd_t *d, int fd, int threads)
{
    struct agentd_server *srv = calloc(1, sizeof(*srv));

    assert(d != NULL && d->agent != NULL && fd >= 0);
    if (srv == NULL)
        return NULL;
    srv->d = d;
    srv->mhd = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request,
        srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned) (threads > 0 ? threads : 1),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned) IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 64 * 1024, MHD_OPTION_END);
    if (srv->mhd == NULL) {
        fprintf(stderr, "wapd-agent: the HTTP server could not start\n");
        free(srv);
        return NULL;
    }
    return srv;
}

int
agentd_server_drain(agentd_server_t *s, int grace_ms)
{
    int64_t deadline = util_now_ms() + grace_ms;
    struct timespec pause = {0, 10 * 1000 * 1000};
    MHD_socket fd;

    assert(s != NULL && s->mhd != NULL);
    fd = MHD_quiesce_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    while (__atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST) > 0 && util_now_ms() < deadline)
        nanosleep(&pause, NULL);
    return __atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST);
}

void
agentd_server_free(agentd_server_t *s)
{
    if (s == NULL)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    free(s);
}
