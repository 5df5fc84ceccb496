/* Unit tests of dynamic memory through the VM create job, against the simulated agent whose guests want
 * half their startup memory (memoryDemand=0.5): a dynamic-memory VM's record and its timeline hold the
 * memory the host assigns it once it runs (metering bills it), its quota usage and host allocation the
 * startup memory; a static VM's assigned memory stays null (its memoryMB). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_vm_world.h"

/* The world, its host's guests asking for half their startup memory. */
static int
dyn_setup(void **state)
{
    world_t *w;
    err_t err = {0};
    json_t *patch, *h;

    world_setup(state);
    w = *state;
    patch = json_pack("{s:{s:s}}", "agent", "uri", "sim://?memoryDemand=0.5");
    h = api_catalog_host_update(w->f->st, id_of(w->host), patch, 0, &err);
    if (h == NULL)
        fail_msg("host update failed: %s", err.message);
    json_decref(h);
    json_decref(patch);
    return 0;
}

/* Creates a VM of size S (2048 MB) with dyn (not present: static) and waits for its create. */
static void
running(world_t *w, const char *name, catalog_dynmem_t dyn, char *out)
{
    vm_create_req_t req = {0};

    req.name = name;
    req.image_id = id_of(w->image);
    req.size = "S";
    req.dynamic_memory = dyn;
    world_created_vm(w, &req, out);
}

typedef struct {
    const char *vm_id;
    int64_t assigned, memory; /* of the VM's last row */
} last_row_t;

static int
see_row(void *arg, const store_timeline_row_t *row, err_t *err)
{
    last_row_t *r = arg;

    (void) err;
    if (strcmp(row->vm_id, r->vm_id) == 0) {
        r->assigned = row->assigned_memory_mb;
        r->memory = row->memory_mb;
    }
    return 0;
}

static last_row_t
last_row(store_t *st, const char *vm_id)
{
    last_row_t r = {vm_id, -1, -1};
    err_t err = {0};

    assert_int_equal(store_timeline_each(st, 0, INT64_MAX, NULL, NULL, see_row, &r, &err), 0);
    return r;
}

static json_int_t
record_assigned(store_t *st, const char *id)
{
    err_t err = {0};
    json_t *rec = store_rec_get(st, &store_kind_vm, id, NULL, &err), *v;
    json_int_t mb;

    assert_non_null(rec);
    v = json_object_get(rec, "_assignedMemoryMB");
    mb = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(rec);
    return mb;
}

static void
assigned_memory_reaches_record_and_timeline(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char dyn[UTIL_UUID_LEN + 1], fixed[UTIL_UUID_LEN + 1];
    catalog_dynmem_t none = {0}, bounds = {true, true, 512, 4096};
    last_row_t r;
    err_t err = {0};
    json_t *sub;

    running(w, "dyn", bounds, dyn);
    running(w, "fixed", none, fixed);
    assert_int_equal(record_assigned(st, dyn), 1024);
    r = last_row(st, dyn);
    assert_int_equal(r.assigned, 1024);
    assert_int_equal(r.memory, 2048);
    assert_int_equal(record_assigned(st, fixed), -1); /* null: its memoryMB */
    r = last_row(st, fixed);
    assert_int_equal(r.assigned, 2048);
    /* Quotas count the startup memory of both. */
    sub = store_rec_get(st, &store_kind_subscription, id_of(w->sub), NULL, &err);
    assert_non_null(sub);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(sub, "usage"), "memoryMB")), 4096);
    json_decref(sub);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(assigned_memory_reaches_record_and_timeline, dyn_setup,
                                        world_teardown),
    };

    return cmocka_run_group_tests_name("vm_dynmem", tests, NULL, NULL);
}
