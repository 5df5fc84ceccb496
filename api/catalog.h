/*
 * catalog.h (api): the admin catalog's requests read from a JSON body: clouds, hosts, sizes, images,
 * gallery items and plans.
 *
 * Each function takes a body already checked for shape against the resource's field table (api_res_* in
 * catalog.c; the demo seeding and tests write bodies of that shape), turns it into the typed request of
 * lib/catalog.h, checks what the table cannot (minInstances <= maxInstances), and calls the one lib entry
 * point. body is borrowed; the answer is lib's (a new reference, or NULL with err set once).
 */
#ifndef WAPD_API_CATALOG_H
#define WAPD_API_CATALOG_H

#include <stdint.h>

#include <jansson.h>

#include "../lib/err.h"
#include "../lib/store.h"

json_t *api_catalog_cloud_create(store_t *st, const json_t *body, err_t *err);
json_t *api_catalog_cloud_update(store_t *st, const char *id, const json_t *body, int64_t rev,
                                 err_t *err);
json_t *api_catalog_host_create(store_t *st, const json_t *body, err_t *err);
json_t *api_catalog_host_update(store_t *st, const char *id, const json_t *body, int64_t rev,
                                err_t *err);
json_t *api_catalog_size_create(store_t *st, const json_t *body, err_t *err);
json_t *api_catalog_image_create(store_t *st, const json_t *body, err_t *err);
json_t *api_catalog_gallery_item_create(store_t *st, const json_t *body, err_t *err);
json_t *api_catalog_plan_create(store_t *st, const json_t *body, err_t *err);
/* Answers the plan-update job. */
json_t *api_catalog_plan_update(store_t *st, const char *id, const json_t *body, int64_t rev,
                                err_t *err);

#endif
