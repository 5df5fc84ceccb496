/* Fault loops over the agent calls of job kinds: for each kind, fail the Nth agent call (N = 1, 2, ...)
 * until a run meets no injected failure. After every run each job has ended (succeeded or failed), the
 * subscription's quota counters equal their recomputation, and the host's allocation equals what its VMs
 * hold: an injected failure leaks nothing. Each run has a subscription of its own on one shared host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "records.h"

#include "../../lib/accounts.h"
#include "../../lib/agent.h"
#include "../../lib/catalog.h"
#include "../../lib/fault.h"
#include "../../lib/hostreg.h"
#include "../../lib/job.h"
#include "../../lib/util.h"
#include "../../lib/vm.h"

#define MAX_RUNS 60

typedef struct {
    fixture_t *f;
    json_t *cloud, *host, *image, *plan, *user;
} world_t;

static int
world_setup(void **state)
{
    world_t *w = calloc(1, sizeof(*w));
    err_t err = {0};
    json_t *size;

    setup(state);
    w->f = *state;
    assert_int_equal(agent_sim_register(), 0);
    assert_int_equal(catalog_jobs_register(), 0);
    assert_int_equal(accounts_jobs_register(), 0);
    assert_int_equal(vm_jobs_register(), 0);
    hostreg_init(w->f->dir);
    w->cloud = make(catalog_cloud_create, w->f->st, json_pack("{s:s}", "name", "east"));
    w->host = make(catalog_host_create, w->f->st,
                   json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:i, s:i, s:i}}", "name", "hv-01",
                             "cloudId", id_of(w->cloud), "agent", "kind", "sim", "uri", "sim://",
                             "capacity", "cores", 256, "memoryMB", 1048576, "storageGB", 65536));
    size = make(catalog_size_create, w->f->st,
                json_pack("{s:s, s:i, s:i}", "name", "Small", "cores", 1, "memoryMB", 1792));
    json_decref(size);
    w->image = make(catalog_image_create, w->f->st,
                    json_pack("{s:s, s:s, s:i, s:i}", "name", "Ubuntu", "osType", "linux",
                              "generation", 2, "osDiskGB", 30));
    w->plan = make(catalog_plan_create, w->f->st,
                   json_pack("{s:s, s:s, s:s, s:{s:i}}", "name", "Gold", "cloudId", id_of(w->cloud),
                             "state", "public", "quotas", "vms", 10));
    w->user = make(accounts_user_create, w->f->st, json_pack("{s:s}", "email", "ann@example.com"));
    assert_int_equal(job_engine_start(w->f->st, 2, &err), 0);
    *state = w;
    return 0;
}

static int
world_teardown(void **state)
{
    world_t *w = *state;

    fault_arm(FAULT_AGENT, 0);
    job_engine_stop();
    hostreg_shutdown();
    json_decref(w->cloud);
    json_decref(w->host);
    json_decref(w->image);
    json_decref(w->plan);
    json_decref(w->user);
    *state = w->f;
    free(w);
    return teardown(state);
}

/* Waits (polling, with a generous deadline) until no job is queued or running. */
static void
wait_all_final(store_t *st)
{
    json_t *active = json_pack("[s, s]", "queued", "running");
    store_filter_t f = {.field = "status", .op = STORE_FILTER_IN, .values = active};
    int64_t deadline = util_now_ms() + 60000, n;
    err_t err = {0};

    for (;;) {
        n = store_rec_count(st, &store_kind_job, &f, 1, &err);
        assert_true(n >= 0);
        if (n == 0)
            break;
        assert_true(util_now_ms() < deadline);
        usleep(2000);
    }
    json_decref(active);
}

static const char *
job_status(store_t *st, const char *id)
{
    static char status[32];
    err_t err = {0};
    json_t *job = job_get(st, id, NULL, NULL, &err);

    assert_non_null(job);
    snprintf(status, sizeof(status), "%s", json_string_value(json_object_get(job, "status")));
    json_decref(job);
    return status;
}

/* Nothing leaked: the subscription's counters (when it still exists) and the host's allocation equal
 * their recomputation. */
static void
check_no_leak(world_t *w, const char *sid)
{
    int64_t usage[STORE_QUOTAS], again[STORE_QUOTAS], held[3];
    static const char *const keys[3] = {"cores", "memoryMB", "storageGB"};
    err_t err = {0};
    json_t *sub, *host;
    int i;

    sub = store_rec_get(w->f->st, &store_kind_subscription, sid, NULL, &err);
    if (sub != NULL) {
        assert_int_equal(store_usage_get(w->f->st, sid, usage, &err), 0);
        assert_int_equal(store_usage_recompute(w->f->st, sid, again, &err), 0);
        for (i = 0; i < STORE_QUOTAS; i++)
            assert_int_equal(usage[i], again[i]);
        json_decref(sub);
    }
    err_clear(&err);
    host = store_rec_get(w->f->st, &store_kind_host, id_of(w->host), NULL, &err);
    assert_non_null(host);
    assert_int_equal(store_host_recompute(w->f->st, id_of(w->host), held, &err), 0);
    for (i = 0; i < 3; i++)
        assert_int_equal(json_integer_value(json_object_get(json_object_get(host, "allocated"),
                                                            keys[i])),
                         held[i]);
    json_decref(host);
}

/* A new subscription to the world's plan; its id is written to sid. */
static void
new_subscription(world_t *w, char sid[UTIL_UUID_LEN + 1])
{
    json_t *sub = make(accounts_subscription_create, w->f->st,
                       json_pack("{s:s, s:s}", "userId", id_of(w->user), "planId", id_of(w->plan)));

    snprintf(sid, UTIL_UUID_LEN + 1, "%s", id_of(sub));
    json_decref(sub);
}

