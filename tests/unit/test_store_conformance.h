/*
 * test_store_conformance.h: what the store's conformance suite (test_store_conformance*.c) shares: the
 * list of backends every case runs against, the runner that gives each case a fresh store of each
 * backend, and records to work with. Written against the public store.h only. Include after <cmocka.h>.
 * The postgresql row runs when WAPD_TEST_PG names a test cluster (make unit-pg), and is skipped otherwise.
 */
#ifndef WAPD_TEST_STORE_CONFORMANCE_H
#define WAPD_TEST_STORE_CONFORMANCE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../../lib/fault.h"
#include "../../lib/store.h"

/* ---- the backends ---- */

typedef struct {
    const char *name;
    /* Makes the location of a fresh, empty store (dir is a new temporary directory): 0; 1 when the
     * backend cannot run here (it says why). */
    int (*location)(const char *dir, char *out, size_t outn);
    /* Removes what location made outside dir, once the store is closed (NULL: nothing to remove). */
    void (*drop)(const char *location);
} backend_t;

static inline int
file_location(const char *dir, char *out, size_t outn)
{
    snprintf(out, outn, "%s/conformance.db", dir);
    return 0;
}

/* PostgreSQL: WAPD_TEST_PG is the libpq URI of a database on a test cluster whose role may CREATE
 * DATABASE (make unit-pg starts one: tests/pg/cluster.sh). Each case gets a database of its own,
 * wapd_t_<pid>_<n>, made from that one and dropped after the case. Unset: the backend is skipped. */

/* Copies uri with its database (the path after the authority) replaced by db into out. */
static inline void
pg_uri_with_db(const char *uri, const char *db, char *out, size_t outn)
{
    const char *auth = strstr(uri, "://"), *path, *rest;

    assert_non_null(auth);
    auth += 3;
    path = auth + strcspn(auth, "/?");
    rest = *path == '/' ? path + strcspn(path, "?") : path;
    assert_true(snprintf(out, outn, "%.*s/%s%s", (int) (path - uri), uri, db, rest) < (int) outn);
}

/* Runs one statement on the database WAPD_TEST_PG names; fails the case when it fails. */
static inline void
pg_admin(const char *sql)
{
    PGconn *pg = PQconnectdb(getenv("WAPD_TEST_PG"));
    PGresult *res;

    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("WAPD_TEST_PG: cannot connect: %s", PQerrorMessage(pg));
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
}

static inline int
pg_location(const char *dir, char *out, size_t outn)
{
    static unsigned n;
    const char *base = getenv("WAPD_TEST_PG");
    char db[64], sql[128];

    (void) dir;
    if (base == NULL || *base == '\0') {
        print_message("WAPD_TEST_PG is not set (make unit-pg sets it): ");
        return 1;
    }
    snprintf(db, sizeof(db), "wapd_t_%ld_%u", (long) getpid(), ++n);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    pg_admin(sql);
    pg_uri_with_db(base, db, out, outn);
    return 0;
}

static inline void
pg_drop(const char *location)
{
    const char *db = strstr(location, "://");
    char sql[160];

    db = strchr(db + 3, '/');
    assert_non_null(db);
    db++;
    snprintf(sql, sizeof(sql), "DROP DATABASE %.*s WITH (FORCE)", (int) strcspn(db, "?"), db);
    pg_admin(sql);
}

