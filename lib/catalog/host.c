/*
 * host.c: the catalog's hosts (see catalog.h): create, update and delete.
 *
 * Invariants kept here:
 * - a host refers only to a cloud that exists (a clear 400 naming cloudId, backed by the schema's foreign
 *   key);
 * - a host's agent is of a kind this version runs (sim) with a uri the simulator accepts ("sim://" when
 *   none is given);
 * - a new host is ok, seen now, and holds nothing; its capacity never drops below what its VMs hold (409
 *   naming the capacity field);
 * - a host with VMs is not deleted (409 Conflict).
 */
#include "catalog_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_DEFAULT_URI "sim://"

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

json_t *
catalog_host_create(store_t *st, const catalog_host_req_t *req, err_t *err)
{
    json_t *rec;

    assert(req != NULL && req->name != NULL && req->cloud_id != NULL);
    if (catalog__require_exists(st, &store_kind_cloud, req->cloud_id, "cloudId", "cloud", err))
        return NULL;
    if (req->agent_kind != CATALOG_AGENT_SIM) {
        err_set(err, ERR_INVALID_REQUEST, "agent.kind",
                "Only agent kind 'sim' is available in this version; 'http' and 'libvirt' "
                "hosts are not supported yet.");
        return NULL;
    }
    if (req->agent_uri != NULL && check_sim_uri(req->agent_uri, err))
        return NULL;
    rec = catalog__record_take(json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:{s:I, s:I, s:I}, s:{s:i, s:i, s:i}, s:s}", "name", req->name,
        "cloudId", req->cloud_id, "agent", "kind", catalog_agent_kind_name(req->agent_kind), "uri",
        req->agent_uri != NULL ? req->agent_uri : SIM_DEFAULT_URI, "capacity", "cores",
        (json_int_t) req->capacity.cores, "memoryMB", (json_int_t) req->capacity.memory_mb,
        "storageGB", (json_int_t) req->capacity.storage_gb, "allocated", "cores", 0, "memoryMB", 0,
        "storageGB", 0, "state", catalog_host_state_name(CATALOG_HOST_OK)));
    if (rec != NULL)
        json_object_set(rec, "lastSeenAt", json_object_get(rec, "createdAt"));
    return catalog__insert_or_free(st, &store_kind_host, rec, err);
}

/* The capacity fields: their bits in a patch and their keys in the record. */
static const struct {
    unsigned bit;
    const char *key;
} cap_fields[] = {
    {CATALOG_HOST_CORES, "cores"},
    {CATALOG_HOST_MEMORY_MB, "memoryMB"},
    {CATALOG_HOST_STORAGE_GB, "storageGB"},
};
#define NCAP (sizeof(cap_fields) / sizeof(cap_fields[0]))

/* Sets the capacity fields patch gives into rec, then refuses (409 naming the field) a capacity below
 * what rec's VMs hold. */
static int
patch_capacity(json_t *rec, const catalog_host_patch_t *patch, err_t *err)
{
    const int64_t values[NCAP] = {patch->capacity.cores, patch->capacity.memory_mb,
                                  patch->capacity.storage_gb};
    json_t *cap = json_object_get(rec, "capacity"), *alloc = json_object_get(rec, "allocated");
    char target[48];
    size_t i;

    for (i = 0; i < NCAP; i++)
        if (patch->given & cap_fields[i].bit)
            json_object_set_new(cap, cap_fields[i].key, json_integer(values[i]));
    for (i = 0; i < NCAP; i++) {
        if (json_integer_value(json_object_get(cap, cap_fields[i].key)) <
            json_integer_value(json_object_get(alloc, cap_fields[i].key))) {
            snprintf(target, sizeof(target), "capacity.%s", cap_fields[i].key);
            return err_set(err, ERR_CONFLICT, target,
                           "The new %s is less than what the host's VMs already hold.", target);
        }
    }
    return 0;
}

json_t *
catalog_host_update(store_t *st, const char *id, const catalog_host_patch_t *patch,
                    int64_t expect_rev, err_t *err)
{
    json_t *rec;

    assert(patch != NULL && (!(patch->given & CATALOG_HOST_NAME) || patch->name != NULL));
    rec = catalog__get_for_update(st, &store_kind_host, id, expect_rev, err);
    if (rec == NULL)
        return NULL;
    if (patch->given & CATALOG_HOST_NAME)
        json_object_set_new(rec, "name", json_string(patch->name));
    if (patch->given & CATALOG_HOST_STATE)
        json_object_set_new(rec, "state", json_string(catalog_host_state_name(patch->state)));
    if (patch->given & CATALOG_HOST_AGENT_URI) {
        /* Only sim hosts exist: a new uri is a sim uri. */
        if (patch->agent_uri != NULL && check_sim_uri(patch->agent_uri, err))
            goto fail;
        json_object_set_new(json_object_get(rec, "agent"), "uri",
                            json_string(patch->agent_uri != NULL ? patch->agent_uri
                                                                 : SIM_DEFAULT_URI));
    }
    if (patch_capacity(rec, patch, err))
        goto fail;
    catalog_record_touch(rec);
    return catalog__update_or_free(st, &store_kind_host, id, rec, expect_rev, err);
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
