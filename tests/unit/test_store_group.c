/* Unit tests of group commit in the SQLite backend: write transactions of several threads share one
 * COMMIT; each answers only after that COMMIT; a member that rolls back leaves the others in the batch;
 * a COMMIT that fails fails every member; a write made with no transaction open joins a batch too; a bulk
 * transaction ends the batch it is in.
 *
 * The batch's bounds are raised (store_sqlite__batch_bounds) wherever a test needs a batch to wait for
 * the writers queued at the gate, so that no test depends on timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>

#include "fixture.h"

#include "../../lib/store.h"
#include "../../lib/store/sqlite.h"
#include "../../lib/util.h"

/* A new cloud record named name (the smallest kind: one row per write). */
static json_t *
cloud(const char *name)
{
    const char *when = "2026-01-01T00:00:00.000Z";
    char id[UTIL_UUID_LEN + 1];

    util_uuid(id);
    return json_pack("{s:s, s:s, s:n, s:s, s:s}", "id", id, "name", name, "description", "createdAt",
                     when, "updatedAt", when);
}

/* Whether a cloud named name is on disk, as a connection of its own (not the store's) sees it. */
static bool
on_disk(const char *path, const char *name)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    bool found;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM clouds WHERE name = ?;", -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    sqlite3_close(db);
    return found;
}

/* Inserts the cloud name in a transaction of its own and ends it as told. */
static int
write_one(store_t *st, const char *name, bool commit, err_t *err)
{
    json_t *c = cloud(name);
    int rc = store_tx_begin(st, err);

    if (rc == 0 && store_rec_insert(st, &store_kind_cloud, c, err) != 0) {
        store_tx_rollback(st);
        rc = -1;
    } else if (rc == 0 && commit) {
        rc = store_tx_commit(st, err);
    } else if (rc == 0) {
        store_tx_rollback(st);
    }
    json_decref(c);
    return rc;
}

typedef enum { W_COMMIT, W_ROLLBACK, W_IMPLICIT, W_BULK } wmode_t;

typedef struct {
    fixture_t *f;
    const char *name;
    wmode_t mode;
    int rc;
    err_code_t code;
    bool seen; /* the row was on disk when the commit returned */
} writer_t;

static void *
writer(void *p)
{
    writer_t *w = p;
    err_t err = {0};
    json_t *c;

    switch (w->mode) {
    case W_COMMIT:
    case W_ROLLBACK:
        w->rc = write_one(w->f->st, w->name, w->mode == W_COMMIT, &err);
        break;
    case W_IMPLICIT:
        c = cloud(w->name);
        w->rc = store_rec_insert(w->f->st, &store_kind_cloud, c, &err);
        json_decref(c);
        break;
    case W_BULK:
        c = cloud(w->name);
        w->rc = store_tx_begin_bulk(w->f->st, &err);
        if (w->rc == 0 && store_rec_insert(w->f->st, &store_kind_cloud, c, &err) != 0) {
            store_tx_rollback(w->f->st);
            w->rc = -1;
        } else if (w->rc == 0) {
            w->rc = store_tx_commit(w->f->st, &err);
        }
        json_decref(c);
        break;
    }
    w->code = err.code;
    w->seen = on_disk(w->f->path, w->name);
    return NULL;
}

typedef struct {
    pthread_t th[8];
    writer_t w[8];
    int n;
} crowd_t;

/* Starts a writer and waits until it queues at the gate (the calling thread holds it). */
static void
queue_writer(crowd_t *c, fixture_t *f, const char *name, wmode_t mode)
{
    writer_t *w = &c->w[c->n];
    int polls = 0;

    *w = (writer_t){.f = f, .name = name, .mode = mode, .rc = 99};
    assert_int_equal(pthread_create(&c->th[c->n], NULL, writer, w), 0);
    c->n++;
    while (store_sqlite__gate_waiters(f->st) < c->n && polls++ < 10000)
        usleep(1000); /* up to 10 s */
    assert_int_equal(store_sqlite__gate_waiters(f->st), c->n);
}

static void
join_all(crowd_t *c)
{
    int i;

    for (i = 0; i < c->n; i++)
        pthread_join(c->th[i], NULL);
}

/* The calling thread opens a write transaction holding one row, so writers queue behind it; its id is
 * copied to id when id is not NULL. */
