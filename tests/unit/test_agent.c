/* Unit tests of lib/agent (the dispatch layer) and lib/agent_sim (the simulated host). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
    assert_int_equal(agent_builtin_register(), 0);
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
    agent_call_t c = {op, timeout_ms, NULL};

    return c;
}

static agent_t *
open_sim(const tmp_t *t, const char *host, const char *uri, agent_err_t *err)
{
    agent_conf_t conf = {.host_id = host, .uri = uri, .state_dir = t->dir};

    return agent_open("sim", &conf, err);
}

static const agent_disk_spec_t os_disk[] = {{-1, 10, AGENT_CACHING_READ_WRITE, "img", NULL},
                                            {0, 60, AGENT_CACHING_NONE, NULL, NULL}};
static const agent_nic_spec_t nic = {"net-1", "00:15:5d:00:00:01", "10.0.0.4"};

/* A VM spec of id vm_id: one core, 512 MB, an OS disk (and a data disk at lun 0 with data). */
static agent_vm_spec_t
vm_spec(const char *vm_id, const char *name, bool data)
{
    agent_vm_spec_t s = {.vm_id = vm_id, .name = name, .cores = 1, .memory_mb = 512,
                         .generation = 2, .disks = os_disk, .ndisks = data ? 2 : 1, .nics = &nic,
                         .nnics = 1};

    return s;
}

static size_t
vm_count(agent_t *a)
{
    agent_call_t c = call("inv", 1000);
    agent_err_t err;
    agent_vm_list_t vms;
    size_t n;

    assert_int_equal(agent_inventory(a, &c, &vms, &err), 0);
    n = vms.n;
    agent_vm_list_free(&vms);
    return n;
}

static const char *
power(agent_t *a, const char *hyp)
{
    static char ps[32];
    agent_call_t c = call("inv", 1000);
    agent_err_t err;
    agent_vm_list_t vms;
    const agent_vm_info_t *vm;

    ps[0] = '\0';
    assert_int_equal(agent_inventory(a, &c, &vms, &err), 0);
    if ((vm = agent_vm_list_find(&vms, hyp)) != NULL)
        snprintf(ps, sizeof(ps), "%s", agent_vm_power_name(vm->power));
    agent_vm_list_free(&vms);
    return ps;
}

static void
dispatch_checks_arguments(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a;
    agent_call_t c = call(NULL, 100);
    agent_vm_spec_t spec = vm_spec("vm-1", "vm", false);
    agent_conf_t conf = {.host_id = "h", .uri = "", .state_dir = t->dir};
    char hyp[AGENT_ID_MAX];

    assert_null(agent_open("vmware", &conf, &err));
    assert_int_equal(err.status, AGENT_ERR_UNSUPPORTED);
    assert_null(open_sim(t, "h", "sim://?bogus=1", &err));
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    assert_int_equal(agent_check_uri("sim", "sim://?failRate=2", &err), -1);
    assert_non_null(strstr(err.message, "failRate"));
    assert_int_equal(agent_check_uri("sim", "sim://?latencyMs=5&hangRate=0.5", &err), 0);
    assert_string_equal(agent_default_uri("sim"), "sim://");
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
vm_life_on_the_host(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a = open_sim(t, "h1", "sim://", &err);
    agent_vm_spec_t spec = vm_spec("vm-web01", "web01", true);
    agent_disk_spec_t lun0 = {0, 10, AGENT_CACHING_NONE, NULL, NULL};
    agent_disk_spec_t lun1 = {1, 10, AGENT_CACHING_NONE, NULL, NULL};
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
    c = call("stop-2", 1000); /* already stopped: where the action leads */
    assert_int_equal(agent_vm_power(a, &c, hyp, AGENT_POWER_SHUTDOWN, &err), 0);
    c = call("resize-2", 1000);
    assert_int_equal(agent_vm_reconfigure(a, &c, hyp, 4, 7168, &err), 0);
    c = call("disk-1", 1000);
    assert_int_equal(agent_disk_attach(a, &c, hyp, &lun0, &err), -1); /* lun 0 is taken */
    c = call("disk-2", 1000);
    assert_int_equal(agent_disk_attach(a, &c, hyp, &lun1, &err), 0);
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
operation_ids_apply_once_and_state_persists(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a = open_sim(t, "h2", "sim://", &err);
    agent_vm_spec_t spec = vm_spec("vm-once", "vm", false);
    agent_call_t c = call("create-once", 1000);
    char h1[AGENT_ID_MAX], h2[AGENT_ID_MAX];
    agent_host_info_t info;

    assert_int_equal(agent_vm_create(a, &c, &spec, h1, &err), 0);
    assert_int_equal(agent_vm_create(a, &c, &spec, h2, &err), 0);
    assert_string_equal(h1, h2);
    assert_int_equal(vm_count(a), 1);
    agent_close(a);
    /* The host keeps its VMs and its record of answers across a restart. */
    a = open_sim(t, "h2", "sim://", &err);
    assert_int_equal(vm_count(a), 1);
    assert_int_equal(agent_vm_create(a, &c, &spec, h2, &err), 0);
    assert_string_equal(h1, h2);
    assert_int_equal(vm_count(a), 1);
    /* A create is keyed by the VM id: another operation id for the same VM answers that VM. */
    c = call("create-again", 1000);
    assert_int_equal(agent_vm_create(a, &c, &spec, h2, &err), 0);
    assert_string_equal(h1, h2);
    assert_int_equal(vm_count(a), 1);
    c = call("info", 1000);
    assert_int_equal(agent_host_info(a, &c, &info, &err), 0);
    assert_int_equal(info.vms, 1);
    assert_int_equal(info.used_cores, 1);
    assert_string_equal(info.backend, "sim");
    agent_close(a);
}

static void
injected_faults(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    agent_t *a = open_sim(t, "h3", "sim://?failRate=1", &err), *b;
    agent_vm_spec_t spec = vm_spec("vm-f", "vm", false);
    agent_call_t c = call("c1", 1000);
    char hyp[AGENT_ID_MAX];
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
        char op[32], id[32];
        snprintf(op, sizeof(op), "hang-%d", i);
        snprintf(id, sizeof(id), "vm-hang-%d", i);
        spec.vm_id = id;
        c = call(op, 10);
        if (agent_vm_create(a, &c, &spec, hyp, &err) != 0 && err.status == AGENT_ERR_TIMEOUT)
            timeouts++;
    }
    assert_int_equal(timeouts, 6);
    agent_close(a);
    b = open_sim(t, "h4", "sim://", &err);
    for (i = 0; i < 6; i++) {
        char op[32], id[32];
        snprintf(op, sizeof(op), "hang-%d", i);
        snprintf(id, sizeof(id), "vm-hang-%d", i);
        spec.vm_id = id;
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
