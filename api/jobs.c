/*
 * jobs.c: the job routes both listeners share: list, get, cancel, restart. The job is the last parameter of
 * the path. A tenant's calls are scoped to the subscription in its path (r->params[0], already checked to be
 * the caller's by the pipeline); a job of another subscription answers 404 as a missing one does. Lists
 * filter on kind, resourceId and status (a comma list, AND-ed with the others); a cancel answers 200 when
 * the job ended canceled at once, 202 when a running job will end at its next step boundary.
 */
#include "internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../lib/job.h"

static const jv_field_t no_fields[] = {
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const jv_field_t restart_spec[] = {
    {"skipLastFailedStep", JV_BOOL, 0, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
/* The list filters: query parameters on the job's field of the same name (status is parsed apart: a comma
 * list); a tenant's list is scoped to its subscription and takes no subscriptionId. */
static const char *const admin_filters[] = {"kind", "resourceId", "subscriptionId", NULL};
static const char *const tenant_filters[] = {"kind", "resourceId", NULL};

/* The subscription that scopes the request (NULL for the admin). */
static const char *
scope_sid(const api_req_t *r)
{
    return r->listener == API_LISTENER_TENANT ? r->params[0] : NULL;
}

static const char *
job_id(const api_req_t *r)
{
    assert(r->nparams > 0);
    return r->params[r->nparams - 1];
}

/* The statuses of ?status= (a comma list) as a new JSON array in *out (NULL when absent). Returns 0, or -1
 * after answering 400 naming status for an empty or unknown value. */
static int
status_filter_or_reply(api_req_t *r, json_t **out)
{
    const char *q = api_query(r, "status"), *p, *comma;
    char one[32];
    err_t err = {0};
    json_t *list;
    size_t len;

    *out = NULL;
    if (q == NULL)
        return 0;
    if ((list = json_array()) == NULL) {
        err_set(&err, ERR_INTERNAL, NULL, "Out of memory.");
        api_reply_err(r, &err);
        return -1;
    }
    for (p = q;; p = comma + 1) {
        comma = strchr(p, ',');
        len = comma ? (size_t) (comma - p) : strlen(p);
        snprintf(one, sizeof(one), "%.*s", (int) (len < sizeof(one) ? len : sizeof(one) - 1), p);
        if (len >= sizeof(one) || !job_status_valid(one)) {
            err_set(&err, ERR_INVALID_REQUEST, "status",
                    "status must be a comma list of queued, running, succeeded, failed and canceled.");
            json_decref(list);
            api_reply_err(r, &err);
            return -1;
        }
        json_array_append_new(list, json_string(one));
        if (comma == NULL)
            break;
    }
    *out = list;
    return 0;
}

void
api_jobs_list(api_req_t *r)
{
    store_filter_t f[4];
    size_t n = 0;
    int64_t after, next = 0;
    err_t err = {0};
    json_t *list, *statuses = NULL;
    int limit;

    if (scope_sid(r) != NULL) {
        f[n++] = (store_filter_t){.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = scope_sid(r)};
        n += api_query_filters(r, tenant_filters, f + n, 4 - n);
    } else {
        n = api_query_filters(r, admin_filters, f, 4);
    }
    if (api_paging(r, &limit, &after) || status_filter_or_reply(r, &statuses))
        return;
    list = job_list_status(r->store, f, n, statuses, after, limit, &next, &err);
    json_decref(statuses);
    api_reply_page_or_err(r, list, limit, next, &err);
}

void
api_jobs_get(api_req_t *r)
{
    err_t err = {0};
    int64_t rev = 0;
    json_t *job = job_get(r->store, job_id(r), scope_sid(r), &rev, &err);

    if (job == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_record(r, 200, job, rev);
}

void
api_jobs_cancel(api_req_t *r)
{
    err_t err = {0};
    json_t *body = api_body(r, no_fields, false, true), *job;

    if (body == NULL)
        return;
    json_decref(body);
    job = job_cancel(r->store, job_id(r), scope_sid(r), &err);
    /* Canceled now (it was queued): 200; a running job's cancel takes effect at its next step boundary:
     * 202, with the job's Location and Retry-After like every 202. */
    if (job != NULL && strcmp(json_string_value(json_object_get(job, "status")), "canceled") != 0)
        api_reply_job(r, job, &err);
    else
        api_reply_or_err(r, 200, job, &err);
}

void
api_jobs_restart(api_req_t *r)
{
    err_t err = {0};
    json_t *body = api_body(r, restart_spec, false, true);
    bool skip;

    if (body == NULL)
        return;
    skip = json_is_true(json_object_get(body, "skipLastFailedStep"));
    json_decref(body);
    api_reply_or_err(r, 200, job_restart(r->store, job_id(r), scope_sid(r), skip, &err), &err);
}
