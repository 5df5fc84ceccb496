/*
 * records.c: the store's record calls (store_rec_*), in the neutral layer: each checks its arguments,
 * passes the fault wrapper, calls the backend once, and does what every backend shares: the record
 * cache and read counters for single-record reads (cache.c), the change counters after writes, the 404
 * of a missing record and the 404-or-412 of an update or delete that changed nothing.
 *
 * Invariants: a write that succeeded notes its kind as written (store__note_write) before it returns; a
 * failed call leaves the counters alone.
 */
#include <assert.h>
#include <string.h>

#include "core.h"

static json_t *
get_by(store_t *st, const store_kind_t *kind, size_t col, const char *value, bool shared,
       int64_t *rev, err_t *err)
{
    store_thread_t *t = store__call(st, err);
    json_t *rec = NULL;
    int rc;

    assert(kind != NULL && value != NULL);
    if (t == NULL)
        return NULL;
    rc = store__cached_get(st, t, kind, col, value, shared, &rec, rev, err);
    if (rc == 1)
        err_set(err, ERR_NOT_FOUND, NULL, "The %s was not found.", kind->what);
    return rc == 0 ? rec : NULL;
}

json_t *
store_rec_get(store_t *st, const store_kind_t *kind, const char *id, int64_t *rev, err_t *err)
{
    return get_by(st, kind, 0, id, false, rev, err); /* column 0 is the id of every kind */
}

json_t *
store_rec_get_shared(store_t *st, const store_kind_t *kind, const char *id, int64_t *rev,
                     err_t *err)
{
    return get_by(st, kind, 0, id, true, rev, err);
}

json_t *
store_rec_get_where(store_t *st, const store_kind_t *kind, const char *id, const char *field,
                    const char *value, int64_t *rev, err_t *err)
{
    int64_t r = 0;
    json_t *rec;
    const char *have;

    assert(value == NULL || field != NULL);
    rec = store_rec_get(st, kind, id, &r, err);
    if (rec == NULL || value == NULL)
        goto out;
    have = json_string_value(store__rec_field(rec, field));
    if (have == NULL || strcmp(have, value) != 0) {
        json_decref(rec);
        err_set(err, ERR_NOT_FOUND, NULL, "The %s was not found.", kind->what);
        return NULL;
    }
out:
    if (rec != NULL && rev)
        *rev = r;
    return rec;
}

static json_t *
find_by(store_t *st, const store_kind_t *kind, const char *field, const char *value, bool shared,
        err_t *err)
{
    const store_col_t *col = store__kind_col(kind, field);

    if (col == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "The %s has no field %s.", kind->what, field);
        return NULL;
    }
    return get_by(st, kind, (size_t) (col - kind->cols), value, shared, NULL, err);
}

json_t *
store_rec_find(store_t *st, const store_kind_t *kind, const char *field, const char *value,
               err_t *err)
{
    return find_by(st, kind, field, value, false, err);
}

json_t *
store_rec_find_shared(store_t *st, const store_kind_t *kind, const char *field, const char *value,
                      err_t *err)
{
    return find_by(st, kind, field, value, true, err);
}

int
store_rec_insert(store_t *st, const store_kind_t *kind, const json_t *rec, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(kind != NULL && rec != NULL);
    if (t == NULL || st->be->rec_insert(t->conn, kind, rec, err))
        return -1;
    store__note_write(st, t, kind);
    return 0;
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

json_t *
store_rec_list_all(store_t *st, const store_kind_t *kind, const store_filter_t *filters,
                   size_t nfilters, err_t *err)
{
    int64_t after = 0, next = 0;
    json_t *all = json_array(), *page;

    do {
        page = store_rec_list(st, kind, filters, nfilters, after, 1000, &next, err);
        if (page == NULL) {
            json_decref(all);
            return NULL;
        }
        json_array_extend(all, page);
        json_decref(page);
        after = next;
    } while (next);
    return all;
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
    err_t local = {0};
    json_t *rec;

    if (changed < 0)
        return -1;
    store__note_write(st, t, kind);
    if (changed > 0)
        return 0;
    rec = store_rec_get(st, kind, id, NULL, &local);
    if (rec == NULL) {
        if (local.code == ERR_NOT_FOUND)
            return err_set(err, ERR_NOT_FOUND, NULL, "The %s was not found.", kind->what);
        return err_set(err, local.code, NULL, "%s", local.message);
    }
    json_decref(rec);
    return err_set(err, ERR_PRECONDITION_FAILED, NULL,
                   "The %s has changed since the ETag in If-Match was read.", kind->what);
}

int
store_rec_update(store_t *st, const store_kind_t *kind, const char *id, const json_t *rec,
                 int64_t expect_rev, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(kind != NULL && id != NULL && rec != NULL);
    if (t == NULL)
        return -1;
    return after_change(st, t, kind, id,
                        st->be->rec_update(t->conn, kind, id, rec, expect_rev, err), err);
}

int
store_rec_delete(store_t *st, const store_kind_t *kind, const char *id, int64_t expect_rev,
                 err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(kind != NULL && id != NULL);
    if (t == NULL)
        return -1;
    return after_change(st, t, kind, id, st->be->rec_delete(t->conn, kind, id, expect_rev, err),
                        err);
}
