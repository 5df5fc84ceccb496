/*
 * pg_conn.c: the PostgreSQL backend's connections: opening the database, one libpq connection per thread
 * with its cache of prepared statements, the query helpers every pg_*.c file uses, errors mapped to the
 * store's, and the database checks.
 *
 * Invariants:
 * - A connection is used by one thread at a time (the neutral layer keeps one per thread, and every
 *   transaction runs on its thread's own connection).
 * - Each connection waits for a lock (the write lock of pg.h, a row another daemon holds) at most the
 *   busy timeout (lock_timeout), then answers 503 as SQLite's busy writer does.
 * - Statements are prepared once per connection under their SQL text (the statement cache) and stay
 *   prepared until the connection closes; a connection found broken outside any transaction is reset, and
 *   its cache emptied, before its next statement.
 * - Commits are durable when they return: synchronous_commit is never lowered here.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_util.h"
#include "pg.h"

/* ---- errors ---- */

int
pg__err(store_conn_t *c, const PGresult *res, const char *doing, err_t *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    bool lost = c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK;

    if (msg == NULL || *msg == '\0')
        msg = c->pg ? PQerrorMessage(c->pg) : "no connection";
    snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : (lost ? "08006" : "XX000"));
    state = c->sqlstate;
    if (strcmp(state, "53100") == 0) {
        fprintf(stderr,
                "{\"level\":\"error\",\"msg\":\"the database's disk is full\",\"doing\":\"%s\","
                "\"code\":\"%s\"}\n",
                doing, state);
        return err_set(err, ERR_INSUFFICIENT_STORAGE, NULL,
                       "The database has no space left to record the change; retry the request later.");
    }
    if (strcmp(state, "23503") == 0)
        return err_set(err, ERR_CONFLICT, NULL,
                       "The change conflicts with records that refer to, or are referred by, it.");
    if (strncmp(state, "23", 2) == 0)
        return err_set(err, ERR_CONFLICT, NULL, "A record with the same unique value already exists.");
    /* Serialization failure, deadlock, a lock not had within the busy timeout, a statement canceled, a
     * server shutting down or too many connections, a connection lost: all pass; the client retries. */
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0 ||
        strcmp(state, "57014") == 0 || strncmp(state, "57P", 3) == 0 || strcmp(state, "53300") == 0 ||
        strncmp(state, "08", 2) == 0 || lost) {
        fprintf(stderr,
                "{\"level\":\"warn\",\"msg\":\"database busy or unreachable\",\"doing\":\"%s\","
                "\"code\":\"%s\"}\n",
                doing, state);
        return err_set(err, ERR_UNAVAILABLE, NULL, "The database is busy; retry the request.");
    }
    fprintf(stderr,
            "{\"level\":\"error\",\"msg\":\"database error\",\"doing\":\"%s\",\"code\":\"%s\","
            "\"detail\":\"%.*s\"}\n",
            doing, state, (int) strcspn(msg, "\n\"\\"), msg);
    return err_set(err, ERR_INTERNAL, NULL, "The database failed while %s.", doing);
}

bool
pg__state_is(const store_conn_t *c, const char *state)
{
    return strcmp(c->sqlstate, state) == 0;
}

