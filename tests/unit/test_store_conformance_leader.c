/* The store's conformance suite: the leadership of the periodic work (store_leader_try, store_is_leader).
 * On every backend of test_store_conformance.h a store alone leads, try after try. Where several
 * processes share one database (PostgreSQL; the cases say so and are skipped elsewhere), two stores on one
 * database stand for two daemons: exactly one leads; the leader's store closed, the other leads at its
 * next try; the leader's session ended by the server, the leader answers that it does not lead and a later
 * try takes the leadership again, its own or the other's; and a try never waits for a writer. */
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

static void
case_alone_leads(store_t *st)
{
    err_t err = {0};
    int i;

    for (i = 0; i < 3; i++) {
        assert_int_equal(store_leader_try(st, &err), 1);
        assert_true(store_is_leader(st));
    }
}
CASE(alone_leads)

/* SQLite's database belongs to its one process: it leads before any try. */
static void
case_single_process_leads_before_trying(store_t *st)
{
    if (strcmp(store_backend_name(st), "sqlite") == 0)
        assert_true(store_is_leader(st));
    else
        assert_false(store_is_leader(st)); /* shared: nothing is known before a try */
}
CASE(single_process_leads_before_trying)

/* ---- several stores on one database ---- */

typedef void (*shared_fn)(const char *location, store_t *a, store_t *b);

/* Runs fn with two stores a and b on one fresh database of each backend that several processes share
 * (postgresql, when WAPD_TEST_PG names a cluster); fn closes both, and whatever it opens again. */
static void
run_shared(shared_fn fn)
{
    char loc[512];
    err_t err = {0};
    store_t *a, *b;

    if (pg_location(NULL, loc, sizeof(loc)) != 0) {
        print_message("only a backend several processes share (postgresql) runs this case: skipped\n");
        return;
    }
    a = store_open(loc, NULL, &err);
    if (a == NULL)
        fail_msg("store_open(%s): %s", loc, err.message);
    b = store_open(loc, NULL, &err);
    if (b == NULL)
        fail_msg("store_open(%s): %s", loc, err.message);
    fn(loc, a, b);
    pg_drop(loc);
}

