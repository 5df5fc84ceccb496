/* Unit tests of lib/store: migrations, records, positions and paging, revisions, transactions,
 * idempotency records, connections per thread, injected faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "fixture.h"
#include <pthread.h>

#include "../../lib/fault.h"
#include "../../lib/store.h"
#include "../../lib/store/sqlite.h"
#include "../../lib/util.h"

static json_t *
cloud(const char *name)
{
    char id[UTIL_UUID_LEN + 1];

    util_uuid(id);
    return json_pack("{s:s, s:s, s:n, s:s, s:s}", "id", id, "name", name, "description", "createdAt",
                     "2026-01-01T00:00:00.000Z", "updatedAt", "2026-01-01T00:00:00.000Z");
}

static void
migrates_and_checks(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};

    assert_true(store_schema_version(f->st) >= 1);
    assert_int_equal(store_ping(f->st, &err), 0);
    assert_int_equal(store_integrity_check(f->st, &err), 0);
}

static void
insert_get_round_trip(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *c = cloud("east"), *got;
    int64_t rev = 0;

    assert_int_equal(store_rec_insert(f->st, &store_kind_cloud, c, &err), 0);
    got = store_rec_get(f->st, &store_kind_cloud, id_of(c), &rev, &err);
    assert_non_null(got);
    assert_true(json_equal(got, c));
    assert_int_equal(rev, 1);
    json_decref(got);
    assert_null(store_rec_get(f->st, &store_kind_cloud, "nope", NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    json_decref(c);
}

static void
nested_fields_map_to_columns(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *c = cloud("for-host"), *h, *got;

    assert_int_equal(store_rec_insert(f->st, &store_kind_cloud, c, &err), 0);
    h = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:n}, s:{s:i, s:i, s:i}, s:{s:i, s:i, s:i}, s:s, "
                  "s:n, s:s, s:s}",
                  "id", "h1", "name", "hv", "cloudId", id_of(c), "agent", "kind", "http", "uri",
                  "http://10.0.0.1:30010", "token", "s3cret", "caFile", "capacity", "cores", 8, "memoryMB", 1024, "storageGB", 50, "allocated",
                  "cores", 0, "memoryMB", 0, "storageGB", 0, "state", "ok", "lastSeenAt",
                  "createdAt", "2026-01-01T00:00:00.000Z", "updatedAt", "2026-01-01T00:00:00.000Z");
    assert_int_equal(store_rec_insert(f->st, &store_kind_host, h, &err), 0);
    got = store_rec_get(f->st, &store_kind_host, "h1", NULL, &err);
    assert_true(json_equal(got, h));
    json_decref(got);
    /* The cloud is referred to: deleting it is a conflict, not a dangling reference. */
    assert_int_equal(store_rec_delete(f->st, &store_kind_cloud, id_of(c), 0, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    json_decref(h);
    json_decref(c);
}

static void
paging_is_stable(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *recs[10], *page;
    int64_t next = 0, after = 0;
    int i, total = 0;

    for (i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof(name), "c%d", i);
        recs[i] = cloud(name);
        assert_int_equal(store_rec_insert(f->st, &store_kind_cloud, recs[i], &err), 0);
    }
    page = store_rec_list(f->st, &store_kind_cloud, NULL, 0, 0, 4, &next, &err);
    assert_int_equal(json_array_size(page), 4);
    assert_true(next > 0);
    json_decref(page);
    /* Deleting a seen record and one not yet seen does not shift the pages. */
    assert_int_equal(store_rec_delete(f->st, &store_kind_cloud, id_of(recs[0]), 0, &err), 0);
    assert_int_equal(store_rec_delete(f->st, &store_kind_cloud, id_of(recs[6]), 0, &err), 0);
    after = next;
    do {
        page = store_rec_list(f->st, &store_kind_cloud, NULL, 0, after, 4, &next, &err);
        assert_non_null(page);
        total += (int) json_array_size(page);
        json_decref(page);
        after = next;
    } while (next);
    assert_int_equal(total, 5); /* c4, c5, c7, c8, c9 */
    page = store_rec_list(f->st, &store_kind_cloud, NULL, 0, 0, 8, &next, &err);
    assert_int_equal(json_array_size(page), 8);
    assert_int_equal(next, 0); /* exactly the last page: no next */
    json_decref(page);
    for (i = 0; i < 10; i++)
        json_decref(recs[i]);
}

