/*
 * test_reconcile.c: the periodic reconcile (lib/reconcile.h) corrects and counts a drift of a
 * subscription's quota usage and of a host's allocation once, and leaves alone what a job queued at that
 * moment has reserved: a resize's extra cores stay reserved while its job waits, and are the VM's when it
 * ends, with no drift counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_vm_world.h"

#include "../../lib/reconcile.h"

static void
usage_of(world_t *w, int64_t u[STORE_QUOTAS])
{
    err_t err = {0};

    assert_int_equal(store_usage_get(w->f->st, id_of(w->sub), u, &err), 0);
}

static int64_t
host_cores(world_t *w)
{
    err_t err = {0};
    json_t *h = store_rec_get(w->f->st, &store_kind_host, id_of(w->host), NULL, &err);
    int64_t cores;

    assert_non_null(h);
    cores = json_integer_value(json_object_get(json_object_get(h, "allocated"), "cores"));
    json_decref(h);
    return cores;
}

static void
drift_is_corrected_once_and_counted(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    int64_t truth[STORE_QUOTAS], wrong[STORE_QUOTAS];
    reconcile_stats_t before, after;
    char vm[UTIL_UUID_LEN + 1];
    err_t err = {0};

    world_running_vm(w, "a", vm);
    assert_int_equal(reconcile_run(st, &err), 0); /* nothing drifted yet */
    usage_of(w, truth);
    assert_int_equal(truth[QUOTA_CORES], 2);
    assert_int_equal(host_cores(w), 2);
    memcpy(wrong, truth, sizeof(wrong));
    wrong[QUOTA_VMS] = 5;
    wrong[QUOTA_MEMORY] = 1;
    assert_int_equal(store_usage_set(st, id_of(w->sub), wrong, &err), 0);
    assert_int_equal(store_host_allocate(st, id_of(w->host), 3, 0, -7, &err), 0);
    reconcile_stats(&before);

    assert_int_equal(reconcile_run(st, &err), 2);
    usage_of(w, wrong);
    assert_memory_equal(wrong, truth, sizeof(truth));
    assert_int_equal(host_cores(w), 2);
    reconcile_stats(&after);
    assert_int_equal(after.subscriptions, before.subscriptions + 1);
    assert_int_equal(after.hosts, before.hosts + 1);
    assert_int_equal(after.runs, before.runs + 1);
    assert_true(after.last_run_ms >= before.last_run_ms && after.last_run_ms > 0);
    /* Corrected once. */
    assert_int_equal(reconcile_run(st, &err), 0);
}

static void
a_queued_jobs_reservation_is_part_of_the_truth(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    reconcile_stats_t before, after;
    char vm[UTIL_UUID_LEN + 1];
    int64_t u[STORE_QUOTAS];
    err_t err = {0};
    json_t *job;

    world_running_vm(w, "a", vm);
    assert_int_equal(store_tx_begin(st, &err), 0);
    job = vm_action(st, world_ctx(w), vm, "stop", &err);
    assert_int_equal(store_tx_commit(st, &err), 0);
    world_wait_status(st, job, "succeeded");
    /* The resize waits in the queue: its two more cores are reserved, the VM still has two. */
    job_engine_stop();
    assert_int_equal(store_tx_begin(st, &err), 0);
    job = vm_resize(st, world_ctx(w), vm, "L", 0, &err);
    assert_non_null(job);
    assert_int_equal(store_tx_commit(st, &err), 0);
    usage_of(w, u);
    assert_int_equal(u[QUOTA_CORES], 4);
    assert_int_equal(host_cores(w), 4);
    reconcile_stats(&before);
    assert_int_equal(reconcile_run(st, &err), 0);
    usage_of(w, u);
    assert_int_equal(u[QUOTA_CORES], 4);
    assert_int_equal(host_cores(w), 4);
    /* The job ends: the cores are the VM's, and there was never a drift. */
    assert_int_equal(job_engine_start(st, 2, &err), 0);
    world_wait_status(st, job, "succeeded");
    assert_int_equal(reconcile_run(st, &err), 0);
    reconcile_stats(&after);
    assert_int_equal(after.subscriptions, before.subscriptions);
    assert_int_equal(after.hosts, before.hosts);
    assert_int_equal(after.runs, before.runs + 2);
    usage_of(w, u);
    assert_int_equal(u[QUOTA_CORES], 4);
    assert_int_equal(host_cores(w), 4);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(drift_is_corrected_once_and_counted, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(a_queued_jobs_reservation_is_part_of_the_truth, world_setup,
                                        world_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