#define SHARED(name)                                                                               \
    static void name(void **state)                                                                 \
    {                                                                                              \
        (void) state;                                                                              \
        run_shared(shared_##name);                                                                 \
    }

/* Runs sql on the database WAPD_TEST_PG names; answers the first cell of its first row as an integer
 * (0 when it returns no row). */
static int64_t
admin_int(const char *sql)
{
    PGconn *pg = PQconnectdb(getenv("WAPD_TEST_PG"));
    PGresult *res;
    int64_t v = 0;

    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("WAPD_TEST_PG: cannot connect: %s", PQerrorMessage(pg));
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    PQfinish(pg);
    return v;
}

/* pg_locks' rows of the leader lock held: the advisory lock whose bigint key is pg.h's PG_LEADER_LOCK,
 * "wapdlead" (classid its high half, objid its low half, objsubid 1 for a bigint key). */
#define LEADER_LOCK_ROWS                                                                           \
    " WHERE locktype = 'advisory' AND granted AND classid = 2002874468 AND objid = 1818583396"  \
    " AND objsubid = 1"

/* The sessions that hold the leader lock, ended by the server as a restart or an operator would, waited
 * for until they are gone. Answers how many there were. */
static int64_t
terminate_leader_sessions(void)
{
    return admin_int("SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_locks" LEADER_LOCK_ROWS);
}

static int64_t
leader_sessions(void)
{
    return admin_int("SELECT count(*) FROM pg_locks" LEADER_LOCK_ROWS);
}

static void
shared_exactly_one_leads(const char *location, store_t *a, store_t *b)
{
    err_t err = {0};
    int i;

    (void) location;
    assert_int_equal(store_leader_try(a, &err), 1);
    assert_int_equal(store_leader_try(b, &err), 0);
    for (i = 0; i < 3; i++) { /* tries go on: nothing changes hands */
        assert_int_equal(store_leader_try(b, &err), 0);
        assert_int_equal(store_leader_try(a, &err), 1);
    }
    assert_true(store_is_leader(a));
    assert_false(store_is_leader(b));
    assert_int_equal(leader_sessions(), 1);
    store_close(b);
    store_close(a);
}
SHARED(exactly_one_leads)

static void
shared_the_leaders_close_hands_over(const char *location, store_t *a, store_t *b)
{
    err_t err = {0};

    assert_int_equal(store_leader_try(a, &err), 1);
    assert_int_equal(store_leader_try(b, &err), 0);
    store_close(a); /* a daemon that stops: its lock goes with its session */
    assert_int_equal(store_leader_try(b, &err), 1);
    assert_true(store_is_leader(b));
    /* A daemon that starts again finds the leader there. */
    a = store_open(location, NULL, &err);
    assert_non_null(a);
    assert_int_equal(store_leader_try(a, &err), 0);
    assert_false(store_is_leader(a));
    store_close(a);
    store_close(b);
}
SHARED(the_leaders_close_hands_over)

static void
shared_a_lost_session_loses_the_lead(const char *location, store_t *a, store_t *b)
{
    err_t err = {0};
    int rc;

    (void) location;
    /* Alone: the leader whose session the server ended says so, and takes the lead again later. */
    assert_int_equal(store_leader_try(a, &err), 1);
    assert_int_equal(terminate_leader_sessions(), 1);
    assert_int_equal(leader_sessions(), 0);
    rc = store_leader_try(a, &err);
    assert_true(rc == 0 || rc == -1);
    assert_false(store_is_leader(a));
    if (rc == -1)
        assert_int_equal(err.code, ERR_UNAVAILABLE);
    err_clear(&err);
    assert_int_equal(store_leader_try(a, &err), 1);
    assert_true(store_is_leader(a));
    /* With another daemon there: the other, trying first, takes it; the old leader does not get it back. */
    assert_int_equal(store_leader_try(b, &err), 0);
    assert_int_equal(terminate_leader_sessions(), 1);
    assert_int_equal(store_leader_try(b, &err), 1);
    rc = store_leader_try(a, &err);
    assert_true(rc == 0 || rc == -1);
    err_clear(&err);
    assert_int_equal(store_leader_try(a, &err), 0);
    assert_false(store_is_leader(a));
    assert_true(store_is_leader(b));
    assert_int_equal(leader_sessions(), 1);
    /* The stores still serve: the threads' connections were not the leader's. */
    assert_int_equal(store_ping(a, &err), 0);
    assert_int_equal(store_ping(b, &err), 0);
    store_close(b);
    store_close(a);
}
SHARED(a_lost_session_loses_the_lead)

/* Leadership never takes the write lock: a try leads while another daemon's write transaction holds it (a
 * try that waited for that lock would fail after the busy timeout, and a writer that waited for the
 * leader's session would never commit here, on one thread); the writer then commits. */
static void
shared_a_try_never_waits_for_a_writer(const char *location, store_t *a, store_t *b)
{
    err_t err = {0};
    json_t *rec;

    (void) location;
    assert_int_equal(store_tx_begin(b, &err), 0);
    put(b, &store_kind_cloud, cloud("c1", "east")); /* b's transaction holds the write lock */
    assert_int_equal(store_leader_try(a, &err), 1);
    assert_int_equal(store_tx_commit(b, &err), 0);
    rec = store_rec_get(a, &store_kind_cloud, "c1", NULL, &err);
    assert_non_null(rec);
    json_decref(rec);
    assert_int_equal(store_leader_try(a, &err), 1);
    assert_int_equal(store_leader_try(b, &err), 0);
    store_close(b);
    store_close(a);
}
SHARED(a_try_never_waits_for_a_writer)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alone_leads),
        cmocka_unit_test(single_process_leads_before_trying),
        cmocka_unit_test(exactly_one_leads),
        cmocka_unit_test(the_leaders_close_hands_over),
        cmocka_unit_test(a_lost_session_loses_the_lead),
        cmocka_unit_test(a_try_never_waits_for_a_writer),
    };

    return cmocka_run_group_tests_name("store conformance (leadership)", tests, NULL, NULL);
}
