/*
 * pg_tx.c: the PostgreSQL backend's transactions.
 *
 * The neutral layer counts the depth; every transaction runs on its thread's own connection. A read
 * transaction is one REPEATABLE READ snapshot. A write (or bulk) transaction is READ COMMITTED and takes
 * PG_WRITE_LOCK before anything else, so write transactions of every daemon on the database take turns:
 * each statement of one sees every write committed before it took the lock, and no other writer until it
 * ends, as with SQLite's single writer. A nested transaction is the savepoint sp<depth>.
 *
 * Invariants:
 * - c->depth is the depth the neutral layer counts, and c->tx_write tells whether the outermost open
 *   transaction writes; both are 0/false whenever no transaction is open on the server.
 * - PostgreSQL aborts a transaction at its first failed statement and then answers a COMMIT with a
 *   ROLLBACK. A commit here never reports success for that: an outermost commit of an aborted
 *   transaction fails (500, unless the statement's own error was a 503), and leaves nothing open.
 * - An outermost commit that returned 0 is durable (synchronous_commit as the server has it: on by
 *   default).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pg.h"

store_conn_t *
pg_tx_conn(store_db_t *db, store_conn_t *own, store_tx_mode_t mode)
{
    (void) db;
    (void) mode;
    assert(own != NULL);
    return own;
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
}

int
pg_tx_begin(store_conn_t *c, int depth, store_tx_mode_t mode, err_t *err)
{
    char sql[96];

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
    /* One round trip: the transaction and its lock, waited for at most lock_timeout (the busy timeout),
     * then 503, as a busy SQLite writer answers. */
    snprintf(sql, sizeof(sql),
             "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(%" PRId64 ");",
             PG_WRITE_LOCK);
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
