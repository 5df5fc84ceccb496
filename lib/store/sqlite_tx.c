/*
 * sqlite_tx.c: the SQLite backend's transactions and its write gate.
 *
 * The neutral layer counts the depth; here the outermost transaction is BEGIN IMMEDIATE (a write or bulk
 * one, behind the gate) or BEGIN DEFERRED (a read one), and a nested one is the savepoint sp<depth>.
 *
 * Invariants:
 * - A connection holds the gate exactly while its outermost write transaction is open (tx_gate), and
 *   gives it back however that transaction ends, so the gate is never left held.
 * - A bulk transaction keeps its pages in memory (a large page cache) until it ends; the cache is set back
 *   however it ends.
 * - After an outermost COMMIT that failed, the transaction is rolled back: nothing is left open.
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
static int
gate_enter(store_db_t *st, err_t *err)
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

static void
gate_leave(store_conn_t *c)
{
    store_db_t *st = c->owner;

    if (!c->tx_gate)
        return;
    c->tx_gate = false;
    pthread_mutex_lock(&st->gate_lock);
    assert(st->gate_held);
    st->gate_held = false;
    if (st->gate_head)
        pthread_cond_signal(&st->gate_head->cv);
    pthread_mutex_unlock(&st->gate_lock);
}

#define BULK_CACHE_KIB 131072 /* a bulk transaction's page cache */

/* After the outermost transaction, however it ended: the bulk page cache and the gate go back. */
static void
tx_end(store_conn_t *c)
{
    if (c->tx_bulk) {
        sqlite__exec(c, "PRAGMA cache_size=-2000;", NULL);
        c->tx_bulk = false;
    }
    gate_leave(c);
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
    assert(!c->tx_gate && !c->tx_bulk);
    if (mode == STORE_TX_READ)
        return sqlite__run(c, "BEGIN DEFERRED;", err);
    if (gate_enter(c->owner, err))
        return -1;
    c->tx_gate = true;
    if (sqlite__run(c, "BEGIN IMMEDIATE;", err)) {
        gate_leave(c);
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
    if (sqlite__run(c, "COMMIT;", err)) {
        sqlite3_exec(c->db, "ROLLBACK;", NULL, NULL, NULL);
        tx_end(c);
        return -1;
    }
    tx_end(c);
    return 0;
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
    if (sqlite__run(c, "ROLLBACK;", NULL))
        sqlite3_exec(c->db, "ROLLBACK;", NULL, NULL, NULL);
    tx_end(c);
}
