/* Unit tests of lib/catalog, lib/accounts and lib/job: the rules that need the state. */
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
#include "../../lib/fault.h"
#include "../../lib/job.h"
#include "../../lib/util.h"

/* Waits (polling, with a generous deadline) for the job to end; returns its final status. */
static const char *
wait_job(store_t *st, const char *id)
{
    static char status[32];
    int64_t deadline = util_now_ms() + 30000;
    err_t err = {0};
    json_t *job;

    for (;;) {
        err_clear(&err);
        job = job_get(st, id, NULL, NULL, &err);
        assert_non_null(job);
        snprintf(status, sizeof(status), "%s", json_string_value(json_object_get(job, "status")));
        json_decref(job);
        if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0)
            return status;
        assert_true(util_now_ms() < deadline);
        usleep(2000);
    }
}

static void
start_engine(store_t *st)
{
    err_t err = {0};

    assert_int_equal(catalog_jobs_register(), 0);
    assert_int_equal(accounts_jobs_register(), 0);
    assert_int_equal(job_engine_start(st, 2, &err), 0);
}

/* A cloud, a plan on it with the given checkpoint mode, a user, and a subscription of that user to it. */
typedef struct {
    json_t *cloud, *plan, *user, *sub;
} world_t;

static void
world_make(store_t *st, const char *checkpoint_mode, const char *email, world_t *w)
{
    w->cloud = make(catalog_cloud_create, st, json_pack("{s:s}", "name", "c"));
    w->plan = make(catalog_plan_create, st,
                   json_pack("{s:s, s:s, s:s}", "name", "p", "cloudId", id_of(w->cloud),
                             "checkpointMode", checkpoint_mode));
    w->user = make_user(st, email);
    w->sub = make_subscription(st, w->user, w->plan);
}

static void
world_free(world_t *w)
{
    json_decref(w->sub);
    json_decref(w->user);
    json_decref(w->plan);
    json_decref(w->cloud);
}

