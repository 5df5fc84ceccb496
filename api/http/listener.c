/*
 * listener.c: the libmicrohttpd glue of one listener: its daemon, the per-request callbacks, the body as it
 * arrives, and the answer as it is sent.
 *
 * Per libmicrohttpd's model a request's state (api_req_t) lives in *req_cls from the first call for it and is
 * freed in the completion callback. The first call sees only the headers: it refuses a body that
 * Content-Length already says is too large (413, answered at once, which closes the connection, so the body
 * is never read) and otherwise returns MHD_YES; the body arrives over the next calls and is accumulated up
 * to API_BODY_MAX; the last call (no more data) runs the pipeline and queues its answer. Answering on a later
 * call than the first keeps keep-alive connections open. A response is created, queued and destroyed at once.
 * A write (any method but GET) is run by the write pool instead, its connection suspended meanwhile; the call
 * made when the pool resumes it queues the answer.
 *
 * With ctx->tls set the listener speaks HTTPS only (tls.c, through ctx->tls_creds, gives the certificate and
 * the versions): bytes that are not a TLS handshake end the connection before any request is read, so plain
 * HTTP is never served on it.
 *
 * Connection hygiene, from the settings (api_ctx_t): at most connection_limit connections per listener and
 * per_address_limit from one client address (the guard, guard.c, refuses the ones beyond at accept); a
 * connection silent for idle_timeout_s is closed by libmicrohttpd; and one that has not delivered a whole
 * request request_timeout_s after its accept or the first byte of its next request is closed by the
 * listener's sweep (conns.c), however often it sends. Each listener has its own threads, limits and table, so a flood of connections
 * on the tenant listener leaves the admin listener as it was.
 */
#include "../internal.h"
#include "conns.h"
#include "guard.h"
#include "tls.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each connection's memory pool (its request line, headers and read buffer). libmicrohttpd 0.9.75 zeroes
 * the whole pool between the requests of a keep-alive connection, so its size is paid on every request:
 * 16 KiB holds any header block a client of this API sends (a larger one is 431) at a quarter of the
 * zeroing the former 64 KiB cost. */
#define API_CONN_MEMORY (16 * 1024)
/* Threads per listener that run writes (see writepool.c): each waits for its group commit, so more of them
 * than cores lets more writes share one. */
#define API_WRITE_THREADS 16
/* How often the request deadline is checked: a trickling connection is closed at most this late. */
#define API_SWEEP_MS 250

struct api_server {
    api_ctx_t *ctx;
    api_listener_t listener;
    struct MHD_Daemon *daemon;
    api_writepool_t *pool; /* runs the writes; NULL: they run on the listener's threads */
    int inflight;          /* atomic */
    api_conns_t *conns;    /* the connections, for the request deadline */
    api_guard_t *guard;    /* plain HTTP: accepts and checks each connection's first head (guard.c) */
    /* Sockets handed over by the guard and not yet started by libmicrohttpd, with their accept times, so
     * that the request deadline runs from the accept. A few at most: each lives for one hand-off. */
    pthread_mutex_t handed_lock;
    struct handed {
        struct handed *next;
        int fd;
        int64_t accepted_ms;
    } *handed;
    int handed_count; /* the length of handed: the connection limit counts them */
};

static int64_t mono_ms(void);

/* When fd was accepted by the guard (and forgets it; *was_handed says so), or now when it was not handed
 * over by the guard. */
static int64_t
accepted_at(api_server_t *srv, int fd, bool *was_handed)
{
    struct handed *h, **pp;
    int64_t at = mono_ms();

    *was_handed = false;
    if (srv->guard == NULL)
        return at;
    pthread_mutex_lock(&srv->handed_lock);
    for (pp = &srv->handed; (h = *pp) != NULL; pp = &h->next)
        if (h->fd == fd) {
            *pp = h->next;
            at = h->accepted_ms;
            free(h);
            srv->handed_count--;
            *was_handed = true;
            break;
        }
    pthread_mutex_unlock(&srv->handed_lock);
    return at;
}

