/*
 * sqlite_stats.c: the SQLite backend's figures for /metrics: the active jobs by kind and status, the hook
 * deliveries' backlog, and the bytes the database takes on disk.
 *
 * Invariants: each is one read that costs what the active jobs or the pending deliveries cost, never what
 * the history costs: the jobs are read through the partial index of active jobs (jobs_active), the
 * pending deliveries through the partial index of pending ones (deliveries_due, which holds each row's
 * position). Deliveries are queued in position order (an event's, and a requeue's, at the time of the
 * commit that queues it), so the pending delivery of the lowest position is the earliest queued one, and
 * its time is read from one row.
 */
#include <assert.h>
#include <stdio.h>
#include <sys/stat.h>

#include "sqlite.h"

int
sqlite_job_counts(store_conn_t *c, store_job_count_fn fn, void *arg, err_t *err)
{
    sqlite3_stmt *s;
    int rc;

    assert(c != NULL && fn != NULL);
    s = sqlite__stmt(c,
                     "SELECT kind, status, count(*) FROM jobs WHERE status IN ('queued', 'running')"
                     " GROUP BY kind, status;",
                     err);
    if (s == NULL)
        return -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(arg, (const char *) sqlite3_column_text(s, 0), (const char *) sqlite3_column_text(s, 1),
           sqlite3_column_int64(s, 2));
    sqlite__stmt_done(s);
    if (rc != SQLITE_DONE)
        return sqlite__db_err(c->db, rc, "counting the active jobs", err);
    return 0;
}

int
sqlite_delivery_backlog(store_conn_t *c, int64_t *pending, int64_t *oldest_ms, err_t *err)
{
    sqlite3_stmt *s;
    int rc;

    assert(c != NULL && pending != NULL && oldest_ms != NULL);
    s = sqlite__stmt(c,
                     "SELECT n, (SELECT queued_ms FROM deliveries WHERE seq = first) FROM"
                     " (SELECT count(*) AS n, min(seq) AS first FROM deliveries"
                     " WHERE state = 'pending');",
                     err);
    if (s == NULL)
        return -1;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite__stmt_done(s);
        return sqlite__db_err(c->db, rc, "counting the pending deliveries", err);
    }
    *pending = sqlite3_column_int64(s, 0);
    *oldest_ms = sqlite3_column_type(s, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 1);
    sqlite__stmt_done(s);
    return 0;
}

int64_t
sqlite_size_bytes(store_db_t *db)
{
    char wal[4096];
    struct stat sb;
    int64_t total;

    assert(db != NULL && db->path != NULL);
    if (stat(db->path, &sb) != 0)
        return -1;
    total = (int64_t) sb.st_size;
    /* No WAL file is a WAL of 0 bytes (after a clean close, or before the first write). */
    if (snprintf(wal, sizeof(wal), "%s-wal", db->path) < (int) sizeof(wal) && stat(wal, &sb) == 0)
        total += (int64_t) sb.st_size;
    return total;
}
