/*
 * test_store_conformance_pg.c: what the PostgreSQL backend owes beyond the conformance suite every backend
 * passes: several stores (daemons) on one database see each other's commits at once, their write
 * transactions take turns (a read-then-write in one never loses another's), daemons starting at once
 * migrate the schema once, a failed statement never lets its transaction commit, the checks and the
 * backup answer what the API says, and text that is no UTF-8 is held by no record instead of failing. The
 * catalog's rule for a store several daemons share is here too: such a store takes no sim host.
 *
 * Runs on the database cluster WAPD_TEST_PG names (a libpq URI whose user may CREATE DATABASE); each case
 * makes a database of its own and drops it. Without WAPD_TEST_PG every case is skipped, saying so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/agent.h"
#include "../../lib/catalog.h"
#include "../../lib/store.h"

#define TS "2026-01-01T00:00:00.000Z"

static char db_name[64];
static char db_uri[512];

/* Runs sql on the cluster's maintenance database. */
static void
admin_exec(const char *sql)
{
    PGconn *pg = PQconnectdb(getenv("WAPD_TEST_PG"));
    PGresult *res;

    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
}

/* Runs sql on the case's database. */
static void
case_exec(const char *sql)
{
    PGconn *pg = PQconnectdb(db_uri);
    PGresult *res;

    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
}

/* A fresh database for the case: its URI in db_uri. Skips the case when no cluster is named. */
static int
setup(void **state)
{
    static int n;
    const char *base = getenv("WAPD_TEST_PG"), *auth, *path, *q;
    char sql[128];

    (void) state;
    if (base == NULL || *base == '\0') {
        print_message("WAPD_TEST_PG names no PostgreSQL cluster: skipped\n");
        db_name[0] = '\0';
        return 0;
    }
    snprintf(db_name, sizeof(db_name), "wapd_t_%d_pg%d", (int) getpid(), n++);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db_name);
    admin_exec(sql);
    auth = strstr(base, "://");
    assert_non_null(auth);
    auth += 3;
    path = strchr(auth, '/');
    q = strchr(auth, '?');
    if (path == NULL || (q != NULL && q < path))
        path = q ? q : auth + strlen(auth);
    snprintf(db_uri, sizeof(db_uri), "%.*s/%s%s", (int) (path - base), base, db_name, q ? q : "");
    return 0;
}

static int
teardown(void **state)
{
    char sql[128];

    (void) state;
    if (db_name[0] != '\0') {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
        admin_exec(sql);
    }
    return 0;
}

#define NEED_CLUSTER()                                                                             \
    do {                                                                                           \
        if (db_name[0] == '\0')                                                                    \
            skip();                                                                                \
    } while (0)

static store_t *
open_store(int busy_ms)
{
    store_options_t opts = {.busy_timeout_ms = busy_ms};
    err_t err = {0};
    store_t *st = store_open(db_uri, &opts, &err);

    if (st == NULL)
        fail_msg("store_open: %s", err.message);
    assert_string_equal(store_backend_name(st), "postgresql");
    return st;
}

static json_t *
cloud(const char *id, const char *name)
{
    return json_pack("{s:s, s:s, s:n, s:s, s:s}", "id", id, "name", name, "description", "createdAt",
                     TS, "updatedAt", TS);
}

static void
put(store_t *st, json_t *rec)
{
    err_t err = {0};

    assert_non_null(rec);
    if (store_rec_insert(st, &store_kind_cloud, rec, &err) != 0)
        fail_msg("insert: %s", err.message);
    json_decref(rec);
}

/* Two daemons on one database: what one commits, the other reads at once (no cache of its own
 * answers), and an update of one is seen by the other at its new revision. */
