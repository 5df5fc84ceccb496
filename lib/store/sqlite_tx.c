/*
 * sqlite_tx.c: the SQLite backend's transactions and its write gate.
 *
 * The neutral layer counts the depth. A read transaction is BEGIN DEFERRED on the thread's own
 * connection. A write or bulk transaction runs on the store's writer connection (sqlite_tx_conn): it
 * takes the gate, joins the open batch (sqlite_group.c) and is the savepoint "m" inside it. A nested one
 * is the savepoint sp<depth>.
 *
 * Invariants:
 * - The writer connection is used only by the thread that holds the gate (tx_gate is set exactly while
 *   an outermost write transaction is open on it), and the gate is given back however that transaction
 *   ends, so the gate is never left held.
 * - A bulk transaction keeps its pages in memory (a large page cache) until its batch ends; it ends the
 *   batch it is in at its own end, and the cache is set back however it ends.
 * - A transaction alone (STORE_TX_ALONE) commits the batch it finds open before it begins its own, and
 *   ends its own at its end: no other transaction's changes share its COMMIT.
 * - An outermost commit that failed leaves nothing of its transaction open.
 */
#include <assert.h>
#include <stdio.h>
#include <time.h>

#include "sqlite.h"

/* The write gate. SQLite lets one writer in at a time, and a writer that finds the database locked sleeps
 * and polls, so a thread that writes transaction after transaction (the usage closer's chunks) can take the
 * lock again and again before a waiting request wakes up. The gate hands write transactions of this
 * process out in arrival order instead: a request waits for at most the transactions queued before it.
 * Waiting is bounded by the busy timeout, like waiting for SQLite's lock (503 Unavailable). */
