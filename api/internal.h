/*
 * internal.h: what api/ modules share: the request, the route table, replies and body checks.
 *
 * A request lives from libmicrohttpd's first call for it to its completion callback; every string in it is
 * owned by it. A handler answers exactly once through one of the api_reply_* calls; the dispatcher sends
 * that answer only after the request's transaction (every write runs in one) has committed.
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

typedef struct {
    api_listener_t listener;
    const char *pattern; /* "/v1/admin/clouds/{id}": a {name} segment matches any one segment */
    api_handler_t handlers[API__METHODS];
    unsigned flags;
} api_route_t;

typedef struct api_req {
    api_ctx_t *ctx;
    store_t *store;
    api_listener_t listener;
    struct MHD_Connection *conn;
    char method[16];
    api_method_t method_id; /* API__METHODS when not one we serve */
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

    bool replied;
    int status;
    char *resp; /* JSON text */
    size_t resp_len;
    char location[512];
    char etag[32];
    char allow[64];
    int retry_after;
    const char *content_type; /* NULL: application/json */
} api_req_t;

/* router.c */
extern const api_route_t api_routes[];
extern const int api_route_count;
/* Finds the route for path on that listener, filling r->params; NULL when none. */
const api_route_t *api_route_match(api_req_t *r, api_listener_t listener, const char *path);
/* Writes the methods a route allows, "GET, POST", into buf. */
void api_route_allow(const api_route_t *route, char *buf, size_t n);
api_method_t api_method_parse(const char *method);

