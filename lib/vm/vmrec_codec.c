/*
 * vmrec_codec.c: the VM record's forms (see vmrec.h): the store's JSON read into a vm_rec_t, a vm_rec_t
 * written back as the store's JSON, and a vm_rec_t rendered as the API's view as a JSON value (the same
 * view straight to text is vmrec_text.c); and the names of the record's enums.
 *
 * Invariants: from_store then to_store gives back the store's record, key for key and in the store's
 * column order; the view writes the public fields in that same order (the order the API answers), never a
 * key that starts with '_', and the host's ids only for the admin; the view's text is, byte for byte, the
 * compact dump of the view's value. from_store writes its output only when
 * the whole record parsed.
 */
#include "vmrec.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#include "../util.h"

#define VM_ENUM_NAME(e, name) [e] = name,

static const char *const provisioning_names[] = {VM_PROVISIONING_STATES(VM_ENUM_NAME)};
static const char *const power_names[] = {VM_POWER_STATES(VM_ENUM_NAME)};
static const char *const disk_kind_names[] = {[VM_DISK_OS] = "os", [VM_DISK_DATA] = "data"};

UTIL_ENUM_NAMES(vm_provisioning, vm_provisioning_t, provisioning_names)
UTIL_ENUM_NAMES(vm_power, vm_power_t, power_names)
UTIL_ENUM_NAMES(vm_disk_kind, vm_disk_kind_t, disk_kind_names)

static const char *const os_state_names[] = {[VM_OS_SPECIALIZED] = "specialized",
                                             [VM_OS_GENERALIZED] = "generalized"};

UTIL_ENUM_NAMES(vm_os_state, vm_os_state_t, os_state_names)

/* ---- the store's JSON -> vm_rec_t ---- */

static int
bad(err_t *err, const char *field)
{
    return err_set(err, ERR_INTERNAL, NULL, "The VM record could not be read: field %s.", field);
}

/* A text field into out[size]: a string that fits, or (unless required) null or absent as "". */
static int
get_text(const json_t *o, const char *key, bool required, char *out, size_t size, err_t *err)
{
    const json_t *v = json_object_get(o, key);
    size_t len;

    if (!required && (v == NULL || json_is_null(v))) {
        out[0] = '\0';
        return 0;
    }
    if (!json_is_string(v) || (len = json_string_length(v)) >= size)
        return bad(err, key);
    memcpy(out, json_string_value(v), len + 1);
    return 0;
}

/* An integer field; null or absent is 0 unless required. */
static int
get_int(const json_t *o, const char *key, bool required, int64_t *out, err_t *err)
{
    const json_t *v = json_object_get(o, key);

    if (!required && (v == NULL || json_is_null(v))) {
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v))
        return bad(err, key);
    *out = json_integer_value(v);
    return 0;
}

/* A boolean column: null or absent is false. */
static int
get_bool(const json_t *o, const char *key, bool *out, err_t *err)
{
    const json_t *v = json_object_get(o, key);

    if (v != NULL && !json_is_null(v) && !json_is_boolean(v))
        return bad(err, key);
    *out = json_is_true(v);
    return 0;
}

static int
get_disk(const json_t *d, vm_disk_t *out, err_t *err)
{
    const json_t *lun = json_object_get(d, "lun");
    int64_t size;

    if (!json_is_object(d))
        return bad(err, "disks");
    if (json_is_null(lun))
        out->lun = -1;
    else if (json_is_integer(lun) && json_integer_value(lun) >= 0 && json_integer_value(lun) <= INT_MAX)
        out->lun = (int) json_integer_value(lun);
    else
        return bad(err, "disks.lun");
    if (vm_disk_kind_parse(json_string_value(json_object_get(d, "kind")), &out->kind))
        return bad(err, "disks.kind");
    if (get_int(d, "sizeGB", true, &size, err))
        return -1;
    out->size_gb = size;
    if (vm_caching_parse(json_string_value(json_object_get(d, "caching")), &out->caching))
        return bad(err, "disks.caching");
    return 0;
}

static int
get_lists(const json_t *rec, vm_rec_t *out, err_t *err)
{
    const json_t *disks = json_object_get(rec, "disks"), *nics = json_object_get(rec, "nics"), *v;
    size_t i;

    if (!json_is_array(disks) || json_array_size(disks) > VM_REC_MAX_DISKS)
        return bad(err, "disks");
    if (!json_is_array(nics) || json_array_size(nics) > VM_REC_MAX_NICS)
        return bad(err, "nics");
    out->ndisks = json_array_size(disks);
    json_array_foreach(disks, i, v)
        if (get_disk(v, &out->disks[i], err))
            return -1;
    out->nnics = json_array_size(nics);
    json_array_foreach(nics, i, v) {
        if (!json_is_object(v))
            return bad(err, "nics");
        if (get_text(v, "networkId", true, out->nics[i].network_id, VM_REC_ID_MAX, err) ||
            get_text(v, "ipAddress", true, out->nics[i].ip_address, VM_REC_ADDR_MAX, err))
            return -1;
    }
    return 0;
}

