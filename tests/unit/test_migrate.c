/*
 * test_migrate.c: admin VM migration (lib/vm/migrate.c) over simulated hosts: host A (16 cores, where
 * every VM is placed), host B of the same cloud (8 cores, copying at copyMBps so that an import is polled
 * for a few seconds), host C of a second cloud, and host F of the first cloud whose every call fails.
 *
 * What a migration keeps is checked at each step: a running VM is running in its record at every moment,
 * the allocation moves from source to target exactly, the checkpoint slot takes the target's id for the
 * same name, role membership and the timeline (no row written) stay; a failed import releases the
 * reservation and leaves the VM where it was; every refusal changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_vm_world.h"

#include "../../lib/events.h"
#include "../../lib/vm/migrate.h"
#include "../../lib/vm/vmrec.h"

typedef struct {
    world_t *w;
    json_t *cloud2, *b, *c, *f;
} mig_t;

static json_t *
make_host(store_t *st, const char *name, const json_t *cloud, const char *uri, int cores)
{
    return make(api_catalog_host_create, st,
                json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:i, s:i, s:i}}", "name", name, "cloudId",
                          id_of(cloud), "agent", "kind", "sim", "uri", uri, "capacity", "cores", cores,
                          "memoryMB", 32768, "storageGB", 1000));
}

static int
mig_setup(void **state)
{
    mig_t *m = calloc(1, sizeof(*m));
    store_t *st;

    world_setup(state);
    m->w = *state;
    st = m->w->f->st;
    m->b = make_host(st, "b", m->w->cloud, "sim://?copyMBps=12000", 8);
    m->cloud2 = make(api_catalog_cloud_create, st, json_pack("{s:s}", "name", "c2"));
    m->c = make_host(st, "c", m->cloud2, "sim://", 8);
    m->f = make_host(st, "f", m->w->cloud, "sim://?failRate=1", 4);
    *state = m;
    return 0;
}

static int
mig_teardown(void **state)
{
    mig_t *m = *state;

    *state = m->w;
    json_decref(m->cloud2);
    json_decref(m->b);
    json_decref(m->c);
    json_decref(m->f);
    free(m);
    return world_teardown(state);
}

/* The host's allocation of one resource now. */
static int64_t
allocated(store_t *st, const json_t *host, const char *what)
{
    err_t err = {0};
    json_t *h = store_rec_get(st, &store_kind_host, id_of(host), NULL, &err);
    int64_t v;

    assert_non_null(h);
    v = json_integer_value(json_object_get(json_object_get(h, "allocated"), what));
    json_decref(h);
    return v;
}

typedef struct {
    int64_t cores, memory, storage;
} alloc_t;

static alloc_t
alloc_of(store_t *st, const json_t *host)
{
    alloc_t a = {allocated(st, host, "cores"), allocated(st, host, "memoryMB"),
                 allocated(st, host, "storageGB")};

    return a;
}

static void
alloc_is(store_t *st, const json_t *host, alloc_t want)
{
    alloc_t a = alloc_of(st, host);

    assert_int_equal(a.cores, want.cores);
    assert_int_equal(a.memory, want.memory);
    assert_int_equal(a.storage, want.storage);
}

static vm_rec_t
rec_of(store_t *st, const char *id)
{
    err_t err = {0};
    vm_rec_t vm;

    assert_int_equal(vmrec_load(st, NULL, id, &vm, NULL, &err), 1);
    return vm;
}

typedef struct {
    const char *vm_id;
    int rows;
} count_t;

static int
count_row(void *arg, const store_timeline_row_t *row, err_t *err)
{
    count_t *c = arg;

    (void) err;
    if (strcmp(row->vm_id, c->vm_id) == 0)
        c->rows++;
    return 0;
}

static int
timeline_rows(store_t *st, const char *vm_id)
{
    count_t c = {vm_id, 0};
    err_t err = {0};

    assert_int_equal(store_timeline_each(st, 0, INT64_MAX, NULL, NULL, count_row, &c, &err), 0);
    return c.rows;
}

/* How many vm.migrated events name the VM, from and to those hosts. */
static int
migrated_events(store_t *st, const char *vm_id, const json_t *from, const json_t *to)
{
    int64_t next = 0;
    err_t err = {0};
    json_t *page = events_page(st, 0, 1000, &next, &err), *ev, *d;
    size_t i;
    int n = 0;

    assert_non_null(page);
    json_array_foreach(page, i, ev) {
        d = json_object_get(ev, "data");
        if (strcmp(jget_str(ev, "type"), "vm.migrated") == 0 &&
            strcmp(jget_str(ev, "resourceId"), vm_id) == 0 &&
            strcmp(jget_str(d, "fromHostId"), id_of(from)) == 0 &&
            strcmp(jget_str(d, "toHostId"), id_of(to)) == 0)
            n++;
    }
    json_decref(page);
    return n;
}

