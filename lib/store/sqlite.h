/*
 * sqlite.h: what the SQLite backend's files share, and nothing outside them may use: its shared state
 * and per-thread connection, the statement cache, and the functions each file gives to the backend table
 * (sqlite_backend.c).
 *
 * Files: sqlite_conn.c (connections, statement cache, open, checks), sqlite_migrate.c (the schema's
 * versions), sqlite_tx.c (transactions and the write gate), sqlite_group.c (group commit: the batch of
 * write transactions that share one COMMIT), sqlite_rec.c (records mapped to rows),
 * sqlite_counters.c (idempotency keys, quota counters, host allocation, addresses, unmanaged VMs),
 * sqlite_usage.c (the VM timeline and usage records), sqlite_events.c (events and deliveries),
 * sqlite_jobs.c (the purge of ended jobs),
 * sqlite_stats.c (the figures /metrics reads).
 *
 * A statement from sqlite__stmt is borrowed from the connection's cache: bind it, step it, and hand it
 * back with sqlite__stmt_done (sqlite__stmt_run does both for statements that return no rows). Errors
 * are set once, where SQLite reports them, by sqlite__db_err.
 */
#ifndef WAPD_STORE_SQLITE_H
#define WAPD_STORE_SQLITE_H

#include <pthread.h>
#include <stdbool.h>

#include <sqlite3.h>

#include "backend.h"

#define STMT_BUCKETS 256
#define QCACHE_SLOTS 256

typedef struct stmt_entry {
    char *sql;
    sqlite3_stmt *stmt;
    struct stmt_entry *next;
} stmt_entry_t;

/* Statements of the generic record operations, found by (kind, operation, detail) without building their
 * SQL text again (sqlite_rec.c). */
typedef struct {
    const store_kind_t *kind;
    int op, detail;
    sqlite3_stmt *stmt; /* owned by the text cache */
} qslot_t;

/* A writer waiting at the gate (sqlite_tx.c). */
typedef struct gate_waiter {
    pthread_cond_t cv;
    struct gate_waiter *next;
} gate_waiter_t;

/* A batch (sqlite_group.c): one BEGIN IMMEDIATE ... COMMIT on the writer connection, holding the logical
 * write transactions committed into it (each was a savepoint) until their shared COMMIT. */
typedef struct batch {
    pthread_cond_t done_cv; /* broadcast, under gate_lock, when the batch has ended */
    int members;            /* logical transactions released into it */
    int refs;               /* members waiting for its end, + 1 while it is the open batch */
    bool done, ok;          /* it ended; it ended with a COMMIT that succeeded */
    bool full;              /* it failed for lack of space */
    int64_t began_us;       /* when its BEGIN ran (monotonic clock) */
} batch_t;

struct store_db {
    char *path;
    int busy_timeout_ms;
    int migrate_to;
    int schema_version;
    /* The write gate: this process's write transactions take turns in arrival order. */
    pthread_mutex_t gate_lock;
    bool gate_held;
    gate_waiter_t *gate_head, *gate_tail;
    /* Group commit: every write transaction runs on the one writer connection, while holding the gate,
     * inside the open batch. batch changes only while holding both the gate and gate_lock. */
    store_conn_t *writer;
    batch_t *batch;
    int batch_members_max; /* a batch this full, or this old, commits instead of waiting for more */
    int batch_age_us;
    uint64_t batches; /* batches committed: COMMITs, each one WAL fsync (atomic) */
};

struct store_conn {
    sqlite3 *db;
    store_db_t *owner;
    bool tx_gate;    /* the open transaction holds the write gate */
    bool tx_bulk;    /* the open transaction has the large page cache */
    bool tx_alone;   /* the open transaction is alone in its batch (STORE_TX_ALONE) */
    int cache_kib;   /* the page cache it has outside bulk transactions */
    stmt_entry_t *buckets[STMT_BUCKETS];
    qslot_t q[QCACHE_SLOTS];
};

/* ---- sqlite_conn.c ---- */
/* Sets err from SQLite's answer rc (409 on constraints, 503 when busy, 503 InsufficientStorage when the
 * disk is full) and returns -1. */
