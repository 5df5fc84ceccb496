/*
 * vmrec.c: the VM record (see vmrec.h): its views, load and save with events and timeline, and what it
 * holds (host compute and storage, quota usage, addresses).
 *
 * The private fields _storageGB, _holdsCompute, _holdsStorage and _counted are read and written here and
 * nowhere else. A holding and its flag change together: a release clears the flag, so a second release of
 * the same holding is a no-op.
 */
#include "vmrec.h"

#include <assert.h>
#include <string.h>

#include "../catalog.h"
#include "../events.h"
#include "../job.h"
#include "../placement.h"
#include "../quota.h"

void
vm_view(json_t *rec, bool admin)
{
    static const char *const internal[] = {"_storageGB", "_holdsCompute", "_holdsStorage",
                                           "_counted", NULL};
    bool compute = vmrec_holds_compute(rec), storage = vmrec_holds_storage(rec);
    json_t *cp = json_object_get(rec, "checkpoint");
    const char *key;
    json_t *v;
    size_t i;

    assert(rec != NULL);
    if (admin) {
        /* What the VM holds on its host: the host's allocated is the sum of these. */
        json_object_set_new(rec, "allocated",
                            json_pack("{s:I, s:I, s:I}", "cores",
                                      (json_int_t) (compute ? jget_int(rec, "cores") : 0), "memoryMB",
                                      (json_int_t) (compute ? jget_int(rec, "memoryMB") : 0),
                                      "storageGB",
                                      (json_int_t) (storage ? vmrec_storage_gb(rec) : 0)));
    } else {
        json_object_del(rec, "hostId");
        json_object_del(rec, "hypervisorId");
    }
    for (i = 0; internal[i]; i++)
        json_object_del(rec, internal[i]);
    if (json_is_object(cp)) {
        json_object_del(cp, "_hostId");
        json_object_del(cp, "_powerState");
    }
    /* A view carries no private field. */
    json_object_foreach(rec, key, v)
        assert(key[0] != '_');
    (void) key;
    (void) v;
}

int
vm_subscription_writable(const json_t *sub, err_t *err)
{
    const char *state = jget_str(sub, "state");

    assert(sub != NULL);
    if (state && strcmp(state, "suspended") == 0)
        return err_set(err, ERR_SUBSCRIPTION_SUSPENDED, NULL,
                       "The subscription is suspended; it takes no changes.");
    if (state && strcmp(state, "deleting") == 0)
        return err_set(err, ERR_CONFLICT, NULL, "The subscription is being deleted.");
    return 0;
}

json_t *
vmrec_load(store_t *st, const char *sid, const char *id, int64_t *rev, err_t *err)
{
    assert(st != NULL && id != NULL);
    return store_rec_get_where(st, &store_kind_vm, id, "subscriptionId", sid, rev, err);
}

int
vmrec_exists(store_t *st, const store_kind_t *kind, const char *id, const char *field,
             const char *value, err_t *err)
{
    store_filter_t f[2] = {{.field = "id", .op = STORE_FILTER_EQ, .value = id},
                           {.field = field, .op = STORE_FILTER_EQ, .value = value}};
    int64_t n;

    assert(st != NULL && kind != NULL && id != NULL);
    n = store_rec_count(st, kind, f, field ? 2 : 1, err);
    return n < 0 ? -1 : n > 0;
}

int
vmrec_lookup(store_t *st, const store_kind_t *kind, const char *id, const char *field,
             const char *value, json_t **out, err_t *err)
{
    json_t *rec = NULL;
    const char *have;
    int rc;

    assert(st != NULL && kind != NULL && id != NULL && out != NULL);
    assert(field != NULL || value == NULL);
    rc = store_rec_lookup(st, kind, id, &rec, NULL, err);
    if (rc != 1)
        return rc;
    have = field != NULL ? jget_str(rec, field) : NULL;
    if (field != NULL && (have == NULL || strcmp(have, value) != 0)) {
        json_decref(rec); /* another's record is the same answer as none */
        return 0;
    }
    *out = rec;
    return 1;
}

json_t *
vmrec_begin_all(store_t *st, const char *sid, err_t *err)
{
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = sid};
    json_t *vms;

    assert(st != NULL && sid != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    vms = store_rec_list_all(st, &store_kind_vm, &f, 1, err);
    if (vms == NULL)
        store_tx_rollback(st);
    return vms;
}

json_t *
vm_get(store_t *st, const char *sid, const char *id, bool admin, int64_t *rev, err_t *err)
{
    json_t *vm = vmrec_load(st, sid, id, rev, err);

    if (vm)
        vm_view(vm, admin);
    return vm;
}

static bool
differs(const json_t *a, const json_t *b, const char *k)
{
    const char *x = jget_str(a, k), *y = jget_str(b, k);

    return x && y && strcmp(x, y) != 0;
}