static void
plan_defaults_and_references(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *cloud = make(catalog_cloud_create, f->st, json_pack("{s:s}", "name", "c"));
    json_t *plan = make(catalog_plan_create, f->st,
                        json_pack("{s:s, s:s, s:{s:i}}", "name", "p", "cloudId", id_of(cloud),
                                  "quotas", "vms", 3));
    json_t *body;

    assert_string_equal(json_string_value(json_object_get(plan, "state")), "private");
    assert_string_equal(json_string_value(json_object_get(plan, "checkpointMode")), "disabled");
    assert_int_equal(json_object_size(json_object_get(plan, "quotas")), 6);
    assert_true(json_is_null(json_object_get(json_object_get(plan, "quotas"), "cores")));
    assert_true(catalog_plan_allows(plan, "imageIds", "anything"));
    body = json_pack("{s:s, s:s, s:[s]}", "name", "p", "cloudId", id_of(cloud), "sizeNames", "Nope");
    assert_null(catalog_plan_create(f->st, body, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "sizeNames[0]");
    json_decref(body);
    /* The cloud is in use by the plan. */
    err_clear(&err);
    assert_int_equal(catalog_cloud_delete(f->st, id_of(cloud), 0, &err), -1);
    assert_int_equal(err.code, ERR_CONFLICT);
    json_decref(plan);
    json_decref(cloud);
}

static void
plan_update_reaches_subscriptions(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    world_t w;
    json_t *patch = json_pack("{s:s}", "checkpointMode", "disabled"), *job, *got;

    world_make(f->st, "createViewRestore", "a@b.c", &w);
    assert_string_equal(json_string_value(json_object_get(w.sub, "displayName")), "p");
    start_engine(f->st);
    job = catalog_plan_update(f->st, id_of(w.plan), patch, 0, &err);
    assert_non_null(job);
    assert_string_equal(wait_job(f->st, id_of(job)), "succeeded");
    job_engine_stop();
    got = accounts_subscription_get(f->st, id_of(w.sub), id_of(w.user), NULL, &err);
    assert_string_equal(json_string_value(json_object_get(got, "checkpointMode")), "disabled");
    json_decref(got);
    /* Someone else's view of it is a plain 404. */
    assert_null(accounts_subscription_get(f->st, id_of(w.sub), "another-user", NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    /* A stale revision changes nothing (the job moved the plan to revision 2). */
    err_clear(&err);
    assert_null(catalog_plan_update(f->st, id_of(w.plan), patch, 1, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    json_decref(patch);
    json_decref(job);
    world_free(&w);
}

static void
tokens_authenticate_until_revoked(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *user = make_user(f->st, "t@b.c");
    json_t *tok = accounts_token_create(f->st, id_of(user), NULL, &err), *rec;
    char uid[UTIL_UUID_LEN + 1];
    const char *secret = json_string_value(json_object_get(tok, "token"));
    char hash[UTIL_SHA256_HEX_LEN + 1];

    assert_non_null(tok);
    assert_true(strlen(secret) >= 43 + strlen(ACCOUNTS_TOKEN_PREFIX));
    util_sha256_hex(secret, strlen(secret), hash);
    assert_int_equal(accounts_authenticate(f->st, hash, uid, &err), 0);
    assert_string_equal(uid, id_of(user));
    /* Only the hash is stored. */
    rec = store_rec_get(f->st, &store_kind_token, id_of(tok), NULL, &err);
    assert_string_equal(json_string_value(json_object_get(rec, "hash")), hash);
    json_decref(rec);
    assert_int_equal(accounts_token_revoke(f->st, id_of(user), id_of(tok), &err), 0);
    assert_int_equal(accounts_authenticate(f->st, hash, uid, &err), -1);
    assert_int_equal(err.code, ERR_UNAUTHORIZED);
    err_clear(&err);
    util_sha256_hex("wapd_bogus", 10, hash);
    assert_int_equal(accounts_authenticate(f->st, hash, uid, &err), -1);
    assert_int_equal(err.code, ERR_UNAUTHORIZED);
    json_decref(tok);
    json_decref(user);
}

static void
host_kinds_and_capacity(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *cloud = make(catalog_cloud_create, f->st, json_pack("{s:s}", "name", "c"));
    json_t *body = json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:i, s:i}}", "name", "h", "cloudId",
                             id_of(cloud), "agent", "kind", "libvirt", "capacity", "cores", 4,
                             "memoryMB", 4096, "storageGB", 100);
    json_t *host;

    assert_null(catalog_host_create(f->st, body, &err));
    assert_string_equal(err.target, "agent.kind");
    json_object_set_new(json_object_get(body, "agent"), "kind", json_string("sim"));
    host = make(catalog_host_create, f->st, body);
    assert_string_equal(json_string_value(json_object_get(json_object_get(host, "agent"), "uri")),
                        "sim://");
    json_decref(host);
    json_decref(cloud);
}

/* Fails the Nth store call of a plan update, for every N until the update no longer meets a fault: each
 * failed attempt leaves the plan, its subscription and the job list exactly as they were. Then the job
 * that was accepted runs to its end. */
static void
plan_update_is_atomic_under_store_faults(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    world_t w;
    json_t *patch = json_pack("{s:s, s:{s:i}}", "checkpointMode", "createViewRestore", "quotas",
                              "vms", 7),
           *job = NULL, *got;
    long n;
    int64_t rev;
    int faults = 0;

    world_make(f->st, "viewRestore", "f@b.c", &w);
    for (n = 1; n < 100; n++) {
        err_clear(&err);
        fault_arm(FAULT_STORE, n);
        job = catalog_plan_update(f->st, id_of(w.plan), patch, 0, &err);
        fault_arm(FAULT_STORE, 0);
        if (job != NULL)
            break;
        faults++;
        assert_int_equal(err.code, ERR_INTERNAL);
        got = store_rec_get(f->st, &store_kind_plan, id_of(w.plan), &rev, &err);
        assert_int_equal(rev, 1);
        assert_string_equal(json_string_value(json_object_get(got, "checkpointMode")), "viewRestore");
        json_decref(got);
        got = store_rec_get(f->st, &store_kind_subscription, id_of(w.sub), NULL, &err);
        assert_string_equal(json_string_value(json_object_get(got, "checkpointMode")), "viewRestore");
        json_decref(got);
        assert_int_equal(store_rec_count(f->st, &store_kind_job, NULL, 0, &err), 0);
    }
    assert_non_null(job);
    assert_true(faults >= 3); /* the loop met faults at several different calls */
    start_engine(f->st);
    assert_string_equal(wait_job(f->st, id_of(job)), "succeeded");
    job_engine_stop();
    got = store_rec_get(f->st, &store_kind_subscription, id_of(w.sub), NULL, &err);
    assert_string_equal(json_string_value(json_object_get(got, "checkpointMode")),
                        "createViewRestore");
    json_decref(got);
    assert_int_equal(store_rec_count(f->st, &store_kind_job, NULL, 0, &err), 1);
    json_decref(job);
    json_decref(patch);
    world_free(&w);
}

/* One reference check of a create: its body, the error it answers when the record it names is missing
 * (or, for a uniqueness check, present), and which store call of the create reads that record. */
typedef struct {
    json_t *(*create)(store_t *, const json_t *, err_t *);
    json_t *body;
    err_code_t code;
    const char *target, *message;
    long call;
} ref_check_t;

/* The create answers a missing (or duplicate) record once, with its own error; when the store fails at
 * that read, the store's own error comes up as it was written, never rewritten into the business one. */
static void
run_ref_check(store_t *st, const ref_check_t *c)
{
    err_t err = {0};

    assert_null(c->create(st, c->body, &err));
    assert_int_equal(err.code, c->code);
    assert_string_equal(err.target, c->target);
    assert_string_equal(err.message, c->message);
    err_clear(&err);
    fault_arm(FAULT_STORE, c->call);
    assert_null(c->create(st, c->body, &err));
    fault_arm(FAULT_STORE, 0);
    assert_int_equal(err.code, ERR_INTERNAL);
    assert_string_equal(err.target, "");
    assert_string_equal(err.message, "The database failed (injected fault).");
    json_decref(c->body);
}

/* Every reference check of the creates, each answered once (see run_ref_check). */
static void
references_are_answered_once(void **state)
{
    fixture_t *f = *state;
    char user_id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    world_t w;
    json_t *size = make(catalog_size_create, f->st,
                        json_pack("{s:s, s:i, s:i}", "name", "Small", "cores", 1, "memoryMB", 512));
    json_t *image = make(catalog_image_create, f->st,
                         json_pack("{s:s, s:s, s:i, s:i}", "name", "i", "osType", "Linux",
                                   "generation", 2, "osDiskGB", 10));
    size_t i;

    world_make(f->st, "disabled", "r@b.c", &w);
    {
        /* call: the store call of the create that reads the record (the plan's: its cloud, then
         * each size it names). */
        const ref_check_t checks[] = {
            {catalog_size_create,
             json_pack("{s:s, s:i, s:i}", "name", "Small", "cores", 2, "memoryMB", 1), ERR_CONFLICT,
             "name", "A size named 'Small' already exists.", 1},
            {catalog_gallery_item_create,
             json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "name", "g", "version", "1", "imageId",
                       "nope", "defaultSize", "Small", "minInstances", 1, "maxInstances", 2),
             ERR_INVALID_REQUEST, "imageId", "No image has the id given in imageId.", 1},
            {catalog_gallery_item_create,
             json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "name", "g", "version", "1", "imageId",
                       id_of(image), "defaultSize", "Huge", "minInstances", 1, "maxInstances", 2),
             ERR_INVALID_REQUEST, "defaultSize", "No size is named 'Huge'.", 2},
            {catalog_plan_create,
             json_pack("{s:s, s:s, s:[s, s]}", "name", "p2", "cloudId", id_of(w.cloud),
                       "sizeNames", "Small", "Huge"),
             ERR_INVALID_REQUEST, "sizeNames[1]", "No size matches sizeNames[1].", 3},
        };

        for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
            run_ref_check(f->st, &checks[i]);
    }
    /* A token nobody holds is the 401; a subscription of another user is the 404. */
    assert_int_equal(accounts_authenticate(f->st, "00", user_id, &err), -1);
    assert_int_equal(err.code, ERR_UNAUTHORIZED);
    err_clear(&err);
    fault_arm(FAULT_STORE, 1);
    assert_int_equal(accounts_authenticate(f->st, "00", user_id, &err), -1);
    fault_arm(FAULT_STORE, 0);
    assert_int_equal(err.code, ERR_INTERNAL);
    err_clear(&err);
    assert_null(accounts_subscription_peek(f->st, id_of(w.sub), "someone-else", NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    assert_string_equal(err.message, "The subscription was not found.");
    json_decref(image);
    json_decref(size);
    world_free(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(plan_defaults_and_references, setup, teardown),
        cmocka_unit_test_setup_teardown(plan_update_reaches_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(tokens_authenticate_until_revoked, setup, teardown),
        cmocka_unit_test_setup_teardown(host_kinds_and_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(plan_update_is_atomic_under_store_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(references_are_answered_once, setup, teardown),
    };

    return cmocka_run_group_tests_name("catalog+accounts", tests, NULL, NULL);
}
