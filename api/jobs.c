/*
 * jobs.c: the job endpoints both listeners share: list, get, cancel, restart. A tenant's calls are scoped
 * to the subscription in its path; a job of another subscription answers 404 as a missing one does.
 */
#include "internal.h"

#include "../lib/job.h"

static const jv_field_t no_fields[] = {
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const jv_field_t restart_spec[] = {
    {"skipLastFailedStep", JV_BOOL, 0, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

void
api_list_jobs(api_req_t *r, const store_filter_t *filters, size_t n)
{
    int64_t after, next = 0;
    err_t err = {0};
    json_t *list;
    int limit;

    if (api_paging(r, &limit, &after))
        return;
    list = job_list(r->store, filters, n, after, limit, &next, &err);
    if (list == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_page(r, list, limit, next);
}

void
api_job_get(api_req_t *r, const char *id, const char *sid)
{
    err_t err = {0};
    int64_t rev = 0;
    json_t *job = job_get(r->store, id, sid, &rev, &err);

    if (job == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_record(r, 200, job, rev);
}

void
api_job_cancel(api_req_t *r, const char *id, const char *sid)
{
    err_t err = {0};
    json_t *body = api_body(r, no_fields, false, true), *job;

    if (body == NULL)
        return;
    json_decref(body);
    job = job_cancel(r->store, id, sid, &err);
    if (job == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_json(r, 200, job);
}

void
api_job_restart(api_req_t *r, const char *id, const char *sid)
{
    err_t err = {0};
    json_t *body = api_body(r, restart_spec, false, true), *job;

    if (body == NULL)
        return;
    job = job_restart(r->store, id, sid, json_is_true(json_object_get(body, "skipLastFailedStep")),
                      &err);
    json_decref(body);
    if (job == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_json(r, 200, job);
}
