/*
 * pg_leases.c: the PostgreSQL backend's job leases (see store.h): which daemon of the database runs a job
 * now, so that several daemons on one database run each job once at a time, and the jobs of a daemon
 * that died are found and taken over.
 *
 * A lease is one row of job_leases (job_id, owner, until_ms). Each call is one autocommit statement made
 * on the thread's own connection with no transaction open: it takes no advisory lock (PG_WRITE_LOCK is the
 * writers' turn, and a lease must neither wait for a long write nor hold one up), only the row lock its
 * own statement needs, for the statement's duration.
 *
 * Invariants: a take changes a row only when it is absent, owner's already, or expired at now_ms (a lease
 * is live while now < until_ms), so of two daemons taking one job at once exactly one gets 1 (the
 * primary key and ON CONFLICT decide); a renew or a give touches owner's rows only; a row is never
 * removed on behalf of another owner (an expired lease is taken over by the next take, not dropped).
 * A lease outliving its job (ended or purged) is harmless: the scan reads queued and running jobs only.
 */
#include <assert.h>
#include <stdlib.h>

#include "pg.h"
#include "../util.h"

int
pg_job_lease_take(store_conn_t *c, const char *job_id, const char *owner, int64_t now_ms,
                  int64_t until_ms, err_t *err)
{
    char b_now[24], b_until[24];
    const char *p[4] = {job_id, owner, pg__i64(b_now, now_ms), pg__i64(b_until, until_ms)};
    int64_t n;

    assert(c->depth == 0);
    n = pg__run(c,
                "INSERT INTO job_leases(job_id, owner, until_ms) VALUES ($1, $2, $4::bigint)"
                " ON CONFLICT (job_id) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms"
                " WHERE job_leases.owner = excluded.owner OR job_leases.until_ms <= $3::bigint;",
                4, p, "taking a job's lease", err);
    return n < 0 ? -1 : n > 0 ? 1 : 0;
}

int
pg_job_leases_renew(store_conn_t *c, const char *owner, int64_t until_ms, err_t *err)
{
    char b_until[24];
    const char *p[2] = {owner, pg__i64(b_until, until_ms)};

    assert(c->depth == 0);
    /* Only a job still queued or running: a lease whose give-back failed at its job's end expires. */
    return (int) pg__run(c,
                         "UPDATE job_leases SET until_ms = $2::bigint WHERE owner = $1 AND job_id IN"
                         " (SELECT id FROM jobs WHERE status IN ('queued', 'running'));",
                         2, p, "renewing job leases", err);
}

int
pg_job_lease_give(store_conn_t *c, const char *job_id, const char *owner, err_t *err)
{
    const char *p[2] = {job_id, owner};

    assert(c->depth == 0);
    return pg__run(c, "DELETE FROM job_leases WHERE job_id = $1 AND owner = $2;", 2, p,
                   "giving a job's lease back", err) < 0
               ? -1
               : 0;
}

json_t *
pg_jobs_unleased(store_conn_t *c, int64_t now_ms, int limit, err_t *err)
{
    char b_now[24], b_limit[24];
    const char *p[2] = {pg__i64(b_now, now_ms), pg__i64(b_limit, limit)};
    PGresult *res;
    json_t *ids;
    int i;

    assert(c->depth == 0 && limit > 0);
    res = pg__query(c,
                    "SELECT j.id FROM jobs j LEFT JOIN job_leases l ON l.job_id = j.id"
                    " WHERE j.status IN ('queued', 'running') AND (l.job_id IS NULL OR l.until_ms <= $1::bigint)"
                    " ORDER BY j.seq LIMIT $2::bigint;",
                    2, p, "reading jobs no daemon holds", err);
    if (res == NULL)
        return NULL;
    ids = json_array();
    for (i = 0; i < PQntuples(res); i++)
        json_array_append_new(ids, json_string(PQgetvalue(res, i, 0)));
    PQclear(res);
    return ids;
}

/* The ids among ids whose lease is live: a read, in the connection's transaction when one is open (unlike
 * the calls above, it changes nothing). */
json_t *
pg_jobs_leased(store_conn_t *c, const json_t *ids, int64_t now_ms, err_t *err)
{
    util_buf_t arr = {0};
    char b_now[24];
    const char *p[2];
    const json_t *v;
    const char *id;
    json_t *held;
    PGresult *res;
    size_t i;
    int k;

    /* The ids as one text[] literal, each element double-quoted with its quotes and backslashes escaped. */
    util_buf_add(&arr, "{", 1);
    json_array_foreach(ids, i, v) {
        if ((id = json_string_value(v)) == NULL)
            continue;
        util_buf_add(&arr, arr.len > 1 ? ",\"" : "\"", arr.len > 1 ? 2 : 1);
        for (; *id; id++) {
            if (*id == '"' || *id == '\\')
                util_buf_add(&arr, "\\", 1);
            util_buf_add(&arr, id, 1);
        }
        util_buf_add(&arr, "\"", 1);
    }
    util_buf_add(&arr, "}", 1);
    held = arr.failed ? NULL : json_array();
    if (held == NULL) {
        util_buf_free(&arr);
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    if (arr.len == 2) { /* "{}": no job to ask about */
        util_buf_free(&arr);
        return held;
    }
    p[0] = arr.buf;
    p[1] = pg__i64(b_now, now_ms);
    res = pg__query(c, "SELECT job_id FROM job_leases WHERE job_id = ANY($1::text[]) AND until_ms > $2::bigint;",
                    2, p, "reading job leases", err);
    util_buf_free(&arr);
    if (res == NULL) {
        json_decref(held);
        return NULL;
    }
    for (k = 0; k < PQntuples(res); k++)
        json_array_append_new(held, json_string(PQgetvalue(res, k, 0)));
    PQclear(res);
    return held;
}
