/* The store's conformance suite: what every backend of lib/store must do, written against the public
 * interface (store.h) only. Every case runs against every backend in the list below, each time on a fresh,
 * empty store; a backend that cannot run on this machine (no server to talk to) is skipped with a note,
 * and a backend this build has but the list lacks fails the suite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/store.h"

/* ---- the backends ---- */

typedef struct {
    const char *name;
    /* Makes the location of a fresh, empty store (dir is a new temporary directory): 0; 1 when the
     * backend cannot run here. */
    int (*location)(const char *dir, char *out, size_t outn);
} backend_t;

static int
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
static void
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

static void
put(store_t *st, const store_kind_t *kind, json_t *rec /* stolen */)
{
    err_t err = {0};
    int rc;

    assert_non_null(rec);
    rc = store_rec_insert(st, kind, rec, &err);
    json_decref(rec);
    assert_int_equal(rc, 0);
}

static json_t *
cloud(const char *id, const char *name)
{
    return json_pack("{s:s, s:s, s:n, s:s, s:s}", "id", id, "name", name, "description",
                     "createdAt", TS, "updatedAt", TS);
}

static json_t *
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
static void
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

static const char *
sfield(const json_t *rec, const char *field)
{
    return json_string_value(json_object_get(rec, field));
}

static int64_t
nested(const json_t *rec, const char *obj, const char *field)
{
    return json_integer_value(json_object_get(json_object_get(rec, obj), field));
}

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

