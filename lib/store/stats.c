/*
 * stats.c: the store's figures for /metrics (the active jobs by kind, the hook deliveries' backlog, the
 * size on disk), in the neutral layer: each checks its arguments and calls the backend once.
 *
 * Invariants: every one is a read; the two that read the database pass the fault wrapper like every other
 * store call that does; the size reads no connection and cannot fail (-1 says the backend cannot tell).
 */
#include <assert.h>

#include "core.h"

int
store_job_counts(store_t *st, store_job_count_fn fn, void *arg, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(fn != NULL);
    return t == NULL ? -1 : st->be->job_counts(t->conn, fn, arg, err);
}

int
store_delivery_backlog(store_t *st, int64_t *pending, int64_t *oldest_ms, err_t *err)
{
    store_thread_t *t = store__call(st, err);
    int64_t n = 0, oldest = -1;

    assert(pending != NULL && oldest_ms != NULL);
    if (t == NULL || st->be->delivery_backlog(t->conn, &n, &oldest, err) != 0)
        return -1;
    *pending = n;
    *oldest_ms = oldest;
    return 0;
}

int64_t
store_size_bytes(store_t *st)
{
    assert(st != NULL);
    return st->be->size_bytes(st->db);
}
