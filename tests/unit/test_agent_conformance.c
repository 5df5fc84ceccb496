/*
 * The driver conformance suite: one list of cases, the contract of lib/agent.h, run against every kind of
 * host in the fixture table below. A kind joins the suite with one conformance_fixture_t
 * (test_agent_conformance.h) in its own header, test_agent_fixture_<kind>.h, and a line in the table: how
 * to start what its hosts need, how to open an agent on it, how to put an unmanaged VM on it (optional),
 * and how to stop it again. Every case starts from a fresh host and opens its agents with agent_open, so the
 * decorators it gets in production (the journal, and chaos when a case wraps it) are the ones tested.
 *
 * The cases: a create from a spec with an OS disk, a data disk and a NIC shows in the inventory with its
 * wapd VM id, stopped; a keyed create; every power action and the state it leads to; release; resize; disk
 * attach and detach; checkpoint create, keyed repeat, replace, restore (configuration too) and delete; unmanaged VMs; repeated
 * operation ids; conflicts; NOT_FOUND; timeouts and injected faults through the chaos decorator; the
 * journal across a close and reopen; and the volume cases of test_agent_conformance_volume.h.
 */
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
#include "test_agent_conformance.h"
#include "test_agent_fixture_http.h"
#include "test_agent_fixture_libvirt.h"
#include "test_agent_fixture_sim.h"

/* ---- the fixtures ---- */

/* Every kind the suite runs against: each kind's fixture is in test_agent_fixture_<kind>.h. */
static const conformance_fixture_t *const conformance_fixtures[] = {
    &sim_fixture,
    &http_fixture,
    &libvirt_fixture,
    NULL,
};

/* ---- helpers ---- */

typedef struct {
    const conformance_fixture_t *fx;
    void *env;
    agent_t *a;
} host_t;

static host_t *
H(void **state)
{
    host_t *h = *state;

    if (h->env == NULL)
        skip();
    return h;
}

static agent_call_t
call(const char *op)
{
    agent_call_t c = {op, 0, NULL};

    return c;
}

/* A fresh operation id for each call that is not about ids. */
static agent_call_t
fresh(void)
{
    static char ids[64][32];
    static int n;

    snprintf(ids[n % 64], sizeof(ids[0]), "op-%d", n);
    return call(ids[n++ % 64]);
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {0, (long) ms * 1000000L};

    nanosleep(&ts, NULL);
}

static const agent_disk_spec_t disks[] = {
    {-1, 10, AGENT_CACHING_READ_WRITE, "img-base", NULL},
    {0, 20, AGENT_CACHING_NONE, NULL, NULL},
};
static const agent_nic_spec_t nics[] = {{"net-1", "00:15:5d:00:00:01", "10.0.0.4"}};

/* The wapd VM id of a case's VM: a UUID, as wapd's ids are (libvirt names a domain by it), the same for
 * the same tag. A few may be held at once (a ring of buffers). */
static const char *
vmid(const char *tag)
{
    static char ring[8][37];
    static unsigned next;
    char *out = ring[next++ % 8];
    uint64_t h = 1469598103934665603ull;
    const char *p;

    for (p = tag; *p; p++)
        h = (h ^ (unsigned char) *p) * 1099511628211ull;
    snprintf(out, 37, "00000000-0000-4000-8000-%012llx", (unsigned long long) (h & 0xffffffffffffull));
    return out;
}

static agent_vm_spec_t
spec_of(const char *vm_id, const char *name)
{
    agent_vm_spec_t s = {vm_id, name, 2, 2048, 1024, 4096, 2, disks, 2, nics, 1};

    return s;
}

/* Creates the VM with that operation id, polling while the host copies (generous deadline). */
static int
create(agent_t *a, const char *op, const agent_vm_spec_t *spec, char hyp[AGENT_ID_MAX],
       agent_err_t *err)
{
    agent_progress_t progress = {0};
    agent_call_t c = {op, 0, &progress};
    int i, rc = -1;

    for (i = 0; i < 6000; i++) {
        rc = agent_vm_create(a, &c, spec, hyp, err);
        if (rc == 0 || err->status != AGENT_PENDING)
            return rc;
        assert_true(progress.bytes_copied <= progress.bytes_total);
        sleep_ms(10);
    }
    return rc;
}