static void
test_two_stores_share_commits(void **state)
{
    store_t *a, *b;
    json_t *rec;
    err_t err = {0};
    int64_t rev = 0;

    (void) state;
    NEED_CLUSTER();
    a = open_store(0);
    b = open_store(0);
    rec = store_rec_get(b, &store_kind_cloud, "c1", NULL, &err);
    assert_null(rec);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    put(a, cloud("c1", "east"));
    rec = store_rec_get(b, &store_kind_cloud, "c1", &rev, &err);
    assert_non_null(rec);
    assert_int_equal(rev, 1);
    json_object_set_new(rec, "name", json_string("west"));
    assert_int_equal(store_rec_update(b, &store_kind_cloud, "c1", rec, 1, &err), 0);
    json_decref(rec);
    rec = store_rec_get(a, &store_kind_cloud, "c1", &rev, &err);
    assert_non_null(rec);
    assert_int_equal(rev, 2);
    assert_string_equal(json_string_value(json_object_get(rec, "name")), "west");
    json_decref(rec);
    /* A's stale revision loses: 412, as on one daemon. */
    rec = cloud("c1", "north");
    err_clear(&err);
    assert_int_not_equal(store_rec_update(a, &store_kind_cloud, "c1", rec, 1, &err), 0);
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    json_decref(rec);
    store_close(a);
    store_close(b);
}

#define WRITERS 4
#define ROUNDS 25

typedef struct {
    store_t *st;
    int failures;
} writer_t;

/* Read-modify-write of one counter, each in a write transaction. */
static void *
writer(void *arg)
{
    writer_t *w = arg;
    err_t err = {0};
    int64_t v;
    int i;

    for (i = 0; i < ROUNDS; i++) {
        if (store_tx_begin(w->st, &err)) {
            w->failures++;
            continue;
        }
        v = 0;
        if (store_meta_get(w->st, "turns", &v, &err) < 0 ||
            store_meta_set(w->st, "turns", v + 1, &err) < 0) {
            store_tx_rollback(w->st);
            w->failures++;
            continue;
        }
        if (store_tx_commit(w->st, &err))
            w->failures++;
    }
    return NULL;
}

/* Write transactions of two daemons take turns: of 200 increments made by read-then-write from 8
 * threads on two stores, none is lost. (READ COMMITTED alone would lose some.) */
static void
test_writers_of_two_daemons_take_turns(void **state)
{
    store_t *st[2];
    writer_t w[2 * WRITERS];
    pthread_t th[2 * WRITERS];
    err_t err = {0};
    int64_t v = -1;
    int i, failures = 0;

    (void) state;
    NEED_CLUSTER();
    st[0] = open_store(30000);
    st[1] = open_store(30000);
    for (i = 0; i < 2 * WRITERS; i++) {
        w[i].st = st[i % 2];
        w[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, writer, &w[i]), 0);
    }
    for (i = 0; i < 2 * WRITERS; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    assert_int_equal(failures, 0);
    assert_true(store_meta_get(st[0], "turns", &v, &err) >= 0);
    assert_int_equal(v, 2 * WRITERS * ROUNDS);
    assert_true(store_commits(st[0]) + store_commits(st[1]) >= 2 * WRITERS * ROUNDS);
    store_close(st[0]);
    store_close(st[1]);
}

/* While one daemon holds a write transaction, another's writer waits at most its busy timeout and gets
 * 503, and nothing of its change is kept; once the first commits, it writes. */
static void
test_a_busy_writer_gets_503(void **state)
{
    store_t *a, *b;
    err_t err = {0};
    json_t *rec;

    (void) state;
    NEED_CLUSTER();
    a = open_store(0);
    b = open_store(200);
    assert_int_equal(store_tx_begin(a, &err), 0);
    put(a, cloud("c1", "east"));
    rec = cloud("c2", "west");
    assert_int_equal(store_rec_insert(b, &store_kind_cloud, rec, &err), -1);
    assert_int_equal(err.code, ERR_UNAVAILABLE);
    assert_int_equal(store_tx_commit(a, &err), 0);
    assert_int_equal(store_rec_insert(b, &store_kind_cloud, rec, &err), 0);
    json_decref(rec);
    assert_int_equal(store_rec_count(a, &store_kind_cloud, NULL, 0, &err), 2);
    store_close(a);
    store_close(b);
}