/* The connection's entry in srv->conns (NULL when it could not be tracked). */
static api_conn_t *
conn_entry(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

static int64_t
mono_ms(void)
{
    return util_mono_ns() / 1000000;
}

/* Sends the request's answer (which the pipeline has recorded) with its headers. */
static enum MHD_Result
queue_reply(api_req_t *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char buf[16];
    bool from_fd = r->resp_from_fd; /* a file answer: the response owns the fd once made */

    assert(r->replied);
    if (from_fd)
        resp = MHD_create_response_from_fd((uint64_t) r->resp_fd_size, r->resp_fd);
    else
        resp = MHD_create_response_from_buffer(r->resp_len, r->resp, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL)
        return MHD_NO;
    if (from_fd)
        r->resp_from_fd = false;
    else
        r->resp = NULL; /* the response owns it now */
    if (r->disposition)
        MHD_add_response_header(resp, "Content-Disposition", r->disposition);
    if (r->resp_len > 0 || from_fd)
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
    if (r->close)
        MHD_add_response_header(resp, "Connection", "close");
    ret = MHD_queue_response(r->conn, (unsigned) r->status, resp);
    MHD_destroy_response(resp);
    api_pipeline_done(r);
    return ret;
}

/* Appends one chunk of the body; past API_BODY_MAX the body is dropped and the request marked too large.
 * Returns -1 when memory runs out. */
static int
body_append(api_req_t *r, const char *data, size_t n)
{
    char *grown;

    if (r->body_too_large)
        return 0;
    if (r->body_len + n > API_BODY_MAX) {
        r->body_too_large = true;
        free(r->body);
        r->body = NULL;
        r->body_len = 0;
        return 0;
    }
    grown = realloc(r->body, r->body_len + n + 1);
    if (grown == NULL)
        return -1;
    memcpy(grown + r->body_len, data, n);
    r->body = grown;
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    api_server_t *srv = cls;
    api_req_t *r = *req_cls;
    const char *cl;
    int64_t len;

    (void) version;
    if (r == NULL) {
        r = api_req_new(srv->ctx, srv->listener, conn, NULL, url, method);
        if (r == NULL)
            return MHD_NO;
        *req_cls = r;
        __atomic_add_fetch(&srv->inflight, 1, __ATOMIC_SEQ_CST);
        if (api_req_framing_or_reply(r)) /* refused framing: answered, and the connection closes */
            return queue_reply(r);
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && util_parse_int64(cl, false, &len) == 0 && len > API_BODY_MAX) {
            /* Refused on the headers: the body is never read and the connection closes. */
            api_conns_received(srv->conns, conn_entry(conn));
            r->body_too_large = true;
            api_pipeline_run(r, &api_route_table);
            return queue_reply(r);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!r->replied && body_append(r, upload_data, *upload_data_size))
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->pool_queued) /* called again once the pool has resumed the connection */
        return __atomic_load_n(&r->pool_done, __ATOMIC_ACQUIRE) ? queue_reply(r) : MHD_YES;
    if (r->replied)
        return MHD_YES;
    api_conns_received(srv->conns, conn_entry(conn)); /* the whole request is in: no deadline till answered */
    if (r->method_id != API_GET) {
        r->pool_queued = true;
        if (api_writepool_submit(srv->pool, r) == 0)
            return MHD_YES;
        r->pool_queued = false; /* no pool, or stopping: run it here */
    }
    api_pipeline_run(r, &api_route_table);
    return queue_reply(r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
             enum MHD_RequestTerminationCode toe)
{
    api_server_t *srv = cls;

    (void) toe;
    api_conns_answered(srv->conns, conn_entry(conn), mono_ms()); /* idle till the next request's first byte */
    if (*req_cls == NULL)
        return;
    api_req_free(*req_cls);
    *req_cls = NULL;
    __atomic_sub_fetch(&srv->inflight, 1, __ATOMIC_SEQ_CST);
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
    api_server_t *srv = cls;
    const union MHD_ConnectionInfo *ci;
    bool handed = false;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context =
            ci ? api_conns_add(srv->conns, ci->connect_fd, accepted_at(srv, ci->connect_fd, &handed)) : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        api_conns_remove(srv->conns, *socket_context);
        *socket_context = NULL;
    }
    if (srv->guard != NULL) { /* the per-address limit counts the connections libmicrohttpd holds too */
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (code == MHD_CONNECTION_NOTIFY_STARTED && !handed) /* a handed one is counted since its accept */
            api_guard_addr_add(srv->guard, ci ? ci->client_addr : NULL);
        else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
            api_guard_addr_del(srv->guard, ci ? ci->client_addr : NULL);
    }
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
    text = line ? util_json_dumps(line, JSON_COMPACT) : NULL;
    if (text)
        fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(line);
}

/* The guard's hand-off: the connection is libmicrohttpd's from here (it closes the socket on failure). */
static int
guard_handoff(void *arg, int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t accepted_ms)
{
    api_server_t *srv = arg;
    struct handed *h = malloc(sizeof(*h));

    bool handed;

    if (h == NULL) { /* without it the connection would be counted twice against its address */
        close(fd);
        return -1;
    }
    h->fd = fd;
    h->accepted_ms = accepted_ms;
    pthread_mutex_lock(&srv->handed_lock);
    h->next = srv->handed;
    srv->handed = h;
    srv->handed_count++;
    pthread_mutex_unlock(&srv->handed_lock);
    if (MHD_add_connection(srv->daemon, fd, addr, addrlen) == MHD_YES)
        return 0;
    accepted_at(srv, fd, &handed); /* refused (the socket is closed): forget it */
    return -1;
}

static int
guard_held(void *arg)
{
    api_server_t *srv = arg;
    int n;

    pthread_mutex_lock(&srv->handed_lock);
    n = srv->handed_count;
    pthread_mutex_unlock(&srv->handed_lock);
    return api_conns_count(srv->conns) + n;
}

