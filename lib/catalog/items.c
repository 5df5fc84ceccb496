/*
 * items.c: changing and removing the catalog's items (sizes, images, VM role gallery items), and a cloud's
 * capacity (see catalog.h).
 *
 * Invariants kept here:
 * - an item something names is never deleted: a VM, a VM role, a gallery item or a plan that names it
 *   explicitly makes the delete 409 Conflict, target naming which ("vms", "vmRoles", "galleryItems",
 *   "plans"); a plan's empty list (all allowed) names nothing. The check and the delete are one
 *   transaction, so nothing can come to name the item between them;
 * - a size is named by its name everywhere, so a size in use keeps its name; names stay unique;
 * - what a PATCH leaves the item with passes the checks a create makes (sizes: dynamic memory around the
 *   startup memory; gallery items: the image and size exist, minInstances <= maxInstances);
 * - VMs and roles carry their own cores, memory and disks: changing an item changes only what is made
 *   from it afterwards.
 */
#include "catalog_internal.h"

#include <assert.h>
#include <string.h>

#include "../jget.h"

/* One way a record can name an item: records of kind whose field equals the item's key. */
typedef struct {
    const store_kind_t *kind;
    const char *field;
    const char *target;
    const char *words; /* the target in a message */
} ref_t;

static const ref_t size_refs[] = {
    {&store_kind_vm, "size", "vms", "VMs"},
    {&store_kind_vmrole, "size", "vmRoles", "VM roles"},
    {&store_kind_gallery_item, "defaultSize", "galleryItems", "gallery items"},
};
static const ref_t image_refs[] = {
    {&store_kind_vm, "imageId", "vms", "VMs"},
    {&store_kind_gallery_item, "imageId", "galleryItems", "gallery items"},
};
static const ref_t gallery_refs[] = {
    {&store_kind_vmrole, "galleryItemId", "vmRoles", "VM roles"},
};

/* What names an item: its references by field, and the plans' list (sizeNames, imageIds,
 * galleryItemIds) that may name it. */
typedef struct {
    const store_kind_t *kind;
    const char *noun;
    const ref_t *refs;
    size_t nrefs;
    const char *plan_list;
} item_uses_t;

static const item_uses_t size_uses = {&store_kind_size, "size", size_refs, 3, "sizeNames"};
static const item_uses_t image_uses = {&store_kind_image, "image", image_refs, 2, "imageIds"};
static const item_uses_t gallery_uses = {&store_kind_gallery_item, "gallery item", gallery_refs, 1,
                                         "galleryItemIds"};

/* 1 when a plan's list_field names value (an empty list names nothing), 0 when none does, -1 with err. */
static int
plans_name(store_t *st, const char *list_field, const char *value, err_t *err)
{
    json_t *plans = store_rec_list_all(st, &store_kind_plan, NULL, 0, err), *plan, *item;
    size_t i, j;
    int found = 0;

    if (plans == NULL)
        return -1;
    json_array_foreach(plans, i, plan) {
        json_array_foreach(json_object_get(plan, list_field), j, item)
            if (json_is_string(item) && strcmp(json_string_value(item), value) == 0)
                found = 1;
    }
    json_decref(plans);
    return found;
}

static const ref_t plan_ref = {&store_kind_plan, NULL, "plans", "plans"};

/* What uses the item whose key is key; NULL when nothing does (or the store failed: then err is set). */
static const ref_t *
used_by(store_t *st, const item_uses_t *uses, const char *key, err_t *err)
{
    size_t i;
    int n;

    assert(st != NULL && uses != NULL && key != NULL);
    for (i = 0; i < uses->nrefs; i++) {
        n = catalog__count_refs(st, uses->refs[i].kind, uses->refs[i].field, key, err);
        if (n != 0)
            return n > 0 ? &uses->refs[i] : NULL;
    }
    n = plans_name(st, uses->plan_list, key, err);
    return n > 0 ? &plan_ref : NULL;
}

