/* Unit tests of lib/placement (least loaded, maintenance, unreachable hosts skipped, no room) and lib/quota with the store's
 * counters (limits, releases, reconcile). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "records.h"

#include "../../api/catalog.h"
#include "../../lib/accounts.h"
#include "../../lib/catalog.h"
#include "../../lib/placement.h"
#include "../../lib/quota.h"

static json_t *
host(store_t *st, const json_t *cloud, const char *name, int cores)
{
    return make(api_catalog_host_create, st,
                json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:i, s:i}}", "name", name, "cloudId",
                          id_of(cloud), "agent", "kind", "sim", "capacity", "cores", cores,
                          "memoryMB", 65536, "storageGB", 1000));
}

static void
least_loaded_then_no_room(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *cloud = make(api_catalog_cloud_create, f->st, json_pack("{s:s}", "name", "c"));
    json_t *a = host(f->st, cloud, "a", 4), *b = host(f->st, cloud, "b", 8), *patch;
    char chosen[UTIL_UUID_LEN + 1];

    /* b has more free cores: it is chosen until a has as many. */
    assert_int_equal(placement_place(f->st, id_of(cloud), 2, 1024, 10, chosen, &err), 0);
    assert_string_equal(chosen, id_of(b));
    assert_int_equal(placement_place(f->st, id_of(cloud), 2, 1024, 10, chosen, &err), 0);
    assert_string_equal(chosen, id_of(b));
    assert_int_equal(placement_place(f->st, id_of(cloud), 2, 1024, 10, chosen, &err), 0);
    assert_string_equal(chosen, id_of(a)); /* a: 4 free, b: 4 free, a has more memory left */
    /* A host in maintenance takes nothing. */
    patch = json_pack("{s:s}", "state", "maintenance");
    json_decref(api_catalog_host_update(f->st, id_of(b), patch, 0, &err));
    json_decref(patch);
    assert_int_equal(placement_place(f->st, id_of(cloud), 2, 1024, 10, chosen, &err), 0);
    assert_string_equal(chosen, id_of(a));
    assert_int_equal(placement_place(f->st, id_of(cloud), 1, 1024, 10, chosen, &err), -1);
    assert_int_equal(err.code, ERR_NO_CAPACITY);
    /* Releasing makes room again; growth past capacity is refused by the store itself, which reports
     * the refusal as a status and leaves the message to placement. */
    err_clear(&err);
    assert_int_equal(store_host_allocate(f->st, id_of(a), -2, -1024, -10, &err), 0);
    assert_int_equal(store_host_allocate(f->st, id_of(a), 3, 0, 0, &err), 1);
    assert_int_equal(err.code, ERR_NONE);
    assert_int_equal(placement_hold(f->st, id_of(a), 3, 0, 0, "No room.", &err), -1);
    assert_int_equal(err.code, ERR_NO_CAPACITY);
    assert_string_equal(err.message, "No room.");
    json_decref(a);
    json_decref(b);
    json_decref(cloud);
}

/* Writes a host's state as the heartbeat does (the admin API takes only ok and maintenance). */
static void
set_state(store_t *st, const json_t *h, const char *state)
{
    err_t err = {0};
    json_t *rec = store_rec_get(st, &store_kind_host, id_of(h), NULL, &err);

    assert_non_null(rec);
    json_object_set_new(rec, "state", json_string(state));
    assert_int_equal(store_rec_update(st, &store_kind_host, id_of(h), rec, 0, &err), 0);
    json_decref(rec);
}

static void
unreachable_hosts_are_skipped(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *cloud = make(api_catalog_cloud_create, f->st, json_pack("{s:s}", "name", "c"));
    json_t *a = host(f->st, cloud, "a", 4), *b = host(f->st, cloud, "b", 8);
    char chosen[UTIL_UUID_LEN + 1];

    /* b has the most room, but it does not answer. */
    set_state(f->st, b, "unreachable");
    assert_int_equal(placement_place(f->st, id_of(cloud), 2, 1024, 10, chosen, &err), 0);
    assert_string_equal(chosen, id_of(a));
    /* Nothing else: no capacity, although b has room. */
    set_state(f->st, a, "maintenance");
    assert_int_equal(placement_place(f->st, id_of(cloud), 1, 1024, 10, chosen, &err), -1);
    assert_int_equal(err.code, ERR_NO_CAPACITY);
    /* Back: b takes VMs again. */
    err_clear(&err);
    set_state(f->st, b, "ok");
    assert_int_equal(placement_place(f->st, id_of(cloud), 1, 1024, 10, chosen, &err), 0);
    assert_string_equal(chosen, id_of(b));
    json_decref(a);
    json_decref(b);
    json_decref(cloud);
}

static void
quota_limits_and_reconcile(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *cloud = make(api_catalog_cloud_create, f->st, json_pack("{s:s}", "name", "c"));
    json_t *plan = make(api_catalog_plan_create, f->st,
                        json_pack("{s:s, s:s, s:{s:i, s:i}}", "name", "p", "cloudId", id_of(cloud),
                                  "quotas", "vms", 2, "cores", 3));
    json_t *user = make_user(f->st, "q@b.c");
    json_t *sub = make_subscription(f->st, user, plan);
    int64_t one[STORE_QUOTAS] = {1, 2, 100, 10, 0, 0}, back[STORE_QUOTAS] = {-1, -2, -100, -10, 0, 0};
    json_t *usage, *fixed;

    assert_int_equal(quota_adjust(f->st, id_of(sub), one, &err), 0);
    /* cores would be 4 > 3: refused, naming the quota, and nothing changes. */
    assert_int_equal(quota_adjust(f->st, id_of(sub), one, &err), -1);
    assert_int_equal(err.code, ERR_QUOTA_EXCEEDED);
    assert_string_equal(err.target, "cores");
    usage = quota_usage(f->st, id_of(sub), &err);
    assert_int_equal(json_integer_value(json_object_get(usage, "vms")), 1);
    assert_int_equal(json_integer_value(json_object_get(usage, "cores")), 2);
    json_decref(usage);
    /* Unlimited quotas (memoryMB, storageGB here) never refuse; releases always apply. */
    err_clear(&err);
    assert_int_equal(quota_adjust(f->st, id_of(sub), back, &err), 0);
    /* The counters say 0 VMs; so do the resources: reconcile corrects nothing. Skew them and it does. */
    fixed = quota_reconcile(f->st, id_of(sub), &err);
    assert_int_equal(json_object_size(json_object_get(fixed, "corrected")), 0);
    json_decref(fixed);
    assert_int_equal(store_usage_set(f->st, id_of(sub), one, &err), 0);
    fixed = quota_reconcile(f->st, id_of(sub), &err);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(fixed, "corrected"), "cores"), "before")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(fixed, "corrected"), "cores"), "after")),
                     0);
    json_decref(fixed);
    usage = quota_usage(f->st, id_of(sub), &err);
    assert_int_equal(json_integer_value(json_object_get(usage, "vms")), 0);
    json_decref(usage);
    json_decref(sub);
    json_decref(user);
    json_decref(plan);
    json_decref(cloud);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(least_loaded_then_no_room, setup, teardown),
        cmocka_unit_test_setup_teardown(unreachable_hosts_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(quota_limits_and_reconcile, setup, teardown),
    };

    return cmocka_run_group_tests_name("placement+quota", tests, NULL, NULL);
}