/* Starts a VM create in sid through the public API, as the request pipeline does: one transaction, in
 * which the subscription and its plan are read once and passed down. Answers the create job (NULL when
 * refused). The one place this test names vm_create. */
static json_t *
start_vm_create(world_t *w, const char *sid)
{
    vm_create_req_t req = {.name = "web", .image_id = id_of(w->image), .size = "Small", .ndisks = 1};
    json_t *job = NULL, *vm = NULL, *sub = NULL, *plan = NULL;
    store_t *st = w->f->st;
    vm_ctx_t ctx = {.sid = sid};
    err_t err = {0};

    req.disks[0] = (vm_disk_req_t){.size_gb = 20, .caching = VM_CACHING_NONE, .lun = -1};
    if (store_tx_begin(st, &err))
        return NULL;
    sub = store_rec_get(st, &store_kind_subscription, sid, NULL, &err);
    plan = sub ? store_rec_get(st, &store_kind_plan, json_string_value(json_object_get(sub, "planId")),
                               NULL, &err)
               : NULL;
    ctx.sub = sub;
    ctx.plan = plan;
    if (plan != NULL)
        vm = vm_create(st, &ctx, &req, &job, &err);
    if (vm == NULL || store_tx_commit(st, &err)) {
        store_tx_rollback(st);
        json_decref(job);
        job = NULL;
    }
    json_decref(vm);
    json_decref(sub);
    json_decref(plan);
    return job;
}

/* Prepares a run: a subscription, with one VM created (and running) without faults when with_vm. */
static void
prepare(world_t *w, bool with_vm, char sid[UTIL_UUID_LEN + 1])
{
    json_t *job;

    new_subscription(w, sid);
    if (!with_vm)
        return;
    job = start_vm_create(w, sid);
    assert_non_null(job);
    wait_all_final(w->f->st);
    assert_string_equal(job_status(w->f->st, id_of(job)), "succeeded");
    json_decref(job);
}

typedef json_t *(*start_fn)(world_t *w, const char *sid);

/* The loop: run the operation with the Nth agent call failing, N = 1, 2, ... until no failure was
 * injected; every run ends with every job final and nothing leaked. Returns how many runs met a fault. */
static int
fault_loop(world_t *w, bool with_vm, start_fn start)
{
    char sid[UTIL_UUID_LEN + 1];
    const char *status;
    bool fired;
    json_t *job;
    long n;

    for (n = 1; n <= MAX_RUNS; n++) {
        prepare(w, with_vm, sid);
        fault_arm(FAULT_AGENT, n);
        job = start(w, sid);
        assert_non_null(job);
        wait_all_final(w->f->st);
        fired = fault_fired(FAULT_AGENT);
        fault_arm(FAULT_AGENT, 0);
        status = job_status(w->f->st, id_of(job));
        if (strcmp(status, "succeeded") != 0 && strcmp(status, "failed") != 0)
            fail_msg("run %ld: the job ended %s", n, status);
        check_no_leak(w, sid);
        json_decref(job);
        if (!fired)
            return (int) n - 1;
    }
    fail_msg("the operation still met faults after %d runs", MAX_RUNS);
    return -1;
}

static json_t *
start_suspend(world_t *w, const char *sid)
{
    json_t *patch = json_pack("{s:s}", "state", "suspended"), *job = NULL, *rec;
    err_t err = {0};

    rec = accounts_subscription_update(w->f->st, sid, patch, 0, &job, &err);
    json_decref(patch);
    json_decref(rec);
    return job;
}

static json_t *
start_delete(world_t *w, const char *sid)
{
    err_t err = {0};

    return accounts_subscription_delete(w->f->st, sid, 0, &err);
}

static void
vm_create_under_agent_faults(void **state)
{
    assert_true(fault_loop(*state, false, start_vm_create) >= 1);
}

static void
subscription_suspend_under_agent_faults(void **state)
{
    assert_true(fault_loop(*state, true, start_suspend) >= 1);
}

static void
subscription_delete_under_agent_faults(void **state)
{
    world_t *w = *state;
    err_t err = {0};

    assert_true(fault_loop(w, true, start_delete) >= 1);
    /* Every subscription of the runs is gone, and with them every VM. */
    assert_int_equal(store_rec_count(w->f->st, &store_kind_vm, NULL, 0, &err), 0);
}

/* The countdown itself: the nth hit fails, once, and says so. */
static void
countdown_fails_the_nth_call_once(void **state)
{
    (void) state;
    fault_arm(FAULT_ALLOC, 3);
    assert_false(fault_hit(FAULT_ALLOC));
    assert_false(fault_hit(FAULT_ALLOC));
    assert_false(fault_fired(FAULT_ALLOC));
    assert_false(fault_hit(FAULT_STORE)); /* classes count apart */
    assert_true(fault_hit(FAULT_ALLOC));
    assert_true(fault_fired(FAULT_ALLOC));
    assert_false(fault_hit(FAULT_ALLOC));
    assert_int_equal(fault_calls(FAULT_ALLOC), 4);
    fault_arm(FAULT_ALLOC, 0);
    assert_false(fault_fired(FAULT_ALLOC));
    assert_false(fault_hit(FAULT_ALLOC));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(countdown_fails_the_nth_call_once),
        cmocka_unit_test_setup_teardown(vm_create_under_agent_faults, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(subscription_suspend_under_agent_faults, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(subscription_delete_under_agent_faults, world_setup,
                                        world_teardown),
    };

    return cmocka_run_group_tests_name("fault loops over job kinds", tests, NULL, NULL);
}
