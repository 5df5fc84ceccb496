/* Unit tests of the simulator's volumes, copies and imports (lib/agent/sim_volume.c): volumes kept over a
 * reopen and over a compaction of the host's log, a copy that resumes from the bytes it had when the host
 * is opened again (neither from 0 nor leaping by the time the host was down), clones and imports that
 * answer AGENT_PENDING with progress at the uri's copyMBps. The contract every driver keeps for these
 * operations is in the conformance suite (test_agent_conformance_volume.h). */
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
#include "../../lib/util.h"
#include "test_agent_tmp.h"

#define GiB ((int64_t) 1024 * 1024 * 1024)
#define MiB ((int64_t) 1024 * 1024)

static int
setup(void **state)
{
    assert_int_equal(agent_builtin_register(), 0);
    *state = agent_tmp_new();
    return 0;
}

static agent_t *
open_sim(agent_tmp_t *t, const char *uri)
{
    agent_conf_t conf = {.host_id = "vol", .uri = uri, .state_dir = t->dir};
    agent_err_t err;
    agent_t *a = agent_open("sim", &conf, &err);

    assert_non_null(a);
    return a;
}

/* A fresh operation id for each call. */
static agent_call_t
fresh(agent_progress_t *progress)
{
    static char ids[16][32];
    static int n;
    agent_call_t c = {ids[n % 16], 0, progress};

    snprintf(ids[n % 16], sizeof(ids[0]), "vol-op-%d", n);
    n++;
    return c;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static const agent_disk_spec_t plain[] = {
    {-1, 3, AGENT_CACHING_READ_WRITE, NULL, NULL},
    {0, 5, AGENT_CACHING_NONE, NULL, NULL},
};

/* Makes a VM with an empty 3 GB OS disk and a 5 GB data disk at lun 0 (no copy). */
static void
make_vm(agent_t *a, const char *vm_id, char hyp[AGENT_ID_MAX])
{
    agent_vm_spec_t spec = {vm_id, vm_id, 2, 1024, 0, 0, 2, plain, 2, NULL, 0};
    agent_call_t c = fresh(NULL);
    agent_err_t err;

    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), 0);
}

/* The size the host answers for a snapshot of volume id (keyed: a volume there is answered as it is, even
 * for a VM the host does not have); -1 when it has no such volume. */
static int64_t
volume_size(agent_t *a, const char *id)
{
    agent_call_t c = fresh(NULL);
    agent_err_t err;
    int64_t size = 0;

    if (agent_volume_snapshot(a, &c, "no-such-vm", -1, id, &size, &err) != 0) {
        assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
        return -1;
    }
    return size;
}

static void
volumes_survive_a_reopen(void **state)
{
    agent_tmp_t *t = *state;
    agent_t *a = open_sim(t, "sim://");
    char hyp[AGENT_ID_MAX];
    agent_call_t c;
    agent_err_t err;
    int64_t size = 0;

    make_vm(a, "vm-snap", hyp);
    c = fresh(NULL);
    assert_int_equal(agent_volume_snapshot(a, &c, hyp, -1, "vol-os", &size, &err), 0);
    assert_int_equal(size, 3);
    c = fresh(NULL);
    assert_int_equal(agent_volume_snapshot(a, &c, hyp, 0, "vol-data", &size, &err), 0);
    assert_int_equal(size, 5);
    agent_close(a);
    a = open_sim(t, "sim://");
    assert_int_equal(volume_size(a, "vol-os"), 3);
    assert_int_equal(volume_size(a, "vol-data"), 5);
    c = fresh(NULL);
    assert_int_equal(agent_volume_delete(a, &c, "vol-os", &err), 0);
    agent_close(a);
    a = open_sim(t, "sim://");
    assert_int_equal(volume_size(a, "vol-os"), -1);
    assert_int_equal(volume_size(a, "vol-data"), 5);
    agent_close(a);
}

/* Polls the copy of volume id once; answers the bytes copied (AGENT_PENDING or AGENT_OK). */
static int64_t
copy_poll(agent_t *a, const char *id, int *rc)
{
    agent_volume_src_t src = {"other-host", "vol-src", 1};
    agent_progress_t p = {0};
    agent_call_t c = fresh(&p);
    agent_err_t err;

    *rc = agent_volume_copy(a, &c, &src, id, &err);
    assert_true(*rc == 0 || err.status == AGENT_PENDING);
    assert_int_equal(p.bytes_total, GiB);
    assert_true(p.bytes_copied >= 0 && p.bytes_copied <= p.bytes_total);
    return p.bytes_copied;
}

static void
a_copy_resumes_where_it_was_after_a_reopen(void **state)
{
    agent_tmp_t *t = *state;
    const char *uri = "sim://?copyMBps=100"; /* 1 GiB: about 10 s */
    agent_t *a = open_sim(t, uri);
    int64_t before = 0, after, opened_ms, polled_ms;
    int rc, i;

    for (i = 0; i < 2000 && before == 0; i++) {
        before = copy_poll(a, "vol-copy", &rc);
        assert_int_equal(rc, -1);
        sleep_ms(5);
    }
    assert_true(before > 0);
    agent_close(a);
    sleep_ms(600); /* the host is down: 60 MiB at its rate, which the copy must not count */
    opened_ms = util_now_ms();
    a = open_sim(t, uri);
    after = copy_poll(a, "vol-copy", &rc);
    polled_ms = util_now_ms();
    /* From the bytes persisted at the last poll, counting only the time since the open. */
    assert_true(after >= before);
    assert_true(after - before <= (polled_ms - opened_ms + 1) * 100 * MiB / 1000);
    agent_close(a);
}

