/*
 * catalog.h: what the admin offers: clouds, hosts, sizes, images, VM role gallery items and hosting plans.
 *
 * Bodies passed in have already been checked for shape (types, ranges, known fields) by api/; these
 * functions decide everything that needs the state: references that must exist, names that must be unique,
 * resources in use. Each write runs in one transaction (nested in the caller's when one is open).
 * Records returned are new references, shaped as the API shows them.
 */
#ifndef WAPD_CATALOG_H
#define WAPD_CATALOG_H

#include <jansson.h>

#include "err.h"
#include "store.h"

json_t *catalog_cloud_create(store_t *st, const json_t *body, err_t *err);
json_t *catalog_cloud_update(store_t *st, const char *id, const json_t *patch, int64_t expect_rev,
                             err_t *err);
int catalog_cloud_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err);

json_t *catalog_host_create(store_t *st, const json_t *body, err_t *err);
json_t *catalog_host_update(store_t *st, const char *id, const json_t *patch, int64_t expect_rev,
                            err_t *err);
int catalog_host_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err);

json_t *catalog_size_create(store_t *st, const json_t *body, err_t *err);
json_t *catalog_image_create(store_t *st, const json_t *body, err_t *err);
json_t *catalog_gallery_item_create(store_t *st, const json_t *body, err_t *err);

json_t *catalog_plan_create(store_t *st, const json_t *body, err_t *err);
/* Checks the new settings and answers the plan-update job, which applies them to the plan and then to its
 * subscriptions; until it succeeds the old settings apply. One plan-update job per plan at a time (409
 * OperationInProgress). */
json_t *catalog_plan_update(store_t *st, const char *id, const json_t *patch, int64_t expect_rev,
                            err_t *err);
int catalog_plan_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err);

/* Registers the catalog's job kinds (plan.update). */
int catalog_jobs_register(void);

/* True when the plan (a record) allows the item: its list for that field is empty or names it. */
int catalog_plan_allows(const json_t *plan, const char *list_field, const char *value);

/* A new record from body: a copy with a fresh id and createdAt/updatedAt set to now. */
json_t *catalog_record_new(const json_t *body);
/* Copies every key of patch into rec (replacing), and sets updatedAt. */
void catalog_record_merge(json_t *rec, const json_t *patch);
/* Sets rec's updatedAt to now. */
void catalog_record_touch(json_t *rec);

#endif
