/*
 * test_agent_conformance_volume.h: the conformance suite's cases for volumes, copies, clones and imports
 * (the volume part of lib/agent.h), included once by test_agent_conformance.c after its helpers, whose
 * case table lists them with CONFORMANCE_VOLUME_CASES.
 *
 * They run against a kind whose fixture sets has_volumes (test_agent_conformance.h) and skip on the
 * others, until those kinds implement the operations. The cases: a snapshot of the OS disk and of a data
 * disk, in their sizes, keyed by the volume id; a lun or VM the host does not have is NOT_FOUND; a copy
 * answers PENDING or OK, its progress never going back and ending at its total (a fixture may copy at once
 * or at a rate); a delete, then NOT_FOUND; disks cloned from a volume by a create and by an attach; an
 * import of a running VM with its checkpoints by name; operation ids replayed and conflicting.
 */
#ifndef WAPD_TEST_AGENT_CONFORMANCE_VOLUME_H
#define WAPD_TEST_AGENT_CONFORMANCE_VOLUME_H

#define GiB ((int64_t) 1024 * 1024 * 1024)

/* The case's host, skipping the case when its kind does not keep volumes yet. */
static host_t *
V(void **state)
{
    host_t *h = H(state);

    if (!h->fx->has_volumes)
        skip();
    return h;
}

static int64_t
snapshot_ok(agent_t *a, const char *hyp, int lun, const char *volume_id)
{
    agent_call_t c = fresh();
    agent_err_t err;
    int64_t size = -1;

    assert_int_equal(agent_volume_snapshot(a, &c, hyp, lun, volume_id, &size, &err), 0);
    return size;
}

/* Runs a long call with operation id op until it is no longer pending, checking that its progress never
 * goes back and never passes its total; answers its status, *last its final progress. */
#define POLL(rc, last, CALL)                                                                       \
    do {                                                                                           \
        int i_;                                                                                    \
        for (i_ = 0; i_ < 6000; i_++) {                                                            \
            agent_progress_t before_ = p;                                                          \
            rc = (CALL);                                                                           \
            assert_true(p.bytes_copied <= p.bytes_total);                                          \
            assert_true(p.bytes_copied >= before_.bytes_copied);                                   \
            if (rc == 0 || err.status != AGENT_PENDING)                                            \
                break;                                                                             \
            sleep_ms(10);                                                                          \
        }                                                                                          \
        last = p;                                                                                  \
    } while (0)

