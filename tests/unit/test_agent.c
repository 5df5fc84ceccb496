/* Unit tests of lib/agent (the dispatch layer) and the simulator driver (lib/agent/sim*.c): its uri, the
 * life of a VM on it, keyed idempotency and durable state, copies that answer AGENT_PENDING, and faults
 * through the decorators agent_open wraps it in. The contract every driver keeps is the conformance suite
 * (test_agent_conformance.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/agent.h"
#include "test_agent_tmp.h"

typedef agent_tmp_t tmp_t;

static int
setup(void **state)
{
    assert_int_equal(agent_builtin_register(), 0);
    *state = agent_tmp_new();
    return 0;
}

static agent_t *
open_sim(tmp_t *t, const char *host, const char *uri, agent_err_t *err)
{
    agent_conf_t conf = {.host_id = host, .uri = uri, .state_dir = t->dir};

    return agent_open("sim", &conf, err);
}

static agent_call_t
call(const char *op, int timeout_ms)
{
    agent_call_t c = {op, timeout_ms, NULL};

    return c;
}

static const agent_disk_spec_t disks[] = {
    {-1, 40, AGENT_CACHING_READ_WRITE, "img-1", NULL},
    {0, 60, AGENT_CACHING_NONE, NULL, NULL},
};

static agent_vm_spec_t
spec_of(const char *vm_id, int ndisks)
{
    agent_vm_spec_t s = {vm_id, vm_id, 2, 3584, 0, 0, 2, disks, ndisks, NULL, 0};

    return s;
}

static size_t
vm_count(agent_t *a)
{
    agent_call_t c = call("inv", 1000);
    agent_vm_list_t vms = {0};
    agent_err_t err;
    size_t n;

    assert_int_equal(agent_inventory(a, &c, &vms, &err), 0);
    n = vms.n;
    agent_vm_list_free(&vms);
    return n;
}

/* The inventory's entry of hyp (no hypervisor id when the host does not have it). */
static agent_vm_info_t
entry_of(agent_t *a, const char *hyp)
{
    agent_call_t c = call("inv", 1000);
    agent_vm_list_t vms = {0};
    const agent_vm_info_t *vm;
    agent_vm_info_t out = {.power = AGENT_VM_UNKNOWN};
    agent_err_t err;

    assert_int_equal(agent_inventory(a, &c, &vms, &err), 0);
    vm = agent_vm_list_find(&vms, hyp);
    if (vm)
        out = *vm;
    agent_vm_list_free(&vms);
    return out;
}

static const char *
power(agent_t *a, const char *hyp)
{
    agent_vm_info_t vm = entry_of(a, hyp);

    return vm.hypervisor_id[0] ? agent_vm_power_name(vm.power) : "";
}

/* What the inventory reports of hyp's guest agent. */
static void
assert_guest(agent_t *a, const char *hyp, const char *want)
{
    agent_vm_info_t vm = entry_of(a, hyp);

    assert_string_equal(vm.hypervisor_id, hyp);
    assert_string_equal(vm.guest_heartbeat, want);
}

/* The sim reports a guest heartbeat for a running VM only: "ok", or what its uri's guestHeartbeat says. */
static void
the_sim_reports_a_guest_heartbeat(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a = open_sim(t, "h1", "sim://", &err);
    agent_vm_spec_t spec = spec_of("web01", 2);
    agent_conf_t conf = {.host_id = "h1", .uri = "sim://?guestHeartbeat=noContact", .state_dir = t->dir};
    agent_call_t c;
    char hyp[AGENT_ID_MAX];

    c = call("create-1", 1000);
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), 0);
    assert_guest(a, hyp, "");
    c = call("start-1", 1000);
    assert_int_equal(agent_vm_power(a, &c, hyp, AGENT_POWER_START, &err), 0);
    assert_guest(a, hyp, "ok");
    assert_int_equal(agent_reconfigure(a, &conf, &err), 0);
    assert_guest(a, hyp, "noContact");
    conf.uri = "sim://?guestHeartbeat=off";
    assert_int_equal(agent_reconfigure(a, &conf, &err), 0);
    assert_guest(a, hyp, "");
    conf.uri = "sim://";
    assert_int_equal(agent_reconfigure(a, &conf, &err), 0);
    assert_guest(a, hyp, "ok");
    c = call("stop-1", 1000);
    assert_int_equal(agent_vm_power(a, &c, hyp, AGENT_POWER_STOP, &err), 0);
    assert_guest(a, hyp, "");
    agent_close(a);
}

