/*
 * jobs.c: the job routes both listeners share: list, get, cancel, restart. The job is the last parameter of
 * the path. A tenant's calls are scoped to the subscription in its path (r->params[0], already checked to be
 * the caller's by the pipeline); a job of another subscription answers 404 as a missing one does.
 */
#include "internal.h"

#include <assert.h>

#include "../lib/job.h"

static const jv_field_t no_fields[] = {
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const jv_field_t restart_spec[] = {
    {"skipLastFailedStep", JV_BOOL, 0, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
/* The admin's list filters: query parameters on the job's field of the same name. */
static const char *const admin_filters[] = {"status", "kind", "resourceId", "subscriptionId", NULL};

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

void
api_jobs_list(api_req_t *r)
{
    store_filter_t f[4];
    size_t n = 1;
    int64_t after, next = 0;
    err_t err = {0};
    json_t *list;
    int limit;

    if (scope_sid(r) != NULL)
        f[0] = (store_filter_t){.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = scope_sid(r)};
    else
        n = api_query_filters(r, admin_filters, f, 4);
    if (api_paging(r, &limit, &after))
        return;
    list = job_list(r->store, f, n, after, limit, &next, &err);
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
    json_t *body = api_body(r, no_fields, false, true);

    if (body == NULL)
        return;
    json_decref(body);
    api_reply_or_err(r, 200, job_cancel(r->store, job_id(r), scope_sid(r), &err), &err);
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
