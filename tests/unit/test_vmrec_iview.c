/* Unit tests of a VM's instance view (lib/vm/vmrec_iview.c): a save stamps the state that changed and
 * nothing else, a disk's time is when it was added, leaving running clears the guest status, a record from
 * before the instance view keeps its own stamps; what the host reports changes the record only when a value
 * changed; a malformed _instanceView is an internal error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/vm/vmrec.h"

#define T0 "2026-11-22T06:17:17.123Z"
#define T1 "2026-11-22T06:18:17.123Z"
#define NOW "2026-11-22T07:00:00.000Z"
#define LATER "2026-11-22T08:00:00.000Z"

/* A running VM with an OS disk and a data disk at lun 2; iview is its _instanceView's JSON text. */
static void
load(const char *iview, vm_rec_t *vm)
{
    json_t *rec = json_pack(
        "{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:s, s:[{s:n, s:s, s:i, s:s}, {s:i, s:s, s:i, s:s}], "
        "s:[], s:n, s:s, s:s, s:n, s:o}",
        "id", "10000000-0000-4000-8000-000000000000", "name", "v", "subscriptionId",
        "20000000-0000-4000-8000-000000000000", "size", "S", "cores", 1, "memoryMB", 2048, "osState",
        "specialized", "provisioningState", "succeeded", "powerState", "running", "disks", "lun", "kind",
        "os", "sizeGB", 30, "caching", "ReadWrite", "lun", 2, "kind", "data", "sizeGB", 10, "caching", "None",
        "nics", "checkpoint", "createdAt", T0, "updatedAt", T1, "_assignedMemoryMB",
        "_instanceView", json_loads(iview, JSON_DECODE_ANY, NULL));
    err_t err = {0};

    assert_non_null(rec);
    assert_int_equal(vmrec_from_store(rec, vm, &err), 0);
    json_decref(rec);
}

static const char *
disk_time(const vm_rec_t *vm, int lun)
{
    return vm->view.disk_at[lun + 1];
}

static void
a_save_stamps_what_changed(void **state)
{
    static vm_rec_t vm;

    (void) state;
    load("{\"provisioningStateAt\": \"" T0 "\", \"powerStateAt\": \"" T1 "\", "
         "\"guest\": {\"status\": \"ok\", \"at\": \"" T1 "\"}, "
         "\"disks\": {\"os\": {\"status\": \"ok\", \"at\": \"" T0 "\"}, "
         "\"2\": {\"status\": \"ok\", \"at\": \"" T1 "\"}}}",
         &vm);
    assert_true(vm.view.present);
    assert_string_equal(vm.view.guest, "ok");
    /* Nothing changed: nothing is stamped. */
    vmrec__stamp(&vm, NOW);
    assert_string_equal(vm.view.provisioning_at, T0);
    assert_string_equal(vm.view.power_at, T1);
    assert_string_equal(vm.view.guest_at, T1);
    /* Stopped: the power time moves, the provisioning time stays, the guest status goes. */
    vm.power = VM_POWER_STOPPED;
    vmrec__stamp(&vm, NOW);
    assert_string_equal(vm.view.power_at, NOW);
    assert_string_equal(vm.view.provisioning_at, T0);
    assert_string_equal(vm.view.guest, "");
    /* A disk added at lun 5 is stamped; the one at lun 2 keeps its time until it is removed. */
    vm.disks[vm.ndisks++] = (vm_disk_t){5, VM_DISK_DATA, 1, VM_CACHING_NONE};
    vmrec__stamp(&vm, LATER);
    assert_string_equal(disk_time(&vm, 5), LATER);
    assert_string_equal(disk_time(&vm, 2), T1);
    assert_string_equal(disk_time(&vm, -1), T0);
    vm.disks[1] = vm.disks[2];
    vm.ndisks--;
    vmrec__stamp(&vm, LATER);
    assert_string_equal(disk_time(&vm, 2), "");
}

static void
a_record_from_before_keeps_its_stamps(void **state)
{
    static vm_rec_t vm;
    json_t *back;

    (void) state;
    load("null", &vm);
    assert_false(vm.view.present);
    assert_string_equal(vm.view.provisioning_at, T0);
    assert_string_equal(vm.view.power_at, T1);
    assert_string_equal(disk_time(&vm, 2), T0);
    back = vmrec_to_store(&vm);
    assert_true(json_is_null(json_object_get(back, "_instanceView")));
    json_decref(back);
    vmrec__stamp(&vm, NOW);
    assert_true(vm.view.present);
    assert_string_equal(vm.view.provisioning_at, T0);
    assert_string_equal(vm.view.power_at, T1);
    back = vmrec_to_store(&vm);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(back, "_instanceView"), "powerStateAt")), T1);
    json_decref(back);
}

static void
observing_changes_only_what_changed(void **state)
{
    static vm_rec_t vm;

    (void) state;
    load("null", &vm);
    /* Nothing reported, or the startup memory as assigned: no change. */
    assert_false(vmrec_observe(&vm, "", 0, NOW));
    assert_false(vmrec_observe(&vm, NULL, 2048, NOW));
    assert_true(vmrec_observe(&vm, "ok", 0, NOW));
    assert_string_equal(vm.view.guest, "ok");
    assert_string_equal(vm.view.guest_at, NOW);
    /* The same heartbeat again keeps its time; a status not reported keeps the last one. */
    assert_false(vmrec_observe(&vm, "ok", 0, LATER));
    assert_false(vmrec_observe(&vm, "", 0, LATER));
    assert_string_equal(vm.view.guest_at, NOW);
    assert_true(vmrec_observe(&vm, "noContact", 0, LATER));
    assert_string_equal(vm.view.guest_at, LATER);
    assert_true(vmrec_observe(&vm, NULL, 1024, LATER));
    assert_int_equal(vm.assigned_memory_mb, 1024);
    assert_false(vmrec_observe(&vm, NULL, 1024, LATER));
    /* A VM that is not running has no guest status to record. */
    vm.power = VM_POWER_STOPPED;
    vm.view.guest[0] = '\0';
    assert_false(vmrec_observe(&vm, "ok", 0, LATER));
    assert_string_equal(vm.view.guest, "");
}

static void
a_malformed_view_is_an_internal_error(void **state)
{
    static const char *const bad[] = {
        "[]", "\"x\"", "{\"powerStateAt\": 3}", "{\"guest\": 1}", "{\"guest\": {\"status\": \"maybe\"}}",
        "{\"disks\": []}", "{\"disks\": {\"os\": {\"at\": 5}}}",
    };
    json_t *rec;
    vm_rec_t vm;
    err_t err;
    size_t i;

    (void) state;
    load("null", &vm);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rec = vmrec_to_store(&vm);
        json_object_set_new(rec, "_instanceView", json_loads(bad[i], JSON_DECODE_ANY, NULL));
        err_clear(&err);
        assert_int_equal(vmrec_from_store(rec, &vm, &err), -1);
        assert_int_equal(err.code, ERR_INTERNAL);
        json_decref(rec);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_save_stamps_what_changed),
        cmocka_unit_test(a_record_from_before_keeps_its_stamps),
        cmocka_unit_test(observing_changes_only_what_changed),
        cmocka_unit_test(a_malformed_view_is_an_internal_error),
    };

    return cmocka_run_group_tests_name("vmrec_iview", tests, NULL, NULL);
}