/* Replies. Each records the answer; the dispatcher sends it. json bodies are stolen. */
void api_reply_json(api_req_t *r, int status, json_t *body);
void api_reply_err(api_req_t *r, const err_t *err);
void api_reply_error(api_req_t *r, err_code_t code, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 200 (or 201) with ETag from rev. */
void api_reply_record(api_req_t *r, int status, json_t *rec, int64_t rev);
/* 202 with body, Location naming the job, Retry-After. */
void api_reply_accepted(api_req_t *r, json_t *body, const char *job_id);
void api_reply_no_content(api_req_t *r);

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

/* Checks obj against spec (ended by {NULL}). With partial, no field is required (PATCH). Unknown fields,
 * wrong types and values out of range are 400 InvalidRequest with target naming the field. */
int api_json_validate(const json_t *obj, const jv_field_t *spec, bool partial, err_t *err);

/* The request body as a checked JSON object, or NULL after replying (415, 400). With allow_empty, an absent
 * body answers an empty object. */
json_t *api_body(api_req_t *r, const jv_field_t *spec, bool partial, bool allow_empty);

/* Query parameters. api_query returns the value ("" for a bare key) or NULL when absent. */
const char *api_query(api_req_t *r, const char *name);
/* Reads limit and cursor; replies 400 and returns -1 when either is bad. */
int api_paging(api_req_t *r, int *limit, int64_t *after);
/* Replies 200 {"value": list, "nextLink"?} (list stolen). */
void api_reply_page(api_req_t *r, json_t *list, int limit, int64_t next);
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
char *api_metrics_render(void);

/* Handlers, by the file that holds them. */
/* admin.c */
void api_health_get(api_req_t *r);
void api_ready_get(api_req_t *r);
void api_metrics_get(api_req_t *r);
void api_admin_clouds_list(api_req_t *r);
void api_admin_clouds_create(api_req_t *r);
void api_admin_cloud_get(api_req_t *r);
void api_admin_cloud_patch(api_req_t *r);
void api_admin_cloud_delete(api_req_t *r);
void api_admin_hosts_list(api_req_t *r);
void api_admin_hosts_create(api_req_t *r);
void api_admin_host_get(api_req_t *r);
void api_admin_host_patch(api_req_t *r);
void api_admin_host_delete(api_req_t *r);
void api_admin_sizes_list(api_req_t *r);
void api_admin_sizes_create(api_req_t *r);
void api_admin_size_get(api_req_t *r);
void api_admin_images_list(api_req_t *r);
void api_admin_images_create(api_req_t *r);
void api_admin_image_get(api_req_t *r);
void api_admin_gallery_list(api_req_t *r);
void api_admin_gallery_create(api_req_t *r);
void api_admin_gallery_get(api_req_t *r);
void api_admin_plans_list(api_req_t *r);
void api_admin_plans_create(api_req_t *r);
void api_admin_plan_get(api_req_t *r);
void api_admin_plan_patch(api_req_t *r);
void api_admin_plan_delete(api_req_t *r);
void api_admin_users_list(api_req_t *r);
void api_admin_users_create(api_req_t *r);
void api_admin_user_get(api_req_t *r);
void api_admin_tokens_list(api_req_t *r);
void api_admin_tokens_create(api_req_t *r);
void api_admin_token_delete(api_req_t *r);
void api_admin_subscriptions_list(api_req_t *r);
void api_admin_subscriptions_create(api_req_t *r);
void api_admin_subscription_get(api_req_t *r);
void api_admin_subscription_patch(api_req_t *r);
void api_admin_subscription_delete(api_req_t *r);
void api_admin_jobs_list(api_req_t *r);
void api_admin_job_get(api_req_t *r);
void api_admin_job_cancel(api_req_t *r);
void api_admin_job_restart(api_req_t *r);
/* tenant.c */
void api_tenant_subscriptions_list(api_req_t *r);
/* checkpoint.c */
void api_tenant_checkpoint_get(api_req_t *r);
void api_tenant_checkpoint_put(api_req_t *r);
void api_tenant_checkpoint_delete(api_req_t *r);
void api_tenant_checkpoint_restore(api_req_t *r);
void api_admin_checkpoint_delete(api_req_t *r);
void api_admin_checkpoints_prune(api_req_t *r);
/* usage.c */
void api_admin_usage(api_req_t *r);
void api_tenant_usage(api_req_t *r);
void api_wap_usage(api_req_t *r);
/* hooks.c */
void api_admin_hooks_list(api_req_t *r);
void api_admin_hooks_create(api_req_t *r);
void api_admin_hook_get(api_req_t *r);
void api_admin_hook_patch(api_req_t *r);
void api_admin_hook_delete(api_req_t *r);
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
void api_tenant_subscription_get(api_req_t *r);
void api_tenant_images_list(api_req_t *r);
void api_tenant_sizes_list(api_req_t *r);
void api_tenant_gallery_list(api_req_t *r);
void api_tenant_jobs_list(api_req_t *r);
void api_tenant_job_get(api_req_t *r);
void api_tenant_job_cancel(api_req_t *r);
void api_tenant_job_restart(api_req_t *r);
/* jobs.c: shared by both listeners; sid scopes a tenant's calls (NULL for the admin). */
void api_list_jobs(api_req_t *r, const store_filter_t *filters, size_t n);
void api_job_get(api_req_t *r, const char *id, const char *sid);
void api_job_cancel(api_req_t *r, const char *id, const char *sid);
void api_job_restart(api_req_t *r, const char *id, const char *sid);

/* shared by admin.c and tenant.c: list a kind with filters; get one record by id with ETag. */
void api_list_kind(api_req_t *r, const store_kind_t *kind, const store_filter_t *filters, size_t n);
/* As api_list_kind, each record answered as view(store, record) makes it (NULL: an error, which is the
 * answer). */
typedef json_t *(*api_view_fn)(store_t *st, const json_t *rec, err_t *err);
/* Answers record id of kind with its ETag and status, as view makes it (NULL: as stored). */
void api_get_kind_view(api_req_t *r, const store_kind_t *kind, const char *id, int status,
                       api_view_fn view);
void api_list_kind_views(api_req_t *r, const store_kind_t *kind, const store_filter_t *filters, size_t n,
                         api_view_fn view);
void api_get_kind(api_req_t *r, const store_kind_t *kind, const char *id);

#endif
