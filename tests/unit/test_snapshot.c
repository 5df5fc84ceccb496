/*
 * test_snapshot.c: disk snapshots and their copies (lib/snapshot.h), at the lib level, on the hosts and in
 * the world of test_snapshot_world.h. Every test ends by checking that the counters (quota usage, hosts'
 * allocation) agree with a recompute.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_snapshot_world.h"

/* ---- the tests ---- */

static void
test_take_ready_size_and_quota(void **state)
{
    snap_world_t *sw = *state;
    world_t *w = &sw->w;
    char vm[UTIL_UUID_LEN + 1], os[UTIL_UUID_LEN + 1], data[UTIL_UUID_LEN + 1];
    int64_t used, alloc;
    err_t err = {0};
    json_t *s, *list;
    int64_t next = -1;

    vm_with_disk(w, vm);
    used = storage_used(w);
    alloc = host_allocated(w, w->host);
    ready_snapshot(w, vm, -1, os);
    ready_snapshot(w, vm, 2, data);
    assert_int_equal(storage_used(w), used + 30 + 10);
    assert_int_equal(host_allocated(w, w->host), alloc + 30 + 10);
    s = snapshot_get(w->f->st, id_of(w->sub), data, NULL, &err);
    assert_non_null(s);
    assert_int_equal(jget_int(s, "sizeGB"), 10);
    assert_int_equal(jget_int(s, "lun"), 2);
    assert_string_equal(jget_str(s, "cloudId"), id_of(w->cloud));
    assert_true(json_is_null(json_object_get(s, "copy")));
    assert_null(json_object_get(s, "_hostId"));
    assert_null(json_object_get(s, "sourceSnapshotId"));
    json_decref(s);
    s = snapshot_get(w->f->st, id_of(w->sub), os, NULL, &err);
    assert_true(json_is_null(json_object_get(s, "lun")));
    assert_int_equal(jget_int(s, "sizeGB"), 30);
    json_decref(s);
    list = snapshot_list(w->f->st, id_of(w->sub), 0, 100, &next, &err);
    assert_int_equal(json_array_size(list), 2);
    assert_int_equal(next, 0);
    json_decref(list);
    /* Another subscription sees none of them. */
    err_clear(&err);
    assert_null(snapshot_get(w->f->st, "00000000-0000-4000-8000-000000000000", os, NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    assert_counters_true(sw);
}

static void
test_bad_requests_change_nothing(void **state)
{
    snap_world_t *sw = *state;
    world_t *w = &sw->w;
    char vm[UTIL_UUID_LEN + 1];
    json_t *job = NULL;
    int64_t used;
    err_t err = {0};

    vm_with_disk(w, vm);
    used = storage_used(w);
    assert_null(take(w, vm, 5, &job, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "lun");
    err_clear(&err);
    assert_null(take(w, "00000000-0000-4000-8000-000000000000", -1, &job, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "vmId");
    assert_int_equal(storage_used(w), used);
    assert_counters_true(sw);
}

static void
test_quota_exceeded(void **state)
{
    snap_world_t *sw = *state;
    world_t *w = &sw->w;
    char vm[UTIL_UUID_LEN + 1], id[UTIL_UUID_LEN + 1];
    json_t *job = NULL, *list;
    int64_t used, next;
    err_t err = {0};
    int i;

    vm_with_disk(w, vm); /* 40 GB */
    for (i = 0; i < 5; i++)
        ready_snapshot(w, vm, -1, id); /* 5 x 30: 190 */
    used = storage_used(w);
    assert_int_equal(used, 190);
    assert_null(take(w, vm, -1, &job, &err));
    assert_int_equal(err.code, ERR_QUOTA_EXCEEDED);
    assert_string_equal(err.target, "storageGB");
    list = snapshot_list(w->f->st, id_of(w->sub), 0, 100, &next, &err);
    assert_int_equal(json_array_size(list), 5);
    json_decref(list);
    assert_int_equal(storage_used(w), 190);
    assert_counters_true(sw);
}

static void
test_copy_progress_and_ready(void **state)
{
    snap_world_t *sw = *state;
    world_t *w = &sw->w;
    char vm[UTIL_UUID_LEN + 1], id[UTIL_UUID_LEN + 1];
    int64_t used, last = 0, total = (int64_t) 30 << 30;
    int advances = 0;
    json_t *job = NULL, *c, *s, *done;
    err_t err = {0};

    vm_with_disk(w, vm);
    ready_snapshot(w, vm, -1, id);
    used = storage_used(w);
    c = copy_to(w, id, sw->cloud2, &job, &err);
    if (c == NULL)
        fail_msg("copy failed: %s", err.message);
    assert_string_equal(jget_str(c, "state"), "copying");
    assert_string_equal(jget_str(c, "cloudId"), id_of(sw->cloud2));
    assert_string_equal(jget_str(c, "sourceSnapshotId"), id);
    assert_int_equal(jget_int(json_object_get(c, "copy"), "bytesCopied"), 0);
    assert_int_equal(jget_int(json_object_get(c, "copy"), "bytesTotal"), total);
    assert_int_equal(jget_int(json_object_get(c, "copy"), "percent"), 0);
    assert_int_equal(storage_used(w), used + 30);
    assert_int_equal(host_allocated(w, sw->host2), 30);
    assert_int_equal(leases_of(w, id), 1);
    /* Progress advances, never backwards, until the copy is ready. */
    for (;;) {
        s = snapshot_get(w->f->st, id_of(w->sub), id_of(c), NULL, &err);
        assert_non_null(s);
        assert_true(jget_int(json_object_get(s, "copy"), "bytesCopied") >= last);
        if (jget_int(json_object_get(s, "copy"), "bytesCopied") > last)
            advances++;
        last = jget_int(json_object_get(s, "copy"), "bytesCopied");
        if (strcmp(jget_str(s, "state"), "ready") == 0) {
            json_decref(s);
            break;
        }
        assert_string_equal(jget_str(s, "state"), "copying");
        json_decref(s);
        usleep(20000);
    }
    assert_int_equal(last, total);
    assert_true(advances >= 2);
    done = world_wait(w->f->st, job);
    assert_string_equal(jget_str(done, "status"), "succeeded");
    assert_int_equal(jget_int(json_object_get(done, "copy"), "bytesCopied"), total);
    json_decref(done);
    json_decref(job);
    assert_int_equal(leases_of(w, id), 0);
    assert_int_equal(timeline_rows(w, id_of(c)), 1);
    json_decref(c);
    assert_counters_true(sw);
}

static void
test_copy_to_a_cloud_not_allowed(void **state)
{
    snap_world_t *sw = *state;
    world_t *w = &sw->w;
    char vm[UTIL_UUID_LEN + 1], id[UTIL_UUID_LEN + 1];
    json_t *job = NULL, *list;
    int64_t used, next;
    err_t err = {0};

    vm_with_disk(w, vm);
    ready_snapshot(w, vm, 2, id);
    used = storage_used(w);
    assert_null(copy_to(w, id, sw->cloud3, &job, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "cloudId");
    assert_int_equal(storage_used(w), used);
    assert_int_equal(leases_of(w, id), 0);
    list = snapshot_list(w->f->st, id_of(w->sub), 0, 100, &next, &err);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    /* Its own cloud is allowed. */
    err_clear(&err);
    list = copy_to(w, id, w->cloud, &job, &err);
    assert_non_null(list);
    json_decref(list);
    world_wait_status(w->f->st, job, "succeeded");
    assert_counters_true(sw);
}

static void
test_lease_blocks_delete(void **state)
{
    snap_world_t *sw = *state;
    world_t *w = &sw->w;
    char vm[UTIL_UUID_LEN + 1], id[UTIL_UUID_LEN + 1];
    json_t *job = NULL, *c, *j;
    err_t err = {0};

    vm_with_disk(w, vm);
    ready_snapshot(w, vm, 2, id);
    fake_hold_copies = true;
    c = copy_to(w, id, sw->cloud2, &job, &err);
    assert_non_null(c);
    assert_null(snapshot_delete(w->f->st, world_ctx(w), id, 0, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "lease");
    err_clear(&err);
    assert_null(snapshot_delete(w->f->st, world_ctx(w), id_of(c), 0, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "lease");
    assert_state(w, id, "ready");
    assert_state(w, id_of(c), "copying");
    fake_hold_copies = false;
    world_wait_status(w->f->st, job, "succeeded");
    /* Once the copy has ended both may go, and what they held goes with them. */
    j = snapshot_delete(w->f->st, world_ctx(w), id, 0, &err);
    world_wait_status(w->f->st, j, "succeeded");
    j = snapshot_delete(w->f->st, world_ctx(w), id_of(c), 0, &err);
    world_wait_status(w->f->st, j, "succeeded");
    assert_int_equal(fake_deletes, 2);
    assert_int_equal(host_allocated(w, sw->host2), 0);
    assert_int_equal(timeline_rows(w, id_of(c)), 2); /* created, deleted */
    err_clear(&err);
    assert_null(snapshot_get(w->f->st, id_of(w->sub), id, NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    json_decref(c);
    assert_counters_true(sw);
}

static void
test_failed_copy_unbilled(void **state)
{
    snap_world_t *sw = *state;
    world_t *w = &sw->w;
    char vm[UTIL_UUID_LEN + 1], id[UTIL_UUID_LEN + 1];
    json_t *job = NULL, *c, *j;
    int64_t used;
    err_t err = {0};

    vm_with_disk(w, vm);
    ready_snapshot(w, vm, -1, id);
    used = storage_used(w);
    fake_fail_copies = true;
    c = copy_to(w, id, sw->cloud2, &job, &err);
    assert_non_null(c);
    world_wait_status(w->f->st, job, "failed");
    assert_state(w, id_of(c), "failed");
    assert_int_equal(storage_used(w), used);
    assert_int_equal(host_allocated(w, sw->host2), 0);
    assert_int_equal(leases_of(w, id), 0);
    assert_int_equal(timeline_rows(w, id_of(c)), 0);
    assert_int_equal(fake_deletes, 1); /* the partial volume, by the cleanup */
    assert_counters_true(sw);
    /* A failed copy is deleted at once, releasing nothing twice. */
    j = snapshot_delete(w->f->st, world_ctx(w), id_of(c), 0, &err);
    world_wait_status(w->f->st, j, "succeeded");
    assert_int_equal(storage_used(w), used);
    assert_int_equal(timeline_rows(w, id_of(c)), 0);
    json_decref(c);
    assert_counters_true(sw);
}

static void
test_canceled_copy_leaves_nothing(void **state)
{
    snap_world_t *sw = *state;
    world_t *w = &sw->w;
    char vm[UTIL_UUID_LEN + 1], id[UTIL_UUID_LEN + 1];
    json_t *job = NULL, *c, *j, *list;
    int64_t used, next;
    err_t err = {0};

    vm_with_disk(w, vm);
    ready_snapshot(w, vm, 2, id);
    used = storage_used(w);
    job_engine_stop(); /* the copy job stays queued, and may be canceled */
    c = copy_to(w, id, sw->cloud2, &job, &err);
    assert_non_null(c);
    assert_int_equal(leases_of(w, id), 1);
    j = job_cancel(w->f->st, id_of(job), id_of(w->sub), &err);
    if (j == NULL)
        fail_msg("cancel failed: %s", err.message);
    assert_string_equal(jget_str(j, "status"), "canceled");
    json_decref(j);
    err_clear(&err);
    assert_null(snapshot_get(w->f->st, id_of(w->sub), id_of(c), NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    list = snapshot_list(w->f->st, id_of(w->sub), 0, 100, &next, &err);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    assert_int_equal(leases_of(w, id), 0);
    assert_int_equal(storage_used(w), used);
    assert_int_equal(host_allocated(w, sw->host2), 0);
    json_decref(job);
    json_decref(c);
    assert_counters_true(sw);
}

/* A snapshot and another job of its VM exclude each other, both ways. */
static void
test_one_job_per_vm(void **state)
{
    snap_world_t *sw = *state;
    world_t *w = &sw->w;
    char vm[UTIL_UUID_LEN + 1];
    json_t *job = NULL, *s, *j;
    err_t err = {0};

    vm_with_disk(w, vm);
    job_engine_stop(); /* jobs stay queued */
    s = take(w, vm, -1, &job, &err);
    assert_non_null(s);
    assert_null(vm_action(w->f->st, world_ctx(w), vm, "stop", &err));
    assert_int_equal(err.code, ERR_OPERATION_IN_PROGRESS);
    err_clear(&err);
    j = job_cancel(w->f->st, id_of(job), id_of(w->sub), &err);
    assert_non_null(j);
    json_decref(j);
    json_decref(job);
    assert_state(w, id_of(s), "failed"); /* canceled before it ran: nothing held */
    j = vm_action(w->f->st, world_ctx(w), vm, "stop", &err);
    assert_non_null(j);
    assert_null(take(w, vm, -1, &job, &err));
    assert_int_equal(err.code, ERR_OPERATION_IN_PROGRESS);
    json_decref(j);
    json_decref(s);
    assert_counters_true(sw);
}

/* A subscription's delete takes its snapshots with it, once no job reads them. */
static void
test_subscription_delete_takes_snapshots(void **state)
{
    snap_world_t *sw = *state;
    world_t *w = &sw->w;
    char vm[UTIL_UUID_LEN + 1], id[UTIL_UUID_LEN + 1];
    json_t *job = NULL, *c, *j;
    err_t err = {0};

    vm_with_disk(w, vm);
    ready_snapshot(w, vm, -1, id);
    ready_snapshot(w, vm, 2, id);
    fake_hold_copies = true;
    c = copy_to(w, id, sw->cloud2, &job, &err);
    assert_non_null(c);
    j = accounts_subscription_delete(w->f->st, id_of(w->sub), 0, &err);
    if (j == NULL)
        fail_msg("delete failed: %s", err.message);
    /* The copy under way holds its source: the delete waits for it. */
    assert_string_equal(jget_str(j, "kind"), "subscription.delete");
    fake_hold_copies = false;
    wait_ok(w->f->st, job);
    wait_ok(w->f->st, j);
    assert_int_equal(store_rec_count(w->f->st, &store_kind_snapshot, NULL, 0, &err), 0);
    assert_int_equal(fake_deletes, 3);
    assert_int_equal(host_allocated(w, w->host), 0);
    assert_int_equal(host_allocated(w, sw->host2), 0);
    json_decref(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_take_ready_size_and_quota, snap_setup, snap_teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests_change_nothing, snap_setup, snap_teardown),
        cmocka_unit_test_setup_teardown(test_quota_exceeded, snap_setup, snap_teardown),
        cmocka_unit_test_setup_teardown(test_copy_progress_and_ready, snap_setup, snap_teardown),
        cmocka_unit_test_setup_teardown(test_copy_to_a_cloud_not_allowed, snap_setup, snap_teardown),
        cmocka_unit_test_setup_teardown(test_lease_blocks_delete, snap_setup, snap_teardown),
        cmocka_unit_test_setup_teardown(test_failed_copy_unbilled, snap_setup, snap_teardown),
        cmocka_unit_test_setup_teardown(test_canceled_copy_leaves_nothing, snap_setup, snap_teardown),
        cmocka_unit_test_setup_teardown(test_one_job_per_vm, snap_setup, snap_teardown),
        cmocka_unit_test_setup_teardown(test_subscription_delete_takes_snapshots, snap_setup,
                                        snap_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
