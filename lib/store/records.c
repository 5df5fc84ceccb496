/*
 * records.c: the store's record calls (store_rec_*), in the neutral layer: each checks its arguments,
 * passes the fault wrapper, calls the backend once, and does what every backend shares: the record
 * cache and read counters for single-record reads (cache.c), the change counters after writes, the 404
 * of a missing record, the 409 of a duplicate and the 404-or-412 of an update or delete that changed
 * nothing. Every single-record read goes through one lookup (lookup_col) that answers "none" as a value;
 * the get and find calls are that lookup plus the kind's 404, written here and nowhere else.
 *
 * Invariants: a write that succeeded notes its kind as written (store__note_write) before it returns; a
 * failed call leaves the counters alone; a write runs inside a write transaction, the caller's or an
 * implicit one of its own (store__write_open).
 */
#include <assert.h>
#include <string.h>

#include "core.h"

/* The one single-record read: through the fault wrapper and the record cache. 1 with *out (when out
 * is not NULL; else the record is released) and *rev; 0 when there is none; -1 with err. */
static int
lookup_col(store_t *st, const store_kind_t *kind, size_t col, const char *value, bool shared,
           json_t **out, int64_t *rev, err_t *err)
{
    store_thread_t *t = store__call(st, err);
    json_t *rec = NULL;
    int rc;

    assert(kind != NULL && value != NULL && col < kind->ncols);
    if (t == NULL)
        return -1;
    rc = store__cached_get(st, t, kind, col, value, shared, &rec, rev, err);
    if (rc != 0)
        return rc == 1 ? 0 : -1;
    if (out != NULL)
        *out = rec;
    else
        json_decref(rec);
    return 1;
}

/* The column of kind that keeps field: 0 with *col, or -1 with err (a caller's mistake). */
static int
field_col(const store_kind_t *kind, const char *field, size_t *col, err_t *err)
{
    const store_col_t *c;

    assert(kind != NULL && field != NULL);
    c = store__kind_col(kind, field);
    if (c == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "The %s has no field %s.", kind->what, field);
    *col = (size_t) (c - kind->cols);
    return 0;
}

static int
lookup_field(store_t *st, const store_kind_t *kind, const char *field, const char *value,
             bool shared, json_t **out, err_t *err)
{
    size_t col = 0;

    if (field_col(kind, field, &col, err))
        return -1;
    return lookup_col(st, kind, col, value, shared, out, NULL, err);
}

int
store_rec_lookup(store_t *st, const store_kind_t *kind, const char *id, json_t **out, int64_t *rev,
                 err_t *err)
{
    return lookup_col(st, kind, 0, id, false, out, rev, err); /* column 0 is the id of every kind */
}

int
store_rec_lookup_shared(store_t *st, const store_kind_t *kind, const char *id, json_t **out,
                        int64_t *rev, err_t *err)
{
    return lookup_col(st, kind, 0, id, true, out, rev, err);
}

int
store_rec_lookup_by(store_t *st, const store_kind_t *kind, const char *field, const char *value,
                    json_t **out, err_t *err)
{
    return lookup_field(st, kind, field, value, false, out, err);
}

int
store_rec_lookup_by_shared(store_t *st, const store_kind_t *kind, const char *field,
                           const char *value, json_t **out, err_t *err)
{
    return lookup_field(st, kind, field, value, true, out, err);
}

/* A lookup's answer as the get and find calls give it: the record, or NULL with the kind's 404 when
 * there is none (err already set when the lookup failed). */
static json_t *
found_or_404(int rc, json_t *rec, const store_kind_t *kind, err_t *err)
{
    assert((rc == 1) == (rec != NULL));
    if (rc == 0)
        err_set(err, ERR_NOT_FOUND, NULL, "The %s was not found.", kind->what);
    return rec;
}

json_t *
store_rec_get(store_t *st, const store_kind_t *kind, const char *id, int64_t *rev, err_t *err)
{
    json_t *rec = NULL;
    int rc = lookup_col(st, kind, 0, id, false, &rec, rev, err);

    return found_or_404(rc, rec, kind, err);
}

json_t *
store_rec_get_shared(store_t *st, const store_kind_t *kind, const char *id, int64_t *rev,
                     err_t *err)
{
    json_t *rec = NULL;
    int rc = lookup_col(st, kind, 0, id, true, &rec, rev, err);

    return found_or_404(rc, rec, kind, err);
}

/* The one scoped single-record read: by id and field at once (lookup_col's answers). */
static int
lookup_where(store_t *st, const store_kind_t *kind, const char *id, const char *field,
             const char *value, bool shared, json_t **out, int64_t *rev, err_t *err)
{
    store_thread_t *t;
    json_t *rec = NULL;
    size_t col = 0;
    int rc;

    assert(kind != NULL && id != NULL && field != NULL && value != NULL);
    if (field_col(kind, field, &col, err))
        return -1;
    if ((t = store__call(st, err)) == NULL)
        return -1;
    rc = store__cached_get_where(st, t, kind, id, col, value, shared, &rec, rev, err);
    if (rc != 0)
        return rc == 1 ? 0 : -1;
    if (out != NULL)
        *out = rec;
    else
        json_decref(rec);
    return 1;
}

int
store_rec_lookup_where(store_t *st, const store_kind_t *kind, const char *id, const char *field,
                       const char *value, json_t **out, int64_t *rev, err_t *err)
{
    return lookup_where(st, kind, id, field, value, false, out, rev, err);
}

int
store_rec_lookup_where_shared(store_t *st, const store_kind_t *kind, const char *id,
                              const char *field, const char *value, json_t **out, int64_t *rev,
                              err_t *err)
{
    return lookup_where(st, kind, id, field, value, true, out, rev, err);
}

