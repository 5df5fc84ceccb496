/*
 * job.c: job records (see job.h). The worker pool that runs jobs step by step builds on these records.
 */
#include "job.h"

#include "util.h"

json_t *
job_record_new(const char *kind, const char *resource_id, const char *subscription_id,
               const char *const *steps)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    json_t *job, *arr = json_array();
    size_t i;

    for (i = 0; steps && steps[i]; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s}", "name", steps[i], "status", "pending"));
    util_uuid(id);
    util_time_format(util_now_ms(), now);
    job = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:i, s:o, s:n, s:s, s:n, s:n}", "id", id, "kind",
                    kind, "status", "queued", "resourceId", resource_id, "subscriptionId",
                    subscription_id, "progress", 0, "steps", arr, "error", "createdAt", now,
                    "startedAt", "endedAt");
    return job;
}

int
job_store_succeeded(store_t *st, json_t *job, err_t *err)
{
    char now[UTIL_TIME_LEN + 1];
    json_t *step;
    size_t i;

    util_time_format(util_now_ms(), now);
    json_array_foreach(json_object_get(job, "steps"), i, step)
        json_object_set_new(step, "status", json_string("succeeded"));
    json_object_set_new(job, "status", json_string("succeeded"));
    json_object_set_new(job, "progress", json_integer(100));
    json_object_set_new(job, "startedAt", json_string(now));
    json_object_set_new(job, "endedAt", json_string(now));
    return store_rec_insert(st, &store_kind_job, job, err);
}