const char *
pg__i64(char *buf, int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

int64_t
pg__int(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* ---- the statement cache ---- */

static void
stmt_cache_free(store_conn_t *c)
{
    pg_stmt_t *e, *n;
    int i;

    for (i = 0; i < PG_STMT_BUCKETS; i++) {
        for (e = c->buckets[i]; e; e = n) {
            n = e->next;
            free(e->sql);
            free(e);
        }
        c->buckets[i] = NULL;
    }
}

/* Sets the session up as every connection of the store has it. 0 or -1 with err. */
static int
session_setup(store_conn_t *c, err_t *err)
{
    char sql[160];

    snprintf(sql, sizeof(sql),
             "SET lock_timeout = %d; SET client_min_messages = warning; SET TIME ZONE 'UTC';",
             c->owner->busy_timeout_ms);
    return pg__exec(c, sql, err);
}

/* A connection that broke outside any transaction is made again (its prepared statements are gone with
 * the old session). Inside a transaction it is not: the transaction is lost, and its statement fails. */
static void
revive(store_conn_t *c)
{
    if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_OK || c->depth > 0)
        return;
    PQreset(c->pg);
    stmt_cache_free(c);
    if (PQstatus(c->pg) == CONNECTION_OK)
        session_setup(c, NULL);
}

/* The name of sql's prepared statement on c, preparing it on first use; NULL with err set. */
static const char *
stmt_name(store_conn_t *c, const char *sql, int n, const char *doing, err_t *err)
{
    unsigned b = store__sql_hash(sql) % PG_STMT_BUCKETS;
    PGresult *res;
    pg_stmt_t *e;

    for (e = c->buckets[b]; e; e = e->next)
        if (strcmp(e->sql, sql) == 0)
            return e->name;
    e = calloc(1, sizeof(*e));
    if (e == NULL || (e->sql = strdup(sql)) == NULL) {
        free(e);
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    snprintf(e->name, sizeof(e->name), "w%u", c->next_stmt++);
    res = PQprepare(c->pg, e->name, sql, n, NULL);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg__err(c, res, doing, err);
        PQclear(res);
        free(e->sql);
        free(e);
        return NULL;
    }
    PQclear(res);
    e->next = c->buckets[b];
    c->buckets[b] = e;
    return e->name;
}

PGresult *
pg__query(store_conn_t *c, const char *sql, int n, const char *const *params, const char *doing,
          err_t *err)
{
    const char *name;
    PGresult *res;
    ExecStatusType st;

    assert(c != NULL && sql != NULL && n >= 0);
    revive(c);
    if ((name = stmt_name(c, sql, n, doing, err)) == NULL)
        return NULL;
    res = PQexecPrepared(c->pg, name, n, params, NULL, NULL, 0);
    st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        pg__err(c, res, doing, err);
        PQclear(res);
        return NULL;
    }
    c->sqlstate[0] = '\0';
    return res;
}

int64_t
pg__run(store_conn_t *c, const char *sql, int n, const char *const *params, const char *doing,
        err_t *err)
{
    PGresult *res = pg__query(c, sql, n, params, doing, err);
    const char *rows;
    int64_t changed;

    if (res == NULL)
        return -1;
    rows = PQcmdTuples(res);
    changed = rows && *rows ? strtoll(rows, NULL, 10) : 0;
    PQclear(res);
    return changed;
}

int
pg__exec(store_conn_t *c, const char *sql, err_t *err)
{
    PGresult *res;
    ExecStatusType st;

    revive(c);
    res = PQexec(c->pg, sql);
    st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        pg__err(c, res, "running a statement", err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    c->sqlstate[0] = '\0';
    return 0;
}

/* ---- connections ---- */

static void
quiet(void *arg, const char *message)
{
    (void) arg;
    (void) message; /* notices (an object that exists already, say) are not errors */
}

store_conn_t *
pg_conn_open(store_db_t *db, err_t *err)
{
    store_conn_t *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    c->owner = db;
    c->pg = PQconnectdb(db->conninfo);
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        const char *why = c->pg ? PQerrorMessage(c->pg) : "out of memory";
        err_set(err, ERR_UNAVAILABLE, NULL, "The database could not be reached: %.*s.",
                (int) strcspn(why, "\n"), why);
        PQfinish(c->pg);
        free(c);
        return NULL;
    }
    PQsetNoticeProcessor(c->pg, quiet, NULL);
    if (session_setup(c, err)) {
        PQfinish(c->pg);
        free(c);
        return NULL;
    }
    return c;
}

void
pg_conn_close(store_conn_t *c)
{
    if (c == NULL)
        return;
    assert(c->depth == 0); /* no thread is inside a transaction when the store closes */
    stmt_cache_free(c);
    PQfinish(c->pg);
    free(c);
}

/* ---- open, close, checks ---- */