static void
compaction_keeps_volumes(void **state)
{
    agent_tmp_t *t = *state;
    agent_t *a = open_sim(t, "sim://");
    char hyp[AGENT_ID_MAX], path[AGENT_TMP_LEN + 32], line[4096];
    agent_call_t c;
    agent_err_t err;
    int64_t size;
    FILE *f;
    int i, lines = 0;

    make_vm(a, "vm-compact", hyp);
    c = fresh(NULL);
    assert_int_equal(agent_volume_snapshot(a, &c, hyp, 0, "vol-kept", &size, &err), 0);
    for (i = 0; i < 1100; i++) {
        c = fresh(NULL);
        assert_int_equal(agent_vm_power(a, &c, hyp, i % 2 ? AGENT_POWER_STOP : AGENT_POWER_START,
                                        &err), 0);
    }
    agent_close(a);
    snprintf(path, sizeof(path), "%s/sim/vol.log", t->dir);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        lines++;
    fclose(f);
    assert_true(lines < 1100); /* the log was rewritten with the live records */
    a = open_sim(t, "sim://");
    assert_int_equal(volume_size(a, "vol-kept"), 5);
    agent_close(a);
}

/* One answer of a copy under way: PENDING, of total bytes, never going back from *last; waits a little
 * before the next poll. Answers 1. */
static int
still_copying(const agent_err_t *err, const agent_progress_t *p, int64_t total, int64_t *last)
{
    assert_int_equal(err->status, AGENT_PENDING);
    assert_int_equal(p->bytes_total, total);
    assert_true(p->bytes_copied >= *last && p->bytes_copied <= total);
    *last = p->bytes_copied;
    sleep_ms(20);
    return 1;
}

/* A VM whose data disk is a clone of a volume is created PENDING, its progress advancing to the clone's
 * bytes, then OK; a disk attached as a clone likewise, the attach repeated being the poll. */
static void
clones_are_copies_with_progress(void **state)
{
    agent_tmp_t *t = *state;
    agent_t *a = open_sim(t, "sim://?copyMBps=4000"); /* 2 GiB: about half a second */
    const agent_disk_spec_t cloned[] = {
        {-1, 3, AGENT_CACHING_READ_WRITE, NULL, NULL},
        {1, 2, AGENT_CACHING_NONE, NULL, "vol-a"},
    };
    agent_disk_spec_t attach = {2, 2, AGENT_CACHING_NONE, NULL, "vol-b"};
    agent_vm_spec_t spec = {"vm-clone", "vm-clone", 2, 1024, 0, 0, 2, cloned, 2, NULL, 0};
    agent_progress_t p = {0};
    agent_call_t c = fresh(&p);
    char hyp[AGENT_ID_MAX] = "";
    int64_t last = 0;
    agent_err_t err;
    int pending = 0;

    while (agent_vm_create(a, &c, &spec, hyp, &err) != 0)
        pending += still_copying(&err, &p, 2 * GiB, &last);
    assert_true(pending > 0);
    assert_int_equal(p.bytes_copied, 2 * GiB);
    c = fresh(&p);
    last = pending = 0;
    while (agent_disk_attach(a, &c, hyp, &attach, &err) != 0)
        pending += still_copying(&err, &p, 2 * GiB, &last);
    assert_true(pending > 0);
    assert_int_equal(p.bytes_copied, 2 * GiB);
    agent_close(a);
}

/* An import is keyed by the VM id, PENDING while its disks and (running) memory are copied, running with
 * its checkpoints by name at the end. */
static void
imports_copy_disks_and_memory(void **state)
{
    agent_tmp_t *t = *state;
    agent_t *a = open_sim(t, "sim://?copyMBps=8000");
    agent_vm_spec_t spec = {"vm-moved", "vm-moved", 2, 1024, 0, 0, 2, plain, 2, NULL, 0};
    const char *names[] = {"before-upgrade"};
    agent_vm_source_t src = {"old-host", "sim-old", AGENT_VM_RUNNING, names, 1};
    agent_progress_t p = {0};
    agent_call_t c = fresh(&p);
    agent_vm_list_t vms = {0};
    const agent_vm_info_t *vm;
    char hyp[AGENT_ID_MAX] = "";
    agent_err_t err;

    while (agent_vm_import(a, &c, &spec, &src, hyp, &err) != 0) {
        assert_int_equal(err.status, AGENT_PENDING);
        assert_int_equal(p.bytes_total, 8 * GiB + 1024 * MiB);
        sleep_ms(20);
    }
    c = fresh(NULL);
    assert_int_equal(agent_inventory(a, &c, &vms, &err), 0);
    vm = agent_vm_list_find_vm_id(&vms, "vm-moved");
    assert_non_null(vm);
    assert_string_equal(vm->hypervisor_id, hyp);
    assert_int_equal(vm->power, AGENT_VM_RUNNING);
    assert_int_equal(vm->ncheckpoints, 1);
    assert_string_equal(vm->checkpoints[0].name, "before-upgrade");
    agent_vm_list_free(&vms);
    agent_close(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(volumes_survive_a_reopen, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(a_copy_resumes_where_it_was_after_a_reopen, setup,
                                        agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(compaction_keeps_volumes, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(clones_are_copies_with_progress, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(imports_copy_disks_and_memory, setup, agent_tmp_teardown),
    };

    return cmocka_run_group_tests_name("agent_sim_volume", tests, NULL, NULL);
}