/* The checkpoint's _vm: what the VM was when it was taken (absent or null: not kept). */
static int
get_checkpoint_vm(const json_t *v, vm_checkpoint_vm_t *out, err_t *err)
{
    const json_t *disks = json_object_get(v, "disks"), *d;
    size_t i;

    out->present = json_is_object(v);
    if (!out->present)
        return v == NULL || json_is_null(v) ? 0 : bad(err, "checkpoint._vm");
    if (!json_is_array(disks) || json_array_size(disks) > VM_REC_MAX_DISKS)
        return bad(err, "checkpoint._vm.disks");
    if (get_text(v, "size", false, out->size, sizeof(out->size), err) ||
        get_int(v, "cores", true, &out->cores, err) || get_int(v, "memoryMB", true, &out->memory_mb, err))
        return -1;
    out->has_dynamic_memory = json_object_get(v, "dynamicMemory") != NULL;
    if (catalog_dynmem_from_json(json_object_get(v, "dynamicMemory"), &out->dynamic_memory))
        return bad(err, "checkpoint._vm.dynamicMemory");
    out->ndisks = json_array_size(disks);
    json_array_foreach(disks, i, d)
        if (get_disk(d, &out->disks[i], err))
            return -1;
    return 0;
}

static int
get_checkpoint(const json_t *cp, vm_checkpoint_t *out, err_t *err)
{
    const json_t *desc = json_object_get(cp, "description");
    const json_t *power = json_object_get(cp, "_powerState");

    out->present = json_is_object(cp);
    if (!out->present)
        return json_is_null(cp) || cp == NULL ? 0 : bad(err, "checkpoint");
    out->has_description = json_is_string(desc);
    out->has_power = json_is_string(power);
    if (get_text(cp, "name", true, out->name, sizeof(out->name), err) ||
        get_text(cp, "description", false, out->description, sizeof(out->description), err) ||
        get_text(cp, "createdAt", false, out->created_at, sizeof(out->created_at), err) ||
        get_int(cp, "sizeGB", false, &out->size_gb, err) ||
        get_text(cp, "_hostId", false, out->host_id, sizeof(out->host_id), err) ||
        get_checkpoint_vm(json_object_get(cp, "_vm"), &out->vm, err))
        return -1;
    if (out->has_power ? vm_power_parse(json_string_value(power), &out->power) != 0
                       : power != NULL && !json_is_null(power))
        return bad(err, "checkpoint._powerState");
    return 0;
}

int
vmrec_from_store(const json_t *rec, vm_rec_t *out, err_t *err)
{
    vm_rec_t r; /* parsed aside: *out is written only when the whole record parsed */

    assert(out != NULL);
    memset(&r, 0, sizeof(r));
    if (!json_is_object(rec))
        return bad(err, "(record)");
    if (get_text(rec, "id", true, r.id, sizeof(r.id), err) ||
        get_text(rec, "name", false, r.name, sizeof(r.name), err) ||
        get_text(rec, "subscriptionId", true, r.subscription_id, sizeof(r.subscription_id), err) ||
        get_text(rec, "size", false, r.size, sizeof(r.size), err) ||
        get_int(rec, "cores", true, &r.cores, err) ||
        get_int(rec, "memoryMB", true, &r.memory_mb, err) ||
        get_text(rec, "imageId", false, r.image_id, sizeof(r.image_id), err) ||
        get_int(rec, "generation", false, &r.generation, err) ||
        get_text(rec, "osType", false, r.os_type, sizeof(r.os_type), err) ||
        get_text(rec, "vmRoleId", false, r.vm_role_id, sizeof(r.vm_role_id), err))
        return -1;
    if (catalog_dynmem_from_json(json_object_get(rec, "dynamicMemory"), &r.dynamic_memory))
        return bad(err, "dynamicMemory");
    r.dynamic_memory_own = json_is_true(json_object_get(json_object_get(rec, "dynamicMemory"), "_own"));
    if (vm_provisioning_parse(json_string_value(json_object_get(rec, "provisioningState")),
                              &r.provisioning))
        return bad(err, "provisioningState");
    if (vm_power_parse(json_string_value(json_object_get(rec, "powerState")), &r.power))
        return bad(err, "powerState");
    if (vm_os_state_parse(json_string_value(json_object_get(rec, "osState")), &r.os_state))
        return bad(err, "osState");
    if (get_lists(rec, &r, err) || get_checkpoint(json_object_get(rec, "checkpoint"), &r.checkpoint, err) ||
        get_text(rec, "createdAt", false, r.created_at, sizeof(r.created_at), err) ||
        get_text(rec, "updatedAt", false, r.updated_at, sizeof(r.updated_at), err) ||
        get_text(rec, "hostId", false, r.host_id, sizeof(r.host_id), err) ||
        get_text(rec, "hypervisorId", false, r.hypervisor_id, sizeof(r.hypervisor_id), err) ||
        get_int(rec, "_storageGB", false, &r.hold.storage_gb, err) ||
        get_bool(rec, "_holdsCompute", &r.hold.holds_compute, err) ||
        get_bool(rec, "_holdsStorage", &r.hold.holds_storage, err) ||
        get_bool(rec, "_counted", &r.hold.counted, err) ||
        get_int(rec, "_assignedMemoryMB", false, &r.assigned_memory_mb, err) ||
        vmrec__iview_from_store(json_object_get(rec, "_instanceView"), &r, err))
        return -1;
    vmrec__seen(&r);
    *out = r;
    return 0;
}