/* 0 when nothing uses the item; else 409 Conflict (target: what uses it; field: the field of a PATCH
 * that cannot change while it is in use, NULL for a delete) or the store's error. */
static int
refuse_if_used(store_t *st, const item_uses_t *uses, const char *key, const char *field,
               err_t *err)
{
    const ref_t *by = used_by(st, uses, key, err);

    if (by == NULL)
        return err->code == ERR_NONE ? 0 : -1;
    if (field != NULL)
        return err_set(err, ERR_CONFLICT, field,
                       "The %s is in use by %s; its %s cannot change while it is.", uses->noun,
                       by->words, field);
    return err_set(err, ERR_CONFLICT, by->target,
                   "The %s is in use by %s; change or remove them first.", uses->noun, by->words);
}

/* Deletes item id (key: what others name it by, the id or a size's name) unless it is in use, in one
 * transaction. */
static int
delete_unless_used(store_t *st, const item_uses_t *uses, const char *id, int64_t expect_rev,
                   err_t *err)
{
    json_t *rec;
    int rc = -1;

    assert(st != NULL && id != NULL);
    if (store_tx_begin(st, err))
        return -1;
    rec = catalog__get_for_update(st, uses->kind, id, expect_rev, err);
    if (rec == NULL)
        goto out;
    if (refuse_if_used(st, uses, uses->kind == &store_kind_size ? jget_str(rec, "name") : id, NULL,
                       err) ||
        store_rec_delete(st, uses->kind, id, expect_rev, err))
        goto out;
    rc = store_tx_commit(st, err);
out:
    json_decref(rec);
    if (rc)
        store_tx_rollback(st);
    return rc;
}

int
catalog_size_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    return delete_unless_used(st, &size_uses, id, expect_rev, err);
}

int
catalog_image_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    return delete_unless_used(st, &image_uses, id, expect_rev, err);
}

int
catalog_gallery_item_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    return delete_unless_used(st, &gallery_uses, id, expect_rev, err);
}

