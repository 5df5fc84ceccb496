/*
 * Unit tests of the http agent's volume and import slots (lib/agent/http.c) against a real
 * wapd-agent process (sim backend, copying at the uri's copyMBps): a disk's snapshot (OS disk and
 * data disk, keyed by the volume id, a lun the VM does not have), a volume's delete, a copy polled
 * with advancing progress that survives a kill -9 of the agent and goes on where it was, disks made
 * from a volume (the create and the attach answer AGENT_PENDING until cloned), a VM's import with its
 * power state and checkpoints, and the agent's journal replaying and refusing reused operation ids.
 *
 * Each test starts its own agent (agentd_fixture) in its setup and kills it in its teardown, which
 * cmocka runs also when the test failed. Long operations are polled with a generous deadline; no
 * assertion depends on timing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../lib/agent.h"
#include "../../lib/util.h"
#include "agentd_fixture.h"

#define GB (INT64_C(1) << 30)
#define POLL_DEADLINE_MS 60000
/* 2 GB/s: a 4 GB copy takes about two seconds, long enough to be seen pending and polled. */
#define SIM_URI "sim://?copyMBps=2048"

typedef struct {
    agentd_t agentd;
    agent_t *a;
} world_t;

static int
setup(void **state)
{
    world_t *w = calloc(1, sizeof(*w));

    assert_non_null(w);
    *state = w;
    w->a = agentd_start_open(&w->agentd, SIM_URI);
    assert_non_null(w->a);
    return 0;
}

static int
teardown(void **state)
{
    world_t *w = *state;

    agent_close(w->a);
    agentd_stop(&w->agentd);
    free(w);
    return 0;
}

static agent_call_t
call(const char *op_id, agent_progress_t *progress)
{
    agent_call_t c = {op_id, 0, progress};

    return c;
}

/* rc is a failure of that status. */
static void
expect_fail(int rc, const agent_err_t *err, agent_status_t status)
{
    assert_int_equal(rc, -1);
    if (err->status != status)
        fail_msg("expected %s, got %s: %s", agent_status_name(status),
                 agent_status_name(err->status), err->message);
}

static void
pause_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};

    nanosleep(&ts, NULL);
}

static const agent_disk_spec_t plain_disks[] = {
    {-1, 40, AGENT_CACHING_READ_WRITE, NULL, NULL}, /* no image: nothing to copy at create */
    {0, 10, AGENT_CACHING_NONE, NULL, NULL},
};
static const agent_nic_spec_t plain_nics[] = {{"net-1", "00:15:5d:00:00:01", "10.0.0.5"}};

static agent_vm_spec_t
spec_of(const char *vm_id, const agent_disk_spec_t *disks, int ndisks)
{
    agent_vm_spec_t s = {0};

    s.vm_id = vm_id;
    s.name = vm_id;
    s.cores = 2;
    s.memory_mb = 2048;
    s.generation = 2;
    s.disks = disks;
    s.ndisks = ndisks;
    s.nics = plain_nics;
    s.nnics = 1;
    return s;
}

/* ---- polling a long operation ---- */

/* One call of a long operation (the same operation id and arguments each time). */
typedef int (*long_call_fn)(world_t *w, const agent_call_t *c, void *arg, agent_err_t *err);

/* Calls fn until it answers something else than AGENT_PENDING (deadline: POLL_DEADLINE_MS);
 * checks that the progress of the pending answers never goes back and stays within its total, which
 * is bytes_total (or, when bytes_total is -1, the same in every answer). Answers fn's last rc (err
 * set) and writes the number of pending answers. */
static int
poll_until_done(world_t *w, const char *op_id, long_call_fn fn, void *arg, int64_t bytes_total,
                int *npending, agent_err_t *err)
{
    agent_progress_t p = {-1, -1};
    agent_call_t c = call(op_id, &p);
    int64_t start = util_mono_ns(), last = 0;
    int rc;

    *npending = 0;
    for (;;) {
        memset(err, 0, sizeof(*err));
        rc = fn(w, &c, arg, err);
        if (rc == 0 || err->status != AGENT_PENDING)
            return rc;
        ++*npending;
        if (bytes_total < 0)
            bytes_total = p.bytes_total;
        assert_int_equal(p.bytes_total, bytes_total);
        assert_true(p.bytes_copied >= last && p.bytes_copied <= bytes_total);
        last = p.bytes_copied;
        if (util_mono_ns() - start > (int64_t) POLL_DEADLINE_MS * 1000000)
            fail_msg("%s still pending after %d ms", op_id, POLL_DEADLINE_MS);
        pause_ms(100);
    }
}

static void
create_plain(world_t *w, const char *vm_id, char hyp[AGENT_ID_MAX])
{
    agent_vm_spec_t spec = spec_of(vm_id, plain_disks, 2);
    agent_call_t c = call(vm_id, NULL);
    agent_err_t err = {0};

    assert_int_equal(agent_vm_create(w->a, &c, &spec, hyp, &err), 0);
}

