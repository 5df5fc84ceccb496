/*
 * pg_leader.c: the leadership of the periodic work (store_leader_try): of the daemons sharing the
 * database, the one whose session holds the advisory lock PG_LEADER_LOCK leads.
 *
 * Invariants:
 * - The lock is held on a connection of the store's own (db->leader), never on a thread's: threads'
 *   connections run transactions, and nothing here takes PG_WRITE_LOCK or opens a transaction, so the
 *   leadership never waits for a writer and no writer waits for it.
 * - The lock is a session lock: it lasts as long as the session and goes with it. A daemon killed, its
 *   session ended by the server (a restart, pg_terminate_backend) or its store closed leads no more, and
 *   another daemon's next try takes the lock.
 * - leading is true only while each try finds the session alive and still holding the lock. A try that
 *   finds the connection broken drops it (never reset in place: a new session holds no lock) and answers
 *   -1; the next try connects again and tries for the lock, which it gets unless another daemon took it
 *   meanwhile.
 * - One try at a time (leader_lock).
 */
#include <string.h>

#include "pg.h"

/* The session still holds the lock (a bigint key is classid: its high half, objid: its low half,
 * objsubid 1). */
static const char held_sql[] =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = ($1::bigint >> 32)::oid"
    " AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1)";
static const char try_sql[] = "SELECT pg_try_advisory_lock($1::bigint)";

/* Runs sql (one boolean answer) with the lock's key on the leader connection, bypassing the statement
 * cache and the helpers' reconnect: 0 with *out, or -1 with err. */
static int
ask(store_conn_t *c, const char *sql, bool *out, err_t *err)
{
    char key[24];
    const char *params[1] = {pg__i64(key, PG_LEADER_LOCK)};
    PGresult *res = PQexecParams(c->pg, sql, 1, NULL, params, NULL, NULL, 0);

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        pg__err(c, res, "trying for the leadership", err);
        PQclear(res);
        return -1;
    }
    *out = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}

static void
drop(store_db_t *db)
{
    pg_conn_close(db->leader); /* the session ends, and the lock with it when the server still has it */
    db->leader = NULL;
    db->leading = false;
}

int
pg_leader_try(store_db_t *db, err_t *err)
{
    bool yes = false;
    int rc = -1;

    pthread_mutex_lock(&db->leader_lock);
    if (db->leader == NULL && (db->leader = pg_conn_open(db, err)) == NULL) {
        db->leading = false;
        goto cleanup;
    }
    if (db->leading) {
        if (ask(db->leader, held_sql, &yes, err) != 0) {
            drop(db);
            goto cleanup;
        }
        db->leading = yes;
    }
    if (!db->leading) {
        if (ask(db->leader, try_sql, &yes, err) != 0) {
            drop(db);
            goto cleanup;
        }
        db->leading = yes;
    }
    rc = db->leading ? 1 : 0;
cleanup:
    pthread_mutex_unlock(&db->leader_lock);
    return rc;
}

void
pg__leader_close(store_db_t *db)
{
    pthread_mutex_lock(&db->leader_lock);
    if (db->leader != NULL)
        drop(db);
    pthread_mutex_unlock(&db->leader_lock);
}
