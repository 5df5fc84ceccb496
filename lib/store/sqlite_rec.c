/*
 * sqlite_rec.c: the SQLite backend's records: each kind is a table, each record a row, mapped by the
 * kind's column table (kinds.c). Nested API fields ("capacity.cores") map to flat columns, JSON-valued
 * fields (lists, quota objects) to text columns.
 *
 * Invariants:
 * - Every table has `seq` (position, INTEGER PRIMARY KEY, never reused: AUTOINCREMENT), `id` (UUID text),
 *   and `rev` (revision, +1 on every update).
 * - The statements of the record operations are found by (kind, operation, detail) in the connection's
 *   slot table without building their text again; the slot table only points into the text cache.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_util.h"
#include "sqlite.h"
#include "../util.h"

typedef enum {
    Q_INSERT,
    Q_SELECT_BY, /* detail: column index */
    Q_SELECT_WHERE, /* by id and one more column; detail: that column's index */
    Q_UPDATE,    /* detail: 1 when the revision is checked */
    Q_DELETE,    /* detail: 1 when the revision is checked */
} qop_t;

static unsigned
qslot_index(const store_kind_t *kind, int op, int detail)
{
    uintptr_t h = (uintptr_t) kind;

    h = (h >> 4) * 31u + (unsigned) op * 7u + (unsigned) detail;
    return (unsigned) (h % QCACHE_SLOTS);
}

/* The cached statement for (kind, op, detail), or NULL when it has not been prepared yet. */
static sqlite3_stmt *
qcache_get(store_conn_t *c, const store_kind_t *kind, int op, int detail)
{
    unsigned i = qslot_index(kind, op, detail), n;

    for (n = 0; n < QCACHE_SLOTS; n++, i = (i + 1) % QCACHE_SLOTS) {
        if (c->q[i].kind == NULL)
            return NULL;
        if (c->q[i].kind == kind && c->q[i].op == op && c->q[i].detail == detail)
            return c->q[i].stmt;
    }
    return NULL;
}

static void
qcache_put(store_conn_t *c, const store_kind_t *kind, int op, int detail, sqlite3_stmt *stmt)
{
    unsigned i = qslot_index(kind, op, detail), n;

    for (n = 0; n < QCACHE_SLOTS; n++, i = (i + 1) % QCACHE_SLOTS) {
        if (c->q[i].kind == NULL) {
            c->q[i].kind = kind;
            c->q[i].op = op;
            c->q[i].detail = detail;
            c->q[i].stmt = stmt;
            return;
        }
    }
    /* Full: the statement stays reachable through the text cache. */
}

static int
bind_value(sqlite3_stmt *s, int idx, const store_col_t *col, const json_t *v, err_t *err)
{
    char *text;
    int rc;

    if (v == NULL || json_is_null(v))
        return sqlite3_bind_null(s, idx) == SQLITE_OK ? 0 : -1;
    switch (col->type) {
    case COL_TEXT:
        if (!json_is_string(v))
            return err_set(err, ERR_INTERNAL, col->field, "Field %s must be a string.", col->field);
        rc = sqlite3_bind_text(s, idx, json_string_value(v), (int) json_string_length(v),
                               SQLITE_TRANSIENT);
        break;
    case COL_INT:
        if (!json_is_integer(v))
            return err_set(err, ERR_INTERNAL, col->field, "Field %s must be an integer.",
                           col->field);
        rc = sqlite3_bind_int64(s, idx, json_integer_value(v));
        break;
    case COL_BOOL:
        rc = sqlite3_bind_int(s, idx, json_is_true(v) ? 1 : 0);
        break;
    case COL_JSON:
        text = util_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL)
            return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        rc = sqlite3_bind_text(s, idx, text, -1, free);
        break;
    default:
        rc = SQLITE_MISUSE;
    }
    if (rc != SQLITE_OK)
        return err_set(err, ERR_INTERNAL, NULL, "A value could not be bound.");
    return 0;
}

static json_t *
column_value(sqlite3_stmt *s, int idx, const store_col_t *col)
{
    const char *text;

    if (sqlite3_column_type(s, idx) == SQLITE_NULL)
        return json_null();
    switch (col->type) {
    case COL_TEXT:
        return json_stringn((const char *) sqlite3_column_text(s, idx),
                            (size_t) sqlite3_column_bytes(s, idx));
    case COL_INT:
        return json_integer(sqlite3_column_int64(s, idx));
    case COL_BOOL:
        return json_boolean(sqlite3_column_int(s, idx));
    case COL_JSON:
        text = (const char *) sqlite3_column_text(s, idx);
        return json_loads(text, JSON_DECODE_ANY, NULL);
    }
    return json_null();
}

