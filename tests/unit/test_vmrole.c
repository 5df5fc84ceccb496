/* Unit tests of lib/vmrole: a role made from a gallery item, its instances as VMs, scale out and in within
 * the item's bounds, delete, and the refusals of a create. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_vm_world.h"

static size_t
instances_of(world_t *w, const char *role_id)
{
    err_t err = {0};
    json_t *view = vmrole_get(w->f->st, id_of(w->sub), role_id, &err);
    size_t n;

    assert_non_null(view);
    n = json_array_size(json_object_get(view, "instances"));
    json_decref(view);
    return n;
}

static void
create_scale_delete(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    json_t *body = json_pack("{s:s, s:s, s:i}", "name", "web", "galleryItemId", id_of(w->item),
                             "instanceCount", 2),
           *role, *job = NULL, *usage;
    err_t err = {0};
    char id[UTIL_UUID_LEN + 1];

    role = vmrole_create(st, world_ctx(w), body, &job, &err);
    assert_non_null(role);
    snprintf(id, sizeof(id), "%s", id_of(role));
    json_decref(role);
    world_wait_status(st, job, "succeeded");
    assert_int_equal(instances_of(w, id), 2);
    /* Out of the item's bounds (1 to 3): 400 on instanceCount. */
    assert_null(vmrole_scale(st, world_ctx(w), id, 4, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "instanceCount");
    err_clear(&err);
    world_wait_status(st, vmrole_scale(st, world_ctx(w), id, 1, &err), "succeeded");
    assert_int_equal(instances_of(w, id), 1);
    world_wait_status(st, vmrole_delete(st, world_ctx(w), id, &err), "succeeded");
    assert_null(vmrole_get(st, id_of(w->sub), id, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    usage = quota_usage(st, id_of(w->sub), &err);
    assert_int_equal(json_integer_value(json_object_get(usage, "vms")), 0);
    assert_int_equal(json_integer_value(json_object_get(usage, "vmRoles")), 0);
    json_decref(usage);
    json_decref(body);
}

static void
create_refusals(void **state)
{
    world_t *w = *state;
    json_t *body = json_pack("{s:s, s:s, s:i}", "name", "r", "galleryItemId", id_of(w->image),
                             "instanceCount", 1),
           *job = NULL;
    err_t err = {0};

    assert_null(vmrole_create(w->f->st, world_ctx(w), body, &job, &err));
    assert_string_equal(err.target, "galleryItemId");
    err_clear(&err);
    json_object_set_new(body, "galleryItemId", json_string(id_of(w->item)));
    json_object_set_new(body, "size", json_string("XL"));
    assert_null(vmrole_create(w->f->st, world_ctx(w), body, &job, &err));
    assert_string_equal(err.target, "size");
    err_clear(&err);
    json_object_del(body, "size");
    json_object_set_new(body, "instanceCount", json_integer(0));
    assert_null(vmrole_create(w->f->st, world_ctx(w), body, &job, &err));
    assert_string_equal(err.target, "instanceCount");
    err_clear(&err);
    json_object_set_new(body, "instanceCount", json_integer(1));
    json_object_set_new(body, "networkId", json_string(id_of(w->cloud)));
    assert_null(vmrole_create(w->f->st, world_ctx(w), body, &job, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "networkId");
    assert_null(job);
    json_decref(body);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_scale_delete, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(create_refusals, world_setup, world_teardown),
    };

    return cmocka_run_group_tests_name("vmrole", tests, NULL, NULL);
}