int sqlite__db_err(sqlite3 *db, int rc, const char *doing, err_t *err);
/* True when SQLite's answer rc (or db's last error) says the disk or the database is full. */
bool sqlite__full(sqlite3 *db, int rc);
/* Runs SQL text (several statements allowed) without the statement cache. */
int sqlite__exec(store_conn_t *c, const char *sql, err_t *err);
/* Runs one statement (BEGIN, COMMIT, SAVEPOINT …) through the statement cache. */
int sqlite__run(store_conn_t *c, const char *sql, err_t *err);
/* A reset prepared statement for sql, from the connection's cache; NULL with err set. */
sqlite3_stmt *sqlite__stmt(store_conn_t *c, const char *sql, err_t *err);
void sqlite__stmt_done(sqlite3_stmt *s);
/* Runs a statement that returns no rows and hands it back. Returns sqlite3_changes() or -1. */
int sqlite__stmt_run(store_conn_t *c, sqlite3_stmt *s, const char *doing, err_t *err);
store_db_t *sqlite_open(const char *location, const store_options_t *opts, err_t *err);
int sqlite_prepare(store_db_t *db, store_conn_t *c, err_t *err);
void sqlite_close(store_db_t *db);
store_conn_t *sqlite_conn_open(store_db_t *db, err_t *err);
void sqlite_conn_close(store_conn_t *c);
int sqlite_schema_version(store_db_t *db);
int sqlite_ping(store_conn_t *c, err_t *err);
int sqlite_integrity_check(store_conn_t *c, err_t *err);
int sqlite_write_probe(store_conn_t *c, int64_t bytes, err_t *err);
int sqlite_backup_to(store_conn_t *c, const char *path, err_t *err);

/* ---- sqlite_migrate.c ---- */
/* Brings the schema to the latest version (or db->migrate_to) in one transaction. */
int sqlite__migrate(store_db_t *db, store_conn_t *c, err_t *err);

/* Opens a connection with a page cache of cache_kib KiB. */
store_conn_t *sqlite__conn_open(store_db_t *db, int cache_kib, err_t *err);

/* ---- sqlite_tx.c ---- */
store_conn_t *sqlite_tx_conn(store_db_t *db, store_conn_t *own, store_tx_mode_t mode);
int sqlite_tx_begin(store_conn_t *c, int depth, store_tx_mode_t mode, err_t *err);
int sqlite_tx_commit(store_conn_t *c, int depth, err_t *err);
void sqlite_tx_rollback(store_conn_t *c, int depth);
/* How many write transactions wait for their turn at the gate. */
int sqlite__gate_waiters(store_db_t *db);
/* The gate: enter waits for the turn (bounded by the busy timeout: -1 with 503); release gives it to the
 * next waiter. Neither touches a batch. */
int sqlite__gate_enter(store_db_t *db, err_t *err);
void sqlite__gate_release(store_db_t *db);

/* ---- sqlite_group.c ---- */
/* With the gate held: a batch is open on the writer (opened when none was). */
int sqlite__batch_join(store_db_t *db, err_t *err);
/* With the gate held and the member's savepoint gone (released into the batch with committed, else rolled
 * back): the member leaves the batch and the gate. If writers wait and the batch is young and small, the
 * gate passes on with the batch open; else the batch commits. A committed member returns once the batch
 * has ended: 0 when its COMMIT succeeded, -1 with err when it failed. solo: end the batch now (bulk,
 * alone). */
int sqlite__batch_leave(store_db_t *db, bool committed, bool solo, err_t *err);
/* With the gate held and no member inside the batch: commits the open batch (if any) and wakes its
 * members, so that the next write transaction begins a batch of its own. */
void sqlite__batch_flush(store_db_t *db);
/* gate_lock held, the gate free, nobody waiting at it: ends an open batch that waits for a committer
 * (whoever leaves the gate last commits). Returns with gate_lock held. */
void sqlite__batch_orphaned(store_db_t *db);
uint64_t sqlite_batches(store_db_t *db);

