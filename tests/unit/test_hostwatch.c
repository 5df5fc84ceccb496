/* Unit tests of lib/hostwatch: a remote host that stops answering is unreachable after exactly three
 * failed heartbeats (one event, its VMs unknown, placement avoiding it, job steps on it ending
 * HostUnreachable at their deadline), comes back ok with one event and an inventory sync that restores its
 * VMs' true state, a host in maintenance is left to the admin, and the daemon's thread beats every period.
 * The remote host is a fake driver registered under a test kind, which passes every call to a simulator
 * unless told the host is down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_vm_world.h"

#include "../../lib/events.h"
#include "../../lib/hostwatch.h"
#include "../../lib/placement.h"
#include "../../lib/vm/vmrec.h"

#define FAKE_KIND "remote-test"

/* ---- the fake remote driver ---- */

static int fake_down;      /* atomic: every call fails as if the host did not answer */
static int fake_beats;     /* atomic: host_info calls */

static int
down(agent_err_t *err)
{
    if (!__atomic_load_n(&fake_down, __ATOMIC_SEQ_CST))
        return 0;
    return agent_fail(err, AGENT_ERR_UNREACHABLE, "The host could not be reached.");
}

static int
fake_check_uri(const char *uri, agent_err_t *err)
{
    (void) uri;
    (void) err;
    return 0;
}

/* The host behind it: a simulator of the same host id (its own journal, so this one keeps none). */
static int
fake_open(const agent_conf_t *conf, void **priv, agent_err_t *err)
{
    agent_conf_t inner = *conf;

    inner.uri = "sim://";
    *priv = agent_open("sim", &inner, err);
    return *priv ? 0 : -1;
}

static void
fake_close(void *priv)
{
    agent_close(priv);
}

static int
fake_vm_create(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
               char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    return down(err) ? -1 : agent_vm_create(priv, call, spec, hypervisor_id, err);
}

static int
fake_vm_power(void *priv, const agent_call_t *call, const char *hyp, agent_power_op_t op,
              agent_err_t *err)
{
    return down(err) ? -1 : agent_vm_power(priv, call, hyp, op, err);
}

static int
fake_inventory(void *priv, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err)
{
    return down(err) ? -1 : agent_inventory(priv, call, vms, err);
}

static int
fake_host_info(void *priv, const agent_call_t *call, agent_host_info_t *info, agent_err_t *err)
{
    __atomic_add_fetch(&fake_beats, 1, __ATOMIC_SEQ_CST);
    return down(err) ? -1 : agent_host_info(priv, call, info, err);
}

static const agent_driver_t fake_driver = {
    .name = FAKE_KIND,
    .default_uri = "fake://",
    .remote = true,
    .journals = true, /* the simulator behind it journals */
    .check_uri = fake_check_uri,
    .open = fake_open,
    .close = fake_close,
    .vm_create = fake_vm_create,
    .vm_power = fake_vm_power,
    .inventory = fake_inventory,
    .host_info = fake_host_info,
};

/* ---- the world: the simulated host in maintenance, a remote host that takes the VMs ---- */

typedef struct {
    world_t *w;
    json_t *remote;
    hostwatch_t *hw;
    char vm[UTIL_UUID_LEN + 1];
} watch_t;

/* The catalog's state change alone: the heartbeat's rules are under test here, not the evacuation that
 * the API's PATCH to maintenance starts (lib/evacuate.h). */
static void
host_state_set(store_t *st, const char *id, const char *state)
{
    catalog_host_patch_t patch = {.given = CATALOG_HOST_STATE};
    err_t err = {0};
    json_t *h;

    assert_int_equal(catalog_host_state_parse(state, &patch.state), 0);
    h = catalog_host_update(st, id, &patch, 0, &err);
    assert_non_null(h);
    json_decref(h);
}

static json_t *
remote_host(world_t *w)
{
    return make(api_catalog_host_create, w->f->st,
                json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:i, s:i}}", "name", "remote", "cloudId",
                          id_of(w->cloud), "agent", "kind", FAKE_KIND, "capacity", "cores", 16,
                          "memoryMB", 65536, "storageGB", 1000));
}