/* Builds the record from columns [first, first + ncols) of the current row. */
static json_t *
row_record(sqlite3_stmt *s, int first, const store_kind_t *kind)
{
    json_t *rec = json_object(), *v;
    size_t i;

    if (rec == NULL)
        return NULL;
    for (i = 0; i < kind->ncols; i++) {
        v = column_value(s, first + (int) i, &kind->cols[i]);
        if (v == NULL || store__rec_set(rec, kind->cols[i].field, v)) {
            json_decref(rec);
            return NULL;
        }
    }
    return rec;
}

/* ---- record operations ---- */

int
sqlite_rec_insert(store_conn_t *c, const store_kind_t *kind, const json_t *rec, err_t *err)
{
    sqlbuf_t sb = {.len = 0};
    sqlite3_stmt *s;
    size_t i;
    int rc, ext, answer = -1;

    s = qcache_get(c, kind, Q_INSERT, 0);
    if (s == NULL) {
        sqlbuf_add(&sb, "INSERT INTO %s(", kind->table);
        sqlbuf_columns(&sb, kind);
        sqlbuf_add(&sb, ") VALUES (");
        for (i = 0; i < kind->ncols; i++)
            sqlbuf_add(&sb, "%s?", i ? ", " : "");
        sqlbuf_add(&sb, ");");
        if (sb.overflow)
            return err_set(err, ERR_INTERNAL, NULL, "A statement is too long.");
        if ((s = sqlite__stmt(c, sb.buf, err)) == NULL)
            return -1;
        qcache_put(c, kind, Q_INSERT, 0, s);
    }
    for (i = 0; i < kind->ncols; i++) {
        if (bind_value(s, (int) i + 1, &kind->cols[i],
                       store__rec_field(rec, kind->cols[i].field), err)) {
            sqlite__stmt_done(s);
            return -1;
        }
    }
    rc = sqlite3_step(s);
    ext = sqlite3_extended_errcode(c->db);
    if (rc == SQLITE_DONE)
        answer = 0;
    else if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        answer = 1; /* a record holds one of its unique values: an answer, not a failure */
    else
        sqlite__db_err(c->db, rc, "creating a record", err);
    sqlite__stmt_done(s);
    return answer;
}

/* Runs s, bound, whose columns are rev then the kind's, and reads the one record it finds: 0 with *rec and
 * *rev, 1 when there is none, or -1 with err. */
static int
read_one(store_conn_t *c, sqlite3_stmt *s, const store_kind_t *kind, json_t **rec, int64_t *rev,
         err_t *err)
{
    int found = -1, rc = sqlite3_step(s);

    if (rc == SQLITE_ROW) {
        *rec = row_record(s, 1, kind);
        if (*rec == NULL) {
            err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        } else {
            *rev = sqlite3_column_int64(s, 0);
            found = 0;
        }
    } else if (rc == SQLITE_DONE) {
        found = 1;
    } else {
        sqlite__db_err(c->db, rc, "reading a record", err);
    }
    sqlite__stmt_done(s);
    return found;
}

int
sqlite_rec_get_by(store_conn_t *c, const store_kind_t *kind, size_t col, const char *value,
                  json_t **rec, int64_t *rev, err_t *err)
{
    sqlbuf_t sb = {.len = 0};
    sqlite3_stmt *s;

    s = qcache_get(c, kind, Q_SELECT_BY, (int) col);
    if (s == NULL) {
        sqlbuf_add(&sb, "SELECT rev, ");
        sqlbuf_columns(&sb, kind);
        sqlbuf_add(&sb, " FROM %s WHERE %s = ? ORDER BY seq LIMIT 1;", kind->table,
               kind->cols[col].column);
        if (sb.overflow || (s = sqlite__stmt(c, sb.buf, err)) == NULL)
            return err_set(err, ERR_INTERNAL, NULL, "A statement could not be prepared.");
        qcache_put(c, kind, Q_SELECT_BY, (int) col, s);
    }
    sqlite3_bind_text(s, 1, value, -1, SQLITE_STATIC);
    return read_one(c, s, kind, rec, rev, err);
}

/* The record whose id is id and whose column scol holds value, found by both at once: the row of a
 * record whose scol holds another value is never read into a record, so it costs what a missing id does
 * (the scope of a tenant's request: another tenant's record is none). */
