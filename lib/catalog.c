/*
 * catalog.c: the admin's catalog (see catalog.h): the record helpers, the names of its closed sets,
 * clouds, sizes, images and VM role gallery items. Hosts are in catalog/host.c; hosting plans and their
 * update job in catalog/plan.c and catalog/plan_patch.c.
 *
 * Invariants kept here:
 * - a record is built from the typed request alone: every field the API shows is present (null when
 *   absent), with an id and createdAt/updatedAt;
 * - a gallery item refers only to an image and a size that exist (a clear 400 naming the field, backed by
 *   the schema's foreign keys); size names are unique (409 naming name);
 * - nothing in use is deleted: a cloud with hosts or plans (409 Conflict).
 */
#include "catalog/catalog_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const host_states[] = {"ok", "maintenance", "unreachable"};
static const char *const plan_states[] = {"private", "public", "decommissioned"};
static const char *const checkpoint_modes[] = {"disabled", "viewRestore", "createViewRestore"};
static const char *const quota_names[] = {"vms", "cores", "memoryMB", "storageGB", "vmRoles",
                                          "networks"};

UTIL_ENUM_NAMES(catalog_host_state, catalog_host_state_t, host_states)
UTIL_ENUM_NAMES(catalog_plan_state, catalog_plan_state_t, plan_states)
UTIL_ENUM_NAMES(catalog_checkpoint_mode, catalog_checkpoint_mode_t, checkpoint_modes)

const char *
catalog_quota_name(catalog_quota_t quota)
{
    assert((size_t) quota < COUNT(quota_names));
    return quota_names[quota];
}

/* ---- records ---- */

static void
stamp(json_t *rec)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];

    util_uuid(id);
    util_time_format(util_now_ms(), now);
    json_object_set_new(rec, "id", json_string(id));
    json_object_set_new(rec, "createdAt", json_string(now));
    json_object_set_new(rec, "updatedAt", json_string(now));
}

json_t *
catalog__record_take(json_t *fields)
{
    if (fields != NULL)
        stamp(fields);
    return fields;
}

json_t *
catalog__string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

void
catalog_record_touch(json_t *rec)
{
    char now[UTIL_TIME_LEN + 1];

    util_time_format(util_now_ms(), now);
    json_object_set_new(rec, "updatedAt", json_string(now));
}

int
catalog__require_exists(store_t *st, const store_kind_t *kind, const char *id, const char *target,
                        const char *what, err_t *err)
{
    int found;

    assert(st != NULL && kind != NULL && target != NULL && what != NULL);
    found = store_rec_lookup(st, kind, id, NULL, NULL, err);
    if (found == 0)
        return err_set(err, ERR_INVALID_REQUEST, target, "No %s has the id given in %s.", what,
                       target);
    return found == 1 ? 0 : -1;
}

int
catalog__count_refs(store_t *st, const store_kind_t *kind, const char *field, const char *id,
                    err_t *err)
{
    store_filter_t f = {.field = field, .op = STORE_FILTER_EQ, .value = id};
    int64_t n = store_rec_count(st, kind, &f, 1, err);

    return n < 0 ? -1 : (int) (n > 0);
}

