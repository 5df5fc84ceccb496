/* Unit tests of a full database in the SQLite backend: a write that finds no space fails with
 * InsufficientStorage (not InternalError) and loses nothing committed before it; the store says it is
 * full until a write commits again (a probe write does); a transaction of several writes fails whole.
 *
 * The database is made full with SQLite's own limit on its size (PRAGMA max_page_count on the store's
 * writer connection): SQLite answers SQLITE_FULL exactly as it does when the disk is full. A real full
 * disk is the e2e test's (tests/e2e/test_disk_full.py). */
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(full_write_is_insufficient_storage, setup, teardown),
        cmocka_unit_test_setup_teardown(full_transaction_fails_whole, setup, teardown),
    };

    return cmocka_run_group_tests_name("store: a full database", tests, NULL, NULL);
}
