/*
 * pg_tx.c: the PostgreSQL backend's transactions.
 *
 * The neutral layer counts the depth; every transaction runs on its thread's own connection. A read
 * transaction is one REPEATABLE READ snapshot. A write (or bulk) transaction is READ COMMITTED and takes
 * PG_WRITE_LOCK before anything else, so write transactions of every daemon on the database take turns:
 * each statement of one sees every write committed before it took the lock, and no other writer until it
 * ends, as with SQLite's single writer. A nested transaction is the savepoint sp<depth>.
 *
 * Within one daemon the writers take turns at the store's write gate first (a mutex held from the begin to
 * the end of the outermost write transaction), so the server sees at most one waiter per daemon for
 * PG_WRITE_LOCK instead of one per thread: each waiter on a server lock costs the server a backend that
 * wakes, and one that checks for deadlocks after a second's wait. The two waits together stay within the
 * busy timeout: the gate's wait is taken off the lock's (SET LOCAL lock_timeout).
 *
 * Invariants:
 * - c->depth is the depth the neutral layer counts, and c->tx_write tells whether the outermost open
 *   transaction writes; both are 0/false whenever no transaction is open on the server.
 * - c->gated is true exactly from a write transaction's begin (once its gate was had) to its end, commit,
 *   rollback or failed begin; only then does the thread hold owner->write_gate.
 * - PostgreSQL aborts a transaction at its first failed statement and then answers a COMMIT with a
 *   ROLLBACK. A commit here never reports success for that: an outermost commit of an aborted
 *   transaction fails (500, unless the statement's own error was a 503), and leaves nothing open.
 * - An outermost commit that returned 0 is durable (synchronous_commit as the server has it: on by
 *   default).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../util.h"

#include "pg.h"

store_conn_t *
pg_tx_conn(store_db_t *db, store_conn_t *own, store_tx_mode_t mode)
{
    (void) db;
    (void) mode;
    assert(own != NULL);
    return own;
}

/* Lets the daemon's next writer in, once this connection's write transaction has ended. */
static void
gate_leave(store_conn_t *c)
{
    if (c->gated) {
        c->gated = false;
        pthread_mutex_unlock(&c->owner->write_gate);
    }
}

/* Waits at most ms for the daemon's write gate: 0 with it held, or -1 with the busy answer. */
static int
gate_enter(store_conn_t *c, int64_t ms, err_t *err)
{
    struct timespec until;
    int rc;

    assert(!c->gated);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t) (ms / 1000);
    until.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    rc = pthread_mutex_timedlock(&c->owner->write_gate, &until);
    if (rc == ETIMEDOUT)
        return err_set(err, ERR_UNAVAILABLE, NULL, "The database is busy; retry the request.");
    if (rc != 0)
        return err_set(err, ERR_INTERNAL, NULL, "The store's write gate failed: %s.", strerror(rc));
    c->gated = true;
    return 0;
}

/* Ends whatever is open on the server, quietly (a failed commit, a failed begin, a rollback). */
static void
end_quietly(store_conn_t *c)
{
    PGresult *res;

    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK &&
        PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        res = PQexec(c->pg, "ROLLBACK");
        PQclear(res);
    }
    c->depth = 0;
    c->tx_write = false;
    gate_leave(c);
}

int
pg_tx_begin(store_conn_t *c, int depth, store_tx_mode_t mode, err_t *err)
{
    char sql[160];
    int64_t t0, left;

    assert(depth >= 0 && depth == c->depth);
    if (depth > 0) {
        snprintf(sql, sizeof(sql), "SAVEPOINT sp%d", depth);
        if (pg__run(c, sql, 0, NULL, "opening a nested transaction", err) < 0)
            return -1;
        c->depth++;
        return 0;
    }
    if (mode == STORE_TX_READ) {
        if (pg__run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL, "opening a transaction", err) <
            0)
            return -1;
        c->depth = 1;
        c->tx_write = false;
        return 0;
    }
    /* The daemon's turn, then in one round trip the transaction and the database's turn, both waited for
     * at most the busy timeout in all, then 503, as a busy SQLite writer answers. */
    t0 = util_mono_ns();
    if (gate_enter(c, c->owner->busy_timeout_ms, err))
        return -1;
    left = c->owner->busy_timeout_ms - (util_mono_ns() - t0) / 1000000;
    snprintf(sql, sizeof(sql),
             "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = %" PRId64
             "; SELECT pg_advisory_xact_lock(%" PRId64 ");",
             left > 1 ? left : 1, PG_WRITE_LOCK);
    if (pg__exec(c, sql, err)) {
        end_quietly(c);
        return -1;
    }
    c->depth = 1;
    c->tx_write = true;
    return 0;
}

int
pg_tx_commit(store_conn_t *c, int depth, err_t *err)
{
    char sql[64];
    PGresult *res;
    bool ok, wrote = c->tx_write;

    assert(depth > 0 && depth == c->depth);
    if (depth > 1) {
        snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT sp%d", depth - 1);
        if (pg__run(c, sql, 0, NULL, "ending a nested transaction", err) < 0)
            return -1;
        c->depth--;
        return 0;
    }
    if (PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
        /* A statement failed and its caller went on to commit: what it did is lost. */
        end_quietly(c);
        return err_set(err, ERR_INTERNAL, NULL,
                       "The database refused a change of the transaction; nothing of it was kept.");
    }
    res = PQexec(c->pg, "COMMIT");
    ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(res), "COMMIT") == 0;
    if (!ok) {
        if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK)
            err_set(err, ERR_INTERNAL, NULL,
                    "The database refused a change of the transaction; nothing of it was kept.");
        else
            pg__err(c, res, "committing a transaction", err);
        PQclear(res);
        end_quietly(c);
        return -1;
    }
    PQclear(res);
    c->depth = 0;
    c->tx_write = false;
    gate_leave(c);
    if (wrote)
        __atomic_add_fetch(&c->owner->commits, 1, __ATOMIC_RELAXED);
    return 0;
}

void
pg_tx_rollback(store_conn_t *c, int depth)
{
    char sql[96];
    PGresult *res;

    assert(depth > 0);
    if (depth > 1 && depth == c->depth) {
        snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT sp%d; RELEASE SAVEPOINT sp%d", depth - 1,
                 depth - 1);
        res = PQexec(c->pg, sql);
        if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
            PQclear(res);
            c->depth--;
            return;
        }
        PQclear(res);
        /* The savepoint could not be rolled back to (the connection is gone): the rest of the
         * transaction is lost too, and its outermost commit will say so. */
        c->depth--;
        return;
    }
    end_quietly(c);
}

uint64_t
pg_batches(store_db_t *db)
{
    return __atomic_load_n(&db->commits, __ATOMIC_RELAXED);
}
