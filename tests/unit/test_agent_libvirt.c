/*
 * Unit tests of the libvirt agent driver (lib/agent/libvirt*.c) on libvirt's built-in test driver
 * (test:///default, no libvirtd): every slot, creates and checkpoints keyed by their ids, the test
 * driver's own "test" domain listed as an unmanaged VM, errors typed, two threads at once.
 *
 * The slots are called through the driver's table, so that what is tested is the driver's own
 * keying and not the journal decorator's; one test opens it through the registry. test:///default
 * keeps its state while any connection of the process is open: each test deletes what it made and
 * checks it.
 */
#include <pthread.h>
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
#define VM1 "5d1b4f6e-0b8a-4c1e-9a57-000000000001"
#define VM2 "5d1b4f6e-0b8a-4c1e-9a57-000000000002"
#define LONG_NAME                                                                                  \
    "Nightly, before the <big> upgrade & its reboot [7c0e5a52-16b9-4ac4-9f4e-2f0c27d1d3a8]"

static const agent_driver_t *drv = &agent_libvirt_driver;

/* Asserts that a slot call succeeded and left the caller's err untouched (callers read its status),
 * as the dispatch layer calls it: with err cleared. Names the error when it failed. */
#define OK(expr)                                                                                   \
    do {                                                                                           \
        memset(&err, 0, sizeof(err));                                                              \
        if ((expr) != 0 || err.status != AGENT_OK)                                                 \
            fail_msg("%s: %s", #expr, err.message);                                                \
    } while (0)

static void *
open_uri(const char *uri)
{
    agent_conf_t conf = {.host_id = "h1", .uri = uri};
    agent_err_t err;
    void *priv = NULL;

    OK(drv->open(&conf, &priv, &err));
    assert_non_null(priv);
    return priv;
}

static agent_call_t
call(const char *op)
{
    agent_call_t c = {.op_id = op, .timeout_ms = 5000};

    return c;
}

static const agent_disk_spec_t disks[] = {
    {.lun = -1, .size_gb = 40, .caching = AGENT_CACHING_READ_WRITE, .image_id = "img-ubuntu"},
    {.lun = 0, .size_gb = 60, .caching = AGENT_CACHING_NONE},
};
static const agent_nic_spec_t nics[] = {{.network_id = "net-1", .mac = "00:15:5d:00:00:01"}};

static agent_vm_spec_t
spec_of(const char *vm_id, const char *name)
{
    agent_vm_spec_t s = {.vm_id = vm_id,
                         .name = name,
                         .cores = 2,
                         .memory_mb = 2048,
                         .memory_min_mb = 1024,
                         .memory_max_mb = 4096,
                         .generation = strcmp(vm_id, VM2) == 0 ? 2 : 1, /* VM2 boots UEFI */
                         .disks = disks,
                         .ndisks = 2,
                         .nics = nics,
                         .nnics = 1};

    return s;
}

/* The inventory entry of hyp into *out; false when the host does not list it. */
static bool
find_vm(void *priv, const char *hyp, agent_vm_info_t *out)
{
    agent_call_t c = call("inv");
    agent_vm_list_t list = {0, NULL};
    agent_err_t err;
    const agent_vm_info_t *vm;

    OK(drv->inventory(priv, &c, &list, &err));
    vm = agent_vm_list_find(&list, hyp);
    if (vm != NULL)
        *out = *vm;
    agent_vm_list_free(&list);
    return vm != NULL;
}

static agent_vm_power_t
power_of(void *priv, const char *hyp)
{
    agent_vm_info_t vm;

    assert_true(find_vm(priv, hyp, &vm));
    return vm.power;
}

/* True when the default pool of the test driver has that volume. */
static bool
volume_exists(const char *name)
{
    virConnectPtr c = virConnectOpen(URI);
    virStoragePoolPtr pool;
    virStorageVolPtr vol;
    bool found;

    assert_non_null(c);
    pool = virStoragePoolLookupByName(c, "default-pool");
    assert_non_null(pool);
    vol = virStorageVolLookupByName(pool, name);
    found = vol != NULL;
    if (vol != NULL)
        virStorageVolFree(vol);
    virStoragePoolFree(pool);
    virConnectClose(c);
    return found;
}

static void
power(void *priv, const char *hyp, agent_power_op_t op, agent_vm_power_t expect)
{
    agent_call_t c = call("power");
    agent_err_t err;

    OK(drv->vm_power(priv, &c, hyp, op, &err));
    assert_int_equal(power_of(priv, hyp), expect);
}

static void
create_vm(void *priv, const char *vm_id, const char *name)
{
    agent_vm_spec_t spec = spec_of(vm_id, name);
    agent_call_t c = call("create");
    agent_err_t err;
    char hyp[AGENT_ID_MAX];

    if (drv->vm_create(priv, &c, &spec, hyp, &err) != 0)
        fail_msg("create: %s", err.message);
    assert_string_equal(hyp, vm_id);
}

static void
delete_vm(void *priv, const char *hyp)
{
    agent_call_t c = call("delete");
    agent_err_t err;

    if (drv->vm_delete(priv, &c, hyp, &err) != 0)
        fail_msg("delete: %s", err.message);
    assert_int_equal(drv->vm_delete(priv, &c, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
}

static void
the_registry_serves_the_kind(void **state)
{
    agent_conf_t conf = {.host_id = "h1", .uri = URI "?pool=default-pool"};
    agent_call_t c = call("inv");
    agent_vm_list_t list = {0, NULL};
    agent_err_t err;
    agent_t *a;

    (void) state;
    assert_int_equal(agent_builtin_register(), 0);
    assert_true(agent_kind_known("libvirt"));
    assert_true(agent_kind_remote("libvirt"));
    assert_false(agent_kind_can_simulate("libvirt"));
    assert_null(agent_default_uri("libvirt"));
    assert_int_equal(agent_check_uri("libvirt", NULL, &err), -1);
    assert_int_equal(agent_check_uri("libvirt", "sim://", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    a = agent_open("libvirt", &conf, &err);
    assert_non_null(a);
    OK(agent_inventory(a, &c, &list, &err));
    assert_int_equal(list.n, 1);
    assert_string_equal(list.vms[0].name, "test");
    agent_vm_list_free(&list);
    agent_close(a);
}

static void
uris_are_checked_without_io(void **state)
{
    agent_err_t err;

    (void) state;
    assert_string_equal(drv->name, "libvirt");
    assert_null(drv->default_uri);
    assert_true(drv->remote);
    assert_false(drv->journals);
    OK(drv->check_uri("qemu:///system", &err));
    OK(drv->check_uri("qemu+ssh://root@h1.example/system?keyfile=/k", &err));
    OK(drv->check_uri(URI "?pool=default-pool&latencyMs=5", &err));
    assert_int_equal(drv->check_uri("qemu://h1", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    assert_int_equal(drv->check_uri("system", &err), -1);
    assert_int_equal(drv->check_uri("qemu:/system", &err), -1);
    assert_int_equal(drv->check_uri("qemu:///sys tem", &err), -1);
    assert_int_equal(drv->check_uri(URI "?pool=", &err), -1);
    assert_non_null(strstr(err.message, "pool"));
    assert_int_equal(drv->check_uri("", &err), -1);
}

static void
a_host_that_is_down_opens_and_answers_unreachable(void **state)
{
    void *priv = open_uri("qemu+tcp://127.0.0.1:1/system");
    agent_call_t c = call("info");
    agent_host_info_t info;
    agent_err_t err;

    (void) state;
    assert_int_equal(drv->host_info(priv, &c, &info, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_UNREACHABLE);
    assert_int_equal(drv->vm_power(priv, &c, VM1, AGENT_POWER_START, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_UNREACHABLE);
    drv->close(priv);
}

static void
create_is_keyed_by_the_vm_id(void **state)
{
    void *priv = open_uri(URI);
    agent_vm_spec_t other = spec_of(VM1, "renamed");
    agent_call_t c = call("create-again");
    agent_vm_list_t list = {0, NULL};
    agent_vm_info_t vm;
    agent_err_t err;
    char hyp[AGENT_ID_MAX];

    (void) state;
    create_vm(priv, VM1, "web01");
    other.cores = 8;
    OK(drv->vm_create(priv, &c, &other, hyp, &err));
    assert_string_equal(hyp, VM1);
    OK(drv->inventory(priv, &c, &list, &err));
    assert_int_equal(list.n, 2); /* the test driver's "test" domain and ours */
    agent_vm_list_free(&list);
    assert_true(find_vm(priv, VM1, &vm));
    assert_string_equal(vm.vm_id, VM1);
    assert_string_equal(vm.name, "web01");
    assert_int_equal(vm.cores, 2);
    assert_int_equal(vm.memory_mb, 2048);
    assert_int_equal(vm.power, AGENT_VM_STOPPED);
    assert_int_equal(vm.ndisks, 2);
    assert_int_equal(vm.disks[0].lun, -1);
    assert_int_equal(vm.disks[0].size_gb, 40);
    assert_int_equal(vm.disks[1].lun, 0);
    assert_true(volume_exists(VM1 "-os.img"));
    assert_true(volume_exists(VM1 "-lun0.img"));
    delete_vm(priv, VM1);
    assert_false(volume_exists(VM1 "-os.img"));
    assert_false(volume_exists(VM1 "-lun0.img"));
    assert_false(find_vm(priv, VM1, &vm));
    drv->close(priv);
}

static void
power_actions_lead_to_their_state(void **state)
{
    void *priv = open_uri(URI);
    agent_call_t c = call("release");
    agent_err_t err;

    (void) state;
    create_vm(priv, VM1, "web01");
    power(priv, VM1, AGENT_POWER_START, AGENT_VM_RUNNING);
    power(priv, VM1, AGENT_POWER_START, AGENT_VM_RUNNING);
    power(priv, VM1, AGENT_POWER_SHUTDOWN, AGENT_VM_STOPPED);
    power(priv, VM1, AGENT_POWER_SHUTDOWN, AGENT_VM_STOPPED);
    power(priv, VM1, AGENT_POWER_RESTART, AGENT_VM_RUNNING);
    power(priv, VM1, AGENT_POWER_RESTART, AGENT_VM_RUNNING);
    power(priv, VM1, AGENT_POWER_STOP, AGENT_VM_STOPPED);
    power(priv, VM1, AGENT_POWER_STOP, AGENT_VM_STOPPED);
    power(priv, VM1, AGENT_POWER_START, AGENT_VM_RUNNING);
    OK(drv->vm_release(priv, &c, VM1, &err));
    assert_int_equal(power_of(priv, VM1), AGENT_VM_DEALLOCATED);
    OK(drv->vm_release(priv, &c, VM1, &err));
    assert_int_equal(power_of(priv, VM1), AGENT_VM_DEALLOCATED);
    power(priv, VM1, AGENT_POWER_STOP, AGENT_VM_DEALLOCATED);
    power(priv, VM1, AGENT_POWER_START, AGENT_VM_RUNNING);
    power(priv, VM1, AGENT_POWER_STOP, AGENT_VM_STOPPED);
    delete_vm(priv, VM1);
    drv->close(priv);
}

static void
resize_needs_a_stopped_vm(void **state)
{
    void *priv = open_uri(URI);
    agent_call_t c = call("resize");
    agent_vm_info_t vm;
    agent_err_t err;

    (void) state;
    create_vm(priv, VM1, "web01");
    power(priv, VM1, AGENT_POWER_START, AGENT_VM_RUNNING);
    assert_int_equal(drv->vm_reconfigure(priv, &c, VM1, 4, 4096, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    power(priv, VM1, AGENT_POWER_STOP, AGENT_VM_STOPPED);
    OK(drv->vm_reconfigure(priv, &c, VM1, 4, 6144, &err));
    assert_true(find_vm(priv, VM1, &vm));
    assert_int_equal(vm.cores, 4);
    assert_int_equal(vm.memory_mb, 6144);
    OK(drv->vm_reconfigure(priv, &c, VM1, 1, 1024, &err));
    assert_true(find_vm(priv, VM1, &vm));
    assert_int_equal(vm.cores, 1);
    assert_int_equal(vm.memory_mb, 1024);
    delete_vm(priv, VM1);
    drv->close(priv);
}

static void
disks_are_keyed_by_lun(void **state)
{
    void *priv = open_uri(URI);
    agent_disk_spec_t disk = {.lun = 3, .size_gb = 20, .caching = AGENT_CACHING_READ_ONLY};
    agent_call_t c = call("disk");
    agent_vm_info_t vm;
    agent_err_t err;

    (void) state;
    create_vm(priv, VM1, "web01");
    OK(drv->disk_attach(priv, &c, VM1, &disk, &err));
    OK(drv->disk_attach(priv, &c, VM1, &disk, &err));
    assert_true(find_vm(priv, VM1, &vm));
    assert_int_equal(vm.ndisks, 3);
    assert_int_equal(vm.disks[2].lun, 3);
    assert_int_equal(vm.disks[2].size_gb, 20);
    assert_true(volume_exists(VM1 "-lun3.img"));
    power(priv, VM1, AGENT_POWER_START, AGENT_VM_RUNNING);
    disk.lun = 4;
    OK(drv->disk_attach(priv, &c, VM1, &disk, &err));
    OK(drv->disk_detach(priv, &c, VM1, 3, &err));
    assert_int_equal(drv->disk_detach(priv, &c, VM1, 3, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    assert_false(volume_exists(VM1 "-lun3.img"));
    assert_true(find_vm(priv, VM1, &vm));
    assert_int_equal(vm.ndisks, 3);
    delete_vm(priv, VM1);
    assert_false(volume_exists(VM1 "-lun4.img"));
    drv->close(priv);
}

static void
checkpoints_are_keyed_by_name(void **state)
{
    void *priv = open_uri(URI);
    agent_call_t c = call("cp");
    agent_vm_info_t vm;
    agent_err_t err;
    char cp[AGENT_ID_MAX], again[AGENT_ID_MAX];

    (void) state;
    create_vm(priv, VM1, "web01");
    /* a name too long or too rich to be an id gets one made from it, and is kept as the name */
    OK(drv->checkpoint_create(priv, &c, VM1, LONG_NAME, cp, &err));
    OK(drv->checkpoint_create(priv, &c, VM1, LONG_NAME, again, &err));
    assert_string_equal(cp, again);
    assert_memory_equal(cp, "cp-", 3);
    assert_true(find_vm(priv, VM1, &vm));
    assert_int_equal(vm.ncheckpoints, 1);
    assert_string_equal(vm.checkpoints[0].name, LONG_NAME);
    assert_string_equal(vm.checkpoints[0].id, cp);
    OK(drv->checkpoint_delete(priv, &c, VM1, cp, &err));
    power(priv, VM1, AGENT_POWER_START, AGENT_VM_RUNNING);
    OK(drv->checkpoint_create(priv, &c, VM1, "before-upgrade", cp, &err));
    OK(drv->checkpoint_create(priv, &c, VM1, "before-upgrade", again, &err));
    assert_string_equal(cp, again);
    assert_true(find_vm(priv, VM1, &vm));
    assert_int_equal(vm.ncheckpoints, 1);
    assert_string_equal(vm.checkpoints[0].name, "before-upgrade");
    assert_string_equal(vm.checkpoints[0].id, cp);
    power(priv, VM1, AGENT_POWER_STOP, AGENT_VM_STOPPED);
    /* restore returns the VM to the power state it had */
    OK(drv->checkpoint_restore(priv, &c, VM1, cp, &err));
    assert_int_equal(power_of(priv, VM1), AGENT_VM_RUNNING);
    OK(drv->checkpoint_delete(priv, &c, VM1, cp, &err));
    assert_int_equal(drv->checkpoint_delete(priv, &c, VM1, cp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    assert_int_equal(drv->checkpoint_restore(priv, &c, VM1, cp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    /* a checkpoint of a stopped VM, left for delete to remove */
    power(priv, VM1, AGENT_POWER_STOP, AGENT_VM_STOPPED);
    OK(drv->checkpoint_create(priv, &c, VM1, "stopped", cp, &err));
    delete_vm(priv, VM1);
    assert_int_equal(drv->checkpoint_create(priv, &c, VM1, "gone", cp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    drv->close(priv);
}

/* A revert to a snapshot taken before a disk was attached leaves that disk's volume in the pool; the
 * detach that follows (a lun the config no longer names) deletes it and answers NOT_FOUND. */
static void
revert_then_detach_deletes_the_volume(void **state)
{
    void *priv = open_uri(URI);
    agent_disk_spec_t disk = {.lun = 1, .size_gb = 5, .caching = AGENT_CACHING_NONE};
    agent_call_t c = call("revert");
    agent_vm_info_t vm;
    agent_err_t err;
    char cp[AGENT_ID_MAX];

    (void) state;
    create_vm(priv, VM1, "web01");
    OK(drv->checkpoint_create(priv, &c, VM1, "bare", cp, &err));
    OK(drv->vm_reconfigure(priv, &c, VM1, 4, 4096, &err));
    OK(drv->disk_attach(priv, &c, VM1, &disk, &err));
    assert_true(volume_exists(VM1 "-lun1.img"));
    OK(drv->checkpoint_restore(priv, &c, VM1, cp, &err));
    assert_true(find_vm(priv, VM1, &vm));
    assert_int_equal(vm.cores, 2);
    assert_int_equal(vm.memory_mb, 2048);
    assert_int_equal(vm.ndisks, 2);
    assert_true(volume_exists(VM1 "-lun1.img"));
    assert_int_equal(drv->disk_detach(priv, &c, VM1, 1, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    assert_false(volume_exists(VM1 "-lun1.img"));
    delete_vm(priv, VM1);
    drv->close(priv);
}

static void
unmanaged_domains_are_listed_without_a_vm_id(void **state)
{
    void *priv = open_uri(URI);
    agent_call_t c = call("inv");
    agent_vm_list_t list = {0, NULL};
    agent_host_info_t info;
    agent_err_t err;
    const agent_vm_info_t *test = NULL;

    (void) state;
    OK(drv->inventory(priv, &c, &list, &err));
    for (size_t i = 0; i < list.n; i++)
        if (strcmp(list.vms[i].name, "test") == 0)
            test = &list.vms[i];
    assert_non_null(test);
    assert_string_equal(test->vm_id, "");
    assert_int_equal(test->power, AGENT_VM_RUNNING);
    assert_int_equal(test->ndisks, 0);
    agent_vm_list_free(&list);
    OK(drv->host_info(priv, &c, &info, &err));
    assert_string_equal(info.backend, "libvirt");
    assert_true(info.cores > 0 && info.memory_mb > 0 && info.storage_gb > 0);
    assert_int_equal(info.vms, 1);
    assert_true(info.used_cores >= 1);
    drv->close(priv);
}

static void
errors_are_typed(void **state)
{
    void *priv = open_uri(URI);
    agent_vm_spec_t spec = spec_of("not-a-uuid", "x");
    agent_call_t c = call("err");
    agent_vm_info_t vm;
    agent_err_t err;
    char hyp[AGENT_ID_MAX];

    (void) state;
    assert_int_equal(drv->vm_power(priv, &c, VM2, AGENT_POWER_START, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    assert_int_equal(drv->vm_release(priv, &c, "nope", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    assert_int_equal(drv->vm_create(priv, &c, &spec, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    assert_int_equal(drv->disk_detach(priv, &c, VM2, 0, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    /* the name "test" is the test driver's domain's: ours gets the id appended */
    create_vm(priv, VM2, "test");
    assert_true(find_vm(priv, VM2, &vm));
    assert_string_equal(vm.name, "test-" VM2);
    delete_vm(priv, VM2);
    drv->close(priv);
}

typedef struct {
    void *priv;
    const char *vm_id;
    int failed;
} worker_t;

static void *
worker(void *arg)
{
    worker_t *w = arg;
    agent_vm_spec_t spec = spec_of(w->vm_id, "twin");
    agent_call_t c = call("thread");
    agent_vm_list_t list;
    agent_err_t err;
    char hyp[AGENT_ID_MAX], cp[AGENT_ID_MAX];

    for (int i = 0; i < 5 && w->failed == 0; i++) {
        memset(&list, 0, sizeof(list));
        if (drv->vm_create(w->priv, &c, &spec, hyp, &err) != 0 ||
            drv->vm_power(w->priv, &c, hyp, AGENT_POWER_START, &err) != 0 ||
            drv->inventory(w->priv, &c, &list, &err) != 0 ||
            drv->checkpoint_create(w->priv, &c, hyp, "cp", cp, &err) != 0 ||
            drv->vm_delete(w->priv, &c, hyp, &err) != 0) {
            print_message("%s: %s\n", w->vm_id, err.message);
            w->failed++;
        }
        agent_vm_list_free(&list);
    }
    return NULL;
}

static void
two_threads_at_once(void **state)
{
    void *priv = open_uri(URI);
    worker_t w[2] = {{priv, VM1, 0}, {priv, VM2, 0}};
    pthread_t t[2];
    agent_vm_info_t vm;

    (void) state;
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(w[0].failed, 0);
    assert_int_equal(w[1].failed, 0);
    assert_false(find_vm(priv, VM1, &vm));
    assert_false(find_vm(priv, VM2, &vm));
    drv->close(priv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_registry_serves_the_kind),
        cmocka_unit_test(uris_are_checked_without_io),
        cmocka_unit_test(a_host_that_is_down_opens_and_answers_unreachable),
        cmocka_unit_test(create_is_keyed_by_the_vm_id),
        cmocka_unit_test(power_actions_lead_to_their_state),
        cmocka_unit_test(resize_needs_a_stopped_vm),
        cmocka_unit_test(disks_are_keyed_by_lun),
        cmocka_unit_test(checkpoints_are_keyed_by_name),
        cmocka_unit_test(revert_then_detach_deletes_the_volume),
        cmocka_unit_test(unmanaged_domains_are_listed_without_a_vm_id),
        cmocka_unit_test(errors_are_typed),
        cmocka_unit_test(two_threads_at_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
