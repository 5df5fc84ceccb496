/* Unit tests of changing and removing catalog items and users (lib/catalog/items.c, lib/accounts/users.c):
 * what counts as in use, what a PATCH leaves checked, a cloud's summed capacity, a user's suspend and
 * delete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "records.h"

#include "../../lib/accounts.h"
#include "../../lib/catalog.h"
#include "../../lib/job.h"
#include "../../lib/util.h"

/* rec, or the test fails with err's message. */
static json_t *
made(json_t *rec, const err_t *err)
{
    if (rec == NULL)
        fail_msg("failed: %s (%s)", err->message, err->target);
    return rec;
}

static json_t *
size_make(store_t *st, const char *name)
{
    catalog_size_req_t req = {.name = name, .cores = 2, .memory_mb = 2048};
    err_t err = {0};

    return made(catalog_size_create(st, &req, &err), &err);
}

static json_t *
cloud_make(store_t *st)
{
    catalog_cloud_req_t req = {.name = "c"};
    err_t err = {0};

    return made(catalog_cloud_create(st, &req, &err), &err);
}

/* A plan on cloud whose sizeNames is sizes (n 0: all). */
static json_t *
plan_make(store_t *st, const json_t *cloud, const char *const *sizes, size_t n)
{
    catalog_plan_req_t req = {.cloud_id = id_of(cloud)};
    err_t err = {0};

    req.set.name = "p";
    req.set.size_names = (catalog_strs_t){.items = sizes, .count = n};
    return made(catalog_plan_create(st, &req, &err), &err);
}

static const char *
size_name_of(store_t *st, const char *id)
{
    static char name[64];
    err_t err = {0};
    json_t *rec = store_rec_get(st, &store_kind_size, id, NULL, &err);

    assert_non_null(rec);
    snprintf(name, sizeof(name), "%s", json_string_value(json_object_get(rec, "name")));
    json_decref(rec);
    return name;
}

