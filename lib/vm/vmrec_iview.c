/*
 * vmrec_iview.c: a VM's instance view (see vmrec.h): the engine's side of it in the store (_instanceView),
 * the instanceView the API shows (as a JSON value and as text), and the two places it changes: the stamp
 * every save and insert applies, and what the host reports (guest heartbeat, assigned memory).
 *
 * The store keeps {provisioningStateAt, powerStateAt, guest: {status, at} | null, disks: {"os" | "<lun>":
 * {status, at}}}. (No key is 14 characters long: the JSON reader the store uses overruns its buffer on such
 * a string when an allocation fails at its closing quote, which the allocation fault tests hit.)
 *
 * Invariants: reading it then writing it gives back the same JSON; a record from before it existed (null)
 * reads as the record's own stamps and writes back as null until a save stamps it; the view's text is, byte
 * for byte, the compact dump of the view's value; the API shows a guest status only while the VM is
 * running.
 */
#include "vmrec.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../util.h"

#define DISK_STATUS "ok" /* a disk on the record is attached: its job has finished on the host */

/* ---- names ---- */

static const char *const provisioning_display[] = {
    [VM_PROV_CREATING] = "Creating",
    [VM_PROV_SUCCEEDED] = "Provisioning succeeded",
    [VM_PROV_FAILED] = "Provisioning failed",
    [VM_PROV_UPDATING] = "Updating",
    [VM_PROV_DELETING] = "Deleting",
};

static const char *const power_display[] = {
    [VM_POWER_STARTING] = "VM starting",         [VM_POWER_RUNNING] = "VM running",
    [VM_POWER_STOPPING] = "VM stopping",         [VM_POWER_STOPPED] = "VM stopped",
    [VM_POWER_DEALLOCATING] = "VM deallocating", [VM_POWER_DEALLOCATED] = "VM deallocated",
    [VM_POWER_UNKNOWN] = "VM state unknown",
};

static const char *
guest_display(const char *status)
{
    return strcmp(status, "ok") == 0 ? "Guest agent ready" : "Guest agent not responding";
}

/* Whether status is a guest status a record holds ("ok" or "noContact"). */
static bool
known_guest(const char *status)
{
    return status != NULL && (strcmp(status, "ok") == 0 || strcmp(status, "noContact") == 0);
}

/* Whether the view shows a guest status. */
static bool
shows_guest(const vm_rec_t *vm)
{
    return vm->power == VM_POWER_RUNNING && vm->view.guest[0] != '\0';
}

/* The key of a disk in the store's map: "os" or its lun. */
static void
disk_key(const vm_disk_t *d, char key[16])
{
    if (d->lun < 0)
        snprintf(key, 16, "os");
    else
        snprintf(key, 16, "%d", d->lun);
}

/* The time disk i of vm was added (the view's slot of its lun). */
static char *
disk_at(vm_rec_t *vm, size_t i)
{
    assert(i < vm->ndisks && vm->disks[i].lun >= -1 && vm->disks[i].lun <= VM_MAX_LUN);
    return vm->view.disk_at[vm->disks[i].lun + 1];
}

static const char *
disk_at_c(const vm_rec_t *vm, size_t i)
{
    return disk_at((vm_rec_t *) vm, i);
}

/* ---- the store's form ---- */

static int
bad(err_t *err, const char *field)
{
    return err_set(err, ERR_INTERNAL, NULL, "The VM record could not be read: field %s.", field);
}