int
sqlite_rec_get_where(store_conn_t *c, const store_kind_t *kind, const char *id, size_t scol,
                     const char *value, json_t **rec, int64_t *rev, err_t *err)
{
    sqlbuf_t sb = {.len = 0};
    sqlite3_stmt *s;

    assert(scol > 0 && scol < kind->ncols && kind->cols[scol].type == COL_TEXT);
    s = qcache_get(c, kind, Q_SELECT_WHERE, (int) scol);
    if (s == NULL) {
        sqlbuf_add(&sb, "SELECT rev, ");
        sqlbuf_columns(&sb, kind);
        sqlbuf_add(&sb, " FROM %s WHERE %s = ? AND %s = ?;", kind->table, kind->cols[0].column,
               kind->cols[scol].column);
        if (sb.overflow || (s = sqlite__stmt(c, sb.buf, err)) == NULL)
            return err_set(err, ERR_INTERNAL, NULL, "A statement could not be prepared.");
        qcache_put(c, kind, Q_SELECT_WHERE, (int) scol, s);
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    return read_one(c, s, kind, rec, rev, err);
}

static int
add_filters(sqlbuf_t *sb, const store_kind_t *kind, const store_filter_t *f, size_t nf,
            err_t *err)
{
    const store_col_t *col;
    size_t i;

    for (i = 0; i < nf; i++) {
        col = store__kind_col(kind, f[i].field);
        if (col == NULL)
            return err_set(err, ERR_INTERNAL, NULL, "The %s has no field %s.", kind->what,
                           f[i].field);
        if (f[i].op == STORE_FILTER_IN)
            sqlbuf_add(sb, " AND %s IN (SELECT value FROM json_each(?))", col->column);
        else
            sqlbuf_add(sb, " AND %s = ?", col->column);
    }
    return 0;
}

/* The statement in sb, its filters bound from parameter first on; NULL with err set. */
static sqlite3_stmt *
filtered_stmt(store_conn_t *c, const sqlbuf_t *sb, int first, const store_kind_t *kind,
              const store_filter_t *f, size_t nf, err_t *err)
{
    const store_col_t *col;
    sqlite3_stmt *s;
    char *text;
    size_t i;
    int64_t n;

    if (sb->overflow) {
        err_set(err, ERR_INTERNAL, NULL, "A statement is too long.");
        return NULL;
    }
    if ((s = sqlite__stmt(c, sb->buf, err)) == NULL)
        return NULL;
    for (i = 0; i < nf; i++) {
        col = store__kind_col(kind, f[i].field);
        if (f[i].op == STORE_FILTER_IN) {
            text = util_json_dumps(f[i].values, JSON_COMPACT | JSON_ENCODE_ANY);
            if (text == NULL) {
                sqlite__stmt_done(s);
                err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
                return NULL;
            }
            sqlite3_bind_text(s, first + (int) i, text, -1, free);
        } else if (col->type == COL_INT && util_parse_int64(f[i].value, true, &n) == 0) {
            sqlite3_bind_int64(s, first + (int) i, n);
        } else {
            sqlite3_bind_text(s, first + (int) i, f[i].value, -1, SQLITE_STATIC);
        }
    }
    return s;
}

/* The statement of a page: seq, then the kind's columns (or with keys_only rev and id), of the rows
 * after `after` that match the filters, in seq order, one more than limit (which tells whether another
 * page follows). One query over the index that serves (filter, seq). NULL with err set. */
static sqlite3_stmt *
page_stmt(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters, size_t nfilters,
          int64_t after, int limit, bool keys_only, err_t *err)
{
    sqlbuf_t sb = {.len = 0};
    sqlite3_stmt *s;

    sqlbuf_add(&sb, "SELECT seq, ");
    if (keys_only)
        sqlbuf_add(&sb, "rev, id");
    else
        sqlbuf_columns(&sb, kind);
    sqlbuf_add(&sb, " FROM %s WHERE seq > ?", kind->table);
    if (add_filters(&sb, kind, filters, nfilters, err))
        return NULL;
    sqlbuf_add(&sb, " ORDER BY seq LIMIT ?;");
    if ((s = filtered_stmt(c, &sb, 2, kind, filters, nfilters, err)) == NULL)
        return NULL;
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int(s, 2 + (int) nfilters, limit + 1);
    return s;
}

/* Ends a page's statement: rc (SQLITE_DONE, or the failure; SQLITE_NOMEM is ours) into err. 0 or -1. */
static int
page_end(store_conn_t *c, sqlite3_stmt *s, int rc, err_t *err)
{
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_NOMEM) /* ours: the connection's error code says nothing of it */
            err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        else
            sqlite__db_err(c->db, rc, "listing records", err);
    }
    sqlite__stmt_done(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

json_t *
sqlite_rec_list(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                size_t nfilters, int64_t after, int limit, int64_t *next, err_t *err)
{
    sqlite3_stmt *s;
    json_t *list, *rec;
    int64_t last = 0;
    int rc, n = 0, more = 0;

    if ((s = page_stmt(c, kind, filters, nfilters, after, limit, false, err)) == NULL)
        return NULL;
    list = json_array();
    while ((rc = list ? sqlite3_step(s) : SQLITE_NOMEM) == SQLITE_ROW) {
        if (n == limit) {
            more = 1;
            rc = SQLITE_DONE;
            break;
        }
        rec = row_record(s, 1, kind);
        if (rec == NULL || json_array_append_new(list, rec)) {
            rc = SQLITE_NOMEM;
            break;
        }
        last = sqlite3_column_int64(s, 0);
        n++;
    }
    if (page_end(c, s, rc, err)) {
        json_decref(list);
        return NULL;
    }
    *next = more ? last : 0;
    return list;
}

int
sqlite_rec_list_keys(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                     size_t nfilters, int64_t after, int limit, store_rec_key_t *keys, int *n,
                     int64_t *next, err_t *err)
{
    sqlite3_stmt *s;
    const char *id;
    int rc, got = 0, more = 0;

    if ((s = page_stmt(c, kind, filters, nfilters, after, limit, true, err)) == NULL)
        return -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (got == limit) {
            more = 1;
            rc = SQLITE_DONE;
            break;
        }
        id = (const char *) sqlite3_column_text(s, 2);
        if (id == NULL || (size_t) sqlite3_column_bytes(s, 2) >= sizeof(keys[got].id)) {
            sqlite__stmt_done(s);
            return err_set(err, ERR_INTERNAL, NULL, "A %s has an id too long to list.", kind->what);
        }
        keys[got].pos = sqlite3_column_int64(s, 0);
        keys[got].rev = sqlite3_column_int64(s, 1);
        memcpy(keys[got].id, id, (size_t) sqlite3_column_bytes(s, 2) + 1);
        got++;
    }
    if (page_end(c, s, rc, err))
        return -1;
    *n = got;
    *next = more ? keys[got - 1].pos : 0;
    return 0;
}

