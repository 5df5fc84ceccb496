/*
 * evacuate.c: maintenance that empties a host (see evacuate.h).
 *
 * The state change comes first in the transaction, so placement (which takes only ok hosts) never chooses
 * the host being emptied. Every VM is checked before any is moved, so that a refusal names every VM that
 * cannot move now, and each move reserves on its target before the next is planned, so that two VMs never
 * count on the same room. Any refusal rolls the whole transaction back: the host keeps its state and no job
 * starts.
 */
#include "evacuate.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "jget.h"
#include "vm/migrate.h"

/* The host's VMs: every record that names it, deallocated ones too (their disks live there). */
static json_t *
host_vms(store_t *st, const char *host_id, err_t *err)
{
    store_filter_t f = {.field = "hostId", .op = STORE_FILTER_EQ, .value = host_id};

    return store_rec_list_all(st, &store_kind_vm, &f, 1, err);
}

/* 0 when every VM of vms may move now; else 409 Conflict naming state, with how many may not and why the
 * first may not. */
static int
check_all(const json_t *vms, const char *host_name, err_t *err)
{
    err_t why = {0}, first = {0};
    const char *first_name = NULL;
    size_t i, refused = 0;
    json_t *rec;
    vm_rec_t vm;

    json_array_foreach(vms, i, rec) {
        if (vmrec_from_store(rec, &vm, err))
            return -1;
        err_clear(&why);
        if (vm_migrate_check(&vm, &why) == 0)
            continue;
        if (refused++ == 0) {
            first = why;
            first_name = jget_str(rec, "name");
        }
    }
    if (refused == 0)
        return 0;
    return err_set(err, ERR_CONFLICT, "state",
                   "Host %s cannot be emptied: %zu of its %zu VMs cannot move now (%s: %s)", host_name,
                   refused, json_array_size(vms), first_name ? first_name : "?",
                   first.message);
}

/* Starts a move of every VM of vms off the host (record host, borrowed) in the caller's transaction: 0, or
 * -1 with err (409 Conflict naming state when some have nowhere to go; the caller rolls back). */
static int
move_all(store_t *st, const json_t *host, const json_t *vms, err_t *err)
{
    const char *cloud = jget_str(host, "cloudId");
    size_t i, homeless = 0;
    json_t *rec, *job;
    vm_rec_t vm;
    int rc;

    assert(cloud != NULL);
    json_array_foreach(vms, i, rec) {
        if (vmrec_from_store(rec, &vm, err))
            return -1;
        job = NULL;
        if ((rc = vm_migrate_away(st, &vm, cloud, &job, err)) < 0)
            return -1;
        homeless += rc == 1;
        json_decref(job);
    }
    if (homeless == 0)
        return 0;
    return err_set(err, ERR_CONFLICT, "state",
                   "Host %s has no room for %zu of its %zu VMs in cloud %s: no other ok host of the cloud "
                   "has the free cores, memory and storage they hold.",
                   jget_str(host, "name"), homeless, json_array_size(vms), cloud);
}

json_t *
evacuate_host_update(store_t *st, const char *id, const catalog_host_patch_t *patch,
                     int64_t expect_rev, err_t *err)
{
    json_t *before = NULL, *rec = NULL, *vms = NULL;
    const char *was;

    assert(st != NULL && id != NULL && patch != NULL && err != NULL);
    if (!(patch->given & CATALOG_HOST_STATE) || patch->state != CATALOG_HOST_MAINTENANCE)
        return catalog_host_update(st, id, patch, expect_rev, err);
    if (store_tx_begin(st, err))
        return NULL;
    if ((before = store_rec_get(st, &store_kind_host, id, NULL, err)) == NULL ||
        (rec = catalog_host_update(st, id, patch, expect_rev, err)) == NULL)
        goto fail;
    was = jget_str(before, "state");
    if (was != NULL && strcmp(was, catalog_host_state_name(CATALOG_HOST_OK)) == 0) {
        if ((vms = host_vms(st, id, err)) == NULL || check_all(vms, jget_str(rec, "name"), err) ||
            move_all(st, rec, vms, err))
            goto fail;
    }
    if (store_tx_commit(st, err))
        goto fail;
    json_decref(before);
    json_decref(vms);
    return rec;
fail:
    store_tx_rollback(st);
    json_decref(before);
    json_decref(rec);
    json_decref(vms);
    return NULL;
}