json_t *
store_rec_get_where(store_t *st, const store_kind_t *kind, const char *id, const char *field,
                    const char *value, int64_t *rev, err_t *err)
{
    json_t *rec = NULL;
    int rc;

    assert(value == NULL || field != NULL);
    rc = value != NULL ? lookup_where(st, kind, id, field, value, false, &rec, rev, err)
                       : lookup_col(st, kind, 0, id, false, &rec, rev, err);
    return found_or_404(rc, rec, kind, err); /* another's record looks like none */
}

json_t *
store_rec_find(store_t *st, const store_kind_t *kind, const char *field, const char *value,
               err_t *err)
{
    json_t *rec = NULL;
    int rc = lookup_field(st, kind, field, value, false, &rec, err);

    return found_or_404(rc, rec, kind, err);
}

json_t *
store_rec_find_shared(store_t *st, const store_kind_t *kind, const char *field, const char *value,
                      err_t *err)
{
    json_t *rec = NULL;
    int rc = lookup_field(st, kind, field, value, true, &rec, err);

    return found_or_404(rc, rec, kind, err);
}

int
store_rec_insert_unique(store_t *st, const store_kind_t *kind, const json_t *rec, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);
    int rc;

    assert(kind != NULL && rec != NULL);
    if (t == NULL)
        return -1;
    rc = st->be->rec_insert(t->conn, kind, rec, err);
    if (rc == 0)
        store__note_write(st, t, kind);
    rc = (int) store__write_done(st, t, rc, err);
    if (rc < 0)
        return -1;
    return rc == 0 ? 1 : 0;
}

int
store_rec_insert(store_t *st, const store_kind_t *kind, const json_t *rec, err_t *err)
{
    int rc = store_rec_insert_unique(st, kind, rec, err);

    if (rc == 0)
        err_set(err, ERR_CONFLICT, NULL, "A record with the same unique value already exists.");
    return rc == 1 ? 0 : -1;
}

/* A kind, and every filter names a field. */
static bool
filters_ok(const store_kind_t *kind, const store_filter_t *filters, size_t nfilters)
{
    size_t i;

    if (kind == NULL || (nfilters > 0 && filters == NULL))
        return false;
    for (i = 0; i < nfilters; i++)
        if (filters[i].field == NULL)
            return false;
    return true;
}

json_t *
store_rec_list(store_t *st, const store_kind_t *kind, const store_filter_t *filters,
               size_t nfilters, int64_t after, int limit, int64_t *next, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(filters_ok(kind, filters, nfilters) && next != NULL);
    if (t == NULL)
        return NULL;
    return st->be->rec_list(t->conn, kind, filters, nfilters, after, limit, next, err);
}

int
store_rec_list_keys(store_t *st, const store_kind_t *kind, const store_filter_t *filters,
                    size_t nfilters, int64_t after, int limit, store_rec_key_t *keys, int *n,
                    int64_t *next, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(filters_ok(kind, filters, nfilters) && keys != NULL && n != NULL && next != NULL);
    assert(limit > 0);
    if (t == NULL)
        return -1;
    return st->be->rec_list_keys(t->conn, kind, filters, nfilters, after, limit, keys, n, next,
                                 err);
}

json_t *
store_rec_list_all(store_t *st, const store_kind_t *kind, const store_filter_t *filters,
                   size_t nfilters, err_t *err)
{
    int64_t after = 0, next = 0;
    json_t *all = json_array(), *page;

    if (all == NULL)
        goto oom;
    do {
        page = store_rec_list(st, kind, filters, nfilters, after, 1000, &next, err);
        if (page == NULL) {
            json_decref(all);
            return NULL;
        }
        if (json_array_extend(all, page)) {
            json_decref(page);
            json_decref(all);
            goto oom;
        }
        json_decref(page);
        after = next;
    } while (next);
    return all;
oom:
    err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return NULL;
}

int64_t
store_rec_count(store_t *st, const store_kind_t *kind, const store_filter_t *filters,
                size_t nfilters, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(filters_ok(kind, filters, nfilters));
    if (t == NULL)
        return -1;
    return st->be->rec_count(t->conn, kind, filters, nfilters, err);
}

/* After an update or delete that succeeded: note the write and, when it changed nothing, say why: 404
 * when the record is gone, else 412. */
static int
after_change(store_t *st, store_thread_t *t, const store_kind_t *kind, const char *id, int changed,
             err_t *err)
{
    int rc;

    if (changed < 0)
        return -1;
    store__note_write(st, t, kind);
    if (changed > 0)
        return 0;
    rc = lookup_col(st, kind, 0, id, false, NULL, NULL, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return err_set(err, ERR_NOT_FOUND, NULL, "The %s was not found.", kind->what);
    return err_set(err, ERR_PRECONDITION_FAILED, NULL,
                   "The %s has changed since the ETag in If-Match was read.", kind->what);
}

int
store_rec_update(store_t *st, const store_kind_t *kind, const char *id, const json_t *rec,
                 int64_t expect_rev, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(kind != NULL && id != NULL && rec != NULL);
    return (int) STORE_WRITE(
        st, t,
        after_change(st, t, kind, id, st->be->rec_update(t->conn, kind, id, rec, expect_rev, err),
                     err),
        err);
}

int
store_rec_delete(store_t *st, const store_kind_t *kind, const char *id, int64_t expect_rev,
                 err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(kind != NULL && id != NULL);
    return (int) STORE_WRITE(
        st, t,
        after_change(st, t, kind, id, st->be->rec_delete(t->conn, kind, id, expect_rev, err), err),
        err);
}
