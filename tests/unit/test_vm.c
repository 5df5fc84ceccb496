/* Unit tests of the VM requests and their jobs against the simulated agent: a create reads neither the
 * subscription nor the plan (the caller's context holds them) and answers what a GET shows; its refusals;
 * power actions, resize, data disks and delete, each through its job; networks and their addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_vm_world.h"

#include "../../lib/vm/vmrec.h"

/* One request as the pipeline runs it: the job, or NULL with err, its transaction committed or rolled
 * back. */
static json_t *
commit_or_roll_back(store_t *st, json_t *job, err_t *err)
{
    if (job != NULL && store_tx_commit(st, err) == 0)
        return job;
    store_tx_rollback(st);
    json_decref(job);
    return NULL;
}

static json_t *
action(world_t *w, const char *id, const char *name, err_t *err)
{
    assert_int_equal(store_tx_begin(w->f->st, err), 0);
    return commit_or_roll_back(w->f->st, vm_action(w->f->st, world_ctx(w), id, name, err), err);
}

static void
create_reads_the_context_once(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    const vm_ctx_t *ctx = world_ctx(w);
    vm_create_req_t req = {0};
    err_t err = {0};
    uint64_t subs, plans;
    json_t *vm, *job = NULL, *stored;
    const char *key;
    json_t *v;

    req.name = "web-1";
    req.image_id = id_of(w->image);
    req.size = "S";
    req.ndisks = 2;
    req.disks[0] = (vm_disk_req_t){10, VM_CACHING_READ_ONLY, -1, NULL};
    req.disks[1] = (vm_disk_req_t){20, VM_CACHING_NONE, 5, NULL};
    subs = store__reads(st, &store_kind_subscription);
    plans = store__reads(st, &store_kind_plan);
    assert_int_equal(store_tx_begin(st, &err), 0);
    vm = vm_create(st, ctx, &req, &job, &err);
    assert_non_null(vm);
    /* The context was passed down: lib read neither again. */
    assert_int_equal(store__reads(st, &store_kind_subscription) - subs, 0);
    assert_int_equal(store__reads(st, &store_kind_plan) - plans, 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    /* The answer is the view a GET shows, with no private field. */
    stored = vm_get(st, ctx->sid, id_of(vm), false, NULL, &err);
    assert_true(json_equal(vm, stored));
    json_object_foreach(vm, key, v)
        assert_true(key[0] != '_');
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(vm, "disks"), 1), "lun")),
                     0);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(vm, "disks"), 1), "caching")),
                        "ReadOnly");
    world_wait_status(st, job, "succeeded");
    world_vm_is(st, id_of(vm), "powerState", "running");
    world_vm_is(st, id_of(vm), "provisioningState", "succeeded");
    json_decref(stored);
    json_decref(vm);
}

static void
refused(world_t *w, const vm_create_req_t *req, err_code_t code, const char *target)
{
    err_t err = {0};
    json_t *job = NULL, *vm;

    assert_int_equal(store_tx_begin(w->f->st, &err), 0);
    vm = vm_create(w->f->st, &w->ctx, req, &job, &err);
    store_tx_rollback(w->f->st);
    assert_null(vm);
    assert_null(job);
    assert_int_equal(err.code, code);
    assert_string_equal(err.target, target);
}

