/* Unit tests of lib/checkpoint: the single slot through its jobs (create, replace, restore, delete), the
 * plan's mode deciding what a tenant may do, the admin's prune with its refusals, and a restore giving
 * back the VM's size and disks (its host allocation and quota usage following, growth checked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_vm_world.h"

#include "../../lib/checkpoint/restore.h"

static json_t *
put(world_t *w, const char *vm_id, const char *name, err_t *err)
{
    checkpoint_put_req_t req = {name, NULL};

    return checkpoint_put(w->f->st, world_ctx(w), vm_id, &req, err);
}

static const char *
slot_name(world_t *w, const char *vm_id, json_t **cp)
{
    err_t err = {0};

    *cp = checkpoint_get(w->f->st, world_ctx(w), vm_id, &err);
    return *cp ? json_string_value(json_object_get(*cp, "name")) : NULL;
}

static void
slot_create_replace_restore_delete(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    json_t *job, *cp;

    world_running_vm(w, "cp", id);
    assert_null(checkpoint_get(st, world_ctx(w), id, &err));
    assert_int_equal(err.code, ERR_NO_CHECKPOINT);
    err_clear(&err);
    world_wait_status(st, put(w, id, "one", &err), "succeeded");
    assert_string_equal(slot_name(w, id, &cp), "one");
    assert_null(json_object_get(cp, "_hostId")); /* the view hides the host's id */
    json_decref(cp);
    /* A replacement names what it replaces, and the slot holds one checkpoint. */
    job = put(w, id, "two", &err);
    assert_non_null(job);
    assert_string_equal(json_string_value(json_object_get(json_object_get(job, "replaces"), "name")),
                        "one");
    world_wait_status(st, job, "succeeded");
    assert_string_equal(slot_name(w, id, &cp), "two");
    json_decref(cp);
    world_wait_status(st, checkpoint_restore(st, world_ctx(w), id, &err), "succeeded");
    world_vm_is(st, id, "powerState", "running");
    /* The admin deletes it; the slot is empty again. */
    world_wait_status(st, checkpoint_delete(st, NULL, id, &err), "succeeded");
    assert_null(slot_name(w, id, &cp));
    assert_null(checkpoint_delete(st, world_ctx(w), id, &err));
    assert_int_equal(err.code, ERR_NO_CHECKPOINT);
}