typedef struct {
    store_t *st;
    int version;
} opener_t;

static void *
opener(void *arg)
{
    opener_t *o = arg;
    err_t err = {0};

    o->st = store_open(db_uri, NULL, &err);
    o->version = o->st ? store_schema_version(o->st) : -1;
    return NULL;
}

/* Daemons starting at once on an empty database: one migrates, the others find it done. */
static void
test_daemons_starting_at_once_migrate_once(void **state)
{
    opener_t o[3];
    pthread_t th[3];
    err_t err = {0};
    int i;

    (void) state;
    NEED_CLUSTER();
    for (i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, opener, &o[i]), 0);
    for (i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < 3; i++) {
        assert_non_null(o[i].st);
        assert_int_equal(o[i].version, o[0].version);
        assert_true(o[i].version >= 1);
        assert_int_equal(store_integrity_check(o[i].st, &err), 0);
    }
    for (i = 0; i < 3; i++)
        store_close(o[i].st);
}

/* A duplicate is an answer and leaves the transaction usable; a failed statement (a reference to a
 * missing record) fails its transaction's commit, and nothing of that transaction is kept. */
static void
test_failed_statement_never_commits(void **state)
{
    store_t *st;
    err_t err = {0};
    json_t *rec, *h;

    (void) state;
    NEED_CLUSTER();
    st = open_store(0);
    assert_int_equal(store_tx_begin(st, &err), 0);
    put(st, cloud("c1", "east"));
    rec = cloud("c1", "again");
    assert_int_equal(store_rec_insert_unique(st, &store_kind_cloud, rec, &err), 0);
    json_decref(rec);
    put(st, cloud("c2", "west"));
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 2);

    h = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:i, s:i, s:i}, s:{s:i, s:i, s:i}, s:s, s:n, s:s, "
                  "s:s}",
                  "id", "h1", "name", "h1", "cloudId", "nowhere", "agent", "kind", "sim", "uri",
                  "sim://", "capacity", "cores", 8, "memoryMB", 1024, "storageGB", 100, "allocated",
                  "cores", 0, "memoryMB", 0, "storageGB", 0, "state", "ok", "lastSeenAt", "createdAt",
                  TS, "updatedAt", TS);
    assert_non_null(h);
    assert_int_equal(store_tx_begin(st, &err), 0);
    put(st, cloud("c3", "south"));
    err_clear(&err);
    assert_int_equal(store_rec_insert(st, &store_kind_host, h, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_int_equal(store_tx_commit(st, &err), -1);
    store_tx_rollback(st); /* nothing is open: a no-op */
    json_decref(h);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 2);
    store_close(st);
}

/* Text that is no UTF-8 (an id from a request's path) finds nothing and fails nothing: the transaction
 * it was read in goes on. */
static void
test_text_that_is_not_utf8_is_none(void **state)
{
    store_t *st;
    err_t err = {0};
    json_t *rec;
    store_filter_t f = {.field = "name", .op = STORE_FILTER_EQ, .value = "\xff\xfe"};

    (void) state;
    NEED_CLUSTER();
    st = open_store(0);
    assert_int_equal(store_tx_begin(st, &err), 0);
    put(st, cloud("c1", "east"));
    rec = store_rec_get(st, &store_kind_cloud, "c\xc3", NULL, &err);
    assert_null(rec);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, &f, 1, &err), 0);
    err_clear(&err);
    assert_int_equal(store_rec_delete(st, &store_kind_cloud, "\xed\xa0\x80", 0, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    put(st, cloud("c2", "west"));
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 2);
    store_close(st);
}

/* The checks: the integrity check passes on a sound database and names what is wrong when a table is
 * gone; a backup answers 501 saying to use pg_dump; the write probe leaves nothing behind. */
