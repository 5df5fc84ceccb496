/*
 * sqlite_jobs.c: the SQLite backend's purge of ended jobs, and its job leases.
 *
 * A job is one row of jobs: its steps, error and progress are columns of it, and no other table refers
 * to it, so dropping the row drops everything kept for the job. endedAt is stored as RFC 3339 UTC text
 * with milliseconds (util_time_format), whose order is the order of time, so the cutoff is compared as
 * text.
 *
 * Invariants: only rows whose status is an end (succeeded, failed, canceled) and whose end is before the
 * cutoff go; a queued or running job, whatever its age, stays. At most `limit` rows go per call, so that
 * one call never holds the writer for long.
 *
 * Job leases (store.h) have nothing to decide here: the database is one process's (daemon/lock.c), whose
 * engine's own pool is the lease, so a take answers 1, a renew and a give 0, and the takeover scan finds
 * nothing, all without a statement.
 */
#include <assert.h>

#include "../util.h"
#include "sqlite.h"

int64_t
sqlite_jobs_purge(store_conn_t *c, int64_t ended_before_ms, int limit, err_t *err)
{
    char cutoff[UTIL_TIME_LEN + 1];
    sqlite3_stmt *s;
    int changed;

    assert(limit > 0);
    util_time_format(ended_before_ms, cutoff);
    s = sqlite__stmt(c,
                     "DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs"
                     " WHERE status IN ('succeeded', 'failed', 'canceled') AND ended_at < ? LIMIT ?);",
                     err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, cutoff, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 2, limit);
    if ((changed = sqlite__stmt_run(c, s, "purging ended jobs", err)) < 0)
        return -1;
    return changed;
}

int
sqlite_job_lease_take(store_conn_t *c, const char *job_id, const char *owner, int64_t now_ms,
                      int64_t until_ms, err_t *err)
{
    (void) c, (void) job_id, (void) owner, (void) now_ms, (void) until_ms, (void) err;
    return 1;
}

int
sqlite_job_leases_renew(store_conn_t *c, const char *owner, int64_t until_ms, err_t *err)
{
    (void) c, (void) owner, (void) until_ms, (void) err;
    return 0;
}

int
sqlite_job_lease_give(store_conn_t *c, const char *job_id, const char *owner, err_t *err)
{
    (void) c, (void) job_id, (void) owner, (void) err;
    return 0;
}

json_t *
sqlite_jobs_unleased(store_conn_t *c, int64_t now_ms, int limit, err_t *err)
{
    json_t *ids = json_array();

    (void) c, (void) now_ms, (void) limit;
    if (ids == NULL)
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return ids;
}

json_t *
sqlite_jobs_leased(store_conn_t *c, const json_t *ids, int64_t now_ms, err_t *err)
{
    json_t *held = json_array();

    (void) c, (void) ids, (void) now_ms;
    if (held == NULL)
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return held;
}
