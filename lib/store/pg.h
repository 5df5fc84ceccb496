/*
 * pg.h: what the PostgreSQL backend's files share, and nothing outside them may use: its shared state and
 * per-thread connection, the query helpers, and the functions each file gives to the backend table
 * (pg_backend.c).
 *
 * The backend opens "postgresql://…" locations, handed to libpq unchanged. Several daemons may share one
 * database, so the table leaves single_process false: every read goes to the database.
 *
 * Schema: the same tables and columns as the SQLite backend's, under the same names, with PostgreSQL's
 * types (BIGINT for INTEGER, DOUBLE PRECISION for REAL, BYTEA for BLOB, BIGINT GENERATED ALWAYS AS IDENTITY
 * for an AUTOINCREMENT key); its versions are its own (pg_migrate.c).
 *
 * Transactions: a write transaction takes one transaction-scoped advisory lock (PG_WRITE_LOCK, waited
 * for at most the busy timeout) before its first statement, so write transactions take turns across every
 * daemon of the database, as SQLite's writer does in one process: a read-then-write inside one write
 * transaction sees no other writer. A read transaction is one REPEATABLE READ snapshot and takes no lock.
 * Nested transactions are savepoints.
 *
 * Files: pg_conn.c (connections, the query helpers, open, checks), pg_migrate.c (the schema's versions),
 * pg_tx.c (transactions), pg_rec.c (records mapped to rows), pg_counters.c (idempotency keys, quota
 * counters, host allocation, addresses, unmanaged VMs), pg_usage.c (the VM timeline and usage records),
 * pg_events.c (events and deliveries), pg_jobs.c (the purge of ended jobs, deliveries), pg_stats.c (the
 * figures /metrics reads), pg_leader.c (the leadership of the periodic work).
 *
 * Queries: parameters are text ($1, $2 … in the SQL; NULL for SQL NULL), as libpq sends them; pg__i64
 * writes an integer parameter. pg__query prepares each distinct SQL text once per connection (the
 * connection's statement cache) and answers its result; pg__run runs a statement that returns no rows.
 * Errors are set once, in pg__query, from the server's SQLSTATE (pg__err).
 */
#ifndef WAPD_STORE_PG_H
#define WAPD_STORE_PG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "backend.h"

/* The advisory lock every write transaction holds (pg_advisory_xact_lock's key), the one that
 * serializes schema migrations of daemons starting at once, and the session lock the daemon that leads
 * the periodic work holds on its leader connection (pg_leader.c). */
#define PG_WRITE_LOCK INT64_C(0x7761706477726974)   /* "wapdwrit" */
#define PG_MIGRATE_LOCK INT64_C(0x776170646d696772) /* "wapdmigr" */
#define PG_LEADER_LOCK INT64_C(0x776170646c656164)  /* "wapdlead" */

#define PG_STMT_BUCKETS 256

typedef struct pg_stmt {
    char *sql;
    char name[24]; /* the prepared statement's name on this connection */
    struct pg_stmt *next;
} pg_stmt_t;

struct store_db {
    char *conninfo; /* the location, as store_open was given it */
    int busy_timeout_ms;
    int migrate_to;
    int schema_version;
    uint64_t commits; /* outermost write transactions committed */
    /* Held by the thread whose write transaction is open, from its begin to its end (pg_tx.c): the
     * daemon's writers take turns here first, so at most one connection per daemon waits for
     * PG_WRITE_LOCK on the server. */
    pthread_mutex_t write_gate;
    pthread_mutex_t leader_lock; /* guards leader and leading (pg_leader.c) */
    struct store_conn *leader;   /* the connection that holds PG_LEADER_LOCK or tries for it; NULL: none */
    bool leading;                /* leader holds the lock */
};

struct store_conn {
    PGconn *pg;
    store_db_t *owner;
    int depth;     /* transactions open on this connection (0: none) */
    bool tx_write; /* the open outermost transaction writes */
    bool gated;    /* this connection's thread holds owner->write_gate */
    unsigned next_stmt;
    pg_stmt_t *buckets[PG_STMT_BUCKETS];
    char sqlstate[6]; /* the SQLSTATE of the last failed statement ("" after a success) */
};

/* ---- pg_conn.c: query helpers ---- */
/* Sets err from a failed result (res may be NULL: the connection's own error): 409 Conflict for a
 * constraint (23xxx), 503 for serialization failures, deadlocks, lock timeouts and a lost connection,
 * 503 InsufficientStorage for a full disk (53100), else 500; records the SQLSTATE in c->sqlstate.
 * Returns -1. */
int pg__err(store_conn_t *c, const PGresult *res, const char *doing, err_t *err);
/* Runs sql with n text parameters: the result (PGRES_TUPLES_OK or PGRES_COMMAND_OK), which the caller
 * PQclear()s; NULL with err set. */
