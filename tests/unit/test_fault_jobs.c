/* Fault loops over every job kind lib can start: for each kind, fail the Nth agent call permanently, and
 * the Nth store call made inside the job's steps, N = 1, 2, ... until a run meets no injected failure (and
 * for a few kinds the Nth agent call transiently as well; for vm.create the Nth allocation in its steps,
 * too). After every run each job has ended (succeeded or failed) and nothing leaked (see
 * test_fault_loop.h). Each run has a subscription of its own (and, for the kinds that act on a whole plan,
 * a plan of its own), prepared without faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "../../lib/jget.h"
#include "test_fault_loop.h"

typedef enum {
    PREP_NONE,     /* a new subscription */
    PREP_RUNNING,  /* and a running VM with one data disk */
    PREP_STOPPED,  /* that VM, stopped */
    PREP_CHECKPOINT, /* that VM, running, with a checkpoint */
    PREP_ROLE,     /* a VM role of one instance */
} prep_t;

/* What a run prepared. */
typedef struct {
    char vm[UTIL_UUID_LEN + 1];
    char role[UTIL_UUID_LEN + 1];
} run_t;

/* Starts the operation in the request's open transaction (the context loaded); answers its job. */
typedef json_t *(*start_fn)(world_t *w, const run_t *r, const char *arg, err_t *err);

typedef struct {
    const char *kind;
    prep_t prep;
    start_fn start;
    const char *arg;
    bool own_plan;  /* acts on every subscription of a plan: each run gets a plan of its own */
    bool creates;   /* a failed run must leave no more host capacity held than before it (a role's
                     * instances that were made hold theirs: so the role ops add one instance) */
    bool transient; /* also fail the Nth agent call transiently */
    bool audit_host; /* after each run, every VM the host has is owned by a record holding what it takes */
} op_t;

static json_t *
start_vm_create(world_t *w, const run_t *r, const char *arg, err_t *err)
{
    vm_create_req_t req = {.name = "web", .image_id = id_of(w->image), .size = "S", .ndisks = 1};
    json_t *job = NULL, *vm;

    (void) r;
    (void) arg;
    req.disks[0] = (vm_disk_req_t){.size_gb = 20, .caching = VM_CACHING_NONE, .lun = -1};
    vm = vm_create(w->f->st, &w->ctx, &req, &job, err);
    json_decref(vm);
    return vm ? job : NULL;
}

static json_t *
start_action(world_t *w, const run_t *r, const char *arg, err_t *err)
{
    return vm_action(w->f->st, &w->ctx, r->vm, arg, err);
}

static json_t *
start_resize(world_t *w, const run_t *r, const char *arg, err_t *err)
{
    return vm_resize(w->f->st, &w->ctx, r->vm, arg, 0, err);
}

static json_t *
start_vm_delete(world_t *w, const run_t *r, const char *arg, err_t *err)
{
    (void) arg;
    return vm_delete(w->f->st, &w->ctx, r->vm, 0, err);
}

static json_t *
start_disk_attach(world_t *w, const run_t *r, const char *arg, err_t *err)
{
    vm_disk_req_t disk = {.size_gb = 8, .caching = VM_CACHING_READ_WRITE, .lun = -1};

    (void) arg;
    return vm_disk_attach(w->f->st, &w->ctx, r->vm, &disk, err);
}

static json_t *
start_disk_detach(world_t *w, const run_t *r, const char *arg, err_t *err)
{
    (void) arg;
    return vm_disk_detach(w->f->st, &w->ctx, r->vm, 0, err);
}

static json_t *
start_checkpoint(world_t *w, const run_t *r, const char *arg, err_t *err)
{
    checkpoint_put_req_t req = {.name = "cp"};

    if (strcmp(arg, "restore") == 0)
        return checkpoint_restore(w->f->st, &w->ctx, r->vm, err);
    if (strcmp(arg, "delete") == 0)
        return checkpoint_delete(w->f->st, &w->ctx, r->vm, err);
    return checkpoint_put(w->f->st, &w->ctx, r->vm, &req, err);
}