static void
size_in_use_is_refused_by_what_names_it(void **state)
{
    fixture_t *f = *state;
    const char *names[] = {"Medium"};
    json_t *size = size_make(f->st, "Medium"), *free_size = size_make(f->st, "Free");
    json_t *cloud = cloud_make(f->st), *plan = plan_make(f->st, cloud, names, 1);
    json_t *all = plan_make(f->st, cloud, NULL, 0);
    catalog_size_patch_t rename = {.given = CATALOG_SIZE_NAME, .name = "Big"};
    err_t err = {0};

    assert_int_equal(catalog_size_delete(f->st, id_of(size), 0, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "plans");
    err_clear(&err);
    assert_null(catalog_size_update(f->st, id_of(size), &rename, 0, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "name");
    assert_string_equal(size_name_of(f->st, id_of(size)), "Medium");
    err_clear(&err);
    /* A plan whose list is empty names nothing. */
    assert_int_equal(catalog_size_delete(f->st, id_of(free_size), 0, &err), 0);
    assert_null(store_rec_get(f->st, &store_kind_size, id_of(free_size), NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    json_decref(size);
    json_decref(free_size);
    json_decref(plan);
    json_decref(all);
    json_decref(cloud);
}

static void
size_patch_checks_what_it_leaves(void **state)
{
    fixture_t *f = *state;
    json_t *size = size_make(f->st, "A"), *other = size_make(f->st, "B"), *got;
    catalog_size_patch_t taken = {.given = CATALOG_SIZE_NAME, .name = "B"};
    catalog_size_patch_t dm = {.given = CATALOG_SIZE_DYNAMIC_MEMORY,
                               .dynamic_memory = {.present = true, .enabled = true,
                                                  .minimum_mb = 4096, .maximum_mb = 8192}};
    catalog_size_patch_t grow = {.given = CATALOG_SIZE_MEMORY_MB | CATALOG_SIZE_DYNAMIC_MEMORY,
                                 .memory_mb = 4096,
                                 .dynamic_memory = {.present = true, .enabled = true,
                                                    .minimum_mb = 1024, .maximum_mb = 8192}};
    err_t err = {0};

    assert_null(catalog_size_update(f->st, id_of(size), &taken, 0, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "name");
    err_clear(&err);
    /* 4096 above the startup memory of 2048. */
    assert_null(catalog_size_update(f->st, id_of(size), &dm, 0, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "dynamicMemory.minimumMB");
    err_clear(&err);
    got = made(catalog_size_update(f->st, id_of(size), &grow, 0, &err), &err);
    assert_int_equal(json_integer_value(json_object_get(got, "memoryMB")), 4096);
    assert_true(json_is_true(json_object_get(json_object_get(got, "dynamicMemory"), "enabled")));
    json_decref(got);
    /* A stale revision changes nothing. */
    assert_null(catalog_size_update(f->st, id_of(size), &grow, 1, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    json_decref(size);
    json_decref(other);
}

static void
gallery_item_patch_is_checked_as_a_create(void **state)
{
    fixture_t *f = *state;
    catalog_image_req_t ireq = {.name = "i", .os_type = "linux", .generation = 2, .os_disk_gb = 20};
    json_t *size = size_make(f->st, "S"), *image, *item, *got;
    catalog_gallery_item_req_t req = {.name = "g", .version = "1", .default_size = "S",
                                      .min_instances = 1, .max_instances = 3};
    catalog_gallery_item_patch_t min_over = {.given = CATALOG_GALLERY_MIN_INSTANCES,
                                             .set = {.min_instances = 4}};
    catalog_gallery_item_patch_t no_size = {.given = CATALOG_GALLERY_DEFAULT_SIZE,
                                            .set = {.default_size = "nope"}};
    catalog_gallery_item_patch_t fine = {
        .given = CATALOG_GALLERY_MAX_INSTANCES | CATALOG_GALLERY_NAME,
        .set = {.name = "g2", .max_instances = 9}};
    err_t err = {0};

    image = made(catalog_image_create(f->st, &ireq, &err), &err);
    req.image_id = id_of(image);
    item = made(catalog_gallery_item_create(f->st, &req, &err), &err);
    assert_null(catalog_gallery_item_update(f->st, id_of(item), &min_over, 0, &err));
    assert_string_equal(err.target, "minInstances");
    err_clear(&err);
    assert_null(catalog_gallery_item_update(f->st, id_of(item), &no_size, 0, &err));
    assert_string_equal(err.target, "defaultSize");
    err_clear(&err);
    got = made(catalog_gallery_item_update(f->st, id_of(item), &fine, 0, &err), &err);
    assert_int_equal(json_integer_value(json_object_get(got, "maxInstances")), 9);
    assert_int_equal(json_integer_value(json_object_get(got, "minInstances")), 1);
    assert_string_equal(json_string_value(json_object_get(got, "defaultSize")), "S");
    json_decref(got);
    /* The item names the image and the size. */
    assert_int_equal(catalog_image_delete(f->st, id_of(image), 0, &err), -1);
    assert_string_equal(err.target, "galleryItems");
    err_clear(&err);
    assert_int_equal(catalog_size_delete(f->st, id_of(size), 0, &err), -1);
    assert_string_equal(err.target, "galleryItems");
    err_clear(&err);
    assert_int_equal(catalog_gallery_item_delete(f->st, id_of(item), 0, &err), 0);
    assert_int_equal(catalog_image_delete(f->st, id_of(image), 0, &err), 0);
    json_decref(item);
    json_decref(image);
    json_decref(size);
}

static void
cloud_capacity_sums_every_host(void **state)
{
    fixture_t *f = *state;
    json_t *cloud = cloud_make(f->st), *hosts[2];
    catalog_host_req_t req = {.name = "h", .agent_kind = "sim",
                              .capacity = {.cores = 4, .memory_mb = 4096, .storage_gb = 100}};
    catalog_host_patch_t maint = {.given = CATALOG_HOST_STATE, .state = CATALOG_HOST_MAINTENANCE};
    catalog_cloud_capacity_t cap;
    err_t err = {0};
    json_t *h;
    int i;

    assert_int_equal(catalog_cloud_capacity(f->st, id_of(cloud), &cap, &err), 0);
    assert_int_equal(cap.hosts, 0);
    assert_int_equal(cap.capacity.cores, 0);
    req.cloud_id = id_of(cloud);
    for (i = 0; i < 2; i++)
        hosts[i] = made(catalog_host_create(f->st, &req, &err), &err);
    h = made(catalog_host_update(f->st, id_of(hosts[1]), &maint, 0, &err), &err);
    json_decref(h);
    assert_int_equal(store_host_allocate(f->st, id_of(hosts[0]), 1, 512, 10, &err), 0);
    assert_int_equal(catalog_cloud_capacity(f->st, id_of(cloud), &cap, &err), 0);
    assert_int_equal(cap.hosts, 2);
    assert_int_equal(cap.capacity.cores, 8);
    assert_int_equal(cap.capacity.memory_mb, 8192);
    assert_int_equal(cap.capacity.storage_gb, 200);
    assert_int_equal(cap.allocated.cores, 1);
    assert_int_equal(cap.allocated.memory_mb, 512);
    assert_int_equal(cap.allocated.storage_gb, 10);
    for (i = 0; i < 2; i++)
        json_decref(hosts[i]);
    json_decref(cloud);
}

static const char *
sub_state(store_t *st, const json_t *sub)
{
    static char state[32];
    err_t err = {0};
    json_t *rec = store_rec_get(st, &store_kind_subscription, id_of(sub), NULL, &err);

    assert_non_null(rec);
    snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(rec, "state")));
    json_decref(rec);
    return state;
}

static void
set_user_state(store_t *st, const json_t *user, accounts_user_state_t state)
{
    accounts_user_patch_t patch = {.has_state = true, .state = state};
    err_t err = {0};

    json_decref(made(accounts_user_update(st, id_of(user), &patch, 0, &err), &err));
}

/* Activating a user lifts only the suspends the user's suspend made. */
static void
user_suspend_and_activate(void **state)
{
    fixture_t *f = *state;
    json_t *cloud = cloud_make(f->st), *plan = plan_make(f->st, cloud, NULL, 0);
    json_t *user = make_user(f->st, "u@example.com");
    json_t *mine = make_subscription(f->st, user, plan);
    json_t *own = make_subscription(f->st, user, plan);
    accounts_subscription_patch_t suspend = {.has_state = true,
                                             .state = ACCOUNTS_SUBSCRIPTION_SUSPENDED};
    accounts_subscription_req_t another = {.user_id = id_of(user), .plan_id = id_of(plan)};
    json_t *rec, *job = NULL;
    err_t err = {0};

    rec = made(accounts_subscription_update(f->st, id_of(own), &suspend, 0, &job, &err), &err);
    json_decref(rec);
    json_decref(job);
    set_user_state(f->st, user, ACCOUNTS_USER_SUSPENDED);
    assert_string_equal(sub_state(f->st, mine), "suspended");
    assert_null(accounts_subscription_create(f->st, &another, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "userId");
    set_user_state(f->st, user, ACCOUNTS_USER_ACTIVE);
    assert_string_equal(sub_state(f->st, mine), "active");
    assert_string_equal(sub_state(f->st, own), "suspended");
    json_decref(mine);
    json_decref(own);
    json_decref(user);
    json_decref(plan);
    json_decref(cloud);
}

static void
user_delete_refuses_while_subscribed_and_takes_tokens(void **state)
{
    fixture_t *f = *state;
    json_t *cloud = cloud_make(f->st), *plan = plan_make(f->st, cloud, NULL, 0);
    json_t *busy = make_user(f->st, "busy@example.com");
    json_t *sub = make_subscription(f->st, busy, plan);
    json_t *user = make_user(f->st, "gone@example.com"), *tok;
    char hash[UTIL_SHA256_HEX_LEN + 1], who[UTIL_UUID_LEN + 1];
    const char *secret;
    err_t err = {0};

    assert_int_equal(accounts_user_delete(f->st, id_of(busy), 0, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_string_equal(err.target, "subscriptions");
    err_clear(&err);
    tok = made(accounts_token_create(f->st, id_of(user), NULL, &err), &err);
    secret = json_string_value(json_object_get(tok, "token"));
    util_sha256_hex(secret, strlen(secret), hash);
    assert_int_equal(accounts_authenticate(f->st, hash, who, &err), 0);
    assert_int_equal(accounts_user_delete(f->st, id_of(user), 0, &err), 0);
    assert_int_equal(accounts_authenticate(f->st, hash, who, &err), -1);
    assert_int_equal(err.code, ERR_UNAUTHORIZED);
    json_decref(tok);
    json_decref(user);
    json_decref(sub);
    json_decref(busy);
    json_decref(plan);
    json_decref(cloud);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(size_in_use_is_refused_by_what_names_it),
        TEST(size_patch_checks_what_it_leaves),
        TEST(gallery_item_patch_is_checked_as_a_create),
        TEST(cloud_capacity_sums_every_host),
        TEST(user_suspend_and_activate),
        TEST(user_delete_refuses_while_subscribed_and_takes_tokens),
    };

    if (accounts_jobs_register())
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