/* The events a save raises, from the record as it was to the record as it is now. */
static int
emit_changes(store_t *st, const json_t *was, const json_t *vm, err_t *err)
{
    const char *sid = jget_str(vm, "subscriptionId"), *id = jget_str(vm, "id");

    if (strcmp(jget_str(was, "provisioningState"), "succeeded") != 0 &&
        strcmp(jget_str(vm, "provisioningState"), "succeeded") == 0 &&
        events_emit(st, "vm.created", sid, id,
                    json_pack("{s:s, s:s, s:s?, s:s?}", "name", jget_str(vm, "name"), "size",
                              jget_str(vm, "size"), "vmRoleId", jget_str(vm, "vmRoleId"), "hostId",
                              jget_str(vm, "hostId")),
                    err))
        return -1;
    if (differs(was, vm, "powerState") &&
        events_emit(st, "vm.powerStateChanged", sid, id,
                    json_pack("{s:s, s:s}", "from", jget_str(was, "powerState"), "to",
                              jget_str(vm, "powerState")),
                    err))
        return -1;
    if (differs(was, vm, "size") &&
        events_emit(st, "vm.resized", sid, id,
                    json_pack("{s:s, s:s, s:I, s:I}", "from", jget_str(was, "size"), "to",
                              jget_str(vm, "size"), "cores", (json_int_t) jget_int(vm, "cores"),
                              "memoryMB", (json_int_t) jget_int(vm, "memoryMB")),
                    err))
        return -1;
    return 0;
}

int
vmrec_save(store_t *st, json_t *vm, err_t *err)
{
    json_t *was;
    int rc = -1;

    assert(st != NULL && jget_str(vm, "id") != NULL);
    was = store_rec_get(st, &store_kind_vm, jget_str(vm, "id"), NULL, err);
    if (was == NULL)
        return -1;
    catalog_record_touch(vm);
    if (store_rec_update(st, &store_kind_vm, jget_str(vm, "id"), vm, 0, err) == 0 &&
        store_timeline_append(st, vm, "changed", err) == 0)
        rc = emit_changes(st, was, vm, err);
    json_decref(was);
    return rc;
}

json_t *
vmrec_submit(store_t *st, json_t *vm, const char *kind, const json_t *params, err_t *err)
{
    json_t *j;

    assert(st != NULL && vm != NULL && kind != NULL);
    j = job_submit(st, kind, jget_str(vm, "id"), jget_str(vm, "subscriptionId"), jget_str(vm, "id"),
                   params, err);
    if (j != NULL && vmrec_save(st, vm, err) != 0) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

int
vmrec_busy(const json_t *vm, err_t *err)
{
    const char *ps = jget_str(vm, "provisioningState");

    assert(ps != NULL);
    if (strcmp(ps, "creating") == 0 || strcmp(ps, "updating") == 0 || strcmp(ps, "deleting") == 0)
        return err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                       "Another operation on this VM is still in progress.");
    if (strcmp(ps, "failed") == 0)
        return err_set(err, ERR_CONFLICT, NULL,
                       "The VM's last operation failed; delete it or restart the failed job.");
    return 0;
}

int
vmrec_ready(const json_t *vm, err_t *err)
{
    const char *pw = jget_str(vm, "powerState");

    if (vmrec_busy(vm, err))
        return -1;
    if (strcmp(pw, "starting") == 0 || strcmp(pw, "stopping") == 0 ||
        strcmp(pw, "deallocating") == 0)
        return err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                       "Another operation on this VM is still in progress.");
    return 0;
}

bool
vmrec_lun_free(const json_t *disks, int64_t lun)
{
    const json_t *d;
    size_t i;

    json_array_foreach(disks, i, d)
        if (json_is_integer(json_object_get(d, "lun")) && jget_int(d, "lun") == lun)
            return false;
    return true;
}

/* ---- holdings ---- */

bool
vmrec_holds_compute(const json_t *vm)
{
    return json_is_true(json_object_get(vm, "_holdsCompute"));
}

bool
vmrec_holds_storage(const json_t *vm)
{
    return json_is_true(json_object_get(vm, "_holdsStorage"));
}

int64_t
vmrec_storage_gb(const json_t *vm)
{
    return jget_int(vm, "_storageGB");
}

static bool
counted(const json_t *vm)
{
    return json_is_true(json_object_get(vm, "_counted"));
}

int
vmrec_init_holdings(json_t *vm, int64_t storage_gb, bool held, err_t *err)
{
    if (json_object_set_new(vm, "_storageGB", json_integer(storage_gb)) ||
        json_object_set_new(vm, "_holdsCompute", json_boolean(held)) ||
        json_object_set_new(vm, "_holdsStorage", json_boolean(held)) ||
        json_object_set_new(vm, "_counted", json_true()))
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return 0;
}

void
vmrec_add_storage(json_t *vm, int64_t delta_gb)
{
    json_object_set_new(vm, "_storageGB", json_integer(vmrec_storage_gb(vm) + delta_gb));
}

void
vmrec_set_compute_held(json_t *vm)
{
    json_object_set_new(vm, "_holdsCompute", json_true());
}

void
vmrec_set_storage_held(json_t *vm)
{
    json_object_set_new(vm, "_holdsStorage", json_true());
}

void
vmrec_set_held(json_t *vm)
{
    json_object_set_new(vm, "_holdsCompute", json_true());
    json_object_set_new(vm, "_holdsStorage", json_true());
}

