/*
 * catalog_internal.h: the helpers the parts of the catalog share; not for other modules.
 *
 * The catalog is lib/catalog.c (record helpers, clouds, hosts, sizes, images, gallery items) and
 * lib/catalog/plan.c (hosting plans and the plan-update job). Every helper runs in the caller's
 * transaction, or as one store call of its own when none is open.
 */
#ifndef WAPD_CATALOG_INTERNAL_H
#define WAPD_CATALOG_INTERNAL_H

#include "../catalog.h"

/* Sets key to null in rec when it is absent. */
void catalog__default_null(json_t *rec, const char *key);
/* 0 when a record of kind has the id; else 400 InvalidRequest naming target ("No <what> has the id given
 * in <target>."), or the store's error. */
int catalog__require_exists(store_t *st, const store_kind_t *kind, const char *id, const char *target,
                            const char *what, err_t *err);
/* Inserts rec (taken; NULL is out of memory); on success returns rec, else decrefs it and returns NULL. */
json_t *catalog__insert_or_free(store_t *st, const store_kind_t *kind, json_t *rec, err_t *err);
/* Reads record id with its revision, checking expect_rev (when > 0) early for a clear 412. */
json_t *catalog__get_for_update(store_t *st, const store_kind_t *kind, const char *id,
                                int64_t expect_rev, err_t *err);
/* Deletes record id of kind in one transaction: 404 when it is missing, else 409 Conflict with in_use
 * when a record of ref_kind refers to it by ref_field, else the store's revision rule. */
int catalog__delete_unless_used(store_t *st, const store_kind_t *kind, const char *id,
                                const store_kind_t *ref_kind, const char *ref_field,
                                const char *in_use, int64_t expect_rev, err_t *err);

#endif
