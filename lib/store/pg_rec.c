/*
 * pg_rec.c: the PostgreSQL backend's records: each kind is a table, each record a row, mapped by the
 * kind's column table (kinds.c) exactly as the SQLite backend maps them (sqlite_rec.c): nested API fields
 * ("capacity.cores") to flat columns, JSON-valued fields to text columns, booleans to 0/1 integers.
 *
 * Invariants:
 * - Every table has `seq` (position, an identity never reused), `id` (UUID text) and `rev` (revision,
 *   +1 on every update).
 * - An insert that meets a record holding one of its unique values answers 1 without failing the
 *   statement (ON CONFLICT DO NOTHING), so the transaction it runs in stays usable, as SQLite's does.
 *   Any other failure aborts the transaction in PostgreSQL; it answers -1 and the neutral layer rolls
 *   back.
 * - Parameters go as text; an integer filter whose value is no integer compares as text, matching
 *   nothing a number would, without failing the statement.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_util.h"
#include "pg.h"
#include "../util.h"

/* Parameters of one statement: their text, and what of it is ours to free. */
#define PARAMS_MAX 96

typedef struct {
    const char *v[PARAMS_MAX];
    char *owned[PARAMS_MAX];
    char num[PARAMS_MAX][24];
    int n;
} params_t;

static void
params_free(params_t *p)
{
    int i;

    for (i = 0; i < p->n; i++)
        free(p->owned[i]);
}

static int
param_text(params_t *p, const char *v, err_t *err)
{
    if (p->n >= PARAMS_MAX)
        return err_set(err, ERR_INTERNAL, NULL, "A statement has too many parameters.");
    p->owned[p->n] = NULL;
    p->v[p->n++] = v;
    return 0;
}

static int
param_int(params_t *p, int64_t v, err_t *err)
{
    if (p->n >= PARAMS_MAX)
        return err_set(err, ERR_INTERNAL, NULL, "A statement has too many parameters.");
    p->owned[p->n] = NULL;
    p->v[p->n] = pg__i64(p->num[p->n], v);
    p->n++;
    return 0;
}

/* A field's value as its column keeps it. */
static int
param_value(params_t *p, const store_col_t *col, const json_t *v, err_t *err)
{
    char *text;

    if (v == NULL || json_is_null(v))
        return param_text(p, NULL, err);
    switch (col->type) {
    case COL_TEXT:
        if (!json_is_string(v))
            return err_set(err, ERR_INTERNAL, col->field, "Field %s must be a string.", col->field);
        if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
            return err_set(err, ERR_INTERNAL, col->field, "Field %s holds a NUL character.",
                           col->field);
        return param_text(p, json_string_value(v), err);
    case COL_INT:
        if (!json_is_integer(v))
            return err_set(err, ERR_INTERNAL, col->field, "Field %s must be an integer.",
                           col->field);
        return param_int(p, json_integer_value(v), err);
    case COL_BOOL:
        return param_int(p, json_is_true(v) ? 1 : 0, err);
    case COL_JSON:
        if (param_text(p, NULL, err))
            return -1;
        text = util_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL) {
            p->n--;
            return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        }
        p->owned[p->n - 1] = text;
        p->v[p->n - 1] = text;
        return 0;
    }
    return err_set(err, ERR_INTERNAL, NULL, "A column has an unknown type.");
}

static json_t *
cell_value(const PGresult *res, int row, int idx, const store_col_t *col)
{
    const char *text;

    if (PQgetisnull(res, row, idx))
        return json_null();
    text = PQgetvalue(res, row, idx);
    switch (col->type) {
    case COL_TEXT:
        return json_stringn(text, (size_t) PQgetlength(res, row, idx));
    case COL_INT:
        return json_integer(strtoll(text, NULL, 10));
    case COL_BOOL:
        return json_boolean(strtoll(text, NULL, 10) != 0);
    case COL_JSON:
        return json_loads(text, JSON_DECODE_ANY, NULL);
    }
    return json_null();
}

/* Builds the record from columns [first, first + ncols) of row. */
static json_t *
row_record(const PGresult *res, int row, int first, const store_kind_t *kind)
{
    json_t *rec = json_object(), *v;
    size_t i;

    if (rec == NULL)
        return NULL;
    for (i = 0; i < kind->ncols; i++) {
        v = cell_value(res, row, first + (int) i, &kind->cols[i]);
        if (v == NULL || store__rec_set(rec, kind->cols[i].field, v)) {
            json_decref(rec);
            return NULL;
        }
    }
    return rec;
}

