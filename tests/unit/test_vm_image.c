/* Unit tests of generalize, capture and private images against the simulated agent: generalize only a
 * stopped or deallocated VM, once, after which it cannot start; capture only a generalized VM, to a ready
 * image whose size is held in quota and on the host; a VM made from the image has the captured disks at
 * their luns; a lease blocks the image's delete, which then releases what it held; a capture that fails
 * leaves an unbilled failed image holding nothing; a disk attached from a snapshot and a create's data disk
 * made from one hold a lease on it until their job ends. */
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
#include "../../lib/lease.h"
#include "../../lib/snapshot.h"
#include "../../lib/vm/vmrec.h"

/* A power action: it runs in a transaction of its own. */
static json_t *
action(world_t *w, const char *id, const char *name, err_t *err)
{
    return vm_action(w->f->st, world_ctx(w), id, name, err);
}

static json_t *
generalize(world_t *w, const char *id, err_t *err)
{
    return vm_generalize(w->f->st, world_ctx(w), id, err);
}

/* A capture as the pipeline runs it: the image's view, its job in *job. */
static json_t *
capture(world_t *w, const char *id, json_t **job, err_t *err)
{
    return vm_capture(w->f->st, world_ctx(w), id, "golden", job, err);
}

/* The subscription's storageGB usage and the host's allocated storage, now. */
static void
storage_now(world_t *w, int64_t *quota, int64_t *host)
{
    err_t err = {0};
    json_t *usage = quota_usage(w->f->st, id_of(w->sub), &err);
    json_t *h = store_rec_get(w->f->st, &store_kind_host, id_of(w->host), NULL, &err);

    assert_non_null(usage);
    assert_non_null(h);
    *quota = json_integer_value(json_object_get(usage, "storageGB"));
    *host = json_integer_value(json_object_get(json_object_get(h, "allocated"), "storageGB"));
    json_decref(usage);
    json_decref(h);
}

/* A running VM with a data disk at lun 3, stopped and generalized; its id into id. */
static void
generalized_vm(world_t *w, char *id)
{
    store_t *st = w->f->st;
    vm_disk_req_t disk = {.size_gb = 7, .caching = VM_CACHING_READ_ONLY, .lun = 3};
    err_t err = {0};

    world_running_vm(w, "src", id);
    world_wait_status(st, vm_disk_attach(st, world_ctx(w), id, &disk, &err), "succeeded");
    world_wait_status(st, action(w, id, "stop", &err), "succeeded");
    world_wait_status(st, generalize(w, id, &err), "succeeded");
    world_vm_is(st, id, "osState", "generalized");
}