/* Starts a migration that must be accepted. */
static json_t *
migrate_ok(store_t *st, const char *vm_id, const json_t *to)
{
    err_t err = {0};
    json_t *job = vm_migrate(st, vm_id, id_of(to), &err);

    if (job == NULL)
        fail_msg("migrate refused: %s (%s)", err.message, err.target);
    return job;
}

/* A running VM moves to B while its record is read over and over: running at every read, updating until
 * the switch-over, on A then on B and never anywhere else; the job's copy advances and ends at its total;
 * the allocation moves exactly; the timeline gets no row; one vm.migrated event. */
static void
live_migration_keeps_running(void **state)
{
    mig_t *m = *state;
    store_t *st = m->w->f->st;
    char id[UTIL_UUID_LEN + 1];
    alloc_t a0, b0, held;
    const json_t *copy;
    json_t *job, *j = NULL;
    int64_t deadline = util_now_ms() + 60000, last_copied = -1, partial = 0;
    err_t err = {0};
    int rows;
    vm_rec_t vm;

    world_running_vm(m->w, "v", id);
    vm = rec_of(st, id);
    assert_string_equal(vm.host_id, id_of(m->w->host));
    b0 = alloc_of(st, m->b);
    a0 = alloc_of(st, m->w->host);
    held = (alloc_t){vm.cores, vm.memory_mb, vm.hold.storage_gb};
    rows = timeline_rows(st, id);
    job = migrate_ok(st, id, m->b);
    /* Reserved on B at once; A keeps what the VM holds until the switch-over. */
    alloc_is(st, m->b, (alloc_t){b0.cores + held.cores, b0.memory + held.memory, b0.storage + held.storage});
    alloc_is(st, m->w->host, a0);
    for (;;) {
        vm = rec_of(st, id);
        assert_int_equal(vm.power, VM_POWER_RUNNING);
        assert_true(strcmp(vm.host_id, id_of(m->w->host)) == 0 || strcmp(vm.host_id, id_of(m->b)) == 0);
        json_decref(j);
        j = job_get(st, id_of(job), NULL, NULL, &err);
        assert_non_null(j);
        copy = json_object_get(j, "copy");
        if (json_is_object(copy)) {
            int64_t c = jget_int(copy, "bytesCopied"), t = jget_int(copy, "bytesTotal");

            assert_true(c >= last_copied && c <= t && t > 0);
            last_copied = c;
            partial += c < t;
        }
        if (strcmp(jget_str(j, "status"), "running") != 0 && strcmp(jget_str(j, "status"), "queued") != 0)
            break;
        if (vm.provisioning != VM_PROV_UPDATING)
            assert_string_equal(vm.host_id, id_of(m->b)); /* switched; the source's copy goes next */
        assert_true(util_now_ms() < deadline);
        usleep(20000);
    }
    assert_string_equal(jget_str(j, "status"), "succeeded");
    copy = json_object_get(j, "copy");
    assert_true(json_is_object(copy));
    assert_int_equal(jget_int(copy, "bytesCopied"), jget_int(copy, "bytesTotal"));
    assert_true(partial > 0); /* polled while the bytes went */
    json_decref(j);
    json_decref(job);
    vm = rec_of(st, id);
    assert_string_equal(vm.host_id, id_of(m->b));
    assert_int_equal(vm.provisioning, VM_PROV_SUCCEEDED);
    assert_int_equal(vm.power, VM_POWER_RUNNING);
    assert_true(vm.hold.holds_compute && vm.hold.holds_storage);
    alloc_is(st, m->w->host, (alloc_t){a0.cores - held.cores, a0.memory - held.memory,
                                       a0.storage - held.storage});
    alloc_is(st, m->b, (alloc_t){b0.cores + held.cores, b0.memory + held.memory, b0.storage + held.storage});
    assert_int_equal(timeline_rows(st, id), rows);
    assert_int_equal(migrated_events(st, id, m->w->host, m->b), 1);
    /* The VM answers on its new host: a stop reaches it. */
    world_wait_status(st, vm_action(st, world_ctx(m->w), id, "stop", &err), "succeeded");
    world_vm_is(st, id, "powerState", "stopped");
}