int
sqlite__gate_enter(store_db_t *st, err_t *err)
{
    gate_waiter_t me = {.next = NULL};
    struct timespec deadline;
    int rc = 0;

    pthread_mutex_lock(&st->gate_lock);
    if (!st->gate_held && st->gate_head == NULL) {
        st->gate_held = true;
        pthread_mutex_unlock(&st->gate_lock);
        return 0;
    }
    pthread_cond_init(&me.cv, NULL);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += st->busy_timeout_ms / 1000;
    deadline.tv_nsec += (long) (st->busy_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    if (st->gate_tail)
        st->gate_tail->next = &me;
    else
        st->gate_head = &me;
    st->gate_tail = &me;
    while (st->gate_held || st->gate_head != &me) {
        if (pthread_cond_timedwait(&me.cv, &st->gate_lock, &deadline) != 0 &&
            (st->gate_held || st->gate_head != &me)) {
            rc = -1;
            break;
        }
    }
    /* Leave the queue, holding the gate or not. */
    if (st->gate_head == &me) {
        st->gate_head = me.next;
    } else {
        gate_waiter_t *w = st->gate_head;
        while (w && w->next != &me)
            w = w->next;
        if (w)
            w->next = me.next;
    }
    if (st->gate_tail == &me) {
        gate_waiter_t *w = st->gate_head;
        while (w && w->next)
            w = w->next;
        st->gate_tail = w;
    }
    if (rc == 0)
        st->gate_held = true;
    else if (!st->gate_held && st->gate_head)
        pthread_cond_signal(&st->gate_head->cv);
    else if (!st->gate_held)
        sqlite__batch_orphaned(st); /* the last to leave the gate ends the batch */
    pthread_mutex_unlock(&st->gate_lock);
    pthread_cond_destroy(&me.cv);
    if (rc)
        return err_set(err, ERR_UNAVAILABLE, NULL, "The database is busy; retry the request.");
    return 0;
}

int
sqlite__gate_waiters(store_db_t *db)
{
    const gate_waiter_t *w;
    int n = 0;

    pthread_mutex_lock(&db->gate_lock);
    for (w = db->gate_head; w; w = w->next)
        n++;
    pthread_mutex_unlock(&db->gate_lock);
    return n;
}

void
sqlite__gate_release(store_db_t *db)
{
    pthread_mutex_lock(&db->gate_lock);
    assert(db->gate_held);
    db->gate_held = false;
    if (db->gate_head)
        pthread_cond_signal(&db->gate_head->cv);
    else
        sqlite__batch_orphaned(db);
    pthread_mutex_unlock(&db->gate_lock);
}

#define BULK_CACHE_KIB 131072 /* a bulk transaction's page cache */

store_conn_t *
sqlite_tx_conn(store_db_t *db, store_conn_t *own, store_tx_mode_t mode)
{
    assert(db != NULL && own != NULL && db->writer != NULL);
    return mode == STORE_TX_READ ? own : db->writer;
}

/* The outermost write transaction on c is over; its savepoint is released into the batch (committed) or
 * gone: leave the batch and the gate. */
static int
member_end(store_conn_t *c, bool committed, err_t *err)
{
    bool solo = c->tx_bulk || c->tx_alone;

    assert(c->tx_gate);
    c->tx_gate = false;
    c->tx_alone = false;
    return sqlite__batch_leave(c->owner, committed, solo, err);
}

int
sqlite_tx_begin(store_conn_t *c, int depth, store_tx_mode_t mode, err_t *err)
{
    char sql[48];

    assert(depth >= 0);
    if (depth > 0) {
        snprintf(sql, sizeof(sql), "SAVEPOINT sp%d;", depth);
        return sqlite__run(c, sql, err);
    }
    if (mode == STORE_TX_READ)
        return sqlite__run(c, "BEGIN DEFERRED;", err);
    assert(c == c->owner->writer);
    if (sqlite__gate_enter(c->owner, err))
        return -1;
    assert(!c->tx_gate && !c->tx_bulk && !c->tx_alone); /* the writer is ours alone now */
    if (mode == STORE_TX_ALONE)
        sqlite__batch_flush(c->owner); /* the batch handed on with the gate is not ours to share */
    if (sqlite__batch_join(c->owner, err)) {
        sqlite__gate_release(c->owner);
        return -1;
    }
    c->tx_gate = true;
    c->tx_alone = mode == STORE_TX_ALONE;
    if (sqlite__run(c, "SAVEPOINT m;", err)) {
        member_end(c, false, NULL);
        return -1;
    }
    if (mode == STORE_TX_BULK) {
        /* A usage period's records: keep them in memory until the end instead of spilling them to the
         * log and reading them back. */
        snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d;", BULK_CACHE_KIB);
        if (sqlite__exec(c, sql, NULL) == 0)
            c->tx_bulk = true;
    }
    return 0;
}

int
sqlite_tx_commit(store_conn_t *c, int depth, err_t *err)
{
    char sql[48];

    assert(depth > 0);
    if (depth > 1) {
        snprintf(sql, sizeof(sql), "RELEASE sp%d;", depth - 1);
        return sqlite__run(c, sql, err);
    }
    if (!c->tx_gate) { /* a read transaction */
        if (sqlite__run(c, "COMMIT;", err)) {
            sqlite3_exec(c->db, "ROLLBACK;", NULL, NULL, NULL);
            return -1;
        }
        return 0;
    }
    if (sqlite__run(c, "RELEASE m;", err)) {
        if (!sqlite3_get_autocommit(c->db))
            sqlite3_exec(c->db, "ROLLBACK TO m; RELEASE m;", NULL, NULL, NULL);
        member_end(c, false, NULL);
        return -1;
    }
    return member_end(c, true, err);
}

void
sqlite_tx_rollback(store_conn_t *c, int depth)
{
    char sql[64];

    assert(depth > 0);
    if (depth > 1) {
        snprintf(sql, sizeof(sql), "ROLLBACK TO sp%d; RELEASE sp%d;", depth - 1, depth - 1);
        sqlite3_exec(c->db, sql, NULL, NULL, NULL);
        return;
    }
    if (!c->tx_gate) { /* a read transaction */
        if (sqlite__run(c, "ROLLBACK;", NULL))
            sqlite3_exec(c->db, "ROLLBACK;", NULL, NULL, NULL);
        return;
    }
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK TO m; RELEASE m;", NULL, NULL, NULL);
    member_end(c, false, NULL);
}
