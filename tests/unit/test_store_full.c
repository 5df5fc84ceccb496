/* Unit tests of a full database in the SQLite backend: a write that finds no space fails with
 * InsufficientStorage (not InternalError) and loses nothing committed before it; the store says it is
 * full until a write commits again (a probe write does); a transaction of several writes fails whole; the
 * probe commits alone, so that its failure, once a second while the disk is full, fails no client's write
 * (neither a write whose batch was open when the probe's turn came nor one queued behind the probe).
 *
 * The database is made full with SQLite's own limit on its size (PRAGMA max_page_count on the store's
 * writer connection): SQLite answers SQLITE_FULL exactly as it does when the disk is full. A real full
 * disk is the e2e test's (tests/e2e/test_disk_full.py). */
#include <pthread.h>
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

#include "../../lib/store.h"
#include "../../lib/store/sqlite.h"
#include "../../lib/util.h"

/* A new cloud record whose description is pad bytes long. */
static json_t *
big_cloud(char *id, size_t pad)
{
    const char *when = "2026-01-01T00:00:00.000Z";
    char name[64], *text = malloc(pad + 1);
    json_t *rec;

    assert_non_null(text);
    memset(text, 'x', pad);
    text[pad] = '\0';
    util_uuid(id);
    snprintf(name, sizeof(name), "c-%s", id);
    rec = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "name", name, "description", text,
                    "createdAt", when, "updatedAt", when);
    free(text);
    return rec;
}

/* Caps the database at the pages it has now (plus extra). */
static void
cap_pages(store_t *st, int extra)
{
    sqlite3 *w = store_sqlite__writer(st);
    sqlite3_stmt *s = NULL;
    char sql[64];
    int pages;

    assert_int_equal(sqlite3_prepare_v2(w, "PRAGMA page_count;", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    pages = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%d;", pages + extra);
    assert_int_equal(sqlite3_exec(w, sql, NULL, NULL, NULL), SQLITE_OK);
}

static void
uncap_pages(store_t *st)
{
    assert_int_equal(
        sqlite3_exec(store_sqlite__writer(st), "PRAGMA max_page_count=1073741823;", NULL, NULL, NULL),
        SQLITE_OK);
}

static void
full_write_is_insufficient_storage(void **state)
{
    fixture_t *f = *state;
    char ids[64][UTIL_UUID_LEN + 1], id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    json_t *rec;
    int i, n = 0, rc = 0;

    assert_false(store_storage_full(f->st));
    cap_pages(f->st, 8);
    /* Writes of 4 KiB each go in until the cap is reached. */
    for (i = 0; i < 64 && rc == 0; i++) {
        rec = big_cloud(ids[n], 4096);
        rc = store_rec_insert(f->st, &store_kind_cloud, rec, &err);
        json_decref(rec);
        if (rc == 0)
            n++;
    }
    assert_int_equal(rc, -1);
    assert_true(n > 0 && n < 64);
    assert_int_equal(err.code, ERR_INSUFFICIENT_STORAGE);
    assert_int_equal(err_http_status(err.code), 503);
    assert_string_equal(err_code_name(err.code), "InsufficientStorage");
    assert_true(store_storage_full(f->st));
    /* Reads go on, and everything acknowledged is there. */
    for (i = 0; i < n; i++) {
        err_clear(&err);
        rec = store_rec_get(f->st, &store_kind_cloud, ids[i], NULL, &err);
        assert_non_null(rec);
        assert_string_equal(id_of(rec), ids[i]);
        json_decref(rec);
    }
    /* Still full: a large write fails again, and the store still says so. */
    err_clear(&err);
    rec = big_cloud(id, 65536);
    assert_int_equal(store_rec_insert(f->st, &store_kind_cloud, rec, &err), -1);
    json_decref(rec);
    assert_int_equal(err.code, ERR_INSUFFICIENT_STORAGE);
    assert_true(store_storage_full(f->st));
    /* A write transaction that changed nothing proves nothing. */
    err_clear(&err);
    assert_int_equal(store_tx_begin(f->st, &err), 0);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    assert_true(store_storage_full(f->st));
    /* The probe needs more room than there is: it fails the same way, and the store stays full. */
    err_clear(&err);
    assert_int_equal(store_write_probe(f->st, 256 * 1024, &err), -1);
    assert_int_equal(err.code, ERR_INSUFFICIENT_STORAGE);
    assert_true(store_storage_full(f->st));
    /* Space comes back: the probe commits, and the store is not full any more. */
    uncap_pages(f->st);
    err_clear(&err);
    assert_int_equal(store_write_probe(f->st, 256 * 1024, &err), 0);
    assert_false(store_storage_full(f->st));
    rec = big_cloud(id, 65536);
    assert_int_equal(store_rec_insert(f->st, &store_kind_cloud, rec, &err), 0);
    json_decref(rec);
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), n + 1);
}