store_db_t *
pg_open(const char *location, const store_options_t *opts, err_t *err)
{
    store_db_t *db = calloc(1, sizeof(*db));

    if (db == NULL || (db->conninfo = strdup(location)) == NULL) {
        free(db);
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    db->busy_timeout_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    db->migrate_to = opts ? opts->migrate_to : 0;
    pthread_mutex_init(&db->write_gate, NULL);
    pthread_mutex_init(&db->leader_lock, NULL);
    return db;
}

int
pg_prepare(store_db_t *db, store_conn_t *c, err_t *err)
{
    if (PQserverVersion(c->pg) < 120000)
        return err_set(err, ERR_INTERNAL, NULL,
                       "The database server is PostgreSQL %d.%d; wapd needs 12 or later.",
                       PQserverVersion(c->pg) / 10000, PQserverVersion(c->pg) % 10000);
    return pg__migrate(db, c, err);
}

void
pg_close(store_db_t *db)
{
    if (db == NULL)
        return;
    pg__leader_close(db);
    pthread_mutex_destroy(&db->write_gate);
    pthread_mutex_destroy(&db->leader_lock);
    free(db->conninfo);
    free(db);
}

int
pg_schema_version(store_db_t *db)
{
    return db->schema_version;
}

int
pg_ping(store_conn_t *c, err_t *err)
{
    PGresult *res = pg__query(c, "SELECT 1", 0, NULL, "answering a ping", err);

    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* The tables the schema's latest version has (pg_migrate.c): the check finds each of them. */
static const char *const tables[] = {
    "clouds", "hosts", "sizes", "images", "gallery_items", "plans", "users", "tokens",
    "subscriptions", "jobs", "idempotency", "vms", "networks", "nic_ips", "vm_roles",
    "unmanaged_vms", "vm_timeline", "vm_state", "usage_records", "meta", "wap_usage", "events",
    "hooks", "deliveries", "delivery_attempts", "snapshots", "private_images", "admin_tokens",
    "job_leases",
};

/* A cheap check that answers what a daemon needs to know: the schema is at the version this daemon
 * opened it at, every table of it is there and readable, and the server takes writes (not a standby in
 * recovery, not a read-only session). */
int
pg_integrity_check(store_conn_t *c, err_t *err)
{
    char names[1024] = "{";
    const char *params[1];
    PGresult *res;
    size_t i, len = 1;
    int64_t found, version;
    bool recovery, read_only;

    for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        len += (size_t) snprintf(names + len, sizeof(names) - len, "%s%s", i ? "," : "", tables[i]);
    snprintf(names + len, sizeof(names) - len, "}");
    params[0] = names;
    res = pg__query(c,
                    "SELECT (SELECT count(*) FROM pg_catalog.pg_class t"
                    " JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace"
                    " WHERE n.nspname = current_schema() AND t.relkind = 'r'"
                    " AND t.relname = ANY($1::text[])"
                    " AND has_table_privilege(t.oid, 'SELECT, INSERT, UPDATE, DELETE')),"
                    " (SELECT max(version) FROM wapd_schema), pg_is_in_recovery(),"
                    " current_setting('transaction_read_only') = 'on'",
                    1, params, "checking the database", err);
    if (res == NULL)
        return -1;
    found = pg__int(res, 0, 0);
    version = pg__int(res, 0, 1);
    recovery = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    read_only = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    PQclear(res);
    if (found != (int64_t) (sizeof(tables) / sizeof(tables[0])))
        return err_set(err, ERR_INTERNAL, NULL,
                       "The database check failed: %" PRId64 " of the %zu tables are there and usable.",
                       found, sizeof(tables) / sizeof(tables[0]));
    if (version != c->owner->schema_version)
        return err_set(err, ERR_INTERNAL, NULL,
                       "The database check failed: the schema is at version %" PRId64
                       ", not %d as when it opened.",
                       version, c->owner->schema_version);
    if (recovery || read_only)
        return err_set(err, ERR_INTERNAL, NULL,
                       "The database check failed: the server takes no writes (%s).",
                       recovery ? "a standby in recovery" : "read-only");
    return 0;
}

/* Writes a value of that many bytes and drops it again, in the caller's write transaction: meta's value is
 * stored uncompressed (pg_migrate.c), so its commit needs that much room in the write-ahead log and the
 * table, and leaves nothing behind but space the next probe reuses. */
int
pg_write_probe(store_conn_t *c, int64_t bytes, err_t *err)
{
    char n[24];
    const char *params[1] = {pg__i64(n, bytes)};

    if (pg__run(c,
                "INSERT INTO meta(key, value) VALUES ('writeProbe', repeat('x', $1::int))"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                1, params, "probing for room", err) < 0)
        return -1;
    return pg__run(c, "DELETE FROM meta WHERE key = 'writeProbe'", 0, NULL, "probing for room", err) < 0
               ? -1
               : 0;
}

/* The API's backup is one SQLite file; a PostgreSQL database is copied with its own tools. */
int
pg_backup_to(store_conn_t *c, const char *path, err_t *err)
{
    (void) c;
    (void) path;
    return err_set(err, ERR_NOT_IMPLEMENTED, NULL,
                   "A store on PostgreSQL is not copied by wapd; back it up with pg_dump.");
}
