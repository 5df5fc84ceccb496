/*
 * cache.c: the change counters and the per-thread record cache of the store's neutral layer.
 *
 * The record cache keeps each thread's single-record reads (by id, or by one field such as a token's hash)
 * while their kind has not changed. Each kind has a change counter in the store, bumped after every commit
 * that wrote it; an entry is tagged with the counter as it was before its row was read, and is used only
 * while the counter still has that value. So a hit is never older than the last commit, and a write (a
 * revoked token, a changed plan) is seen by every thread's next read.
 *
 * Invariants:
 * - The counters are in-process: the cache serves reads only for a backend that is the database's only
 *   user (store_backend_t.single_process); a transaction that writes reads its own changes, so it always
 *   reads through to the backend.
 * - A cached record is never modified: a shared read hands out the cached object itself, which its
 *   holders must not change. With asserts on, each entry keeps a fingerprint of its contents, checked
 *   every time the entry is used or dropped.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static uint64_t
gen_now(store_t *st, const store_kind_t *kind)
{
    return __atomic_load_n(&st->gen[kind->index], __ATOMIC_ACQUIRE);
}

void
store__note_write(store_t *st, store_thread_t *t, const store_kind_t *kind)
{
    assert(kind->index >= 0 && kind->index < STORE_KINDS);
    if (t->tx_depth == 0)
        __atomic_add_fetch(&st->gen[kind->index], 1, __ATOMIC_ACQ_REL);
    else
        t->written |= 1u << kind->index;
}

void
store__commit_begin(store_t *st, store_thread_t *t)
{
    int k;

    for (k = 0; k < STORE_KINDS; k++)
        if (t->written & (1u << k))
            __atomic_add_fetch(&st->committing[k], 1, __ATOMIC_ACQ_REL);
}

static void
commit_end(store_t *st, store_thread_t *t, bool committed)
{
    int k;

    for (k = 0; k < STORE_KINDS; k++)
        if (t->written & (1u << k)) {
            if (committed)
                __atomic_add_fetch(&st->gen[k], 1, __ATOMIC_ACQ_REL);
            __atomic_sub_fetch(&st->committing[k], 1, __ATOMIC_ACQ_REL);
        }
    t->written = 0;
}

void
store__commit_written(store_t *st, store_thread_t *t)
{
    commit_end(st, t, true);
}

void
store__commit_abandoned(store_t *st, store_thread_t *t)
{
    commit_end(st, t, false);
}

void
store__snapshot_gen(store_t *st, store_thread_t *t)
{
    int k;

    for (k = 0; k < STORE_KINDS; k++)
        t->tx_gen[k] = __atomic_load_n(&st->gen[k], __ATOMIC_ACQUIRE);
}

#ifndef NDEBUG
static uint64_t
mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * 1099511628211ull;
}

/* A cheap fingerprint of a record: its shape, the identity of its values and their scalar contents, two
 * levels deep (a record's fields and their members). Any jansson call that changes a value changes it. */
static uint64_t
fingerprint(const json_t *v, int depth)
{
    uint64_t h = mix(14695981039346656037ull, (uint64_t) json_typeof(v));
    const char *key;
    json_t *m;
    size_t i;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        h = mix(h, json_object_size(v));
        json_object_foreach((json_t *) v, key, m)
            h = mix(h, depth < 2 ? fingerprint(m, depth + 1) : (uint64_t) (uintptr_t) m);
        break;
    case JSON_ARRAY:
        h = mix(h, json_array_size(v));
        json_array_foreach(v, i, m)
            h = mix(h, depth < 2 ? fingerprint(m, depth + 1) : (uint64_t) (uintptr_t) m);
        break;
    case JSON_STRING:
        h = mix(h, (uint64_t) (uintptr_t) json_string_value(v));
        h = mix(h, json_string_length(v));
        break;
    case JSON_INTEGER:
        h = mix(h, (uint64_t) json_integer_value(v));
        break;
    case JSON_REAL: {
        double d = json_real_value(v);
        uint64_t bits;

        memcpy(&bits, &d, sizeof(bits));
        h = mix(h, bits);
        break;
    }
    default:
        break;
    }
    return h;
}
#define SUM(rec) fingerprint((rec), 0)
#else
#define SUM(rec) 0
#endif

static void
slot_drop(rslot_t *e)
{
    assert(e->rec == NULL || SUM(e->rec) == e->sum); /* a shared record was modified */
    free(e->value);
    json_decref(e->rec);
    e->value = NULL;
    e->rec = NULL;
}

void
store__cache_free(store_thread_t *t)
{
    int i;

    for (i = 0; i < RCACHE_SLOTS; i++)
        slot_drop(&t->rc[i]);
}

