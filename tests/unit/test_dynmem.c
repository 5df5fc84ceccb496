/* Unit tests of dynamic memory: the bounds check a size's and a VM's create share (lib/catalog/dynmem.c)
 * and the 400 targets it names, its JSON forms, the bounds a VM's agent spec is given (vmstep_fill_spec),
 * and the memory the simulator assigns a VM (its uri's memoryDemand, kept within the VM's bounds; its
 * memoryMB with static memory; nothing while it is not running). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/agent.h"
#include "../../lib/catalog/dynmem.h"
#include "../../lib/vm/vmstep.h"
#include "test_agent_tmp.h"

static catalog_dynmem_t
on(int64_t lo, int64_t hi)
{
    return (catalog_dynmem_t){true, true, lo, hi};
}

/* The check's answer for d at startup memory mb: "" when it passes, else the target it names. */
static const char *
target_of(catalog_dynmem_t d, int64_t mb)
{
    static char out[ERR_TARGET_MAX];
    err_t err = {0};

    if (catalog_dynmem_check(&d, mb, &err) == 0)
        return "";
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    snprintf(out, sizeof(out), "%s", err.target);
    return out;
}

static void
bounds_must_hold_the_startup_memory(void **state)
{
    catalog_dynmem_t none = {0}, off = {true, false, 0, 0};

    (void) state;
    assert_string_equal(target_of(on(512, 4096), 2048), "");
    assert_string_equal(target_of(on(2048, 2048), 2048), "");
    assert_string_equal(target_of(none, 2048), "");
    assert_string_equal(target_of(off, 2048), "");
    assert_string_equal(target_of(on(2049, 4096), 2048), "dynamicMemory.minimumMB");
    assert_string_equal(target_of(on(1024, 800), 512), "dynamicMemory.minimumMB");
    assert_string_equal(target_of(on(512, 2047), 2048), "dynamicMemory.maximumMB");
    assert_string_equal(target_of(on(0, 4096), 2048), "dynamicMemory.minimumMB");
    assert_string_equal(target_of(on(512, 0), 2048), "dynamicMemory.maximumMB");
}

static void
assert_same(const catalog_dynmem_t *a, const catalog_dynmem_t *b)
{
    assert_int_equal(a->present, b->present);
    assert_int_equal(a->enabled, b->enabled);
    assert_int_equal(a->minimum_mb, b->minimum_mb);
    assert_int_equal(a->maximum_mb, b->maximum_mb);
}

static void
json_forms_read_back(void **state)
{
    catalog_dynmem_t d = on(512, 4096), back, off = {true, false, 0, 0};
    json_t *j = catalog_dynmem_json(&d), *body;
    char *text;

    (void) state;
    text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text, "{\"enabled\":true,\"minimumMB\":512,\"maximumMB\":4096}");
    free(text);
    assert_int_equal(catalog_dynmem_from_json(j, &back), 0);
    assert_same(&back, &d);
    json_decref(j);
    /* Disabled: its bounds are null, whatever the body said. */
    body = json_pack("{s:b, s:i}", "enabled", 0, "minimumMB", 9999);
    catalog_dynmem_of(body, &back);
    assert_same(&back, &off);
    json_decref(body);
    j = catalog_dynmem_json(&off);
    text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text, "{\"enabled\":false,\"minimumMB\":null,\"maximumMB\":null}");
    free(text);
    json_decref(j);
    /* null and absent are not present; a stored form that is not one does not read. */
    assert_int_equal(catalog_dynmem_from_json(json_null(), &back), 0);
    assert_false(back.present);
    assert_int_equal(catalog_dynmem_from_json(NULL, &back), 0);
    assert_false(back.present);
    j = json_pack("{s:b, s:i, s:i}", "enabled", 1, "minimumMB", 800, "maximumMB", 512);
    assert_int_equal(catalog_dynmem_from_json(j, &back), -1);
    json_decref(j);
    j = json_integer(5);
    assert_int_equal(catalog_dynmem_from_json(j, &back), -1);
    json_decref(j);
}

static void
spec_carries_the_bounds_only_when_enabled(void **state)
{
    vmstep_spec_t spec;
    vm_rec_t vm;

    (void) state;
    memset(&vm, 0, sizeof(vm));
    snprintf(vm.id, sizeof(vm.id), "vm-1");
    vm.cores = 1;
    vm.memory_mb = 2048;
    vm.dynamic_memory = on(512, 4096);
    vmstep_fill_spec(&vm, &spec);
    assert_int_equal(spec.spec.memory_mb, 2048);
    assert_int_equal(spec.spec.memory_min_mb, 512);
    assert_int_equal(spec.spec.memory_max_mb, 4096);
    vm.dynamic_memory.enabled = false;
    vmstep_fill_spec(&vm, &spec);
    assert_int_equal(spec.spec.memory_min_mb, 0);
    assert_int_equal(spec.spec.memory_max_mb, 0);
}