PGresult *pg__query(store_conn_t *c, const char *sql, int n, const char *const *params,
                    const char *doing, err_t *err);
/* As pg__query for a statement that returns no rows: the rows it changed (PQcmdTuples), or -1. */
int64_t pg__run(store_conn_t *c, const char *sql, int n, const char *const *params, const char *doing,
                err_t *err);
/* Runs SQL text (several statements allowed) without parameters or the statement cache: 0 or -1. */
int pg__exec(store_conn_t *c, const char *sql, err_t *err);
/* True when the last failed statement's SQLSTATE is state (e.g. "23505", a unique violation). */
bool pg__state_is(const store_conn_t *c, const char *state);
/* Writes v as a text parameter into buf (at least 24 bytes) and answers buf. */
const char *pg__i64(char *buf, int64_t v);
/* The value of a result's cell as an integer (0 for NULL). */
int64_t pg__int(const PGresult *res, int row, int col);

store_db_t *pg_open(const char *location, const store_options_t *opts, err_t *err);
int pg_prepare(store_db_t *db, store_conn_t *c, err_t *err);
void pg_close(store_db_t *db);
store_conn_t *pg_conn_open(store_db_t *db, err_t *err);
void pg_conn_close(store_conn_t *c);
int pg_schema_version(store_db_t *db);
int pg_ping(store_conn_t *c, err_t *err);
int pg_integrity_check(store_conn_t *c, err_t *err);
int pg_write_probe(store_conn_t *c, int64_t bytes, err_t *err);
int pg_backup_to(store_conn_t *c, const char *path, err_t *err);

/* ---- pg_migrate.c ---- */
/* Brings the schema to the latest version (or db->migrate_to), holding PG_MIGRATE_LOCK. */
int pg__migrate(store_db_t *db, store_conn_t *c, err_t *err);

/* ---- pg_tx.c ---- */
store_conn_t *pg_tx_conn(store_db_t *db, store_conn_t *own, store_tx_mode_t mode);
int pg_tx_begin(store_conn_t *c, int depth, store_tx_mode_t mode, err_t *err);
int pg_tx_commit(store_conn_t *c, int depth, err_t *err);
void pg_tx_rollback(store_conn_t *c, int depth);
uint64_t pg_batches(store_db_t *db);

/* ---- pg_leader.c ---- */
int pg_leader_try(store_db_t *db, err_t *err);
/* Gives the leadership up (closes the leader connection); in pg_close. */
void pg__leader_close(store_db_t *db);

/* ---- pg_stats.c ---- */
int pg_job_counts(store_conn_t *c, store_job_count_fn fn, void *arg, err_t *err);
int pg_delivery_backlog(store_conn_t *c, int64_t *pending, int64_t *oldest_ms, err_t *err);
int64_t pg_size_bytes(store_db_t *db);

/* ---- pg_rec.c ---- */
int pg_rec_insert(store_conn_t *c, const store_kind_t *kind, const json_t *rec, err_t *err);
int pg_rec_get_by(store_conn_t *c, const store_kind_t *kind, size_t col, const char *value,
                  json_t **rec, int64_t *rev, err_t *err);
int pg_rec_get_where(store_conn_t *c, const store_kind_t *kind, const char *id, size_t scol,
                     const char *value, json_t **rec, int64_t *rev, err_t *err);
json_t *pg_rec_list(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                    size_t nfilters, int64_t after, int limit, int64_t *next, err_t *err);
int pg_rec_list_keys(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                     size_t nfilters, int64_t after, int limit, store_rec_key_t *keys, int *n,
                     int64_t *next, err_t *err);
int64_t pg_rec_count(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                     size_t nfilters, err_t *err);
int pg_rec_update(store_conn_t *c, const store_kind_t *kind, const char *id, const json_t *rec,
                  int64_t expect_rev, err_t *err);
int pg_rec_delete(store_conn_t *c, const store_kind_t *kind, const char *id, int64_t expect_rev,
                  err_t *err);

/* ---- pg_counters.c ---- */
json_t *pg_idem_lookup(store_conn_t *c, const char *scope, const char *method, const char *path,
                       const char *key, int64_t max_age_ms, err_t *err);
int pg_idem_save(store_conn_t *c, const char *scope, const char *method, const char *path,
                 const char *key, const json_t *answer, err_t *err);
int64_t pg_idem_purge(store_conn_t *c, int64_t max_age_ms, err_t *err);
int pg_usage_get(store_conn_t *c, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err);
int pg_usage_adjust(store_conn_t *c, const char *sid, const int64_t delta[STORE_QUOTAS],
                    const int64_t limit[STORE_QUOTAS], err_t *err);
int pg_usage_set(store_conn_t *c, const char *sid, const int64_t usage[STORE_QUOTAS], err_t *err);
int pg_usage_recompute(store_conn_t *c, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err);
int pg_host_allocate(store_conn_t *c, const char *host_id, int64_t cores, int64_t memory_mb,
                     int64_t storage_gb, err_t *err);
