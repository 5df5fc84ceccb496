/*
 * internal.h: what api/ modules share: the request, the route table, replies and body checks.
 *
 * The path of a request, one file a stage: http/listener.c (libmicrohttpd: connection, body, limits) ->
 * http/pipeline.c (limits, http/auth.c, router.c, the one transaction, tenant scope, method,
 * http/idempotency.c) -> the handler (resource.c for the generic ones, admin.c, tenant.c, vm.c ...) ->
 * http/reply.c and http/paging.c (the answer) -> http/listener.c (sent after the commit).
 *
 * A request lives from libmicrohttpd's first call for it to its completion callback; every string in it is
 * owned by it. A handler runs inside the request's transaction and answers exactly once through one of the
 * api_reply_* calls; the pipeline sends that answer only after the transaction has committed.
 */
#ifndef WAPD_API_INTERNAL_H
#define WAPD_API_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "../lib/err.h"
#include "../lib/store.h"
#include "../lib/util.h"
#include "api.h"

#define API_BODY_MAX (1024 * 1024)
/* A connection that sends nothing for this long (idle keep-alive, or an incomplete request) is closed. */
#define API_IDLE_TIMEOUT_S 15
/* Seconds a client is told to wait (Retry-After) after a write refused for lack of space (503
 * InsufficientStorage), and while /readyz fails for it. */
#define API_STORAGE_RETRY_AFTER_S 10
#define API_MAX_PARAMS 4
#define API_LIMIT_DEFAULT 100
#define API_LIMIT_MAX 1000

struct api_req;
typedef void (*api_handler_t)(struct api_req *r);

typedef enum {
    API_GET,
    API_POST,
    API_PUT,
    API_PATCH,
    API_DELETE,
    API__METHODS,
} api_method_t;

#define API_ROUTE_PUBLIC 1u /* no authentication */

/* The transaction a request runs in: none yet (or ended), a read snapshot, or the write transaction. */
typedef enum {
    API_TX_NONE,
    API_TX_READ,
    API_TX_WRITE,
} api_tx_t;

/* A view: the record as a caller sees it (NULL: an error, set in err). It carries no key starting with '_'. */
typedef json_t *(*api_view_fn)(store_t *st, const json_t *rec, err_t *err);
typedef json_t *(*api_create_fn)(store_t *st, const json_t *body, err_t *err);
typedef json_t *(*api_update_fn)(store_t *st, const char *id, const json_t *patch, int64_t rev,
                                 err_t *err);
typedef int (*api_delete_fn)(store_t *st, const char *id, int64_t rev, err_t *err);

struct jv_field;

/* What the generic handlers of resource.c need to serve one kind of record; a route row points at it. The
 * collection's path is the pattern of the row that lists and creates (it has no {param}); the item's path
 * is that pattern with "/{id}". Unset members are not served by the generic handlers. */
typedef struct api_resource {
    const store_kind_t *kind;
    api_view_fn view;                /* NULL: records answered as stored */
    const char *const *filters;      /* list: query parameters that filter on the field of that name */
    const struct jv_field *create_spec;
    api_create_fn create;            /* answers the new record (its id is what matters) */
    const struct jv_field *patch_spec;
    api_update_fn update;            /* answers the updated record, or with update_job the job */
    bool update_job;                 /* PATCH answers 202 with the job update returns */
    api_delete_fn remove;
} api_resource_t;

typedef struct {
    api_listener_t listener;
    const char *pattern; /* "/v1/admin/clouds/{id}": a {name} segment matches any one segment */
    api_handler_t handlers[API__METHODS];
    unsigned flags;
    const api_resource_t *res; /* for the generic handlers of resource.c; NULL for the others */
} api_route_t;

typedef struct {
    const api_route_t *rows;
    int count;
} api_route_table_t;