/* True when s is text PostgreSQL takes: valid UTF-8 (a value that is not, an id from a path say, is held by
 * no record, and must not fail the statement and with it the transaction). */
static bool
text_ok(const char *s)
{
    const unsigned char *u = (const unsigned char *) s;
    int more;

    while (*u) {
        if (*u < 0x80) {
            u++;
            continue;
        }
        if (*u >= 0xc2 && *u <= 0xdf)
            more = 1;
        else if (*u >= 0xe0 && *u <= 0xef)
            more = 2;
        else if (*u >= 0xf0 && *u <= 0xf4)
            more = 3;
        else
            return false;
        if ((*u == 0xe0 && (u[1] & 0xe0) == 0x80) || (*u == 0xed && u[1] >= 0xa0) ||
            (*u == 0xf0 && u[1] < 0x90) || (*u == 0xf4 && u[1] >= 0x90))
            return false; /* overlong, a surrogate, or past U+10FFFF */
        for (u++; more > 0; more--, u++)
            if ((*u & 0xc0) != 0x80)
                return false;
    }
    return true;
}

/* ---- record operations ---- */

int
pg_rec_insert(store_conn_t *c, const store_kind_t *kind, const json_t *rec, err_t *err)
{
    sqlbuf_t sb = {.len = 0};
    params_t p = {.n = 0};
    int64_t rows;
    size_t i;

    sqlbuf_add(&sb, "INSERT INTO %s(", kind->table);
    sqlbuf_columns(&sb, kind);
    sqlbuf_add(&sb, ") VALUES (");
    for (i = 0; i < kind->ncols; i++)
        sqlbuf_add(&sb, "%s$%zu", i ? ", " : "", i + 1);
    sqlbuf_add(&sb, ") ON CONFLICT DO NOTHING");
    if (sb.overflow)
        return err_set(err, ERR_INTERNAL, NULL, "A statement is too long.");
    for (i = 0; i < kind->ncols; i++) {
        if (param_value(&p, &kind->cols[i], store__rec_field(rec, kind->cols[i].field), err)) {
            params_free(&p);
            return -1;
        }
    }
    rows = pg__run(c, sb.buf, p.n, p.v, "creating a record", err);
    params_free(&p);
    if (rows < 0)
        return -1;
    return rows == 0 ? 1 : 0; /* none: a record holds one of its unique values, an answer */
}

/* Runs sql, whose columns are rev then the kind's, and reads the one record it finds: 0 with *rec and
 * *rev, 1 when there is none, or -1 with err. */
static int
read_one(store_conn_t *c, const char *sql, int n, const char *const *params, const store_kind_t *kind,
         json_t **rec, int64_t *rev, err_t *err)
{
    PGresult *res = pg__query(c, sql, n, params, "reading a record", err);
    int found = -1;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        found = 1;
    } else {
        *rec = row_record(res, 0, 1, kind);
        if (*rec == NULL) {
            err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        } else {
            *rev = pg__int(res, 0, 0);
            found = 0;
        }
    }
    PQclear(res);
    return found;
}

int
pg_rec_get_by(store_conn_t *c, const store_kind_t *kind, size_t col, const char *value,
              json_t **rec, int64_t *rev, err_t *err)
{
    sqlbuf_t sb = {.len = 0};
    const char *params[1] = {value};
    int64_t n;

    assert(col < kind->ncols);
    sqlbuf_add(&sb, "SELECT rev, ");
    sqlbuf_columns(&sb, kind);
    if (!text_ok(value))
        return 1;
    if (kind->cols[col].type == COL_INT || kind->cols[col].type == COL_BOOL) {
        if (util_parse_int64(value, true, &n) != 0)
            return 1; /* no integer column holds it */
    }
    sqlbuf_add(&sb, " FROM %s WHERE %s = $1 ORDER BY seq LIMIT 1", kind->table, kind->cols[col].column);
    if (sb.overflow)
        return err_set(err, ERR_INTERNAL, NULL, "A statement is too long.");
    return read_one(c, sb.buf, 1, params, kind, rec, rev, err);
}

/* The record whose id is id and whose column scol holds value, found by both at once: the row of a
 * record whose scol holds another value is never read into a record, so it costs what a missing id does. */
