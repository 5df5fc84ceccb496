/* The fault loops over a VM create request: the Nth store call (FAULT_STORE), then the Nth allocation
 * (FAULT_ALLOC: jansson's and the project's own, see util_alloc_install), of the request fails, N = 1, 2,
 * ... until the request succeeds. Each failed run answers an error and leaves nothing behind: no VM
 * record, no job, quota counters equal to their recomputation, the host's allocation unchanged and equal
 * to what its VMs hold, no address taken on the VM's network. A run the request survived (a failed
 * allocation it could do without) leaves nothing leaked either. The job engine is stopped while the
 * request runs, so the calls counted are the request's own (as the pipeline makes them: the context
 * loaded once, one transaction); the job of the run that met no fault then runs to its end. */
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

/* A loop gives up (and fails) after this many runs that all met a fault: a create makes a few dozen
 * store calls and several hundred allocations. */
static const long max_runs[FAULT_NCLASSES] = {[FAULT_STORE] = LOOP_MAX_RUNS, [FAULT_ALLOC] = 4000};
static const char *const class_names[FAULT_NCLASSES] = {[FAULT_STORE] = "store call",
                                                        [FAULT_ALLOC] = "allocation"};

/* What a JSON value looks like, whatever its values: each scalar replaced by its type's name, each
 * object's keys and each array's items kept (new reference). Two VMs created alike have the same shape. */
static json_t *
shape(const json_t *v)
{
    static const char *const names[] = {"object", "array", "string", "integer", "real", "true",
                                        "false", "null"};
    const char *key;
    json_t *out, *item;
    size_t i;

    if (json_is_object(v)) {
        out = json_object();
        json_object_foreach((json_t *) v, key, item)
            json_object_set_new(out, key, shape(item));
    } else if (json_is_array(v)) {
        out = json_array();
        json_array_foreach(v, i, item)
            json_array_append_new(out, shape(item));
    } else {
        out = json_string(names[json_typeof(v)]);
    }
    return out;
}

/* The shapes of the VM a create without a fault answered and stored (set by the loop's first run). */
static json_t *answered, *stored;

/* A request that survived a failed allocation answered and stored the VM a request without a fault
 * would have: nothing silently dropped. The first run, without a fault, sets the shapes to compare with. */
static void
check_shapes(world_t *w, const json_t *vm, const char *what)
{
    err_t err = {0};
    json_t *rec = store_rec_get(w->f->st, &store_kind_vm, id_of(vm), NULL, &err), *a, *s;

    if (rec == NULL)
        fail_msg("%s: the VM created cannot be read: %s", what, err.message);
    a = shape(vm);
    s = shape(rec);
    json_decref(rec);
    if (answered == NULL) {
        answered = a;
        stored = s;
        return;
    }
    if (!json_equal(a, answered) || !json_equal(s, stored))
        fail_msg("%s: the VM %s differs from a VM created without a fault", what,
                 json_equal(a, answered) ? "stored" : "answered");
    json_decref(a);
    json_decref(s);
}

/* One run: a new subscription with a network, then the create with the Nth call of class cls failing;
 * *fired says whether a fault was injected. Answers the create's job when the request succeeded, NULL
 * when it answered an error (checked to have left nothing). */
static json_t *
run_create(world_t *w, fault_class_t cls, long n, bool *fired)
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
    fault_arm(cls, n);
    if (store_tx_begin(st, &err) == 0)
        vm = loop_commit_or_roll_back(st, vm_create(st, &w->ctx, &req, &job, &err), &err);
    *fired = fault_fired(cls);
    fault_arm(cls, 0);
    snprintf(what, sizeof(what), "a VM create with %s %ld failing", class_names[cls], n);
    if (vm == NULL) {
        if (err.code == ERR_NONE || err.message[0] == '\0')
            fail_msg("%s: no error was answered", what);
        assert_true(*fired); /* without a fault the request succeeds */
        if (cls == FAULT_ALLOC && err.code != ERR_INTERNAL)
            fail_msg("%s: answered %s \"%s\", not an internal error", what, err_code_name(err.code),
                     err.message);
        json_decref(job);
        job = NULL;
        assert_int_equal(owned(w, &store_kind_vm), 0);
        assert_int_equal(store_rec_count(st, &store_kind_job, NULL, 0, &err), jobs);
        assert_int_equal(store_ip_count(st, id_of(net), &err), 0);
        loop_check_nothing_held(w, before, what);
    } else if (cls == FAULT_ALLOC) {
        check_shapes(w, vm, what);
    }
    loop_check_no_leak(w, what);
    json_decref(vm);
    json_decref(net);
    return job;
}

/* Runs the create with each call of class cls failing in turn, then lets the job of the run that met no
 * fault end. */
static void
loop_create(world_t *w, fault_class_t cls)
{
    json_t *job = NULL;
    err_t err = {0};
    bool fired = true;
    long n;

    job_engine_stop();
    if (cls == FAULT_ALLOC) { /* the shapes of a VM created without a fault */
        job = run_create(w, cls, 0, &fired);
        assert_false(fired);
        fired = true;
    }
    for (n = 1; n <= max_runs[cls] && fired; n++) {
        json_decref(job); /* a run that met a fault the request survived: its job runs later */
        job = run_create(w, cls, n, &fired);
    }
    if (fired)
        fail_msg("the create still met %s faults after %ld runs", class_names[cls], max_runs[cls]);
    assert_non_null(job);
    assert_true(n > 4); /* the request met faults at several different calls */
    json_decref(answered);
    json_decref(stored);
    answered = stored = NULL;
    assert_int_equal(job_engine_start(w->f->st, 2, &err), 0);
    world_wait_status(w->f->st, job, "succeeded");
    loop_wait_all_final(w->f->st);
    loop_check_no_leak(w, "the VM create that succeeded");
}

static void
vm_create_request_under_store_faults(void **state)
{
    loop_create(*state, FAULT_STORE);
}

static void
vm_create_request_under_alloc_faults(void **state)
{
    loop_create(*state, FAULT_ALLOC);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(vm_create_request_under_store_faults, loop_setup,
                                        loop_teardown),
        cmocka_unit_test_setup_teardown(vm_create_request_under_alloc_faults, loop_setup,
                                        loop_teardown),
    };

    util_alloc_install();
    return cmocka_run_group_tests_name("fault loops over a VM create request", tests, NULL, NULL);
}