static void
hold_gate(fixture_t *f, const char *name, char id[UTIL_UUID_LEN + 1])
{
    err_t err = {0};
    json_t *c = cloud(name);

    assert_int_equal(store_tx_begin(f->st, &err), 0);
    assert_int_equal(store_rec_insert(f->st, &store_kind_cloud, c, &err), 0);
    if (id != NULL)
        snprintf(id, UTIL_UUID_LEN + 1, "%s", id_of(c));
    json_decref(c);
}

typedef struct {
    store_t *st;
    int n;
    int failed;
} many_t;

static void *
many_writer(void *p)
{
    many_t *m = p;
    err_t err = {0};
    int i;

    for (i = 0; i < m->n; i++)
        if (write_one(m->st, "many", true, &err) != 0)
            __atomic_add_fetch(&m->failed, 1, __ATOMIC_RELAXED);
    return NULL;
}

/* 8 threads x 100 write transactions: every one committed and visible, and under that contention they
 * shared commits. */
static void
many_threads_all_committed(void **state)
{
    fixture_t *f = *state;
    many_t m = {f->st, 100, 0};
    pthread_t th[8];
    uint64_t commits0 = store_commits(f->st), batches0 = store_batches(f->st);
    err_t err = {0};
    int i;

    for (i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, many_writer, &m), 0);
    for (i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(m.failed, 0);
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), 800);
    assert_int_equal(store_commits(f->st) - commits0, 800);
    assert_true(store_batches(f->st) - batches0 < 800); /* shared commits */
    assert_int_equal(store_integrity_check(f->st, &err), 0);
}

/* Writers queued at the gate join the open batch: one COMMIT for all of them, and each commit returns
 * only once its row is on disk. */
static void
queued_writers_share_one_commit(void **state)
{
    fixture_t *f = *state;
    uint64_t commits0 = store_commits(f->st), batches0 = store_batches(f->st);
    crowd_t c = {.n = 0};
    err_t err = {0};
    int i;

    store_sqlite__batch_bounds(f->st, 64, 60 * 1000000);
    hold_gate(f, "first", NULL);
    queue_writer(&c, f, "b", W_COMMIT);
    queue_writer(&c, f, "c", W_COMMIT);
    queue_writer(&c, f, "d", W_COMMIT);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    assert_true(on_disk(f->path, "first"));
    join_all(&c);
    for (i = 0; i < c.n; i++) {
        assert_int_equal(c.w[i].rc, 0);
        assert_true(c.w[i].seen);
    }
    assert_int_equal(store_commits(f->st) - commits0, 4);
    assert_int_equal(store_batches(f->st) - batches0, 1);
}

/* A member that rolls back takes only its own writes with it: the rest of the batch commits. */
static void
a_rollback_keeps_the_rest_of_the_batch(void **state)
{
    fixture_t *f = *state;
    uint64_t batches0 = store_batches(f->st);
    char first[UTIL_UUID_LEN + 1];
    crowd_t c = {.n = 0};
    err_t err = {0};
    json_t *got;

    store_sqlite__batch_bounds(f->st, 64, 60 * 1000000);
    hold_gate(f, "first", first);
    queue_writer(&c, f, "kept", W_COMMIT);
    queue_writer(&c, f, "undone", W_ROLLBACK);
    queue_writer(&c, f, "last", W_COMMIT);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    join_all(&c);
    assert_int_equal(c.w[0].rc, 0);
    assert_int_equal(c.w[2].rc, 0);
    assert_true(on_disk(f->path, "first"));
    assert_true(on_disk(f->path, "kept"));
    assert_false(on_disk(f->path, "undone"));
    assert_true(on_disk(f->path, "last"));
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), 3);
    got = store_rec_get(f->st, &store_kind_cloud, first, NULL, &err);
    assert_non_null(got);
    json_decref(got);
    assert_int_equal(store_batches(f->st) - batches0, 1);
}

static int fail_commits;

static int
failing_commit_hook(void *arg)
{
    (void) arg;
    return __atomic_load_n(&fail_commits, __ATOMIC_ACQUIRE); /* non-zero: COMMIT becomes ROLLBACK */
}

/* When the batch's COMMIT fails, every member fails (none has answered yet) and none of their writes
 * is kept; the store goes on working. */