static void
generalize_rules(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1];
    json_t *before, *after;
    err_t err = {0};

    world_running_vm(w, "g", id);
    world_vm_is(st, id, "osState", "specialized");
    /* Running: 409 InvalidPowerState, nothing changed. */
    before = vm_get(st, NULL, id, true, NULL, &err);
    assert_null(generalize(w, id, &err));
    assert_int_equal(err.code, ERR_INVALID_POWER_STATE);
    err_clear(&err);
    after = vm_get(st, NULL, id, true, NULL, &err);
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
    /* Specialized: no capture. */
    assert_null(capture(w, id, &before, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    err_clear(&err);
    world_wait_status(st, action(w, id, "stop", &err), "succeeded");
    world_wait_status(st, generalize(w, id, &err), "succeeded");
    world_vm_is(st, id, "osState", "generalized");
    world_vm_is(st, id, "provisioningState", "succeeded");
    /* Once only, and a generalized VM does not start. */
    assert_null(generalize(w, id, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    err_clear(&err);
    assert_null(action(w, id, "start", &err));
    assert_int_equal(err.code, ERR_INVALID_POWER_STATE);
    world_vm_is(st, id, "powerState", "stopped");
}

static void
capture_then_create_from_the_image(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1], img[UTIL_UUID_LEN + 1];
    int64_t q0, h0, q1, h1, q2, h2;
    vm_create_req_t req = {0};
    json_t *image, *job = NULL, *got, *vm, *disks;
    err_t err = {0};

    generalized_vm(w, id);
    storage_now(w, &q0, &h0);
    image = capture(w, id, &job, &err);
    if (image == NULL)
        fail_msg("capture failed: %s", err.message);
    snprintf(img, sizeof(img), "%s", id_of(image));
    assert_string_equal(json_string_value(json_object_get(image, "state")), "creating");
    assert_string_equal(json_string_value(json_object_get(image, "visibility")), "private");
    assert_int_equal(json_integer_value(json_object_get(image, "osDiskGB")), 30);
    json_decref(image);
    world_wait_status(st, job, "succeeded");
    got = vm_image_get(st, world_ctx(w), img, NULL, &err);
    assert_non_null(got);
    assert_string_equal(json_string_value(json_object_get(got, "state")), "ready");
    disks = json_object_get(got, "dataDisks");
    assert_int_equal(json_array_size(disks), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(disks, 0), "lun")), 3);
    json_decref(got);
    /* Its size is held: the OS disk and the data disk. */
    storage_now(w, &q1, &h1);
    assert_int_equal(q1 - q0, 37);
    assert_int_equal(h1 - h0, 37);
    /* A VM made from it has the captured disks at their luns; the image is leased while it is made. */
    req.name = "clone";
    req.image_id = img;
    req.size = "S";
    assert_int_equal(store_tx_begin(st, &err), 0);
    vm = vm_create(st, world_ctx(w), &req, &job, &err);
    if (vm == NULL)
        fail_msg("create failed: %s (%s)", err.message, err.target);
    assert_int_equal(store_tx_commit(st, &err), 0);
    disks = json_object_get(vm, "disks");
    assert_int_equal(json_array_size(disks), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(disks, 1), "lun")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(disks, 1), "sizeGB")), 7);
    world_wait_status(st, job, "succeeded");
    world_vm_is(st, id_of(vm), "powerState", "running");
    json_decref(vm);
    /* Nothing holds it any more: it goes, and what it held with it. */
    assert_int_equal(vm_image_delete(st, world_ctx(w), img, 0, &err), 0);
    storage_now(w, &q2, &h2);
    assert_int_equal(q2, q1); /* the image's 37 back; the clone holds its own 37 */
    assert_int_equal(h2, h1);
    assert_null(vm_image_get(st, world_ctx(w), img, NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
}

/* Deletes volume vol from the world's host: what the host answered. */
static agent_status_t
delete_volume(world_t *w, const char *vol)
{
    agent_call_t c = {vol, 0, NULL};
    agent_err_t aerr = {0};
    err_t err = {0};
    agent_t *a = hostreg_agent(w->f->st, id_of(w->host), &err);

    assert_non_null(a);
    agent_volume_delete(a, &c, vol, &aerr);
    return aerr.status;
}

/* The image.delete job of image id, once it has ended (released): it must have succeeded. */
static void
image_delete_job_succeeds(store_t *st, const char *id)
{
    json_t *kind = json_pack("[s]", "image.delete");
    store_filter_t f[2] = {{.field = "resourceId", .op = STORE_FILTER_EQ, .value = id},
                           {.field = "kind", .op = STORE_FILTER_IN, .values = kind}};
    err_t err = {0};
    json_t *jobs = store_rec_list_all(st, &store_kind_job, f, 2, &err);

    assert_non_null(jobs);
    assert_int_equal(json_array_size(jobs), 1);
    world_wait_status(st, json_incref(json_array_get(jobs, 0)), "succeeded");
    json_decref(jobs);
    json_decref(kind);
}

static void
a_lease_blocks_delete(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1], img[UTIL_UUID_LEN + 1], vol[UTIL_UUID_LEN + 16];
    json_t *image, *job = NULL;
    err_t err = {0};

    generalized_vm(w, id);
    image = capture(w, id, &job, &err);
    assert_non_null(image);
    snprintf(img, sizeof(img), "%s", id_of(image));
    json_decref(image);
    world_wait_status(st, job, "succeeded");
    assert_int_equal(lease_take(st, &store_kind_private_image, img, &err), 0);
    assert_int_equal(vm_image_delete(st, world_ctx(w), img, 0, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "lease");
    err_clear(&err);
    image = vm_image_get(st, world_ctx(w), img, NULL, &err);
    assert_non_null(image);
    json_decref(image);
    assert_int_equal(lease_give(st, &store_kind_private_image, img, &err), 0);
    /* Its volumes are on the host: the data disk's goes now, and the image's delete removes the rest (a
     * volume already gone counts as done). */
    snprintf(vol, sizeof(vol), "%s-lun3", img);
    assert_int_equal(delete_volume(w, vol), AGENT_OK);
    assert_int_equal(vm_image_delete(st, world_ctx(w), img, 0, &err), 0);
    image_delete_job_succeeds(st, img);
    snprintf(vol, sizeof(vol), "%s-os", img);
    assert_int_equal(delete_volume(w, vol), AGENT_ERR_NOT_FOUND);
    /* A plan image is not the tenant's to delete; another id is not there. */
    assert_int_equal(vm_image_delete(st, world_ctx(w), id_of(w->image), 0, &err), -1);
    assert_int_equal(err.code, ERR_FORBIDDEN);
    err_clear(&err);
    assert_int_equal(vm_image_delete(st, world_ctx(w), img, 0, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
}

static void
failed_capture_holds_nothing(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1], img[UTIL_UUID_LEN + 1];
    int64_t q0, h0, q1, h1;
    json_t *image, *job = NULL;
    err_t err = {0};

    generalized_vm(w, id);
    storage_now(w, &q0, &h0);
    fault_arm_flags(FAULT_AGENT, 1, FAULT_PERMANENT | FAULT_IN_STEPS);
    image = capture(w, id, &job, &err);
    assert_non_null(image);
    snprintf(img, sizeof(img), "%s", id_of(image));
    json_decref(image);
    world_wait_status(st, job, "failed");
    assert_true(fault_fired(FAULT_AGENT));
    fault_arm(FAULT_AGENT, 0);
    image = vm_image_get(st, world_ctx(w), img, NULL, &err);
    assert_non_null(image);
    assert_string_equal(json_string_value(json_object_get(image, "state")), "failed");
    json_decref(image);
    storage_now(w, &q1, &h1);
    assert_int_equal(q1, q0);
    assert_int_equal(h1, h0);
    /* A failed image is deleted at once, releasing nothing twice. */
    assert_int_equal(vm_image_delete(st, world_ctx(w), img, 0, &err), 0);
    storage_now(w, &q1, &h1);
    assert_int_equal(q1, q0);
    assert_int_equal(h1, h0);
    /* The VM is free again. */
    world_vm_is(st, id, "provisioningState", "succeeded");
}

/* The leases a snapshot's record counts now. */
static int64_t
leases_of(store_t *st, const char *id)
{
    err_t err = {0};
    json_t *rec = NULL;
    int64_t n;

    assert_int_equal(store_rec_lookup(st, &store_kind_snapshot, id, &rec, NULL, &err), 1);
    n = json_integer_value(json_object_get(rec, "_leases"));
    json_decref(rec);
    return n;
}

static void
disks_made_from_a_snapshot(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    vm_disk_req_t disk = {.size_gb = 7, .caching = VM_CACHING_NONE, .lun = 3};
    snapshot_create_req_t take = {.name = "s", .has_lun = true, .lun = 3};
    char id[UTIL_UUID_LEN + 1], other[UTIL_UUID_LEN + 1], snap[UTIL_UUID_LEN + 1];
    vm_create_req_t req = {0};
    json_t *s, *job = NULL, *vm;
    err_t err = {0};

    world_running_vm(w, "a", id);
    world_running_vm(w, "b", other);
    world_wait_status(st, vm_disk_attach(st, world_ctx(w), id, &disk, &err), "succeeded");
    take.vm_id = id;
    s = snapshot_create(st, world_ctx(w), &take, &job, &err);
    if (s == NULL)
        fail_msg("snapshot failed: %s", err.message);
    snprintf(snap, sizeof(snap), "%s", id_of(s));
    json_decref(s);
    world_wait_status(st, job, "succeeded");
    /* Attached to another VM: a disk of the snapshot's size, the lease given back at the end. */
    disk = (vm_disk_req_t){.caching = VM_CACHING_READ_ONLY, .lun = -1, .snapshot_id = snap};
    job = vm_disk_attach(st, world_ctx(w), other, &disk, &err);
    assert_non_null(job);
    assert_int_equal(leases_of(st, snap), 1);
    world_wait_status(st, job, "succeeded");
    assert_int_equal(leases_of(st, snap), 0);
    vm = vm_get(st, NULL, other, false, NULL, &err);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(vm, "disks"), 1),
                                                        "sizeGB")),
                     7);
    json_decref(vm);
    /* A create's data disk made from it; an unknown snapshot is 400 naming the disk's snapshotId. */
    req.name = "c";
    req.image_id = id_of(w->image);
    req.size = "S";
    req.ndisks = 1;
    req.disks[0] = (vm_disk_req_t){.caching = VM_CACHING_NONE, .lun = 5, .snapshot_id = id};
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_null(vm_create(st, world_ctx(w), &req, &job, &err));
    store_tx_rollback(st);
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "dataDisks[0].snapshotId");
    err_clear(&err);
    req.disks[0].snapshot_id = snap;
    assert_int_equal(store_tx_begin(st, &err), 0);
    vm = vm_create(st, world_ctx(w), &req, &job, &err);
    assert_non_null(vm);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(leases_of(st, snap), 1);
    world_wait_status(st, job, "succeeded");
    assert_int_equal(leases_of(st, snap), 0);
    world_vm_is(st, id_of(vm), "powerState", "running");
    json_decref(vm);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(generalize_rules, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(capture_then_create_from_the_image, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(a_lease_blocks_delete, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(failed_capture_holds_nothing, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(disks_made_from_a_snapshot, world_setup, world_teardown),
    };

    if (snapshot_jobs_register())
        return 1;

    return cmocka_run_group_tests(tests, NULL, NULL);
}