/* A transaction of several writes that runs out of space fails whole: its first writes are not kept. */
static void
full_transaction_fails_whole(void **state)
{
    fixture_t *f = *state;
    char id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    json_t *rec;
    int i, rc = 0;

    cap_pages(f->st, 6);
    assert_int_equal(store_tx_begin(f->st, &err), 0);
    for (i = 0; i < 64 && rc == 0; i++) {
        rec = big_cloud(id, 4096);
        rc = store_rec_insert(f->st, &store_kind_cloud, rec, &err);
        json_decref(rec);
    }
    assert_int_equal(rc, -1);
    assert_true(i > 1);
    assert_int_equal(err.code, ERR_INSUFFICIENT_STORAGE);
    store_tx_rollback(f->st);
    assert_true(store_storage_full(f->st));
    err_clear(&err);
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), 0);
    /* The next write that fits clears it. */
    rec = big_cloud(id, 16);
    assert_int_equal(store_rec_insert(f->st, &store_kind_cloud, rec, &err), 0);
    json_decref(rec);
    assert_false(store_storage_full(f->st));
}

/* ---- the probe commits alone ---- */

typedef struct {
    store_t *st;
    bool probe;      /* a write probe of PROBE_BYTES; else one small cloud inserted */
    char id[UTIL_UUID_LEN + 1];
    int rc;
    err_code_t code;
} writer_t;

#define PROBE_BYTES (1024 * 1024)

static void *
writer_run(void *arg)
{
    writer_t *w = arg;
    err_t err = {0};
    json_t *rec;

    if (w->probe) {
        w->rc = store_write_probe(w->st, PROBE_BYTES, &err);
    } else {
        rec = big_cloud(w->id, 16);
        w->rc = store_rec_insert(w->st, &store_kind_cloud, rec, &err);
        json_decref(rec);
    }
    w->code = err.code;
    return NULL;
}

/* Starts w on thread th and waits (up to 10 s) until it is the queued-th writer waiting at the gate. */
static void
queue_behind(pthread_t *th, writer_t *w, int queued)
{
    int polls = 0;

    assert_int_equal(pthread_create(th, NULL, writer_run, w), 0);
    while (store_sqlite__gate_waiters(w->st) < queued && polls++ < 10000)
        usleep(1000);
    assert_int_equal(store_sqlite__gate_waiters(w->st), queued);
}

/* The calling thread opens a write transaction with one small cloud in it (its id into id), so that the
 * writers started next queue at the gate behind it. */
static void
hold_gate(store_t *st, char id[UTIL_UUID_LEN + 1])
{
    err_t err = {0};
    json_t *rec = big_cloud(id, 16);

    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(store_rec_insert(st, &store_kind_cloud, rec, &err), 0);
    json_decref(rec);
}

/* Batches are bounded generously, so that every writer queued could share one: only the probe's rule keeps
 * them apart. A transaction holds the gate; a probe queues behind it, and a client's write behind the probe.
 * When the gate passes on, the holder's batch commits before the probe begins, and the client's write does
 * not join the probe's: three commits, where sharing would make one. */
static void
probe_shares_no_commit(void **state)
{
    fixture_t *f = *state;
    char held[UTIL_UUID_LEN + 1];
    writer_t probe = {.st = f->st, .probe = true, .rc = 99}, client = {.st = f->st, .rc = 99};
    pthread_t tp, tc;
    uint64_t before;
    err_t err = {0};

    store_sqlite__batch_bounds(f->st, 64, 10 * 1000 * 1000);
    before = store_batches(f->st);
    hold_gate(f->st, held);
    queue_behind(&tp, &probe, 1);
    queue_behind(&tc, &client, 2);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    assert_int_equal(probe.rc, 0);
    assert_int_equal(client.rc, 0);
    assert_int_equal(store_batches(f->st) - before, 3);
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), 2);
}

/* The same queue on a database too full for the probe: the probe fails with InsufficientStorage, while the
 * write before it and the one after it both commit and are there. */
static void
failed_probe_fails_no_client(void **state)
{
    fixture_t *f = *state;
    char held[UTIL_UUID_LEN + 1];
    writer_t probe = {.st = f->st, .probe = true, .rc = 99}, client = {.st = f->st, .rc = 99};
    pthread_t tp, tc;
    json_t *rec;
    err_t err = {0};

    store_sqlite__batch_bounds(f->st, 64, 10 * 1000 * 1000);
    cap_pages(f->st, 16); /* room for small writes, not for the probe's */
    hold_gate(f->st, held);
    queue_behind(&tp, &probe, 1);
    queue_behind(&tc, &client, 2);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    assert_int_equal(probe.rc, -1);
    assert_int_equal(probe.code, ERR_INSUFFICIENT_STORAGE);
    assert_int_equal(client.rc, 0);
    rec = store_rec_get(f->st, &store_kind_cloud, held, NULL, &err);
    assert_non_null(rec);
    json_decref(rec);
    rec = store_rec_get(f->st, &store_kind_cloud, client.id, NULL, &err);
    assert_non_null(rec);
    json_decref(rec);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(full_write_is_insufficient_storage, setup, teardown),
        cmocka_unit_test_setup_teardown(full_transaction_fails_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(probe_shares_no_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_probe_fails_no_client, setup, teardown),
    };

    return cmocka_run_group_tests_name("store: a full database", tests, NULL, NULL);
}