static const backend_t backends[] = {
    {"sqlite", file_location, NULL},
    {"postgresql", pg_location, pg_drop},
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

typedef void (*case_fn)(store_t *st);

/* Runs fn on a fresh store of every backend, and removes each afterwards. */
static inline void
run_case(case_fn fn)
{
    char dir[64], loc[512], cmd[96];
    err_t err = {0};
    store_t *st;
    size_t i;

    for (i = 0; i < NBACKENDS; i++) {
        snprintf(dir, sizeof(dir), "/tmp/wapd-conformance-XXXXXX");
        assert_non_null(mkdtemp(dir));
        if (backends[i].location(dir, loc, sizeof(loc)) != 0) {
            print_message("backend %s cannot run here: skipped\n", backends[i].name);
        } else {
            st = store_open(loc, NULL, &err);
            if (st == NULL)
                fail_msg("backend %s: store_open(%s): %s", backends[i].name, loc, err.message);
            assert_string_equal(store_backend_name(st), backends[i].name);
            fn(st);
            store_close(st);
            if (backends[i].drop != NULL)
                backends[i].drop(loc);
        }
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
}

#define CASE(name)                                                                                 \
    static void name(void **state)                                                                 \
    {                                                                                              \
        (void) state;                                                                              \
        run_case(case_##name);                                                                     \
    }

/* ---- records to work with ---- */

#define TS "2026-01-01T00:00:00.000Z"

static inline void
put(store_t *st, const store_kind_t *kind, json_t *rec /* stolen */)
{
    err_t err = {0};
    int rc;

    assert_non_null(rec);
    rc = store_rec_insert(st, kind, rec, &err);
    json_decref(rec);
    assert_int_equal(rc, 0);
}

static inline json_t *
cloud(const char *id, const char *name)
{
    return json_pack("{s:s, s:s, s:n, s:s, s:s}", "id", id, "name", name, "description",
                     "createdAt", TS, "updatedAt", TS);
}

static inline json_t *
host(const char *id, int cores)
{
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:i, s:i, s:i}, s:{s:i, s:i, s:i}, s:s, s:n, "
                     "s:s, s:s}",
                     "id", id, "name", id, "cloudId", "c1", "agent", "kind", "sim", "uri", "sim://",
                     "capacity", "cores", cores, "memoryMB", 1024, "storageGB", 100, "allocated",
                     "cores", 0, "memoryMB", 0, "storageGB", 0, "state", "ok", "lastSeenAt",
                     "createdAt", TS, "updatedAt", TS);
}

/* A cloud c1 with a host h1 (8 cores, 1024 MB, 100 GB), a user u1 with a subscription s1 to plan p1, a
 * network n1 of s1, and an active hook k1 for "vm.created". */
static inline void
world(store_t *st)
{
    put(st, &store_kind_cloud, cloud("c1", "east"));
    put(st, &store_kind_host, host("h1", 8));
    put(st, &store_kind_user, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", "u1", "email",
                                        "ann@example.com", "name", "Ann", "createdAt", TS,
                                        "updatedAt", TS));
    put(st, &store_kind_plan,
        json_pack("{s:s, s:s, s:s, s:s, s:{}, s:[], s:[], s:[], s:s, s:n, s:s, s:s}", "id", "p1",
                  "name", "Gold", "cloudId", "c1", "state", "public", "quotas", "imageIds",
                  "sizeNames", "galleryItemIds", "checkpointMode", "disabled",
                  "checkpointRetentionHours", "createdAt", TS, "updatedAt", TS));
    put(st, &store_kind_subscription,
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i}}", "id",
                  "s1", "userId", "u1", "planId", "p1", "displayName", "dev", "state", "active",
                  "checkpointMode", "disabled", "createdAt", TS, "updatedAt", TS, "usage", "vms", 0,
                  "cores", 0, "memoryMB", 0, "storageGB", 0, "vmRoles", 0, "networks", 0));
    put(st, &store_kind_network,
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", "n1", "subscriptionId", "s1", "name",
                  "lan", "addressPrefix", "10.0.0.0/24", "createdAt", TS, "updatedAt", TS));
    put(st, &store_kind_hook,
        json_pack("{s:s, s:s, s:[s], s:s, s:b, s:n, s:s, s:s}", "id", "k1", "url",
                  "http://127.0.0.1:9/hook", "events", "vm.created", "secret", "x", "active", 1,
                  "description", "createdAt", TS, "updatedAt", TS));
}

static inline const char *
sfield(const json_t *rec, const char *field)
{
    return json_string_value(json_object_get(rec, field));
}

static inline int64_t
nested(const json_t *rec, const char *obj, const char *field)
{
    return json_integer_value(json_object_get(json_object_get(rec, obj), field));
}

#endif