/* An Idempotency-Key in use by a write (http/idempotency.c). */
typedef struct {
    const char *key; /* borrowed from the request's headers; NULL: none */
    char body_hash[UTIL_SHA256_HEX_LEN + 1];
    bool replayed;   /* answered from the saved answer (or refused): nothing to commit */
    char claim[UTIL_SHA256_HEX_LEN + 1]; /* the in-flight claim on (caller, method, path, key); "": none */
} api_idem_t;

typedef struct api_req {
    api_ctx_t *ctx;
    store_t *store;
    api_listener_t listener;
    struct MHD_Connection *conn;     /* NULL in unit tests of the pipeline */
    const char *const *fake_headers; /* without conn: name, value pairs, NULL-ended (borrowed) */
    char method[16];
    api_method_t method_id; /* API__METHODS when not one we serve; HEAD is API_GET */
    char *path;
    int64_t start_ns;
    char request_id[130];

    char *body;
    size_t body_len;
    bool body_too_large;

    const api_route_t *route;
    int route_index; /* -1: no route */
    char *params[API_MAX_PARAMS];
    int nparams;

    char user_id[UTIL_UUID_LEN + 1];        /* tenant requests */
    int64_t sub_rev;                        /* revision of sub */
    char scope[UTIL_SHA256_HEX_LEN + 1];    /* the caller's token hash: idempotency scope */
    json_t *sub;                            /* tenant: the subscription named by {sid} (read-only) */
    json_t *plan;                           /* tenant: that subscription's plan (read-only) */
    char token_id[40]; /* the caller's token: a tenant or admin token's id, or "bootstrap" ("" none) */

    api_tx_t tx; /* the request's transaction (http/pipeline.c owns it) */

    bool replied;
    int status;
    char *resp; /* JSON text */
    size_t resp_len;
    char location[512];
    char etag[32];
    char allow[64];
    int retry_after;
    const char *content_type; /* NULL: application/json */
    bool close;               /* the connection closes after this answer (Connection: close) */
    /* A file answer (api_reply_fd): the body is resp_fd's resp_fd_size bytes (the fd owned until sent). */
    bool resp_from_fd;
    int resp_fd;
    int64_t resp_fd_size;
    const char *disposition; /* Content-Disposition (static text); NULL: none */
    /* An answer that holds a secret shown once: what an Idempotency-Key keeps and replays instead
     * (idem_body owned, JSON text; NULL: the answer itself). */
    char *idem_body;
    int idem_status;

    /* A write run by the write pool (http/writepool.c) while its connection is suspended. */
    bool pool_queued;         /* handed to the pool: answered when done */
    bool pool_done;           /* atomic: the pool has run it (set last by the pool thread) */
    struct api_req *pool_next; /* the pool's queue */
} api_req_t;

/* http/writepool.c: threads that run write requests, so that a listener thread never waits for a commit.
 * submit suspends r's connection and queues r (0), or refuses (-1: no pool, or stopping) and the caller
 * runs it; the pool runs the pipeline, sets r->pool_done and resumes the connection. stop runs what is
 * queued and joins the threads (submits are refused from then on); free (after the listener has stopped)
 * stops it if need be and releases it. */
typedef struct api_writepool api_writepool_t;
api_writepool_t *api_writepool_start(int threads);
int api_writepool_submit(api_writepool_t *p, api_req_t *r);
void api_writepool_stop(api_writepool_t *p);
void api_writepool_free(api_writepool_t *p);

/* router.c */
extern const api_route_t api_routes[];
extern const int api_route_count;
extern const api_route_table_t api_route_table; /* api_routes */
/* Finds the route for path on that listener in table, filling r->params; NULL when none. */
const api_route_t *api_route_find(const api_route_table_t *table, api_req_t *r, api_listener_t listener,
                                  const char *path);
/* api_route_find in api_route_table. */
const api_route_t *api_route_match(api_req_t *r, api_listener_t listener, const char *path);
/* Writes the methods a route allows, "GET, POST", into buf. */
void api_route_allow(const api_route_t *route, char *buf, size_t n);
api_method_t api_method_parse(const char *method);

/* http/listener.c hands requests to http/pipeline.c: run answers r (through the table's routes, in the
 * request's one transaction, ended when it returns); done counts and logs the answer once it is queued. */