static void
dispatch_checks_arguments(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a;
    agent_call_t c = call(NULL, 100);
    agent_vm_spec_t spec = spec_of("vm", 1);
    char hyp[AGENT_ID_MAX];
    agent_conf_t conf = {.host_id = "h", .uri = "", .state_dir = t->dir};

    assert_null(agent_open("vmware", &conf, &err));
    assert_int_equal(err.status, AGENT_ERR_UNSUPPORTED);
    assert_null(open_sim(t, "h", "sim://?bogus=1", &err));
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    assert_true(agent_kind_can_simulate("sim"));
    assert_false(agent_kind_remote("sim"));
    a = open_sim(t, "h", "sim://", &err);
    assert_non_null(a);
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    c.op_id = "op";
    assert_int_equal(agent_vm_delete(a, &c, "", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    assert_int_equal(agent_vm_delete(a, &c, "sim-nope", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    assert_true(agent_kind_known("sim"));
    assert_false(agent_kind_known("vmware"));
    agent_close(a);
}

static void
the_sim_uri(void **state)
{
    static const struct {
        const char *uri, *names;
    } bad[] = {
        {"http://x", "sim://"},
        {"sim://?bogus=1", "bogus"},
        {"sim://?failRate=2", "failRate"},
        {"sim://?latencyMs=x", "latencyMs"},
        {"sim://?copyMBps=fast", "copyMBps"},
        {"sim://?diffGBPerHour=2000000", "diffGBPerHour"},
        {"sim://?guestHeartbeat=maybe", "guestHeartbeat"},
    };
    agent_err_t err;
    size_t i;

    (void) state;
    assert_int_equal(agent_builtin_register(), 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(agent_check_uri("sim", bad[i].uri, &err), -1);
        assert_int_equal(err.status, AGENT_ERR_PERMANENT);
        assert_non_null(strstr(err.message, bad[i].names));
    }
    assert_int_equal(agent_check_uri("sim",
                                     "sim://?latencyMs=200&jitterMs=50&failRate=0.05&hangRate=0.01&"
                                     "diffGBPerHour=1&copyMBps=100&guestHeartbeat=noContact",
                                     &err),
                     0);
    assert_string_equal(agent_default_uri("sim"), "sim://");
}

static void
vm_life_on_the_host(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a = open_sim(t, "h1", "sim://", &err);
    agent_vm_spec_t spec = spec_of("web01", 2);
    agent_disk_spec_t taken = {0, 10, AGENT_CACHING_NONE, NULL, NULL};
    agent_disk_spec_t fresh = {1, 10, AGENT_CACHING_NONE, NULL, NULL};
    agent_call_t c;
    char hyp[AGENT_ID_MAX], cp[AGENT_ID_MAX];

    c = call("create-1", 1000);
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), 0);
    assert_string_equal(power(a, hyp), "stopped");
    c = call("start-1", 1000);
    assert_int_equal(agent_vm_power(a, &c, hyp, AGENT_POWER_START, &err), 0);
    assert_string_equal(power(a, hyp), "running");
    c = call("cp-1", 1000);
    assert_int_equal(agent_checkpoint_create(a, &c, hyp, "before", cp, &err), 0);
    c = call("resize-1", 1000);
    assert_int_equal(agent_vm_reconfigure(a, &c, hyp, 4, 7168, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    c = call("stop-1", 1000);
    assert_int_equal(agent_vm_power(a, &c, hyp, AGENT_POWER_STOP, &err), 0);
    assert_string_equal(power(a, hyp), "stopped");
    c = call("restart-1", 1000);
    assert_int_equal(agent_vm_power(a, &c, hyp, AGENT_POWER_RESTART, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    c = call("resize-2", 1000);
    assert_int_equal(agent_vm_reconfigure(a, &c, hyp, 4, 7168, &err), 0);
    c = call("disk-1", 1000);
    assert_int_equal(agent_disk_attach(a, &c, hyp, &taken, &err), -1); /* lun 0 holds another disk */
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    c = call("disk-2", 1000);
    assert_int_equal(agent_disk_attach(a, &c, hyp, &fresh, &err), 0);
    c = call("disk-3", 1000);
    assert_int_equal(agent_disk_detach(a, &c, hyp, 1, &err), 0);
    /* Restore returns the VM to the power state it had when the checkpoint was taken. */
    c = call("restore-1", 1000);
    assert_int_equal(agent_checkpoint_restore(a, &c, hyp, cp, &err), 0);
    assert_string_equal(power(a, hyp), "running");
    c = call("cp-del", 1000);
    assert_int_equal(agent_checkpoint_delete(a, &c, hyp, cp, &err), 0);
    c = call("dealloc", 1000);
    assert_int_equal(agent_vm_release(a, &c, hyp, &err), 0);
    assert_string_equal(power(a, hyp), "deallocated");
    c = call("delete", 1000);
    assert_int_equal(agent_vm_delete(a, &c, hyp, &err), 0);
    assert_int_equal(vm_count(a), 0);
    agent_close(a);
}

static void
creates_are_keyed_and_state_persists(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a = open_sim(t, "h2", "sim://", &err);
    agent_vm_spec_t spec = spec_of("vm", 1);
    agent_call_t c = call("create-once", 1000);
    char h1[AGENT_ID_MAX], h2[AGENT_ID_MAX];
    agent_host_info_t info;

    assert_int_equal(agent_vm_create(a, &c, &spec, h1, &err), 0);
    assert_int_equal(agent_vm_create(a, &c, &spec, h2, &err), 0);
    assert_string_equal(h1, h2);
    assert_int_equal(vm_count(a), 1);
    agent_close(a);
    /* The host keeps its VMs across a restart, and a create of the same VM under a new operation id
     * (its first answer lost with the journal) answers the VM made before. */
    a = open_sim(t, "h2", "sim://", &err);
    assert_int_equal(vm_count(a), 1);
    c = call("create-again", 1000);
    assert_int_equal(agent_vm_create(a, &c, &spec, h2, &err), 0);
    assert_string_equal(h1, h2);
    assert_int_equal(vm_count(a), 1);
    c = call("info", 1000);
    assert_int_equal(agent_host_info(a, &c, &info, &err), 0);
    assert_int_equal(info.used_cores, 2);
    assert_int_equal(info.vms, 1);
    assert_string_equal(info.backend, "sim");
    agent_close(a);
}

static void
copies_answer_pending_with_progress(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_progress_t progress = {0};
    agent_t *a = open_sim(t, "h5", "sim://?copyMBps=4096", &err);
    agent_disk_spec_t os = {-1, 1, AGENT_CACHING_READ_WRITE, "img-1", NULL};
    agent_vm_spec_t spec = {"vm-copy", "copy", 1, 512, 0, 0, 1, &os, 1, NULL, 0};
    agent_call_t c = {"create-copy", 1000, &progress};
    char hyp[AGENT_ID_MAX] = "";
    struct timespec tick = {0, 10000000L};
    int polls = 0;

    /* 1 GB at 4096 MB/s: a quarter of a second, polled with the same operation id. */
    while (agent_vm_create(a, &c, &spec, hyp, &err) != 0) {
        assert_int_equal(err.status, AGENT_PENDING);
        assert_int_equal(progress.bytes_total, (int64_t) 1 << 30);
        assert_true(progress.bytes_copied < progress.bytes_total);
        assert_true(++polls < 3000);
        nanosleep(&tick, NULL);
    }
    assert_true(polls > 0);
    assert_int_equal(progress.bytes_copied, progress.bytes_total);
    assert_string_equal(power(a, hyp), "stopped");
    agent_close(a);
}

static void
injected_faults(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a = open_sim(t, "h3", "sim://?failRate=1", &err), *b;
    agent_vm_spec_t spec = spec_of("vm", 1);
    agent_call_t c = call("c1", 1000);
    char hyp[AGENT_ID_MAX], op[32], id[32];
    int i, timeouts = 0;

    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    agent_close(a);
    a = open_sim(t, "h3", "sim://?latencyMs=100", &err);
    c = call("slow", 30);
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_TIMEOUT);
    agent_close(a);
    /* Calls that hang may or may not have been carried out; retried with the same operation id on a
     * healthy host, each ends with exactly one VM. */
    a = open_sim(t, "h4", "sim://?hangRate=1", &err);
    for (i = 0; i < 6; i++) {
        snprintf(op, sizeof(op), "hang-%d", i);
        snprintf(id, sizeof(id), "vm-%d", i);
        spec = spec_of(id, 1);
        c = call(op, 10);
        if (agent_vm_create(a, &c, &spec, hyp, &err) != 0 && err.status == AGENT_ERR_TIMEOUT)
            timeouts++;
    }
    assert_int_equal(timeouts, 6);
    agent_close(a);
    b = open_sim(t, "h4", "sim://", &err);
    for (i = 0; i < 6; i++) {
        snprintf(op, sizeof(op), "hang-%d", i);
        snprintf(id, sizeof(id), "vm-%d", i);
        spec = spec_of(id, 1);
        c = call(op, 1000);
        assert_int_equal(agent_vm_create(b, &c, &spec, hyp, &err), 0);
    }
    assert_int_equal(vm_count(b), 6);
    agent_close(b);
}

/* The inventory entry's JSON form carries the assigned memory and the guest heartbeat when reported, leaves
 * them out when not, and refuses a heartbeat it does not know. */
static void
inventory_entry_json(void **state)
{
    agent_vm_info_t vm, back;
    json_t *j;

    (void) state;
    memset(&vm, 0, sizeof(vm));
    strcpy(vm.hypervisor_id, "hv-1");
    vm.power = AGENT_VM_RUNNING;
    vm.memory_mb = 2048;
    j = agent_vm_info_to_json(&vm);
    assert_non_null(j);
    assert_null(json_object_get(j, "assignedMemoryMB"));
    assert_null(json_object_get(j, "guestHeartbeat"));
    assert_int_equal(agent_vm_info_from_json(j, &back), 0);
    assert_int_equal(back.assigned_memory_mb, 0);
    assert_string_equal(back.guest_heartbeat, "");
    json_decref(j);

    vm.assigned_memory_mb = 1024;
    strcpy(vm.guest_heartbeat, "noContact");
    j = agent_vm_info_to_json(&vm);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "assignedMemoryMB")), 1024);
    assert_int_equal(agent_vm_info_from_json(j, &back), 0);
    assert_int_equal(back.assigned_memory_mb, 1024);
    assert_string_equal(back.guest_heartbeat, "noContact");
    json_object_set_new(j, "guestHeartbeat", json_string("maybe"));
    assert_int_equal(agent_vm_info_from_json(j, &back), -1);
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inventory_entry_json),
        cmocka_unit_test_setup_teardown(dispatch_checks_arguments, setup, agent_tmp_teardown),
        cmocka_unit_test(the_sim_uri),
        cmocka_unit_test_setup_teardown(vm_life_on_the_host, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(the_sim_reports_a_guest_heartbeat, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(creates_are_keyed_and_state_persists, setup,
                                        agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(copies_answer_pending_with_progress, setup,
                                        agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(injected_faults, setup, agent_tmp_teardown),
    };

    return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
