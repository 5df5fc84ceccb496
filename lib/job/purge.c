/*
 * purge.c: which jobs are kept. A job that ended (succeeded, failed or canceled) is kept for the
 * retention from its end, then dropped with everything kept for it; a queued or running job is kept
 * however old it is. A link to a dropped job (a VM's last job, a 202's Location) then answers 404, as
 * for any job that does not exist.
 *
 * Invariants: the purge goes in batches of JOB_PURGE_BATCH jobs, each its own write transaction, so the
 * writes of requests wait for one batch at most; it stops at the first failure (the next purge goes on
 * from there).
 */
#include <assert.h>

#include "../job.h"

#define JOB_PURGE_BATCH 500

int64_t
job_purge(store_t *st, int64_t retention_ms, int64_t now_ms, err_t *err)
{
    int64_t total = 0, n;

    assert(st != NULL && retention_ms >= 0);
    do {
        n = store_jobs_purge(st, now_ms - retention_ms, JOB_PURGE_BATCH, err);
        if (n < 0)
            return -1;
        total += n;
    } while (n == JOB_PURGE_BATCH);
    return total;
}