int
vmrec_release_host(store_t *st, json_t *vm, bool compute, bool storage, err_t *err)
{
    int64_t c = 0, m = 0, s = 0;

    if (compute && vmrec_holds_compute(vm)) {
        c = jget_int(vm, "cores");
        m = jget_int(vm, "memoryMB");
        json_object_set_new(vm, "_holdsCompute", json_false());
    }
    if (storage && vmrec_holds_storage(vm)) {
        s = vmrec_storage_gb(vm);
        json_object_set_new(vm, "_holdsStorage", json_false());
    }
    if ((c || m || s) && jget_str(vm, "hostId"))
        return placement_hold(st, jget_str(vm, "hostId"), -c, -m, -s, "The VM's host was not found.",
                              err);
    return 0;
}

int
vmrec_hold_compute(store_t *st, json_t *vm, err_t *err)
{
    if (vmrec_holds_compute(vm))
        return 0;
    if (placement_hold(st, jget_str(vm, "hostId"), jget_int(vm, "cores"), jget_int(vm, "memoryMB"), 0,
                       "The VM's host has no room for it now.", err))
        return -1;
    json_object_set_new(vm, "_holdsCompute", json_true());
    return 0;
}

int
vmrec_hold_storage(store_t *st, json_t *vm, int64_t delta_gb, const char *no_room, err_t *err)
{
    int64_t q[STORE_QUOTAS] = {0};

    q[QUOTA_STORAGE] = delta_gb;
    if (counted(vm) && quota_apply(st, jget_str(vm, "subscriptionId"), q, err))
        return -1;
    if (vmrec_holds_storage(vm))
        return placement_hold(st, jget_str(vm, "hostId"), 0, 0, delta_gb, no_room, err);
    return 0;
}

/* Releases the VM's quota usage (once). */
static int
release_quota(store_t *st, json_t *vm, err_t *err)
{
    int64_t d[STORE_QUOTAS] = {0};

    if (!counted(vm))
        return 0;
    d[QUOTA_VMS] = -1;
    d[QUOTA_CORES] = -jget_int(vm, "cores");
    d[QUOTA_MEMORY] = -jget_int(vm, "memoryMB");
    d[QUOTA_STORAGE] = -vmrec_storage_gb(vm);
    json_object_set_new(vm, "_counted", json_false());
    return quota_apply(st, jget_str(vm, "subscriptionId"), d, err);
}

int
vmrec_release_all(store_t *st, json_t *vm, err_t *err)
{
    if (vmrec_release_host(st, vm, true, true, err) || release_quota(st, vm, err))
        return -1;
    return store_ip_release_vm(st, jget_str(vm, "id"), err);
}

int
vmrec_fail_create(store_t *st, json_t *vm, err_t *err)
{
    /* A VM whose creation failed holds nothing and is never billed. */
    if (vmrec_release_all(st, vm, err))
        return -1;
    json_object_set_new(vm, "nics", json_array());
    json_object_set_new(vm, "provisioningState", json_string("failed"));
    json_object_set_new(vm, "powerState", json_string("deallocated"));
    if (vmrec_save(st, vm, err))
        return -1;
    return store_timeline_forget(st, jget_str(vm, "id"), err);
}

int
vmrec_remove(store_t *st, json_t *vm, err_t *err)
{
    if (vmrec_release_all(st, vm, err))
        return -1;
    /* A VM whose creation failed was never billed (nor announced); any other leaves its final row. */
    if (strcmp(jget_str(vm, "provisioningState"), "failed") == 0 && jget_str(vm, "hypervisorId") == NULL
            ? store_timeline_forget(st, jget_str(vm, "id"), err)
            : (store_timeline_append(st, vm, "deleted", err) ||
               events_emit(st, "vm.deleted", jget_str(vm, "subscriptionId"), jget_str(vm, "id"),
                           json_pack("{s:s, s:s?}", "name", jget_str(vm, "name"), "vmRoleId",
                                     jget_str(vm, "vmRoleId")),
                           err)))
        return -1;
    return store_rec_delete(st, &store_kind_vm, jget_str(vm, "id"), 0, err);
}

int
vmrec_set_checkpoint_size(store_t *st, json_t *vm, int64_t size, err_t *err)
{
    json_t *slot = json_object_get(vm, "checkpoint");
    int64_t delta, d[STORE_QUOTAS] = {0};

    if (!json_is_object(slot) || size < 0)
        return 0;
    delta = size - jget_int(slot, "sizeGB");
    if (delta == 0)
        return 0;
    json_object_set_new(slot, "sizeGB", json_integer(size));
    vmrec_add_storage(vm, delta);
    /* Growth already happened on the host: it is counted, never refused. */
    d[QUOTA_STORAGE] = delta;
    if (counted(vm) && quota_apply(st, jget_str(vm, "subscriptionId"), d, err))
        return -1;
    if (vmrec_holds_storage(vm) && jget_str(vm, "hostId"))
        return store_host_grow_storage(st, jget_str(vm, "hostId"), delta, err);
    return 0;
}
