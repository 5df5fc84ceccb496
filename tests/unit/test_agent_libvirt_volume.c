/*
 * Unit tests of the libvirt agent driver's volumes and imports (lib/agent/libvirt_volume.c,
 * lib/agent/libvirt_import.c) on libvirt's built-in test driver (test:///default): volumes kept in
 * the pool under wapd's id and keyed by it, disks cloned from them (a missing source is an error,
 * not an empty disk), a VM imported with its checkpoints and power state, and a migration between
 * two hosts of one libvirt, which hands the domain over instead of copying it.
 *
 * The slots are called through the driver's table. test:///default is shared by every connection
 * of the process: each test deletes what it made and checks it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libvirt/libvirt.h>

#include "../../lib/agent/libvirt.h"

#define URI "test:///default"
#define VM1 "6e2c5a7f-1c9b-4d2f-8b68-000000000001"
#define VM2 "6e2c5a7f-1c9b-4d2f-8b68-000000000002"
#define GIB ((int64_t) 1 << 30)

static const agent_driver_t *drv = &agent_libvirt_driver;
static agent_err_t err;

/* The slot call must succeed; names libvirt's error when it did not. */
#define MUST(expr)                                                                                 \
    do {                                                                                           \
        memset(&err, 0, sizeof(err));                                                              \
        if ((expr) != 0 || err.status != AGENT_OK)                                                 \
            fail_msg("%s: %s", #expr, err.message);                                                \
    } while (0)
/* The slot call must fail with that status. */
#define REFUSED(expr, code)                                                                        \
    do {                                                                                           \
        assert_int_equal((expr), -1);                                                              \
        assert_int_equal(err.status, (code));                                                      \
    } while (0)

static agent_call_t c = {.op_id = "op", .timeout_ms = 5000};

static void *
host(const char *host_id)
{
    agent_conf_t conf = {.host_id = host_id, .uri = URI};
    void *priv = NULL;

    MUST(drv->open(&conf, &priv, &err));
    return priv;
}

static const agent_disk_spec_t disks[] = {
    {.lun = -1, .size_gb = 40, .caching = AGENT_CACHING_READ_WRITE, .image_id = "img-absent"},
    {.lun = 0, .size_gb = 60, .caching = AGENT_CACHING_NONE},
};

static agent_vm_spec_t
spec_of(const char *vm_id, const agent_disk_spec_t *d, int nd)
{
    agent_vm_spec_t s = {.vm_id = vm_id, .name = vm_id, .cores = 1, .memory_mb = 2048,
                         .generation = 1, .disks = d, .ndisks = nd};

    return s;
}

/* The capacity in GB of the pool's volume of that name; -1 when the pool has none. */
static int64_t
volume_gb(const char *name)
{
    virConnectPtr conn = virConnectOpen(URI);
    virStoragePoolPtr pool;
    virStorageVolPtr vol;
    virStorageVolInfo info;
    int64_t gb = -1;

    assert_non_null(conn);
    pool = virStoragePoolLookupByName(conn, "default-pool");
    assert_non_null(pool);
    if ((vol = virStorageVolLookupByName(pool, name)) != NULL) {
        assert_int_equal(virStorageVolGetInfo(vol, &info), 0);
        gb = (int64_t) (info.capacity / (unsigned long long) GIB);
        virStorageVolFree(vol);
    }
    virStoragePoolFree(pool);
    virConnectClose(conn);
    return gb;
}

/* Whether the host lists the VM, and its entry. */
static bool
listed(void *priv, const char *vm_id, agent_vm_info_t *out)
{
    agent_vm_list_t list = {0, NULL};
    const agent_vm_info_t *vm;

    MUST(drv->inventory(priv, &c, &list, &err));
    vm = agent_vm_list_find_vm_id(&list, vm_id);
    if (vm != NULL)
        *out = *vm;
    agent_vm_list_free(&list);
    return vm != NULL;
}

static void
create(void *priv, const char *vm_id, const agent_disk_spec_t *d, int nd)
{
    agent_vm_spec_t spec = spec_of(vm_id, d, nd);
    char hyp[AGENT_ID_MAX];

    MUST(drv->vm_create(priv, &c, &spec, hyp, &err));
    assert_string_equal(hyp, vm_id);
}

/* Deletes the VM and checks it and its disks' volumes are gone. */
static void
destroy(void *priv, const char *vm_id)
{
    char vol[128];

    MUST(drv->vm_delete(priv, &c, vm_id, &err));
    REFUSED(drv->vm_delete(priv, &c, vm_id, &err), AGENT_ERR_NOT_FOUND);
    snprintf(vol, sizeof(vol), "%s-os.img", vm_id);
    assert_int_equal(volume_gb(vol), -1);
}

static void
volumes_are_kept_in_the_pool_by_id(void **state)
{
    void *h = host("h1");
    agent_volume_src_t here = {.host_id = "h1", .volume_id = "snap-1", .size_gb = 60};
    agent_volume_src_t away = {.host_id = "h9", .volume_id = "elsewhere", .size_gb = 5};
    agent_progress_t progress = {0, 0};
    agent_call_t copy = {.op_id = "copy", .timeout_ms = 5000, .progress = &progress};
    int64_t gb = 0;

    (void) state;
    create(h, VM1, disks, 2);
    MUST(drv->volume_snapshot(h, &c, VM1, 0, "snap-1", &gb, &err));
    assert_int_equal(gb, 60);
    assert_int_equal(volume_gb("snap-1"), 60);
    gb = 0; /* keyed by the volume id: made once, answered again */
    MUST(drv->volume_snapshot(h, &c, VM1, 0, "snap-1", &gb, &err));
    assert_int_equal(gb, 60);
    MUST(drv->volume_snapshot(h, &c, VM1, -1, "snap-os", &gb, &err));
    assert_int_equal(gb, 40);
    REFUSED(drv->volume_snapshot(h, &c, VM1, 7, "snap-x", &gb, &err), AGENT_ERR_NOT_FOUND);
    REFUSED(drv->volume_snapshot(h, &c, VM2, 0, "snap-x", &gb, &err), AGENT_ERR_NOT_FOUND);
    assert_int_equal(volume_gb("snap-x"), -1);
    /* a copy of a volume the pool has is its clone; of one it cannot read, one of its size */
    MUST(drv->volume_copy(h, &copy, &here, "snap-2", &err));
    assert_int_equal(progress.bytes_total, 60 * GIB);
    assert_int_equal(progress.bytes_copied, 60 * GIB);
    MUST(drv->volume_copy(h, &copy, &here, "snap-2", &err));
    MUST(drv->volume_copy(h, &copy, &away, "snap-3", &err));
    assert_int_equal(volume_gb("snap-2"), 60);
    assert_int_equal(volume_gb("snap-3"), 5);
    assert_int_equal(progress.bytes_copied, 5 * GIB);
    /* volumes outlive the VM they were taken of */
    destroy(h, VM1);
    assert_int_equal(volume_gb("snap-1"), 60);
    const char *names[] = {"snap-1", "snap-os", "snap-2", "snap-3"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        MUST(drv->volume_delete(h, &c, names[i], &err));
        REFUSED(drv->volume_delete(h, &c, names[i], &err), AGENT_ERR_NOT_FOUND);
        assert_int_equal(volume_gb(names[i]), -1);
    }
    drv->close(h);
}

static void
disks_are_cloned_from_volumes_that_exist(void **state)
{
    void *h = host("h1");
    agent_volume_src_t away = {.host_id = "h9", .volume_id = "elsewhere", .size_gb = 30};
    agent_disk_spec_t from[] = {{.lun = -1, .size_gb = 30, .volume_id = "base"},
                                {.lun = 2, .size_gb = 30, .volume_id = "base"}};
    agent_disk_spec_t lost = {.lun = 3, .size_gb = 30, .volume_id = "gone"};
    agent_vm_spec_t spec = spec_of(VM2, from, 2);
    agent_vm_info_t vm;
    char hyp[AGENT_ID_MAX];

    (void) state;
    /* no volume to clone: refused, nothing left behind */
    REFUSED(drv->vm_create(h, &c, &spec, hyp, &err), AGENT_ERR_NOT_FOUND);
    assert_false(listed(h, VM2, &vm));
    assert_int_equal(volume_gb(VM2 "-os.img"), -1);
    MUST(drv->volume_copy(h, &c, &away, "base", &err));
    create(h, VM2, from, 2);
    assert_int_equal(volume_gb(VM2 "-os.img"), 30);
    assert_int_equal(volume_gb(VM2 "-lun2.img"), 30);
    REFUSED(drv->disk_attach(h, &c, VM2, &lost, &err), AGENT_ERR_NOT_FOUND);
    assert_int_equal(volume_gb(VM2 "-lun3.img"), -1);
    lost.volume_id = "base";
    MUST(drv->disk_attach(h, &c, VM2, &lost, &err));
    assert_true(listed(h, VM2, &vm));
    assert_int_equal(vm.ndisks, 3);
    assert_int_equal(volume_gb(VM2 "-lun3.img"), 30);
    destroy(h, VM2);
    assert_int_equal(volume_gb(VM2 "-lun3.img"), -1);
    MUST(drv->volume_delete(h, &c, "base", &err));
    drv->close(h);
}

static void
an_import_makes_the_vm_with_its_checkpoints(void **state)
{
    void *h = host("h1");
    const char *cps[] = {"before-upgrade", "nightly"};
    agent_vm_source_t live = {.host_id = "h7", .hypervisor_id = "vm-on-h7",
                              .power = AGENT_VM_RUNNING, .checkpoints = cps, .ncheckpoints = 2};
    agent_vm_source_t parked = {.host_id = "h7", .hypervisor_id = "other-on-h7",
                                .power = AGENT_VM_DEALLOCATED};
    agent_progress_t progress = {0, 0};
    agent_call_t imp = {.op_id = "import", .timeout_ms = 5000, .progress = &progress};
    agent_vm_spec_t spec = spec_of(VM1, disks, 2);
    agent_vm_info_t vm;
    char hyp[AGENT_ID_MAX];

    (void) state;
    for (int round = 0; round < 2; round++) { /* keyed by the VM id: a repeat answers the same */
        MUST(drv->vm_import(h, &imp, &spec, &live, hyp, &err));
        assert_string_equal(hyp, VM1);
        assert_int_equal(progress.bytes_total, 100 * GIB + 2048LL * 1024 * 1024);
        assert_int_equal(progress.bytes_copied, progress.bytes_total);
        assert_true(listed(h, VM1, &vm));
        assert_int_equal(vm.power, AGENT_VM_RUNNING);
        assert_int_equal(vm.ndisks, 2);
        assert_int_equal(vm.ncheckpoints, 2);
        assert_true(strcmp(vm.checkpoints[0].name, cps[0]) == 0 ||
                    strcmp(vm.checkpoints[1].name, cps[0]) == 0);
        assert_int_equal(volume_gb(VM1 "-lun0.img"), 60);
    }
    spec = spec_of(VM2, disks, 1);
    MUST(drv->vm_import(h, &imp, &spec, &parked, hyp, &err));
    assert_true(listed(h, VM2, &vm));
    assert_int_equal(vm.power, AGENT_VM_DEALLOCATED);
    assert_int_equal(progress.bytes_total, 40 * GIB);
    destroy(h, VM1);
    destroy(h, VM2);
    drv->close(h);
}

static void
a_migration_within_one_libvirt_hands_the_domain_over(void **state)
{
    void *a = host("host-a"), *b = host("host-b");
    const char *cps[] = {"cp1"};
    agent_vm_source_t src = {.host_id = "host-a", .hypervisor_id = VM1,
                             .power = AGENT_VM_RUNNING, .checkpoints = cps, .ncheckpoints = 1};
    agent_vm_spec_t spec = spec_of(VM1, disks, 2);
    agent_vm_info_t vm;
    char hyp[AGENT_ID_MAX], cp[AGENT_ID_MAX];

    (void) state;
    create(a, VM1, disks, 2);
    MUST(drv->checkpoint_create(a, &c, VM1, "cp1", cp, &err));
    MUST(drv->vm_power(a, &c, VM1, AGENT_POWER_START, &err));
    assert_false(listed(b, VM1, &vm)); /* one libvirt, but a's VM */
    REFUSED(drv->vm_power(b, &c, VM1, AGENT_POWER_STOP, &err), AGENT_ERR_NOT_FOUND);
    /* a migration that fails after the import: the target's cleanup hands the VM back */
    MUST(drv->vm_import(b, &c, &spec, &src, hyp, &err));
    assert_false(listed(a, VM1, &vm));
    assert_true(listed(b, VM1, &vm));
    MUST(drv->vm_delete(b, &c, VM1, &err));
    assert_true(listed(a, VM1, &vm));
    assert_int_equal(vm.power, AGENT_VM_RUNNING);
    assert_int_equal(vm.ncheckpoints, 1);
    assert_int_equal(volume_gb(VM1 "-lun0.img"), 60);
    /* one that succeeds: the source's delete finds nothing, the VM runs on with its disks */
    MUST(drv->vm_import(b, &c, &spec, &src, hyp, &err));
    REFUSED(drv->vm_delete(a, &c, VM1, &err), AGENT_ERR_NOT_FOUND);
    REFUSED(drv->vm_delete(a, &c, VM1, &err), AGENT_ERR_NOT_FOUND);
    assert_true(listed(b, VM1, &vm));
    assert_int_equal(vm.power, AGENT_VM_RUNNING);
    assert_int_equal(volume_gb(VM1 "-lun0.img"), 60);
    /* a checkpoint taken on a restores on b and stays b's */
    MUST(drv->checkpoint_restore(b, &c, VM1, cp, &err));
    assert_true(listed(b, VM1, &vm));
    assert_false(listed(a, VM1, &vm));
    destroy(b, VM1);
    assert_int_equal(volume_gb(VM1 "-lun0.img"), -1);
    drv->close(a);
    drv->close(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(volumes_are_kept_in_the_pool_by_id),
        cmocka_unit_test(disks_are_cloned_from_volumes_that_exist),
        cmocka_unit_test(an_import_makes_the_vm_with_its_checkpoints),
        cmocka_unit_test(a_migration_within_one_libvirt_hands_the_domain_over),
    };
    virConnectPtr keep = virConnectOpen(URI); /* holds the test driver's state across the tests */
    int failed;

    if (keep == NULL)
        return 0; /* libvirt cannot run here */
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    virConnectClose(keep);
    return failed;
}