static int
watch_setup(void **state)
{
    watch_t *t = calloc(1, sizeof(*t));

    world_setup(state);
    t->w = *state;
    __atomic_store_n(&fake_down, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fake_beats, 0, __ATOMIC_SEQ_CST);
    host_state_set(t->w->f->st, id_of(t->w->host), "maintenance");
    t->remote = remote_host(t->w);
    t->hw = hostwatch_new(t->w->f->st, 500);
    assert_non_null(t->hw);
    world_running_vm(t->w, "vm1", t->vm);
    *state = t;
    return 0;
}

static int
watch_teardown(void **state)
{
    watch_t *t = *state;

    job_engine_set_deadline(0);
    hostwatch_free(t->hw);
    json_decref(t->remote);
    *state = t->w;
    free(t);
    return world_teardown(state);
}

/* ---- what the tests look at ---- */

static const char *
host_state(watch_t *t, char *buf, size_t n)
{
    err_t err = {0};
    json_t *h = store_rec_get(t->w->f->st, &store_kind_host, id_of(t->remote), NULL, &err);

    assert_non_null(h);
    snprintf(buf, n, "%s", json_string_value(json_object_get(h, "state")));
    json_decref(h);
    return buf;
}

#define assert_host_state(t, s)                                                                    \
    do {                                                                                           \
        char buf_[32];                                                                             \
        assert_string_equal(host_state((t), buf_, sizeof(buf_)), (s));                            \
    } while (0)

/* How many events of type the feed holds, each checked to name the remote host and no subscription. */
static int
events_of(watch_t *t, const char *type)
{
    int64_t next = 0;
    err_t err = {0};
    json_t *page = events_page(t->w->f->st, 0, 1000, &next, &err), *ev;
    size_t i;
    int n = 0;

    assert_non_null(page);
    json_array_foreach(page, i, ev) {
        if (strcmp(json_string_value(json_object_get(ev, "type")), type) != 0)
            continue;
        assert_string_equal(json_string_value(json_object_get(ev, "resourceId")), id_of(t->remote));
        assert_true(json_is_null(json_object_get(ev, "subscriptionId")));
        n++;
    }
    json_decref(page);
    return n;
}

static void
beat(watch_t *t)
{
    err_t err = {0};

    if (hostwatch_beat(t->hw, id_of(t->remote), &err) != 0)
        fail_msg("heartbeat not recorded: %s", err.message);
}

static void
go_unreachable(watch_t *t)
{
    __atomic_store_n(&fake_down, 1, __ATOMIC_SEQ_CST);
    beat(t);
    beat(t);
    beat(t);
    assert_host_state(t, "unreachable");
}

/* The host.refresh job of the remote host started last, once it has ended. */
static void
wait_refresh(watch_t *t)
{
    store_filter_t f[2] = {{.field = "kind", .op = STORE_FILTER_EQ, .value = "host.refresh"},
                           {.field = "resourceId", .op = STORE_FILTER_EQ, .value = id_of(t->remote)}};
    int64_t next = 0;
    err_t err = {0};
    json_t *jobs = job_list(t->w->f->st, f, 2, 0, 100, &next, &err);

    assert_non_null(jobs);
    assert_true(json_array_size(jobs) >= 1);
    world_wait_status(t->w->f->st, json_incref(json_array_get(jobs, json_array_size(jobs) - 1)),
                      "succeeded");
    json_decref(jobs);
}

/* ---- the tests ---- */

static void
three_failures_make_a_host_unreachable_once(void **state)
{
    watch_t *t = *state;
    char chosen[UTIL_UUID_LEN + 1];
    err_t err = {0};

    __atomic_store_n(&fake_down, 1, __ATOMIC_SEQ_CST);
    beat(t);
    beat(t);
    assert_int_equal(hostwatch_failures(t->hw, id_of(t->remote)), 2);
    assert_host_state(t, "ok");
    assert_int_equal(events_of(t, "host.unreachable"), 0);
    world_vm_is(t->w->f->st, t->vm, "powerState", "running");
    beat(t);
    assert_host_state(t, "unreachable");
    assert_int_equal(events_of(t, "host.unreachable"), 1);
    world_vm_is(t->w->f->st, t->vm, "powerState", "unknown");
    beat(t);
    beat(t);
    assert_host_state(t, "unreachable");
    assert_int_equal(events_of(t, "host.unreachable"), 1);
    assert_int_equal(events_of(t, "host.reachable"), 0);
    /* The only other host is in maintenance: there is no room anywhere. */
    assert_int_equal(placement_place(t->w->f->st, id_of(t->w->cloud), 1, 512, 1, chosen, &err), -1);
    assert_int_equal(err.code, ERR_NO_CAPACITY);
}

