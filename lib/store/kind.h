/*
 * kind.h: what a kind of record is, as every backend of the store sees it: a table name, a noun for
 * messages, and the list of its fields with the column each is kept in.
 *
 * Kinds are backend-neutral data (lib/store/kinds.c): a backend builds its statements from them and
 * nothing else. Invariants: column 0 of every kind is its "id"; a field name has at most one dot (one
 * level of nesting, "capacity.cores"); a kind's index is unique and below STORE_KINDS, so it can name the
 * kind's slot in the change counters and in per-kind bit sets.
 */
#ifndef WAPD_STORE_KIND_H
#define WAPD_STORE_KIND_H

#include <stddef.h>

#include <jansson.h>

#include "../store.h"

typedef enum {
    COL_TEXT,
    COL_INT,
    COL_BOOL,
    COL_JSON,
} col_type_t;

#define COL_IMMUTABLE 1u /* written by insert only */

typedef struct {
    const char *field;  /* API name; one dot allowed for a nested field */
    const char *column; /* the backend's column */
    col_type_t type;
    unsigned flags;
} store_col_t;

struct store_kind {
    int index; /* 0 .. STORE_KINDS - 1: the kind's slot in the change counters */
    const char *table;
    const char *what; /* for messages: "cloud", "host" … */
    const store_col_t *cols;
    size_t ncols;
};

#define STORE_KINDS 32 /* kinds there may be: bits of a 32-bit set of kinds */

/* The column of kind that holds field, or NULL when it has none. */
const store_col_t *store__kind_col(const store_kind_t *kind, const char *field);
/* The value at field (one level of nesting allowed) of rec; borrowed, NULL when absent. */
json_t *store__rec_field(const json_t *rec, const char *field);
/* Sets field of rec (creating the nested object when needed) to value, which is stolen (also when NULL,
 * or on failure): 0, or -1 when an allocation failed. */
int store__rec_set(json_t *rec, const char *field, json_t *value);

#endif