/* ---- sqlite_stats.c ---- */
int sqlite_job_counts(store_conn_t *c, store_job_count_fn fn, void *arg, err_t *err);
int sqlite_delivery_backlog(store_conn_t *c, int64_t *pending, int64_t *oldest_ms, err_t *err);
int64_t sqlite_size_bytes(store_db_t *db);

/* ---- sqlite_backend.c ---- */
/* Test hook: sqlite__gate_waiters of a store this backend serves. */
int store_sqlite__gate_waiters(store_t *st);
/* Test hooks: the bounds of a batch (members, age in microseconds), and the writer connection (to install
 * a commit hook that fails its COMMIT). */
void store_sqlite__batch_bounds(store_t *st, int members, int age_us);
sqlite3 *store_sqlite__writer(store_t *st);

/* ---- sqlite_rec.c ---- */
int sqlite_rec_insert(store_conn_t *c, const store_kind_t *kind, const json_t *rec, err_t *err);
int sqlite_rec_get_by(store_conn_t *c, const store_kind_t *kind, size_t col, const char *value,
                      json_t **rec, int64_t *rev, err_t *err);
int sqlite_rec_get_where(store_conn_t *c, const store_kind_t *kind, const char *id, size_t scol,
                         const char *value, json_t **rec, int64_t *rev, err_t *err);
json_t *sqlite_rec_list(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                        size_t nfilters, int64_t after, int limit, int64_t *next, err_t *err);
int sqlite_rec_list_keys(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                         size_t nfilters, int64_t after, int limit, store_rec_key_t *keys, int *n,
                         int64_t *next, err_t *err);
int64_t sqlite_rec_count(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                         size_t nfilters, err_t *err);
int sqlite_rec_update(store_conn_t *c, const store_kind_t *kind, const char *id, const json_t *rec,
                      int64_t expect_rev, err_t *err);
int sqlite_rec_delete(store_conn_t *c, const store_kind_t *kind, const char *id,
                      int64_t expect_rev, err_t *err);

/* ---- sqlite_counters.c ---- */
json_t *sqlite_idem_lookup(store_conn_t *c, const char *scope, const char *method, const char *path,
                           const char *key, int64_t max_age_ms, err_t *err);
int sqlite_idem_save(store_conn_t *c, const char *scope, const char *method, const char *path,
                     const char *key, const json_t *answer, err_t *err);
int64_t sqlite_idem_purge(store_conn_t *c, int64_t max_age_ms, err_t *err);
int sqlite_usage_get(store_conn_t *c, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err);
int sqlite_usage_adjust(store_conn_t *c, const char *sid, const int64_t delta[STORE_QUOTAS],
                        const int64_t limit[STORE_QUOTAS], err_t *err);
int sqlite_usage_set(store_conn_t *c, const char *sid, const int64_t usage[STORE_QUOTAS],
                     err_t *err);
int sqlite_usage_recompute(store_conn_t *c, const char *sid, int64_t usage[STORE_QUOTAS],
                           err_t *err);
int sqlite_host_allocate(store_conn_t *c, const char *host_id, int64_t cores, int64_t memory_mb,
                         int64_t storage_gb, err_t *err);
int sqlite_host_grow_storage(store_conn_t *c, const char *host_id, int64_t storage_gb, err_t *err);
int sqlite_host_recompute(store_conn_t *c, const char *host_id, int64_t out[3], err_t *err);
int sqlite_cloud_capacity(store_conn_t *c, const char *cloud_id, int64_t out[7], err_t *err);
int sqlite_ip_used(store_conn_t *c, const char *network_id, int64_t **ips, size_t *n,
                   err_t *err);
int sqlite_ip_claim(store_conn_t *c, const char *network_id, const char *vm_id, int64_t ip,
                    err_t *err);
int sqlite_ip_release_vm(store_conn_t *c, const char *vm_id, err_t *err);
int64_t sqlite_ip_count(store_conn_t *c, const char *network_id, err_t *err);
int sqlite_unmanaged_replace(store_conn_t *c, const char *host_id, const json_t *vms, err_t *err);
json_t *sqlite_unmanaged_list(store_conn_t *c, const char *host_id, err_t *err);
int sqlite_unmanaged_remove(store_conn_t *c, const char *host_id, const char *hypervisor_id,
                            err_t *err);