static int
snapshot_os(world_t *w, const char *op_id, const char *hyp, const char *volume_id, int64_t *size,
            agent_err_t *err)
{
    agent_call_t c = call(op_id, NULL);

    return agent_volume_snapshot(w->a, &c, hyp, -1, volume_id, size, err);
}

/* Creates VM vm_id (plain_disks) and takes volume_id, a snapshot of its OS disk, with op_id. */
static void
vm_with_snapshot(world_t *w, const char *vm_id, const char *op_id, const char *volume_id,
                 char hyp[AGENT_ID_MAX])
{
    agent_err_t err = {0};
    int64_t size = 0;

    create_plain(w, vm_id, hyp);
    assert_int_equal(snapshot_os(w, op_id, hyp, volume_id, &size, &err), 0);
    assert_int_equal(size, 40);
}

/* ---- snapshots and deletes ---- */

static void
test_snapshot_and_delete(void **state)
{
    world_t *w = *state;
    char hyp[AGENT_ID_MAX] = "";
    agent_err_t err = {0};
    agent_call_t c;
    int64_t size = 0;

    vm_with_snapshot(w, "vm-snap", "snap-os", "vol-os", hyp);
    c = call("snap-lun0", NULL);
    assert_int_equal(agent_volume_snapshot(w->a, &c, hyp, 0, "vol-lun0", &size, &err), 0);
    assert_int_equal(size, 10);
    /* keyed by the volume id: a new operation id answers the volume made before */
    size = 0;
    assert_int_equal(snapshot_os(w, "snap-os-again", hyp, "vol-os", &size, &err), 0);
    assert_int_equal(size, 40);
    /* a lun the VM does not have; a VM the host does not have */
    c = call("snap-lun7", NULL);
    expect_fail(agent_volume_snapshot(w->a, &c, hyp, 7, "vol-lun7", &size, &err), &err,
                AGENT_ERR_NOT_FOUND);
    expect_fail(snapshot_os(w, "snap-novm", "no-such-vm", "vol-x", &size, &err), &err,
                AGENT_ERR_NOT_FOUND);

    c = call("del-os", NULL);
    assert_int_equal(agent_volume_delete(w->a, &c, "vol-os", &err), 0);
    c = call("del-os-2", NULL);
    expect_fail(agent_volume_delete(w->a, &c, "vol-os", &err), &err, AGENT_ERR_NOT_FOUND);
    c = call("del-lun0", NULL);
    assert_int_equal(agent_volume_delete(w->a, &c, "vol-lun0", &err), 0);
}

static void
test_snapshot_operation_id_replays_and_conflicts(void **state)
{
    world_t *w = *state;
    int64_t size = 0;
    agent_call_t c;
    agent_err_t err = {0};
    char hyp[AGENT_ID_MAX] = "";

    vm_with_snapshot(w, "vm-replay", "snap-1", "vol-1", hyp);
    c = call("del-1", NULL);
    assert_int_equal(agent_volume_delete(w->a, &c, "vol-1", &err), 0);
    /* the snapshot's answer is replayed from the agent's journal: nothing is made again */
    size = 0;
    assert_int_equal(snapshot_os(w, "snap-1", hyp, "vol-1", &size, &err), 0);
    assert_int_equal(size, 40);
    c = call("del-1-again", NULL);
    expect_fail(agent_volume_delete(w->a, &c, "vol-1", &err), &err, AGENT_ERR_NOT_FOUND);
    /* the same id with other arguments */
    expect_fail(snapshot_os(w, "snap-1", hyp, "vol-2", &size, &err), &err, AGENT_ERR_CONFLICT);
    c = call("snap-1", NULL);
    expect_fail(agent_volume_delete(w->a, &c, "vol-1", &err), &err, AGENT_ERR_CONFLICT);
}

/* ---- copies ---- */

static int
copy_call(world_t *w, const agent_call_t *c, void *arg, agent_err_t *err)
{
    const agent_volume_src_t *src = arg;

    return agent_volume_copy(w->a, c, src, "vol-copy", err);
}

static void
test_copy_progresses_and_survives_an_agent_kill(void **state)
{
    world_t *w = *state;
    agent_volume_src_t src = {"host-elsewhere", "vol-src", 4};
    agent_progress_t p = {0, 0}, before;
    agent_call_t c = call("copy-1", &p);
    agent_err_t err = {0};
    int rc, npending;

    /* pending, with the source's size in bytes to copy, until some bytes are copied */
    do {
        memset(&err, 0, sizeof(err));
        expect_fail(agent_volume_copy(w->a, &c, &src, "vol-copy", &err), &err, AGENT_PENDING);
        assert_int_equal(p.bytes_total, 4 * GB);
        assert_true(p.bytes_copied < 4 * GB);
        pause_ms(20);
    } while (p.bytes_copied == 0);
    before = p;
    /* the agent dies in the middle; started again, it goes on from the bytes it had */
    agentd_kill(&w->agentd);
    expect_fail(agent_volume_copy(w->a, &c, &src, "vol-copy", &err), &err, AGENT_ERR_UNREACHABLE);
    assert_int_equal(agentd_restart(&w->agentd), 0);
    memset(&p, 0, sizeof(p));
    rc = agent_volume_copy(w->a, &c, &src, "vol-copy", &err);
    if (rc != 0) {
        expect_fail(rc, &err, AGENT_PENDING);
        assert_true(p.bytes_copied >= before.bytes_copied);
    }
    assert_int_equal(poll_until_done(w, "copy-1", copy_call, &src, 4 * GB, &npending, &err), 0);
    /* done: the same call answers at once, as does a new one for the same volume */
    c = call("copy-1", NULL);
    assert_int_equal(agent_volume_copy(w->a, &c, &src, "vol-copy", &err), 0);
    c = call("copy-1-again", NULL);
    assert_int_equal(agent_volume_copy(w->a, &c, &src, "vol-copy", &err), 0);
    c = call("copy-del", NULL);
    assert_int_equal(agent_volume_delete(w->a, &c, "vol-copy", &err), 0);
}