static rslot_t *
slot_of(store_thread_t *t, const store_kind_t *kind, size_t col, const char *value)
{
    unsigned h = 2166136261u ^ (unsigned) kind->index ^ ((unsigned) col << 8);

    for (; *value; value++)
        h = (h ^ (unsigned char) *value) * 16777619u;
    return &t->rc[h % RCACHE_SLOTS];
}

/* The cached record for (kind, col, value) if it is still current: a copy, or with shared a new reference
 * to the cached record itself. */
static json_t *
cache_get(store_thread_t *t, const store_kind_t *kind, size_t col, const char *value,
          uint64_t current, bool shared, int64_t *rev)
{
    rslot_t *e = slot_of(t, kind, col, value);

    if (e->rec == NULL || e->kind != kind || e->col != (int) col || e->tag != current ||
        strcmp(e->value, value) != 0)
        return NULL;
    /* Whether a shared record was modified is checked when it leaves the cache (slot_drop), not on
     * every hit: the fingerprint walks the record, and hits are the hot path of every request. */
    if (rev)
        *rev = e->rev;
    return shared ? json_incref(e->rec) : json_deep_copy(e->rec);
}

/* Caches rec: a copy of it, or with shared rec itself (a new reference). */
static void
cache_put(store_thread_t *t, const store_kind_t *kind, size_t col, const char *value, json_t *rec,
          int64_t rev, uint64_t tag, bool shared)
{
    rslot_t *e = slot_of(t, kind, col, value);
    char *v = strdup(value);
    json_t *copy = shared ? json_incref(rec) : json_deep_copy(rec);

    if (v == NULL || copy == NULL) {
        free(v);
        json_decref(copy);
        return;
    }
    slot_drop(e);
    e->kind = kind;
    e->col = (int) col;
    e->value = v;
    e->rec = copy;
    e->rev = rev;
    e->tag = tag;
    e->sum = SUM(copy);
}

int
store__cached_get(store_t *st, store_thread_t *t, const store_kind_t *kind, size_t col,
                  const char *value, bool shared, json_t **rec, int64_t *rev, err_t *err)
{
    bool cacheable = st->be->single_process && !(t->tx_depth > 0 && t->tx_write) &&
                     __atomic_load_n(&st->committing[kind->index], __ATOMIC_ACQUIRE) == 0;
    uint64_t tag = 0, current;
    int64_t r = 0;
    json_t *got;
    int rc;

    assert(col < kind->ncols && value != NULL && rec != NULL);
    __atomic_add_fetch(&st->reads[kind->index], 1, __ATOMIC_RELAXED);
    if (cacheable) {
        current = gen_now(st, kind);
        tag = t->tx_depth > 0 ? t->tx_gen[kind->index] : current;
        got = cache_get(t, kind, col, value, current, shared, rev);
        if (got != NULL) {
            *rec = got;
            return 0;
        }
    }
    rc = st->be->rec_get_by(t->conn, kind, col, value, &got, &r, err);
    if (rc != 0)
        return rc;
    if (cacheable)
        cache_put(t, kind, col, value, got, r, tag, shared);
    if (rev)
        *rev = r;
    *rec = got;
    return 0;
}

int
store__cached_get_where(store_t *st, store_thread_t *t, const store_kind_t *kind, const char *id,
                        size_t scol, const char *value, bool shared, json_t **rec, int64_t *rev,
                        err_t *err)
{
    bool cacheable = st->be->single_process && !(t->tx_depth > 0 && t->tx_write) &&
                     __atomic_load_n(&st->committing[kind->index], __ATOMIC_ACQUIRE) == 0;
    uint64_t tag = 0, current;
    const char *have;
    rslot_t *e;
    int64_t r = 0;
    json_t *got;
    int rc;

    assert(scol > 0 && scol < kind->ncols && id != NULL && value != NULL && rec != NULL);
    __atomic_add_fetch(&st->reads[kind->index], 1, __ATOMIC_RELAXED);
    if (cacheable) {
        current = gen_now(st, kind);
        tag = t->tx_depth > 0 ? t->tx_gen[kind->index] : current;
        /* Only a cached record in scope is an answer: another's goes to the backend, as a missing id
         * does, so that it costs the same. */
        e = slot_of(t, kind, 0, id);
        have = e->rec != NULL ? json_string_value(store__rec_field(e->rec, kind->cols[scol].field))
                              : NULL;
        if (have != NULL && strcmp(have, value) == 0 &&
            (got = cache_get(t, kind, 0, id, current, shared, rev)) != NULL) {
            *rec = got;
            return 0;
        }
    }
    rc = st->be->rec_get_where(t->conn, kind, id, scol, value, &got, &r, err);
    if (rc != 0)
        return rc;
    if (cacheable)
        cache_put(t, kind, 0, id, got, r, tag, shared);
    if (rev)
        *rev = r;
    *rec = got;
    return 0;
}
