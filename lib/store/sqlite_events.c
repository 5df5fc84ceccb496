/*
 * sqlite_events.c: the SQLite backend's events (the outbox), hook deliveries and their attempt log (see
 * store.h).
 *
 * Invariants: an event and its deliveries are written in the transaction of the change it describes, one
 * delivery to each active hook whose filters select its type (exact, "*", or a "prefix.*");
 * an event is purged only once no delivery refers to it; a delivery leaves "pending" once, and only a
 * pending one logs an attempt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite.h"
#include "../util.h"

/* ---- events, and deliveries to hooks ---- */

int
sqlite_event_add(store_conn_t *c, const json_t *ev, int64_t now_ms, err_t *err)
{
    sqlite3_stmt *s;
    char *body;
    int64_t seq;

    body = util_json_dumps(ev, JSON_COMPACT);
    if (body == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    s = sqlite__stmt(c,
                 "INSERT INTO events(id, type, occurred_ms, subscription_id, resource_id, body)"
                 " VALUES (?, ?, ?, ?, ?, ?);",
                 err);
    if (s == NULL) {
        free(body);
        return -1;
    }
    sqlite3_bind_text(s, 1, json_string_value(json_object_get(ev, "id")), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, json_string_value(json_object_get(ev, "type")), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now_ms);
    sqlite3_bind_text(s, 4, json_string_value(json_object_get(ev, "subscriptionId")), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(s, 5, json_string_value(json_object_get(ev, "resourceId")), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, body, -1, free);
    if (sqlite__stmt_run(c, s, "saving an event", err) < 0)
        return -1;
    seq = sqlite3_last_insert_rowid(c->db);
    /* One delivery per active hook that asks for this type, for every type ("*"), or for a prefix of it
     * ("vm.*": the filter but its last character begins the type; compared as text, no wildcards). The
     * same rule as events_filter_matches. */
    s = sqlite__stmt(c,
                 "INSERT INTO deliveries(hook_id, event_seq, state, attempts, next_ms, queued_ms)"
                 " SELECT id, ?1, 'pending', 0, ?2, ?2 FROM hooks WHERE active = 1 AND EXISTS"
                 " (SELECT 1 FROM json_each(hooks.events) WHERE value = ?3 OR value = '*'"
                 "  OR (length(value) > 2 AND substr(value, -2) = '.*'"
                 "      AND substr(?3, 1, length(value) - 1) = substr(value, 1, length(value) - 1)));",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_int64(s, 2, now_ms);
    sqlite3_bind_text(s, 3, json_string_value(json_object_get(ev, "type")), -1, SQLITE_STATIC);
    return sqlite__stmt_run(c, s, "queueing deliveries", err) < 0 ? -1 : 0;
}

json_t *
sqlite_events_after(store_conn_t *c, int64_t after, int limit, int64_t *last, err_t *err)
{
    sqlite3_stmt *s;
    json_t *list, *ev;
    int rc;

    s = sqlite__stmt(c, "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?;", err);
    if (s == NULL)
        return NULL;
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int(s, 2, limit);
    list = json_array();
    *last = after;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ev = json_loads((const char *) sqlite3_column_text(s, 1), 0, NULL);
        if (ev != NULL)
            json_array_append_new(list, ev);
        *last = sqlite3_column_int64(s, 0);
    }
    sqlite__stmt_done(s);
    if (rc != SQLITE_DONE) {
        sqlite__db_err(c->db, rc, "reading events", err);
        json_decref(list);
        return NULL;
    }
    return list;
}

json_t *
sqlite_deliveries_due(store_conn_t *c, const char *hook_id, int64_t now_ms, int limit, err_t *err)
{
    sqlite3_stmt *s;
    json_t *list;
    int rc;

    s = sqlite__stmt(c,
                 "SELECT d.seq, d.attempts, d.queued_ms, e.id, e.type, e.body FROM deliveries d"
                 " JOIN events e ON e.seq = d.event_seq WHERE d.hook_id = ? AND d.state = 'pending'"
                 " AND d.next_ms <= ? ORDER BY d.next_ms, d.seq LIMIT ?;",
                 err);
    if (s == NULL)
        return NULL;
    sqlite3_bind_text(s, 1, hook_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now_ms);
    sqlite3_bind_int(s, 3, limit);
    list = json_array();
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        json_array_append_new(list,
                              json_pack("{s:I, s:I, s:I, s:s, s:s, s:s}", "seq",
                                        (json_int_t) sqlite3_column_int64(s, 0), "attempts",
                                        (json_int_t) sqlite3_column_int64(s, 1), "queuedMs",
                                        (json_int_t) sqlite3_column_int64(s, 2), "eventId",
                                        sqlite3_column_text(s, 3), "eventType",
                                        sqlite3_column_text(s, 4), "body", sqlite3_column_text(s, 5)));
    sqlite__stmt_done(s);
    if (rc != SQLITE_DONE) {
        sqlite__db_err(c->db, rc, "reading due deliveries", err);
        json_decref(list);
        return NULL;
    }
    return list;
}

int
sqlite_delivery_record(store_conn_t *c, int64_t seq, const json_t *attempt, const char *state,
                      int64_t next_ms, err_t *err)
{
    sqlite3_stmt *s;
    const json_t *code = json_object_get(attempt, "statusCode");
    const char *error = json_string_value(json_object_get(attempt, "error"));
    int changed;

    s = sqlite__stmt(c,
                 "UPDATE deliveries SET state = ?2, attempts = ?3, next_ms = ?4"
                 " WHERE seq = ?1 AND state = 'pending';",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, json_integer_value(json_object_get(attempt, "attempt")));
    sqlite3_bind_int64(s, 4, next_ms);
    if ((changed = sqlite__stmt_run(c, s, "recording a delivery", err)) < 0)
        return -1;
    if (changed == 0)
        return 0; /* the hook went away meanwhile: nothing to log */
    s = sqlite__stmt(c,
                 "INSERT INTO delivery_attempts(id, hook_id, delivery_seq, event_seq, attempt,"
                 " status_code, error, at_ms)"
                 " SELECT ?1, hook_id, seq, event_seq, ?2, ?3, ?4, ?5 FROM deliveries WHERE seq = ?6;",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, json_string_value(json_object_get(attempt, "id")), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, json_integer_value(json_object_get(attempt, "attempt")));
    if (json_is_integer(code))
        sqlite3_bind_int64(s, 3, json_integer_value(code));
    else
        sqlite3_bind_null(s, 3);
    if (error)
        sqlite3_bind_text(s, 4, error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 4);
    sqlite3_bind_int64(s, 5, json_integer_value(json_object_get(attempt, "atMs")));
    sqlite3_bind_int64(s, 6, seq);
    return sqlite__stmt_run(c, s, "logging a delivery attempt", err) < 0 ? -1 : 0;
}

int
sqlite_delivery_next_ms(store_conn_t *c, const char *hook_id, int64_t *next_ms, err_t *err)
{
    sqlite3_stmt *s;
    int rc;

    s = sqlite__stmt(c, "SELECT min(next_ms) FROM deliveries WHERE hook_id = ? AND state = 'pending';", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, hook_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite__stmt_done(s);
        return sqlite__db_err(c->db, rc, "reading the next delivery", err);
    }
    *next_ms = sqlite3_column_type(s, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 0);
    sqlite__stmt_done(s);
    return 0;
}

json_t *
sqlite_delivery_attempts(store_conn_t *c, const char *hook_id, int64_t after, int limit, int64_t *next,
                        err_t *err)
{
    sqlite3_stmt *s;
    json_t *list;
    char at[UTIL_TIME_LEN + 1];
    int rc, n = 0;

    s = sqlite__stmt(c,
                 "SELECT a.seq, a.id, e.id, e.type, a.attempt, a.status_code, a.error, a.at_ms"
                 " FROM delivery_attempts a JOIN events e ON e.seq = a.event_seq"
                 " WHERE a.hook_id = ? AND a.seq > ? ORDER BY a.seq LIMIT ?;",
                 err);
    if (s == NULL)
        return NULL;
    sqlite3_bind_text(s, 1, hook_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int(s, 3, limit + 1);
    list = json_array();
    *next = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == limit) {
            *next = after;
            break;
        }
        util_time_format(sqlite3_column_int64(s, 7), at);
        json_array_append_new(
            list,
            json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:s}", "id", sqlite3_column_text(s, 1),
                      "eventId", sqlite3_column_text(s, 2), "eventType", sqlite3_column_text(s, 3),
                      "attempt", (json_int_t) sqlite3_column_int64(s, 4), "statusCode",
                      sqlite3_column_type(s, 5) == SQLITE_NULL
                          ? json_null()
                          : json_integer(sqlite3_column_int64(s, 5)),
                      "error",
                      sqlite3_column_type(s, 6) == SQLITE_NULL
                          ? json_null()
                          : json_string((const char *) sqlite3_column_text(s, 6)),
                      "at", at));
        after = sqlite3_column_int64(s, 0);
        n++;
    }
    sqlite__stmt_done(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        sqlite__db_err(c->db, rc, "reading delivery attempts", err);
        json_decref(list);
        return NULL;
    }
    return list;
}