void api_pipeline_run(api_req_t *r, const api_route_table_t *table);
void api_pipeline_done(api_req_t *r);
/* http/auth.c: authenticates the bearer token (r->scope, r->token_id, and r->user_id on the tenant
 * listener); replies 401 and returns -1 when it does not, and 403 when an admin token's scope does not
 * allow the request. */
int api_auth_or_reply(api_req_t *r);
/* http/ratelimit.c: the tenant listener's per-token rate limit (ctx->rate_limit, read on every call).
 * or_reply takes one request from the bucket of r->scope (set by authentication), or replies 429 with
 * Retry-After and returns -1 when it is empty. refused: the requests refused so far (for /metrics). The
 * __ functions are for tests: a table of its own, and one take at now_ns with n per second (returns 1 and
 * sets *retry_after, in whole seconds, when refused). */
typedef struct api_ratelimit api_ratelimit_t;
int api_ratelimit_or_reply(api_req_t *r);
uint64_t api_ratelimit_refused(void);
api_ratelimit_t *api_ratelimit__new(void);
void api_ratelimit__free(api_ratelimit_t *t);
int api_ratelimit__take(api_ratelimit_t *t, const char *key, int n, int64_t now_ns, int *retry_after);
/* http/idempotency.c: in the write transaction, looks up the key api_idem_claim_or_reply read, and replays or
 * refuses a reuse (returns 1: answered); save records a successful answer under the key (no-op without). */
int api_idem_begin_or_reply(api_req_t *r, api_idem_t *idem);
/* Before a POST's write transaction begins: reads its Idempotency-Key into idem and claims it for this
 * request; replies (400 a bad key, 409 a key another request holds) and returns 1, else returns 0. */
int api_idem_claim_or_reply(api_req_t *r, api_idem_t *idem);
int api_idem_save(api_req_t *r, const api_idem_t *idem, err_t *err);
/* Ends the request's claim on its key, once its transaction has committed or rolled back. */
void api_idem_release(api_idem_t *idem);
/* For a create whose answer holds a secret shown once (a token): what an Idempotency-Key keeps instead of
 * the answer is a 409 naming the thing made (what, id), in the error envelope. Returns -1 when it could
 * not be written (out of memory): the create must not stand. */
int api_idem_keep_redacted(api_req_t *r, const char *what, const char *id);

/* http/request.c. new: a request on conn (or, for tests, without one: fake_headers); NULL when out of
 * memory. free: NULL is a no-op. header: a request header, or NULL. */
api_req_t *api_req_new(api_ctx_t *ctx, api_listener_t listener, struct MHD_Connection *conn,
                       const char *const *fake_headers, const char *url, const char *method);
void api_req_free(api_req_t *r);
const char *api_header(api_req_t *r, const char *name);
/* The body's framing, checked on the headers before any of the body is read: a Transfer-Encoding other
 * than chunked is 501 NotImplemented, Transfer-Encoding with Content-Length or Content-Length headers that
 * differ are 400 InvalidRequest; each answer closes the connection (r->close), since where this request
 * ends, and so where the next begins, is unknown. Replies and returns -1 when the framing is refused. */
int api_req_framing_or_reply(api_req_t *r);

/* http/reply.c. Each records the answer, exactly once; the pipeline sends it. json bodies are stolen and
 * are objects. */