static int
setup(void **state)
{
    assert_int_equal(agent_builtin_register(), 0);
    *state = agent_tmp_new();
    return 0;
}

/* Creates a VM of memory_mb (bounds lo..hi; 0, 0: static) on a and answers its hypervisor id. */
static void
make_vm(agent_t *a, const char *vm_id, int memory_mb, int lo, int hi, char hyp[AGENT_ID_MAX])
{
    static int n;
    char op[32];
    agent_call_t c = {op, 0, NULL};
    agent_disk_spec_t os = {-1, 10, AGENT_CACHING_READ_WRITE, NULL, NULL};
    agent_vm_spec_t spec = {vm_id, vm_id, 1, memory_mb, lo, hi, 2, &os, 1, NULL, 0};
    agent_err_t err;

    snprintf(op, sizeof(op), "dyn-op-%d", n++);
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), 0);
}

static void
power(agent_t *a, const char *hyp, agent_power_op_t op)
{
    static int n;
    char id[32];
    agent_call_t c = {id, 0, NULL};
    agent_err_t err;

    snprintf(id, sizeof(id), "dyn-power-%d", n++);
    assert_int_equal(agent_vm_power(a, &c, hyp, op, &err), 0);
}

/* What the host's inventory says the VM is assigned. */
static int
assigned(agent_t *a, const char *hyp)
{
    agent_call_t c = {"dyn-read", 0, NULL};
    agent_vm_list_t list = {0};
    agent_err_t err;
    const agent_vm_info_t *vm;
    int mb;

    assert_int_equal(agent_inventory(a, &c, &list, &err), 0);
    vm = agent_vm_list_find(&list, hyp);
    assert_non_null(vm);
    mb = vm->assigned_memory_mb;
    agent_vm_list_free(&list);
    return mb;
}

static void
sim_assigns_what_its_guests_ask_within_bounds(void **state)
{
    agent_tmp_t *t = *state;
    agent_conf_t conf = {.host_id = "dyn", .uri = "sim://?memoryDemand=0.5", .state_dir = t->dir};
    char dyn[AGENT_ID_MAX], fixed[AGENT_ID_MAX];
    agent_err_t err;
    agent_t *a = agent_open("sim", &conf, &err);

    assert_non_null(a);
    make_vm(a, "dyn", 2048, 512, 4096, dyn);
    make_vm(a, "fixed", 1792, 0, 0, fixed);
    assert_int_equal(assigned(a, dyn), 0); /* stopped */
    power(a, dyn, AGENT_POWER_START);
    power(a, fixed, AGENT_POWER_START);
    assert_int_equal(assigned(a, dyn), 1024);
    assert_int_equal(assigned(a, fixed), 1792);
    /* Asking for less than the minimum gets the minimum; more than the maximum, the maximum. */
    conf.uri = "sim://?memoryDemand=0.1";
    assert_int_equal(agent_reconfigure(a, &conf, &err), 0);
    assert_int_equal(assigned(a, dyn), 512);
    conf.uri = "sim://?memoryDemand=3";
    assert_int_equal(agent_reconfigure(a, &conf, &err), 0);
    assert_int_equal(assigned(a, dyn), 4096);
    assert_int_equal(assigned(a, fixed), 1792);
    /* The default: the startup memory. */
    conf.uri = "sim://";
    assert_int_equal(agent_reconfigure(a, &conf, &err), 0);
    assert_int_equal(assigned(a, dyn), 2048);
    power(a, dyn, AGENT_POWER_STOP);
    assert_int_equal(assigned(a, dyn), 0);
    agent_close(a);
}

static void
sim_refuses_a_bad_demand(void **state)
{
    agent_err_t err;

    (void) state;
    assert_int_equal(agent_check_uri("sim", "sim://?memoryDemand=100", &err), 0);
    assert_int_equal(agent_check_uri("sim", "sim://?memoryDemand=101", &err), -1);
    assert_int_equal(agent_check_uri("sim", "sim://?memoryDemand=lots", &err), -1);
    assert_int_equal(agent_check_uri("sim", "sim://?memoryDemand=-1", &err), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bounds_must_hold_the_startup_memory),
        cmocka_unit_test(json_forms_read_back),
        cmocka_unit_test(spec_carries_the_bounds_only_when_enabled),
        cmocka_unit_test_setup_teardown(sim_assigns_what_its_guests_ask_within_bounds, setup,
                                        agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(sim_refuses_a_bad_demand, setup, agent_tmp_teardown),
    };

    return cmocka_run_group_tests_name("dynmem", tests, NULL, NULL);
}
