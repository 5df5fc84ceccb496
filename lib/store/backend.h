/*
 * backend.h: the store's backend table.
 *
 * A backend is one static table of typed function pointers, as libvirt's drivers are, filled by one
 * backend file and registered once (store__backend_register). The neutral layer (lib/store/store.c,
 * records.c, dispatch.c) is the only code that calls through a table: it does the shared work once for
 * every backend (argument asserts, the fault wrapper, transaction depth and on-commit hooks, the change
 * counters, the record cache, the read counters) and calls the backend for what only the backend knows.
 *
 * What a backend provides:
 * - a shared state (store_db_t) opened once per store, and a connection (store_conn_t) per thread, opened
 *   by the neutral layer on a thread's first call and closed with the store. Each backend defines
 *   struct store_db and struct store_conn for itself; no other file sees inside them.
 * - transactions: begin/commit/rollback are told the depth, so nesting is the neutral layer's count and a
 *   backend only maps it to its own statements. A failed outermost commit leaves nothing open. An
 *   outermost commit returns only once the transaction is durable (a backend may make several threads'
 *   transactions durable with one commit: group commit), and fails if that commit failed.
 * - every store call of store.h below the transactions, with the same contract as there, except that:
 *   a single-record read answers 1 for "none" (the neutral layer writes the 404); an insert answers 1
 *   when a record already holds one of the new record's unique values (the neutral layer writes the 409
 *   where its caller wants one); an update or delete
 *   answers how many records it changed (the neutral layer explains a 0: 404 or 412); and a backend
 *   never counts writes (the neutral layer bumps the change counters from the answers).
 *
 * Every slot is required: a backend implements the whole contract, which the conformance suite
 * (tests/unit/test_store_conformance.c) checks.
 *
 * Ownership is as in store.h: records and strings passed in are borrowed, JSON returned is new.
 */
#ifndef WAPD_STORE_BACKEND_H
#define WAPD_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../store.h"
#include "kind.h"

typedef struct store_db store_db_t;     /* a backend's state shared by every thread of one store */
typedef struct store_conn store_conn_t; /* a backend's connection, used by one thread only */

typedef enum {
    STORE_TX_WRITE, /* a write transaction */
    STORE_TX_READ,  /* a read transaction: one snapshot */
    STORE_TX_BULK,  /* a write transaction that will write many rows */
    STORE_TX_ALONE, /* a write transaction whose commit is its own: no other write transaction's changes
                     * share it, so its failure fails no other (store_write_probe) */
} store_tx_mode_t;