static void
create_ok(agent_t *a, const char *vm_id, char hyp[AGENT_ID_MAX])
{
    agent_vm_spec_t spec = spec_of(vm_id, vm_id);
    agent_call_t c = fresh();
    agent_err_t err;

    assert_int_equal(create(a, c.op_id, &spec, hyp, &err), 0);
    assert_true(hyp[0] != '\0');
}

/* The inventory's entry of hyp, copied into *out; false when the host has no such VM. */
static bool
find(agent_t *a, const char *hyp, agent_vm_info_t *out)
{
    agent_vm_list_t vms = {0};
    agent_call_t c = fresh();
    const agent_vm_info_t *vm;
    agent_err_t err;

    assert_int_equal(agent_inventory(a, &c, &vms, &err), 0);
    vm = agent_vm_list_find(&vms, hyp);
    if (vm)
        *out = *vm;
    agent_vm_list_free(&vms);
    return vm != NULL;
}

static agent_vm_power_t
power(agent_t *a, const char *hyp)
{
    agent_vm_info_t vm;

    assert_true(find(a, hyp, &vm));
    return vm.power;
}

static size_t
vms_with_id(agent_t *a, const char *vm_id)
{
    agent_vm_list_t vms = {0};
    agent_call_t c = fresh();
    agent_err_t err;
    size_t i, n = 0;

    assert_int_equal(agent_inventory(a, &c, &vms, &err), 0);
    for (i = 0; i < vms.n; i++)
        n += strcmp(vms.vms[i].vm_id, vm_id) == 0;
    agent_vm_list_free(&vms);
    return n;
}

static void
power_ok(agent_t *a, const char *hyp, agent_power_op_t op, agent_vm_power_t expect)
{
    agent_call_t c = fresh();
    agent_err_t err;

    assert_int_equal(agent_vm_power(a, &c, hyp, op, &err), 0);
    assert_int_equal(power(a, hyp), expect);
}

/* ---- the cases ---- */

static void
create_shows_in_the_inventory_stopped(void **state)
{
    host_t *h = H(state);
    char hyp[AGENT_ID_MAX];
    agent_vm_info_t vm;

    create_ok(h->a, vmid("create"), hyp);
    assert_true(find(h->a, hyp, &vm));
    assert_string_equal(vm.vm_id, vmid("create"));
    assert_string_equal(vm.hypervisor_id, hyp);
    assert_string_equal(vm.name, vmid("create"));
    assert_int_equal(vm.power, AGENT_VM_STOPPED);
    assert_int_equal(vm.cores, 2);
    assert_int_equal(vm.memory_mb, 2048);
    assert_int_equal(vm.ndisks, 2);
    assert_int_equal(vm.disks[0].lun, -1);
    assert_int_equal(vm.disks[0].size_gb, 10);
    assert_int_equal(vm.disks[1].lun, 0);
    assert_int_equal(vm.disks[1].size_gb, 20);
    assert_int_equal(vm.ncheckpoints, 0);
}

static void
create_is_keyed_by_the_vm_id(void **state)
{
    host_t *h = H(state);
    agent_vm_spec_t spec = spec_of(vmid("keyed"), "keyed");
    char h1[AGENT_ID_MAX], h2[AGENT_ID_MAX];
    agent_err_t err;

    assert_int_equal(create(h->a, "create-a", &spec, h1, &err), 0);
    assert_int_equal(create(h->a, "create-b", &spec, h2, &err), 0);
    assert_string_equal(h1, h2);
    assert_int_equal(vms_with_id(h->a, vmid("keyed")), 1);
}