int
sqlite_delivery_requeue(store_conn_t *c, const char *hook_id, const char *attempt_id, int64_t now_ms,
                       err_t *err)
{
    sqlite3_stmt *s;
    int changed;

    s = sqlite__stmt(c,
                 "INSERT INTO deliveries(hook_id, event_seq, state, attempts, next_ms, queued_ms)"
                 " SELECT hook_id, event_seq, 'pending', 0, ?3, ?3 FROM delivery_attempts"
                 " WHERE hook_id = ?1 AND id = ?2;",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, hook_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, attempt_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now_ms);
    if ((changed = sqlite__stmt_run(c, s, "queueing a redelivery", err)) < 0)
        return -1;
    if (changed == 0)
        return err_set(err, ERR_NOT_FOUND, NULL, "The delivery was not found.");
    return 0;
}

int64_t
sqlite_deliveries_purge(store_conn_t *c, int64_t older_than_ms, err_t *err)
{
    sqlite3_stmt *s;
    int64_t n;
    int changed;

    s = sqlite__stmt(c, "DELETE FROM delivery_attempts WHERE at_ms < ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, older_than_ms);
    if ((changed = sqlite__stmt_run(c, s, "purging delivery attempts", err)) < 0)
        return -1;
    n = changed;
    s = sqlite__stmt(c, "DELETE FROM deliveries WHERE state <> 'pending' AND queued_ms < ?;", err);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, older_than_ms);
    if ((changed = sqlite__stmt_run(c, s, "purging deliveries", err)) < 0)
        return -1;
    return n + changed;
}

int64_t
sqlite_events_purge(store_conn_t *c, int64_t older_than_ms, err_t *err)
{
    sqlite3_stmt *s;
    int changed;

    /* An event goes only once no delivery, pending or still in the log's keeping, refers to it. */
    s = sqlite__stmt(c,
                 "DELETE FROM events WHERE occurred_ms < ? AND NOT EXISTS"
                 " (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq);",
                 err);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, older_than_ms);
    if ((changed = sqlite__stmt_run(c, s, "purging events", err)) < 0)
        return -1;
    return changed;
}