/* ---- disks made from volumes ---- */

static int
create_call(world_t *w, const agent_call_t *c, void *arg, agent_err_t *err)
{
    static const agent_disk_spec_t disks[] = {
        {-1, 4, AGENT_CACHING_READ_WRITE, NULL, "vol-copy"},
    };
    agent_vm_spec_t spec = spec_of("vm-clone", disks, 1);

    return agent_vm_create(w->a, c, &spec, arg, err);
}

static int
attach_call(world_t *w, const agent_call_t *c, void *arg, agent_err_t *err)
{
    static const agent_disk_spec_t disk = {3, 4, AGENT_CACHING_NONE, NULL, "vol-copy"};

    return agent_disk_attach(w->a, c, arg, &disk, err);
}

static void
test_disks_cloned_from_a_volume(void **state)
{
    world_t *w = *state;
    agent_volume_src_t src = {"host-elsewhere", "vol-src", 4};
    char hyp[AGENT_ID_MAX] = "", other[AGENT_ID_MAX] = "";
    agent_err_t err = {0};
    int npending;

    /* a volume of 4 GB on this host (vol-copy), then disks cloned from it */
    assert_int_equal(poll_until_done(w, "copy-base", copy_call, &src, 4 * GB, &npending, &err), 0);
    assert_true(npending > 0); /* seen pending through the protocol's 202 */
    create_plain(w, "vm-target", other);
    assert_int_equal(poll_until_done(w, "attach-1", attach_call, other, 4 * GB, &npending, &err),
                     0);
    assert_int_equal(poll_until_done(w, "create-1", create_call, hyp, 4 * GB, &npending, &err), 0);
    assert_true(hyp[0] != '\0');
}

/* ---- imports ---- */

static int
import_call(world_t *w, const agent_call_t *c, void *arg, agent_err_t *err)
{
    static const char *const cps[] = {"before", "after"};
    agent_vm_spec_t spec = spec_of("vm-moved", plain_disks, 2);
    agent_vm_source_t src = {"host-elsewhere", "hv-elsewhere", AGENT_VM_RUNNING, cps, 2};

    return agent_vm_import(w->a, c, &spec, &src, arg, err);
}

static void
test_import_keeps_power_and_checkpoints(void **state)
{
    world_t *w = *state;
    char hyp[AGENT_ID_MAX] = "", again[AGENT_ID_MAX] = "";
    agent_vm_list_t list = {0};
    const agent_vm_info_t *vm;
    agent_call_t c = call("inventory", NULL);
    agent_err_t err = {0};
    int npending, i;

    /* the bytes of its disks (and memory: it runs) are copied */
    assert_int_equal(poll_until_done(w, "import-1", import_call, hyp, -1, &npending, &err), 0);
    assert_true(hyp[0] != '\0');
    assert_int_equal(agent_inventory(w->a, &c, &list, &err), 0);
    vm = agent_vm_list_find_vm_id(&list, "vm-moved");
    assert_non_null(vm);
    assert_string_equal(vm->hypervisor_id, hyp);
    assert_int_equal(vm->power, AGENT_VM_RUNNING);
    assert_int_equal(vm->ncheckpoints, 2);
    for (i = 0; i < vm->ncheckpoints; i++)
        assert_true(strcmp(vm->checkpoints[i].name, "before") == 0 ||
                    strcmp(vm->checkpoints[i].name, "after") == 0);
    agent_vm_list_free(&list);
    /* keyed by the wapd VM id: a new import answers the VM imported before */
    assert_int_equal(poll_until_done(w, "import-2", import_call, again, -1, &npending, &err), 0);
    assert_string_equal(again, hyp);
}

#define WITH_AGENT(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        WITH_AGENT(test_snapshot_and_delete),
        WITH_AGENT(test_snapshot_operation_id_replays_and_conflicts),
        WITH_AGENT(test_copy_progresses_and_survives_an_agent_kill),
        WITH_AGENT(test_disks_cloned_from_a_volume),
        WITH_AGENT(test_import_keeps_power_and_checkpoints),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