static void
filters_eq_and_in(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *a = cloud("same"), *b = cloud("same"), *c = cloud("other"), *page, *ids;
    store_filter_t eq = {.field = "name", .op = STORE_FILTER_EQ, .value = "same"};
    store_filter_t in = {.field = "id", .op = STORE_FILTER_IN};
    int64_t next;

    store_rec_insert(f->st, &store_kind_cloud, a, &err);
    store_rec_insert(f->st, &store_kind_cloud, b, &err);
    store_rec_insert(f->st, &store_kind_cloud, c, &err);
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, &eq, 1, &err), 2);
    ids = json_pack("[s, s]", id_of(a), id_of(c));
    in.values = ids;
    page = store_rec_list(f->st, &store_kind_cloud, &in, 1, 0, 100, &next, &err);
    assert_int_equal(json_array_size(page), 2);
    assert_string_equal(id_of(json_array_get(page, 1)), id_of(c));
    json_decref(page);
    json_decref(ids);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void
revisions_guard_updates_and_deletes(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *c = cloud("rev");
    int64_t rev;

    store_rec_insert(f->st, &store_kind_cloud, c, &err);
    json_object_set_new(c, "name", json_string("rev2"));
    assert_int_equal(store_rec_update(f->st, &store_kind_cloud, id_of(c), c, 1, &err), 0);
    assert_int_equal(store_rec_update(f->st, &store_kind_cloud, id_of(c), c, 1, &err), -1);
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    json_decref(store_rec_get(f->st, &store_kind_cloud, id_of(c), &rev, &err));
    assert_int_equal(rev, 2);
    assert_int_equal(store_rec_delete(f->st, &store_kind_cloud, id_of(c), 1, &err), -1);
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    err_clear(&err);
    assert_int_equal(store_rec_delete(f->st, &store_kind_cloud, id_of(c), 2, &err), 0);
    assert_int_equal(store_rec_update(f->st, &store_kind_cloud, id_of(c), c, 0, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    json_decref(c);
}

static void
unique_values_conflict(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *s1 = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s}", "id", "s1", "name", "Small", "cores", 1,
                           "memoryMB", 1, "createdAt", "x", "updatedAt", "x");
    json_t *s2 = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s}", "id", "s2", "name", "Small", "cores", 1,
                           "memoryMB", 1, "createdAt", "x", "updatedAt", "x");

    assert_int_equal(store_rec_insert(f->st, &store_kind_size, s1, &err), 0);
    assert_int_equal(store_rec_insert(f->st, &store_kind_size, s2, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    json_decref(s1);
    json_decref(s2);
}

static void
nested_transactions_roll_back(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *a = cloud("outer"), *b = cloud("inner");

    assert_int_equal(store_tx_begin(f->st, &err), 0);
    store_rec_insert(f->st, &store_kind_cloud, a, &err);
    assert_int_equal(store_tx_begin(f->st, &err), 0);
    store_rec_insert(f->st, &store_kind_cloud, b, &err);
    store_tx_rollback(f->st); /* inner undone */
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), 1);
    assert_int_equal(store_tx_begin(f->st, &err), 0);
    store_rec_insert(f->st, &store_kind_cloud, b, &err);
    store_tx_rollback(f->st);
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), 1);
    store_tx_rollback(f->st); /* nothing open: a no-op */
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), 1);
    json_decref(a);
    json_decref(b);
}

static void
idempotency_records(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *ans = json_pack("{s:s, s:i, s:s, s:s}", "bodyHash", "h", "status", 201, "location",
                            "/x", "body", "{}"),
           *got;

    assert_null(store_idem_lookup(f->st, "scope", "POST", "/p", "k", 1000000, &err));
    assert_int_equal(err.code, ERR_NONE);
    assert_int_equal(store_idem_save(f->st, "scope", "POST", "/p", "k", ans, &err), 0);
    got = store_idem_lookup(f->st, "scope", "POST", "/p", "k", 1000000, &err);
    assert_non_null(got);
    assert_int_equal(json_integer_value(json_object_get(got, "status")), 201);
    json_decref(got);
    assert_null(store_idem_lookup(f->st, "other", "POST", "/p", "k", 1000000, &err));
    assert_int_equal(store_idem_purge(f->st, -1000, &err), 1);
    assert_null(store_idem_lookup(f->st, "scope", "POST", "/p", "k", 1000000, &err));
    json_decref(ans);
}