typedef struct store_backend {
    const char *name;   /* the backend's name: what store_backend_name answers */
    const char *scheme; /* the locations it opens are "<scheme>://…"; NULL: file paths */
    /* One process owns the database: a commit of another process can never change what this one has
     * read, so the neutral layer's change counters are the truth and its record cache may serve reads.
     * A backend shared by several processes leaves this false and every read goes to it. */
    bool single_process;

    store_db_t *(*open)(const char *location, const store_options_t *opts, err_t *err);
    /* Checks the database and brings its schema up to date, on the opening thread's connection. */
    int (*prepare)(store_db_t *db, store_conn_t *c, err_t *err);
    /* After every connection is closed. */
    void (*close)(store_db_t *db);
    store_conn_t *(*conn_open)(store_db_t *db, err_t *err);
    void (*conn_close)(store_conn_t *c);
    int (*schema_version)(store_db_t *db);
    int (*ping)(store_conn_t *c, err_t *err);
    int (*integrity_check)(store_conn_t *c, err_t *err);
    /* store_write_probe's write, inside the write transaction the neutral layer opened: changes that need
     * room for bytes and that leave no record behind. 0, or -1 with err. */
    int (*write_probe)(store_conn_t *c, int64_t bytes, err_t *err);
    /* Copies the whole database, as c sees it (its open read transaction's snapshot, or one taken for the
     * copy), into a new database at path; the copy is complete and durable when this returns 0. */
    int (*backup_to)(store_conn_t *c, const char *path, err_t *err);

    /* Commits that made write transactions durable (for a backend that groups them, fewer than the
     * transactions). */
    uint64_t (*batches)(store_db_t *db);
    /* store_job_counts, store_delivery_backlog, store_size_bytes: reads, for /metrics. */
    int (*job_counts)(store_conn_t *c, store_job_count_fn fn, void *arg, err_t *err);
    int (*delivery_backlog)(store_conn_t *c, int64_t *pending, int64_t *oldest_ms, err_t *err);
    int64_t (*size_bytes)(store_db_t *db);

    /* The connection an outermost transaction of mode runs on, for a thread whose own connection is own:
     * every call made inside that transaction goes to it, and to own again after it ended. A backend
     * with one shared writer connection answers it for write and bulk transactions. */
    store_conn_t *(*tx_conn)(store_db_t *db, store_conn_t *own, store_tx_mode_t mode);
    /* depth: the transactions open before this one (0: it is the outermost). */
    int (*tx_begin)(store_conn_t *c, int depth, store_tx_mode_t mode, err_t *err);
    /* depth: the transactions open, this one included (1: the outermost). */
    int (*tx_commit)(store_conn_t *c, int depth, err_t *err);
    void (*tx_rollback)(store_conn_t *c, int depth);

    /* 0 when inserted; 1 when a record holds one of rec's unique values (nothing changed, err
     * untouched); -1 with err (409 for a reference to a missing record). */
    int (*rec_insert)(store_conn_t *c, const store_kind_t *kind, const json_t *rec, err_t *err);
    /* The first record whose column col equals value: 0 with *rec and *rev; 1 when none; -1 with err. */
    int (*rec_get_by)(store_conn_t *c, const store_kind_t *kind, size_t col, const char *value,
                      json_t **rec, int64_t *rev, err_t *err);
    /* The record with that id whose column scol (a text column, not the id) equals value, found by both
     * at once: 0 with *rec and *rev; 1 when none (no such id, or another value in scol), which costs what
     * a missing id does; -1 with err. */
    int (*rec_get_where)(store_conn_t *c, const store_kind_t *kind, const char *id, size_t scol,
                         const char *value, json_t **rec, int64_t *rev, err_t *err);
    json_t *(*rec_list)(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                        size_t nfilters, int64_t after, int limit, int64_t *next, err_t *err);
    /* store_rec_list_keys: the page's (position, id, revision) only. */
    int (*rec_list_keys)(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                         size_t nfilters, int64_t after, int limit, store_rec_key_t *keys, int *n,
                         int64_t *next, err_t *err);
    int64_t (*rec_count)(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                         size_t nfilters, err_t *err);
    /* How many records changed (0: none has that id, or not at that revision), or -1 with err. */
    int (*rec_update)(store_conn_t *c, const store_kind_t *kind, const char *id, const json_t *rec,
                      int64_t expect_rev, err_t *err);
    int (*rec_delete)(store_conn_t *c, const store_kind_t *kind, const char *id, int64_t expect_rev,
                      err_t *err);

    json_t *(*idem_lookup)(store_conn_t *c, const char *scope, const char *method, const char *path,
                           const char *key, int64_t max_age_ms, err_t *err);
    int (*idem_save)(store_conn_t *c, const char *scope, const char *method, const char *path,
                     const char *key, const json_t *answer, err_t *err);
    int64_t (*idem_purge)(store_conn_t *c, int64_t max_age_ms, err_t *err);

    int (*usage_get)(store_conn_t *c, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err);
    int (*usage_adjust)(store_conn_t *c, const char *sid, const int64_t delta[STORE_QUOTAS],
                        const int64_t limit[STORE_QUOTAS], err_t *err);
    int (*usage_set)(store_conn_t *c, const char *sid, const int64_t usage[STORE_QUOTAS],
                     err_t *err);
    int (*usage_recompute)(store_conn_t *c, const char *sid, int64_t usage[STORE_QUOTAS],
                           err_t *err);
    int (*host_allocate)(store_conn_t *c, const char *host_id, int64_t cores, int64_t memory_mb,
                         int64_t storage_gb, err_t *err);
    int (*host_grow_storage)(store_conn_t *c, const char *host_id, int64_t storage_gb, err_t *err);
    int (*host_recompute)(store_conn_t *c, const char *host_id, int64_t out[3], err_t *err);
    int (*cloud_capacity)(store_conn_t *c, const char *cloud_id, int64_t out[7], err_t *err);
    int (*ip_used)(store_conn_t *c, const char *network_id, int64_t **ips, size_t *n, err_t *err);
    /* As store_ip_claim: 1 claimed, 0 taken already (the backend's uniqueness decides, under
     * concurrent claims too), -1 with err. */
    int (*ip_claim)(store_conn_t *c, const char *network_id, const char *vm_id, int64_t ip,
                    err_t *err);
    int (*ip_release_vm)(store_conn_t *c, const char *vm_id, err_t *err);
    int64_t (*ip_count)(store_conn_t *c, const char *network_id, err_t *err);
    int (*unmanaged_replace)(store_conn_t *c, const char *host_id, const json_t *vms, err_t *err);
    json_t *(*unmanaged_list)(store_conn_t *c, const char *host_id, err_t *err);
    int (*unmanaged_remove)(store_conn_t *c, const char *host_id, const char *hypervisor_id,
                            err_t *err);

    int (*timeline_append)(store_conn_t *c, const json_t *vm, const char *event, err_t *err);
    int (*timeline_forget)(store_conn_t *c, const char *vm_id, err_t *err);
    int (*meta_get)(store_conn_t *c, const char *key, int64_t *value, err_t *err);
    int (*meta_set)(store_conn_t *c, const char *key, int64_t value, err_t *err);
    int (*timeline_each)(store_conn_t *c, int64_t from_ms, int64_t until_ms, const char *after_vm,
                         const char *last_vm, store_timeline_fn fn, void *arg, err_t *err);
    int (*timeline_chunk_end)(store_conn_t *c, int64_t from_ms, const char *after_vm, int n,
                              char *out, size_t outn, err_t *err);
    int64_t (*vm_state_prune)(store_conn_t *c, int64_t before_ms, err_t *err);
    int (*timeline_first)(store_conn_t *c, int64_t *first_ms, err_t *err);
    int (*usage_record_put)(store_conn_t *c, const store_usage_rec_t *r, err_t *err);
    json_t *(*usage_records)(store_conn_t *c, const char *sid, int64_t after, int64_t from_ms,
                             int64_t to_ms, int limit, int64_t *last, err_t *err);
    int (*wap_usage_put)(store_conn_t *c, const store_wap_rec_t *r, err_t *err);
    json_t *(*wap_usage_after)(store_conn_t *c, int64_t last_id, int batch, err_t *err);
    int (*usage_issued)(store_conn_t *c, int64_t *last_pos, int64_t *last_event_id, err_t *err);
    int64_t (*usage_purge)(store_conn_t *c, int64_t acked_pos, int64_t acked_event_id,
                           int64_t older_than_ms, err_t *err);

    int (*event_add)(store_conn_t *c, const json_t *ev, int64_t now_ms, err_t *err);
    json_t *(*events_after)(store_conn_t *c, int64_t after, int limit, int64_t *last, err_t *err);
    int64_t (*events_purge)(store_conn_t *c, int64_t older_than_ms, err_t *err);
    /* store_jobs_purge: at most limit ended jobs whose end is before ended_before_ms; how many, or -1. */
    int64_t (*jobs_purge)(store_conn_t *c, int64_t ended_before_ms, int limit, err_t *err);
    /* Job leases (store.h), each one statement on c, on which no transaction is open (the neutral layer
     * hands a second connection of the thread's when its own has one). A backend of one process
     * (single_process) answers as store.h says: take 1, renew and give 0, unleased an empty list. */
    int (*job_lease_take)(store_conn_t *c, const char *job_id, const char *owner, int64_t now_ms,
                          int64_t until_ms, err_t *err);
    int (*job_leases_renew)(store_conn_t *c, const char *owner, int64_t until_ms, err_t *err);
    int (*job_lease_give)(store_conn_t *c, const char *job_id, const char *owner, err_t *err);
    json_t *(*jobs_unleased)(store_conn_t *c, int64_t now_ms, int limit, err_t *err);
    /* store_jobs_leased: a read on the thread's connection, in its open transaction if any. */
    json_t *(*jobs_leased)(store_conn_t *c, const json_t *ids, int64_t now_ms, err_t *err);
    json_t *(*deliveries_due)(store_conn_t *c, const char *hook_id, int64_t now_ms, int limit,
                              err_t *err);
    int (*delivery_record)(store_conn_t *c, int64_t seq, const json_t *attempt, const char *state,
                           int64_t next_ms, err_t *err);
    int (*delivery_next_ms)(store_conn_t *c, const char *hook_id, int64_t *next_ms, err_t *err);
    json_t *(*delivery_attempts)(store_conn_t *c, const char *hook_id, int64_t after, int limit,
                                 int64_t *next, err_t *err);
    int (*delivery_requeue)(store_conn_t *c, const char *hook_id, const char *attempt_id,
                            int64_t now_ms, err_t *err);
    int64_t (*deliveries_purge)(store_conn_t *c, int64_t older_than_ms, err_t *err);

    /* store_leader_try, for the whole store (not a thread's connection): 1 leads, 0 another process
     * does, -1 with err (and not leading). A backend that holds the leadership on a connection keeps that
     * connection itself, apart from the threads' ones, and gives it up in close. A single_process backend
     * answers 1. */
    int (*leader_try)(store_db_t *db, err_t *err);
} store_backend_t;

/* Adds a backend to the ones store_open can choose from. Called once per backend, before main (a
 * backend file registers its table from a constructor), so no list elsewhere has to name it. */
void store__backend_register(const store_backend_t *be);
/* The backend's shared state of a store its table serves (for the backend's own test hooks). */
store_db_t *store__db(store_t *st);

#endif