/* A host with more records than one read of lib/hostwatch.c (256) going unreachable: every one of them
 * is unknown. */
static void
every_vm_of_a_large_host_goes_unknown(void **state)
{
    watch_t *t = *state;
    store_t *st = t->w->f->st;
    store_filter_t f[2] = {{.field = "hostId", .op = STORE_FILTER_EQ, .value = id_of(t->remote)},
                           {.field = "powerState", .op = STORE_FILTER_EQ, .value = "unknown"}};
    err_t err = {0};
    vm_rec_t tmpl, vm;
    int i;

    assert_int_equal(vmrec_load(st, NULL, t->vm, &tmpl, NULL, &err), 1);
    assert_string_equal(tmpl.host_id, id_of(t->remote));
    assert_int_equal(store_tx_begin(st, &err), 0);
    for (i = 0; i < 600; i++) {
        vm = tmpl;
        util_uuid(vm.id);
        snprintf(vm.hypervisor_id, sizeof(vm.hypervisor_id), "many-%d", i);
        assert_int_equal(vmrec_insert(st, &vm, &err), 0);
    }
    assert_int_equal(store_tx_commit(st, &err), 0);
    go_unreachable(t);
    assert_int_equal(store_rec_count(st, &store_kind_vm, f, 2, &err), 601);
}

static void
an_answer_makes_it_ok_and_restores_the_true_state(void **state)
{
    watch_t *t = *state;

    go_unreachable(t);
    world_vm_is(t->w->f->st, t->vm, "powerState", "unknown");
    __atomic_store_n(&fake_down, 0, __ATOMIC_SEQ_CST);
    beat(t);
    assert_int_equal(hostwatch_failures(t->hw, id_of(t->remote)), 0);
    assert_host_state(t, "ok");
    assert_int_equal(events_of(t, "host.reachable"), 1);
    wait_refresh(t);
    world_vm_is(t->w->f->st, t->vm, "powerState", "running");
    beat(t);
    assert_int_equal(events_of(t, "host.reachable"), 1);
    assert_int_equal(events_of(t, "host.unreachable"), 1);
}

/* The periodic sweep leaves an unreachable host alone: its refresh could only fail at the deadline. */
static void
the_sweep_leaves_an_unreachable_host_alone(void **state)
{
    watch_t *t = *state;
    err_t err = {0};

    go_unreachable(t);
    assert_int_equal(inventory_sweep(t->w->f->st, &err), 1); /* the world's sim host only */
}

static void
maintenance_is_the_admins(void **state)
{
    watch_t *t = *state;

    host_state_set(t->w->f->st, id_of(t->remote), "maintenance");
    __atomic_store_n(&fake_down, 1, __ATOMIC_SEQ_CST);
    beat(t);
    beat(t);
    beat(t);
    beat(t);
    assert_host_state(t, "maintenance");
    assert_int_equal(events_of(t, "host.unreachable"), 0);
    world_vm_is(t->w->f->st, t->vm, "powerState", "running");
    /* Back to ok by the admin while still silent: the next failure marks it. */
    host_state_set(t->w->f->st, id_of(t->remote), "ok");
    beat(t);
    assert_host_state(t, "unreachable");
    assert_int_equal(events_of(t, "host.unreachable"), 1);
    /* An answer while the admin holds it in maintenance changes nothing. */
    host_state_set(t->w->f->st, id_of(t->remote), "maintenance");
    __atomic_store_n(&fake_down, 0, __ATOMIC_SEQ_CST);
    beat(t);
    assert_host_state(t, "maintenance");
    assert_int_equal(events_of(t, "host.reachable"), 0);
}

/* The job (its view, as the request answered it) once it has ended, checked to have failed
 * HostUnreachable; the request's transaction is committed here (it was opened by the caller). */
static void
assert_ends_host_unreachable(store_t *st, json_t *job, const err_t *err)
{
    err_t cerr = {0};
    json_t *done;

    if (job == NULL)
        fail_msg("request refused: %s", err->message);
    assert_int_equal(store_tx_commit(st, &cerr), 0);
    done = world_wait(st, job);
    assert_string_equal(json_string_value(json_object_get(done, "status")), "failed");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(done, "error"), "code")), "HostUnreachable");
    json_decref(done);
    json_decref(job);
}

