/* The fault loop over a VM create request: the Nth store call of the request fails, N = 1, 2, ... until
 * the request succeeds. Each failed run answers an error and leaves nothing behind: no VM record, no job,
 * quota counters equal to their recomputation, the host's allocation unchanged and equal to what its VMs
 * hold, no address taken on the VM's network. The job engine is stopped while the request runs, so the
 * store calls counted are the request's own (as the pipeline makes them: the context loaded once, one
 * transaction); the job of the run that met no fault then runs to its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_fault_loop.h"

/* How many records of kind the run's subscription owns. */
static int64_t
owned(world_t *w, const store_kind_t *kind)
{
    json_t *sid = json_pack("[s]", id_of(w->sub));
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_IN, .values = sid};
    err_t err = {0};
    int64_t n = store_rec_count(w->f->st, kind, &f, 1, &err);

    assert_true(n >= 0);
    json_decref(sid);
    return n;
}

/* One run: a new subscription with a network, then the create with the Nth store call failing; *fired
 * says whether a fault was injected. Answers the create's job when the request succeeded, NULL when it
 * answered an error (checked to have left nothing). */
static json_t *
run_create(world_t *w, long n, bool *fired)
{
    network_create_req_t nreq = {.name = "n", .address_prefix = "10.1.0.0/29"};
    json_t *net;
    vm_create_req_t req = {.name = "web", .image_id = id_of(w->image), .size = "S", .ndisks = 1};
    json_t *vm = NULL, *job = NULL;
    store_t *st = w->f->st;
    int64_t before[3], jobs;
    err_t err = {0};
    char what[64];

    loop_new_subscription(w);
    net = network_create(st, world_ctx(w), &nreq, &err);
    assert_non_null(net);
    req.network_id = id_of(net);
    req.disks[0] = (vm_disk_req_t){.size_gb = 20, .caching = VM_CACHING_NONE, .lun = -1};
    loop_host_allocated(w, before);
    jobs = store_rec_count(st, &store_kind_job, NULL, 0, &err);
    world_ctx(w);
    fault_arm(FAULT_STORE, n);
    if (store_tx_begin(st, &err) == 0)
        vm = loop_commit_or_roll_back(st, vm_create(st, &w->ctx, &req, &job, &err), &err);
    *fired = fault_fired(FAULT_STORE);
    fault_arm(FAULT_STORE, 0);
    snprintf(what, sizeof(what), "a VM create with store call %ld failing", n);
    if (vm == NULL) {
        if (err.code == ERR_NONE || err.message[0] == '\0')
            fail_msg("%s: no error was answered", what);
        assert_true(*fired); /* without a fault the request succeeds */
        json_decref(job);
        job = NULL;
        assert_int_equal(owned(w, &store_kind_vm), 0);
        assert_int_equal(store_rec_count(st, &store_kind_job, NULL, 0, &err), jobs);
        assert_int_equal(store_ip_count(st, id_of(net), &err), 0);
        loop_check_nothing_held(w, before, what);
    }
    loop_check_no_leak(w, what);
    json_decref(vm);
    json_decref(net);
    return job;
}

static void
vm_create_request_under_store_faults(void **state)
{
    world_t *w = *state;
    json_t *job = NULL;
    err_t err = {0};
    bool fired = true;
    long n;

    job_engine_stop();
    for (n = 1; n <= LOOP_MAX_RUNS && fired; n++) {
        json_decref(job); /* a run that met a fault the request survived: its job runs later */
        job = run_create(w, n, &fired);
    }
    if (fired)
        fail_msg("the create still met faults after %d runs", LOOP_MAX_RUNS);
    assert_non_null(job);
    assert_true(n > 4); /* the request met faults at several different calls */
    assert_int_equal(job_engine_start(w->f->st, 2, &err), 0);
    world_wait_status(w->f->st, job, "succeeded");
    loop_wait_all_final(w->f->st);
    loop_check_no_leak(w, "the VM create that succeeded");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(vm_create_request_under_store_faults, loop_setup,
                                        loop_teardown),
    };

    return cmocka_run_group_tests_name("fault loop over a VM create request", tests, NULL, NULL);
}