static json_t *
start_prune(world_t *w, const run_t *r, const char *arg, err_t *err)
{
    checkpoint_prune_req_t req = {
        .cloud_id = id_of(w->cloud), .plan_id = id_of(w->plan), .older_than_hours = 0};

    (void) r;
    (void) arg;
    return checkpoint_prune(w->f->st, &req, err);
}

static json_t *
start_role(world_t *w, const run_t *r, const char *arg, err_t *err)
{
    vmrole_create_req_t create = {.name = "web", .gallery_item_id = id_of(w->item), .instance_count = 1};
    vmrole_scale_req_t scale = {.instance_count = 2};
    json_t *role, *job = NULL;

    if (strcmp(arg, "scale") == 0)
        return vmrole_scale(w->f->st, &w->ctx, r->role, &scale, err);
    if (strcmp(arg, "delete") == 0)
        return vmrole_delete(w->f->st, &w->ctx, r->role, err);
    role = vmrole_create(w->f->st, &w->ctx, &create, &job, err);
    json_decref(role);
    return role ? job : NULL;
}

static json_t *
start_suspend(world_t *w, const run_t *r, const char *arg, err_t *err)
{
    accounts_subscription_patch_t patch = {.has_state = true,
                                           .state = ACCOUNTS_SUBSCRIPTION_SUSPENDED};
    json_t *job = NULL, *rec;

    (void) r;
    (void) arg;
    rec = accounts_subscription_update(w->f->st, id_of(w->sub), &patch, 0, &job, err);
    json_decref(rec);
    return rec ? job : NULL;
}

static json_t *
start_sub_delete(world_t *w, const run_t *r, const char *arg, err_t *err)
{
    (void) r;
    (void) arg;
    return accounts_subscription_delete(w->f->st, id_of(w->sub), 0, err);
}

static json_t *
start_plan_update(world_t *w, const run_t *r, const char *arg, err_t *err)
{
    json_t *patch = json_pack("{s:s}", "checkpointMode", "disabled"), *job;

    (void) r;
    (void) arg;
    job = api_catalog_plan_update(w->f->st, id_of(w->plan), patch, 0, err);
    json_decref(patch);
    return job;
}

static const op_t ops[] = {
    {"vm.create", PREP_NONE, start_vm_create, NULL, false, true, true, true},
    {"vm.start", PREP_STOPPED, start_action, "start", false, false, false, true},
    {"vm.stop", PREP_RUNNING, start_action, "stop", false, false, false, true},
    {"vm.shutdown", PREP_RUNNING, start_action, "shutdown", false, false, false, true},
    {"vm.restart", PREP_RUNNING, start_action, "restart", false, false, false, true},
    {"vm.deallocate", PREP_RUNNING, start_action, "deallocate", false, false, false, true},
    {"vm.resize", PREP_STOPPED, start_resize, "L", false, false, false, true},
    {"vm.delete", PREP_RUNNING, start_vm_delete, NULL, false, false, false, true},
    {"vm.disk.attach", PREP_RUNNING, start_disk_attach, NULL, false, false, false, true},
    {"vm.disk.detach", PREP_RUNNING, start_disk_detach, NULL, false, false, false, true},
    {"vm.checkpoint.create", PREP_RUNNING, start_checkpoint, "create", false, false, false, true},
    {"vm.checkpoint.restore", PREP_CHECKPOINT, start_checkpoint, "restore", false, false, false, true},
    {"vm.checkpoint.delete", PREP_CHECKPOINT, start_checkpoint, "delete", false, false, false, true},
    {"checkpoint.prune", PREP_CHECKPOINT, start_prune, NULL, true, false, false, true},
    {"vmrole.create", PREP_NONE, start_role, "one", false, true, false, true},
    {"vmrole.scale", PREP_ROLE, start_role, "scale", false, true, false, true},
    {"vmrole.delete", PREP_ROLE, start_role, "delete", false, false, false, true},
    {"subscription.suspend", PREP_RUNNING, start_suspend, NULL, false, false, false, true},
    {"subscription.delete", PREP_RUNNING, start_sub_delete, NULL, false, false, false, true},
    {"plan.update", PREP_RUNNING, start_plan_update, NULL, true, false, false, true},
};