static void
case_lists_page_and_count(store_t *st)
{
    store_filter_t eq = {.field = "name", .op = STORE_FILTER_EQ, .value = "even"};
    store_filter_t in = {.field = "id", .op = STORE_FILTER_IN};
    json_t *page, *ids = json_pack("[s, s, s]", "c0", "c3", "c9");
    int64_t next = 0, after = 0;
    err_t err = {0};
    char id[8];
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

/* ---- idempotency keys, quota counters, hosts, addresses, unmanaged VMs ---- */

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
case_quota_counters_refuse_whole(store_t *st)
{
    const int64_t grow[STORE_QUOTAS] = {1, 2, 512, 10, 0, 1}, shrink[STORE_QUOTAS] = {-5, -5, 0, 0, 0, 0};
    const int64_t limit[STORE_QUOTAS] = {2, 3, -1, -1, -1, -1}, set[STORE_QUOTAS] = {4, 4, 4, 4, 4, 4};
    int64_t usage[STORE_QUOTAS], expect[STORE_QUOTAS] = {1, 2, 512, 10, 0, 1};
    err_t err = {0};
    json_t *sub;
    int i;

    world(st);
    assert_int_equal(store_usage_get(st, "s1", usage, &err), 0);
    for (i = 0; i < STORE_QUOTAS; i++)
        assert_int_equal(usage[i], 0);
    sub = store_rec_get_shared(st, &store_kind_subscription, "s1", NULL, &err); /* now cached */
    json_decref(sub);
    assert_int_equal(store_usage_adjust(st, "s1", grow, limit, &err), 0);
    /* Cores would reach 4 > 3: refused as a whole, nothing changed, no error. */
    assert_int_equal(store_usage_adjust(st, "s1", grow, limit, &err), 1);
    assert_int_equal(err.code, ERR_NONE);
    assert_int_equal(store_usage_get(st, "s1", usage, &err), 0);
    for (i = 0; i < STORE_QUOTAS; i++)
        assert_int_equal(usage[i], expect[i]);
    /* The record shows the counters, read again after the change. */
    sub = store_rec_get_shared(st, &store_kind_subscription, "s1", NULL, &err);
    assert_int_equal(nested(sub, "usage", "cores"), 2);
    json_decref(sub);
    /* Without limits it applies; decreases stop at 0; a missing subscription refuses. */
    assert_int_equal(store_usage_adjust(st, "s1", grow, NULL, &err), 0);
    assert_int_equal(store_usage_adjust(st, "s1", shrink, limit, &err), 0);
    assert_int_equal(store_usage_get(st, "s1", usage, &err), 0);
    assert_int_equal(usage[0], 0);
    assert_int_equal(usage[2], 1024);
    assert_int_equal(store_usage_adjust(st, "nope", grow, NULL, &err), 1);
    assert_int_equal(store_usage_get(st, "nope", usage, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    assert_int_equal(store_usage_set(st, "s1", set, &err), 0);
    sub = store_rec_get(st, &store_kind_subscription, "s1", NULL, &err);
    assert_int_equal(nested(sub, "usage", "networks"), 4);
    json_decref(sub);
    /* What the resources say: one network, nothing else. */
    assert_int_equal(store_usage_recompute(st, "s1", usage, &err), 0);
    assert_int_equal(usage[0], 0);
    assert_int_equal(usage[5], 1);
}
CASE(quota_counters_refuse_whole)

static void
case_host_allocation_refuses_growth(store_t *st)
{
    int64_t out[3] = {-1, -1, -1};
    err_t err = {0};
    json_t *h;

    world(st);
    h = store_rec_get_shared(st, &store_kind_host, "h1", NULL, &err); /* now cached */
    json_decref(h);
    assert_int_equal(store_host_allocate(st, "h1", 6, 512, 50, &err), 0);
    assert_int_equal(store_host_allocate(st, "h1", 4, 0, 0, &err), 1);
    assert_int_equal(err.code, ERR_NONE);
    assert_int_equal(store_host_allocate(st, "nope", 1, 0, 0, &err), 1);
    h = store_rec_get_shared(st, &store_kind_host, "h1", NULL, &err);
    assert_int_equal(nested(h, "allocated", "cores"), 6);
    assert_int_equal(nested(h, "allocated", "memoryMB"), 512);
    json_decref(h);
    /* Release always applies; storage growth that happened is recorded past the capacity. */
    assert_int_equal(store_host_allocate(st, "h1", -6, -512, 0, &err), 0);
    assert_int_equal(store_host_grow_storage(st, "h1", 80, &err), 0);
    h = store_rec_get(st, &store_kind_host, "h1", NULL, &err);
    assert_int_equal(nested(h, "allocated", "cores"), 0);
    assert_int_equal(nested(h, "allocated", "storageGB"), 130);
    json_decref(h);
    /* No VM holds anything on it. */
    assert_int_equal(store_host_recompute(st, "h1", out, &err), 0);
    assert_int_equal(out[0] + out[1] + out[2], 0);
}
CASE(host_allocation_refuses_growth)

static void
case_addresses_lowest_free(store_t *st)
{
    err_t err = {0};
    int64_t ip = 0;

    world(st);
    assert_int_equal(store_ip_take(st, "n1", "vm-a", 10, 12, &ip, &err), 0);
    assert_int_equal(ip, 10);
    assert_int_equal(store_ip_take(st, "n1", "vm-b", 10, 12, &ip, &err), 0);
    assert_int_equal(ip, 11);
    assert_int_equal(store_ip_take(st, "n1", "vm-c", 10, 12, &ip, &err), 0);
    assert_int_equal(ip, 12);
    ip = -1;
    assert_int_equal(store_ip_take(st, "n1", "vm-d", 10, 12, &ip, &err), 1);
    assert_int_equal(err.code, ERR_NONE);
    assert_int_equal(ip, -1);
    assert_int_equal(store_ip_count(st, "n1", &err), 3);
    /* A released address is the lowest free one again. */
    assert_int_equal(store_ip_release_vm(st, "vm-b", &err), 0);
    assert_int_equal(store_ip_take(st, "n1", "vm-d", 10, 12, &ip, &err), 0);
    assert_int_equal(ip, 11);
    assert_int_equal(store_ip_release_vm(st, "vm-a", &err), 0);
    assert_int_equal(store_ip_count(st, "n1", &err), 2);
}
CASE(addresses_lowest_free)

static void
case_unmanaged_list(store_t *st)
{
    json_t *vms = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "hypervisorId", "hv-b", "name", "b",
                            "powerState", "running", "hypervisorId", "hv-a", "name", "a",
                            "powerState", "stopped"),
           *list, *none = json_array();
    err_t err = {0};

    world(st);
    list = store_unmanaged_list(st, "h1", &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    assert_int_equal(store_unmanaged_replace(st, "h1", vms, &err), 0);
    list = store_unmanaged_list(st, "h1", &err);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(sfield(json_array_get(list, 0), "hypervisorId"), "hv-a");
    assert_string_equal(sfield(json_array_get(list, 0), "powerState"), "stopped");
    assert_non_null(sfield(json_array_get(list, 0), "seenAt"));
    json_decref(list);
    assert_int_equal(store_unmanaged_remove(st, "h1", "hv-a", &err), 0);
    list = store_unmanaged_list(st, "h1", &err);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(sfield(json_array_get(list, 0), "hypervisorId"), "hv-b");
    json_decref(list);
    assert_int_equal(store_unmanaged_replace(st, "h1", none, &err), 0);
    list = store_unmanaged_list(st, "h1", &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    json_decref(none);
    json_decref(vms);
}
CASE(unmanaged_list)

/* ---- the timeline, settings, events and deliveries ---- */

typedef struct {
    int rows;
    char events[8][16];
} seen_t;

static int
see_row(void *arg, const store_timeline_row_t *row, err_t *err)
{
    seen_t *s = arg;

    (void) err;
    if (s->rows < 8)
        snprintf(s->events[s->rows], sizeof(s->events[0]), "%s", row->event);
    s->rows++;
    return strcmp(row->vm_id, "vm1") == 0 && row->cores == 2 ? 0 : -1;
}

static void
case_timeline_appends_changes(store_t *st)
{
    json_t *vm = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:b, s:b}", "id", "vm1",
                           "subscriptionId", "s1", "name", "web", "powerState", "running", "size",
                           "Small", "cores", 2, "memoryMB", 1024, "_storageGB", 30, "_holdsCompute",
                           1, "_holdsStorage", 1);
    seen_t seen = {0};
    int64_t first = 0, value = 0;
    err_t err = {0};
    char end[64];

    assert_int_equal(store_timeline_first(st, &first, &err), 0);
    assert_int_equal(first, -1);
    assert_int_equal(store_timeline_append(st, vm, "created", &err), 0);
    assert_int_equal(store_timeline_append(st, vm, "changed", &err), 0); /* nothing metered changed */
    json_object_set_new(vm, "powerState", json_string("stopped"));
    assert_int_equal(store_timeline_append(st, vm, "changed", &err), 0);
    assert_int_equal(store_timeline_each(st, 0, INT64_MAX, NULL, NULL, see_row, &seen, &err), 0);
    assert_int_equal(seen.rows, 2);
    assert_string_equal(seen.events[0], "created");
    assert_string_equal(seen.events[1], "changed");
    assert_int_equal(store_timeline_first(st, &first, &err), 0);
    assert_true(first > 0);
    assert_int_equal(store_timeline_chunk_end(st, 0, NULL, 1, end, sizeof(end), &err), 1);
    assert_string_equal(end, "vm1");
    assert_int_equal(store_timeline_chunk_end(st, 0, NULL, 2, end, sizeof(end), &err), 0);
    assert_int_equal(store_timeline_forget(st, "vm1", &err), 0);
    seen.rows = 0;
    assert_int_equal(store_timeline_each(st, 0, INT64_MAX, NULL, NULL, see_row, &seen, &err), 0);
    assert_int_equal(seen.rows, 0);
    /* Settings. */
    assert_int_equal(store_meta_get(st, "closedUntil", &value, &err), 1);
    assert_int_equal(store_meta_set(st, "closedUntil", 42, &err), 0);
    assert_int_equal(store_meta_get(st, "closedUntil", &value, &err), 0);
    assert_int_equal(value, 42);
    json_decref(vm);
}
CASE(timeline_appends_changes)

static json_t *
event(const char *id, const char *type)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{}}", "id", id, "type", type, "occurredAt", TS,
                     "subscriptionId", "s1", "resourceId", "vm1", "data");
}