/* The checkpoint slot keeps its name and takes the target's id of it; a role instance stays one. */
static void
checkpoint_and_role_follow(void **state)
{
    mig_t *m = *state;
    store_t *st = m->w->f->st;
    vmrole_create_req_t req = {"web", id_of(m->w->item), NULL, 1, NULL};
    checkpoint_put_req_t cp = {"before", NULL};
    char id[UTIL_UUID_LEN + 1], role_id[UTIL_UUID_LEN + 1], old_cp[VM_REC_ID_MAX];
    agent_call_t call = {"inventory", 0, NULL};
    agent_vm_list_t list = {0};
    const agent_vm_info_t *there;
    json_t *role, *job = NULL;
    agent_err_t aerr;
    err_t err = {0};
    vm_rec_t vm;
    agent_t *a;

    role = vmrole_create(st, world_ctx(m->w), &req, &job, &err);
    assert_non_null(role);
    snprintf(role_id, sizeof(role_id), "%s", id_of(role));
    json_decref(role);
    world_wait_status(st, job, "succeeded");
    role = vmrole_get(st, id_of(m->w->sub), role_id, &err);
    assert_non_null(role);
    snprintf(id, sizeof(id), "%s", json_string_value(json_array_get(json_object_get(role, "instances"), 0)));
    json_decref(role);
    world_wait_status(st, checkpoint_put(st, world_ctx(m->w), id, &cp, &err), "succeeded");
    vm = rec_of(st, id);
    assert_true(vm.checkpoint.present && vm.checkpoint.host_id[0] != '\0');
    snprintf(old_cp, sizeof(old_cp), "%s", vm.checkpoint.host_id);

    world_wait_status(st, migrate_ok(st, id, m->b), "succeeded");
    vm = rec_of(st, id);
    assert_string_equal(vm.host_id, id_of(m->b));
    assert_string_equal(vm.vm_role_id, role_id);
    assert_string_equal(vm.checkpoint.name, "before");
    assert_string_not_equal(vm.checkpoint.host_id, old_cp);
    a = hostreg_agent(st, id_of(m->b), &err);
    assert_non_null(a);
    assert_int_equal(agent_inventory(a, &call, &list, &aerr), 0);
    there = agent_vm_list_find(&list, vm.hypervisor_id);
    assert_non_null(there);
    assert_int_equal(there->ncheckpoints, 1);
    assert_string_equal(there->checkpoints[0].id, vm.checkpoint.host_id);
    assert_string_equal(there->checkpoints[0].name, "before");
    agent_vm_list_free(&list);
    role = vmrole_get(st, id_of(m->w->sub), role_id, &err);
    assert_non_null(role);
    assert_string_equal(json_string_value(json_array_get(json_object_get(role, "instances"), 0)), id);
    json_decref(role);
    /* The slot works on the new host. */
    world_wait_status(st, checkpoint_restore(st, world_ctx(m->w), id, &err), "succeeded");
}

/* A stopped VM moves to another cloud, stopped; the source no longer has it. */
static void
stopped_vm_moves_to_another_cloud(void **state)
{
    mig_t *m = *state;
    store_t *st = m->w->f->st;
    char id[UTIL_UUID_LEN + 1];
    agent_call_t call = {"inventory", 0, NULL};
    agent_vm_list_t list = {0};
    alloc_t a0;
    agent_err_t aerr;
    err_t err = {0};
    vm_rec_t vm;
    agent_t *a;

    world_running_vm(m->w, "v", id);
    world_wait_status(st, vm_action(st, world_ctx(m->w), id, "stop", &err), "succeeded");
    a0 = alloc_of(st, m->w->host);
    vm = rec_of(st, id);
    world_wait_status(st, migrate_ok(st, id, m->c), "succeeded");
    alloc_is(st, m->c, (alloc_t){vm.cores, vm.memory_mb, vm.hold.storage_gb});
    alloc_is(st, m->w->host, (alloc_t){a0.cores - vm.cores, a0.memory - vm.memory_mb,
                                       a0.storage - vm.hold.storage_gb});
    vm = rec_of(st, id);
    assert_string_equal(vm.host_id, id_of(m->c));
    assert_int_equal(vm.power, VM_POWER_STOPPED);
    a = hostreg_agent(st, id_of(m->w->host), &err);
    assert_non_null(a);
    assert_int_equal(agent_inventory(a, &call, &list, &aerr), 0);
    assert_null(agent_vm_list_find_vm_id(&list, id));
    agent_vm_list_free(&list);
}

/* An import the target refuses fails the job: the reservation goes, the VM stays on A, running,
 * succeeded, holding what it held. */