int64_t
sqlite_rec_count(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                 size_t nfilters, err_t *err)
{
    sqlbuf_t sb = {.len = 0};
    sqlite3_stmt *s;
    int64_t count = -1;
    int rc;

    sqlbuf_add(&sb, "SELECT count(*) FROM %s WHERE 1", kind->table);
    if (add_filters(&sb, kind, filters, nfilters, err))
        return -1;
    sqlbuf_add(&sb, ";");
    if ((s = filtered_stmt(c, &sb, 1, kind, filters, nfilters, err)) == NULL)
        return -1;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        count = sqlite3_column_int64(s, 0);
    else
        sqlite__db_err(c->db, rc, "counting records", err);
    sqlite__stmt_done(s);
    return count;
}

int
sqlite_rec_update(store_conn_t *c, const store_kind_t *kind, const char *id, const json_t *rec,
                  int64_t expect_rev, err_t *err)
{
    sqlbuf_t sb = {.len = 0};
    sqlite3_stmt *s;
    size_t i;
    int idx = 1, first = 1, checked = expect_rev > 0;

    s = qcache_get(c, kind, Q_UPDATE, checked);
    if (s == NULL) {
        sqlbuf_add(&sb, "UPDATE %s SET ", kind->table);
        for (i = 0; i < kind->ncols; i++) {
            if (kind->cols[i].flags & COL_IMMUTABLE)
                continue;
            sqlbuf_add(&sb, "%s%s = ?", first ? "" : ", ", kind->cols[i].column);
            first = 0;
        }
        sqlbuf_add(&sb, ", rev = rev + 1 WHERE id = ?%s;", checked ? " AND rev = ?" : "");
        if (sb.overflow || (s = sqlite__stmt(c, sb.buf, err)) == NULL)
            return -1;
        qcache_put(c, kind, Q_UPDATE, checked, s);
    }
    for (i = 0; i < kind->ncols; i++) {
        if (kind->cols[i].flags & COL_IMMUTABLE)
            continue;
        if (bind_value(s, idx++, &kind->cols[i], store__rec_field(rec, kind->cols[i].field),
                       err)) {
            sqlite__stmt_done(s);
            return -1;
        }
    }
    sqlite3_bind_text(s, idx++, id, -1, SQLITE_STATIC);
    if (checked)
        sqlite3_bind_int64(s, idx, expect_rev);
    return sqlite__stmt_run(c, s, "updating a record", err);
}

int
sqlite_rec_delete(store_conn_t *c, const store_kind_t *kind, const char *id, int64_t expect_rev,
                  err_t *err)
{
    char sql[160];
    sqlite3_stmt *s;
    int checked = expect_rev > 0;

    s = qcache_get(c, kind, Q_DELETE, checked);
    if (s == NULL) {
        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = ?%s;", kind->table,
                 checked ? " AND rev = ?" : "");
        if ((s = sqlite__stmt(c, sql, err)) == NULL)
            return -1;
        qcache_put(c, kind, Q_DELETE, checked, s);
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (checked)
        sqlite3_bind_int64(s, 2, expect_rev);
    return sqlite__stmt_run(c, s, "deleting a record", err);
}