/* Runs start as the request pipeline does: the context loaded once, one transaction. Answers the job
 * (NULL with err set when refused). */
static json_t *
request(world_t *w, const run_t *r, start_fn start, const char *arg, err_t *err)
{
    world_ctx(w);
    if (store_tx_begin(w->f->st, err))
        return NULL;
    return loop_commit_or_roll_back(w->f->st, start(w, r, arg, err), err);
}

/* Runs start without faults and checks that its job succeeds. */
static void
request_ok(world_t *w, const run_t *r, start_fn start, const char *arg)
{
    err_t err = {0};
    json_t *job = request(w, r, start, arg, &err);

    if (job == NULL)
        fail_msg("preparing a run: %s", err.message);
    world_wait_status(w->f->st, job, "succeeded");
}

/* Prepares a run of op, without faults. */
static void
prepare(world_t *w, const op_t *op, run_t *r)
{
    err_t err = {0};
    json_t *job;

    memset(r, 0, sizeof(*r));
    if (op->own_plan) {
        json_t *plan = make(api_catalog_plan_create, w->f->st,
                                  json_pack("{s:s, s:s, s:[s], s:[s], s:s}", "name", "p",
                                            "cloudId", id_of(w->cloud), "imageIds",
                                            id_of(w->image), "sizeNames", "S", "checkpointMode",
                                            "createViewRestore"));
        json_decref(w->plan);
        w->plan = plan;
    }
    loop_new_subscription(w);
    if (op->prep == PREP_ROLE) {
        job = request(w, r, start_role, "one", &err);
        assert_non_null(job);
        snprintf(r->role, sizeof(r->role), "%s", json_string_value(json_object_get(job, "resourceId")));
        world_wait_status(w->f->st, job, "succeeded");
    }
    if (op->prep == PREP_NONE || op->prep == PREP_ROLE)
        return;
    job = request(w, r, start_vm_create, NULL, &err);
    assert_non_null(job);
    snprintf(r->vm, sizeof(r->vm), "%s", json_string_value(json_object_get(job, "resourceId")));
    world_wait_status(w->f->st, job, "succeeded");
    if (op->prep == PREP_STOPPED)
        request_ok(w, r, start_action, "stop");
    if (op->prep == PREP_CHECKPOINT)
        request_ok(w, r, start_checkpoint, "create");
}

/* The ownership rule on the world's host: every VM the host has is owned by a record (by its hypervisor
 * id) that holds its storage there, and its compute unless the host has it deallocated. */
static bool
find_unowned(world_t *w, const char *what, char *msg, size_t size)
{
    agent_call_t c = {"inventory", 0, NULL};
    agent_vm_list_t list = {0};
    agent_err_t aerr = {0};
    err_t err = {0};
    agent_t *a = hostreg_agent(w->f->st, id_of(w->host), &err);
    bool bad = false;
    json_t *recs, *rec;
    size_t i;

    assert_non_null(a);
    assert_int_equal(agent_inventory(a, &c, &list, &aerr), 0);
    for (i = 0; i < list.n && !bad; i++) {
        const agent_vm_info_t *hv = &list.vms[i];
        store_filter_t f = {.field = "hypervisorId", .op = STORE_FILTER_EQ, .value = hv->hypervisor_id};

        recs = store_rec_list_all(w->f->st, &store_kind_vm, &f, 1, &err);
        assert_non_null(recs);
        rec = json_array_get(recs, 0);
        if (json_array_size(recs) != 1) {
            snprintf(msg, size, "%s: the host has VM %s (of wapd VM '%s'), which %zu records own", what,
                     hv->hypervisor_id, hv->vm_id, json_array_size(recs));
            bad = true;
        } else if (!json_is_true(json_object_get(rec, "_holdsStorage")) ||
                   (hv->power != AGENT_VM_DEALLOCATED &&
                    !json_is_true(json_object_get(rec, "_holdsCompute")))) {
            snprintf(msg, size, "%s: the host has VM %s, whose record (%s, %s) holds less than it takes",
                     what, hv->hypervisor_id, jget_str(rec, "provisioningState"),
                     jget_str(rec, "powerState"));
            bad = true;
        }
        json_decref(recs);
    }
    agent_vm_list_free(&list);
    return bad;
}