static void
survives_reopen(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *c = cloud("durable"), *got;

    store_rec_insert(f->st, &store_kind_cloud, c, &err);
    store_close(f->st);
    f->st = store_open(f->path, NULL, &err);
    assert_non_null(f->st);
    got = store_rec_get(f->st, &store_kind_cloud, id_of(c), NULL, &err);
    assert_non_null(got);
    json_decref(got);
    json_decref(c);
}

static void *
writer_thread(void *arg)
{
    store_t *st = arg;
    err_t err = {0};
    int i;

    for (i = 0; i < 50; i++) {
        json_t *c = cloud("threaded");
        if (store_rec_insert(st, &store_kind_cloud, c, &err) != 0)
            fprintf(stderr, "insert failed: %s\n", err.message);
        json_decref(c);
    }
    return NULL;
}

static void
threads_get_their_own_connection(void **state)
{
    fixture_t *f = *state;
    pthread_t t[4];
    err_t err = {0};
    int i;

    for (i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, writer_thread, f->st);
    for (i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), 200);
}

typedef struct {
    store_t *st;
    const char *id;
} rename_arg_t;

static void *
rename_thread(void *arg)
{
    rename_arg_t *a = arg;
    err_t err = {0};
    json_t *rec = store_rec_get(a->st, &store_kind_cloud, a->id, NULL, &err);

    json_object_set_new(rec, "name", json_string("renamed-elsewhere"));
    if (store_tx_begin(a->st, &err) == 0) {
        store_rec_update(a->st, &store_kind_cloud, a->id, rec, 0, &err);
        store_tx_commit(a->st, &err);
    }
    json_decref(rec);
    return NULL;
}

static void
cached_reads_see_other_threads_writes(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *c = cloud("cached"), *got;
    rename_arg_t arg = {f->st, NULL};
    pthread_t t;
    int64_t rev = 0;

    store_rec_insert(f->st, &store_kind_cloud, c, &err);
    arg.id = id_of(c);
    /* Read twice (the second from the cache), and mutate the copy we got: the cache must not change. */
    json_decref(store_rec_get(f->st, &store_kind_cloud, arg.id, NULL, &err));
    got = store_rec_get(f->st, &store_kind_cloud, arg.id, &rev, &err);
    assert_int_equal(rev, 1);
    json_object_set_new(got, "name", json_string("scribbled"));
    json_decref(got);
    got = store_rec_get(f->st, &store_kind_cloud, arg.id, NULL, &err);
    assert_string_equal(json_string_value(json_object_get(got, "name")), "cached");
    json_decref(got);
    /* Another thread commits a change: this thread's next read sees it, in or out of a transaction. */
    pthread_create(&t, NULL, rename_thread, &arg);
    pthread_join(t, NULL);
    assert_int_equal(store_tx_begin_read(f->st, &err), 0);
    got = store_rec_get(f->st, &store_kind_cloud, arg.id, &rev, &err);
    assert_string_equal(json_string_value(json_object_get(got, "name")), "renamed-elsewhere");
    assert_int_equal(rev, 2);
    json_decref(got);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    /* A write transaction reads its own uncommitted change, and a rollback leaves the cache right. */
    assert_int_equal(store_tx_begin(f->st, &err), 0);
    json_object_set_new(c, "name", json_string("uncommitted"));
    store_rec_update(f->st, &store_kind_cloud, arg.id, c, 0, &err);
    got = store_rec_get(f->st, &store_kind_cloud, arg.id, NULL, &err);
    assert_string_equal(json_string_value(json_object_get(got, "name")), "uncommitted");
    json_decref(got);
    store_tx_rollback(f->st);
    got = store_rec_get(f->st, &store_kind_cloud, arg.id, NULL, &err);
    assert_string_equal(json_string_value(json_object_get(got, "name")), "renamed-elsewhere");
    json_decref(got);
    /* A delete is seen too. */
    assert_int_equal(store_rec_delete(f->st, &store_kind_cloud, arg.id, 0, &err), 0);
    assert_null(store_rec_get(f->st, &store_kind_cloud, arg.id, NULL, &err));
    json_decref(c);
}