api_server_t *
api_server_start(api_ctx_t *ctx, api_listener_t listener, int listen_fd, int threads)
{
    api_server_t *srv = calloc(1, sizeof(*srv));
    struct MHD_OptionItem tls_opts[API_TLS_OPTIONS];
    const char *name;
    int limit;

    assert(ctx != NULL && ctx->store != NULL);
    assert(!ctx->tls || ctx->tls_creds != NULL);
    if (srv == NULL)
        return NULL;
    srv->ctx = ctx;
    srv->listener = listener;
    pthread_mutex_init(&srv->handed_lock, NULL);
    srv->conns = api_conns_new((int64_t) (ctx->request_timeout_s > 0 ? ctx->request_timeout_s : 30) *
                               1000);
    srv->pool = srv->conns ? api_writepool_start(API_WRITE_THREADS) : NULL;
    if (srv->pool == NULL) {
        api_conns_free(srv->conns);
        pthread_mutex_destroy(&srv->handed_lock);
        free(srv);
        return NULL;
    }
    api_tls__options(ctx->tls ? ctx->tls_creds : NULL, tls_opts);
    name = listener == API_LISTENER_ADMIN ? "admin" : "tenant";
    if (api_conns_start_sweeper(srv->conns, name, API_SWEEP_MS)) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"the %s listener could not start\"}\n", name);
        api_writepool_free(srv->pool);
        api_conns_free(srv->conns);
        pthread_mutex_destroy(&srv->handed_lock);
        free(srv);
        return NULL;
    }
    limit = ctx->connection_limit > 0 ? ctx->connection_limit : 4096;
    if (ctx->tls) /* TLS: libmicrohttpd accepts, and applies the limits itself */
        srv->daemon = MHD_start_daemon(
            MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                MHD_USE_TLS,
            0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
            MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_THREAD_POOL_SIZE,
            (unsigned) (threads > 0 ? threads : 1), MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
            MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned) (ctx->idle_timeout_s > 0 ? ctx->idle_timeout_s : API_IDLE_TIMEOUT_S),
            MHD_OPTION_CONNECTION_LIMIT, (unsigned) limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            (unsigned) (ctx->per_address_limit > 0 ? ctx->per_address_limit : 0),
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) API_CONN_MEMORY, MHD_OPTION_ARRAY, tls_opts,
            MHD_OPTION_END);
    else /* plain HTTP: the guard accepts and applies the limits; libmicrohttpd gets what it passed. Its
          * own limit is only a backstop, above the guard's so that it never refuses what the guard let
          * through while a closed connection is still being counted. */
        srv->daemon = MHD_start_daemon(
            MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                MHD_USE_NO_LISTEN_SOCKET,
            0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned) (threads > 0 ? threads : 1),
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
            srv, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned) (ctx->idle_timeout_s > 0 ? ctx->idle_timeout_s : API_IDLE_TIMEOUT_S),
            MHD_OPTION_CONNECTION_LIMIT, (unsigned) limit * 2, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            (size_t) API_CONN_MEMORY, MHD_OPTION_END);
    if (srv->daemon != NULL && !ctx->tls) {
        api_guard_config_t gc = {
            .listen_fd = listen_fd,
            .listener = name,
            .connection_limit = limit,
            .per_address_limit = ctx->per_address_limit,
            .deadline_ms = (int64_t) (ctx->request_timeout_s > 0 ? ctx->request_timeout_s : 30) * 1000,
            .idle_ms = (int64_t) (ctx->idle_timeout_s > 0 ? ctx->idle_timeout_s : API_IDLE_TIMEOUT_S) * 1000,
            .body_max = API_BODY_MAX,
            .handoff = guard_handoff,
            .held = guard_held,
            .arg = srv,
        };

        srv->guard = api_guard_start(&gc);
        if (srv->guard == NULL) {
            close(listen_fd); /* taken, as libmicrohttpd takes it on the TLS path */
            MHD_stop_daemon(srv->daemon);
            srv->daemon = NULL;
        }
    }
    if (srv->daemon == NULL) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"the %s listener could not start\"}\n", name);
        api_writepool_free(srv->pool);
        api_conns_free(srv->conns);
        pthread_mutex_destroy(&srv->handed_lock);
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
    if (srv->guard != NULL) { /* no listen socket in libmicrohttpd: the guard stops accepting */
        api_guard_stop(srv->guard);
        return;
    }
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
    /* First the pool: every write it holds is answered and its connection resumed, as libmicrohttpd
     * requires before it stops. A write that arrives meanwhile runs on the listener's thread. */
    api_guard_stop(srv->guard); /* no more connections handed to the daemon */
    api_writepool_stop(srv->pool);
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    api_guard_free(srv->guard); /* after the daemon: its connections' ends are counted off the guard's table */
    api_writepool_free(srv->pool);
    api_conns_free(srv->conns); /* after the daemon: every connection has been removed from it */
    while (srv->handed != NULL) { /* hand-offs libmicrohttpd refused after taking them */
        struct handed *h = srv->handed;

        srv->handed = h->next;
        free(h);
    }
    pthread_mutex_destroy(&srv->handed_lock);
    free(srv);
}
