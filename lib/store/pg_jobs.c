/*
 * pg_jobs.c: the PostgreSQL backend's purge of ended jobs, and hook deliveries with their attempt log
 * (see store.h), with the same answers as sqlite_jobs.c and sqlite_events.c.
 *
 * A job is one row of jobs; dropping the row drops everything kept for it. endedAt is RFC 3339 UTC text
 * with milliseconds (util_time_format), compared byte by byte (COLLATE "C"), whose order is the order of
 * time whatever the database's collation.
 *
 * Invariants: only ended jobs (succeeded, failed, canceled) whose end is before the cutoff go, at most
 * `limit` per call; a delivery leaves "pending" once, and only a pending one logs an attempt.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "pg.h"
#include "../util.h"

int64_t
pg_jobs_purge(store_conn_t *c, int64_t ended_before_ms, int limit, err_t *err)
{
    char cutoff[UTIL_TIME_LEN + 1], b_limit[24];
    const char *p[2] = {cutoff, pg__i64(b_limit, limit)};

    assert(limit > 0);
    util_time_format(ended_before_ms, cutoff);
    return pg__run(c,
                   "DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs"
                   " WHERE status IN ('succeeded', 'failed', 'canceled')"
                   " AND ended_at COLLATE \"C\" < $1::text LIMIT $2::bigint);",
                   2, p, "purging ended jobs", err);
}

json_t *
pg_deliveries_due(store_conn_t *c, const char *hook_id, int64_t now_ms, int limit, err_t *err)
{
    char b_now[24], b_limit[24];
    const char *p[3] = {hook_id, pg__i64(b_now, now_ms), pg__i64(b_limit, limit)};
    PGresult *res;
    json_t *list;
    int i;

    res = pg__query(c,
                    "SELECT d.seq, d.attempts, d.queued_ms, e.id, e.type, e.body FROM deliveries d"
                    " JOIN events e ON e.seq = d.event_seq WHERE d.hook_id = $1 AND d.state = 'pending'"
                    " AND d.next_ms <= $2::bigint ORDER BY d.next_ms, d.seq LIMIT $3::bigint;",
                    3, p, "reading due deliveries", err);
    if (res == NULL)
        return NULL;
    list = json_array();
    for (i = 0; i < PQntuples(res); i++)
        json_array_append_new(list, json_pack("{s:I, s:I, s:I, s:s, s:s, s:s}", "seq",
                                              (json_int_t) pg__int(res, i, 0), "attempts",
                                              (json_int_t) pg__int(res, i, 1), "queuedMs",
                                              (json_int_t) pg__int(res, i, 2), "eventId",
                                              PQgetvalue(res, i, 3), "eventType",
                                              PQgetvalue(res, i, 4), "body", PQgetvalue(res, i, 5)));
    PQclear(res);
    return list;
}

int
pg_delivery_record(store_conn_t *c, int64_t seq, const json_t *attempt, const char *state,
                   int64_t next_ms, err_t *err)
{
    const json_t *code = json_object_get(attempt, "statusCode");
    char b_seq[24], b_attempt[24], b_next[24], b_code[24], b_at[24];
    const char *p[6];
    int64_t changed;

    p[0] = pg__i64(b_seq, seq);
    p[1] = state;
    p[2] = pg__i64(b_attempt, json_integer_value(json_object_get(attempt, "attempt")));
    p[3] = pg__i64(b_next, next_ms);
    changed = pg__run(c,
                      "UPDATE deliveries SET state = $2, attempts = $3::bigint, next_ms = $4::bigint"
                      " WHERE seq = $1::bigint AND state = 'pending';",
                      4, p, "recording a delivery", err);
    if (changed < 0)
        return -1;
    if (changed == 0)
        return 0; /* the hook went away meanwhile: nothing to log */
    p[0] = json_string_value(json_object_get(attempt, "id"));
    p[1] = b_attempt;
    p[2] = json_is_integer(code) ? pg__i64(b_code, json_integer_value(code)) : NULL;
    p[3] = json_string_value(json_object_get(attempt, "error"));
    p[4] = pg__i64(b_at, json_integer_value(json_object_get(attempt, "atMs")));
    p[5] = b_seq;
    return pg__run(c,
                   "INSERT INTO delivery_attempts(id, hook_id, delivery_seq, event_seq, attempt,"
                   " status_code, error, at_ms)"
                   " SELECT $1, hook_id, seq, event_seq, $2::bigint, $3::bigint, $4::text, $5::bigint"
                   " FROM deliveries WHERE seq = $6::bigint;",
                   6, p, "logging a delivery attempt", err) < 0
               ? -1
               : 0;
}

