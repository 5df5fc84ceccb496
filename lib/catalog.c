/*
 * catalog.c: the admin's catalog (see catalog.h): the record helpers, clouds, hosts, sizes, images and
 * VM role gallery items. Hosting plans and their update job are in catalog/plan.c.
 *
 * Invariants kept here:
 * - a host or gallery item refers only to records that exist (checked with a clear 400 naming the
 *   field, and backed by the schema's foreign keys);
 * - a host's agent is of a kind this version runs (sim) with a uri the simulator accepts, and its
 *   capacity never drops below what its VMs hold;
 * - nothing in use is deleted: a cloud with hosts or plans, a host with VMs (409 Conflict).
 */
#include "catalog/catalog_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

json_t *
catalog_record_new(const json_t *body)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    json_t *rec;

    assert(json_is_object(body));
    rec = json_deep_copy(body);
    if (rec == NULL)
        return NULL;
    util_uuid(id);
    util_time_format(util_now_ms(), now);
    json_object_set_new(rec, "id", json_string(id));
    json_object_set_new(rec, "createdAt", json_string(now));
    json_object_set_new(rec, "updatedAt", json_string(now));
    return rec;
}

void
catalog_record_touch(json_t *rec)
{
    char now[UTIL_TIME_LEN + 1];

    util_time_format(util_now_ms(), now);
    json_object_set_new(rec, "updatedAt", json_string(now));
}

void
catalog_record_merge(json_t *rec, const json_t *patch)
{
    const char *key;
    json_t *value;

    assert(rec != NULL && json_is_object(patch));
    json_object_foreach((json_t *) patch, key, value)
        json_object_set(rec, key, value);
    catalog_record_touch(rec);
}

void
catalog__default_null(json_t *rec, const char *key)
{
    if (json_object_get(rec, key) == NULL)
        json_object_set_new(rec, key, json_null());
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

static int
count_refs(store_t *st, const store_kind_t *kind, const char *field, const char *id, err_t *err)
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
    used = count_refs(st, ref_kind, ref_field, id, err);
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
catalog_cloud_create(store_t *st, const json_t *body, err_t *err)
{
    json_t *rec = catalog_record_new(body);

    if (rec)
        catalog__default_null(rec, "description");
    return catalog__insert_or_free(st, &store_kind_cloud, rec, err);
}

json_t *
catalog_cloud_update(store_t *st, const char *id, const json_t *patch, int64_t expect_rev,
                     err_t *err)
{
    json_t *rec = catalog__get_for_update(st, &store_kind_cloud, id, expect_rev, err);

    if (rec == NULL)
        return NULL;
    catalog_record_merge(rec, patch);
    if (store_rec_update(st, &store_kind_cloud, id, rec, expect_rev, err)) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

int
catalog_cloud_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    int used;

    if (store_tx_begin(st, err))
        return -1;
    if ((used = count_refs(st, &store_kind_host, "cloudId", id, err)) == 0)
        used = count_refs(st, &store_kind_plan, "cloudId", id, err);
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

/* ---- hosts ---- */

/* Checks a sim host's agent uri: "sim://" with optional latencyMs, jitterMs (integers >= 0), failRate,
 * hangRate (numbers in [0, 1]) and diffGBPerHour (a number >= 0). */
static int
check_sim_uri(const char *uri, err_t *err)
{
    const char *q, *p;
    char key[32], val[64];
    double d;
    char *end;
    int n;

    if (strncmp(uri, "sim://", 6) != 0)
        return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                       "A sim host's agent.uri must start with sim://.");
    q = strchr(uri + 6, '?');
    if (q == NULL)
        return 0;
    for (p = q + 1; *p;) {
        n = 0;
        if (sscanf(p, "%31[^=&]=%63[^&]%n", key, val, &n) != 2 || n == 0)
            return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                           "agent.uri parameters must be key=value pairs separated by &.");
        d = strtod(val, &end);
        if (*end != '\0' || d < 0)
            return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                           "agent.uri parameter %s must be a number of at least 0.", key);
        if (strcmp(key, "failRate") == 0 || strcmp(key, "hangRate") == 0) {
            if (d > 1)
                return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                               "agent.uri parameter %s must be between 0 and 1.", key);
        } else if (strcmp(key, "diffGBPerHour") == 0) {
            if (d > 1000000)
                return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                               "agent.uri parameter diffGBPerHour must be at most 1000000.");
        } else if (strcmp(key, "latencyMs") == 0 || strcmp(key, "jitterMs") == 0) {
            if (d != (double) (long) d || d > 600000)
                return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                               "agent.uri parameter %s must be whole milliseconds up to 600000.",
                               key);
        } else {
            return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                           "agent.uri has an unknown parameter %s.", key);
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return 0;
}

static int
check_agent(const json_t *agent, err_t *err)
{
    const char *kind = json_string_value(json_object_get(agent, "kind"));
    const json_t *uri = json_object_get(agent, "uri");

    if (kind == NULL || strcmp(kind, "sim") != 0)
        return err_set(err, ERR_INVALID_REQUEST, "agent.kind",
                       "Only agent kind 'sim' is available in this version; 'http' and 'libvirt' "
                       "hosts are not supported yet.");
    if (json_is_string(uri))
        return check_sim_uri(json_string_value(uri), err);
    return 0;
}

