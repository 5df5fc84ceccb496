/* Unit tests of lib/vmrole: a role made from a gallery item, its instances as VMs, scale out and in within
 * the item's bounds, delete, the refusals of a create, and stand-alone VMs joining a role, listed by
 * instance number. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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
    vmrole_create_req_t req = {"web", id_of(w->item), NULL, 2, NULL};
    vmrole_scale_req_t scale = {4};
    json_t *role, *got, *job = NULL, *usage;
    err_t err = {0};
    int64_t rev = 0;
    char id[UTIL_UUID_LEN + 1], *text[2];

    /* Inside the caller's transaction, so that the job cannot start before the answer is compared. */
    assert_int_equal(store_tx_begin(st, &err), 0);
    role = vmrole_create(st, world_ctx(w), &req, &job, &err);
    assert_non_null(role);
    snprintf(id, sizeof(id), "%s", id_of(role));
    /* The answer is what a GET shows (size from the item, no instances yet): no need to read it again. */
    got = vmrole_get(st, id_of(w->sub), id, &err);
    assert_non_null(got);
    text[0] = json_dumps(got, 0);
    text[1] = json_dumps(role, 0);
    assert_string_equal(text[0], text[1]);
    assert_string_equal(json_string_value(json_object_get(role, "size")), "S");
    free(text[0]);
    free(text[1]);
    json_decref(got);
    json_decref(role);
    assert_int_equal(store_tx_commit(st, &err), 0);
    world_wait_status(st, job, "succeeded");
    assert_int_equal(instances_of(w, id), 2);
    /* Out of the item's bounds (1 to 3): 400 on instanceCount. */
    assert_null(vmrole_scale(st, world_ctx(w), id, &scale, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "instanceCount");
    err_clear(&err);
    scale.instance_count = 1;
    world_wait_status(st, vmrole_scale(st, world_ctx(w), id, &scale, &err), "succeeded");
    assert_int_equal(instances_of(w, id), 1);
    /* A stale expected revision deletes nothing; the current one deletes the role. */
    got = vmrole_get_rev(st, id_of(w->sub), id, &rev, &err);
    assert_non_null(got);
    json_decref(got);
    assert_true(rev > 0);
    assert_null(vmrole_delete_if(st, world_ctx(w), id, rev + 1, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    assert_int_equal(instances_of(w, id), 1);
    world_wait_status(st, vmrole_delete_if(st, world_ctx(w), id, rev, &err), "succeeded");
    assert_null(vmrole_get(st, id_of(w->sub), id, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    usage = quota_usage(st, id_of(w->sub), &err);
    assert_int_equal(json_integer_value(json_object_get(usage, "vms")), 0);
    assert_int_equal(json_integer_value(json_object_get(usage, "vmRoles")), 0);
    json_decref(usage);
}

static void
create_refusals(void **state)
{
    world_t *w = *state;
    vmrole_create_req_t req = {"r", id_of(w->image), NULL, 1, NULL};
    json_t *job = NULL;
    err_t err = {0};

    assert_null(vmrole_create(w->f->st, world_ctx(w), &req, &job, &err));
    assert_string_equal(err.target, "galleryItemId");
    err_clear(&err);
    req.gallery_item_id = id_of(w->item);
    req.size = "XL";
    assert_null(vmrole_create(w->f->st, world_ctx(w), &req, &job, &err));
    assert_string_equal(err.target, "size");
    err_clear(&err);
    req.size = NULL;
    req.instance_count = 0;
    assert_null(vmrole_create(w->f->st, world_ctx(w), &req, &job, &err));
    assert_string_equal(err.target, "instanceCount");
    err_clear(&err);
    req.instance_count = 1;
    req.network_id = id_of(w->cloud);
    assert_null(vmrole_create(w->f->st, world_ctx(w), &req, &job, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "networkId");
    assert_null(job);
}

/* Stand-alone VMs join a role as instances (a second join of one is a 409); the role lists its instances
 * by instance number, not by name or by age, and a scale-in removes the highest-numbered one. */
static void
join_then_order_by_number(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    vmrole_create_req_t req = {"web", id_of(w->item), NULL, 1, NULL};
    vmrole_scale_req_t scale = {2};
    vmrole_join_req_t join = {0};
    char id[UTIL_UUID_LEN + 1], ten[UTIL_UUID_LEN + 1], two[UTIL_UUID_LEN + 1];
    json_t *role, *job = NULL, *view, *list;
    err_t err = {0};

    role = vmrole_create(st, world_ctx(w), &req, &job, &err);
    assert_non_null(role);
    snprintf(id, sizeof(id), "%s", id_of(role));
    json_decref(role);
    world_wait_status(st, job, "succeeded");
    /* Made in this order, so that neither age nor name sorts them by number. */
    world_running_vm(w, "web-10", ten);
    world_running_vm(w, "web-2", two);
    join.vm_id = ten;
    view = vmrole_join(st, id, &join, &err);
    assert_non_null(view);
    json_decref(view);
    join.vm_id = two;
    view = vmrole_join(st, id, &join, &err);
    assert_non_null(view);
    list = json_object_get(view, "instances");
    assert_int_equal(json_array_size(list), 3);
    assert_int_equal(json_integer_value(json_object_get(view, "instanceCount")), 3);
    assert_string_equal(json_string_value(json_array_get(list, 1)), two);
    assert_string_equal(json_string_value(json_array_get(list, 2)), ten);
    json_decref(view);
    world_vm_is(st, two, "vmRoleId", id);
    assert_null(vmrole_join(st, id, &join, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "vmId");
    err_clear(&err);
    /* Scale-in: web-10 goes, web-2 stays. */
    world_wait_status(st, vmrole_scale(st, world_ctx(w), id, &scale, &err), "succeeded");
    assert_null(vm_get(st, NULL, ten, true, NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    world_vm_is(st, two, "vmRoleId", id);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_scale_delete, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(create_refusals, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(join_then_order_by_number, world_setup, world_teardown),
    };

    return cmocka_run_group_tests_name("vmrole", tests, NULL, NULL);
}
