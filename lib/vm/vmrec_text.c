/*
 * vmrec_text.c: a VM record rendered as the API's view straight to text (what GETs and list pages answer,
 * with no JSON value built and dumped); the value form is in vmrec_codec.c.
 *
 * Invariants: the text is, byte for byte, the compact dump of the value vm_render_view builds for the same
 * record and form (tests/unit/test_vmrec.c compares them): the same keys, in the same order, never a key
 * that starts with '_', and the host's ids only for the admin.
 */
#include "vmrec.h"

#include <assert.h>
#include <string.h>

#include "../util.h"

/* ---- vm_rec_t -> the view as text ---- */

/* Which view render writes: the tenant's, the tenant's with the checkpoint hidden (the plan disabled
 * checkpoints), or the admin's. */
typedef enum {
    FORM_TENANT,
    FORM_TENANT_NO_CHECKPOINT,
    FORM_ADMIN,
} form_t;

/* ,"key": (the comma unless the key opens its object); keys are plain ASCII. */
static void
key(util_buf_t *b, const char *k, bool first)
{
    if (!first)
        util_buf_add(b, ",", 1);
    util_buf_add(b, "\"", 1);
    util_buf_puts(b, k);
    util_buf_add(b, "\":", 2);
}

/* text as a JSON string, "" as null. The record's texts came from JSON or from code: valid UTF-8. */
static void
text_or_null_text(util_buf_t *b, const char *k, const char *text)
{
    key(b, k, false);
    if (text[0])
        util_buf_json_str(b, text);
    else
        util_buf_add(b, "null", 4);
}

static void
text(util_buf_t *b, const char *k, const char *text, bool first)
{
    key(b, k, first);
    util_buf_json_str(b, text);
}

static void
integer(util_buf_t *b, const char *k, int64_t n)
{
    key(b, k, false);
    util_buf_json_int(b, n);
}

/* ,"dynamicMemory": null or {enabled, minimumMB, maximumMB}, as catalog_dynmem_json has it. */
static void
dynmem_text(util_buf_t *b, const catalog_dynmem_t *d)
{
    key(b, "dynamicMemory", false);
    if (!d->present) {
        util_buf_add(b, "null", 4);
        return;
    }
    util_buf_add(b, "{", 1);
    key(b, "enabled", true);
    util_buf_puts(b, d->enabled ? "true" : "false");
    if (d->enabled) {
        integer(b, "minimumMB", d->minimum_mb);
        integer(b, "maximumMB", d->maximum_mb);
    } else {
        util_buf_puts(b, ",\"minimumMB\":null,\"maximumMB\":null");
    }
    util_buf_add(b, "}", 1);
}

/* The disks, as an array. */
static void
disks_text(util_buf_t *b, const vm_rec_t *vm)
{
    size_t i;

    util_buf_add(b, "[", 1);
    for (i = 0; i < vm->ndisks; i++) {
        const vm_disk_t *k = &vm->disks[i];
        util_buf_add(b, i ? ",{\"lun\":" : "{\"lun\":", i ? 8 : 7);
        if (k->lun < 0)
            util_buf_add(b, "null", 4);
        else
            util_buf_json_int(b, k->lun);
        text(b, "kind", vm_disk_kind_name(k->kind), false);
        integer(b, "sizeGB", k->size_gb);
        text(b, "caching", vm_caching_name(k->caching), false);
        util_buf_add(b, "}", 1);
    }
    util_buf_add(b, "]", 1);
}

static void
nics_text(util_buf_t *b, const vm_rec_t *vm)
{
    size_t i;

    util_buf_add(b, "[", 1);
    for (i = 0; i < vm->nnics; i++) {
        util_buf_add(b, i ? ",{" : "{", i ? 2 : 1);
        text(b, "networkId", vm->nics[i].network_id, true);
        text(b, "ipAddress", vm->nics[i].ip_address, false);
        util_buf_add(b, "}", 1);
    }
    util_buf_add(b, "]", 1);
}

/* The slot as the API shows it (null when empty). */
static void
checkpoint_text(util_buf_t *b, const vm_checkpoint_t *cp)
{
    if (!cp->present) {
        util_buf_add(b, "null", 4);
        return;
    }
    util_buf_add(b, "{", 1);
    text(b, "name", cp->name, true);
    if (cp->has_description)
        text(b, "description", cp->description, false);
    else
        text_or_null_text(b, "description", "");
    text_or_null_text(b, "createdAt", cp->created_at);
    integer(b, "sizeGB", cp->size_gb);
    util_buf_add(b, "}", 1);
}

/* The view as compact JSON text: what dumping vm_render_view writes (the unit tests hold the two to the
 * same bytes), without building and dumping a JSON value. */
static void
render(util_buf_t *b, const vm_rec_t *vm, form_t form)
{
    const vm_holdings_t *h = &vm->hold;

    assert(vm != NULL && vm->id[0] != '\0');
    util_buf_add(b, "{", 1);
    text(b, "id", vm->id, true);
    text_or_null_text(b, "name", vm->name);
    text(b, "subscriptionId", vm->subscription_id, false);
    text_or_null_text(b, "size", vm->size);
    integer(b, "cores", vm->cores);
    integer(b, "memoryMB", vm->memory_mb);
    dynmem_text(b, &vm->dynamic_memory);
    text_or_null_text(b, "imageId", vm->image_id);
    key(b, "generation", false);
    if (vm->generation)
        util_buf_json_int(b, vm->generation);
    else
        util_buf_add(b, "null", 4);
    text_or_null_text(b, "osType", vm->os_type);
    text(b, "osState", vm_os_state_name(vm->os_state), false);
    text_or_null_text(b, "vmRoleId", vm->vm_role_id);
    text(b, "provisioningState", vm_provisioning_name(vm->provisioning), false);
    text(b, "powerState", vm_power_name(vm->power), false);
    key(b, "disks", false);
    disks_text(b, vm);
    key(b, "nics", false);
    nics_text(b, vm);
    key(b, "checkpoint", false);
    if (form == FORM_TENANT_NO_CHECKPOINT)
        util_buf_add(b, "null", 4);
    else
        checkpoint_text(b, &vm->checkpoint);
    key(b, "instanceView", false);
    vmrec__iview_text(vm, b);
    text_or_null_text(b, "createdAt", vm->created_at);
    text_or_null_text(b, "updatedAt", vm->updated_at);
    if (form == FORM_ADMIN) {
        text_or_null_text(b, "hostId", vm->host_id);
        text_or_null_text(b, "hypervisorId", vm->hypervisor_id);
    }
    if (form == FORM_ADMIN) {
        /* What the VM holds on its host: the host's allocated is the sum of these. */
        key(b, "allocated", false);
        util_buf_add(b, "{", 1);
        key(b, "cores", true);
        util_buf_json_int(b, h->holds_compute ? vm->cores : 0);
        integer(b, "memoryMB", h->holds_compute ? vm->memory_mb : 0);
        integer(b, "storageGB", h->holds_storage ? h->storage_gb : 0);
        util_buf_add(b, "}", 1);
    }
    util_buf_add(b, "}", 1);
}

void
vm_render_view_text(const vm_rec_t *vm, bool admin, bool hide_checkpoint, util_buf_t *b)
{
    assert(vm != NULL && b != NULL && !(admin && hide_checkpoint));
    render(b, vm, admin ? FORM_ADMIN : hide_checkpoint ? FORM_TENANT_NO_CHECKPOINT : FORM_TENANT);
}
