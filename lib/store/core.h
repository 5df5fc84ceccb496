/*
 * core.h: the state of the store's neutral layer, shared by its files (store.c: opening, threads, the
 * fault wrapper and transactions; cache.c: change counters and the record cache; records.c and
 * dispatch.c: the public calls). No backend includes it: backends see only backend.h.
 *
 * Invariants:
 * - One store_thread_t per thread that has used the store, found with one pthread_getspecific per call; it
 *   holds the connection its calls use now (conn: the backend's connection for the open write transaction,
 *   else the thread's own), so a call looks up nothing else. conn is own whenever tx_depth is 0.
 * - A write call made with no transaction open runs in an implicit write transaction of its own
 *   (store__write_call, store__write_done), so every write reaches the backend inside a transaction.
 * - tx_depth >= 0 always; written and the on-commit hooks are empty whenever tx_depth is 0.
 * - gen[k] (the change counter of kind k) only grows, and grows after every commit that wrote kind k; a
 *   cached record is used only while the counter still has the value it had before the record was read.
 * - committing[k] counts the commits of kind k under way: raised before the backend commits, lowered after
 *   gen[k] has grown. While it is not 0 no thread uses or fills the cache of kind k, so a reader that saw
 *   a commit land (a job that ended) never gets a cached record from before it in the moment between the
 *   commit and the counter's growth.
 */
#ifndef WAPD_STORE_CORE_H
#define WAPD_STORE_CORE_H

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../fault.h"
#include "backend.h"

#define ON_COMMIT_MAX 16
#define RCACHE_SLOTS 512

typedef struct {
    void (*fn)(void *arg);   /* runs once the outermost transaction commits */
    void (*drop)(void *arg); /* runs instead when the transaction it was added in rolls back (may be NULL) */
    void *arg;
    int depth; /* the transaction depth it belongs to: a nested commit hands it to the enclosing one */
} on_commit_t;

/* One cached single-record read: (kind, col, value) -> rec at revision rev, current while the kind's
 * change counter equals tag. sum fingerprints rec's contents when asserts are on: a shared record that
 * someone modified is caught at its next use. */
typedef struct {
    const store_kind_t *kind;
    int col;
    char *value;
    json_t *rec;
    int64_t rev;
    uint64_t tag;
    uint64_t sum;
} rslot_t;

typedef struct store_thread {
    store_conn_t *conn; /* the connection calls use now: own, or the open transaction's */
    store_conn_t *own;  /* the backend's connection of this thread */
    store_conn_t *side; /* a second one, for job leases asked while a transaction is open (NULL: none yet) */
    int tx_depth;
    bool implicit;                /* the open transaction is a write call's implicit one */
    bool tx_write;                /* the open transaction may write: bypass the record cache */
    unsigned written;             /* kinds written in the open transaction (bit per kind index) */
    uint64_t tx_gen[STORE_KINDS]; /* change counters when the open read transaction began */
    on_commit_t on_commit[ON_COMMIT_MAX];
    int n_on_commit;
    rslot_t rc[RCACHE_SLOTS];
    struct store_thread *next;
} store_thread_t;

struct store {
    const store_backend_t *be;
    store_db_t *db; /* the backend's shared state */
    char *location; /* as store_open was given it (store_backup_temp's directory) */
    pthread_key_t key;
    pthread_mutex_t lock; /* guards threads */
    store_thread_t *threads;
    uint64_t gen[STORE_KINDS];   /* change counters, atomic */
    int committing[STORE_KINDS]; /* commits under way per kind, atomic */
    uint64_t reads[STORE_KINDS]; /* single-record reads asked of the store, atomic (store__reads) */
    uint64_t commits;            /* outermost write transactions committed, atomic (store_commits) */
    int full; /* the last write failed for lack of space (InsufficientStorage), atomic (store_storage_full) */
    int leader; /* the last answer of store_leader_try was 1, atomic (store_is_leader) */
};

/* store.c: a thread's first call opens its state and its connection; NULL with err set. */
store_thread_t *store__thread_new(store_t *st, err_t *err);
/* store.c: the fault wrapper's slow path: sets err for the call fault_hit(FAULT_STORE) chose to fail and
 * returns -1. */
int store__injected(err_t *err);

/* The calling thread's state (its connection opened on first use), or NULL with err set. Hot: one
 * pthread_getspecific. */
static inline store_thread_t *
store__thread(store_t *st, err_t *err)
{
    store_thread_t *t;

    assert(st != NULL);
    t = pthread_getspecific(st->key);
    return t != NULL ? t : store__thread_new(st, err);
}

/* The calling thread's state for one store call: store__thread, then the fault wrapper (the FAULT_STORE
 * class of lib/fault.h; each call that reaches it counts once): NULL with err set when the call is to
 * fail. */
static inline store_thread_t *
store__call(store_t *st, err_t *err)
{
    store_thread_t *t = store__thread(st, err);

    if (t == NULL || (fault_hit(FAULT_STORE) && store__injected(err)))
        return NULL;
    return t;
}

/* store.c: for a call that writes, given the thread state t from store__call (or store__thread, or NULL
 * with err set): when no transaction is open, opens an implicit write transaction around the call.
 * Returns t, or NULL with err. End the call with store__write_done (STORE_WRITE below), given the
 * backend's answer rc (-1 failed, else success): it commits the implicit transaction (a failed commit
 * makes the answer -1 with err) or rolls it back, and returns the answer. */
store_thread_t *store__write_open(store_t *st, store_thread_t *t, err_t *err);
int64_t store__write_done(store_t *st, store_thread_t *t, int64_t rc, err_t *err);
/* The answer of a write call: -1 when t is NULL (call is not evaluated), else call's answer through
 * store__write_done. */
#define STORE_WRITE(st, t, call, err) ((t) == NULL ? -1 : store__write_done((st), (t), (call), (err)))

/* cache.c: the change counters. After a successful write of kind: bump now (no transaction open) or
 * when the transaction commits (store__commit_written). */
void store__note_write(store_t *st, store_thread_t *t, const store_kind_t *kind);
void store__commit_written(store_t *st, store_thread_t *t);
/* Before the outermost commit of a transaction that wrote: its kinds are under way (see committing). End
 * with store__commit_written (committed) or store__commit_abandoned (it did not commit). */
void store__commit_begin(store_t *st, store_thread_t *t);
void store__commit_abandoned(store_t *st, store_thread_t *t);
/* Snapshot of the counters, taken as a read transaction begins. */
void store__snapshot_gen(store_t *st, store_thread_t *t);
/* A single-record read through the record cache (when the backend allows one and no write transaction
 * is open): 0 with *rec (a copy, or with shared a reference to the cached record) and *rev; 1 when there
 * is none; -1 with err. */
int store__cached_get(store_t *st, store_thread_t *t, const store_kind_t *kind, size_t col,
                      const char *value, bool shared, json_t **rec, int64_t *rev, err_t *err);
/* As store__cached_get by id, for the record whose column scol also equals value (store_rec_lookup_where):
 * a cached record of another value is passed over and the backend asked, as for a missing id. */
int store__cached_get_where(store_t *st, store_thread_t *t, const store_kind_t *kind, const char *id,
                            size_t scol, const char *value, bool shared, json_t **rec, int64_t *rev,
                            err_t *err);
/* Releases every cached record of a thread. */
void store__cache_free(store_thread_t *t);

#endif
