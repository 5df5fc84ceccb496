/* The store's conformance suite, part one: what every backend of lib/store must do with records and
 * transactions, written against the public interface (store.h) only. Every case runs against every
 * backend of the list in test_store_conformance.h, each time on a fresh, empty store; a backend that
 * cannot run on this machine is skipped with a note, and a backend this build has but the list lacks
 * fails the suite. Part two (test_store_conformance_counters.c) covers the rest of store.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_store_conformance.h"

/* ---- records ---- */

static void
case_records_round_trip(store_t *st)
{
    json_t *c = cloud("c1", "east"), *got;
    err_t err = {0};
    int64_t rev = 0;

    assert_int_equal(store_rec_insert(st, &store_kind_cloud, c, &err), 0);
    got = store_rec_get(st, &store_kind_cloud, "c1", &rev, &err);
    assert_non_null(got);
    assert_true(json_equal(got, c));
    assert_int_equal(rev, 1);
    json_decref(got);
    got = store_rec_get_shared(st, &store_kind_cloud, "c1", NULL, &err);
    assert_true(json_equal(got, c));
    json_decref(got);
    got = store_rec_find(st, &store_kind_cloud, "name", "east", &err);
    assert_string_equal(sfield(got, "id"), "c1");
    json_decref(got);
    got = store_rec_get_where(st, &store_kind_cloud, "c1", "name", "east", &rev, &err);
    assert_non_null(got);
    json_decref(got);
    /* Missing: the same 404 for an unknown id, an unknown value, and a field that does not match. */
    assert_null(store_rec_get(st, &store_kind_cloud, "nope", NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_null(store_rec_find_shared(st, &store_kind_cloud, "name", "west", &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_null(store_rec_get_where(st, &store_kind_cloud, "c1", "name", "west", NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    /* A duplicate id is a conflict. */
    err_clear(&err);
    assert_int_equal(store_rec_insert(st, &store_kind_cloud, c, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    json_decref(c);
}
CASE(records_round_trip)

/* Lookups answer "none" as a value: 0 with err, out and rev untouched; a failure is -1 with err. */
static void
case_lookups_answer_none(store_t *st)
{
    json_t *sentinel = json_object(), *got = sentinel;
    err_t err = {0};
    int64_t rev = -7;

    put(st, &store_kind_cloud, cloud("c1", "east"));
    assert_int_equal(store_rec_lookup(st, &store_kind_cloud, "nope", &got, &rev, &err), 0);
    assert_int_equal(store_rec_lookup_shared(st, &store_kind_cloud, "nope", &got, &rev, &err), 0);
    assert_int_equal(store_rec_lookup_by(st, &store_kind_cloud, "name", "west", &got, &err), 0);
    assert_int_equal(store_rec_lookup_by_shared(st, &store_kind_cloud, "name", "west", &got, &err),
                     0);
    assert_ptr_equal(got, sentinel);
    assert_int_equal(rev, -7);
    assert_int_equal(err.code, ERR_NONE);
    assert_string_equal(err.message, "");
    /* Found: the record and its revision, or only the answer when out is NULL. */
    assert_int_equal(store_rec_lookup(st, &store_kind_cloud, "c1", &got, &rev, &err), 1);
    assert_string_equal(sfield(got, "name"), "east");
    assert_int_equal(rev, 1);
    json_decref(got);
    assert_int_equal(store_rec_lookup_shared(st, &store_kind_cloud, "c1", &got, NULL, &err), 1);
    assert_string_equal(sfield(got, "id"), "c1");
    json_decref(got);
    assert_int_equal(store_rec_lookup_by(st, &store_kind_cloud, "name", "east", &got, &err), 1);
    assert_string_equal(sfield(got, "id"), "c1");
    json_decref(got);
    assert_int_equal(store_rec_lookup_by_shared(st, &store_kind_cloud, "name", "east", NULL, &err),
                     1);
    assert_int_equal(store_rec_lookup(st, &store_kind_cloud, "c1", NULL, NULL, &err), 1);
    assert_int_equal(err.code, ERR_NONE);
    /* Failed: -1 with the store's error, out untouched; the next call works again. */
    got = sentinel;
    fault_arm(FAULT_STORE, 1);
    assert_int_equal(store_rec_lookup(st, &store_kind_cloud, "c1", &got, &rev, &err), -1);
    assert_int_equal(err.code, ERR_INTERNAL);
    assert_ptr_equal(got, sentinel);
    err_clear(&err);
    fault_arm(FAULT_STORE, 1);
    assert_int_equal(store_rec_lookup_by_shared(st, &store_kind_cloud, "name", "east", &got, &err),
                     -1);
    assert_int_equal(err.code, ERR_INTERNAL);
    err_clear(&err);
    /* A field the kind does not have is the caller's mistake, not a missing record. */
    assert_int_equal(store_rec_lookup_by(st, &store_kind_cloud, "colour", "red", &got, &err), -1);
    assert_int_equal(err.code, ERR_INTERNAL);
    assert_ptr_equal(got, sentinel);
    json_decref(sentinel);
}
CASE(lookups_answer_none)

/* insert_unique answers a duplicate as 0 and changes nothing; insert makes it the 409. */
static void
case_insert_unique_answers_duplicates(store_t *st)
{
    json_t *c = cloud("c1", "east"), *h = host("h1", 8), *got = NULL;
    err_t err = {0};
    int64_t rev = 0;

    assert_int_equal(store_rec_insert_unique(st, &store_kind_cloud, c, &err), 1);
    json_object_set_new(c, "name", json_string("west"));
    assert_int_equal(store_rec_insert_unique(st, &store_kind_cloud, c, &err), 0);
    assert_int_equal(err.code, ERR_NONE);
    assert_int_equal(store_rec_lookup(st, &store_kind_cloud, "c1", &got, &rev, &err), 1);
    assert_string_equal(sfield(got, "name"), "east");
    assert_int_equal(rev, 1);
    json_decref(got);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 1);
    assert_int_equal(store_rec_insert(st, &store_kind_cloud, c, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    err_clear(&err);
    /* A reference to a missing record is a failure (409), not a duplicate. */
    json_object_set_new(h, "cloudId", json_string("nope"));
    assert_int_equal(store_rec_insert_unique(st, &store_kind_host, h, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    json_decref(h);
    json_decref(c);
}
CASE(insert_unique_answers_duplicates)

static void
case_lists_page_and_count(store_t *st)
{
    store_filter_t eq = {.field = "name", .op = STORE_FILTER_EQ, .value = "even"};
    store_filter_t in = {.field = "id", .op = STORE_FILTER_IN};
    json_t *page, *ids = json_pack("[s, s, s]", "c0", "c3", "c9");
    int64_t next = 0, after = 0;
    err_t err = {0};
    char id[16];
    int i, seen = 0;

    for (i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "c%d", i);
        put(st, &store_kind_cloud, cloud(id, i % 2 ? "odd" : "even"));
    }
    /* Pages of 2 in insertion order: 2, 2, 1, and the last says there is no next one. */
    do {
        page = store_rec_list(st, &store_kind_cloud, NULL, 0, after, 2, &next, &err);
        assert_non_null(page);
        assert_int_equal(json_array_size(page), seen < 4 ? 2 : 1);
        snprintf(id, sizeof(id), "c%d", seen);
        assert_string_equal(sfield(json_array_get(page, 0), "id"), id);
        seen += (int) json_array_size(page);
        json_decref(page);
        after = next;
    } while (next);
    assert_int_equal(seen, 5);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, &eq, 1, &err), 3);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 5);
    in.values = ids;
    page = store_rec_list_all(st, &store_kind_cloud, &in, 1, &err);
    assert_int_equal(json_array_size(page), 2);
    assert_string_equal(sfield(json_array_get(page, 1), "id"), "c3");
    json_decref(page);
    json_decref(ids);
}
CASE(lists_page_and_count)

static void
case_updates_follow_revisions(store_t *st)
{
    json_t *c = cloud("c1", "v1"), *got;
    err_t err = {0};
    int64_t rev = 0;

    put(st, &store_kind_cloud, json_incref(c));
    json_object_set_new(c, "name", json_string("v2"));
    assert_int_equal(store_rec_update(st, &store_kind_cloud, "c1", c, 1, &err), 0);
    got = store_rec_get_shared(st, &store_kind_cloud, "c1", &rev, &err);
    assert_string_equal(sfield(got, "name"), "v2");
    assert_int_equal(rev, 2);
    json_decref(got);
    /* A stale revision is 412, and changes nothing. */
    json_object_set_new(c, "name", json_string("v3"));
    assert_int_equal(store_rec_update(st, &store_kind_cloud, "c1", c, 1, &err), -1);
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    assert_int_equal(store_rec_delete(st, &store_kind_cloud, "c1", 1, &err), -1);
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    got = store_rec_get(st, &store_kind_cloud, "c1", &rev, &err);
    assert_string_equal(sfield(got, "name"), "v2");
    json_decref(got);
    /* Without a revision, the update applies. */
    assert_int_equal(store_rec_update(st, &store_kind_cloud, "c1", c, 0, &err), 0);
    assert_int_equal(store_rec_delete(st, &store_kind_cloud, "c1", 3, &err), 0);
    /* Gone: 404 for both. */
    assert_int_equal(store_rec_update(st, &store_kind_cloud, "c1", c, 0, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(store_rec_delete(st, &store_kind_cloud, "c1", 0, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    json_decref(c);
}
CASE(updates_follow_revisions)

static void
case_referenced_records_stay(store_t *st)
{
    err_t err = {0};

    put(st, &store_kind_cloud, cloud("c1", "east"));
    put(st, &store_kind_host, host("h1", 8));
    assert_int_equal(store_rec_delete(st, &store_kind_cloud, "c1", 0, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    err_clear(&err);
    assert_int_equal(store_rec_delete(st, &store_kind_host, "h1", 0, &err), 0);
    assert_int_equal(store_rec_delete(st, &store_kind_cloud, "c1", 0, &err), 0);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 0);
}
CASE(referenced_records_stay)

/* ---- transactions ---- */

static void
case_nested_transactions_roll_back(store_t *st)
{
    err_t err = {0};
    json_t *got;

    assert_int_equal(store_tx_begin(st, &err), 0);
    put(st, &store_kind_cloud, cloud("outer", "a"));
    assert_int_equal(store_tx_begin(st, &err), 0);
    put(st, &store_kind_cloud, cloud("inner", "b"));
    /* The inner one reads its own write, then is undone alone. */
    got = store_rec_get(st, &store_kind_cloud, "inner", NULL, &err);
    assert_non_null(got);
    json_decref(got);
    store_tx_rollback(st);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 1);
    assert_null(store_rec_get(st, &store_kind_cloud, "inner", NULL, &err));
    /* A rolled back outermost transaction leaves nothing, and the cache does not remember it. */
    assert_int_equal(store_tx_begin(st, &err), 0);
    got = cloud("outer", "renamed");
    assert_int_equal(store_rec_update(st, &store_kind_cloud, "outer", got, 0, &err), 0);
    json_decref(got);
    put(st, &store_kind_cloud, cloud("other", "c"));
    store_tx_rollback(st);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 1);
    got = store_rec_get_shared(st, &store_kind_cloud, "outer", NULL, &err);
    assert_string_equal(sfield(got, "name"), "a");
    json_decref(got);
    /* A read transaction sees one snapshot and cannot nest. */
    assert_int_equal(store_tx_begin_read(st, &err), 0);
    assert_int_equal(store_tx_begin_read(st, &err), -1);
    assert_int_equal(store_tx_commit(st, &err), 0);
    /* A bulk transaction is a write transaction. */
    assert_int_equal(store_tx_begin_bulk(st, &err), 0);
    put(st, &store_kind_cloud, cloud("bulk", "d"));
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 2);
}
CASE(nested_transactions_roll_back)

static int hook_runs;

static void
count_run(void *arg)
{
    hook_runs += *(int *) arg;
}

static void
case_on_commit_hooks_run_only_on_commit(store_t *st)
{
    int one = 1, ten = 10;
    err_t err = {0};

    hook_runs = 0;
    /* No transaction: at once. */
    assert_int_equal(store_tx_on_commit(st, count_run, &one, &err), 0);
    assert_int_equal(hook_runs, 1);
    /* Once per transaction, after the outermost commit. */
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(store_tx_on_commit(st, count_run, &one, &err), 0);
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(store_tx_on_commit(st, count_run, &one, &err), 0);
    assert_int_equal(store_tx_on_commit(st, count_run, &ten, &err), 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(hook_runs, 1);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(hook_runs, 12);
    /* Never after a rollback. */
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(store_tx_on_commit(st, count_run, &ten, &err), 0);
    store_tx_rollback(st);
    assert_int_equal(hook_runs, 12);
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(hook_runs, 12);
}
CASE(on_commit_hooks_run_only_on_commit)

static int hook_drops;

static void
count_drop(void *arg)
{
    hook_drops += *(int *) arg;
}

/* An owned hook's arg is released exactly once: taken by fn on commit, or given to drop when the
 * transaction it was added in rolls back, nested or outermost. */
static void
case_owned_hooks_are_taken_or_dropped_once(store_t *st)
{
    int one = 1, ten = 10, hundred = 100;
    err_t err = {0};

    hook_runs = hook_drops = 0;
    /* A nested rollback drops the hooks added inside it, and only those. */
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(store_tx_on_commit_owned(st, count_run, count_drop, &one, &err), 0);
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(store_tx_on_commit_owned(st, count_run, count_drop, &ten, &err), 0);
    store_tx_rollback(st);
    assert_int_equal(hook_drops, 10);
    /* A nested commit hands its hooks to the enclosing transaction. */
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(store_tx_on_commit_owned(st, count_run, count_drop, &hundred, &err), 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(hook_runs, 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(hook_runs, 101);
    assert_int_equal(hook_drops, 10);
    /* An outermost rollback drops every hook, whatever depth it was added at. */
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(store_tx_on_commit_owned(st, count_run, count_drop, &one, &err), 0);
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(store_tx_on_commit_owned(st, count_run, count_drop, &hundred, &err), 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    store_tx_rollback(st);
    assert_int_equal(hook_runs, 101);
    assert_int_equal(hook_drops, 111);
}
CASE(owned_hooks_are_taken_or_dropped_once)

/* ---- idempotency keys ---- */

static void
case_idempotency_keys(store_t *st)
{
    json_t *ans = json_pack("{s:s, s:i, s:s, s:s}", "bodyHash", "h", "status", 201, "location", "/x",
                            "body", "{}"),
           *got;
    err_t err = {0};

    assert_null(store_idem_lookup(st, "scope", "POST", "/p", "k", 1000000, &err));
    assert_int_equal(err.code, ERR_NONE);
    assert_int_equal(store_idem_save(st, "scope", "POST", "/p", "k", ans, &err), 0);
    got = store_idem_lookup(st, "scope", "POST", "/p", "k", 1000000, &err);
    assert_non_null(got);
    assert_true(json_equal(got, ans));
    json_decref(got);
    assert_null(store_idem_lookup(st, "other", "POST", "/p", "k", 1000000, &err));
    assert_null(store_idem_lookup(st, "scope", "PUT", "/p", "k", 1000000, &err));
    assert_int_equal(store_idem_purge(st, 1000000, &err), 0);
    assert_int_equal(store_idem_purge(st, -1000, &err), 1);
    assert_null(store_idem_lookup(st, "scope", "POST", "/p", "k", 1000000, &err));
    assert_int_equal(err.code, ERR_NONE);
    json_decref(ans);
}
CASE(idempotency_keys)

static void
every_backend_is_in_the_suite(void **state)
{
    const char *name;
    size_t i, j;

    (void) state;
    assert_non_null(store__backend_at(0));
    for (i = 0; (name = store__backend_at(i)) != NULL; i++) {
        for (j = 0; j < NBACKENDS && strcmp(backends[j].name, name) != 0; j++)
            ;
        if (j == NBACKENDS)
            fail_msg("backend %s is not in the conformance suite's list", name);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_backend_is_in_the_suite),
        cmocka_unit_test(records_round_trip),
        cmocka_unit_test(lookups_answer_none),
        cmocka_unit_test(insert_unique_answers_duplicates),
        cmocka_unit_test(lists_page_and_count),
        cmocka_unit_test(updates_follow_revisions),
        cmocka_unit_test(referenced_records_stay),
        cmocka_unit_test(nested_transactions_roll_back),
        cmocka_unit_test(on_commit_hooks_run_only_on_commit),
        cmocka_unit_test(owned_hooks_are_taken_or_dropped_once),
        cmocka_unit_test(idempotency_keys),
    };

    return cmocka_run_group_tests_name("store conformance: records and transactions", tests, NULL, NULL);
}