int pg_host_grow_storage(store_conn_t *c, const char *host_id, int64_t storage_gb, err_t *err);
int pg_host_recompute(store_conn_t *c, const char *host_id, int64_t out[3], err_t *err);
int pg_cloud_capacity(store_conn_t *c, const char *cloud_id, int64_t out[7], err_t *err);
int pg_ip_used(store_conn_t *c, const char *network_id, int64_t **ips, size_t *n, err_t *err);
int pg_ip_claim(store_conn_t *c, const char *network_id, const char *vm_id, int64_t ip, err_t *err);
int pg_ip_release_vm(store_conn_t *c, const char *vm_id, err_t *err);
int64_t pg_ip_count(store_conn_t *c, const char *network_id, err_t *err);
int pg_unmanaged_replace(store_conn_t *c, const char *host_id, const json_t *vms, err_t *err);
json_t *pg_unmanaged_list(store_conn_t *c, const char *host_id, err_t *err);
int pg_unmanaged_remove(store_conn_t *c, const char *host_id, const char *hypervisor_id, err_t *err);

/* ---- pg_usage.c ---- */
int pg_timeline_append(store_conn_t *c, const json_t *vm, const char *event, err_t *err);
int pg_timeline_forget(store_conn_t *c, const char *vm_id, err_t *err);
int pg_meta_get(store_conn_t *c, const char *key, int64_t *value, err_t *err);
int pg_meta_set(store_conn_t *c, const char *key, int64_t value, err_t *err);
int pg_timeline_each(store_conn_t *c, int64_t from_ms, int64_t until_ms, const char *after_vm,
                     const char *last_vm, store_timeline_fn fn, void *arg, err_t *err);
int pg_timeline_chunk_end(store_conn_t *c, int64_t from_ms, const char *after_vm, int n, char *out,
                          size_t outn, err_t *err);
int64_t pg_vm_state_prune(store_conn_t *c, int64_t before_ms, err_t *err);
int pg_timeline_first(store_conn_t *c, int64_t *first_ms, err_t *err);
int pg_usage_record_put(store_conn_t *c, const store_usage_rec_t *r, err_t *err);
json_t *pg_usage_records(store_conn_t *c, const char *sid, int64_t after, int64_t from_ms,
                         int64_t to_ms, int limit, int64_t *last, err_t *err);
int pg_wap_usage_put(store_conn_t *c, const store_wap_rec_t *r, err_t *err);
json_t *pg_wap_usage_after(store_conn_t *c, int64_t last_id, int batch, err_t *err);
int pg_usage_issued(store_conn_t *c, int64_t *last_pos, int64_t *last_event_id, err_t *err);
int64_t pg_usage_purge(store_conn_t *c, int64_t acked_pos, int64_t acked_event_id,
                       int64_t older_than_ms, err_t *err);

/* ---- pg_events.c ---- */
int pg_event_add(store_conn_t *c, const json_t *ev, int64_t now_ms, err_t *err);
json_t *pg_events_after(store_conn_t *c, int64_t after, int limit, int64_t *last, err_t *err);
int64_t pg_events_purge(store_conn_t *c, int64_t older_than_ms, err_t *err);

/* ---- pg_jobs.c ---- */
int64_t pg_jobs_purge(store_conn_t *c, int64_t ended_before_ms, int limit, err_t *err);
json_t *pg_deliveries_due(store_conn_t *c, const char *hook_id, int64_t now_ms, int limit, err_t *err);
int pg_delivery_record(store_conn_t *c, int64_t seq, const json_t *attempt, const char *state,
                       int64_t next_ms, err_t *err);
int pg_delivery_next_ms(store_conn_t *c, const char *hook_id, int64_t *next_ms, err_t *err);
json_t *pg_delivery_attempts(store_conn_t *c, const char *hook_id, int64_t after, int limit,
                             int64_t *next, err_t *err);
int pg_delivery_requeue(store_conn_t *c, const char *hook_id, const char *attempt_id, int64_t now_ms,
                        err_t *err);
int64_t pg_deliveries_purge(store_conn_t *c, int64_t older_than_ms, err_t *err);

/* ---- pg_leases.c: job leases, one statement each, outside every transaction ---- */
int pg_job_lease_take(store_conn_t *c, const char *job_id, const char *owner, int64_t now_ms,
                      int64_t until_ms, err_t *err);
int pg_job_leases_renew(store_conn_t *c, const char *owner, int64_t until_ms, err_t *err);
int pg_job_lease_give(store_conn_t *c, const char *job_id, const char *owner, err_t *err);
json_t *pg_jobs_unleased(store_conn_t *c, int64_t now_ms, int limit, err_t *err);
json_t *pg_jobs_leased(store_conn_t *c, const json_t *ids, int64_t now_ms, err_t *err);

#endif