static void
failed_import_releases_the_reservation(void **state)
{
    mig_t *m = *state;
    store_t *st = m->w->f->st;
    char id[UTIL_UUID_LEN + 1];
    alloc_t a0, f0;
    vm_rec_t vm;

    world_running_vm(m->w, "v", id);
    a0 = alloc_of(st, m->w->host);
    f0 = alloc_of(st, m->f);
    world_wait_status(st, migrate_ok(st, id, m->f), "failed");
    alloc_is(st, m->f, f0);
    alloc_is(st, m->w->host, a0);
    vm = rec_of(st, id);
    assert_string_equal(vm.host_id, id_of(m->w->host));
    assert_int_equal(vm.provisioning, VM_PROV_SUCCEEDED);
    assert_int_equal(vm.power, VM_POWER_RUNNING);
    assert_true(vm.hold.holds_compute && vm.hold.holds_storage);
    assert_int_equal(migrated_events(st, id, m->w->host, m->f), 0);
}

/* A refusal: code and target as given, and nothing changed (the VM, every host's allocation). */
static void
refused(mig_t *m, const char *vm_id, const char *host_id, err_code_t code, const char *target)
{
    store_t *st = m->w->f->st;
    const json_t *hosts[] = {m->w->host, m->b, m->c, m->f};
    alloc_t before[4];
    vm_rec_t vm0 = rec_of(st, vm_id), vm;
    err_t err = {0};
    size_t i;

    for (i = 0; i < 4; i++)
        before[i] = alloc_of(st, hosts[i]);
    assert_null(vm_migrate(st, vm_id, host_id, &err));
    assert_int_equal(err.code, code);
    assert_string_equal(err.target, target ? target : "");
    for (i = 0; i < 4; i++)
        alloc_is(st, hosts[i], before[i]);
    vm = rec_of(st, vm_id);
    assert_string_equal(vm.host_id, vm0.host_id);
    assert_int_equal(vm.provisioning, vm0.provisioning);
    assert_int_equal(vm.power, vm0.power);
}

static void
refusals_change_nothing(void **state)
{
    mig_t *m = *state;
    store_t *st = m->w->f->st;
    char id[UTIL_UUID_LEN + 1], unknown[UTIL_UUID_LEN + 1];
    json_t *small, *patched, *body;
    err_t err = {0};

    world_running_vm(m->w, "v", id);
    util_uuid(unknown);
    assert_null(vm_migrate(st, unknown, id_of(m->b), &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    alloc_is(st, m->b, (alloc_t){0, 0, 0});
    refused(m, id, unknown, ERR_INVALID_REQUEST, "hostId");
    refused(m, id, id_of(m->w->host), ERR_CONFLICT, "hostId");
    refused(m, id, id_of(m->c), ERR_INVALID_POWER_STATE, NULL);
    /* No room: a host of the cloud with a single core. */
    small = make_host(st, "tiny", m->w->cloud, "sim://", 1);
    refused(m, id, id_of(small), ERR_CONFLICT, "hostId");
    /* In maintenance. */
    body = json_pack("{s:s}", "state", "maintenance");
    patched = api_catalog_host_update(st, id_of(m->b), body, 0, &err);
    assert_non_null(patched);
    json_decref(patched);
    json_decref(body);
    refused(m, id, id_of(m->b), ERR_CONFLICT, "hostId");
    json_decref(small);
}

/* A VM with a job under way is refused; so is one whose last operation failed. */
static void
busy_vm_is_refused(void **state)
{
    mig_t *m = *state;
    store_t *st = m->w->f->st;
    char id[UTIL_UUID_LEN + 1];
    json_t *job;

    world_running_vm(m->w, "v", id);
    job = migrate_ok(st, id, m->b); /* a copy of some seconds */
    refused(m, id, id_of(m->c), ERR_OPERATION_IN_PROGRESS, NULL);
    world_wait_status(st, job, "succeeded");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(live_migration_keeps_running, mig_setup, mig_teardown),
        cmocka_unit_test_setup_teardown(checkpoint_and_role_follow, mig_setup, mig_teardown),
        cmocka_unit_test_setup_teardown(stopped_vm_moves_to_another_cloud, mig_setup, mig_teardown),
        cmocka_unit_test_setup_teardown(failed_import_releases_the_reservation, mig_setup,
                                        mig_teardown),
        cmocka_unit_test_setup_teardown(refusals_change_nothing, mig_setup, mig_teardown),
        cmocka_unit_test_setup_teardown(busy_vm_is_refused, mig_setup, mig_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