json_t *
catalog__insert_or_free(store_t *st, const store_kind_t *kind, json_t *rec, err_t *err)
{
    if (rec == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    if (store_rec_insert(st, kind, rec, err)) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

json_t *
catalog__update_or_free(store_t *st, const store_kind_t *kind, const char *id, json_t *rec,
                        int64_t expect_rev, err_t *err)
{
    assert(st != NULL && kind != NULL && id != NULL && rec != NULL);
    if (store_rec_update(st, kind, id, rec, expect_rev, err)) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

json_t *
catalog__get_for_update(store_t *st, const store_kind_t *kind, const char *id, int64_t expect_rev,
                        err_t *err)
{
    int64_t rev = 0;
    json_t *rec = store_rec_get(st, kind, id, &rev, err);

    if (rec != NULL && expect_rev > 0 && rev != expect_rev) {
        json_decref(rec);
        err_set(err, ERR_PRECONDITION_FAILED, NULL,
                "The resource has changed since the ETag in If-Match was read.");
        return NULL;
    }
    return rec;
}

int
catalog__delete_unless_used(store_t *st, const store_kind_t *kind, const char *id,
                            const store_kind_t *ref_kind, const char *ref_field, const char *in_use,
                            int64_t expect_rev, err_t *err)
{
    json_t *rec;
    int used;

    assert(st != NULL && kind != NULL && id != NULL && ref_kind != NULL && in_use != NULL);
    if (store_tx_begin(st, err))
        return -1;
    rec = store_rec_get(st, kind, id, NULL, err);
    if (rec == NULL)
        goto fail;
    json_decref(rec);
    used = catalog__count_refs(st, ref_kind, ref_field, id, err);
    if (used < 0)
        goto fail;
    if (used) {
        err_set(err, ERR_CONFLICT, NULL, "%s", in_use);
        goto fail;
    }
    if (store_rec_delete(st, kind, id, expect_rev, err))
        goto fail;
    return store_tx_commit(st, err);
fail:
    store_tx_rollback(st);
    return -1;
}

/* ---- clouds ---- */

json_t *
catalog_cloud_create(store_t *st, const catalog_cloud_req_t *req, err_t *err)
{
    assert(req != NULL && req->name != NULL);
    return catalog__insert_or_free(
        st, &store_kind_cloud,
        catalog__record_take(json_pack("{s:s, s:o}", "name", req->name, "description",
                                       catalog__string_or_null(req->description))),
        err);
}

json_t *
catalog_cloud_update(store_t *st, const char *id, const catalog_cloud_patch_t *patch,
                     int64_t expect_rev, err_t *err)
{
    json_t *rec;

    assert(patch != NULL && (!(patch->given & CATALOG_CLOUD_NAME) || patch->set.name != NULL));
    rec = catalog__get_for_update(st, &store_kind_cloud, id, expect_rev, err);
    if (rec == NULL)
        return NULL;
    if (patch->given & CATALOG_CLOUD_NAME)
        json_object_set_new(rec, "name", json_string(patch->set.name));
    if (patch->given & CATALOG_CLOUD_DESCRIPTION)
        json_object_set_new(rec, "description", catalog__string_or_null(patch->set.description));
    catalog_record_touch(rec);
    return catalog__update_or_free(st, &store_kind_cloud, id, rec, expect_rev, err);
}

int
catalog_cloud_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    int used;

    if (store_tx_begin(st, err))
        return -1;
    if ((used = catalog__count_refs(st, &store_kind_host, "cloudId", id, err)) == 0)
        used = catalog__count_refs(st, &store_kind_plan, "cloudId", id, err);
    if (used < 0)
        goto fail;
    if (used > 0) {
        /* A missing cloud answers 404 before any conflict. */
        json_t *rec = store_rec_get(st, &store_kind_cloud, id, NULL, err);
        if (rec != NULL)
            err_set(err, ERR_CONFLICT, NULL,
                    "The cloud is in use by hosts or plans; remove them first.");
        json_decref(rec);
        goto fail;
    }
    if (store_rec_delete(st, &store_kind_cloud, id, expect_rev, err))
        goto fail;
    return store_tx_commit(st, err);
fail:
    store_tx_rollback(st);
    return -1;
}

/* ---- sizes, images, gallery items ---- */

json_t *
catalog_size_create(store_t *st, const catalog_size_req_t *req, err_t *err)
{
    int found;

    assert(req != NULL && req->name != NULL);
    if (catalog_dynmem_check(&req->dynamic_memory, req->memory_mb, err))
        return NULL;
    found = store_rec_lookup_by(st, &store_kind_size, "name", req->name, NULL, err);
    if (found != 0) {
        if (found == 1)
            err_set(err, ERR_CONFLICT, "name", "A size named '%s' already exists.", req->name);
        return NULL;
    }
    return catalog__insert_or_free(
        st, &store_kind_size,
        catalog__record_take(json_pack("{s:s, s:I, s:I, s:o}", "name", req->name, "cores",
                                       (json_int_t) req->cores, "memoryMB",
                                       (json_int_t) req->memory_mb, "dynamicMemory",
                                       catalog_dynmem_json(&req->dynamic_memory))),
        err);
}

json_t *
catalog_image_create(store_t *st, const catalog_image_req_t *req, err_t *err)
{
    assert(req != NULL && req->name != NULL && req->os_type != NULL);
    return catalog__insert_or_free(
        st, &store_kind_image,
        catalog__record_take(json_pack("{s:s, s:s, s:I, s:I}", "name", req->name, "osType",
                                       req->os_type, "generation", (json_int_t) req->generation,
                                       "osDiskGB", (json_int_t) req->os_disk_gb)),
        err);
}

json_t *
catalog_gallery_item_create(store_t *st, const catalog_gallery_item_req_t *req, err_t *err)
{
    int found;

    assert(req != NULL && req->name != NULL && req->version != NULL && req->image_id != NULL &&
           req->default_size != NULL && req->min_instances <= req->max_instances);
    if (catalog__require_exists(st, &store_kind_image, req->image_id, "imageId", "image", err))
        return NULL;
    found = store_rec_lookup_by(st, &store_kind_size, "name", req->default_size, NULL, err);
    if (found == 0)
        err_set(err, ERR_INVALID_REQUEST, "defaultSize", "No size is named '%s'.",
                req->default_size);
    if (found != 1)
        return NULL;
    return catalog__insert_or_free(
        st, &store_kind_gallery_item,
        catalog__record_take(json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "name", req->name,
                                       "version", req->version, "imageId", req->image_id,
                                       "defaultSize", req->default_size, "minInstances",
                                       (json_int_t) req->min_instances, "maxInstances",
                                       (json_int_t) req->max_instances)),
        err);
}
