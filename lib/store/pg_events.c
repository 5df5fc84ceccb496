/*
 * pg_events.c: the PostgreSQL backend's events (the outbox) and the deliveries they queue (see store.h),
 * with the same answers as sqlite_events.c.
 *
 * Invariants: an event and its deliveries are written in the transaction of the change it describes, one
 * delivery to each active hook whose filters select its type (exact, "*", or a "prefix.*"); an event is
 * purged only once no delivery refers to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "../util.h"

int
pg_event_add(store_conn_t *c, const json_t *ev, int64_t now_ms, err_t *err)
{
    char b_now[24], b_seq[24];
    const char *p[6];
    PGresult *res;
    char *body;
    int64_t seq;

    body = util_json_dumps(ev, JSON_COMPACT);
    if (body == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    p[0] = json_string_value(json_object_get(ev, "id"));
    p[1] = json_string_value(json_object_get(ev, "type"));
    p[2] = pg__i64(b_now, now_ms);
    p[3] = json_string_value(json_object_get(ev, "subscriptionId"));
    p[4] = json_string_value(json_object_get(ev, "resourceId"));
    p[5] = body;
    res = pg__query(c,
                    "INSERT INTO events(id, type, occurred_ms, subscription_id, resource_id, body)"
                    " VALUES ($1, $2, $3::bigint, $4, $5, $6) RETURNING seq;",
                    6, p, "saving an event", err);
    free(body);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return err_set(err, ERR_INTERNAL, NULL, "Saving an event answered no position.");
    }
    seq = pg__int(res, 0, 0);
    PQclear(res);
    /* One delivery per active hook that asks for this type, for every type ("*"), or for a prefix of it
     * ("vm.*": the filter but its last character begins the type; compared as text, no wildcards). The
     * same rule as events_filter_matches. */
    p[0] = pg__i64(b_seq, seq);
    p[1] = b_now;
    p[2] = json_string_value(json_object_get(ev, "type"));
    return pg__run(c,
                   "INSERT INTO deliveries(hook_id, event_seq, state, attempts, next_ms, queued_ms)"
                   " SELECT id, $1::bigint, 'pending', 0, $2::bigint, $2::bigint FROM hooks"
                   " WHERE active = 1 AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(hooks.events::jsonb)"
                   " AS f(value) WHERE f.value = $3::text OR f.value = '*'"
                   " OR (length(f.value) > 2 AND right(f.value, 2) = '.*'"
                   "     AND left($3::text, length(f.value) - 1) = left(f.value, length(f.value) - 1)));",
                   3, p, "queueing deliveries", err) < 0
               ? -1
               : 0;
}

json_t *
pg_events_after(store_conn_t *c, int64_t after, int limit, int64_t *last, err_t *err)
{
    char b_after[24], b_limit[24];
    const char *p[2] = {pg__i64(b_after, after), pg__i64(b_limit, limit)};
    PGresult *res;
    json_t *list, *ev;
    int i;

    res = pg__query(c,
                    "SELECT seq, body FROM events WHERE seq > $1::bigint ORDER BY seq LIMIT $2::bigint;",
                    2, p, "reading events", err);
    if (res == NULL)
        return NULL;
    list = json_array();
    *last = after;
    for (i = 0; i < PQntuples(res); i++) {
        ev = json_loads(PQgetvalue(res, i, 1), 0, NULL);
        if (ev != NULL)
            json_array_append_new(list, ev);
        *last = pg__int(res, i, 0);
    }
    PQclear(res);
    return list;
}

int64_t
pg_events_purge(store_conn_t *c, int64_t older_than_ms, err_t *err)
{
    char b[24];
    const char *p[1] = {pg__i64(b, older_than_ms)};

    /* An event goes only once no delivery, pending or still in the log's keeping, refers to it. */
    return pg__run(c,
                   "DELETE FROM events WHERE occurred_ms < $1::bigint AND NOT EXISTS"
                   " (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq);",
                   1, p, "purging events", err);
}