/* Opens a transaction and reads item id for a change in it; NULL (nothing left open) when either fails. */
static json_t *
open_for_change(store_t *st, const store_kind_t *kind, const char *id, int64_t expect_rev,
                err_t *err)
{
    json_t *rec;

    assert(st != NULL && id != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    rec = catalog__get_for_update(st, kind, id, expect_rev, err);
    if (rec == NULL)
        store_tx_rollback(st);
    return rec;
}

/* Stores rec (taken) as item id's new version and commits; rolls back and answers NULL on failure. */
static json_t *
commit_change(store_t *st, const store_kind_t *kind, const char *id, json_t *rec,
              int64_t expect_rev, err_t *err)
{
    catalog_record_touch(rec);
    rec = catalog__update_or_free(st, kind, id, rec, expect_rev, err);
    if (rec != NULL && store_tx_commit(st, err)) {
        json_decref(rec);
        rec = NULL;
    }
    if (rec == NULL)
        store_tx_rollback(st);
    return rec;
}

/* The change fails: rolls back and releases rec. */
static json_t *
abandon(store_t *st, json_t *rec)
{
    store_tx_rollback(st);
    json_decref(rec);
    return NULL;
}

/* ---- sizes ---- */

/* 0 when the dynamic memory a size ends with (the patch's, or else what rec has) holds the memoryMB it ends
 * with (rec's, patched), as a create checks it; else 400 naming the bound. */
static int
check_dynamic_memory(const json_t *rec, const catalog_size_patch_t *patch, err_t *err)
{
    catalog_dynmem_t dm = patch->dynamic_memory;

    if (!(patch->given & CATALOG_SIZE_DYNAMIC_MEMORY) &&
        catalog_dynmem_from_json(json_object_get(rec, "dynamicMemory"), &dm))
        return err_set(err, ERR_INTERNAL, NULL, "The size's dynamic memory is malformed.");
    return catalog_dynmem_check(&dm, jget_int(rec, "memoryMB"), err);
}

/* 0 when rec (a size being renamed to name) may take it: nothing names the size by its old name and no
 * other size has the new one; else 409 naming name. */
static int
check_rename(store_t *st, const json_t *rec, const char *name, err_t *err)
{
    int found;

    if (strcmp(jget_str(rec, "name"), name) == 0)
        return 0;
    found = store_rec_lookup_by(st, &store_kind_size, "name", name, NULL, err);
    if (found != 0)
        return found == 1 ? err_set(err, ERR_CONFLICT, "name", "A size named '%s' already exists.",
                                    name)
                          : -1;
    return refuse_if_used(st, &size_uses, jget_str(rec, "name"), "name", err);
}

json_t *
catalog_size_update(store_t *st, const char *id, const catalog_size_patch_t *patch,
                    int64_t expect_rev, err_t *err)
{
    json_t *rec;

    assert(patch != NULL && (!(patch->given & CATALOG_SIZE_NAME) || patch->name != NULL));
    if ((rec = open_for_change(st, &store_kind_size, id, expect_rev, err)) == NULL)
        return NULL;
    if ((patch->given & CATALOG_SIZE_NAME) && check_rename(st, rec, patch->name, err))
        return abandon(st, rec);
    if (patch->given & CATALOG_SIZE_NAME)
        json_object_set_new(rec, "name", json_string(patch->name));
    if (patch->given & CATALOG_SIZE_CORES)
        json_object_set_new(rec, "cores", json_integer(patch->cores));
    if (patch->given & CATALOG_SIZE_MEMORY_MB)
        json_object_set_new(rec, "memoryMB", json_integer(patch->memory_mb));
    if (check_dynamic_memory(rec, patch, err))
        return abandon(st, rec);
    if (patch->given & CATALOG_SIZE_DYNAMIC_MEMORY)
        json_object_set_new(rec, "dynamicMemory", catalog_dynmem_json(&patch->dynamic_memory));
    return commit_change(st, &store_kind_size, id, rec, expect_rev, err);
}

/* ---- images ---- */

json_t *
catalog_image_update(store_t *st, const char *id, const catalog_image_patch_t *patch,
                     int64_t expect_rev, err_t *err)
{
    const catalog_image_req_t *set = &patch->set;
    json_t *rec;

    assert(patch != NULL && (!(patch->given & CATALOG_IMAGE_NAME) || set->name != NULL));
    assert(!(patch->given & CATALOG_IMAGE_OS_TYPE) || set->os_type != NULL);
    if ((rec = open_for_change(st, &store_kind_image, id, expect_rev, err)) == NULL)
        return NULL;
    /* What a VM was made as cannot change under it. */
    if (((patch->given & CATALOG_IMAGE_OS_TYPE) &&
         strcmp(jget_str(rec, "osType"), set->os_type) != 0 &&
         refuse_if_used(st, &image_uses, id, "osType", err)) ||
        ((patch->given & CATALOG_IMAGE_GENERATION) &&
         jget_int(rec, "generation") != set->generation &&
         refuse_if_used(st, &image_uses, id, "generation", err)))
        return abandon(st, rec);
    if (patch->given & CATALOG_IMAGE_NAME)
        json_object_set_new(rec, "name", json_string(set->name));
    if (patch->given & CATALOG_IMAGE_OS_TYPE)
        json_object_set_new(rec, "osType", json_string(set->os_type));
    if (patch->given & CATALOG_IMAGE_GENERATION)
        json_object_set_new(rec, "generation", json_integer(set->generation));
    if (patch->given & CATALOG_IMAGE_OS_DISK_GB)
        json_object_set_new(rec, "osDiskGB", json_integer(set->os_disk_gb));
    return commit_change(st, &store_kind_image, id, rec, expect_rev, err);
}

/* ---- gallery items ---- */

/* rec (a gallery item as the PATCH leaves it) passes a create's checks. */
static int
check_gallery_item(store_t *st, const json_t *rec, unsigned given, err_t *err)
{
    int found;

    if (jget_int(rec, "minInstances") > jget_int(rec, "maxInstances"))
        return err_set(err, ERR_INVALID_REQUEST,
                       (given & CATALOG_GALLERY_MIN_INSTANCES) ? "minInstances" : "maxInstances",
                       "minInstances must not be greater than maxInstances.");
    if ((given & CATALOG_GALLERY_IMAGE_ID) &&
        catalog__require_exists(st, &store_kind_image, jget_str(rec, "imageId"), "imageId", "image",
                                err))
        return -1;
    if (!(given & CATALOG_GALLERY_DEFAULT_SIZE))
        return 0;
    found = store_rec_lookup_by(st, &store_kind_size, "name", jget_str(rec, "defaultSize"), NULL,
                                err);
    if (found == 0)
        return err_set(err, ERR_INVALID_REQUEST, "defaultSize", "No size is named '%s'.",
                       jget_str(rec, "defaultSize"));
    return found == 1 ? 0 : -1;
}

/* 0 when no VM role is made from gallery item id; else 409 Conflict naming imageId. */
static int
refuse_if_roles(store_t *st, const char *id, err_t *err)
{
    int used = catalog__count_refs(st, &store_kind_vmrole, "galleryItemId", id, err);

    if (used > 0)
        return err_set(err, ERR_CONFLICT, "imageId",
                       "VM roles are made from the gallery item; its imageId cannot change "
                       "while they are.");
    return used;
}

json_t *
catalog_gallery_item_update(store_t *st, const char *id,
                            const catalog_gallery_item_patch_t *patch, int64_t expect_rev,
                            err_t *err)
{
    const catalog_gallery_item_req_t *set = &patch->set;
    json_t *rec;

    assert(patch != NULL);
    if ((rec = open_for_change(st, &store_kind_gallery_item, id, expect_rev, err)) == NULL)
        return NULL;
    /* A role's new instances are made from its item's image: a role keeps the image it was made with. */
    if ((patch->given & CATALOG_GALLERY_IMAGE_ID) &&
        strcmp(jget_str(rec, "imageId"), set->image_id) != 0 &&
        refuse_if_roles(st, id, err))
        return abandon(st, rec);
    if (patch->given & CATALOG_GALLERY_NAME)
        json_object_set_new(rec, "name", json_string(set->name));
    if (patch->given & CATALOG_GALLERY_VERSION)
        json_object_set_new(rec, "version", json_string(set->version));
    if (patch->given & CATALOG_GALLERY_IMAGE_ID)
        json_object_set_new(rec, "imageId", json_string(set->image_id));
    if (patch->given & CATALOG_GALLERY_DEFAULT_SIZE)
        json_object_set_new(rec, "defaultSize", json_string(set->default_size));
    if (patch->given & CATALOG_GALLERY_MIN_INSTANCES)
        json_object_set_new(rec, "minInstances", json_integer(set->min_instances));
    if (patch->given & CATALOG_GALLERY_MAX_INSTANCES)
        json_object_set_new(rec, "maxInstances", json_integer(set->max_instances));
    if (check_gallery_item(st, rec, patch->given, err))
        return abandon(st, rec);
    return commit_change(st, &store_kind_gallery_item, id, rec, expect_rev, err);
}

/* ---- clouds' capacity ---- */

int
catalog_cloud_capacity(store_t *st, const char *cloud_id, catalog_cloud_capacity_t *out,
                       err_t *err)
{
    int64_t v[7];

    assert(st != NULL && cloud_id != NULL && out != NULL);
    if (store_cloud_capacity(st, cloud_id, v, err) < 0)
        return -1;
    *out = (catalog_cloud_capacity_t){
        .hosts = v[0],
        .capacity = {v[1], v[2], v[3]},
        .allocated = {v[4], v[5], v[6]},
    };
    return 0;
}