static void
power_actions_lead_to_their_states(void **state)
{
    host_t *h = H(state);
    char hyp[AGENT_ID_MAX];

    create_ok(h->a, vmid("power"), hyp);
    power_ok(h->a, hyp, AGENT_POWER_START, AGENT_VM_RUNNING);
    power_ok(h->a, hyp, AGENT_POWER_START, AGENT_VM_RUNNING); /* keyed by the state */
    power_ok(h->a, hyp, AGENT_POWER_RESTART, AGENT_VM_RUNNING);
    power_ok(h->a, hyp, AGENT_POWER_SHUTDOWN, AGENT_VM_STOPPED);
    power_ok(h->a, hyp, AGENT_POWER_START, AGENT_VM_RUNNING);
    power_ok(h->a, hyp, AGENT_POWER_STOP, AGENT_VM_STOPPED);
    power_ok(h->a, hyp, AGENT_POWER_STOP, AGENT_VM_STOPPED);
}

static void
release_deallocates(void **state)
{
    host_t *h = H(state);
    char hyp[AGENT_ID_MAX];
    agent_call_t c = fresh();
    agent_err_t err;

    create_ok(h->a, vmid("release"), hyp);
    power_ok(h->a, hyp, AGENT_POWER_START, AGENT_VM_RUNNING);
    assert_int_equal(agent_vm_release(h->a, &c, hyp, &err), 0);
    assert_int_equal(power(h->a, hyp), AGENT_VM_DEALLOCATED);
    power_ok(h->a, hyp, AGENT_POWER_START, AGENT_VM_RUNNING);
}

static void
resize_changes_cores_and_memory(void **state)
{
    host_t *h = H(state);
    char hyp[AGENT_ID_MAX];
    agent_call_t c = fresh();
    agent_vm_info_t vm;
    agent_err_t err;

    create_ok(h->a, vmid("resize"), hyp);
    assert_int_equal(agent_vm_reconfigure(h->a, &c, hyp, 4, 4096, &err), 0);
    assert_true(find(h->a, hyp, &vm));
    assert_int_equal(vm.cores, 4);
    assert_int_equal(vm.memory_mb, 4096);
}