static void
test_checks_backup_and_probe(void **state)
{
    store_t *st;
    err_t err = {0};
    int64_t v = 7;
    char path[] = "/tmp/wapd-pg-backup-XXXXXX";
    int fd;

    (void) state;
    NEED_CLUSTER();
    st = open_store(0);
    assert_int_equal(store_ping(st, &err), 0);
    assert_int_equal(store_integrity_check(st, &err), 0);
    assert_int_equal(store_write_probe(st, 256 * 1024, &err), 0);
    assert_int_equal(store_meta_get(st, "writeProbe", &v, &err), 1); /* unset: the probe left nothing */
    assert_int_equal(v, 7);
    assert_true(store_size_bytes(st) > 0);
    err_clear(&err);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(store_backup_to(st, path, &err), -1);
    assert_int_equal(err.code, ERR_NOT_IMPLEMENTED);
    assert_non_null(strstr(err.message, "pg_dump"));
    unlink(path);
    case_exec("DROP TABLE admin_tokens");
    err_clear(&err);
    assert_int_equal(store_integrity_check(st, &err), -1);
    assert_int_equal(err.code, ERR_INTERNAL);
    assert_non_null(strstr(err.message, "tables"));
    store_close(st);
}

/* The number query (one row, one integer) answers on the case's database. */
static long
case_count(const char *sql)
{
    PGconn *pg = PQconnectdb(db_uri);
    PGresult *res;
    long n;

    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    PQfinish(pg);
    return n;
}

/* A store several daemons share (store_shared) takes no sim host, which would live inside one daemon: its
 * create, and a new uri for one already there, are 400 naming agent.kind, saying what scale-out uses, and
 * write nothing; an http host is taken. (test_catalog.c: the embedded store takes sim hosts.) */
static void
test_a_shared_store_takes_no_sim_host(void **state)
{
    store_t *st;
    err_t err = {0};
    json_t *c, *h, *got;
    catalog_cloud_req_t creq = {.name = "c"};
    catalog_host_req_t req = {.name = "h", .agent_kind = "sim", .agent_uri = "sim://?latencyMs=5",
                              .capacity = {.cores = 4, .memory_mb = 4096, .storage_gb = 100}};
    catalog_host_patch_t patch = {.given = CATALOG_HOST_AGENT_URI, .agent_uri = "sim://"};
    const char *const words[] = {"sim", "shared", "http", "wapd-agent", "libvirt"};
    size_t i;

    (void) state;
    NEED_CLUSTER();
    assert_int_equal(agent_builtin_register(), 0);
    st = open_store(0);
    assert_true(store_shared(st));
    c = catalog_cloud_create(st, &creq, &err);
    assert_non_null(c);
    req.cloud_id = json_string_value(json_object_get(c, "id"));
    assert_null(catalog_host_create(st, &req, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "agent.kind");
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(err.message, words[i]) == NULL)
            fail_msg("the refusal does not say \"%s\": %s", words[i], err.message);
    assert_int_equal(case_count("SELECT count(*) FROM hosts"), 0);
    /* A sim host already in the database (as an older release wrote it) takes no new uri either. */
    err_clear(&err);
    req.agent_kind = "http";
    req.agent_uri = "http://127.0.0.1:9";
    h = catalog_host_create(st, &req, &err);
    if (h == NULL)
        fail_msg("http host: %s", err.message);
    case_exec("UPDATE hosts SET agent_kind = 'sim', agent_uri = 'sim://'");
    got = catalog_host_update(st, json_string_value(json_object_get(h, "id")), &patch, 0, &err);
    assert_null(got);
    assert_string_equal(err.target, "agent.kind");
    assert_int_equal(case_count("SELECT count(*) FROM hosts WHERE agent_uri = 'sim://' AND rev = 1"),
                     1);
    json_decref(h);
    json_decref(c);
    store_close(st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_stores_share_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writers_of_two_daemons_take_turns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_busy_writer_gets_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemons_starting_at_once_migrate_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_statement_never_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_that_is_not_utf8_is_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checks_backup_and_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_shared_store_takes_no_sim_host, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
