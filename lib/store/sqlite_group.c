/*
 * sqlite_group.c: group commit for the SQLite backend. Write transactions that queue at the write
 * gate share one COMMIT (one WAL fsync) instead of paying one each.
 *
 * Every write transaction runs on the store's one writer connection while it holds the gate. The
 * first one opens a batch (BEGIN IMMEDIATE); each is the savepoint "m" inside it. At its logical
 * commit it releases its savepoint into the batch and then, if other writers wait at the gate and
 * the batch is young and small, hands the gate on with the batch still open and waits for the batch
 * to end; else it commits the batch and wakes every member. A logical rollback is ROLLBACK TO its
 * savepoint: the rest of the batch is unaffected.
 *
 * Invariants:
 * - A member returns from its commit only after the batch's COMMIT has returned: 0 when it
 * succeeded (its writes are on disk), -1 when it failed (then every member of the batch fails, and
 * none has answered).
 * - A batch is open only while the gate is held or a thread holding gate_lock is about to take it:
 * the gate passes on with an open batch only to a waiting writer, and whoever leaves the gate last
 * with a batch open (a committing member, or a waiter that gave up) ends the batch. No batch waits
 * for a committer that will not come.
 * - If SQLite aborted the batch's transaction (IOERR, FULL, NOMEM: sqlite3_get_autocommit is true
 * again), the batch ends at once, failed, and every member of it fails.
 * - A batch that failed for lack of space (SQLITE_FULL, or ENOSPC under an IOERR) fails every member with
 *   InsufficientStorage (503), the others with InternalError.
 * - A batch ends (and a bulk transaction's large page cache is given back) while the gate is held.
 * - A transaction alone (STORE_TX_ALONE, the full-disk probe) is the only member of its batch: the batch
 *   it found open is committed before it begins, and its own batch commits as it leaves.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "../util.h"
#include "sqlite.h"

#define NORMAL_CACHE(c) ((c)->cache_kib)

static int64_t
now_us(void)
{
    return util_mono_ns() / 1000;
}

/* gate_lock held. */
static void
batch_unref(batch_t *b)
{
    assert(b->refs > 0);
    if (--b->refs == 0) {
        pthread_cond_destroy(&b->done_cv);
        free(b);
    }
}

int
sqlite__batch_join(store_db_t *db, err_t *err)
{
    batch_t *b;

    assert(db->gate_held && db->writer != NULL);
    if (db->batch != NULL) {
        /* An aborted batch is ended by the member that was in it, before it gives the gate back. */
        assert(!sqlite3_get_autocommit(db->writer->db));
        return 0;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    if (sqlite__run(db->writer, "BEGIN IMMEDIATE;", err)) {
        free(b);
        return -1;
    }
    pthread_cond_init(&b->done_cv, NULL);
    b->refs = 1;
    b->began_us = now_us();
    pthread_mutex_lock(&db->gate_lock);
    db->batch = b;
    pthread_mutex_unlock(&db->gate_lock);
    return 0;
}

static int
batch_failed(bool full, err_t *err)
{
    if (full)
        return err_set(err, ERR_INSUFFICIENT_STORAGE, NULL,
                       "The database has no space left to record the change; retry the request later.");
    return err_set(err, ERR_INTERNAL, NULL, "The database failed while committing.");
}

/* With the gate held and a batch open: ends it, with COMMIT when commit (and SQLite still has it
 * open), else ROLLBACK, and wakes its members. 0 when it committed; -1 (with err when commit)
 * otherwise. */
static int
batch_end(store_db_t *db, bool commit, err_t *err)
{
    batch_t *b = db->batch;
    store_conn_t *w = db->writer;
    char sql[48];
    bool full = false;
    int rc = -1;

    assert(db->gate_held && b != NULL);
    if (commit && sqlite3_get_autocommit(w->db)) {
        /* Aborted by SQLite: the error was reported where it happened, and is still the writer's last. */
        full = sqlite__full(w->db, sqlite3_extended_errcode(w->db));
        batch_failed(full, err);
    } else if (commit) {
        rc = sqlite__run(w, "COMMIT;", err);
        full = rc != 0 && sqlite__full(w->db, sqlite3_extended_errcode(w->db));
    }
    if (rc != 0 && !sqlite3_get_autocommit(w->db))
        sqlite3_exec(w->db, "ROLLBACK;", NULL, NULL, NULL);
    if (w->tx_bulk) {
        snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d;", NORMAL_CACHE(w));
        sqlite__exec(w, sql, NULL);
        w->tx_bulk = false;
    }
    if (rc == 0)
        __atomic_add_fetch(&db->batches, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&db->gate_lock);
    db->batch = NULL;
    b->done = true;
    b->ok = rc == 0;
    b->full = full;
    pthread_cond_broadcast(&b->done_cv);
    batch_unref(b);
    pthread_mutex_unlock(&db->gate_lock);
    return rc;
}

void
sqlite__batch_flush(store_db_t *db)
{
    assert(db->gate_held);
    if (db->batch != NULL)
        batch_end(db, db->batch->members > 0, NULL); /* its members learn how it ended */
}

void
sqlite__batch_orphaned(store_db_t *db)
{
    assert(!db->gate_held && db->gate_head == NULL);
    if (db->batch == NULL)
        return;
    db->gate_held = true;
    pthread_mutex_unlock(&db->gate_lock);
    batch_end(db, db->batch->members > 0, NULL);
    pthread_mutex_lock(&db->gate_lock);
    db->gate_held = false;
    if (db->gate_head != NULL)
        pthread_cond_signal(&db->gate_head->cv);
}

int
sqlite__batch_leave(store_db_t *db, bool committed, bool solo, err_t *err)
{
    batch_t *b = db->batch;
    bool ok, full;
    int rc;

    assert(db->gate_held && b != NULL);
    if (committed)
        b->members++;
    if (sqlite3_get_autocommit(db->writer->db)) {
        /* SQLite rolled the whole batch back: every member fails. */
        batch_end(db, true, committed ? err : NULL);
        sqlite__gate_release(db);
        return committed ? -1 : 0;
    }
    pthread_mutex_lock(&db->gate_lock);
    if (!solo && db->gate_head != NULL && b->members < db->batch_members_max &&
        now_us() - b->began_us < db->batch_age_us) {
        /* Hand the gate on with the batch open; the last writer of the batch commits it. */
        db->gate_held = false;
        pthread_cond_signal(&db->gate_head->cv);
        if (!committed) {
            pthread_mutex_unlock(&db->gate_lock);
            return 0;
        }
        b->refs++;
        while (!b->done)
            pthread_cond_wait(&b->done_cv, &db->gate_lock);
        ok = b->ok;
        full = b->full;
        batch_unref(b);
        pthread_mutex_unlock(&db->gate_lock);
        return ok ? 0 : batch_failed(full, err);
    }
    pthread_mutex_unlock(&db->gate_lock);
    rc = batch_end(db, b->members > 0, committed ? err : NULL);
    sqlite__gate_release(db);
    return committed ? rc : 0;
}

uint64_t
sqlite_batches(store_db_t *db)
{
    return __atomic_load_n(&db->batches, __ATOMIC_RELAXED);
}
