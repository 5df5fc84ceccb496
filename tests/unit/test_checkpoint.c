/* Unit tests of lib/checkpoint: the single slot through its jobs (create, replace, restore, delete), the
 * plan's mode deciding what a tenant may do, and the admin's prune with its refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_vm_world.h"

static json_t *
put(world_t *w, const char *vm_id, const char *name, err_t *err)
{
    checkpoint_put_req_t req = {name, NULL};

    return checkpoint_put(w->f->st, world_ctx(w), vm_id, &req, err);
}

static const char *
slot_name(world_t *w, const char *vm_id, json_t **cp)
{
    err_t err = {0};

    *cp = checkpoint_get(w->f->st, world_ctx(w), vm_id, &err);
    return *cp ? json_string_value(json_object_get(*cp, "name")) : NULL;
}

static void
slot_create_replace_restore_delete(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    json_t *job, *cp;

    world_running_vm(w, "cp", id);
    assert_null(checkpoint_get(st, world_ctx(w), id, &err));
    assert_int_equal(err.code, ERR_NO_CHECKPOINT);
    err_clear(&err);
    world_wait_status(st, put(w, id, "one", &err), "succeeded");
    assert_string_equal(slot_name(w, id, &cp), "one");
    assert_null(json_object_get(cp, "_hostId")); /* the view hides the host's id */
    json_decref(cp);
    /* A replacement names what it replaces, and the slot holds one checkpoint. */
    job = put(w, id, "two", &err);
    assert_non_null(job);
    assert_string_equal(json_string_value(json_object_get(json_object_get(job, "replaces"), "name")),
                        "one");
    world_wait_status(st, job, "succeeded");
    assert_string_equal(slot_name(w, id, &cp), "two");
    json_decref(cp);
    world_wait_status(st, checkpoint_restore(st, world_ctx(w), id, &err), "succeeded");
    world_vm_is(st, id, "powerState", "running");
    /* The admin deletes it; the slot is empty again. */
    world_wait_status(st, checkpoint_delete(st, NULL, id, &err), "succeeded");
    assert_null(slot_name(w, id, &cp));
    assert_null(checkpoint_delete(st, world_ctx(w), id, &err));
    assert_int_equal(err.code, ERR_NO_CHECKPOINT);
}

static void
mode_decides_and_prune_checks_its_input(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    checkpoint_prune_req_t prune = {0};
    json_t *sub;
    vm_ctx_t ctx;

    world_running_vm(w, "m", id);
    sub = json_deep_copy(world_ctx(w)->sub);
    ctx = w->ctx;
    ctx.sub = sub;
    json_object_set_new(sub, "checkpointMode", json_string("viewRestore"));
    assert_int_equal(checkpoint_check(st, &ctx, id, CHECKPOINT_RESTORE, &err), 0);
    assert_int_equal(checkpoint_check(st, &ctx, id, CHECKPOINT_CREATE, &err), -1);
    assert_int_equal(err.code, ERR_CHECKPOINTS_NOT_ALLOWED);
    err_clear(&err);
    json_object_set_new(sub, "checkpointMode", json_string("disabled"));
    assert_null(checkpoint_get(st, &ctx, id, &err));
    assert_int_equal(err.code, ERR_CHECKPOINTS_NOT_ALLOWED);
    err_clear(&err);
    /* Another subscription's VM is not found before any mode applies; the admin sees every VM. */
    ctx.sid = id_of(w->user);
    assert_int_equal(checkpoint_check(st, &ctx, id, CHECKPOINT_VIEW, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(checkpoint_check(st, NULL, id, CHECKPOINT_CREATE, &err), 0);
    json_decref(sub);
    /* Prune: an unknown cloud or plan is a 400 on its field; a good request starts the job. */
    prune.cloud_id = id;
    prune.older_than_hours = 1;
    assert_null(checkpoint_prune(st, &prune, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "cloudId");
    err_clear(&err);
    prune.cloud_id = id_of(w->cloud);
    prune.plan_id = id;
    assert_null(checkpoint_prune(st, &prune, &err));
    assert_string_equal(err.target, "planId");
    err_clear(&err);
    prune.plan_id = id_of(w->plan);
    world_wait_status(st, checkpoint_prune(st, &prune, &err), "succeeded");
}

/* The slot's own ETag: it stays while the VM's power changes, moves when the slot takes another
 * checkpoint, and a write naming a stale one (or any, on an empty slot) is refused and changes nothing. */
static void
slot_etag_guards_put_and_delete(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    checkpoint_put_req_t req = {"two", NULL};
    char id[UTIL_UUID_LEN + 1];
    int64_t tag = 0, tag2 = 0;
    err_t err = {0};
    json_t *cp;

    world_running_vm(w, "tag", id);
    /* Nothing to match on an empty slot. */
    assert_null(checkpoint_put_if(st, world_ctx(w), id, &req, 42, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    world_wait_status(st, put(w, id, "one", &err), "succeeded");
    cp = checkpoint_get_tagged(st, world_ctx(w), id, &tag, &err);
    assert_non_null(cp);
    json_decref(cp);
    assert_true(tag > 0);
    world_wait_status(st, vm_action(st, world_ctx(w), id, "stop", &err), "succeeded");
    json_decref(checkpoint_get_tagged(st, world_ctx(w), id, &tag2, &err));
    assert_true(tag2 == tag);
    /* Stale: refused, the slot keeps its checkpoint. */
    assert_null(checkpoint_put_if(st, world_ctx(w), id, &req, tag + 1, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    assert_null(checkpoint_delete_if(st, NULL, id, tag + 1, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    assert_string_equal(slot_name(w, id, &cp), "one");
    json_decref(cp);
    /* Current: the replacement goes through and the ETag moves. */
    world_wait_status(st, checkpoint_put_if(st, world_ctx(w), id, &req, tag, &err), "succeeded");
    json_decref(checkpoint_get_tagged(st, world_ctx(w), id, &tag2, &err));
    assert_true(tag2 > 0 && tag2 != tag);
    assert_null(checkpoint_delete_if(st, world_ctx(w), id, tag, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    world_wait_status(st, checkpoint_delete_if(st, world_ctx(w), id, tag2, &err), "succeeded");
    assert_null(slot_name(w, id, &cp));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(slot_create_replace_restore_delete, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(mode_decides_and_prune_checks_its_input, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(slot_etag_guards_put_and_delete, world_setup,
                                        world_teardown),
    };

    return cmocka_run_group_tests_name("checkpoint", tests, NULL, NULL);
}
