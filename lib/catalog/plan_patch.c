/*
 * plan_patch.c: a hosting plan's settings (see catalog.h) as they go into a plan record, and a plan PATCH
 * in its JSON form.
 *
 * Invariants kept here:
 * - a plan record's quotas object always has the six quota keys, null meaning unlimited, and its allow
 *   lists are arrays (empty: all allowed), whatever the settings set; so is its replicaCloudIds (empty:
 *   snapshots stay in the plan's cloud), which rides with the lists for storage and JSON alike;
 * - the JSON form of a patch is the API's PATCH body: to_json writes exactly the fields the patch gives,
 *   nulls where it gives null, so from_json(to_json(p)) is p, and a plan.update job queued by an older
 *   version (whose params hold the body as it came) reads the same.
 */
#include "catalog_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* A plan's allow lists: their keys and their bits in a patch (list_of and list_at: where settings hold
 * them, in the same order). */
typedef struct {
    const char *key;
    unsigned bit;
} plan_list_t;

static const plan_list_t plan_lists[] = {
    {"imageIds", CATALOG_PLAN_IMAGE_IDS},
    {"sizeNames", CATALOG_PLAN_SIZE_NAMES},
    {"galleryItemIds", CATALOG_PLAN_GALLERY_ITEM_IDS},
    {"replicaCloudIds", CATALOG_PLAN_REPLICA_CLOUD_IDS},
};
#define NLISTS (sizeof(plan_lists) / sizeof(plan_lists[0]))

static const catalog_strs_t *
list_of(const catalog_plan_settings_t *set, size_t i)
{
    const catalog_strs_t *lists[NLISTS] = {&set->image_ids, &set->size_names,
                                           &set->gallery_item_ids, &set->replica_cloud_ids};

    assert(i < NLISTS);
    return lists[i];
}

static catalog_strs_t *
list_at(catalog_plan_settings_t *set, size_t i)
{
    catalog_strs_t *lists[NLISTS] = {&set->image_ids, &set->size_names, &set->gallery_item_ids,
                                     &set->replica_cloud_ids};

    assert(i < NLISTS);
    return lists[i];
}

static json_t *
limit_json(int64_t limit)
{
    return limit == CATALOG_UNLIMITED ? json_null() : json_integer(limit);
}

static json_t *
strs_json(const catalog_strs_t *list)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < list->count; i++)
        json_array_append_new(a, json_string(list->items[i]));
    return a;
}

void
catalog__plan_set(json_t *rec, const catalog_plan_settings_t *set, unsigned mask,
                  unsigned quotas_mask)
{
    json_t *old = json_object_get(rec, "quotas"), *quotas = json_object(), *v;
    size_t i;

    assert(rec != NULL && set != NULL);
    assert(!(mask & CATALOG_PLAN_NAME) || set->name != NULL);
    if (mask & CATALOG_PLAN_NAME)
        json_object_set_new(rec, "name", json_string(set->name));
    if (mask & CATALOG_PLAN_STATE)
        json_object_set_new(rec, "state", json_string(catalog_plan_state_name(set->state)));
    for (i = 0; i < CATALOG_QUOTA__COUNT; i++) {
        v = json_object_get(old, catalog_quota_name((catalog_quota_t) i));
        if ((mask & CATALOG_PLAN_QUOTAS) && (quotas_mask & (1u << i)))
            v = limit_json(set->limits[i]);
        else
            v = v != NULL ? json_incref(v) : json_null();
        json_object_set_new(quotas, catalog_quota_name((catalog_quota_t) i), v);
    }
    json_object_set_new(rec, "quotas", quotas);
    for (i = 0; i < NLISTS; i++) {
        if (mask & plan_lists[i].bit)
            json_object_set_new(rec, plan_lists[i].key, strs_json(list_of(set, i)));
        else if (!json_is_array(json_object_get(rec, plan_lists[i].key)))
            json_object_set_new(rec, plan_lists[i].key, json_array());
    }
    if (mask & CATALOG_PLAN_CHECKPOINT_MODE)
        json_object_set_new(rec, "checkpointMode",
                            json_string(catalog_checkpoint_mode_name(set->checkpoint_mode)));
    if (mask & CATALOG_PLAN_RETENTION)
        json_object_set_new(rec, "checkpointRetentionHours",
                            set->checkpoint_retention_hours > 0
                                ? json_integer(set->checkpoint_retention_hours)
                                : json_null());
}