static void
injected_fault_fails_once(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *c = cloud("fault");

    fault_arm(FAULT_STORE, 2);
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), 0);
    assert_int_equal(store_rec_insert(f->st, &store_kind_cloud, c, &err), -1);
    assert_int_equal(err.code, ERR_INTERNAL);
    err_clear(&err);
    assert_int_equal(store_rec_insert(f->st, &store_kind_cloud, c, &err), 0);
    json_decref(c);
}

typedef struct {
    store_t *st;
    char name;
    char *order; /* appended to under the transaction */
    int rc;
    err_code_t code;
} gate_arg_t;

static void *
gate_writer(void *p)
{
    gate_arg_t *a = p;
    err_t err = {0};

    a->rc = store_tx_begin(a->st, &err);
    a->code = err.code;
    if (a->rc == 0) {
        strncat(a->order, &a->name, 1);
        store_tx_commit(a->st, &err);
    }
    return NULL;
}

static void
wait_waiters(store_t *st, int n)
{
    int i;

    for (i = 0; i < 5000 && store_sqlite__gate_waiters(st) != n; i++)
        usleep(1000);
    assert_int_equal(store_sqlite__gate_waiters(st), n);
}

/* Write transactions take turns in arrival order: a thread that writes again at once does not get ahead
 * of those already waiting. */
static void
write_transactions_take_turns_in_order(void **state)
{
    fixture_t *f = *state;
    char order[8] = "";
    gate_arg_t b = {f->st, 'b', order, 0, 0}, c = {f->st, 'c', order, 0, 0};
    pthread_t tb, tc;
    err_t err = {0};

    assert_int_equal(store_tx_begin(f->st, &err), 0);
    assert_int_equal(pthread_create(&tb, NULL, gate_writer, &b), 0);
    wait_waiters(f->st, 1);
    assert_int_equal(pthread_create(&tc, NULL, gate_writer, &c), 0);
    wait_waiters(f->st, 2);
    strcat(order, "a");
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    /* a again, at once: behind b and c. */
    assert_int_equal(store_tx_begin(f->st, &err), 0);
    strcat(order, "a");
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    pthread_join(tb, NULL);
    pthread_join(tc, NULL);
    assert_int_equal(b.rc, 0);
    assert_int_equal(c.rc, 0);
    assert_string_equal(order, "abca");
    assert_int_equal(store_sqlite__gate_waiters(f->st), 0);
}

/* Waiting for a turn is bounded by the busy timeout: 503 Unavailable, and the queue moves on. */
static void
waiting_for_a_turn_times_out(void **state)
{
    fixture_t *f = *state;
    store_options_t opts = {.busy_timeout_ms = 100};
    err_t err = {0};
    store_t *st;
    char order[8] = "";
    gate_arg_t b;
    pthread_t tb;

    store_close(f->st);
    f->st = NULL;
    st = store_open(f->path, &opts, &err);
    assert_non_null(st);
    f->st = st;
    b = (gate_arg_t){st, 'b', order, 0, 0};
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(pthread_create(&tb, NULL, gate_writer, &b), 0);
    pthread_join(tb, NULL);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.code, ERR_UNAVAILABLE);
    assert_int_equal(store_sqlite__gate_waiters(st), 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    /* The gate is free again. */
    b.rc = 1;
    assert_int_equal(pthread_create(&tb, NULL, gate_writer, &b), 0);
    pthread_join(tb, NULL);
    assert_int_equal(b.rc, 0);
    assert_string_equal(order, "b");
}

static void
put_record(store_t *st, const char *id, const char *meter)
{
    store_usage_rec_t r = {.id = id, .subscription_id = "s", .resource_id = "vm-1", .resource_type = "vm",
                           .meter = meter, .unit = "hours", .properties = "{}", .quantity = 1,
                           .period_start_ms = 0, .period_end_ms = 3600000};
    err_t err = {0};

    assert_int_equal(store_usage_record_put(st, &r, &err), 0);
}

/* Migration 10 rebuilds the usage records' table: every record keeps its position, and a position once
 * handed out (even that of a purged last record) is never handed out again, so collectors' cursors hold. */