static void
snapshots_of_the_os_and_a_data_disk(void **state)
{
    host_t *h = V(state);
    char hyp[AGENT_ID_MAX];
    agent_call_t c;
    agent_err_t err;
    int64_t size = 0;

    create_ok(h->a, vmid("snap"), hyp);
    assert_int_equal(snapshot_ok(h->a, hyp, -1, "vol-snap-os"), 10);
    assert_int_equal(snapshot_ok(h->a, hyp, 0, "vol-snap-data"), 20);
    power_ok(h->a, hyp, AGENT_POWER_START, AGENT_VM_RUNNING); /* in any steady power state */
    assert_int_equal(snapshot_ok(h->a, hyp, 0, "vol-snap-running"), 20);
    /* Keyed by the volume id: a volume there already is answered, not made again. */
    assert_int_equal(snapshot_ok(h->a, hyp, -1, "vol-snap-os"), 10);
    c = fresh();
    assert_int_equal(agent_volume_snapshot(h->a, &c, hyp, 7, "vol-snap-none", &size, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    c = fresh();
    assert_int_equal(agent_volume_snapshot(h->a, &c, "no-such-vm", -1, "vol-snap-none", &size, &err),
                     -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
}

static void
copies_advance_to_their_total_and_delete(void **state)
{
    host_t *h = V(state);
    char hyp[AGENT_ID_MAX];
    agent_progress_t p = {0}, last;
    agent_call_t c = {"copy-op", 0, &p};
    agent_volume_src_t src = {"conformance", "vol-copy-src", 10};
    agent_err_t err;
    int rc;

    create_ok(h->a, vmid("copy"), hyp);
    assert_int_equal(snapshot_ok(h->a, hyp, -1, "vol-copy-src"), 10);
    POLL(rc, last, agent_volume_copy(h->a, &c, &src, "vol-copy", &err));
    assert_int_equal(rc, 0);
    assert_int_equal(last.bytes_total, 10 * GiB);
    assert_int_equal(last.bytes_copied, last.bytes_total);
    /* The finished copy's id answers again with its final progress; a new id finds the volume there. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(agent_volume_copy(h->a, &c, &src, "vol-copy", &err), 0);
    assert_int_equal(p.bytes_copied, 10 * GiB);
    c = fresh();
    assert_int_equal(agent_volume_copy(h->a, &c, &src, "vol-copy", &err), 0);
    c = fresh();
    assert_int_equal(agent_volume_delete(h->a, &c, "vol-copy", &err), 0);
    c = fresh();
    assert_int_equal(agent_volume_delete(h->a, &c, "vol-copy", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
}

static void
clones_by_create_and_attach(void **state)
{
    host_t *h = V(state);
    const agent_disk_spec_t cloned[] = {
        {-1, 10, AGENT_CACHING_READ_WRITE, "img-base", NULL},
        {1, 20, AGENT_CACHING_NONE, NULL, "vol-clone"},
    };
    agent_disk_spec_t attach = {2, 20, AGENT_CACHING_READ_ONLY, NULL, "vol-clone"};
    agent_vm_spec_t spec = {vmid("clone-b"), "clone-b", 2, 2048, 0, 0, 2, cloned, 2, nics, 1};
    char a_hyp[AGENT_ID_MAX], b_hyp[AGENT_ID_MAX];
    agent_progress_t p = {0}, last;
    agent_call_t c = fresh();
    agent_vm_info_t vm;
    agent_err_t err;
    int rc;

    create_ok(h->a, vmid("clone-a"), a_hyp);
    assert_int_equal(snapshot_ok(h->a, a_hyp, 0, "vol-clone"), 20);
    assert_int_equal(create(h->a, c.op_id, &spec, b_hyp, &err), 0);
    c = fresh();
    c.progress = &p;
    POLL(rc, last, agent_disk_attach(h->a, &c, b_hyp, &attach, &err));
    assert_int_equal(rc, 0);
    assert_true(last.bytes_copied == last.bytes_total);
    assert_true(find(h->a, b_hyp, &vm));
    assert_int_equal(vm.ndisks, 3);
    assert_int_equal(vm.disks[1].lun, 1);
    assert_int_equal(vm.disks[1].size_gb, 20);
    assert_int_equal(vm.disks[2].lun, 2);
    assert_int_equal(vm.disks[2].size_gb, 20);
}

static void
imports_keep_power_and_checkpoints(void **state)
{
    host_t *h = V(state);
    agent_vm_spec_t spec = spec_of(vmid("import-dst"), "import-dst");
    const char *names[] = {"first", "second"};
    char src_hyp[AGENT_ID_MAX], hyp[AGENT_ID_MAX], again[AGENT_ID_MAX], cp[AGENT_ID_MAX];
    agent_vm_source_t src = {"conformance", src_hyp, AGENT_VM_RUNNING, names, 2};
    agent_progress_t p = {0}, last;
    agent_call_t c = fresh();
    agent_vm_info_t vm;
    agent_err_t err;
    int rc, i;

    create_ok(h->a, vmid("import-src"), src_hyp);
    power_ok(h->a, src_hyp, AGENT_POWER_START, AGENT_VM_RUNNING);
    for (i = 0; i < 2; i++) {
        c = fresh();
        assert_int_equal(agent_checkpoint_create(h->a, &c, src_hyp, names[i], cp, &err), 0);
    }
    c = fresh();
    c.progress = &p;
    POLL(rc, last, agent_vm_import(h->a, &c, &spec, &src, hyp, &err));
    assert_int_equal(rc, 0);
    assert_true(last.bytes_copied == last.bytes_total);
    assert_true(find(h->a, hyp, &vm));
    assert_string_equal(vm.vm_id, vmid("import-dst"));
    assert_int_equal(vm.power, AGENT_VM_RUNNING);
    assert_int_equal(vm.ncheckpoints, 2);
    for (i = 0; i < 2; i++) {
        /* (an id is the VM's: libvirt derives it from the name, so it may equal the source's) */
        assert_true(strcmp(vm.checkpoints[i].name, "first") == 0 ||
                    strcmp(vm.checkpoints[i].name, "second") == 0);
    }
    assert_string_not_equal(vm.checkpoints[0].name, vm.checkpoints[1].name);
    /* Keyed by the VM id, like a create. */
    c = fresh();
    p = (agent_progress_t){0};
    POLL(rc, last, agent_vm_import(h->a, &c, &spec, &src, again, &err));
    assert_int_equal(rc, 0);
    assert_string_equal(again, hyp);
    assert_int_equal(vms_with_id(h->a, vmid("import-dst")), 1);
}

static void
volume_operation_ids_replay(void **state)
{
    host_t *h = V(state);
    char hyp[AGENT_ID_MAX];
    agent_call_t c = call("vol-replay"), d;
    agent_err_t err;
    int64_t size = 0;

    create_ok(h->a, vmid("vol-replay"), hyp);
    assert_int_equal(agent_volume_snapshot(h->a, &c, hyp, 0, "vol-replayed", &size, &err), 0);
    assert_int_equal(size, 20);
    d = fresh();
    assert_int_equal(agent_volume_delete(h->a, &d, "vol-replayed", &err), 0);
    /* The same id and arguments answer as the first did, and make nothing again. */
    size = 0;
    assert_int_equal(agent_volume_snapshot(h->a, &c, hyp, 0, "vol-replayed", &size, &err), 0);
    assert_int_equal(size, 20);
    d = fresh();
    assert_int_equal(agent_volume_delete(h->a, &d, "vol-replayed", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    /* The same id with other arguments is a conflict, and changes nothing. */
    assert_int_equal(agent_volume_snapshot(h->a, &c, hyp, -1, "vol-replayed", &size, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_CONFLICT);
    assert_int_equal(agent_volume_delete(h->a, &c, "vol-replayed", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_CONFLICT);
}

#define CONFORMANCE_VOLUME_CASES                                                                   \
    CASE(snapshots_of_the_os_and_a_data_disk), CASE(copies_advance_to_their_total_and_delete),     \
        CASE(clones_by_create_and_attach), CASE(imports_keep_power_and_checkpoints),               \
        CASE(volume_operation_ids_replay)

#endif
