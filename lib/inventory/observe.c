/*
 * observe.c: what a host reports of its VMs between syncs, recorded on their records: the guest agent's
 * heartbeat (the instance view's GuestAgent status) and the memory the host assigns the VM now (what
 * metering bills; the timeline follows through the save).
 *
 * The heartbeat thread observes every host it reaches (lib/hostwatch.c), and every inventory sync observes
 * the records it compares. A record is written only when a value changed (vmrec_observe), so an unchanged
 * heartbeat costs reads, never a write; the time of a guest status is when it took that value. A record a
 * job is changing is left alone, as the sync leaves it: the job's own save decides its state. Each change
 * is read again and written in a transaction of its own, so an observation never overwrites a save that
 * came between its read and its write.
 */
#include "../inventory.h"

#include <assert.h>
#include <string.h>

#include "../jget.h"
#include "../util.h"
#include "inventory_internal.h"

#define OBSERVE_PAGE 256 /* records read per query */

int
inventory__observe(store_t *st, vm_rec_t *vm, const json_t *seen, err_t *err)
{
    char now[UTIL_TIME_LEN + 1];

    assert(st != NULL && vm != NULL);
    if (seen == NULL || inventory__busy(vm))
        return 0;
    util_time_format(util_now_ms(), now);
    if (!vmrec_observe(vm, jget_str(seen, "guestHeartbeat"), jget_int(seen, "assignedMemoryMB"), now))
        return 0;
    return vmrec_save(st, vm, err);
}

/* Reads VM id again and records seen on it, in a transaction of its own, when it is still on host_id. */
static int
observe_again(store_t *st, const char *host_id, const char *id, const json_t *seen, err_t *err)
{
    vm_rec_t vm;
    int rc;

    if (store_tx_begin(st, err))
        return -1;
    rc = vmrec_load(st, NULL, id, &vm, NULL, err);
    if (rc == 1)
        rc = strcmp(vm.host_id, host_id) == 0 ? inventory__observe(st, &vm, seen, err) : 0;
    if (rc < 0 || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        return -1;
    }
    return 0;
}

/* The records of the page that what the host reports would change, each recorded again on its own. */
static int
observe_page(store_t *st, const char *host_id, const json_t *inv, const json_t *vms, err_t *err)
{
    char now[UTIL_TIME_LEN + 1];
    const json_t *rec, *seen;
    vm_rec_t vm;
    size_t i;

    util_time_format(util_now_ms(), now);
    json_array_foreach(vms, i, rec) {
        if (vmrec_from_store(rec, &vm, err))
            return -1;
        seen = vm.hypervisor_id[0] ? json_object_get(inv, vm.hypervisor_id) : NULL;
        if (seen == NULL || inventory__busy(&vm) ||
            !vmrec_observe(&vm, jget_str(seen, "guestHeartbeat"), jget_int(seen, "assignedMemoryMB"),
                           now))
            continue;
        if (observe_again(st, host_id, vm.id, seen, err))
            return -1;
    }
    return 0;
}

int
inventory_observe(store_t *st, const char *host_id, err_t *err)
{
    store_filter_t f = {.field = "hostId", .op = STORE_FILTER_EQ, .value = host_id};
    int64_t after = 0, next = 0;
    json_t *inv, *vms;
    int rc = 0;

    assert(st != NULL && host_id != NULL);
    if ((inv = inventory__host_inventory(st, host_id, err)) == NULL)
        return -1;
    do {
        vms = store_rec_list(st, &store_kind_vm, &f, 1, after, OBSERVE_PAGE, &next, err);
        rc = vms == NULL ? -1 : observe_page(st, host_id, inv, vms, err);
        json_decref(vms);
        after = next;
    } while (rc == 0 && next != 0);
    json_decref(inv);
    return rc;
}