static void
mode_decides_and_prune_checks_its_input(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    checkpoint_prune_req_t prune = {0};
    json_t *sub;
    vm_ctx_t ctx;

    world_running_vm(w, "m", id);
    sub = json_deep_copy(world_ctx(w)->sub);
    ctx = w->ctx;
    ctx.sub = sub;
    json_object_set_new(sub, "checkpointMode", json_string("viewRestore"));
    assert_int_equal(checkpoint_check(st, &ctx, id, CHECKPOINT_RESTORE, &err), 0);
    assert_int_equal(checkpoint_check(st, &ctx, id, CHECKPOINT_CREATE, &err), -1);
    assert_int_equal(err.code, ERR_CHECKPOINTS_NOT_ALLOWED);
    err_clear(&err);
    json_object_set_new(sub, "checkpointMode", json_string("disabled"));
    assert_null(checkpoint_get(st, &ctx, id, &err));
    assert_int_equal(err.code, ERR_CHECKPOINTS_NOT_ALLOWED);
    err_clear(&err);
    /* Another subscription's VM is not found before any mode applies; the admin sees every VM. */
    ctx.sid = id_of(w->user);
    assert_int_equal(checkpoint_check(st, &ctx, id, CHECKPOINT_VIEW, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(checkpoint_check(st, NULL, id, CHECKPOINT_CREATE, &err), 0);
    json_decref(sub);
    /* Prune: an unknown cloud or plan is a 400 on its field; a good request starts the job. */
    prune.cloud_id = id;
    prune.older_than_hours = 1;
    assert_null(checkpoint_prune(st, &prune, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "cloudId");
    err_clear(&err);
    prune.cloud_id = id_of(w->cloud);
    prune.plan_id = id;
    assert_null(checkpoint_prune(st, &prune, &err));
    assert_string_equal(err.target, "planId");
    err_clear(&err);
    prune.plan_id = id_of(w->plan);
    world_wait_status(st, checkpoint_prune(st, &prune, &err), "succeeded");
}

/* The slot's own ETag: it stays while the VM's power changes, moves when the slot takes another
 * checkpoint, and a write naming a stale one (or any, on an empty slot) is refused and changes nothing. */
static void
slot_etag_guards_put_and_delete(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    checkpoint_put_req_t req = {"two", NULL};
    char id[UTIL_UUID_LEN + 1];
    int64_t tag = 0, tag2 = 0;
    err_t err = {0};
    json_t *cp;

    world_running_vm(w, "tag", id);
    /* Nothing to match on an empty slot. */
    assert_null(checkpoint_put_if(st, world_ctx(w), id, &req, 42, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    world_wait_status(st, put(w, id, "one", &err), "succeeded");
    cp = checkpoint_get_tagged(st, world_ctx(w), id, &tag, &err);
    assert_non_null(cp);
    json_decref(cp);
    assert_true(tag > 0);
    world_wait_status(st, vm_action(st, world_ctx(w), id, "stop", &err), "succeeded");
    json_decref(checkpoint_get_tagged(st, world_ctx(w), id, &tag2, &err));
    assert_true(tag2 == tag);
    /* Stale: refused, the slot keeps its checkpoint. */
    assert_null(checkpoint_put_if(st, world_ctx(w), id, &req, tag + 1, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    assert_null(checkpoint_delete_if(st, NULL, id, tag + 1, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    assert_string_equal(slot_name(w, id, &cp), "one");
    json_decref(cp);
    /* Current: the replacement goes through and the ETag moves. */
    world_wait_status(st, checkpoint_put_if(st, world_ctx(w), id, &req, tag, &err), "succeeded");
    json_decref(checkpoint_get_tagged(st, world_ctx(w), id, &tag2, &err));
    assert_true(tag2 > 0 && tag2 != tag);
    assert_null(checkpoint_delete_if(st, world_ctx(w), id, tag, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    world_wait_status(st, checkpoint_delete_if(st, world_ctx(w), id, tag2, &err), "succeeded");
    assert_null(slot_name(w, id, &cp));
}

/* The pure part of a restore: the difference between the record and what its checkpoint kept. */
static void
restore_plan_is_the_difference(void **state)
{
    static vm_rec_t vm; /* large: not on the stack */
    checkpoint_restore_plan_t plan;
    const vm_disk_t os = {-1, VM_DISK_OS, 30, VM_CACHING_READ_WRITE},
                    d0 = {0, VM_DISK_DATA, 8, VM_CACHING_NONE}, d1 = {1, VM_DISK_DATA, 5, VM_CACHING_NONE},
                    d2 = {2, VM_DISK_DATA, 7, VM_CACHING_NONE};

    (void) state;
    memset(&vm, 0, sizeof(vm));
    vm.checkpoint.present = true;
    /* A checkpoint made before the VM was kept: nothing but the power state. */
    checkpoint__restore_plan(&vm, &plan);
    assert_int_equal(plan.d_cores + plan.d_memory_mb + plan.d_storage_gb + (int64_t) plan.nluns, 0);
    snprintf(vm.size, sizeof(vm.size), "M");
    vm.cores = 4;
    vm.memory_mb = 4096;
    vm.disks[0] = os;
    vm.disks[1] = d0;
    vm.disks[2] = d1;
    vm.ndisks = 3;
    checkpoint__capture(&vm);
    /* Since: resized to S, lun 1 detached, lun 2 attached. */
    snprintf(vm.size, sizeof(vm.size), "S");
    vm.cores = 2;
    vm.memory_mb = 2048;
    vm.disks[2] = d2;
    checkpoint__restore_plan(&vm, &plan);
    assert_int_equal(plan.d_cores, 2);
    assert_int_equal(plan.d_memory_mb, 2048);
    assert_int_equal(plan.d_storage_gb, -7);
    assert_int_equal(plan.nluns, 2);
    assert_int_equal(plan.luns[0], 2); /* attached since */
    assert_int_equal(plan.luns[1], 1); /* detached since: the host's revert may bring it back */
    checkpoint__restore_apply(&vm);
    assert_string_equal(vm.size, "M");
    assert_int_equal(vm.cores, 4);
    assert_int_equal(vm.memory_mb, 4096);
    assert_int_equal(vm.ndisks, 2);
    assert_int_equal(vm.disks[0].lun, -1);
    assert_int_equal(vm.disks[1].lun, 0);
    /* Restored: the same size, and only the lun detached since to let go of again (the same answer
     * when the step runs again after a crash). */
    checkpoint__restore_plan(&vm, &plan);
    assert_int_equal(plan.d_cores + plan.d_memory_mb + plan.d_storage_gb, 0);
    assert_int_equal(plan.nluns, 1);
    assert_int_equal(plan.luns[0], 1);
}

/* The subscription's usage of quota key. */
static int64_t
usage_of(world_t *w, const char *key)
{
    err_t err = {0};
    json_t *u = quota_usage(w->f->st, id_of(w->sub), &err);
    int64_t n;

    assert_non_null(u);
    n = json_integer_value(json_object_get(u, key));
    json_decref(u);
    return n;
}

/* The host's allocation is what its VMs hold, and the quota usage what the subscription's resources
 * count. */
static void
books_balance(world_t *w)
{
    store_t *st = w->f->st;
    int64_t want[3];
    err_t err = {0};
    json_t *host, *alloc, *fixed;

    assert_int_equal(store_host_recompute(st, id_of(w->host), want, &err), 0);
    host = store_rec_get(st, &store_kind_host, id_of(w->host), NULL, &err);
    assert_non_null(host);
    alloc = json_object_get(host, "allocated");
    assert_int_equal(json_integer_value(json_object_get(alloc, "cores")), want[0]);
    assert_int_equal(json_integer_value(json_object_get(alloc, "memoryMB")), want[1]);
    assert_int_equal(json_integer_value(json_object_get(alloc, "storageGB")), want[2]);
    json_decref(host);
    fixed = quota_reconcile(st, id_of(w->sub), &err);
    assert_non_null(fixed);
    assert_int_equal(json_object_size(json_object_get(fixed, "corrected")), 0);
    json_decref(fixed);
}

/* Checkpoint at S, running; stop, resize to L, attach a disk; restore: S, running, the disk gone from the
 * record and the host, the books balanced. */
static void
restore_gives_back_size_and_disks(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    vm_disk_req_t disk = {8, VM_CACHING_READ_WRITE, -1, NULL};
    char id[UTIL_UUID_LEN + 1];
    agent_vm_list_t inv = {0};
    agent_call_t call = {"test:inventory", 0, NULL};
    agent_err_t aerr = {0};
    err_t err = {0};
    int64_t storage;
    static vm_rec_t rec; /* large: not on the stack */
    json_t *vm, *kept, *again;
    agent_t *a;
    size_t i;

    world_running_vm(w, "r", id);
    world_wait_status(st, put(w, id, "one", &err), "succeeded");
    storage = usage_of(w, "storageGB");
    world_wait_status(st, vm_action(st, world_ctx(w), id, "stop", &err), "succeeded");
    world_wait_status(st, vm_resize(st, world_ctx(w), id, "L", 0, &err), "succeeded");
    world_wait_status(st, vm_disk_attach(st, world_ctx(w), id, &disk, &err), "succeeded");
    assert_int_equal(usage_of(w, "cores"), 4);
    world_wait_status(st, checkpoint_restore(st, world_ctx(w), id, &err), "succeeded");
    vm = vm_get(st, NULL, id, true, NULL, &err);
    assert_non_null(vm);
    assert_string_equal(json_string_value(json_object_get(vm, "size")), "S");
    assert_string_equal(json_string_value(json_object_get(vm, "powerState")), "running");
    assert_int_equal(json_integer_value(json_object_get(vm, "cores")), 2);
    assert_int_equal(json_integer_value(json_object_get(vm, "memoryMB")), 2048);
    assert_int_equal(json_array_size(json_object_get(vm, "disks")), 1);
    assert_null(json_object_get(json_object_get(vm, "checkpoint"), "_vm")); /* never shown */
    json_decref(vm);
    /* The store keeps it, and reads it back as it wrote it. */
    vm = store_rec_get(st, &store_kind_vm, id, NULL, &err);
    assert_non_null(vm);
    kept = json_object_get(json_object_get(vm, "checkpoint"), "_vm");
    assert_string_equal(json_string_value(json_object_get(kept, "size")), "S");
    assert_int_equal(json_integer_value(json_object_get(kept, "cores")), 2);
    assert_int_equal(json_array_size(json_object_get(kept, "disks")), 1);
    assert_int_equal(vmrec_from_store(vm, &rec, &err), 0);
    again = vmrec_to_store(&rec);
    assert_true(json_equal(json_object_get(again, "checkpoint"), json_object_get(vm, "checkpoint")));
    json_decref(again);
    json_decref(vm);
    assert_int_equal(usage_of(w, "cores"), 2);
    assert_int_equal(usage_of(w, "memoryMB"), 2048);
    assert_int_equal(usage_of(w, "storageGB"), storage);
    books_balance(w);
    /* The host agrees: the checkpoint's size, no data disk. */
    a = hostreg_agent(st, id_of(w->host), &err);
    assert_non_null(a);
    assert_int_equal(agent_inventory(a, &call, &inv, &aerr), 0);
    for (i = 0; i < inv.n && strcmp(inv.vms[i].vm_id, id) != 0; i++)
        ;
    assert_true(i < inv.n);
    assert_int_equal(inv.vms[i].cores, 2);
    assert_int_equal(inv.vms[i].memory_mb, 2048);
    assert_int_equal(inv.vms[i].ndisks, 1);
    agent_vm_list_free(&inv);
}

/* Checkpoint at L, resized to S: a restore that the cores quota cannot take is refused, and nothing
 * changes. */
static void
restore_beyond_quota_is_refused(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1];
    vm_ctx_t ctx;
    err_t err = {0};
    json_t *plan, *job;

    world_running_vm(w, "q", id);
    world_wait_status(st, vm_action(st, world_ctx(w), id, "stop", &err), "succeeded");
    world_wait_status(st, vm_resize(st, world_ctx(w), id, "L", 0, &err), "succeeded");
    world_wait_status(st, put(w, id, "big", &err), "succeeded");
    world_wait_status(st, vm_resize(st, world_ctx(w), id, "S", 0, &err), "succeeded");
    ctx = *world_ctx(w);
    plan = json_deep_copy(ctx.plan);
    json_object_set_new(json_object_get(plan, "quotas"), "cores", json_integer(3));
    ctx.plan = plan;
    assert_null(checkpoint_restore(st, &ctx, id, &err));
    assert_int_equal(err.code, ERR_QUOTA_EXCEEDED);
    assert_string_equal(err.target, "cores");
    err_clear(&err);
    json_decref(plan);
    world_vm_is(st, id, "size", "S");
    world_vm_is(st, id, "provisioningState", "succeeded");
    assert_int_equal(usage_of(w, "cores"), 2);
    books_balance(w);
    /* Within the quota, it goes through. */
    job = checkpoint_restore(st, world_ctx(w), id, &err);
    world_wait_status(st, job, "succeeded");
    world_vm_is(st, id, "size", "L");
    world_vm_is(st, id, "powerState", "stopped");
    assert_int_equal(usage_of(w, "cores"), 4);
    books_balance(w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(slot_create_replace_restore_delete, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(mode_decides_and_prune_checks_its_input, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(slot_etag_guards_put_and_delete, world_setup,
                                        world_teardown),
        cmocka_unit_test(restore_plan_is_the_difference),
        cmocka_unit_test_setup_teardown(restore_gives_back_size_and_disks, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(restore_beyond_quota_is_refused, world_setup,
                                        world_teardown),
    };

    return cmocka_run_group_tests_name("checkpoint", tests, NULL, NULL);
}