static void
a_job_on_an_unreachable_host_ends_host_unreachable(void **state)
{
    watch_t *t = *state;
    store_t *st = t->w->f->st;
    err_t err = {0};

    go_unreachable(t);
    job_engine_set_deadline(500);
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_ends_host_unreachable(st, vm_delete(st, world_ctx(t->w), t->vm, 0, &err), &err);
    /* The VM is still there, its state unknown. */
    world_vm_is(st, t->vm, "powerState", "unknown");
}

/* Before any heartbeat has noticed: the agent's own "unreachable" retries the step, and the job ends
 * HostUnreachable at its deadline too. */
static void
a_step_the_host_cannot_take_ends_host_unreachable(void **state)
{
    watch_t *t = *state;
    store_t *st = t->w->f->st;
    err_t err = {0};

    __atomic_store_n(&fake_down, 1, __ATOMIC_SEQ_CST);
    job_engine_set_deadline(500);
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_ends_host_unreachable(st, vm_action(st, world_ctx(t->w), t->vm, "stop", &err), &err);
    assert_host_state(t, "ok");
    world_vm_is(st, t->vm, "powerState", "unknown");
}

static void
a_round_beats_only_remote_hosts(void **state)
{
    watch_t *t = *state;
    err_t err = {0};

    __atomic_store_n(&fake_down, 1, __ATOMIC_SEQ_CST);
    assert_int_equal(hostwatch_round(t->hw, &err), 0);
    assert_int_equal(__atomic_load_n(&fake_beats, __ATOMIC_SEQ_CST), 1);
    assert_int_equal(hostwatch_failures(t->hw, id_of(t->remote)), 1);
    assert_int_equal(hostwatch_failures(t->hw, id_of(t->w->host)), 0);
    assert_true(agent_kind_remote(FAKE_KIND));
    assert_false(agent_kind_remote("sim"));
}

/* The daemon's thread: one round a second marks the silent host, and stops when asked. */
static void
the_thread_beats_every_period(void **state)
{
    watch_t *t = *state;
    int64_t until = util_now_ms() + 30000;
    char buf[32];
    err_t err = {0};

    __atomic_store_n(&fake_down, 1, __ATOMIC_SEQ_CST);
    assert_int_equal(hostwatch_start(t->w->f->st, 1, &err), 0);
    while (strcmp(host_state(t, buf, sizeof(buf)), "unreachable") != 0) {
        assert_true(util_now_ms() < until);
        usleep(20000);
    }
    hostwatch_stop();
    assert_true(__atomic_load_n(&fake_beats, __ATOMIC_SEQ_CST) >= HOSTWATCH_FAILURES);
    assert_int_equal(events_of(t, "host.unreachable"), 1);
    hostwatch_stop(); /* a second stop does nothing */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(three_failures_make_a_host_unreachable_once, watch_setup,
                                        watch_teardown),
        cmocka_unit_test_setup_teardown(every_vm_of_a_large_host_goes_unknown, watch_setup, watch_teardown),
        cmocka_unit_test_setup_teardown(an_answer_makes_it_ok_and_restores_the_true_state, watch_setup,
                                        watch_teardown),
        cmocka_unit_test_setup_teardown(maintenance_is_the_admins, watch_setup, watch_teardown),
        cmocka_unit_test_setup_teardown(the_sweep_leaves_an_unreachable_host_alone, watch_setup,
                                        watch_teardown),
        cmocka_unit_test_setup_teardown(a_job_on_an_unreachable_host_ends_host_unreachable, watch_setup,
                                        watch_teardown),
        cmocka_unit_test_setup_teardown(a_step_the_host_cannot_take_ends_host_unreachable, watch_setup,
                                        watch_teardown),
        cmocka_unit_test_setup_teardown(a_round_beats_only_remote_hosts, watch_setup, watch_teardown),
        cmocka_unit_test_setup_teardown(the_thread_beats_every_period, watch_setup, watch_teardown),
    };

    if (agent_register(&fake_driver) != 0)
        return 1;
    return cmocka_run_group_tests_name("hostwatch", tests, NULL, NULL);
}
