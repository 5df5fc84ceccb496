/*
 * catalog_internal.h: the helpers the parts of the catalog share; not for other modules.
 *
 * The catalog is lib/catalog.c (record helpers, names of its closed sets, clouds, sizes, images, gallery
 * items), lib/catalog/host.c (hosts), lib/catalog/plan.c (hosting plans and the plan-update job) and
 * lib/catalog/plan_patch.c (a plan's settings as a record and as JSON). Every helper runs in the caller's
 * transaction, or as one store call of its own when none is open.
 */
#ifndef WAPD_CATALOG_INTERNAL_H
#define WAPD_CATALOG_INTERNAL_H

#include "../catalog.h"

/* A new record holding fields (taken; NULL is out of memory) with a fresh id and createdAt/updatedAt set to
 * now; NULL when out of memory. */
json_t *catalog__record_take(json_t *fields);
/* A JSON string of s, or null when s is NULL. */
json_t *catalog__string_or_null(const char *s);
/* The name of value in names (n entries); parse: the index of text in names, -1 when absent. */
/* 0 when a record of kind has the id; else 400 InvalidRequest naming target ("No <what> has the id given
 * in <target>."), or the store's error. */
int catalog__require_exists(store_t *st, const store_kind_t *kind, const char *id, const char *target,
                            const char *what, err_t *err);
/* Inserts rec (taken; NULL is out of memory); on success returns rec, else decrefs it and returns NULL. */
json_t *catalog__insert_or_free(store_t *st, const store_kind_t *kind, json_t *rec, err_t *err);
/* Reads record id with its revision, checking expect_rev (when > 0) early for a clear 412. */
json_t *catalog__get_for_update(store_t *st, const store_kind_t *kind, const char *id,
                                int64_t expect_rev, err_t *err);
/* Stores rec (taken) as the new version of record id; answers it, or NULL when the store refused. */
json_t *catalog__update_or_free(store_t *st, const store_kind_t *kind, const char *id, json_t *rec,
                                int64_t expect_rev, err_t *err);
/* Deletes record id of kind in one transaction: 404 when it is missing, else 409 Conflict with in_use
 * when a record of ref_kind refers to it by ref_field, else the store's revision rule. */
int catalog__delete_unless_used(store_t *st, const store_kind_t *kind, const char *id,
                                const store_kind_t *ref_kind, const char *ref_field,
                                const char *in_use, int64_t expect_rev, err_t *err);
/* 1 when a record of kind refers to id by field, 0 when none does, -1 when the store failed. */
int catalog__count_refs(store_t *st, const store_kind_t *kind, const char *field, const char *id,
                        err_t *err);

/* Every CATALOG_PLAN_* bit, and every quota's bit. */
#define CATALOG__ALL_SETTINGS 0xffu
#define CATALOG__ALL_QUOTAS ((1u << CATALOG_QUOTA__COUNT) - 1)

/* plan_patch.c: sets in rec (a plan record) the settings of set that mask names (CATALOG_PLAN_* bits;
 * quotas: the quotas that quotas_mask names), then gives rec's quotas every key and its lists arrays. */
void catalog__plan_set(json_t *rec, const catalog_plan_settings_t *set, unsigned mask,
                       unsigned quotas_mask);

#endif
