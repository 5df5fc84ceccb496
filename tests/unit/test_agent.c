/* Unit tests of lib/agent (the dispatch layer) and lib/agent_sim (the simulated host). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/agent.h"

typedef struct {
    char dir[64];
} tmp_t;

static int
setup(void **state)
{
    tmp_t *t = calloc(1, sizeof(*t));

    snprintf(t->dir, sizeof(t->dir), "/tmp/wapd-agent-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    assert_int_equal(agent_sim_register(), 0);
    *state = t;
    return 0;
}

static int
teardown(void **state)
{
    tmp_t *t = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
    assert_int_equal(system(cmd), 0);
    free(t);
    return 0;
}

static agent_call_t
call(const char *op, int timeout_ms)
{
    agent_call_t c = {op, timeout_ms};

    return c;
}

static size_t
vm_count(agent_t *a)
{
    agent_call_t c = call("inv", 1000);
    agent_err_t err;
    json_t *vms = NULL;
    size_t n;

    assert_int_equal(agent_inventory(a, &c, &vms, &err), 0);
    n = json_array_size(vms);
    json_decref(vms);
    return n;
}

static const char *
power(agent_t *a, const char *hyp)
{
    static char ps[32];
    agent_call_t c = call("inv", 1000);
    agent_err_t err;
    json_t *vms = NULL, *vm;
    size_t i;

    ps[0] = '\0';
    assert_int_equal(agent_inventory(a, &c, &vms, &err), 0);
    json_array_foreach(vms, i, vm)
        if (strcmp(json_string_value(json_object_get(vm, "hypervisorId")), hyp) == 0)
            snprintf(ps, sizeof(ps), "%s", json_string_value(json_object_get(vm, "powerState")));
    json_decref(vms);
    return ps;
}

static void
dispatch_checks_arguments(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a;
    agent_call_t c = call(NULL, 100);
    agent_vm_spec_t spec = {"vm", 1, 512, 10, NULL};
    char hyp[AGENT_ID_MAX];

    assert_null(agent_open("vmware", "h", "", t->dir, &err));
    assert_int_equal(err.status, AGENT_ERR_UNSUPPORTED);
    assert_null(agent_open("sim", "h", "sim://?bogus=1", t->dir, &err));
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    a = agent_open("sim", "h", "sim://", t->dir, &err);
    assert_non_null(a);
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    c.op_id = "op";
    assert_int_equal(agent_vm_delete(a, &c, "", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    assert_int_equal(agent_vm_delete(a, &c, "sim-nope", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    assert_true(agent_kind_known("sim"));
    assert_false(agent_kind_known("libvirt"));
    agent_close(a);
}

static void
vm_life_on_the_host(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a = agent_open("sim", "h1", "sim://", t->dir, &err);
    json_t *disks = json_pack("[{s:i, s:i}]", "lun", 0, "sizeGB", 60);
    agent_vm_spec_t spec = {"web01", 2, 3584, 40, disks};
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
    c = call("stop-2", 1000);
    assert_int_equal(agent_vm_power(a, &c, hyp, AGENT_POWER_SHUTDOWN, &err), -1);
    c = call("resize-2", 1000);
    assert_int_equal(agent_vm_reconfigure(a, &c, hyp, 4, 7168, &err), 0);
    c = call("disk-1", 1000);
    assert_int_equal(agent_disk_attach(a, &c, hyp, 0, 10, &err), -1); /* lun 0 is taken */
    c = call("disk-2", 1000);
    assert_int_equal(agent_disk_attach(a, &c, hyp, 1, 10, &err), 0);
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
    json_decref(disks);
    agent_close(a);
}

static void
operation_ids_apply_once_and_state_persists(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a = agent_open("sim", "h2", "sim://", t->dir, &err);
    agent_vm_spec_t spec = {"vm", 1, 512, 10, NULL};
    agent_call_t c = call("create-once", 1000);
    char h1[AGENT_ID_MAX], h2[AGENT_ID_MAX];
    json_t *info = NULL;

    assert_int_equal(agent_vm_create(a, &c, &spec, h1, &err), 0);
    assert_int_equal(agent_vm_create(a, &c, &spec, h2, &err), 0);
    assert_string_equal(h1, h2);
    assert_int_equal(vm_count(a), 1);
    agent_close(a);
    /* The host keeps its VMs and its record of answers across a restart. */
    a = agent_open("sim", "h2", "sim://", t->dir, &err);
    assert_int_equal(vm_count(a), 1);
    assert_int_equal(agent_vm_create(a, &c, &spec, h2, &err), 0);
    assert_string_equal(h1, h2);
    assert_int_equal(vm_count(a), 1);
    c = call("info", 1000);
    assert_int_equal(agent_host_info(a, &c, &info, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(info, "cores")), 1);
    json_decref(info);
    agent_close(a);
}

static void
injected_faults(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a = agent_open("sim", "h3", "sim://?failRate=1", t->dir, &err), *b;
    agent_vm_spec_t spec = {"vm", 1, 512, 10, NULL};
    agent_call_t c = call("c1", 1000);
    char hyp[AGENT_ID_MAX];
    int i, timeouts = 0;

    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    agent_close(a);
    a = agent_open("sim", "h3", "sim://?latencyMs=100", t->dir, &err);
    c = call("slow", 30);
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_TIMEOUT);
    agent_close(a);
    /* Calls that hang may or may not have been carried out; retried with the same operation id on a
     * healthy host, each ends with exactly one VM. */
    a = agent_open("sim", "h4", "sim://?hangRate=1", t->dir, &err);
    for (i = 0; i < 6; i++) {
        char op[32];
        snprintf(op, sizeof(op), "hang-%d", i);
        c = call(op, 10);
        if (agent_vm_create(a, &c, &spec, hyp, &err) != 0 && err.status == AGENT_ERR_TIMEOUT)
            timeouts++;
    }
    assert_int_equal(timeouts, 6);
    agent_close(a);
    b = agent_open("sim", "h4", "sim://", t->dir, &err);
    for (i = 0; i < 6; i++) {
        char op[32];
        snprintf(op, sizeof(op), "hang-%d", i);
        c = call(op, 1000);
        assert_int_equal(agent_vm_create(b, &c, &spec, hyp, &err), 0);
    }
    assert_int_equal(vm_count(b), 6);
    agent_close(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(dispatch_checks_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(vm_life_on_the_host, setup, teardown),
        cmocka_unit_test_setup_teardown(operation_ids_apply_once_and_state_persists, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(injected_faults, setup, teardown),
    };

    return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