json_t *
catalog_plan_patch_to_json(const catalog_plan_patch_t *patch)
{
    const catalog_plan_settings_t *set;
    json_t *o = json_object(), *quotas;
    size_t i;

    assert(patch != NULL);
    set = &patch->set;
    if (o == NULL)
        return NULL;
    if (patch->given & CATALOG_PLAN_NAME)
        json_object_set_new(o, "name", json_string(set->name));
    if (patch->given & CATALOG_PLAN_STATE)
        json_object_set_new(o, "state", json_string(catalog_plan_state_name(set->state)));
    if (patch->given & CATALOG_PLAN_QUOTAS) {
        quotas = patch->quotas_null ? json_null() : json_object();
        for (i = 0; !patch->quotas_null && i < CATALOG_QUOTA__COUNT; i++)
            if (patch->quotas_given & (1u << i))
                json_object_set_new(quotas, catalog_quota_name((catalog_quota_t) i),
                                    limit_json(set->limits[i]));
        json_object_set_new(o, "quotas", quotas);
    }
    for (i = 0; i < NLISTS; i++)
        if (patch->given & plan_lists[i].bit)
            json_object_set_new(o, plan_lists[i].key,
                                list_of(set, i)->null ? json_null() : strs_json(list_of(set, i)));
    if (patch->given & CATALOG_PLAN_CHECKPOINT_MODE)
        json_object_set_new(o, "checkpointMode",
                            json_string(catalog_checkpoint_mode_name(set->checkpoint_mode)));
    if (patch->given & CATALOG_PLAN_RETENTION)
        json_object_set_new(o, "checkpointRetentionHours",
                            set->checkpoint_retention_hours > 0
                                ? json_integer(set->checkpoint_retention_hours)
                                : json_null());
    return o;
}

/* Reads the list at key (an array of strings, or null) into *out; its items array is allocated. */
static int
list_from_json(const json_t *v, catalog_strs_t *out, err_t *err)
{
    const char **items;
    size_t i, n = json_array_size(v);

    out->null = json_is_null(v);
    if (n == 0)
        return 0;
    items = calloc(n, sizeof(*items));
    if (items == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    for (i = 0; i < n; i++)
        items[i] = json_string_value(json_array_get(v, i));
    out->items = items;
    out->count = n;
    return 0;
}

/* Reads the quotas of a patch (an object, or null: every limit lifted). */
static void
quotas_from_json(const json_t *v, catalog_plan_patch_t *out)
{
    const json_t *q;
    size_t i;

    out->quotas_null = json_is_null(v);
    if (out->quotas_null) {
        out->quotas_given = CATALOG__ALL_QUOTAS;
        return;
    }
    for (i = 0; i < CATALOG_QUOTA__COUNT; i++) {
        q = json_object_get(v, catalog_quota_name((catalog_quota_t) i));
        if (q == NULL)
            continue;
        out->quotas_given |= 1u << i;
        if (json_is_integer(q))
            out->set.limits[i] = json_integer_value(q);
    }
}

int
catalog_plan_patch_from_json(const json_t *json, catalog_plan_patch_t *out, err_t *err)
{
    catalog_plan_settings_t *set;
    const json_t *v;
    size_t i;

    assert(json_is_object(json) && out != NULL);
    memset(out, 0, sizeof(*out));
    set = &out->set;
    for (i = 0; i < CATALOG_QUOTA__COUNT; i++)
        set->limits[i] = CATALOG_UNLIMITED;
    if ((v = json_object_get(json, "name")) != NULL) {
        out->given |= CATALOG_PLAN_NAME;
        set->name = json_string_value(v);
    }
    if ((v = json_object_get(json, "state")) != NULL) {
        out->given |= CATALOG_PLAN_STATE;
        if (catalog_plan_state_parse(json_string_value(v), &set->state))
            return err_set(err, ERR_INVALID_REQUEST, "state",
                           "state must be public, private or decommissioned.");
    }
    if ((v = json_object_get(json, "quotas")) != NULL) {
        out->given |= CATALOG_PLAN_QUOTAS;
        quotas_from_json(v, out);
    }
    if ((v = json_object_get(json, "checkpointMode")) != NULL) {
        out->given |= CATALOG_PLAN_CHECKPOINT_MODE;
        if (catalog_checkpoint_mode_parse(json_string_value(v), &set->checkpoint_mode))
            return err_set(err, ERR_INVALID_REQUEST, "checkpointMode",
                           "checkpointMode must be disabled, viewRestore or createViewRestore.");
    }
    if ((v = json_object_get(json, "checkpointRetentionHours")) != NULL) {
        out->given |= CATALOG_PLAN_RETENTION;
        set->checkpoint_retention_hours = json_is_integer(v) ? json_integer_value(v) : 0;
    }
    for (i = 0; i < NLISTS; i++) {
        if ((v = json_object_get(json, plan_lists[i].key)) == NULL)
            continue;
        out->given |= plan_lists[i].bit;
        if (list_from_json(v, list_at(set, i), err)) {
            catalog_plan_patch_clear(out);
            return -1;
        }
    }
    return 0;
}

void
catalog_plan_patch_clear(catalog_plan_patch_t *patch)
{
    size_t i;

    assert(patch != NULL);
    for (i = 0; i < NLISTS; i++)
        free((void *) list_of(&patch->set, i)->items);
    memset(patch, 0, sizeof(*patch));
}