int
pg_rec_get_where(store_conn_t *c, const store_kind_t *kind, const char *id, size_t scol,
                 const char *value, json_t **rec, int64_t *rev, err_t *err)
{
    sqlbuf_t sb = {.len = 0};
    const char *params[2] = {id, value};

    assert(scol > 0 && scol < kind->ncols && kind->cols[scol].type == COL_TEXT);
    if (!text_ok(id) || !text_ok(value))
        return 1;
    sqlbuf_add(&sb, "SELECT rev, ");
    sqlbuf_columns(&sb, kind);
    sqlbuf_add(&sb, " FROM %s WHERE %s = $1 AND %s = $2", kind->table, kind->cols[0].column,
           kind->cols[scol].column);
    if (sb.overflow)
        return err_set(err, ERR_INTERNAL, NULL, "A statement is too long.");
    return read_one(c, sb.buf, 2, params, kind, rec, rev, err);
}

/* Adds the filters' conditions to sb and their values to p. */
static int
add_filters(sqlbuf_t *sb, params_t *p, const store_kind_t *kind, const store_filter_t *f, size_t nf,
            err_t *err)
{
    const store_col_t *col;
    bool number;
    char *text;
    int64_t n;
    size_t i;

    for (i = 0; i < nf; i++) {
        col = store__kind_col(kind, f[i].field);
        if (col == NULL)
            return err_set(err, ERR_INTERNAL, NULL, "The %s has no field %s.", kind->what,
                           f[i].field);
        number = col->type == COL_INT || col->type == COL_BOOL;
        if (f[i].op == STORE_FILTER_IN) {
            text = util_json_dumps(f[i].values, JSON_COMPACT | JSON_ENCODE_ANY);
            if (text == NULL)
                return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
            if (param_text(p, text, err)) {
                free(text);
                return -1;
            }
            p->owned[p->n - 1] = text;
            sqlbuf_add(sb, " AND %s%s IN (SELECT json_array_elements_text($%d::json))", col->column,
                   number ? "::text" : "", p->n);
        } else {
            if (f[i].value == NULL)
                return err_set(err, ERR_INTERNAL, NULL, "A filter of %s has no value.", f[i].field);
            if (!text_ok(f[i].value)) {
                sqlbuf_add(sb, " AND false"); /* no record holds it */
                continue;
            }
            if (param_text(p, f[i].value, err))
                return -1;
            if (number && util_parse_int64(f[i].value, true, &n) == 0)
                sqlbuf_add(sb, " AND %s = $%d::bigint", col->column, p->n);
            else if (number)
                sqlbuf_add(sb, " AND %s::text = $%d", col->column, p->n);
            else
                sqlbuf_add(sb, " AND %s = $%d", col->column, p->n);
        }
    }
    return 0;
}

/* Runs the page's query: seq, then the kind's columns (or with keys_only rev and id), of the rows after
 * `after` that match the filters, in seq order, one more than limit (which tells whether another page
 * follows). NULL with err set. */
static PGresult *
page_query(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters, size_t nfilters,
           int64_t after, int limit, bool keys_only, err_t *err)
{
    sqlbuf_t sb = {.len = 0};
    params_t p = {.n = 0};
    PGresult *res = NULL;

    assert(limit >= 0);
    sqlbuf_add(&sb, "SELECT seq, ");
    if (keys_only)
        sqlbuf_add(&sb, "rev, id");
    else
        sqlbuf_columns(&sb, kind);
    sqlbuf_add(&sb, " FROM %s WHERE seq > $1::bigint", kind->table);
    if (param_int(&p, after, err) == 0 && add_filters(&sb, &p, kind, filters, nfilters, err) == 0 &&
        param_int(&p, (int64_t) limit + 1, err) == 0) {
        sqlbuf_add(&sb, " ORDER BY seq LIMIT $%d::bigint", p.n);
        if (sb.overflow)
            err_set(err, ERR_INTERNAL, NULL, "A statement is too long.");
        else
            res = pg__query(c, sb.buf, p.n, p.v, "listing records", err);
    }
    params_free(&p);
    return res;
}

