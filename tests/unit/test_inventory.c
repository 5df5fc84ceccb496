/* Unit tests of lib/inventory: a sync that finds nothing amiss, the simulated storage incident (VMs that
 * reappear under new hypervisor ids), the unmanaged list it leaves, re-association, and its refusals; a
 * sync over more records than one page; observing a host's VMs records their guest heartbeat once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_vm_world.h"
#include "../../lib/vm/vmrec.h"
#include "../../lib/inventory/inventory_internal.h"

/* More records than one page of a sync (lib/inventory.c's SYNC_PAGE is 256). */
#define MANY_RECORDS 600

static void
incident_then_reassociation(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    inventory_simulate_req_t cmd = {0};
    inventory_target_t target;
    const char *ids[1];
    json_t *list, *out, *moved, *vm;

    world_running_vm(w, "inv", id);
    world_wait_status(st, inventory_refresh(st, id_of(w->host), &err), "succeeded");
    list = inventory_unmanaged(st, id_of(w->host), &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    /* The VM reappears under a new hypervisor id: the record goes unknown, the new one is unmanaged. */
    /* A VM that is not on the host is a 400 naming its place in the list. */
    ids[0] = id_of(w->host);
    cmd.nvms = 1;
    cmd.vm_ids = ids;
    assert_null(inventory_simulate(st, id_of(w->host), &cmd, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "regenerateIds[0]");
    err_clear(&err);
    ids[0] = id;
    out = inventory_simulate(st, id_of(w->host), &cmd, &err);
    assert_non_null(out);
    moved = json_array_get(json_object_get(out, "regenerated"), 0);
    assert_non_null(moved);
    world_wait_status(st, inventory_refresh(st, id_of(w->host), &err), "succeeded");
    world_vm_is(st, id, "powerState", "unknown");
    list = inventory_unmanaged(st, id_of(w->host), &err);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    /* Re-association: an unknown host is a 400 on hostId; the right one points the record back. */
    target.host_id = id_of(w->cloud);
    target.hypervisor_id = json_string_value(json_object_get(moved, "newHypervisorId"));
    assert_null(inventory_reassociate(st, id, &target, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "hostId");
    err_clear(&err);
    target.host_id = id_of(w->host);
    vm = inventory_reassociate(st, id, &target, &err);
    assert_non_null(vm);
    assert_string_equal(json_string_value(json_object_get(vm, "hypervisorId")),
                        json_string_value(json_object_get(moved, "newHypervisorId")));
    assert_string_equal(json_string_value(json_object_get(vm, "powerState")), "running");
    list = inventory_unmanaged(st, id_of(w->host), &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    json_decref(vm);
    json_decref(out);
}

/* A host with several pages of records the host does not have: one sync marks every one of them unknown
 * (none is left behind between pages), and leaves the VM the host has alone. */
static void
sync_covers_every_page(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    store_filter_t f = {.field = "powerState", .op = STORE_FILTER_EQ, .value = "unknown"};
    char id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    vm_rec_t tmpl, vm;
    int i;

    world_running_vm(w, "real", id);
    assert_int_equal(vmrec_load(st, NULL, id, &tmpl, NULL, &err), 1);
    assert_int_equal(store_tx_begin(st, &err), 0);
    for (i = 0; i < MANY_RECORDS; i++) {
        vm = tmpl;
        util_uuid(vm.id);
        snprintf(vm.name, sizeof(vm.name), "gone%d", i);
        snprintf(vm.hypervisor_id, sizeof(vm.hypervisor_id), "gone-%d", i);
        assert_int_equal(vmrec_insert(st, &vm, &err), 0);
    }
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(inventory_sync(st, id_of(w->host), &err), 0);
    assert_int_equal(store_rec_count(st, &store_kind_vm, &f, 1, &err), MANY_RECORDS);
    world_vm_is(st, id, "powerState", "running");
}

/* The guest status of VM id as its view shows it ("" when none), with its time into at. */
static const char *
guest_of(store_t *st, const char *id, char at[64])
{
    static char code[64];
    err_t err = {0};
    json_t *vm = vm_get(st, NULL, id, false, NULL, &err), *s;
    size_t i;

    assert_non_null(vm);
    code[0] = at[0] = '\0';
    json_array_foreach(json_object_get(json_object_get(vm, "instanceView"), "statuses"), i, s)
        if (strncmp(json_string_value(json_object_get(s, "code")), "GuestAgent/", 11) == 0) {
            snprintf(code, 64, "%s", json_string_value(json_object_get(s, "code")));
            snprintf(at, 64, "%s", json_string_value(json_object_get(s, "time")));
        }
    json_decref(vm);
    return code;
}

/* Observing a sim host records a running VM's guest heartbeat; observing it again changes nothing (the
 * record's revision stays), and a sync observes too. */
static void
observe_records_the_guest_once(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1], at[64], at2[64];
    int64_t rev, rev2;
    err_t err = {0};
    vm_rec_t vm;

    world_running_vm(w, "seen", id);
    assert_string_equal(guest_of(st, id, at), "");
    assert_int_equal(inventory_observe(st, id_of(w->host), &err), 0);
    assert_string_equal(guest_of(st, id, at), "GuestAgent/ok");
    assert_int_equal(vmrec_load(st, NULL, id, &vm, &rev, &err), 1);
    assert_int_equal(inventory_observe(st, id_of(w->host), &err), 0);
    assert_int_equal(inventory_sync(st, id_of(w->host), &err), 0);
    assert_int_equal(vmrec_load(st, NULL, id, &vm, &rev2, &err), 1);
    assert_int_equal(rev2, rev);
    assert_string_equal(guest_of(st, id, at2), "GuestAgent/ok");
    assert_string_equal(at2, at);
}

/* Collects the assigned memory of VM arg's timeline rows. */
typedef struct {
    const char *vm_id;
    int64_t assigned[8];
    int n;
} rows_t;

static int
collect_row(void *arg, const store_timeline_row_t *row, err_t *err)
{
    rows_t *r = arg;

    (void) err;
    if (strcmp(row->vm_id, r->vm_id) == 0 && r->n < 8)
        r->assigned[r->n++] = row->assigned_memory_mb;
    return 0;
}

/* An assigned memory the host reports is recorded once, and the timeline carries it, so that metering
 * follows; the same value again writes nothing. */
static void
observed_memory_goes_on_the_timeline(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1];
    json_t *seen = json_pack("{s:i}", "assignedMemoryMB", 512);
    rows_t rows = {0};
    int64_t rev, rev2;
    err_t err = {0};
    vm_rec_t vm;

    world_running_vm(w, "dyn", id);
    rows.vm_id = id;
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(vmrec_load(st, NULL, id, &vm, &rev, &err), 1);
    assert_int_equal(inventory__observe(st, &vm, seen, &err), 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(vmrec_load(st, NULL, id, &vm, &rev2, &err), 1);
    assert_true(rev2 > rev);
    assert_int_equal(vm.assigned_memory_mb, 512);
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(inventory__observe(st, &vm, seen, &err), 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(vmrec_load(st, NULL, id, &vm, &rev, &err), 1);
    assert_int_equal(rev, rev2);
    assert_int_equal(store_timeline_each(st, 0, INT64_MAX, NULL, NULL, collect_row, &rows, &err), 0);
    assert_true(rows.n >= 2);
    assert_int_equal(rows.assigned[rows.n - 1], 512);
    assert_int_not_equal(rows.assigned[rows.n - 2], 512);
    json_decref(seen);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(incident_then_reassociation, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(sync_covers_every_page, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(observe_records_the_guest_once, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(observed_memory_goes_on_the_timeline, world_setup,
                                        world_teardown),
    };

    return cmocka_run_group_tests_name("inventory", tests, NULL, NULL);
}
