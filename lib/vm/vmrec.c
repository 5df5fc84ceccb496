/*
 * vmrec.c: the VM record (see vmrec.h): load and save with events and timeline, the views made from it
 * (vmrec_codec.c renders them), and what it holds (host compute and storage, quota usage, addresses).
 *
 * A holding and its flag (vm_holdings_t) change together: a release clears the flag, so a second release
 * of the same holding is a no-op.
 */
#include "vmrec.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "../events.h"
#include "../job.h"
#include "../placement.h"
#include "../quota.h"
#include "../util.h"
#include "viewcache.h"

/* j, or NULL (out of memory) said in err. */
json_t *
vmrec__or_oom(json_t *j, err_t *err)
{
    if (j == NULL)
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return j;
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

int
vmrec_load(store_t *st, const char *sid, const char *id, vm_rec_t *out, int64_t *rev, err_t *err)
{
    json_t *rec = NULL;
    int64_t r = 0;
    int rc;

    assert(st != NULL && id != NULL && out != NULL);
    /* Found by (subscription, id) at once: another's VM is the same answer as none, at the same cost. */
    rc = sid != NULL ? store_rec_lookup_where_shared(st, &store_kind_vm, id, "subscriptionId", sid, &rec,
                                                     &r, err)
                     : store_rec_lookup_shared(st, &store_kind_vm, id, &rec, &r, err);
    if (rc != 1)
        return rc;
    if (vmrec_from_store(rec, out, err))
        rc = -1;
    json_decref(rec);
    if (rc == 1 && rev != NULL)
        *rev = r;
    return rc;
}

/* vmrec_load for a caller to whom none is the request's 404: 0, or -1 with err. */
int
vmrec__load_or_404(store_t *st, const char *sid, const char *id, vm_rec_t *out, int64_t *rev, err_t *err)
{
    int rc = vmrec_load(st, sid, id, out, rev, err);

    if (rc == 0)
        err_set(err, ERR_NOT_FOUND, NULL, "The VM was not found.");
    return rc == 1 ? 0 : -1;
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
    int rc;

    assert(st != NULL && kind != NULL && id != NULL && out != NULL);
    assert(field != NULL || value == NULL);
    /* another's record is the same answer as none, found by both at once */
    rc = field != NULL ? store_rec_lookup_where(st, kind, id, field, value, &rec, NULL, err)
                       : store_rec_lookup(st, kind, id, &rec, NULL, err);
    if (rc == 1)
        *out = rec;
    return rc;
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
    vm_rec_t vm;

    if (vmrec__load_or_404(st, sid, id, &vm, rev, err))
        return NULL;
    return vmrec__or_oom(vm_render_view(&vm, admin), err);
}

int
vm_get_text(store_t *st, const char *sid, const char *id, bool admin, bool hide_checkpoint,
            util_buf_t *b, int64_t *rev, err_t *err)
{
    vm_rec_t vm;

    assert(b != NULL);
    if (vmrec__load_or_404(st, sid, id, &vm, rev, err))
        return -1;
    vm_render_view_text(&vm, admin, hide_checkpoint, b);
    return 0;
}

/* Renders the records of list (the page's misses, in position order) into texts[i] for the keys they
 * belong to, and keeps each view. 0, or -1 with err. */
static int
render_misses(const json_t *list, const store_rec_key_t *keys, int n, viewcache_form_t form,
              char **texts, err_t *err)
{
    util_buf_t one = {0};
    const json_t *rec;
    vm_rec_t vm;
    size_t j;
    int i = 0;

    json_array_foreach(list, j, rec) {
        if (vmrec_from_store(rec, &vm, err))
            return -1;
        while (i < n && strcmp(keys[i].id, vm.id) != 0)
            i++;
        if (i == n)
            return err_set(err, ERR_INTERNAL, NULL, "A VM of the page could not be read.");
        vm_render_view_text(&vm, form == VIEWCACHE_ADMIN, form == VIEWCACHE_TENANT_NO_CHECKPOINT,
                            &one);
        if (one.failed || one.buf == NULL) {
            util_buf_free(&one);
            return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        }
        viewcache_put(&keys[i], form, one.buf, one.len);
        texts[i++] = util_buf_take(&one);
    }
    return 0;
}

/* Appends the view of keys[i] to b: its text rendered for this page, or the kept one, or (evicted since
 * the page was planned) read again. 0, or -1 with err. */
static int
append_view(store_t *st, const store_rec_key_t *key, const char *text, viewcache_form_t form,
            util_buf_t *b, err_t *err)
{
    vm_rec_t vm;

    if (text != NULL) {
        util_buf_puts(b, text);
        return 0;
    }
    if (viewcache_append(key, form, b))
        return 0;
    if (vmrec__load_or_404(st, NULL, key->id, &vm, NULL, err))
        return -1;
    vm_render_view_text(&vm, form == VIEWCACHE_ADMIN, form == VIEWCACHE_TENANT_NO_CHECKPOINT, b);
    return 0;
}

int
vm_list_text(store_t *st, const store_filter_t *f, size_t nf, int64_t after, int limit, bool admin,
             bool hide_checkpoint, util_buf_t *b, int64_t *next, err_t *err)
{
    viewcache_form_t form = admin ? VIEWCACHE_ADMIN
                                  : hide_checkpoint ? VIEWCACHE_TENANT_NO_CHECKPOINT
                                                    : VIEWCACHE_TENANT;
    store_rec_key_t *keys = calloc((size_t) limit, sizeof(*keys));
    char **texts = calloc((size_t) limit, sizeof(*texts));
    json_t *ids = json_array(), *list = NULL;
    store_filter_t by_id = {.field = "id", .op = STORE_FILTER_IN};
    int64_t none;
    int i, n = 0, rc = -1;

    assert(st != NULL && b != NULL && next != NULL && limit > 0);
    if (keys == NULL || texts == NULL || ids == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        goto cleanup;
    }
    /* One query names the page; one more reads the VMs whose view is not kept at their revision. */
    if (store_rec_list_keys(st, &store_kind_vm, f, nf, after, limit, keys, &n, next, err))
        goto cleanup;
    for (i = 0; i < n; i++)
        if (!viewcache_has(&keys[i], form) && json_array_append_new(ids, json_string(keys[i].id))) {
            err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
            goto cleanup;
        }
    if (json_array_size(ids) > 0) {
        by_id.values = ids;
        list = store_rec_list(st, &store_kind_vm, &by_id, 1, 0, n, &none, err);
        if (list == NULL || render_misses(list, keys, n, form, texts, err))
            goto cleanup;
    }
    util_buf_add(b, "[", 1);
    for (i = 0; i < n; i++) {
        if (i > 0)
            util_buf_add(b, ",", 1);
        if (append_view(st, &keys[i], texts[i], form, b, err))
            goto cleanup;
    }
    util_buf_add(b, "]", 1);
    rc = 0;
cleanup:
    for (i = 0; texts != NULL && i < limit; i++)
        free(texts[i]);
    free(texts);
    free(keys);
    json_decref(ids);
    json_decref(list);
    return rc;
}

static const char *
nullable(const char *text)
{
    return text[0] ? text : NULL;
}

/* The events a save raises, from the record as it was to the record as it is now. */
static int
emit_changes(store_t *st, const vm_rec_seen_t *was, const vm_rec_t *vm, err_t *err)
{
    const char *sid = vm->subscription_id, *id = vm->id;

    if (was->provisioning == VM_PROV_CREATING && vm->provisioning == VM_PROV_SUCCEEDED &&
        events_emit(st, "vm.created", sid, id,
                    json_pack("{s:s, s:s, s:s?, s:s?}", "name", vm->name, "size", vm->size,
                              "vmRoleId", nullable(vm->vm_role_id), "hostId",
                              nullable(vm->host_id)),
                    err))
        return -1;
    if (was->power != vm->power &&
        events_emit(st, "vm.powerStateChanged", sid, id,
                    json_pack("{s:s, s:s}", "from", vm_power_name(was->power), "to",
                              vm_power_name(vm->power)),
                    err))
        return -1;
    if (strcmp(was->size, vm->size) != 0 &&
        events_emit(st, "vm.resized", sid, id,
                    json_pack("{s:s, s:s, s:I, s:I}", "from", was->size, "to", vm->size, "cores",
                              (json_int_t) vm->cores, "memoryMB", (json_int_t) vm->memory_mb),
                    err))
        return -1;
    return 0;
}

int
vmrec_save(store_t *st, vm_rec_t *vm, err_t *err)
{
    json_t *rec;
    int rc = -1;

    assert(st != NULL && vm != NULL && vm->id[0] != '\0');
    util_time_format(util_now_ms(), vm->updated_at);
    vmrec__stamp(vm, vm->updated_at);
    if ((rec = vmrec_to_store(vm)) == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    if (store_rec_update(st, &store_kind_vm, vm->id, rec, 0, err) == 0 &&
        store_timeline_append(st, rec, "changed", err) == 0)
        rc = emit_changes(st, &vm->seen, vm, err);
    json_decref(rec);
    if (rc == 0)
        vmrec__seen(vm);
    return rc;
}

int
vmrec_insert(store_t *st, vm_rec_t *vm, err_t *err)
{
    char now[UTIL_TIME_LEN + 1];
    json_t *rec;
    int rc;

    assert(st != NULL && vm != NULL && vm->id[0] != '\0');
    util_time_format(util_now_ms(), now);
    vmrec__stamp(vm, vm->created_at[0] ? vm->created_at : now);
    if ((rec = vmrec_to_store(vm)) == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    rc = store_rec_insert(st, &store_kind_vm, rec, err) ||
         store_timeline_append(st, rec, "created", err);
    json_decref(rec);
    if (rc == 0)
        vmrec__seen(vm);
    return rc ? -1 : 0;
}

int
vmrec__update(store_t *st, const vm_rec_t *vm, err_t *err)
{
    json_t *rec;
    int rc;

    assert(st != NULL && vm != NULL);
    if ((rec = vmrec_to_store(vm)) == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    rc = store_rec_update(st, &store_kind_vm, vm->id, rec, 0, err);
    json_decref(rec);
    return rc;
}

json_t *
vmrec_submit(store_t *st, vm_rec_t *vm, const char *kind, const json_t *params, err_t *err)
{
    json_t *j;

    assert(st != NULL && vm != NULL && kind != NULL);
    j = job_submit(st, kind, vm->id, vm->subscription_id, vm->id, params, err);
    if (j != NULL && vmrec_save(st, vm, err) != 0) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

int
vmrec_busy(const vm_rec_t *vm, err_t *err)
{
    assert(vm != NULL);
    switch (vm->provisioning) {
    case VM_PROV_CREATING:
    case VM_PROV_UPDATING:
    case VM_PROV_DELETING:
        return err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                       "Another operation on this VM is still in progress.");
    case VM_PROV_FAILED:
        return err_set(err, ERR_CONFLICT, NULL,
                       "The VM's last operation failed; delete it or restart the failed job.");
    default:
        return 0;
    }
}

int
vmrec_ready(const vm_rec_t *vm, err_t *err)
{
    if (vmrec_busy(vm, err))
        return -1;
    if (vm->power == VM_POWER_STARTING || vm->power == VM_POWER_STOPPING ||
        vm->power == VM_POWER_DEALLOCATING)
        return err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                       "Another operation on this VM is still in progress.");
    return 0;
}

bool
vmrec_lun_free(const vm_rec_t *vm, int64_t lun)
{
    size_t i;

    assert(vm != NULL);
    for (i = 0; i < vm->ndisks; i++)
        if (vm->disks[i].lun >= 0 && vm->disks[i].lun == lun)
            return false;
    return true;
}

/* ---- holdings ---- */

void
vmrec_init_holdings(vm_rec_t *vm, int64_t storage_gb, bool held)
{
    vm->hold.storage_gb = storage_gb;
    vm->hold.holds_compute = held;
    vm->hold.holds_storage = held;
    vm->hold.counted = true;
}

int
vmrec_release_host(store_t *st, vm_rec_t *vm, bool compute, bool storage, err_t *err)
{
    int64_t c = 0, m = 0, s = 0;

    if (compute && vm->hold.holds_compute) {
        c = vm->cores;
        m = vm->memory_mb;
        vm->hold.holds_compute = false;
    }
    if (storage && vm->hold.holds_storage) {
        s = vm->hold.storage_gb;
        vm->hold.holds_storage = false;
    }
    if ((c || m || s) && vm->host_id[0])
        return placement_hold(st, vm->host_id, -c, -m, -s, "The VM's host was not found.", err);
    return 0;
}

int
vmrec_hold_compute(store_t *st, vm_rec_t *vm, err_t *err)
{
    if (vm->hold.holds_compute)
        return 0;
    if (placement_hold(st, vm->host_id, vm->cores, vm->memory_mb, 0,
                       "The VM's host has no room for it now.", err))
        return -1;
    vm->hold.holds_compute = true;
    return 0;
}

int
vmrec_hold_storage(store_t *st, vm_rec_t *vm, int64_t delta_gb, const char *no_room, err_t *err)
{
    int64_t q[STORE_QUOTAS] = {0};

    q[QUOTA_STORAGE] = delta_gb;
    if (vm->hold.counted && quota_apply(st, vm->subscription_id, q, err))
        return -1;
    if (vm->hold.holds_storage)
        return placement_hold(st, vm->host_id, 0, 0, delta_gb, no_room, err);
    return 0;
}

/* Releases the VM's quota usage (once). */
static int
release_quota(store_t *st, vm_rec_t *vm, err_t *err)
{
    int64_t d[STORE_QUOTAS] = {0};

    if (!vm->hold.counted)
        return 0;
    d[QUOTA_VMS] = -1;
    d[QUOTA_CORES] = -vm->cores;
    d[QUOTA_MEMORY] = -vm->memory_mb;
    d[QUOTA_STORAGE] = -vm->hold.storage_gb;
    vm->hold.counted = false;
    return quota_apply(st, vm->subscription_id, d, err);
}

int
vmrec_release_all(store_t *st, vm_rec_t *vm, err_t *err)
{
    if (vmrec_release_host(st, vm, true, true, err) || release_quota(st, vm, err))
        return -1;
    return store_ip_release_vm(st, vm->id, err);
}

int
vmrec_fail_create(store_t *st, vm_rec_t *vm, err_t *err)
{
    /* A VM whose creation failed holds nothing and is never billed. */
    if (vmrec_release_all(st, vm, err))
        return -1;
    vm->nnics = 0;
    vm->provisioning = VM_PROV_FAILED;
    vm->power = VM_POWER_DEALLOCATED;
    if (vmrec_save(st, vm, err))
        return -1;
    return store_timeline_forget(st, vm->id, err);
}

int
vmrec_remove(store_t *st, vm_rec_t *vm, err_t *err)
{
    json_t *rec;
    int rc;

    if (vmrec_release_all(st, vm, err))
        return -1;
    /* A VM whose creation failed was never billed (nor announced); any other leaves its final row. */
    if (vm->provisioning == VM_PROV_FAILED && vm->hypervisor_id[0] == '\0') {
        rc = store_timeline_forget(st, vm->id, err);
    } else {
        if ((rec = vmrec_to_store(vm)) == NULL)
            return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        rc = store_timeline_append(st, rec, "deleted", err) ||
             events_emit(st, "vm.deleted", vm->subscription_id, vm->id,
                         json_pack("{s:s, s:s?}", "name", vm->name, "vmRoleId",
                                   nullable(vm->vm_role_id)),
                         err);
        json_decref(rec);
    }
    if (rc)
        return -1;
    return store_rec_delete(st, &store_kind_vm, vm->id, 0, err);
}

int
vmrec_set_checkpoint_size(store_t *st, vm_rec_t *vm, int64_t size, err_t *err)
{
    int64_t delta, d[STORE_QUOTAS] = {0};

    if (!vm->checkpoint.present || size < 0)
        return 0;
    delta = size - vm->checkpoint.size_gb;
    if (delta == 0)
        return 0;
    vm->checkpoint.size_gb = size;
    vm->hold.storage_gb += delta;
    /* Growth already happened on the host: it is counted, never refused. */
    d[QUOTA_STORAGE] = delta;
    if (vm->hold.counted && quota_apply(st, vm->subscription_id, d, err))
        return -1;
    if (vm->hold.holds_storage && vm->host_id[0])
        return store_host_grow_storage(st, vm->host_id, delta, err);
    return 0;
}