json_t *
pg_rec_list(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
            size_t nfilters, int64_t after, int limit, int64_t *next, err_t *err)
{
    PGresult *res = page_query(c, kind, filters, nfilters, after, limit, false, err);
    json_t *list, *rec;
    int i, rows;

    if (res == NULL)
        return NULL;
    rows = PQntuples(res);
    list = json_array();
    for (i = 0; list != NULL && i < rows && i < limit; i++) {
        rec = row_record(res, i, 1, kind);
        if (rec == NULL || json_array_append_new(list, rec)) {
            json_decref(list);
            list = NULL;
        }
    }
    if (list == NULL) {
        PQclear(res);
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    *next = rows > limit && limit > 0 ? pg__int(res, limit - 1, 0) : 0;
    PQclear(res);
    return list;
}

int
pg_rec_list_keys(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
                 size_t nfilters, int64_t after, int limit, store_rec_key_t *keys, int *n,
                 int64_t *next, err_t *err)
{
    PGresult *res = page_query(c, kind, filters, nfilters, after, limit, true, err);
    int i, rows, got = 0;
    size_t len;

    if (res == NULL)
        return -1;
    rows = PQntuples(res);
    for (i = 0; i < rows && i < limit; i++) {
        len = (size_t) PQgetlength(res, i, 2);
        if (PQgetisnull(res, i, 2) || len >= sizeof(keys[got].id)) {
            PQclear(res);
            return err_set(err, ERR_INTERNAL, NULL, "A %s has an id too long to list.", kind->what);
        }
        keys[got].pos = pg__int(res, i, 0);
        keys[got].rev = pg__int(res, i, 1);
        memcpy(keys[got].id, PQgetvalue(res, i, 2), len + 1);
        got++;
    }
    PQclear(res);
    *n = got;
    *next = rows > limit && got > 0 ? keys[got - 1].pos : 0;
    return 0;
}

int64_t
pg_rec_count(store_conn_t *c, const store_kind_t *kind, const store_filter_t *filters,
             size_t nfilters, err_t *err)
{
    sqlbuf_t sb = {.len = 0};
    params_t p = {.n = 0};
    PGresult *res = NULL;
    int64_t count = -1;

    sqlbuf_add(&sb, "SELECT count(*) FROM %s WHERE true", kind->table);
    if (add_filters(&sb, &p, kind, filters, nfilters, err) == 0) {
        if (sb.overflow)
            err_set(err, ERR_INTERNAL, NULL, "A statement is too long.");
        else
            res = pg__query(c, sb.buf, p.n, p.v, "counting records", err);
    }
    params_free(&p);
    if (res != NULL) {
        count = pg__int(res, 0, 0);
        PQclear(res);
    }
    return count;
}

int
pg_rec_update(store_conn_t *c, const store_kind_t *kind, const char *id, const json_t *rec,
              int64_t expect_rev, err_t *err)
{
    sqlbuf_t sb = {.len = 0};
    params_t p = {.n = 0};
    size_t i;
    int64_t rows;
    int first = 1;

    sqlbuf_add(&sb, "UPDATE %s SET ", kind->table);
    for (i = 0; i < kind->ncols; i++) {
        if (kind->cols[i].flags & COL_IMMUTABLE)
            continue;
        if (param_value(&p, &kind->cols[i], store__rec_field(rec, kind->cols[i].field), err)) {
            params_free(&p);
            return -1;
        }
        sqlbuf_add(&sb, "%s%s = $%d", first ? "" : ", ", kind->cols[i].column, p.n);
        first = 0;
    }
    if (!text_ok(id)) {
        params_free(&p);
        return 0; /* no record has that id */
    }
    if (param_text(&p, id, err) || (expect_rev > 0 && param_int(&p, expect_rev, err))) {
        params_free(&p);
        return -1;
    }
    sqlbuf_add(&sb, "%srev = rev + 1 WHERE id = $%d", first ? "" : ", ", expect_rev > 0 ? p.n - 1 : p.n);
    if (expect_rev > 0)
        sqlbuf_add(&sb, " AND rev = $%d::bigint", p.n);
    if (sb.overflow) {
        params_free(&p);
        return err_set(err, ERR_INTERNAL, NULL, "A statement is too long.");
    }
    rows = pg__run(c, sb.buf, p.n, p.v, "updating a record", err);
    params_free(&p);
    return rows < 0 ? -1 : (int) rows;
}

int
pg_rec_delete(store_conn_t *c, const store_kind_t *kind, const char *id, int64_t expect_rev,
              err_t *err)
{
    char sql[160], rev[24];
    const char *params[2] = {id, pg__i64(rev, expect_rev)};
    int64_t rows;

    if (!text_ok(id))
        return 0; /* no record has that id */
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = $1%s", kind->table,
             expect_rev > 0 ? " AND rev = $2::bigint" : "");
    rows = pg__run(c, sql, expect_rev > 0 ? 2 : 1, params, "deleting a record", err);
    return rows < 0 ? -1 : (int) rows;
}