void api_reply_json(api_req_t *r, int status, json_t *body);
/* The one array answer: the WAP billing adapter's usage list. */
void api_reply_json_array(api_req_t *r, int status, json_t *list);
/* text (taken; NULL: no body) with its content type (NULL: application/json). */
void api_reply_text(api_req_t *r, int status, const char *content_type, char *text);
/* body (stolen) with status, or err when body is NULL. */
void api_reply_or_err(api_req_t *r, int status, json_t *body, const err_t *err);
/* 202 with job (stolen), or err when job is NULL. */
void api_reply_job(api_req_t *r, json_t *job, const err_t *err);
/* Closes the file of a file answer not sent (the request's end). */
void api_reply_fd_drop(api_req_t *r);
/* Takes back an answer not yet sent (the pipeline, when the commit fails). */
void api_reply_retract(api_req_t *r);
/* Whether view carries no private key (one starting with '_'). */
bool api_view_ok(const json_t *view);
void api_reply_err(api_req_t *r, const err_t *err);
/* api_reply_err with the error's details[] (stolen; NULL: none), each {code, message, target}. */
void api_reply_err_details(api_req_t *r, const err_t *err, json_t *details);
void api_reply_error(api_req_t *r, err_code_t code, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 200 (or 201) with ETag from rev. */
void api_reply_record(api_req_t *r, int status, json_t *rec, int64_t rev);
/* The same with a view already written as JSON text in b (taken and reset); 500 when b ran out of
 * memory. */
void api_reply_record_text(api_req_t *r, int status, util_buf_t *b, int64_t rev);
/* 202 with body, Location naming the job, Retry-After. */
void api_reply_accepted(api_req_t *r, json_t *body, const char *job_id);
void api_reply_no_content(api_req_t *r);
/* 200 with the size bytes of file fd (taken: closed once sent, or with the request) as the body, of
 * content_type (static), with Content-Disposition disposition (static; NULL: none). */
void api_reply_fd(api_req_t *r, const char *content_type, const char *disposition, int fd,
                  int64_t size);

/* validate.c: shape checks of JSON bodies. */
typedef enum {
    JV_STRING,
    JV_INT,
    JV_BOOL,
    JV_OBJECT,
    JV_STRING_ARRAY,
    JV_OBJECT_ARRAY, /* each item checked against fields; max: most items (0: 1000) */
} jv_type_t;

#define JV_REQUIRED 1u
#define JV_NULLABLE 2u
#define JV_UUID 4u   /* strings: a UUID (arrays: each item) */
#define JV_EMAIL 8u  /* strings: looks like an email address */

typedef struct jv_field {
    const char *name;
    jv_type_t type;
    unsigned flags;
    int64_t min, max;              /* ints: value range; strings: length range (max 0: 256) */
    const char *const *choices;    /* strings: allowed values, NULL-terminated */
    const struct jv_field *fields; /* objects: their fields, ended by a {NULL} entry */
} jv_field_t;

/* The fields of a dynamicMemory object (a size's or a VM's create): enabled, and its bounds, which lib
 * relates to the startup memory (catalog_dynmem_check). */
extern const jv_field_t api_dynmem_fields[];

/* Checks obj against spec (ended by {NULL}). With partial, no field is required (PATCH). Unknown fields,
 * wrong types and values out of range are 400 InvalidRequest with target naming the field. */
int api_json_validate(const json_t *obj, const jv_field_t *spec, bool partial, err_t *err);
/* The same, reporting every fault: on -1, err holds the first and *details (when details is not NULL and
 * obj is an object) a new array of every fault as {code, message, target}, the first included. */
int api_json_check(const json_t *obj, const jv_field_t *spec, bool partial, err_t *err, json_t **details);

/* The request body as a checked JSON object, or NULL after replying (415, 400). With allow_empty, an absent
 * body answers an empty object. */
json_t *api_body(api_req_t *r, const jv_field_t *spec, bool partial, bool allow_empty);

/* Query parameters. api_query returns the value ("" for a bare key) or NULL when absent. */
const char *api_query(api_req_t *r, const char *name);
/* http/paging.c: the base of the absolute links wapd answers (no trailing '/'): on the tenant listener
 * ctx->public_url when set, else https:// (ctx->tls) or http:// and the request's Host. */
void api_url_base(api_req_t *r, char *buf, size_t n);
/* Reads limit and cursor; replies 400 and returns -1 when either is bad. */
int api_paging(api_req_t *r, int *limit, int64_t *after);
/* Replies 200 {"value": list, "nextLink"?} (list stolen). */
void api_reply_page(api_req_t *r, json_t *list, int limit, int64_t next);
/* A lister of one parent's page (a hook's deliveries, a subscription's snapshots): key is the parent. */
typedef json_t *(*api_keyed_lister_t)(store_t *st, const char *key, int64_t after, int limit,
                                      int64_t *next, err_t *err);
/* Reads the paging parameters and answers lister's page of key (or its error). */
void api_list_keyed(api_req_t *r, api_keyed_lister_t lister, const char *key);
/* api_reply_page, or, when the lister answered NULL, its error err. */
void api_reply_page_or_err(api_req_t *r, json_t *list, int limit, int64_t next, const err_t *err);
/* The same written as text: page_open starts the body in b (with room for limit views), the caller
 * appends the views as a JSON array, and reply_page_text ends it (b taken and reset). */
void api_page_open(util_buf_t *b, int limit);
void api_reply_page_text(api_req_t *r, util_buf_t *b, int limit, int64_t next);
/* Feeds (usage, events): ?after=<nextCursor>&limit=. paging reads them (cursors carry prefix) or replies
 * 400 and returns -1; reply_feed answers {"value": list (stolen), "nextCursor"}, the cursor always present
 * (the same position again when nothing is new). */
int api_feed_paging(api_req_t *r, const char *prefix, int *limit, int64_t *after);
void api_reply_feed(api_req_t *r, const char *prefix, json_t *list, int64_t next);
/* Reads If-Match into *rev (0: absent or "*"); replies 412 and returns -1 when it cannot match. */
int api_if_match(api_req_t *r, int64_t *rev);

/* metrics.c */
void api_metrics_observe(api_listener_t listener, int route_index, const char *method, int status,
                         double seconds);
/* The metrics text; st (may be NULL) adds the store's write transactions and the durable commits that
 * made them so (group commit: under contention there are fewer commits than transactions). */
char *api_metrics_render(store_t *st);

/* Handlers, by the file that holds them. */
/* resource.c: the generic handlers, driven by the route's resource (r->route->res). list: GET of the
 * collection, filtered by res->filters; get: GET of {id}; create: POST to the collection, 201 with Location;
 * patch: PATCH of {id} with If-Match; remove: DELETE of {id} with If-Match, 204. */
void api_resource_list(api_req_t *r);
void api_resource_get(api_req_t *r);
void api_resource_create(api_req_t *r);
void api_resource_patch(api_req_t *r);
void api_resource_remove(api_req_t *r);
/* The EQ filters named by fields (query parameter = field name), those given in the query, into f (at most
 * max); returns how many. */
size_t api_query_filters(api_req_t *r, const char *const *fields, store_filter_t *f, size_t max);
/* catalog.c: the admin catalog's resources. */
extern const api_resource_t api_res_clouds, api_res_hosts, api_res_sizes, api_res_images,
    api_res_gallery_items, api_res_plans;
/* admin.c: health (both listeners), readiness and metrics. */
void api_health_get(api_req_t *r);
void api_ready_get(api_req_t *r);
void api_metrics_get(api_req_t *r);
/* accounts.c: users, their tokens, subscriptions. */
extern const api_resource_t api_res_users, api_res_subscriptions;
void api_admin_tokens_list(api_req_t *r);
void api_admin_tokens_create(api_req_t *r);
void api_admin_token_delete(api_req_t *r);
void api_admin_subscription_patch(api_req_t *r);
void api_admin_subscription_delete(api_req_t *r);
/* admin_tokens.c: named admin tokens (list, get, revoke: the generic handlers; create: its own). */
extern const api_resource_t api_res_admin_tokens;
void api_admin_token_create(api_req_t *r);
/* backup.c: the database's copy. */
void api_admin_backup_get(api_req_t *r);
/* tenant.c */
void api_tenant_subscriptions_list(api_req_t *r);
void api_tenant_subscription_get(api_req_t *r);
void api_tenant_images_list(api_req_t *r);
void api_tenant_sizes_list(api_req_t *r);
void api_tenant_gallery_list(api_req_t *r);
/* checkpoint.c */
void api_tenant_checkpoint_get(api_req_t *r);
void api_tenant_checkpoint_put(api_req_t *r);
void api_tenant_checkpoint_delete(api_req_t *r);
void api_tenant_checkpoint_restore(api_req_t *r);
void api_admin_checkpoint_delete(api_req_t *r);
void api_admin_checkpoints_prune(api_req_t *r);
/* usage.c */
void api_admin_usage(api_req_t *r);
void api_admin_usage_ack(api_req_t *r);
void api_tenant_usage(api_req_t *r);
void api_wap_usage(api_req_t *r);
/* hooks.c */
extern const api_resource_t api_res_hooks;
void api_admin_hook_deliveries(api_req_t *r);
void api_admin_hook_redeliver(api_req_t *r);
void api_admin_events(api_req_t *r);
/* inventory.c */
void api_admin_host_refresh(api_req_t *r);
void api_admin_host_unmanaged(api_req_t *r);
void api_admin_host_simulate(api_req_t *r);
void api_admin_vm_reassociate(api_req_t *r);
void api_admin_vmrole_join(api_req_t *r);
/* vmrole.c */
void api_tenant_vmroles_list(api_req_t *r);
void api_tenant_vmroles_create(api_req_t *r);
void api_tenant_vmrole_get(api_req_t *r);
void api_tenant_vmrole_delete(api_req_t *r);
void api_tenant_vmrole_scale(api_req_t *r);
/* vm.c */
void api_tenant_vms_list(api_req_t *r);
void api_tenant_vms_create(api_req_t *r);
void api_tenant_vm_get(api_req_t *r);
void api_tenant_vm_patch(api_req_t *r);
void api_tenant_vm_delete(api_req_t *r);
void api_tenant_vm_action(api_req_t *r);
void api_tenant_vm_disk_attach(api_req_t *r);
void api_tenant_vm_disk_detach(api_req_t *r);
void api_tenant_networks_list(api_req_t *r);
void api_tenant_networks_create(api_req_t *r);
void api_tenant_network_get(api_req_t *r);
void api_tenant_network_delete(api_req_t *r);
void api_admin_vms_list(api_req_t *r);
void api_admin_vm_get(api_req_t *r);
void api_admin_subscription_reconcile(api_req_t *r);
/* Images, snapshots and migration: api/image.c, api/snapshot.c, api/migrate.c. */
void api_tenant_vm_generalize(api_req_t *r);
void api_tenant_vm_capture(api_req_t *r);
void api_tenant_image_get(api_req_t *r);
void api_tenant_image_delete(api_req_t *r);
void api_tenant_snapshots_list(api_req_t *r);
void api_tenant_snapshots_create(api_req_t *r);
void api_tenant_snapshot_get(api_req_t *r);
void api_tenant_snapshot_delete(api_req_t *r);
void api_tenant_snapshot_copy(api_req_t *r);
void api_admin_vm_migrate(api_req_t *r);
/* jobs.c: the job routes of both listeners. The job is the last path parameter; on the tenant listener
 * the subscription in the path scopes it (another's job is 404). */
void api_jobs_list(api_req_t *r);
void api_jobs_get(api_req_t *r);
void api_jobs_cancel(api_req_t *r);
void api_jobs_restart(api_req_t *r);

/* resource.c, for any handler: list a kind with filters; get one record by id with ETag. */
void api_list_kind(api_req_t *r, const store_kind_t *kind, const store_filter_t *filters, size_t n);
void api_get_kind(api_req_t *r, const store_kind_t *kind, const char *id);
/* As api_list_kind, each record answered as view(store, record) makes it (NULL: an error, which is the
 * answer). */
void api_list_kind_views(api_req_t *r, const store_kind_t *kind, const store_filter_t *filters, size_t n,
                         api_view_fn view);
/* Answers record id of kind with its ETag and status, as view makes it (NULL: as stored). */
void api_get_kind_view(api_req_t *r, const store_kind_t *kind, const char *id, int status,
                       api_view_fn view);

#endif
