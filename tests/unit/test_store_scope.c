/* Unit tests of the store's scoped reads (store_rec_lookup_where, store_rec_get_where): a record is found
 * by its id and a field at once, and a record whose field holds another value is answered as none, with
 * the same 404 as a missing id, whether or not the calling thread has it cached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"

#include "../../lib/store.h"
#include "../../lib/util.h"

#define STAMP "2026-01-01T00:00:00.000Z"

static json_t *
cloud(const char *name)
{
    char id[UTIL_UUID_LEN + 1];

    util_uuid(id);
    return json_pack("{s:s, s:s, s:n, s:s, s:s}", "id", id, "name", name, "description", "createdAt",
                     STAMP, "updatedAt", STAMP);
}

/* A host of cloud c (hosts are scoped by cloudId here, as tenants' records are by subscriptionId). */
static json_t *
host(const char *id, const json_t *c)
{
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:n, s:n}, s:{s:i, s:i, s:i}, s:{s:i, s:i, s:i}, s:s, "
                     "s:n, s:s, s:s}",
                     "id", id, "name", "hv", "cloudId", id_of(c), "agent", "kind", "sim", "uri", "sim://",
                     "token", "caFile", "capacity", "cores", 8, "memoryMB", 1024, "storageGB", 50,
                     "allocated", "cores", 0, "memoryMB", 0, "storageGB", 0, "state", "ok", "lastSeenAt",
                     "createdAt", STAMP, "updatedAt", STAMP);
}

typedef struct {
    json_t *mine, *theirs, *h;
} world_t;

static void
world(fixture_t *f, world_t *w)
{
    err_t err = {0};

    w->mine = cloud("mine");
    w->theirs = cloud("theirs");
    w->h = host("h1", w->theirs);
    assert_int_equal(store_rec_insert(f->st, &store_kind_cloud, w->mine, &err), 0);
    assert_int_equal(store_rec_insert(f->st, &store_kind_cloud, w->theirs, &err), 0);
    assert_int_equal(store_rec_insert(f->st, &store_kind_host, w->h, &err), 0);
}

static void
world_free(world_t *w)
{
    json_decref(w->mine);
    json_decref(w->theirs);
    json_decref(w->h);
}

/* Another's record and a missing one: 0 from the lookups, out and rev untouched; the same 404 from the
 * get. */
static void
assert_none(fixture_t *f, const char *id, const char *scope)
{
    err_t err = {0}, missing = {0};
    json_t *out = (json_t *) 1;
    int64_t rev = -7;

    assert_int_equal(store_rec_lookup_where(f->st, &store_kind_host, id, "cloudId", scope, &out, &rev,
                                            &err),
                     0);
    assert_ptr_equal(out, (json_t *) 1);
    assert_int_equal(rev, -7);
    assert_int_equal(store_rec_lookup_where_shared(f->st, &store_kind_host, id, "cloudId", scope, &out,
                                                   &rev, &err),
                     0);
    assert_ptr_equal(out, (json_t *) 1);
    assert_null(store_rec_get_where(f->st, &store_kind_host, id, "cloudId", scope, &rev, &err));
    assert_null(store_rec_get_where(f->st, &store_kind_host, "no-such-host", "cloudId", scope, &rev,
                                    &missing));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    assert_int_equal(missing.code, ERR_NOT_FOUND);
    assert_string_equal(err.message, missing.message);
    assert_int_equal(rev, -7);
}

static void
finds_by_id_and_scope(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *out = NULL;
    int64_t rev = 0;
    world_t w;

    world(f, &w);
    assert_int_equal(store_rec_lookup_where(f->st, &store_kind_host, "h1", "cloudId", id_of(w.theirs),
                                            &out, &rev, &err),
                     1);
    assert_true(json_equal(out, w.h));
    assert_int_equal(rev, 1);
    json_decref(out);
    out = store_rec_get_where(f->st, &store_kind_host, "h1", "cloudId", id_of(w.theirs), &rev, &err);
    assert_true(json_equal(out, w.h));
    json_decref(out);
    /* Existence only. */
    assert_int_equal(store_rec_lookup_where(f->st, &store_kind_host, "h1", "cloudId", id_of(w.theirs),
                                            NULL, NULL, &err),
                     1);
    assert_none(f, "h1", id_of(w.mine));
    assert_none(f, "no-such-host", id_of(w.theirs));
    world_free(&w);
}

/* The thread has the record cached (its owner read it just before): a scoped read of another scope is
 * still none, and the owner's scoped read still finds it, after an update too. */
static void
cached_record_of_another_is_none(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *out, *changed;
    int64_t rev = 0;
    world_t w;

    world(f, &w);
    out = store_rec_get_shared(f->st, &store_kind_host, "h1", NULL, &err);
    assert_non_null(out);
    json_decref(out);
    assert_none(f, "h1", id_of(w.mine));
    /* The same inside a read transaction, where cached records serve reads. */
    assert_int_equal(store_tx_begin_read(f->st, &err), 0);
    out = store_rec_get_shared(f->st, &store_kind_host, "h1", NULL, &err);
    json_decref(out);
    assert_none(f, "h1", id_of(w.mine));
    out = store_rec_get_where(f->st, &store_kind_host, "h1", "cloudId", id_of(w.theirs), NULL, &err);
    assert_true(json_equal(out, w.h));
    json_decref(out);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    /* A change is seen through the scoped read (the cache does not hide it). */
    changed = json_deep_copy(w.h);
    json_object_set_new(changed, "name", json_string("renamed"));
    assert_int_equal(store_rec_update(f->st, &store_kind_host, "h1", changed, 0, &err), 0);
    out = store_rec_get_where(f->st, &store_kind_host, "h1", "cloudId", id_of(w.theirs), &rev, &err);
    assert_string_equal(json_string_value(json_object_get(out, "name")), "renamed");
    assert_int_equal(rev, 2);
    json_decref(out);
    json_decref(changed);
    /* Inside a write transaction (no cache) too. */
    assert_int_equal(store_tx_begin(f->st, &err), 0);
    assert_none(f, "h1", id_of(w.mine));
    assert_int_equal(store_rec_lookup_where(f->st, &store_kind_host, "h1", "cloudId", id_of(w.theirs),
                                            NULL, NULL, &err),
                     1);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    world_free(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(finds_by_id_and_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(cached_record_of_another_is_none, setup, teardown),
    };

    return cmocka_run_group_tests_name("store_scope", tests, NULL, NULL);
}