static void
a_failed_commit_fails_every_member(void **state)
{
    fixture_t *f = *state;
    crowd_t c = {.n = 0};
    err_t err = {0};

    store_sqlite__batch_bounds(f->st, 64, 60 * 1000000);
    sqlite3_commit_hook(store_sqlite__writer(f->st), failing_commit_hook, NULL);
    __atomic_store_n(&fail_commits, 1, __ATOMIC_RELEASE);
    hold_gate(f, "first", NULL);
    queue_writer(&c, f, "b", W_COMMIT);
    queue_writer(&c, f, "c", W_IMPLICIT);
    assert_int_equal(store_tx_commit(f->st, &err), -1);
    assert_int_equal(err.code, ERR_INTERNAL);
    join_all(&c);
    assert_int_equal(c.w[0].rc, -1);
    assert_int_equal(c.w[0].code, ERR_INTERNAL);
    assert_int_equal(c.w[1].rc, -1);
    assert_int_equal(c.w[1].code, ERR_INTERNAL);
    assert_int_equal(store_sqlite__gate_waiters(f->st), 0);
    err_clear(&err);
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), 0);
    assert_false(on_disk(f->path, "first"));

    __atomic_store_n(&fail_commits, 0, __ATOMIC_RELEASE);
    assert_int_equal(write_one(f->st, "after", true, &err), 0);
    assert_true(on_disk(f->path, "after"));
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), 1);
    sqlite3_commit_hook(store_sqlite__writer(f->st), NULL, NULL);
}

/* A write made with no transaction open waits at the gate and joins the batch like any other, instead
 * of waiting on SQLite's lock behind the open batch. */
static void
a_write_outside_a_transaction_joins_the_batch(void **state)
{
    fixture_t *f = *state;
    uint64_t commits0 = store_commits(f->st), batches0 = store_batches(f->st);
    crowd_t c = {.n = 0};
    err_t err = {0};

    store_sqlite__batch_bounds(f->st, 64, 60 * 1000000);
    hold_gate(f, "first", NULL);
    queue_writer(&c, f, "implicit", W_IMPLICIT);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    join_all(&c);
    assert_int_equal(c.w[0].rc, 0);
    assert_true(c.w[0].seen);
    assert_int_equal(store_commits(f->st) - commits0, 2);
    assert_int_equal(store_batches(f->st) - batches0, 1);
}

/* A bulk transaction commits the batch it is in at its end, even with writers waiting; the batch's
 * bounds hold as well: a full batch commits. */
static void
bulk_and_full_batches_commit_at_once(void **state)
{
    fixture_t *f = *state;
    uint64_t batches0 = store_batches(f->st);
    crowd_t c = {.n = 0};
    err_t err = {0};

    store_sqlite__batch_bounds(f->st, 64, 60 * 1000000);
    hold_gate(f, "first", NULL);
    queue_writer(&c, f, "bulk", W_BULK);
    queue_writer(&c, f, "next", W_COMMIT);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    join_all(&c);
    assert_int_equal(c.w[0].rc, 0);
    assert_int_equal(c.w[1].rc, 0);
    assert_int_equal(store_batches(f->st) - batches0, 2); /* first+bulk, then next */

    c.n = 0;
    batches0 = store_batches(f->st);
    store_sqlite__batch_bounds(f->st, 2, 60 * 1000000);
    hold_gate(f, "again", NULL);
    queue_writer(&c, f, "b", W_COMMIT);
    queue_writer(&c, f, "c", W_COMMIT);
    queue_writer(&c, f, "d", W_COMMIT);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    join_all(&c);
    assert_int_equal(store_batches(f->st) - batches0, 2); /* again+b, then c+d */
    assert_int_equal(store_rec_count(f->st, &store_kind_cloud, NULL, 0, &err), 7);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(many_threads_all_committed, setup, teardown),
        cmocka_unit_test_setup_teardown(queued_writers_share_one_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(a_rollback_keeps_the_rest_of_the_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_commit_fails_every_member, setup, teardown),
        cmocka_unit_test_setup_teardown(a_write_outside_a_transaction_joins_the_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bulk_and_full_batches_commit_at_once, setup, teardown),
    };

    return cmocka_run_group_tests_name("store_group", tests, NULL, NULL);
}