/* A stamp of o into out: a string that fits, or (null or absent) fallback. */
static int
get_stamp(const json_t *o, const char *key, const char *fallback, char out[VM_REC_STAMP_MAX],
          err_t *err)
{
    const json_t *v = json_object_get(o, key);

    if (v == NULL || json_is_null(v)) {
        snprintf(out, VM_REC_STAMP_MAX, "%s", fallback);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= VM_REC_STAMP_MAX)
        return bad(err, "_instanceView");
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

int
vmrec__iview_from_store(const json_t *iv, vm_rec_t *vm, err_t *err)
{
    const json_t *guest, *disks, *status;
    char key[16];
    size_t i;

    assert(vm != NULL);
    vm->view.present = json_is_object(iv);
    if (!vm->view.present && iv != NULL && !json_is_null(iv))
        return bad(err, "_instanceView");
    guest = json_object_get(iv, "guest");
    disks = json_object_get(iv, "disks");
    if ((guest != NULL && !json_is_null(guest) && !json_is_object(guest)) ||
        (disks != NULL && !json_is_object(disks)))
        return bad(err, "_instanceView");
    if (get_stamp(iv, "provisioningStateAt", vm->created_at, vm->view.provisioning_at, err) ||
        get_stamp(iv, "powerStateAt", vm->updated_at, vm->view.power_at, err) ||
        get_stamp(guest, "at", "", vm->view.guest_at, err))
        return -1;
    status = json_object_get(guest, "status");
    if (json_is_object(guest) && !known_guest(json_string_value(status)))
        return bad(err, "_instanceView.guest");
    snprintf(vm->view.guest, sizeof(vm->view.guest), "%s",
             json_is_object(guest) ? json_string_value(status) : "");
    for (i = 0; i < vm->ndisks; i++) {
        if (vm->disks[i].lun > VM_MAX_LUN)
            return bad(err, "disks.lun");
        disk_key(&vm->disks[i], key);
        if (get_stamp(json_object_get(disks, key), "at", vm->created_at, disk_at(vm, i), err))
            return -1;
    }
    return 0;
}

json_t *
vmrec__iview_to_store(const vm_rec_t *vm)
{
    json_t *o, *disks;
    char key[16];
    size_t i;

    assert(vm != NULL);
    if (!vm->view.present)
        return json_null();
    if ((disks = json_object()) == NULL)
        return NULL;
    for (i = 0; i < vm->ndisks; i++) {
        disk_key(&vm->disks[i], key);
        if (json_object_set_new(disks, key, json_pack("{s:s, s:s}", "status", DISK_STATUS, "at",
                                                      disk_at_c(vm, i))) != 0) {
            json_decref(disks);
            return NULL;
        }
    }
    o = json_pack("{s:s, s:s, s:o, s:o}", "provisioningStateAt", vm->view.provisioning_at, "powerStateAt",
                  vm->view.power_at, "guest",
                  vm->view.guest[0] ? json_pack("{s:s, s:s}", "status", vm->view.guest, "at",
                                                vm->view.guest_at)
                                    : json_null(),
                  "disks", disks);
    return o;
}

/* ---- the API's view ---- */

static json_t *
status_json(const char *prefix, const char *state, const char *display, const char *at)
{
    char code[64];

    snprintf(code, sizeof(code), "%s/%s", prefix, state);
    return json_pack("{s:s, s:s, s:s}", "code", code, "displayStatus", display, "time", at);
}

json_t *
vmrec__iview_json(const vm_rec_t *vm)
{
    json_t *statuses = json_array(), *disks = json_array();
    bool oom = statuses == NULL || disks == NULL;
    size_t i;

    assert(vm != NULL);
    oom = oom ||
          json_array_append_new(statuses, status_json("ProvisioningState",
                                                       vm_provisioning_name(vm->provisioning),
                                                       provisioning_display[vm->provisioning],
                                                       vm->view.provisioning_at)) ||
          json_array_append_new(statuses, status_json("PowerState", vm_power_name(vm->power),
                                                       power_display[vm->power], vm->view.power_at));
    if (!oom && shows_guest(vm))
        oom = json_array_append_new(statuses, status_json("GuestAgent", vm->view.guest,
                                                          guest_display(vm->view.guest),
                                                          vm->view.guest_at)) != 0;
    for (i = 0; !oom && i < vm->ndisks; i++)
        oom = json_array_append_new(
                  disks, json_pack("{s:o, s:s, s:s}", "lun",
                                   vm->disks[i].lun < 0 ? json_null() : json_integer(vm->disks[i].lun),
                                   "status", DISK_STATUS, "time", disk_at_c(vm, i))) != 0;
    if (oom) {
        json_decref(statuses);
        json_decref(disks);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "statuses", statuses, "disks", disks);
}

/* {"code":"prefix/state","displayStatus":…,"time":…}; the texts are plain ASCII but the stamp. */
static void
status_text(util_buf_t *b, const char *prefix, const char *state, const char *display, const char *at)
{
    util_buf_puts(b, "{\"code\":\"");
    util_buf_puts(b, prefix);
    util_buf_puts(b, "/");
    util_buf_puts(b, state);
    util_buf_puts(b, "\",\"displayStatus\":");
    util_buf_json_str(b, display);
    util_buf_puts(b, ",\"time\":");
    util_buf_json_str(b, at);
    util_buf_puts(b, "}");
}

void
vmrec__iview_text(const vm_rec_t *vm, util_buf_t *b)
{
    size_t i;

    assert(vm != NULL && b != NULL);
    util_buf_puts(b, "{\"statuses\":[");
    status_text(b, "ProvisioningState", vm_provisioning_name(vm->provisioning),
                provisioning_display[vm->provisioning], vm->view.provisioning_at);
    util_buf_puts(b, ",");
    status_text(b, "PowerState", vm_power_name(vm->power), power_display[vm->power], vm->view.power_at);
    if (shows_guest(vm)) {
        util_buf_puts(b, ",");
        status_text(b, "GuestAgent", vm->view.guest, guest_display(vm->view.guest), vm->view.guest_at);
    }
    util_buf_puts(b, "],\"disks\":[");
    for (i = 0; i < vm->ndisks; i++) {
        util_buf_puts(b, i ? ",{\"lun\":" : "{\"lun\":");
        if (vm->disks[i].lun < 0)
            util_buf_puts(b, "null");
        else
            util_buf_json_int(b, vm->disks[i].lun);
        util_buf_puts(b, ",\"status\":\"" DISK_STATUS "\",\"time\":");
        util_buf_json_str(b, disk_at_c(vm, i));
        util_buf_puts(b, "}");
    }
    util_buf_puts(b, "]}");
}

/* ---- changes ---- */

void
vmrec__stamp(vm_rec_t *vm, const char *now)
{
    bool has[VM_REC_MAX_DISKS];
    size_t i;

    assert(vm != NULL && now != NULL && now[0] != '\0');
    if (vm->provisioning != vm->seen.provisioning || vm->view.provisioning_at[0] == '\0')
        snprintf(vm->view.provisioning_at, sizeof(vm->view.provisioning_at), "%s", now);
    if (vm->power != vm->seen.power || vm->view.power_at[0] == '\0')
        snprintf(vm->view.power_at, sizeof(vm->view.power_at), "%s", now);
    if (vm->power != VM_POWER_RUNNING)
        vm->view.guest[0] = vm->view.guest_at[0] = '\0';
    for (i = 0; i < VM_REC_MAX_DISKS; i++)
        has[i] = false;
    for (i = 0; i < vm->ndisks; i++) {
        assert(vm->disks[i].lun >= -1 && vm->disks[i].lun <= VM_MAX_LUN);
        has[vm->disks[i].lun + 1] = true;
    }
    for (i = 0; i < VM_REC_MAX_DISKS; i++) {
        if (!has[i]) /* a disk removed: one added at its lun again is new */
            vm->view.disk_at[i][0] = '\0';
        else if (vm->view.disk_at[i][0] == '\0')
            snprintf(vm->view.disk_at[i], sizeof(vm->view.disk_at[i]), "%s", now);
    }
    vm->view.present = true;
}

bool
vmrec_observe(vm_rec_t *vm, const char *guest, int64_t assigned_memory_mb, const char *now)
{
    bool changed = false;

    assert(vm != NULL && now != NULL);
    if (guest == NULL || vm->power != VM_POWER_RUNNING)
        guest = "";
    /* A status the host stops reporting is kept: "not reported" says nothing new of the guest. */
    if (known_guest(guest) && strcmp(guest, vm->view.guest) != 0) {
        snprintf(vm->view.guest, sizeof(vm->view.guest), "%s", guest);
        snprintf(vm->view.guest_at, sizeof(vm->view.guest_at), "%s", now);
        changed = true;
    }
    if (assigned_memory_mb > 0 && assigned_memory_mb != (vm->assigned_memory_mb ? vm->assigned_memory_mb
                                                                                 : vm->memory_mb)) {
        vm->assigned_memory_mb = assigned_memory_mb;
        changed = true;
    }
    return changed;
}