static void
migration_10_keeps_positions(void **state)
{
    fixture_t *f = *state;
    store_options_t at9 = {.migrate_to = 9};
    int64_t last = 0;
    err_t err = {0};
    sqlite3 *db;
    json_t *list;

    store_close(f->st);
    unlink(f->path);
    f->st = store_open(f->path, &at9, &err);
    assert_non_null(f->st);
    assert_int_equal(store_schema_version(f->st), 9);
    store_close(f->st);
    /* Two records written at schema 9 (the store writes the newest schema's columns), the newest purged
     * before the upgrade. */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO usage_records(id, subscription_id, resource_id,"
                                  " resource_type, meter, quantity, unit, period_start_ms, period_end_ms,"
                                  " properties) VALUES"
                                  " ('id-a', 's', 'vm-1', 'vm', 'compute.hours', 1, 'hours', 0, 3600000,"
                                  " '{}'), ('id-b', 's', 'vm-1', 'vm', 'compute.runningHours', 1, 'hours',"
                                  " 0, 3600000, '{}');"
                                  "DELETE FROM usage_records WHERE id = 'id-b';",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    f->st = store_open(f->path, NULL, &err);
    assert_non_null(f->st);
    assert_true(store_schema_version(f->st) >= 10);
    put_record(f->st, "id-c", "storage.gbHours");
    put_record(f->st, "id-a2", "compute.hours"); /* same resource, meter and period: ignored */
    list = store_usage_records(f->st, NULL, 0, INT64_MIN, INT64_MAX, 10, &last, &err);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), "id-a");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "id")), "id-c");
    assert_int_equal(last, 3); /* not 2: that position was handed out before */
    json_decref(list);
    assert_int_equal(store_integrity_check(f->st, &err), 0);
}

/* Migration 11 lists every VM of the timeline in vm_state, with when it went: the closer's walk then finds
 * the VMs alive at a period's start without reading their history. */
static void
migration_11_lists_vms_and_when_they_went(void **state)
{
    fixture_t *f = *state;
    store_options_t at10 = {.migrate_to = 10};
    char end[64];
    err_t err = {0};
    sqlite3 *db;

    store_close(f->st);
    unlink(f->path);
    f->st = store_open(f->path, &at10, &err);
    assert_non_null(f->st);
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO vm_timeline(vm_id, subscription_id, at_ms, event, power_state, size,"
                     " cores, memory_mb, storage_gb, holds_compute, holds_storage) VALUES"
                     " ('vm-a', 's', 1000, 'created', 'running', 'S', 1, 1, 1, 1, 1),"
                     " ('vm-b', 's', 1000, 'created', 'running', 'S', 1, 1, 1, 1, 1),"
                     " ('vm-a', 's', 2000, 'changed', 'stopped', 'S', 1, 1, 1, 1, 1),"
                     " ('vm-b', 's', 3000, 'deleted', 'stopped', 'S', 1, 1, 1, 0, 0);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    f->st = store_open(f->path, NULL, &err);
    assert_non_null(f->st);
    /* From 2500 both count (vm-b went at 3000); from 3500 only vm-a does. */
    assert_int_equal(store_timeline_chunk_end(f->st, 2500, NULL, 2, end, sizeof(end), &err), 1);
    assert_string_equal(end, "vm-b");
    assert_int_equal(store_timeline_chunk_end(f->st, 3500, NULL, 1, end, sizeof(end), &err), 1);
    assert_string_equal(end, "vm-a");
    assert_int_equal(store_timeline_chunk_end(f->st, 3500, NULL, 2, end, sizeof(end), &err), 0);
    /* Once its last period is closed, a VM that went is forgotten. */
    assert_int_equal(store_vm_state_prune(f->st, 3500, &err), 1);
    assert_int_equal(store_timeline_chunk_end(f->st, 2500, NULL, 2, end, sizeof(end), &err), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrates_and_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(insert_get_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(nested_fields_map_to_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(paging_is_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(filters_eq_and_in, setup, teardown),
        cmocka_unit_test_setup_teardown(revisions_guard_updates_and_deletes, setup, teardown),
        cmocka_unit_test_setup_teardown(unique_values_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(nested_transactions_roll_back, setup, teardown),
        cmocka_unit_test_setup_teardown(idempotency_records, setup, teardown),
        cmocka_unit_test_setup_teardown(survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(threads_get_their_own_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(cached_reads_see_other_threads_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(injected_fault_fails_once, setup, teardown),
        cmocka_unit_test_setup_teardown(write_transactions_take_turns_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(waiting_for_a_turn_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(migration_10_keeps_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(migration_11_lists_vms_and_when_they_went, setup, teardown),
    };

    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