static void
check_host_owned(world_t *w, const char *what)
{
    char msg[512];

    if (find_unowned(w, what, msg, sizeof(msg)))
        fail_msg("%s", msg);
}

/* The loop: run op with the Nth call of cls failing (flags as fault_arm_flags), N = 1, 1 + stride,
 * 1 + 2 stride ... until no failure was injected; every run ends with every job final and nothing leaked.
 * A stride of 1 fails every call in turn; a larger one a sample of them, spread over the whole
 * operation. Returns how many runs met a fault. */
static int
fault_loop_stride(world_t *w, const op_t *op, fault_class_t cls, unsigned flags, long stride)
{
    char what[128];
    const char *status;
    int64_t before[3];
    err_t err = {0};
    json_t *job, *done;
    bool fired;
    run_t r;
    long n;

    for (n = 1; n <= (cls == FAULT_ALLOC ? 2000 : LOOP_MAX_RUNS); n += stride) {
        prepare(w, op, &r);
        loop_host_allocated(w, before);
        snprintf(what, sizeof(what), "%s with %s call %ld failing%s", op->kind,
                 cls == FAULT_STORE ? "store" : cls == FAULT_ALLOC ? "allocation" : "agent", n,
                 flags & FAULT_PERMANENT ? " permanently" : "");
        world_ctx(w);
        fault_arm_flags(cls, n, flags);
        job = request(w, &r, op->start, op->arg, &err);
        if (job == NULL)
            fail_msg("%s: the request was refused: %s", what, err.message);
        loop_wait_all_final(w->f->st);
        fired = fault_fired(cls);
        fault_arm(cls, 0);
        done = world_wait(w->f->st, job);
        status = json_string_value(json_object_get(done, "status"));
        if (strcmp(status, "succeeded") != 0 && strcmp(status, "failed") != 0)
            fail_msg("%s: the job ended %s", what, status);
        loop_check_no_leak(w, what);
        if (op->audit_host)
            check_host_owned(w, what);
        if (op->creates && strcmp(status, "failed") == 0)
            loop_check_nothing_held(w, before, what);
        json_decref(done);
        json_decref(job);
        if (!fired)
            return (int) ((n - 1) / stride);
    }
    fail_msg("%s: still meeting faults after %ld calls", op->kind, n - 1);
    return -1;
}

static int
fault_loop(world_t *w, const op_t *op, fault_class_t cls, unsigned flags)
{
    return fault_loop_stride(w, op, cls, flags, 1);
}

static const op_t *current;

static int
op_setup(void **state)
{
    current = *state;
    return loop_setup(state);
}

/* Every loop of one job kind. Every kind but plan.update (which only writes records) makes at least one
 * agent call, and every kind makes store calls in its steps, so those loops must meet faults. */
static void
op_loops(void **state)
{
    world_t *w = *state;
    int agent_faults = fault_loop(w, current, FAULT_AGENT, FAULT_PERMANENT);

    assert_true(strcmp(current->kind, "plan.update") == 0 ? agent_faults == 0 : agent_faults >= 1);
    assert_true(fault_loop(w, current, FAULT_STORE, FAULT_IN_STEPS) >= 1);
    if (current->transient)
        assert_true(fault_loop(w, current, FAULT_AGENT, 0) >= 1);
    /* A VM create's steps make some 800 allocations, each failed in turn; failing every allocation of
     * every kind would keep make test busy too long, so the other kinds fail every 29th (a stride prime
     * to the loops' own periods), which still reaches each step of each kind. checkpoint.prune has no
     * fixed set of allocations to walk: its last step polls the delete jobs it started, allocating on
     * each pass for as long as they run; those jobs' own kind is looped above. */
    if (strcmp(current->kind, "checkpoint.prune") != 0)
        assert_true(fault_loop_stride(w, current, FAULT_ALLOC, FAULT_IN_STEPS,
                                      strcmp(current->kind, "vm.create") == 0 ? 1 : 29) >= 1);
}

