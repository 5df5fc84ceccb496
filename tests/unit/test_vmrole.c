/* Unit tests of lib/vmrole: a role made from a gallery item, its instances as VMs, scale out and in within
 * the item's bounds, delete, the refusals of a create, and stand-alone VMs joining a role, listed by
 * instance number; the ownership rule (no VM on a host without a record owning it) whichever agent call of
 * a create, scale-out, scale-in or delete fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_vm_world.h"

#include "../../lib/fault.h"
#include "../../lib/vm/vmrec.h"

static size_t
instances_of(world_t *w, const char *role_id)
{
    err_t err = {0};
    json_t *view = vmrole_get(w->f->st, id_of(w->sub), role_id, &err);
    size_t n;

    assert_non_null(view);
    n = json_array_size(json_object_get(view, "instances"));
    json_decref(view);
    return n;
}

static void
create_scale_delete(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    vmrole_create_req_t req = {"web", id_of(w->item), NULL, 2, NULL};
    vmrole_scale_req_t scale = {4};
    json_t *role, *got, *job = NULL, *usage;
    err_t err = {0};
    int64_t rev = 0;
    char id[UTIL_UUID_LEN + 1], *text[2];

    /* Inside the caller's transaction, so that the job cannot start before the answer is compared. */
    assert_int_equal(store_tx_begin(st, &err), 0);
    role = vmrole_create(st, world_ctx(w), &req, &job, &err);
    assert_non_null(role);
    snprintf(id, sizeof(id), "%s", id_of(role));
    /* The answer is what a GET shows (size from the item, no instances yet): no need to read it again. */
    got = vmrole_get(st, id_of(w->sub), id, &err);
    assert_non_null(got);
    text[0] = json_dumps(got, 0);
    text[1] = json_dumps(role, 0);
    assert_string_equal(text[0], text[1]);
    assert_string_equal(json_string_value(json_object_get(role, "size")), "S");
    free(text[0]);
    free(text[1]);
    json_decref(got);
    json_decref(role);
    assert_int_equal(store_tx_commit(st, &err), 0);
    world_wait_status(st, job, "succeeded");
    assert_int_equal(instances_of(w, id), 2);
    /* Out of the item's bounds (1 to 3): 400 on instanceCount. */
    assert_null(vmrole_scale(st, world_ctx(w), id, &scale, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "instanceCount");
    err_clear(&err);
    scale.instance_count = 1;
    world_wait_status(st, vmrole_scale(st, world_ctx(w), id, &scale, &err), "succeeded");
    assert_int_equal(instances_of(w, id), 1);
    /* A stale expected revision deletes nothing; the current one deletes the role. */
    got = vmrole_get_rev(st, id_of(w->sub), id, &rev, &err);
    assert_non_null(got);
    json_decref(got);
    assert_true(rev > 0);
    assert_null(vmrole_delete_if(st, world_ctx(w), id, rev + 1, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    assert_int_equal(instances_of(w, id), 1);
    world_wait_status(st, vmrole_delete_if(st, world_ctx(w), id, rev, &err), "succeeded");
    assert_null(vmrole_get(st, id_of(w->sub), id, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    usage = quota_usage(st, id_of(w->sub), &err);
    assert_int_equal(json_integer_value(json_object_get(usage, "vms")), 0);
    assert_int_equal(json_integer_value(json_object_get(usage, "vmRoles")), 0);
    json_decref(usage);
}

static void
create_refusals(void **state)
{
    world_t *w = *state;
    vmrole_create_req_t req = {"r", id_of(w->image), NULL, 1, NULL};
    json_t *job = NULL;
    err_t err = {0};

    assert_null(vmrole_create(w->f->st, world_ctx(w), &req, &job, &err));
    assert_string_equal(err.target, "galleryItemId");
    err_clear(&err);
    req.gallery_item_id = id_of(w->item);
    req.size = "XL";
    assert_null(vmrole_create(w->f->st, world_ctx(w), &req, &job, &err));
    assert_string_equal(err.target, "size");
    err_clear(&err);
    req.size = NULL;
    req.instance_count = 0;
    assert_null(vmrole_create(w->f->st, world_ctx(w), &req, &job, &err));
    assert_string_equal(err.target, "instanceCount");
    err_clear(&err);
    req.instance_count = 1;
    req.network_id = id_of(w->cloud);
    assert_null(vmrole_create(w->f->st, world_ctx(w), &req, &job, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "networkId");
    assert_null(job);
}

/* Stand-alone VMs join a role as instances (a second join of one is a 409); the role lists its instances
 * by instance number, not by name or by age, and a scale-in removes the highest-numbered one. */
static void
join_then_order_by_number(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    vmrole_create_req_t req = {"web", id_of(w->item), NULL, 1, NULL};
    vmrole_scale_req_t scale = {2};
    vmrole_join_req_t join = {0};
    char id[UTIL_UUID_LEN + 1], ten[UTIL_UUID_LEN + 1], two[UTIL_UUID_LEN + 1];
    json_t *role, *job = NULL, *view, *list;
    err_t err = {0};

    role = vmrole_create(st, world_ctx(w), &req, &job, &err);
    assert_non_null(role);
    snprintf(id, sizeof(id), "%s", id_of(role));
    json_decref(role);
    world_wait_status(st, job, "succeeded");
    /* Made in this order, so that neither age nor name sorts them by number. */
    world_running_vm(w, "web-10", ten);
    world_running_vm(w, "web-2", two);
    join.vm_id = ten;
    view = vmrole_join(st, id, &join, &err);
    assert_non_null(view);
    json_decref(view);
    join.vm_id = two;
    view = vmrole_join(st, id, &join, &err);
    assert_non_null(view);
    list = json_object_get(view, "instances");
    assert_int_equal(json_array_size(list), 3);
    assert_int_equal(json_integer_value(json_object_get(view, "instanceCount")), 3);
    assert_string_equal(json_string_value(json_array_get(list, 1)), two);
    assert_string_equal(json_string_value(json_array_get(list, 2)), ten);
    json_decref(view);
    world_vm_is(st, two, "vmRoleId", id);
    assert_null(vmrole_join(st, id, &join, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "vmId");
    err_clear(&err);
    /* Scale-in: web-10 goes, web-2 stays. */
    world_wait_status(st, vmrole_scale(st, world_ctx(w), id, &scale, &err), "succeeded");
    assert_null(vm_get(st, NULL, ten, true, NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    world_vm_is(st, two, "vmRoleId", id);
}


/* ---- the ownership rule ---- */

/* How many VMs the world's host has. */
static size_t
sim_vm_count(world_t *w)
{
    agent_call_t c = {"inventory", 0, NULL};
    agent_vm_list_t list = {0};
    agent_err_t aerr = {0};
    err_t err = {0};
    agent_t *a = hostreg_agent(w->f->st, id_of(w->host), &err);
    size_t n;

    assert_non_null(a);
    assert_int_equal(agent_inventory(a, &c, &list, &aerr), 0);
    n = list.n;
    agent_vm_list_free(&list);
    return n;
}

/* The host of the world, audited: every VM it has is named by a VM record (its hypervisor id), and its
 * allocated is the sum of what the records hold. Answers how many VMs the host has. */
static size_t
audit_host(world_t *w)
{
    store_t *st = w->f->st;
    agent_call_t c = {"inventory", 0, NULL};
    agent_vm_list_t list = {0};
    agent_err_t aerr = {0};
    err_t err = {0};
    agent_t *a = hostreg_agent(st, id_of(w->host), &err);
    json_t *all, *rec, *view, *host, *alloc;
    int64_t sum[3] = {0, 0, 0};
    const char *keys[3] = {"cores", "memoryMB", "storageGB"};
    size_t i, j, n;
    bool owned;

    assert_non_null(a);
    assert_int_equal(agent_inventory(a, &c, &list, &aerr), 0);
    all = store_rec_list_all(st, &store_kind_vm, NULL, 0, &err);
    assert_non_null(all);
    for (i = 0; i < list.n; i++) {
        owned = false;
        json_array_foreach(all, j, rec) {
            view = vm_get(st, NULL, id_of(rec), true, NULL, &err);
            assert_non_null(view);
            if (json_string_value(json_object_get(view, "hypervisorId")) != NULL &&
                strcmp(json_string_value(json_object_get(view, "hypervisorId")),
                       list.vms[i].hypervisor_id) == 0)
                owned = true;
            json_decref(view);
        }
        if (!owned)
            fail_msg("VM %s (%s) is on the host without a record", list.vms[i].hypervisor_id,
                     list.vms[i].vm_id);
    }
    json_array_foreach(all, j, rec) {
        view = vm_get(st, NULL, id_of(rec), true, NULL, &err);
        assert_non_null(view);
        for (i = 0; i < 3; i++)
            sum[i] += json_integer_value(json_object_get(json_object_get(view, "allocated"), keys[i]));
        json_decref(view);
    }
    host = store_rec_get(st, &store_kind_host, id_of(w->host), NULL, &err);
    assert_non_null(host);
    alloc = json_object_get(host, "allocated");
    for (i = 0; i < 3; i++)
        assert_int_equal(json_integer_value(json_object_get(alloc, keys[i])), sum[i]);
    json_decref(host);
    json_decref(all);
    n = list.n;
    agent_vm_list_free(&list);
    return n;
}

/* A role of count instances, made without faults: its id into id. */
static void
made_role(world_t *w, int64_t count, char *id)
{
    vmrole_create_req_t req = {"web", id_of(w->item), NULL, count, NULL};
    json_t *role, *job = NULL;
    err_t err = {0};

    role = vmrole_create(w->f->st, world_ctx(w), &req, &job, &err);
    assert_non_null(role);
    snprintf(id, UTIL_UUID_LEN + 1, "%s", id_of(role));
    json_decref(role);
    world_wait_status(w->f->st, job, "succeeded");
}

/* Deletes the role, without faults (one the faults left failed included). */
static void
deleted_role(world_t *w, const char *id)
{
    err_t err = {0};

    world_wait_status(w->f->st, vmrole_delete(w->f->st, world_ctx(w), id, &err), "succeeded");
}

typedef enum { OP_CREATE, OP_SCALE_OUT, OP_SCALE_IN, OP_DELETE } role_op_t;

/* One run of op with the nth agent call of its job's steps failing (permanent or transient): the job ends
 * succeeded or failed, and either way the host has no VM without a record and allocated equals the
 * records; a delete of the role afterwards leaves the host empty. Answers whether the fault fired. */
static bool
faulted_run(world_t *w, role_op_t op, long n, bool permanent)
{
    store_t *st = w->f->st;
    vmrole_create_req_t req = {"web", id_of(w->item), NULL, 2, NULL};
    vmrole_scale_req_t scale = {op == OP_SCALE_OUT ? 3 : 1};
    char id[UTIL_UUID_LEN + 1];
    json_t *job = NULL, *done, *role;
    err_t err = {0};
    const char *status;
    bool fired;

    if (op != OP_CREATE)
        made_role(w, op == OP_SCALE_IN ? 3 : 1, id);
    fault_arm_flags(FAULT_AGENT, n, FAULT_IN_STEPS | (permanent ? FAULT_PERMANENT : 0));
    if (op == OP_CREATE) {
        role = vmrole_create(st, world_ctx(w), &req, &job, &err);
        assert_non_null(role);
        snprintf(id, sizeof(id), "%s", id_of(role));
        json_decref(role);
    } else if (op == OP_DELETE) {
        job = vmrole_delete(st, world_ctx(w), id, &err);
    } else {
        job = vmrole_scale(st, world_ctx(w), id, &scale, &err);
    }
    assert_non_null(job);
    done = world_wait(st, job);
    fired = fault_fired(FAULT_AGENT);
    fault_arm(FAULT_AGENT, 0);
    status = json_string_value(json_object_get(done, "status"));
    if (strcmp(status, "succeeded") != 0 && strcmp(status, "failed") != 0)
        fail_msg("op %d, call %ld: the job ended %s", (int) op, n, status);
    /* A transient fault is retried: the job succeeds. */
    if (!permanent)
        assert_string_equal(status, "succeeded");
    audit_host(w);
    json_decref(done);
    json_decref(job);
    /* Whatever is left, failed instances included, goes with the role. */
    err_clear(&err);
    role = vmrole_get(st, id_of(w->sub), id, &err);
    if (role != NULL) {
        json_decref(role);
        deleted_role(w, id);
    }
    assert_int_equal(audit_host(w), 0);
    return fired;
}

static void
fault_loop(world_t *w, role_op_t op, bool permanent)
{
    long n;

    for (n = 1; n < 64; n++)
        if (!faulted_run(w, op, n, permanent))
            return;
    fail_msg("op %d: the fault loop did not end", (int) op);
}

static void
no_vm_left_without_a_record_create(void **state)
{
    fault_loop(*state, OP_CREATE, true);
    fault_loop(*state, OP_CREATE, false);
}

static void
no_vm_left_without_a_record_scale_out(void **state)
{
    fault_loop(*state, OP_SCALE_OUT, true);
    fault_loop(*state, OP_SCALE_OUT, false);
}

static void
no_vm_left_without_a_record_scale_in(void **state)
{
    fault_loop(*state, OP_SCALE_IN, true);
    fault_loop(*state, OP_SCALE_IN, false);
}

static void
no_vm_left_without_a_record_delete(void **state)
{
    fault_loop(*state, OP_DELETE, true);
    fault_loop(*state, OP_DELETE, false);
}

/* A create whose start fails: the instance's VM is taken off the host before the job ends failed, and the
 * failed instance holds nothing and names no VM. */
static void
failed_start_leaves_nothing_on_the_host(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    vmrole_create_req_t req = {"web", id_of(w->item), NULL, 1, NULL};
    json_t *role, *job = NULL, *done, *vm, *view;
    err_t err = {0};

    /* The step's calls: the create (1), the start (2). */
    fault_arm_flags(FAULT_AGENT, 2, FAULT_IN_STEPS | FAULT_PERMANENT);
    role = vmrole_create(st, world_ctx(w), &req, &job, &err);
    assert_non_null(role);
    done = world_wait(st, job);
    assert_true(fault_fired(FAULT_AGENT));
    fault_arm(FAULT_AGENT, 0);
    assert_string_equal(json_string_value(json_object_get(done, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(json_object_get(done, "error"), "code")),
                        "HostOperationFailed");
    view = vmrole_get(st, id_of(w->sub), id_of(role), &err);
    assert_non_null(view);
    assert_string_equal(json_string_value(json_object_get(view, "provisioningState")), "failed");
    assert_int_equal(json_array_size(json_object_get(view, "instances")), 1);
    vm = vm_get(st, NULL, json_string_value(json_array_get(json_object_get(view, "instances"), 0)), true,
                NULL, &err);
    assert_non_null(vm);
    assert_string_equal(json_string_value(json_object_get(vm, "provisioningState")), "failed");
    assert_true(json_is_null(json_object_get(vm, "hypervisorId")));
    assert_int_equal(audit_host(w), 0);
    json_decref(vm);
    json_decref(view);
    json_decref(done);
    json_decref(job);
    json_decref(role);
}

/* A create canceled while its instance's start waits to be tried again: the VM the create made is taken
 * off the host by the job's cleanup, and the instance shows failed, naming no VM. */
static void
canceled_create_leaves_nothing_on_the_host(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    vmrole_create_req_t req = {"web", id_of(w->item), NULL, 1, NULL};
    json_t *role, *job = NULL, *done, *view, *vm, *c;
    int64_t deadline;
    err_t err = {0};

    /* The start (the step's second call) fails transiently: the step waits for its retry. */
    fault_arm_flags(FAULT_AGENT, 2, FAULT_IN_STEPS);
    role = vmrole_create(st, world_ctx(w), &req, &job, &err);
    assert_non_null(role);
    deadline = util_now_ms() + 30000;
    while (!fault_fired(FAULT_AGENT)) {
        assert_true(util_now_ms() < deadline);
        usleep(1000);
    }
    c = job_cancel(st, id_of(job), NULL, &err);
    assert_non_null(c);
    json_decref(c);
    done = world_wait(st, job);
    fault_arm(FAULT_AGENT, 0);
    assert_string_equal(json_string_value(json_object_get(done, "status")), "canceled");
    view = vmrole_get(st, id_of(w->sub), id_of(role), &err);
    assert_non_null(view);
    assert_string_equal(json_string_value(json_object_get(view, "provisioningState")), "failed");
    vm = vm_get(st, NULL, json_string_value(json_array_get(json_object_get(view, "instances"), 0)), true,
                NULL, &err);
    assert_non_null(vm);
    assert_string_equal(json_string_value(json_object_get(vm, "provisioningState")), "failed");
    assert_true(json_is_null(json_object_get(vm, "hypervisorId")));
    assert_int_equal(audit_host(w), 0);
    json_decref(vm);
    json_decref(view);
    json_decref(done);
    json_decref(job);
    json_decref(role);
}

/* A failed instance recorded with no hypervisor id while its VM is still on the host (as releases before
 * this one left them): the role's delete finds the VM by the wapd id the host keeps and removes it. */
static void
delete_removes_a_failed_instance_the_record_does_not_name(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1];
    json_t *view;
    err_t err = {0};
    vm_rec_t vm;

    made_role(w, 2, id);
    view = vmrole_get(st, id_of(w->sub), id, &err);
    assert_non_null(view);
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(
        vmrec_load(st, NULL, json_string_value(json_array_get(json_object_get(view, "instances"), 1)),
                   &vm, NULL, &err),
        1);
    assert_int_equal(vmrec_fail_create(st, &vm, &err), 0);
    vm.hypervisor_id[0] = '\0';
    assert_int_equal(vmrec_save(st, &vm, &err), 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    json_decref(view);
    assert_int_equal(sim_vm_count(w), 2);
    /* Scale-in to 1 removes it (the highest number goes first). */
    {
        vmrole_scale_req_t scale = {1};
        world_wait_status(st, vmrole_scale(st, world_ctx(w), id, &scale, &err), "succeeded");
    }
    assert_int_equal(sim_vm_count(w), 1);
    assert_int_equal(audit_host(w), 1);
    deleted_role(w, id);
    assert_int_equal(audit_host(w), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_scale_delete, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(create_refusals, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(join_then_order_by_number, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(failed_start_leaves_nothing_on_the_host, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(canceled_create_leaves_nothing_on_the_host, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(delete_removes_a_failed_instance_the_record_does_not_name,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(no_vm_left_without_a_record_create, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(no_vm_left_without_a_record_scale_out, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(no_vm_left_without_a_record_scale_in, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(no_vm_left_without_a_record_delete, world_setup,
                                        world_teardown),
    };

    return cmocka_run_group_tests_name("vmrole", tests, NULL, NULL);
}