/* ---- sqlite_usage.c ---- */
int sqlite_timeline_append(store_conn_t *c, const json_t *vm, const char *event, err_t *err);
int sqlite_timeline_forget(store_conn_t *c, const char *vm_id, err_t *err);
int sqlite_meta_get(store_conn_t *c, const char *key, int64_t *value, err_t *err);
int sqlite_meta_set(store_conn_t *c, const char *key, int64_t value, err_t *err);
int sqlite_timeline_each(store_conn_t *c, int64_t from_ms, int64_t until_ms, const char *after_vm,
                         const char *last_vm, store_timeline_fn fn, void *arg, err_t *err);
int sqlite_timeline_chunk_end(store_conn_t *c, int64_t from_ms, const char *after_vm, int n,
                              char *out, size_t outn, err_t *err);
int64_t sqlite_vm_state_prune(store_conn_t *c, int64_t before_ms, err_t *err);
int sqlite_timeline_first(store_conn_t *c, int64_t *first_ms, err_t *err);
int sqlite_usage_record_put(store_conn_t *c, const store_usage_rec_t *r, err_t *err);
json_t *sqlite_usage_records(store_conn_t *c, const char *sid, int64_t after, int64_t from_ms,
                             int64_t to_ms, int limit, int64_t *last, err_t *err);
int sqlite_wap_usage_put(store_conn_t *c, const store_wap_rec_t *r, err_t *err);
json_t *sqlite_wap_usage_after(store_conn_t *c, int64_t last_id, int batch, err_t *err);
int sqlite_usage_issued(store_conn_t *c, int64_t *last_pos, int64_t *last_event_id, err_t *err);
int64_t sqlite_usage_purge(store_conn_t *c, int64_t acked_pos, int64_t acked_event_id, int64_t older_than_ms,
                           err_t *err);

/* ---- sqlite_events.c ---- */
int sqlite_event_add(store_conn_t *c, const json_t *ev, int64_t now_ms, err_t *err);
json_t *sqlite_events_after(store_conn_t *c, int64_t after, int limit, int64_t *last, err_t *err);
int64_t sqlite_events_purge(store_conn_t *c, int64_t older_than_ms, err_t *err);

/* ---- sqlite_jobs.c ---- */
int64_t sqlite_jobs_purge(store_conn_t *c, int64_t ended_before_ms, int limit, err_t *err);
int sqlite_job_lease_take(store_conn_t *c, const char *job_id, const char *owner, int64_t now_ms,
                          int64_t until_ms, err_t *err);
int sqlite_job_leases_renew(store_conn_t *c, const char *owner, int64_t until_ms, err_t *err);
int sqlite_job_lease_give(store_conn_t *c, const char *job_id, const char *owner, err_t *err);
json_t *sqlite_jobs_unleased(store_conn_t *c, int64_t now_ms, int limit, err_t *err);
json_t *sqlite_jobs_leased(store_conn_t *c, const json_t *ids, int64_t now_ms, err_t *err);
json_t *sqlite_deliveries_due(store_conn_t *c, const char *hook_id, int64_t now_ms, int limit,
                              err_t *err);
int sqlite_delivery_record(store_conn_t *c, int64_t seq, const json_t *attempt, const char *state,
                           int64_t next_ms, err_t *err);
int sqlite_delivery_next_ms(store_conn_t *c, const char *hook_id, int64_t *next_ms, err_t *err);
json_t *sqlite_delivery_attempts(store_conn_t *c, const char *hook_id, int64_t after, int limit,
                                 int64_t *next, err_t *err);
int sqlite_delivery_requeue(store_conn_t *c, const char *hook_id, const char *attempt_id,
                            int64_t now_ms, err_t *err);
int64_t sqlite_deliveries_purge(store_conn_t *c, int64_t older_than_ms, err_t *err);

#endif
