/*
 * sqlite_jobs.c: the SQLite backend's purge of ended jobs.
 *
 * A job is one row of jobs: its steps, error and progress are columns of it, and no other table refers
 * to it, so dropping the row drops everything kept for the job. endedAt is stored as RFC 3339 UTC text
 * with milliseconds (util_time_format), whose order is the order of time, so the cutoff is compared as
 * text.
 *
 * Invariants: only rows whose status is an end (succeeded, failed, canceled) and whose end is before the
 * cutoff go; a queued or running job, whatever its age, stays. At most `limit` rows go per call, so that
 * one call never holds the writer for long.
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