static json_t *
attempt(const char *id, int n)
{
    return json_pack("{s:s, s:i, s:i, s:s, s:i}", "id", id, "attempt", n, "statusCode", 500, "error",
                     "server error", "atMs", 1000 + n);
}

static void
case_events_and_deliveries(store_t *st)
{
    json_t *ev = event("e1", "vm.created"), *other = event("e2", "vm.deleted"), *list, *a;
    int64_t last = 0, next = 0, seq;
    err_t err = {0};

    world(st);
    assert_int_equal(store_event_add(st, ev, 1000, &err), 0);
    assert_int_equal(store_event_add(st, other, 1000, &err), 0); /* no hook asks for it */
    list = store_events_after(st, 0, 10, &last, &err);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(sfield(json_array_get(list, 0), "id"), "e1");
    assert_true(last > 0);
    json_decref(list);
    list = store_events_after(st, last, 10, &next, &err);
    assert_int_equal(json_array_size(list), 0);
    assert_int_equal(next, last);
    json_decref(list);
    /* One delivery, due from 1000. */
    list = store_deliveries_due(st, "k1", 999, 10, &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    list = store_deliveries_due(st, "k1", 1000, 10, &err);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(sfield(json_array_get(list, 0), "eventId"), "e1");
    seq = json_integer_value(json_object_get(json_array_get(list, 0), "seq"));
    json_decref(list);
    /* A failed attempt leaves it pending for later; a success ends it. */
    a = attempt("a1", 1);
    assert_int_equal(store_delivery_record(st, seq, a, "pending", 5000, &err), 0);
    json_decref(a);
    assert_int_equal(store_delivery_next_ms(st, "k1", &next, &err), 0);
    assert_int_equal(next, 5000);
    a = attempt("a2", 2);
    assert_int_equal(store_delivery_record(st, seq, a, "succeeded", 0, &err), 0);
    json_decref(a);
    assert_int_equal(store_delivery_next_ms(st, "k1", &next, &err), 0);
    assert_int_equal(next, -1);
    list = store_delivery_attempts(st, "k1", 0, 10, &next, &err);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(sfield(json_array_get(list, 0), "eventId"), "e1");
    assert_int_equal(next, 0);
    json_decref(list);
    /* Sent again on request; an unknown attempt is 404. */
    assert_int_equal(store_delivery_requeue(st, "k1", "a1", 2000, &err), 0);
    list = store_deliveries_due(st, "k1", 2000, 10, &err);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    assert_int_equal(store_delivery_requeue(st, "k1", "nope", 2000, &err), -1);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    err_clear(&err);
    /* An event a delivery refers to stays; the other one goes. */
    assert_int_equal(store_events_purge(st, 1001, &err), 1);
    json_decref(ev);
    json_decref(other);
}
CASE(events_and_deliveries)

/* ---- the fault wrapper, and the backend list ---- */

static void
case_injected_fault_fails_one_call(store_t *st)
{
    json_t *c = cloud("c1", "east");
    err_t err = {0};

    store__fail_call(st, 2);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 0);
    assert_int_equal(store_rec_insert(st, &store_kind_cloud, c, &err), -1);
    assert_int_equal(err.code, ERR_INTERNAL);
    err_clear(&err);
    assert_int_equal(store_rec_count(st, &store_kind_cloud, NULL, 0, &err), 0);
    assert_int_equal(store_rec_insert(st, &store_kind_cloud, c, &err), 0);
    json_decref(c);
}
CASE(injected_fault_fails_one_call)

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
        cmocka_unit_test(lists_page_and_count),
        cmocka_unit_test(updates_follow_revisions),
        cmocka_unit_test(referenced_records_stay),
        cmocka_unit_test(nested_transactions_roll_back),
        cmocka_unit_test(on_commit_hooks_run_only_on_commit),
        cmocka_unit_test(idempotency_keys),
        cmocka_unit_test(quota_counters_refuse_whole),
        cmocka_unit_test(host_allocation_refuses_growth),
        cmocka_unit_test(addresses_lowest_free),
        cmocka_unit_test(unmanaged_list),
        cmocka_unit_test(timeline_appends_changes),
        cmocka_unit_test(events_and_deliveries),
        cmocka_unit_test(injected_fault_fails_one_call),
    };

    return cmocka_run_group_tests_name("store conformance", tests, NULL, NULL);
}