static void
create_refusals(void **state)
{
    world_t *w = *state;
    vm_create_req_t req = {0};
    json_t *suspended, *usage;
    err_t err = {0};
    char id[UTIL_UUID_LEN + 1];
    const vm_ctx_t *ctx = world_ctx(w);

    req.name = "x";
    req.image_id = id_of(w->cloud); /* no image has this id */
    req.size = "S";
    refused(w, &req, ERR_INVALID_REQUEST, "imageId");
    req.image_id = id_of(w->image);
    req.size = "XL";
    refused(w, &req, ERR_INVALID_REQUEST, "size");
    req.size = "S";
    req.ndisks = 2;
    req.disks[0] = (vm_disk_req_t){10, VM_CACHING_NONE, 1, NULL};
    req.disks[1] = (vm_disk_req_t){10, VM_CACHING_NONE, -1, NULL}; /* index 1: taken */
    refused(w, &req, ERR_INVALID_REQUEST, "dataDisks[1].lun");
    req.ndisks = 0;
    req.network_id = id_of(w->cloud);
    refused(w, &req, ERR_INVALID_REQUEST, "networkId");
    req.network_id = NULL;
    /* A suspended subscription takes no changes. */
    suspended = json_deep_copy(ctx->sub);
    json_object_set_new(suspended, "state", json_string("suspended"));
    w->ctx.sub = suspended;
    refused(w, &req, ERR_SUBSCRIPTION_SUSPENDED, "");
    w->ctx.sub = w->ctx_sub;
    json_decref(suspended);
    /* The plan allows three VMs: the fourth is refused, and nothing of it is left. */
    world_running_vm(w, "a", id);
    world_running_vm(w, "b", id);
    world_running_vm(w, "c", id);
    world_ctx(w);
    refused(w, &req, ERR_QUOTA_EXCEEDED, "vms");
    usage = quota_usage(w->f->st, ctx->sid, &err);
    assert_int_equal(json_integer_value(json_object_get(usage, "vms")), 3);
    json_decref(usage);
}