/* The countdown itself: the nth hit fails, once, and says so; classes count apart; a permanent fault
 * says so; a fault armed for steps counts only the calls made inside one. */
static void
countdown_fails_the_nth_call_once(void **state)
{
    (void) state;
    fault_arm(FAULT_ALLOC, 3);
    assert_false(fault_hit(FAULT_ALLOC));
    assert_false(fault_hit(FAULT_ALLOC));
    assert_false(fault_fired(FAULT_ALLOC));
    assert_false(fault_hit(FAULT_STORE));
    assert_true(fault_hit(FAULT_ALLOC));
    assert_true(fault_fired(FAULT_ALLOC));
    assert_false(fault_hit(FAULT_ALLOC));
    assert_int_equal(fault_calls(FAULT_ALLOC), 4);
    assert_false(fault_permanent(FAULT_ALLOC));
    fault_arm(FAULT_ALLOC, 0);
    assert_false(fault_fired(FAULT_ALLOC));
    assert_false(fault_hit(FAULT_ALLOC));
    fault_arm_flags(FAULT_AGENT, 2, FAULT_PERMANENT | FAULT_IN_STEPS);
    assert_true(fault_permanent(FAULT_AGENT));
    assert_false(fault_hit(FAULT_AGENT)); /* outside a step: not counted */
    assert_false(fault_hit(FAULT_AGENT));
    fault_step_enter();
    assert_false(fault_hit(FAULT_AGENT));
    assert_true(fault_hit(FAULT_AGENT));
    fault_step_leave();
    assert_int_equal(fault_calls(FAULT_AGENT), 2);
    fault_arm(FAULT_AGENT, 0);
    assert_false(fault_permanent(FAULT_AGENT));
}

/* ---- the undo of a failed job ---- */

/* A kind whose first step fails and whose cleanup confirms its undo only once undo_until tries have run. */
static int undo_tries, undo_until, undo_step_calls, undo_failed_calls, undo_tries_seen;

static job_step_result_t
undo_step(job_ctx_t *ctx, err_t *err)
{
    (void) ctx;
    __atomic_add_fetch(&undo_step_calls, 1, __ATOMIC_SEQ_CST);
    err_set(err, ERR_HOST_FAILED, NULL, "The host refused the change (test).");
    return JOB_STEP_FAILED;
}

static void
undo_cleanup(job_ctx_t *ctx)
{
    int n = __atomic_add_fetch(&undo_tries, 1, __ATOMIC_SEQ_CST);

    json_object_set_new(job_ctx_data(ctx), "tries", json_integer(n));
    if (n < __atomic_load_n(&undo_until, __ATOMIC_SEQ_CST))
        job_ctx_undo_pending(ctx);
}

static int
undo_on_failed(job_ctx_t *ctx, err_t *err)
{
    (void) err;
    assert_string_equal(job_ctx_status(ctx), "failed");
    __atomic_add_fetch(&undo_failed_calls, 1, __ATOMIC_SEQ_CST);
    undo_tries_seen = __atomic_load_n(&undo_tries, __ATOMIC_SEQ_CST);
    return 0;
}

static const job_step_def_t undo_steps[] = {{"makeOnHost", undo_step}, {"next", undo_step}, {NULL, NULL}};
static const job_kind_def_t undo_kind = {
    "test.undo", undo_steps, 60000, undo_on_failed, undo_cleanup, NULL, NULL,
};

/* Waits (polling, generous deadline) until the cleanup has run at least n times. */
static void
wait_undo_tries(int n)
{
    int64_t deadline = util_now_ms() + 30000;

    while (__atomic_load_n(&undo_tries, __ATOMIC_SEQ_CST) < n) {
        assert_true(util_now_ms() < deadline);
        usleep(2000);
    }
}

/* The job's status as its row and views say now. */
static void
job_status_is(store_t *st, const json_t *job, const char *status)
{
    err_t err = {0};
    json_t *j = job_get(st, id_of(job), NULL, NULL, &err);

    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), status);
    json_decref(j);
}

