/*
 * end.c: what a job's end raises besides its row: the event of the feed (job.succeeded, job.failed,
 * job.canceled) and, once recorded, its count in /metrics (lib/metrics.h: kind, status, time from submit
 * to end). The runner (runner.c) and a cancel of a queued job (record.c) both end jobs through here.
 *
 * Invariants: both happen in the transaction that records the job's final status: the event is written
 * in it, so the feed holds one such event exactly for each job that ended; the count is an on-commit hook
 * of it, so a rolled-back end is not counted and each recorded end is counted once by the process that
 * recorded it. Counting is best effort: it never fails an end.
 */
#include "job_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../events.h"
#include "../metrics.h"

/* A job's end, counted in /metrics (lib/metrics.h) once the transaction that records it has committed. */
typedef struct {
    const char *kind;   /* the registered kind's name: lives as long as the process */
    const char *status; /* one of metrics_job_end_names */
    double seconds;     /* from its submit to its end */
} job_end_t;

static void
count_end(void *arg)
{
    job_end_t *e = arg;

    metrics_job_ended(e->kind, e->status, e->seconds);
    free(e);
}

/* Counts the end job rec records (its final status and endedAt set) when the open transaction commits.
 * Best effort: a count that cannot be arranged is left out, and the job's end goes on. */
static void
count_end_on_commit(store_t *st, const json_t *rec)
{
    const job_kind_def_t *def = job__find_kind(job__str(rec, "kind"));
    const char *created = job__str(rec, "createdAt"), *ended = job__str(rec, "endedAt");
    const char *status = job__str(rec, "status");
    int64_t from, to;
    err_t err = {0};
    job_end_t *e;
    int i;

    for (i = 0; i < METRICS_JOB_ENDS && strcmp(metrics_job_end_names[i], status) != 0; i++)
        ;
    if (i == METRICS_JOB_ENDS || created == NULL || ended == NULL || util_time_parse(created, &from) ||
        util_time_parse(ended, &to))
        return;
    e = malloc(sizeof(*e)); /* not util_malloc: a count is no allocation the fault loops should fail */
    if (e == NULL)
        return;
    e->kind = def != NULL ? def->kind : "unknown";
    e->status = metrics_job_end_names[i];
    e->seconds = (double) (to - from) / 1000.0;
    if (store_tx_on_commit_owned(st, count_end, free, e, &err) != 0)
        free(e);
}

int
job__emit_end(store_t *st, const json_t *rec, err_t *err)
{
    const char *status = job__str(rec, "status");
    const json_t *error = json_object_get(rec, "error");
    char type[32];
    json_t *data;

    assert(st != NULL && rec != NULL && status != NULL);
    assert(strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
           strcmp(status, "canceled") == 0);
    snprintf(type, sizeof(type), "job.%s", status);
    data = json_pack("{s:s, s:s}", "jobId", job__str(rec, "id"), "kind", job__str(rec, "kind"));
    if (data != NULL && json_is_object(error) && strcmp(status, "failed") == 0) {
        json_object_set(data, "code", json_object_get(error, "code"));
        json_object_set(data, "message", json_object_get(error, "message"));
    }
    if (data == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    if (events_emit(st, type, job__str(rec, "subscriptionId"), job__str(rec, "resourceId"), data,
                    err) != 0)
        return -1;
    /* Last: the count's hook never takes the room of a hook the end needs. */
    count_end_on_commit(st, rec);
    return 0;
}