static void
power_resize_disks_delete(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    vm_disk_req_t disk = {8, VM_CACHING_READ_WRITE, -1, NULL};
    char id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    json_t *usage;

    world_running_vm(w, "p", id);
    /* Refusals first: an unknown action, a resize while running, a stop of a stopped VM. */
    assert_null(action(w, id, "jump", &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_null(commit_or_roll_back(st, vm_resize(st, world_ctx(w), id, "L", 0, &err), &err));
    assert_int_equal(err.code, ERR_INVALID_POWER_STATE);
    err_clear(&err);
    world_wait_status(st, action(w, id, "stop", &err), "succeeded");
    world_vm_is(st, id, "powerState", "stopped");
    assert_null(action(w, id, "stop", &err));
    assert_int_equal(err.code, ERR_INVALID_POWER_STATE);
    err_clear(&err);
    /* Resize, then a data disk attached at the lowest free lun and detached. */
    assert_int_equal(store_tx_begin(st, &err), 0);
    world_wait_status(st, commit_or_roll_back(st, vm_resize(st, world_ctx(w), id, "L", 0, &err), &err),
                      "succeeded");
    world_vm_is(st, id, "size", "L");
    assert_int_equal(store_tx_begin(st, &err), 0);
    world_wait_status(
        st, commit_or_roll_back(st, vm_disk_attach(st, world_ctx(w), id, &disk, &err), &err),
        "succeeded");
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_null(commit_or_roll_back(st, vm_disk_detach(st, world_ctx(w), id, 9, &err), &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    /* A stale expected revision of the VM detaches nothing. */
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_null(commit_or_roll_back(st, vm_disk_detach_if(st, world_ctx(w), id, 0, 999999, &err),
                                    &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    assert_int_equal(store_tx_begin(st, &err), 0);
    world_wait_status(st, commit_or_roll_back(st, vm_disk_detach(st, world_ctx(w), id, 0, &err), &err),
                      "succeeded");
    /* Start again, deallocate, delete: the quota usage returns to nothing. */
    world_wait_status(st, action(w, id, "start", &err), "succeeded");
    world_vm_is(st, id, "powerState", "running");
    world_wait_status(st, action(w, id, "deallocate", &err), "succeeded");
    world_vm_is(st, id, "powerState", "deallocated");
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_null(commit_or_roll_back(st, vm_delete(st, world_ctx(w), id, 1, &err), &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    assert_int_equal(store_tx_begin(st, &err), 0);
    world_wait_status(st, commit_or_roll_back(st, vm_delete(st, world_ctx(w), id, 0, &err), &err),
                      "succeeded");
    assert_null(vm_get(st, NULL, id, false, NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    usage = quota_usage(st, id_of(w->sub), &err);
    assert_int_equal(json_integer_value(json_object_get(usage, "vms")), 0);
    assert_int_equal(json_integer_value(json_object_get(usage, "storageGB")), 0);
    json_decref(usage);
}

static void
networks_give_addresses(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    network_create_req_t nreq = {"n", "10.1.0.0/29"};
    json_t *net, *vm, *got, *job = NULL;
    vm_create_req_t req = {0};
    int64_t rev = 0;
    char *text[2];
    err_t err = {0};

    /* A prefix with host bits set is refused on addressPrefix, and takes no quota. */
    nreq.address_prefix = "10.1.0.1/29";
    assert_null(network_create(st, world_ctx(w), &nreq, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "addressPrefix");
    err_clear(&err);
    nreq.address_prefix = "10.1.0.0/29";
    net = network_create(st, world_ctx(w), &nreq, &err);
    assert_non_null(net);
    /* The answer is what a GET shows, at revision 1: the handler need not read it again. */
    got = store_rec_get(st, &store_kind_network, id_of(net), &rev, &err);
    assert_non_null(got);
    assert_int_equal(rev, 1);
    text[0] = json_dumps(got, 0);
    text[1] = json_dumps(net, 0);
    assert_string_equal(text[0], text[1]); /* the same fields, in the same order */
    free(text[0]);
    free(text[1]);
    json_decref(got);
    req.name = "n1";
    req.image_id = id_of(w->image);
    req.size = "S";
    req.network_id = id_of(net);
    assert_int_equal(store_tx_begin(st, &err), 0);
    vm = vm_create(st, world_ctx(w), &req, &job, &err);
    assert_non_null(vm);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(vm, "nics"), 0), "ipAddress")),
                        "10.1.0.4");
    /* In use: the network cannot go. */
    assert_int_equal(network_delete(st, world_ctx(w), id_of(net), 0, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    err_clear(&err);
    /* A stale expected revision is refused before anything else. */
    assert_int_equal(network_delete(st, world_ctx(w), id_of(net), 999999, &err), -1);
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    world_wait_status(st, job, "succeeded");
    json_decref(vm);
    json_decref(net);
}

/* The VMs the world's host has (by inventory). */
static size_t
host_vm_count(world_t *w)
{
    agent_call_t c = {"test-inventory", 0, NULL};
    agent_vm_list_t list;
    agent_err_t aerr;
    err_t err = {0};
    agent_t *a = hostreg_agent(w->f->st, id_of(w->host), &err);
    size_t n;

    assert_non_null(a);
    assert_int_equal(agent_inventory(a, &c, &list, &aerr), 0);
    n = list.n;
    agent_vm_list_free(&list);
    return n;
}

/* A create whose answer was lost leaves a VM on the host that the record does not name: deleting the
 * record finds it by the wapd VM id and removes it, so nothing is left behind. */
static void
delete_finds_a_vm_whose_create_answer_was_lost(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    vm_rec_t vm;

    world_running_vm(w, "lost", id);
    assert_int_equal(host_vm_count(w), 1);
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(vmrec_load(st, NULL, id, &vm, NULL, &err), 1);
    vm.hypervisor_id[0] = '\0'; /* as if the host's answer had never come */
    assert_int_equal(vmrec_save(st, &vm, &err), 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(store_tx_begin(st, &err), 0);
    world_wait_status(st, commit_or_roll_back(st, vm_delete(st, world_ctx(w), id, 0, &err), &err),
                      "succeeded");
    assert_int_equal(host_vm_count(w), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_reads_the_context_once, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(create_refusals, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(power_resize_disks_delete, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(networks_give_addresses, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(delete_finds_a_vm_whose_create_answer_was_lost, world_setup,
                                        world_teardown),
    };

    return cmocka_run_group_tests_name("vm", tests, NULL, NULL);
}
