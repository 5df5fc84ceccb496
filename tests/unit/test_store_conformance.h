/*
 * test_store_conformance.h: what the store's conformance suite (test_store_conformance*.c) shares: the
 * list of backends every case runs against, the runner that gives each case a fresh store of each
 * backend, and records to work with. Written against the public store.h only. Include after <cmocka.h>.
 */
#ifndef WAPD_TEST_STORE_CONFORMANCE_H
#define WAPD_TEST_STORE_CONFORMANCE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/fault.h"
#include "../../lib/store.h"

/* ---- the backends ---- */

typedef struct {
    const char *name;
    /* Makes the location of a fresh, empty store (dir is a new temporary directory): 0; 1 when the
     * backend cannot run here. */
    int (*location)(const char *dir, char *out, size_t outn);
} backend_t;

static inline int
file_location(const char *dir, char *out, size_t outn)
{
    snprintf(out, outn, "%s/conformance.db", dir);
    return 0;
}

static const backend_t backends[] = {
    {"sqlite", file_location},
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

typedef void (*case_fn)(store_t *st);

/* Runs fn on a fresh store of every backend, and removes each afterwards. */
static inline void
run_case(case_fn fn)
{
    char dir[64], loc[256], cmd[96];
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
            assert_non_null(st);
            assert_string_equal(store_backend_name(st), backends[i].name);
            fn(st);
            store_close(st);
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