void
vmrec__seen(vm_rec_t *vm)
{
    vm->seen.provisioning = vm->provisioning;
    vm->seen.power = vm->power;
    memcpy(vm->seen.size, vm->size, sizeof(vm->seen.size));
}

/* ---- vm_rec_t -> JSON ---- */

/* text as a JSON string, "" as null. The record's texts came from JSON or from code: valid UTF-8. */
static json_t *
text_or_null(const char *text)
{
    return text[0] ? json_string_nocheck(text) : json_null();
}

static json_t *
int_or_null(int64_t n)
{
    return n ? json_integer(n) : json_null();
}

static json_t *
done(json_t *o, bool oom)
{
    if (oom) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Adds value (stolen) under key; a NULL value (out of memory) is remembered in *oom. */
static void
put(json_t *o, const char *key, json_t *value, bool *oom)
{
    if (value == NULL || json_object_set_new_nocheck(o, key, value) != 0)
        *oom = true;
}

/* The disks (only the data disks with data_only). */
static json_t *
disks_json(const vm_disk_t *disks, size_t ndisks, bool data_only, bool *oom)
{
    json_t *a = json_array(), *d;
    size_t i;

    for (i = 0; a != NULL && i < ndisks; i++) {
        const vm_disk_t *k = &disks[i];
        if (data_only && k->lun < 0)
            continue;
        d = json_object();
        if (d == NULL || json_array_append_new(a, d) != 0) {
            *oom = true;
            break;
        }
        put(d, "lun", k->lun < 0 ? json_null() : json_integer(k->lun), oom);
        put(d, "kind", json_string_nocheck(vm_disk_kind_name(k->kind)), oom);
        put(d, "sizeGB", json_integer(k->size_gb), oom);
        put(d, "caching", json_string_nocheck(vm_caching_name(k->caching)), oom);
    }
    return a;
}

json_t *
vmrec_data_disks_json(const vm_rec_t *vm)
{
    bool oom = false;

    return done(disks_json(vm->disks, vm->ndisks, true, &oom), oom);
}

static json_t *
nics_json(const vm_rec_t *vm, bool *oom)
{
    json_t *a = json_array(), *n;
    size_t i;

    for (i = 0; a != NULL && i < vm->nnics; i++) {
        n = json_object();
        if (n == NULL || json_array_append_new(a, n) != 0) {
            *oom = true;
            break;
        }
        put(n, "networkId", json_string_nocheck(vm->nics[i].network_id), oom);
        put(n, "ipAddress", json_string_nocheck(vm->nics[i].ip_address), oom);
    }
    return a;
}

/* What the VM was when its checkpoint was taken (v->present). */
static json_t *
checkpoint_vm_json(const vm_checkpoint_vm_t *v, bool *oom)
{
    json_t *o;

    assert(v->present);
    if ((o = json_object()) == NULL)
        return NULL;
    put(o, "size", text_or_null(v->size), oom);
    put(o, "cores", json_integer(v->cores), oom);
    put(o, "memoryMB", json_integer(v->memory_mb), oom);
    if (v->has_dynamic_memory)
        put(o, "dynamicMemory", catalog_dynmem_json(&v->dynamic_memory), oom);
    put(o, "disks", disks_json(v->disks, v->ndisks, false, oom), oom);
    return o;
}

/* The slot as the API shows it, and with private (the store's form) the host's side too. */
static json_t *
checkpoint_json(const vm_checkpoint_t *cp, bool private, bool *oom)
{
    json_t *o;

    if (!cp->present)
        return json_null();
    if ((o = json_object()) == NULL)
        return NULL;
    put(o, "name", json_string_nocheck(cp->name), oom);
    put(o, "description", cp->has_description ? json_string_nocheck(cp->description) : json_null(),
        oom);
    put(o, "createdAt", text_or_null(cp->created_at), oom);
    put(o, "sizeGB", json_integer(cp->size_gb), oom);
    if (private) {
        put(o, "_hostId", text_or_null(cp->host_id), oom);
        put(o, "_powerState", cp->has_power ? json_string_nocheck(vm_power_name(cp->power))
                                            : json_null(),
            oom);
        if (cp->vm.present) /* a checkpoint made before wapd kept it has none */
            put(o, "_vm", checkpoint_vm_json(&cp->vm, oom), oom);
    }
    return o;
}

json_t *
vm_render_checkpoint(const vm_checkpoint_t *cp)
{
    bool oom = false;

    assert(cp != NULL && cp->present);
    return done(checkpoint_json(cp, false, &oom), oom);
}

/* The fields the API shows, in the store's column order up to updatedAt (the view's instanceView before
 * createdAt, where the API answers it); private: the store's form. */
static json_t *
public_json(const vm_rec_t *vm, bool private, bool *oom)
{
    json_t *o = json_object(), *dm;

    if (o == NULL)
        return NULL;
    put(o, "id", json_string_nocheck(vm->id), oom);
    put(o, "name", text_or_null(vm->name), oom);
    put(o, "subscriptionId", json_string_nocheck(vm->subscription_id), oom);
    put(o, "size", text_or_null(vm->size), oom);
    put(o, "cores", json_integer(vm->cores), oom);
    put(o, "memoryMB", json_integer(vm->memory_mb), oom);
    dm = catalog_dynmem_json(&vm->dynamic_memory);
    if (private && vm->dynamic_memory_own && json_is_object(dm))
        put(dm, "_own", json_true(), oom); /* the store's form only */
    put(o, "dynamicMemory", dm, oom);
    put(o, "imageId", text_or_null(vm->image_id), oom);
    put(o, "generation", int_or_null(vm->generation), oom);
    put(o, "osType", text_or_null(vm->os_type), oom);
    put(o, "osState", json_string_nocheck(vm_os_state_name(vm->os_state)), oom);
    put(o, "vmRoleId", text_or_null(vm->vm_role_id), oom);
    put(o, "provisioningState", json_string_nocheck(vm_provisioning_name(vm->provisioning)), oom);
    put(o, "powerState", json_string_nocheck(vm_power_name(vm->power)), oom);
    put(o, "disks", disks_json(vm->disks, vm->ndisks, false, oom), oom);
    put(o, "nics", nics_json(vm, oom), oom);
    put(o, "checkpoint", checkpoint_json(&vm->checkpoint, private, oom), oom);
    if (!private)
        put(o, "instanceView", vmrec__iview_json(vm), oom);
    put(o, "createdAt", text_or_null(vm->created_at), oom);
    put(o, "updatedAt", text_or_null(vm->updated_at), oom);
    return o;
}

json_t *
vmrec_to_store(const vm_rec_t *vm)
{
    bool oom = false;
    json_t *o;

    assert(vm != NULL && vm->id[0] != '\0');
    if ((o = public_json(vm, true, &oom)) == NULL)
        return NULL;
    put(o, "hostId", text_or_null(vm->host_id), &oom);
    put(o, "hypervisorId", text_or_null(vm->hypervisor_id), &oom);
    put(o, "_storageGB", json_integer(vm->hold.storage_gb), &oom);
    put(o, "_holdsCompute", json_boolean(vm->hold.holds_compute), &oom);
    put(o, "_holdsStorage", json_boolean(vm->hold.holds_storage), &oom);
    put(o, "_counted", json_boolean(vm->hold.counted), &oom);
    put(o, "_assignedMemoryMB", int_or_null(vm->assigned_memory_mb), &oom);
    put(o, "_instanceView", vmrec__iview_to_store(vm), &oom);
    return done(o, oom);
}

json_t *
vm_render_view(const vm_rec_t *vm, bool admin)
{
    bool oom = false;
    const vm_holdings_t *h = &vm->hold;
    json_t *o;

    assert(vm != NULL && vm->id[0] != '\0');
    if ((o = public_json(vm, false, &oom)) == NULL)
        return NULL;
    if (admin) {
        put(o, "hostId", text_or_null(vm->host_id), &oom);
        put(o, "hypervisorId", text_or_null(vm->hypervisor_id), &oom);
        /* What the VM holds on its host: the host's allocated is the sum of these. */
        put(o, "allocated",
            json_pack("{s:I, s:I, s:I}", "cores", (json_int_t) (h->holds_compute ? vm->cores : 0),
                      "memoryMB", (json_int_t) (h->holds_compute ? vm->memory_mb : 0), "storageGB",
                      (json_int_t) (h->holds_storage ? h->storage_gb : 0)),
            &oom);
    }
    return done(o, oom);
}