static void
disks_attach_and_detach_by_lun(void **state)
{
    host_t *h = H(state);
    agent_disk_spec_t disk = {1, 5, AGENT_CACHING_READ_ONLY, NULL, NULL};
    char hyp[AGENT_ID_MAX];
    agent_call_t c;
    agent_vm_info_t vm;
    agent_err_t err;

    create_ok(h->a, vmid("disks"), hyp);
    c = fresh();
    assert_int_equal(agent_disk_attach(h->a, &c, hyp, &disk, &err), 0);
    c = fresh();
    assert_int_equal(agent_disk_attach(h->a, &c, hyp, &disk, &err), 0); /* keyed by the lun */
    assert_true(find(h->a, hyp, &vm));
    assert_int_equal(vm.ndisks, 3);
    assert_int_equal(vm.disks[2].lun, 1);
    assert_int_equal(vm.disks[2].size_gb, 5);
    c = fresh();
    assert_int_equal(agent_disk_detach(h->a, &c, hyp, 1, &err), 0);
    assert_true(find(h->a, hyp, &vm));
    assert_int_equal(vm.ndisks, 2);
    c = fresh();
    assert_int_equal(agent_disk_detach(h->a, &c, hyp, 1, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
}

static void
checkpoints_create_replace_restore_delete(void **state)
{
    host_t *h = H(state);
    char hyp[AGENT_ID_MAX], cp1[AGENT_ID_MAX], again[AGENT_ID_MAX], cp2[AGENT_ID_MAX];
    agent_call_t c;
    agent_vm_info_t vm;
    agent_err_t err;

    create_ok(h->a, vmid("cp"), hyp);
    power_ok(h->a, hyp, AGENT_POWER_START, AGENT_VM_RUNNING);
    c = fresh();
    assert_int_equal(agent_checkpoint_create(h->a, &c, hyp, "first", cp1, &err), 0);
    c = fresh();
    assert_int_equal(agent_checkpoint_create(h->a, &c, hyp, "first", again, &err), 0);
    assert_string_equal(cp1, again); /* keyed by the name */
    assert_true(find(h->a, hyp, &vm));
    assert_int_equal(vm.ncheckpoints, 1);
    assert_string_equal(vm.checkpoints[0].id, cp1);
    assert_string_equal(vm.checkpoints[0].name, "first");
    /* Replace: the new one first, then the old one goes. */
    c = fresh();
    assert_int_equal(agent_checkpoint_create(h->a, &c, hyp, "second", cp2, &err), 0);
    assert_string_not_equal(cp1, cp2);
    c = fresh();
    assert_int_equal(agent_checkpoint_delete(h->a, &c, hyp, cp1, &err), 0);
    assert_true(find(h->a, hyp, &vm));
    assert_int_equal(vm.ncheckpoints, 1);
    assert_string_equal(vm.checkpoints[0].id, cp2);
    /* Restore returns the VM to the state it had when the checkpoint was taken. */
    power_ok(h->a, hyp, AGENT_POWER_STOP, AGENT_VM_STOPPED);
    c = fresh();
    assert_int_equal(agent_checkpoint_restore(h->a, &c, hyp, cp2, &err), 0);
    assert_int_equal(power(h->a, hyp), AGENT_VM_RUNNING);
    c = fresh();
    assert_int_equal(agent_checkpoint_delete(h->a, &c, hyp, cp2, &err), 0);
    c = fresh();
    assert_int_equal(agent_checkpoint_delete(h->a, &c, hyp, cp2, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    c = fresh();
    assert_int_equal(agent_checkpoint_restore(h->a, &c, hyp, cp2, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    assert_true(find(h->a, hyp, &vm));
    assert_int_equal(vm.ncheckpoints, 0);
}

/* A checkpoint keeps the VM's configuration: its restore gives back the cores, memory and disks it had
 * (a disk attached since is gone from the config, one detached since is back in it), and a detach of the
 * lun attached since answers NOT_FOUND (deleting whatever the host kept of it). */
static void
checkpoint_restore_gives_back_the_configuration(void **state)
{
    host_t *h = H(state);
    agent_disk_spec_t disk = {1, 5, AGENT_CACHING_NONE, NULL, NULL};
    char hyp[AGENT_ID_MAX], cp[AGENT_ID_MAX];
    agent_call_t c;
    agent_vm_info_t vm;
    agent_err_t err;

    create_ok(h->a, vmid("cp-config"), hyp);
    c = fresh();
    assert_int_equal(agent_checkpoint_create(h->a, &c, hyp, "before", cp, &err), 0);
    c = fresh();
    assert_int_equal(agent_vm_reconfigure(h->a, &c, hyp, 4, 4096, &err), 0);
    c = fresh();
    assert_int_equal(agent_disk_attach(h->a, &c, hyp, &disk, &err), 0);
    c = fresh();
    assert_int_equal(agent_disk_detach(h->a, &c, hyp, 0, &err), 0);
    assert_true(find(h->a, hyp, &vm));
    assert_int_equal(vm.ndisks, 2);
    assert_int_equal(vm.disks[1].lun, 1);
    c = fresh();
    assert_int_equal(agent_checkpoint_restore(h->a, &c, hyp, cp, &err), 0);
    assert_true(find(h->a, hyp, &vm));
    assert_int_equal(vm.cores, 2);
    assert_int_equal(vm.memory_mb, 2048);
    assert_int_equal(vm.ndisks, 2);
    assert_int_equal(vm.disks[1].lun, 0);
    assert_int_equal(power(h->a, hyp), AGENT_VM_STOPPED);
    c = fresh();
    assert_int_equal(agent_disk_detach(h->a, &c, hyp, 1, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    c = fresh();
    assert_int_equal(agent_disk_detach(h->a, &c, hyp, 0, &err), 0);
    assert_true(find(h->a, hyp, &vm));
    assert_int_equal(vm.ndisks, 1);
}

static void
inventory_lists_unmanaged_vms(void **state)
{
    host_t *h = H(state);
    char hyp[AGENT_ID_MAX];
    agent_vm_info_t vm;

    if (h->fx->add_unmanaged == NULL)
        skip();
    assert_int_equal(h->fx->add_unmanaged(h->env, h->a, "stray", hyp), 0);
    assert_true(find(h->a, hyp, &vm));
    assert_string_equal(vm.vm_id, "");
    assert_string_equal(vm.name, "stray");
}

static void
repeated_operation_ids_replay(void **state)
{
    host_t *h = H(state);
    agent_vm_spec_t spec = spec_of(vmid("replay"), "replay");
    char h1[AGENT_ID_MAX], h2[AGENT_ID_MAX], cp1[AGENT_ID_MAX], cp2[AGENT_ID_MAX];
    agent_call_t c;
    agent_vm_info_t vm;
    agent_err_t err;

    assert_int_equal(create(h->a, "replay-create", &spec, h1, &err), 0);
    assert_int_equal(create(h->a, "replay-create", &spec, h2, &err), 0);
    assert_string_equal(h1, h2);
    assert_int_equal(vms_with_id(h->a, vmid("replay")), 1);
    c = call("replay-cp");
    assert_int_equal(agent_checkpoint_create(h->a, &c, h1, "once", cp1, &err), 0);
    assert_int_equal(agent_checkpoint_create(h->a, &c, h1, "once", cp2, &err), 0);
    assert_string_equal(cp1, cp2);
    assert_true(find(h->a, h1, &vm));
    assert_int_equal(vm.ncheckpoints, 1);
    /* A delete repeated under its id answers as the first did; under a new id the VM is gone. */
    c = call("replay-delete");
    assert_int_equal(agent_vm_delete(h->a, &c, h1, &err), 0);
    assert_int_equal(agent_vm_delete(h->a, &c, h1, &err), 0);
    c = fresh();
    assert_int_equal(agent_vm_delete(h->a, &c, h1, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    assert_int_equal(vms_with_id(h->a, vmid("replay")), 0);
}

static void
same_id_other_arguments_conflict(void **state)
{
    host_t *h = H(state);
    agent_vm_spec_t spec = spec_of(vmid("conflict"), "conflict"), other = spec_of(vmid("other"), "other");
    char hyp[AGENT_ID_MAX], h2[AGENT_ID_MAX];
    agent_call_t c = call("conflict-op");
    agent_err_t err;

    assert_int_equal(create(h->a, "conflict-op", &spec, hyp, &err), 0);
    assert_int_equal(agent_vm_create(h->a, &c, &other, h2, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_CONFLICT);
    assert_int_equal(agent_vm_power(h->a, &c, hyp, AGENT_POWER_START, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_CONFLICT);
    assert_int_equal(vms_with_id(h->a, vmid("other")), 0);
    assert_int_equal(power(h->a, hyp), AGENT_VM_STOPPED);
}

static void
missing_vms_are_not_found(void **state)
{
    host_t *h = H(state);
    agent_call_t c = fresh();
    agent_err_t err;

    assert_int_equal(agent_vm_power(h->a, &c, "no-such-vm", AGENT_POWER_START, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    c = fresh();
    assert_int_equal(agent_vm_delete(h->a, &c, "no-such-vm", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    c = fresh();
    assert_int_equal(agent_vm_release(h->a, &c, "no-such-vm", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
}

/* Wraps the case's agent in the chaos decorator (it owns the agent from now on). */
static agent_t *
chaos(host_t *h, agent_chaos_t opts)
{
    agent_err_t err;
    agent_t *a = agent_chaos_wrap(h->a, &opts, &err);

    h->a = a;
    assert_non_null(a);
    return a;
}

static void
hangs_time_out_and_a_retry_applies_once(void **state)
{
    host_t *h = H(state);
    agent_chaos_t hang = {0, 0, 0, 1}, none = {0};
    agent_vm_spec_t spec = spec_of(vmid("hang"), "hang");
    agent_call_t c = {"hang-create", 50, NULL};
    char hyp[AGENT_ID_MAX];
    agent_t *a = chaos(h, hang);
    agent_err_t err;
    int i;

    for (i = 0; i < 4; i++) {
        assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), -1);
        assert_int_equal(err.status, AGENT_ERR_TIMEOUT);
    }
    assert_int_equal(agent_chaos_set(a, &none), 0);
    assert_int_equal(create(a, "hang-create", &spec, hyp, &err), 0);
    assert_int_equal(vms_with_id(a, vmid("hang")), 1);
}

static void
injected_failures_change_nothing(void **state)
{
    host_t *h = H(state);
    agent_chaos_t fail = {0, 0, 1, 0}, none = {0};
    agent_vm_spec_t spec = spec_of(vmid("fail"), "fail");
    agent_call_t c = fresh();
    char hyp[AGENT_ID_MAX];
    agent_vm_list_t vms = {0};
    agent_t *a = chaos(h, fail);
    agent_err_t err;

    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    c = fresh();
    assert_int_equal(agent_inventory(a, &c, &vms, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_TRANSIENT);
    assert_int_equal(agent_chaos_set(a, &none), 0);
    assert_int_equal(vms_with_id(a, vmid("fail")), 0);
}

static void
the_journal_survives_a_reopen(void **state)
{
    host_t *h = H(state);
    char hyp[AGENT_ID_MAX];
    agent_call_t c = call("durable-delete");
    agent_err_t err;

    create_ok(h->a, vmid("durable"), hyp);
    assert_int_equal(agent_vm_delete(h->a, &c, hyp, &err), 0);
    agent_close(h->a);
    h->a = h->fx->open(h->env, &err);
    assert_non_null(h->a);
    assert_int_equal(agent_vm_delete(h->a, &c, hyp, &err), 0);
    c = fresh();
    assert_int_equal(agent_vm_delete(h->a, &c, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
}

#include "test_agent_conformance_volume.h"

/* ---- the runner ---- */

static int
host_setup(void **state)
{
    const conformance_fixture_t *fx = *state;
    host_t *h = calloc(1, sizeof(*h));
    agent_err_t err;

    assert_non_null(h);
    h->fx = fx;
    h->env = fx->start();
    if (h->env != NULL) {
        h->a = fx->open(h->env, &err);
        assert_non_null(h->a);
    }
    *state = h;
    return 0;
}

static int
host_teardown(void **state)
{
    host_t *h = *state;

    agent_close(h->a);
    if (h->env != NULL)
        h->fx->stop(h->env);
    free(h);
    return 0;
}

#define CASE(fn) {#fn, fn}

static const struct {
    const char *name;
    CMUnitTestFunction fn;
} cases[] = {
    CASE(create_shows_in_the_inventory_stopped),
    CASE(create_is_keyed_by_the_vm_id),
    CASE(power_actions_lead_to_their_states),
    CASE(release_deallocates),
    CASE(resize_changes_cores_and_memory),
    CASE(disks_attach_and_detach_by_lun),
    CASE(checkpoints_create_replace_restore_delete),
    CASE(checkpoint_restore_gives_back_the_configuration),
    CASE(inventory_lists_unmanaged_vms),
    CASE(repeated_operation_ids_replay),
    CASE(same_id_other_arguments_conflict),
    CASE(missing_vms_are_not_found),
    CASE(hangs_time_out_and_a_retry_applies_once),
    CASE(injected_failures_change_nothing),
    CASE(the_journal_survives_a_reopen),
    CONFORMANCE_VOLUME_CASES,
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

int
main(void)
{
    struct CMUnitTest tests[NCASES];
    char names[NCASES][128], group[64];
    size_t i, k;
    int failed = 0;

    assert_int_equal(agent_builtin_register(), 0);
    for (k = 0; conformance_fixtures[k] != NULL; k++) {
        const conformance_fixture_t *fx = conformance_fixtures[k];
        for (i = 0; i < NCASES; i++) {
            snprintf(names[i], sizeof(names[i]), "%s/%s", fx->kind, cases[i].name);
            tests[i] = (struct CMUnitTest){names[i], cases[i].fn, host_setup, host_teardown,
                                           (void *) fx};
        }
        snprintf(group, sizeof(group), "agent_conformance_%s", fx->kind);
        failed += _cmocka_run_group_tests(group, tests, NCASES, NULL, NULL);
    }
    return failed;
}