int
pg_delivery_next_ms(store_conn_t *c, const char *hook_id, int64_t *next_ms, err_t *err)
{
    const char *p[1] = {hook_id};
    PGresult *res;

    res = pg__query(c, "SELECT min(next_ms) FROM deliveries WHERE hook_id = $1 AND state = 'pending';",
                    1, p, "reading the next delivery", err);
    if (res == NULL)
        return -1;
    *next_ms = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? pg__int(res, 0, 0) : -1;
    PQclear(res);
    return 0;
}

json_t *
pg_delivery_attempts(store_conn_t *c, const char *hook_id, int64_t after, int limit, int64_t *next,
                     err_t *err)
{
    char b_after[24], b_limit[24], at[UTIL_TIME_LEN + 1];
    const char *p[3] = {hook_id, pg__i64(b_after, after), pg__i64(b_limit, (int64_t) limit + 1)};
    PGresult *res;
    json_t *list;
    int i;

    res = pg__query(c,
                    "SELECT a.seq, a.id, e.id, e.type, a.attempt, a.status_code, a.error, a.at_ms"
                    " FROM delivery_attempts a JOIN events e ON e.seq = a.event_seq"
                    " WHERE a.hook_id = $1 AND a.seq > $2::bigint ORDER BY a.seq LIMIT $3::bigint;",
                    3, p, "reading delivery attempts", err);
    if (res == NULL)
        return NULL;
    list = json_array();
    *next = 0;
    for (i = 0; i < PQntuples(res); i++) {
        if (i == limit) {
            *next = after; /* more remain: the next page starts after the last one answered */
            break;
        }
        util_time_format(pg__int(res, i, 7), at);
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:s}", "id", PQgetvalue(res, i, 1),
                            "eventId", PQgetvalue(res, i, 2), "eventType", PQgetvalue(res, i, 3),
                            "attempt", (json_int_t) pg__int(res, i, 4), "statusCode",
                            PQgetisnull(res, i, 5) ? json_null() : json_integer(pg__int(res, i, 5)),
                            "error",
                            PQgetisnull(res, i, 6) ? json_null() : json_string(PQgetvalue(res, i, 6)),
                            "at", at));
        after = pg__int(res, i, 0);
    }
    PQclear(res);
    return list;
}

int
pg_delivery_requeue(store_conn_t *c, const char *hook_id, const char *attempt_id, int64_t now_ms,
                    err_t *err)
{
    char b_now[24];
    const char *p[3] = {hook_id, attempt_id, pg__i64(b_now, now_ms)};
    int64_t changed;

    changed = pg__run(c,
                      "INSERT INTO deliveries(hook_id, event_seq, state, attempts, next_ms, queued_ms)"
                      " SELECT hook_id, event_seq, 'pending', 0, $3::bigint, $3::bigint"
                      " FROM delivery_attempts WHERE hook_id = $1 AND id = $2;",
                      3, p, "queueing a redelivery", err);
    if (changed < 0)
        return -1;
    if (changed == 0)
        return err_set(err, ERR_NOT_FOUND, NULL, "The delivery was not found.");
    return 0;
}

int64_t
pg_deliveries_purge(store_conn_t *c, int64_t older_than_ms, err_t *err)
{
    char b[24];
    const char *p[1] = {pg__i64(b, older_than_ms)};
    int64_t n, changed;

    n = pg__run(c, "DELETE FROM delivery_attempts WHERE at_ms < $1::bigint;", 1, p,
                "purging delivery attempts", err);
    if (n < 0)
        return -1;
    changed = pg__run(c, "DELETE FROM deliveries WHERE state <> 'pending' AND queued_ms < $1::bigint;", 1,
                      p, "purging deliveries", err);
    if (changed < 0)
        return -1;
    return n + changed;
}