/* A failed job whose cleanup has not undone its work stays running, its cleanup tried again after a
 * backoff, and across a restart of the engine, straight to its end (the failed step is not run again);
 * on_failed runs once, after the undo, and the job ends failed with its step's error. */
static void
failed_job_ends_only_once_undone(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    err_t err = {0};
    json_t *job, *done, *step;

    assert_int_equal(job_kind_register(&undo_kind), 0);
    undo_tries = undo_step_calls = undo_failed_calls = undo_tries_seen = 0;
    undo_until = 1000000;
    job = job_submit(st, "test.undo", "r-1", NULL, NULL, NULL, &err);
    assert_non_null(job);
    wait_undo_tries(2);
    job_status_is(st, job, "running");
    assert_int_equal(undo_failed_calls, 0);
    /* A restart while the undo is pending: the job resumes at its end. */
    job_engine_stop();
    job_status_is(st, job, "running");
    __atomic_store_n(&undo_until, undo_tries + 1, __ATOMIC_SEQ_CST);
    assert_int_equal(job_engine_start(st, 2, &err), 0);
    done = world_wait(st, job);
    assert_string_equal(jget_str(done, "status"), "failed");
    assert_string_equal(jget_str(json_object_get(done, "error"), "code"), "HostOperationFailed");
    step = json_array_get(json_object_get(done, "steps"), 0);
    assert_string_equal(jget_str(step, "status"), "failed");
    assert_string_equal(jget_str(json_array_get(json_object_get(done, "steps"), 1), "status"),
                        "pending");
    assert_int_equal(undo_step_calls, 1);
    assert_int_equal(undo_failed_calls, 1);
    assert_int_equal(undo_tries_seen, undo_until);
    assert_int_equal(undo_tries, undo_until);
    json_decref(done);
    json_decref(job);
}

/* A VM create whose start fails removes the VM it made from the host before the job ends failed: the
 * host has no VM of it, the record is failed and holds nothing. */
static void
failed_start_removes_the_vm(void **state)
{
    world_t *w = *state;
    int64_t before[3];
    err_t err = {0};
    json_t *job, *done;
    run_t r;

    memset(&r, 0, sizeof(r));
    loop_new_subscription(w);
    loop_host_allocated(w, before);
    world_ctx(w);
    /* The second agent call of the job's steps is the start (the first made the VM). */
    fault_arm_flags(FAULT_AGENT, 2, FAULT_PERMANENT | FAULT_IN_STEPS);
    job = request(w, &r, start_vm_create, NULL, &err);
    assert_non_null(job);
    done = world_wait(w->f->st, job);
    assert_true(fault_fired(FAULT_AGENT));
    fault_arm(FAULT_AGENT, 0);
    assert_string_equal(jget_str(done, "status"), "failed");
    assert_string_equal(jget_str(json_array_get(json_object_get(done, "steps"), 1), "name"), "startVm");
    assert_string_equal(jget_str(json_array_get(json_object_get(done, "steps"), 1), "status"), "failed");
    world_vm_is(w->f->st, jget_str(job, "resourceId"), "provisioningState", "failed");
    check_host_owned(w, "vm.create with its start failing");
    loop_check_no_leak(w, "vm.create with its start failing");
    loop_check_nothing_held(w, before, "vm.create with its start failing");
    json_decref(done);
    json_decref(job);
}

int
main(void)
{
    struct CMUnitTest tests[3 + sizeof(ops) / sizeof(ops[0])];
    size_t i;

    tests[0] = (struct CMUnitTest) cmocka_unit_test(countdown_fails_the_nth_call_once);
    tests[1] = (struct CMUnitTest) cmocka_unit_test_setup_teardown(failed_job_ends_only_once_undone,
                                                                    loop_setup, loop_teardown);
    tests[2] = (struct CMUnitTest) cmocka_unit_test_setup_teardown(failed_start_removes_the_vm,
                                                                    loop_setup, loop_teardown);
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        tests[i + 3] = (struct CMUnitTest){ops[i].kind, op_loops, op_setup, loop_teardown,
                                           (void *) &ops[i]};
    util_alloc_install();
    return cmocka_run_group_tests_name("fault loops over job kinds", tests, NULL, NULL);
}
