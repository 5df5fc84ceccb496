/* Unit tests of lib/hooks' record side through its typed requests: the checks the api tables cannot make,
 * the write-only secret, and PATCHes that give one field, or null for the description. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"

#include "../../lib/hooks.h"

static const char *const every[] = {"*"};

static const char *
field(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

/* The hook as stored (secret included). */
static json_t *
stored(store_t *st, const json_t *h)
{
    err_t err = {0};
    json_t *rec = store_rec_get(st, &store_kind_hook, id_of(h), NULL, &err);

    assert_non_null(rec);
    return rec;
}

static void
hooks_check_and_hide_the_secret(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    const char *const unknown[] = {"vm.created", "vm.gone"}, *const failed[] = {"job.failed"};
    const char *const bad_prefix[] = {"vm*", "vm.*"};
    hooks_req_t req = {.url = "ftp://h/x", .events = every, .nevents = 1, .secret = "k",
                       .active = true};
    hooks_patch_t to_mail = {.url = "mailto:x@y"};
    json_t *h, *rec;

    assert_null(hooks_create(f->st, &req, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "url");
    err_clear(&err);
    req.url = "https://h/x";
    req.events = unknown;
    req.nevents = 2;
    assert_null(hooks_create(f->st, &req, &err));
    assert_string_equal(err.target, "events[1]");
    assert_string_equal(err.message,
                        "events[1] is not an event type, \"*\", or a prefix of types ending in \".*\": "
                        "vm.gone.");
    err_clear(&err);
    req.events = bad_prefix;
    assert_null(hooks_create(f->st, &req, &err));
    assert_string_equal(err.target, "events[0]");
    err_clear(&err);
    req.nevents = 0;
    assert_null(hooks_create(f->st, &req, &err));
    assert_string_equal(err.target, "events");
    assert_int_equal(store_rec_count(f->st, &store_kind_hook, NULL, 0, &err), 0);

    req.events = failed;
    req.nevents = 1;
    req.description = "ops";
    h = hooks_create(f->st, &req, &err);
    assert_non_null(h);
    assert_null(json_object_get(h, "secret"));
    assert_true(json_is_true(json_object_get(h, "active")));
    assert_string_equal(field(h, "description"), "ops");
    assert_string_equal(json_string_value(json_array_get(json_object_get(h, "events"), 0)),
                        "job.failed");
    rec = stored(f->st, h);
    assert_string_equal(field(rec, "secret"), "k");
    json_decref(rec);
    err_clear(&err);
    assert_null(hooks_update(f->st, id_of(h), &to_mail, 0, &err));
    assert_string_equal(err.target, "url");
    json_decref(h);
}

/* A PATCH that gives one field changes that field alone; description given as null clears it, and not
 * given keeps it. */
static void
hooks_patch_one_field_and_null(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    hooks_req_t req = {.url = "http://h/x", .events = every, .nevents = 1, .secret = "k",
                       .active = true, .description = "ops"};
    hooks_patch_t off = {.has_active = true, .active = false};
    hooks_patch_t clear = {.has_description = true, .description = NULL};
    hooks_patch_t no_events = {.has_events = true, .events = every, .nevents = 0};
    json_t *h = hooks_create(f->st, &req, &err), *v, *rec;

    assert_non_null(h);
    v = hooks_update(f->st, id_of(h), &off, 0, &err);
    assert_non_null(v);
    assert_null(json_object_get(v, "secret"));
    json_decref(v);
    rec = stored(f->st, h);
    assert_true(json_is_false(json_object_get(rec, "active")));
    assert_string_equal(field(rec, "url"), "http://h/x");
    assert_string_equal(field(rec, "secret"), "k");
    assert_string_equal(field(rec, "description"), "ops");
    assert_int_equal(json_array_size(json_object_get(rec, "events")), 1);
    json_decref(rec);

    v = hooks_update(f->st, id_of(h), &clear, 0, &err);
    assert_non_null(v);
    assert_true(json_is_null(json_object_get(v, "description")));
    assert_true(json_is_false(json_object_get(v, "active")));
    json_decref(v);
    rec = stored(f->st, h);
    assert_true(json_is_null(json_object_get(rec, "description")));
    json_decref(rec);

    /* events given empty is refused, and nothing changes. */
    assert_null(hooks_update(f->st, id_of(h), &no_events, 0, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "events");
    rec = stored(f->st, h);
    assert_int_equal(json_array_size(json_object_get(rec, "events")), 1);
    json_decref(rec);
    /* A stale revision is 412 before any check of the body. */
    err_clear(&err);
    assert_null(hooks_update(f->st, id_of(h), &no_events, 1, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    json_decref(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hooks_check_and_hide_the_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(hooks_patch_one_field_and_null, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