json_t *
catalog_host_create(store_t *st, const json_t *body, err_t *err)
{
    json_t *rec, *agent;

    if (catalog__require_exists(st, &store_kind_cloud,
                                json_string_value(json_object_get(body, "cloudId")), "cloudId", "cloud",
                                err))
        return NULL;
    if (check_agent(json_object_get(body, "agent"), err))
        return NULL;
    rec = catalog_record_new(body);
    if (rec == NULL)
        return catalog__insert_or_free(st, &store_kind_host, NULL, err);
    agent = json_object_get(rec, "agent");
    if (!json_is_string(json_object_get(agent, "uri")))
        json_object_set_new(agent, "uri", json_string("sim://"));
    json_object_set_new(rec, "allocated",
                        json_pack("{s:i, s:i, s:i}", "cores", 0, "memoryMB", 0, "storageGB", 0));
    json_object_set_new(rec, "state", json_string("ok"));
    json_object_set(rec, "lastSeenAt", json_object_get(rec, "createdAt"));
    return catalog__insert_or_free(st, &store_kind_host, rec, err);
}

json_t *
catalog_host_update(store_t *st, const char *id, const json_t *patch, int64_t expect_rev,
                    err_t *err)
{
    static const char *const cap_keys[] = {"cores", "memoryMB", "storageGB", NULL};
    json_t *rec = catalog__get_for_update(st, &store_kind_host, id, expect_rev, err), *cap, *alloc, *v;
    const char *key;
    size_t i;

    if (rec == NULL)
        return NULL;
    cap = json_object_get(rec, "capacity");
    alloc = json_object_get(rec, "allocated");
    json_object_foreach((json_t *) patch, key, v) {
        if (strcmp(key, "capacity") == 0) {
            json_object_update_existing(cap, v);
        } else if (strcmp(key, "agent") == 0) {
            json_t *uri = json_object_get(v, "uri");
            if (json_is_string(uri)) {
                if (check_sim_uri(json_string_value(uri), err)) /* only sim hosts exist */
                    goto fail;
                json_object_set(json_object_get(rec, "agent"), "uri", uri);
            } else if (json_is_null(uri)) {
                json_object_set_new(json_object_get(rec, "agent"), "uri", json_string("sim://"));
            }
        } else {
            json_object_set(rec, key, v);
        }
    }
    for (i = 0; cap_keys[i]; i++) {
        if (json_integer_value(json_object_get(cap, cap_keys[i])) <
            json_integer_value(json_object_get(alloc, cap_keys[i]))) {
            char target[48];
            snprintf(target, sizeof(target), "capacity.%s", cap_keys[i]);
            err_set(err, ERR_CONFLICT, target,
                    "The new %s is less than what the host's VMs already hold.", target);
            goto fail;
        }
    }
    catalog_record_touch(rec);
    if (store_rec_update(st, &store_kind_host, id, rec, expect_rev, err))
        goto fail;
    return rec;
fail:
    json_decref(rec);
    return NULL;
}

int
catalog_host_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    /* Every VM placed there counts, deallocated ones too: their disks live on the host. */
    return catalog__delete_unless_used(st, &store_kind_host, id, &store_kind_vm, "hostId",
                                       "VMs live on this host; move or delete them first.",
                                       expect_rev, err);
}

/* ---- sizes, images, gallery items ---- */

json_t *
catalog_size_create(store_t *st, const json_t *body, err_t *err)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    int found = store_rec_lookup_by(st, &store_kind_size, "name", name, NULL, err);

    if (found != 0) {
        if (found == 1)
            err_set(err, ERR_CONFLICT, "name", "A size named '%s' already exists.", name);
        return NULL;
    }
    return catalog__insert_or_free(st, &store_kind_size, catalog_record_new(body), err);
}

json_t *
catalog_image_create(store_t *st, const json_t *body, err_t *err)
{
    return catalog__insert_or_free(st, &store_kind_image, catalog_record_new(body), err);
}

json_t *
catalog_gallery_item_create(store_t *st, const json_t *body, err_t *err)
{
    const char *size = json_string_value(json_object_get(body, "defaultSize"));
    int found;

    if (catalog__require_exists(st, &store_kind_image,
                                json_string_value(json_object_get(body, "imageId")), "imageId", "image",
                                err))
        return NULL;
    found = store_rec_lookup_by(st, &store_kind_size, "name", size, NULL, err);
    if (found == 0)
        err_set(err, ERR_INVALID_REQUEST, "defaultSize", "No size is named '%s'.", size);
    if (found != 1)
        return NULL;
    if (json_integer_value(json_object_get(body, "minInstances")) >
        json_integer_value(json_object_get(body, "maxInstances"))) {
        err_set(err, ERR_INVALID_REQUEST, "minInstances",
                "minInstances must not be greater than maxInstances.");
        return NULL;
    }
    return catalog__insert_or_free(st, &store_kind_gallery_item, catalog_record_new(body), err);
}

