/*
 * pg_stats.c: the PostgreSQL backend's figures for /metrics: the active jobs by kind and status, the hook
 * deliveries' backlog, and the bytes the database takes.
 *
 * Invariants: the first two cost what the active jobs or the pending deliveries cost, never what the
 * history costs (the partial indexes jobs_active and deliveries_due, as in sqlite_stats.c). The size is
 * the server's figure for the whole database (pg_database_size: tables, indexes, TOAST, free space), read
 * on a connection of its own, since the caller holds none.
 */
#include <assert.h>
#include <stdlib.h>

#include "pg.h"

int
pg_job_counts(store_conn_t *c, store_job_count_fn fn, void *arg, err_t *err)
{
    PGresult *res;
    int i;

    assert(c != NULL && fn != NULL);
    res = pg__query(c,
                    "SELECT kind, status, count(*) FROM jobs WHERE status IN ('queued', 'running')"
                    " GROUP BY kind, status",
                    0, NULL, "counting the active jobs", err);
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++)
        fn(arg, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), pg__int(res, i, 2));
    PQclear(res);
    return 0;
}

int
pg_delivery_backlog(store_conn_t *c, int64_t *pending, int64_t *oldest_ms, err_t *err)
{
    PGresult *res;

    assert(c != NULL && pending != NULL && oldest_ms != NULL);
    res = pg__query(c,
                    "SELECT n, (SELECT queued_ms FROM deliveries WHERE seq = first) FROM"
                    " (SELECT count(*) AS n, min(seq) AS first FROM deliveries"
                    " WHERE state = 'pending') AS p",
                    0, NULL, "counting the pending deliveries", err);
    if (res == NULL)
        return -1;
    *pending = pg__int(res, 0, 0);
    *oldest_ms = PQgetisnull(res, 0, 1) ? -1 : pg__int(res, 0, 1);
    PQclear(res);
    return 0;
}

int64_t
pg_size_bytes(store_db_t *db)
{
    PGconn *pg;
    PGresult *res;
    int64_t size = -1;

    assert(db != NULL && db->conninfo != NULL);
    pg = PQconnectdb(db->conninfo);
    if (pg != NULL && PQstatus(pg) == CONNECTION_OK) {
        res = PQexec(pg, "SELECT pg_database_size(current_database())");
        if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
            !PQgetisnull(res, 0, 0))
            size = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    PQfinish(pg);
    return size;
}
