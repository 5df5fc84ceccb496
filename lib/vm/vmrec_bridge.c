/*
 * vmrec_bridge.c: the JSON bridges of the VM record (see vmrec.h), for the modules that still hold a VM as
 * the store's JSON (a VM role's join, inventory) until they take a vm_rec_t. This file goes
 * when they do.
 *
 * Each bridge reads the JSON into a vm_rec_t, calls the typed function, and writes the record back into
 * the caller's object in place, so the caller sees every change as before; a value that did not change
 * is not replaced, so what the caller borrowed from the record stays valid. A bridge that saves compares
 * with the record as the store has it (the caller's JSON may already carry its changes). A JSON record
 * that does not parse is an internal error; the readers answer false or 0 for it.
 */
#include "vmrec.h"

#include <assert.h>

/* Merges src into dst in place: only the values that changed are replaced, and an object is merged into
 * the object it replaces, so that what the caller borrowed from dst (the checkpoint slot) stays valid. */
static void
merge(json_t *dst, const json_t *src)
{
    const char *key;
    json_t *v, *old;

    json_object_foreach((json_t *) src, key, v) {
        old = json_object_get(dst, key);
        if (json_is_object(old) && json_is_object(v))
            merge(old, v);
        else if (old == NULL || !json_equal(old, v))
            json_object_set(dst, key, v);
    }
}

/* Writes vm back into the caller's record; returns rc. */
static int
out(const vm_rec_t *vm, json_t *rec, int rc, err_t *err)
{
    json_t *j = vmrec_to_store(vm);

    if (j == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    merge(rec, j);
    json_decref(j);
    return rc;
}

/* rec as a record to save: its fields, and what a save compares from the store's copy. */
static int
in_saved(store_t *st, const json_t *rec, vm_rec_t *vm, err_t *err)
{
    vm_rec_t was;

    if (vmrec_from_store(rec, vm, err) ||
        vmrec__load_or_404(st, NULL, vm->id, &was, NULL, err))
        return -1;
    vm->seen = was.seen;
    return 0;
}

void
vm_view(json_t *rec, bool admin)
{
    vm_rec_t vm;
    json_t *view = NULL;

    assert(rec != NULL);
    /* A record that does not parse shows nothing rather than a private field. */
    if (vmrec_from_store(rec, &vm, NULL) == 0)
        view = vm_render_view(&vm, admin);
    json_object_clear(rec);
    if (view != NULL)
        json_object_update(rec, view);
    json_decref(view);
}

json_t *
vmrec_load_json(store_t *st, const char *sid, const char *id, int64_t *rev, err_t *err)
{
    vm_rec_t vm;

    if (vmrec__load_or_404(st, sid, id, &vm, rev, err))
        return NULL;
    return vmrec__or_oom(vmrec_to_store(&vm), err);
}

int
vmrec_save_json(store_t *st, json_t *vm, err_t *err)
{
    vm_rec_t r;

    assert(st != NULL && vm != NULL);
    if (in_saved(st, vm, &r, err))
        return -1;
    return out(&r, vm, vmrec_save(st, &r, err), err);
}

/* The holdings of a JSON record; none when it does not parse. */
static vm_holdings_t
holdings(const json_t *vm)
{
    vm_holdings_t none = {0, false, false, false};
    vm_rec_t r;

    return vmrec_from_store(vm, &r, NULL) == 0 ? r.hold : none;
}

bool
vmrec_holds_compute_json(const json_t *vm)
{
    return holdings(vm).holds_compute;
}

bool
vmrec_holds_storage_json(const json_t *vm)
{
    return holdings(vm).holds_storage;
}

int64_t
vmrec_storage_gb_json(const json_t *vm)
{
    return holdings(vm).storage_gb;
}

/* Changes the holdings of a JSON record: compute and storage set to held (-1: unchanged); with init, a new
 * record's holdings of storage_gb. */
static void
set_holdings(json_t *vm, int compute, int storage, bool init, int64_t storage_gb)
{
    vm_rec_t r;

    if (vmrec_from_store(vm, &r, NULL))
        return;
    if (init)
        vmrec_init_holdings(&r, storage_gb, compute == 1);
    if (compute >= 0)
        r.hold.holds_compute = compute;
    if (storage >= 0)
        r.hold.holds_storage = storage;
    out(&r, vm, 0, NULL);
}

void
vmrec_init_holdings_json(json_t *vm, int64_t storage_gb, bool held)
{
    set_holdings(vm, held, held, true, storage_gb);
}

void
vmrec_set_compute_held_json(json_t *vm)
{
    set_holdings(vm, 1, -1, false, 0);
}

void
vmrec_set_storage_held_json(json_t *vm)
{
    set_holdings(vm, -1, 1, false, 0);
}

int
vmrec_release_host_json(store_t *st, json_t *vm, bool compute, bool storage, err_t *err)
{
    vm_rec_t r;

    if (vmrec_from_store(vm, &r, err))
        return -1;
    return out(&r, vm, vmrec_release_host(st, &r, compute, storage, err), err);
}
