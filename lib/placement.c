/*
 * placement.c: least-loaded placement (see placement.h).
 *
 * Only hosts whose state is ok are candidates, filtered by the store: maintenance is the admin's word,
 * unreachable the heartbeat's (lib/hostwatch.c), and neither takes a new VM. The allocation of the chosen
 * host grows in the caller's transaction, so a placement that rolls back holds nothing. A host an admin
 * chose (placement_reserve_on) is held to the same rules: ok, and room for what it is to take.
 */
#include "placement.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static int64_t
field(const json_t *host, const char *obj, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(host, obj), key));
}

int
placement_place(store_t *st, const char *cloud_id, int64_t cores, int64_t memory_mb,
                int64_t storage_gb, char host_id[UTIL_UUID_LEN + 1], err_t *err)
{
    store_filter_t f[2] = {{.field = "cloudId", .op = STORE_FILTER_EQ, .value = cloud_id},
                           {.field = "state", .op = STORE_FILTER_EQ, .value = "ok"}};
    int64_t best_cores = -1, best_mem = -1, fc, fm, fs;
    const json_t *best = NULL;
    json_t *all, *h;
    size_t i;
    int rc = -1;

    assert(st != NULL && cloud_id != NULL && host_id != NULL);
    all = store_rec_list_all(st, &store_kind_host, f, 2, err);
    if (all == NULL)
        return -1;
    json_array_foreach(all, i, h) {
        fc = field(h, "capacity", "cores") - field(h, "allocated", "cores");
        fm = field(h, "capacity", "memoryMB") - field(h, "allocated", "memoryMB");
        fs = field(h, "capacity", "storageGB") - field(h, "allocated", "storageGB");
        if (fc < cores || fm < memory_mb || fs < storage_gb)
            continue;
        if (fc > best_cores || (fc == best_cores && fm > best_mem)) {
            best = h;
            best_cores = fc;
            best_mem = fm;
        }
    }
    if (best == NULL) {
        err_set(err, ERR_NO_CAPACITY, NULL,
                "No host of the cloud has room for %lld cores, %lld MB and %lld GB.",
                (long long) cores, (long long) memory_mb, (long long) storage_gb);
        goto out;
    }
    if (placement_hold(st, json_string_value(json_object_get(best, "id")), cores, memory_mb,
                       storage_gb, "The chosen host has no room left for this VM.", err))
        goto out;
    snprintf(host_id, UTIL_UUID_LEN + 1, "%s", json_string_value(json_object_get(best, "id")));
    rc = 0;
out:
    json_decref(all);
    return rc;
}

int
placement_hold(store_t *st, const char *host_id, int64_t cores, int64_t memory_mb,
               int64_t storage_gb, const char *no_room, err_t *err)
{
    int rc;

    assert(st != NULL && host_id != NULL && no_room != NULL);
    rc = store_host_allocate(st, host_id, cores, memory_mb, storage_gb, err);
    if (rc == 1)
        return err_set(err, ERR_NO_CAPACITY, NULL, "%s", no_room);
    return rc;
}

int
placement_reserve_on(store_t *st, const json_t *host, int64_t cores, int64_t memory_mb,
                     int64_t storage_gb, err_t *err)
{
    const char *id = json_string_value(json_object_get(host, "id"));
    const char *state = json_string_value(json_object_get(host, "state"));
    int rc;

    assert(st != NULL && host != NULL && id != NULL);
    assert(cores >= 0 && memory_mb >= 0 && storage_gb >= 0);
    if (state == NULL || strcmp(state, "ok") != 0)
        return err_set(err, ERR_CONFLICT, "hostId", "The host is %s and takes no VM.",
                       state == NULL                         ? "in an unknown state"
                       : strcmp(state, "maintenance") == 0 ? "in maintenance"
                                                             : state);
    rc = store_host_allocate(st, id, cores, memory_mb, storage_gb, err);
    if (rc == 1)
        return err_set(err, ERR_CONFLICT, "hostId",
                       "The host has no room for %lld cores, %lld MB and %lld GB.", (long long) cores,
                       (long long) memory_mb, (long long) storage_gb);
    return rc;
}
