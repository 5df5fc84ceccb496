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
#include "../../lib/agent.h"
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

/* rec, or the test fails with err's message. */
static json_t *
made(json_t *rec, const err_t *err)
{
    if (rec == NULL)
        fail_msg("failed: %s (%s)", err->message, err->target);
    return rec;
}

static json_t *
cloud_make(store_t *st, const char *name, const char *description)
{
    catalog_cloud_req_t req = {.name = name, .description = description};
    err_t err = {0};

    return made(catalog_cloud_create(st, &req, &err), &err);
}

/* A plan named "p" on cloud with the given checkpoint mode; settings as a zeroed struct gives them. */
static json_t *
plan_make(store_t *st, const json_t *cloud, catalog_plan_settings_t set)
{
    catalog_plan_req_t req = {.cloud_id = id_of(cloud), .set = set};
    err_t err = {0};

    req.set.name = "p";
    return made(catalog_plan_create(st, &req, &err), &err);
}

/* Settings with every quota unlimited, the rest at the defaults, and mode as the checkpoint mode. */
static catalog_plan_settings_t
settings(catalog_checkpoint_mode_t mode)
{
    catalog_plan_settings_t set = {.checkpoint_mode = mode};
    size_t i;

    for (i = 0; i < CATALOG_QUOTA__COUNT; i++)
        set.limits[i] = CATALOG_UNLIMITED;
    return set;
}

static const json_t *
quota_of(const json_t *plan, const char *key)
{
    return json_object_get(json_object_get(plan, "quotas"), key);
}

/* A cloud, a plan on it with the given checkpoint mode, a user, and a subscription of that user to it. */
typedef struct {
    json_t *cloud, *plan, *user, *sub;
} world_t;

static void
world_make(store_t *st, catalog_checkpoint_mode_t mode, const char *email, world_t *w)
{
    w->cloud = cloud_make(st, "c", NULL);
    w->plan = plan_make(st, w->cloud, settings(mode));
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
    json_t *cloud = cloud_make(f->st, "c", NULL), *plan;
    catalog_plan_settings_t set = settings(CATALOG_CHECKPOINT_DISABLED);
    const char *const nope[] = {"Nope"};
    catalog_plan_req_t req = {.cloud_id = id_of(cloud)};

    set.limits[CATALOG_QUOTA_VMS] = 3;
    plan = plan_make(f->st, cloud, set);
    assert_string_equal(json_string_value(json_object_get(plan, "state")), "private");
    assert_string_equal(json_string_value(json_object_get(plan, "checkpointMode")), "disabled");
    assert_int_equal(json_object_size(json_object_get(plan, "quotas")), 6);
    assert_int_equal(json_integer_value(quota_of(plan, "vms")), 3);
    assert_true(json_is_null(quota_of(plan, "cores")));
    assert_true(json_is_array(json_object_get(plan, "galleryItemIds")));
    assert_true(json_is_null(json_object_get(plan, "checkpointRetentionHours")));
    assert_true(catalog_plan_allows(plan, "imageIds", "anything"));
    req.set = settings(CATALOG_CHECKPOINT_DISABLED);
    req.set.name = "p";
    req.set.size_names = (catalog_strs_t){.items = nope, .count = 1};
    assert_null(catalog_plan_create(f->st, &req, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "sizeNames[0]");
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
    catalog_plan_patch_t patch = {.given = CATALOG_PLAN_CHECKPOINT_MODE,
                                  .set.checkpoint_mode = CATALOG_CHECKPOINT_DISABLED};
    json_t *job, *got;

    world_make(f->st, CATALOG_CHECKPOINT_CREATE_VIEW_RESTORE, "a@b.c", &w);
    assert_string_equal(json_string_value(json_object_get(w.sub, "displayName")), "p");
    start_engine(f->st);
    job = catalog_plan_update(f->st, id_of(w.plan), &patch, 0, &err);
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
    assert_null(catalog_plan_update(f->st, id_of(w.plan), &patch, 1, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
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

static json_t *
host_make(store_t *st, const json_t *cloud, const char *kind, err_t *err)
{
    catalog_host_req_t req = {.name = "h",
                              .cloud_id = id_of(cloud),
                              .agent_kind = kind,
                              .capacity = {.cores = 4, .memory_mb = 4096, .storage_gb = 100}};

    return catalog_host_create(st, &req, err);
}

static void
host_kinds_and_capacity(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *cloud = cloud_make(f->st, "c", NULL), *host, *got;
    catalog_host_patch_t patch = {.given = CATALOG_HOST_STATE, .state = CATALOG_HOST_MAINTENANCE};

    assert_int_equal(agent_builtin_register(), 0);
    assert_null(host_make(f->st, cloud, "vmware", &err));
    assert_string_equal(err.target, "agent.kind");
    assert_non_null(strstr(err.message, "sim"));
    err_clear(&err);
    /* The embedded store belongs to one daemon: it takes sim hosts (a shared one does not:
     * test_store_conformance_pg.c). */
    assert_false(store_shared(f->st));
    host = made(host_make(f->st, cloud, "sim", &err), &err);
    assert_string_equal(json_string_value(json_object_get(json_object_get(host, "agent"), "uri")),
                        "sim://");
    assert_string_equal(json_string_value(json_object_get(host, "state")), "ok");
    /* A patch that gives one field changes that field only. */
    got = made(catalog_host_update(f->st, id_of(host), &patch, 0, &err), &err);
    assert_string_equal(json_string_value(json_object_get(got, "state")), "maintenance");
    assert_string_equal(json_string_value(json_object_get(got, "name")), "h");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(got, "capacity"), "cores")),
                     4);
    json_decref(got);
    /* One capacity field, and a bad sim uri refused with nothing changed. */
    patch = (catalog_host_patch_t){.given = CATALOG_HOST_CORES | CATALOG_HOST_AGENT_URI,
                                   .agent_uri = "sim://?bogus=1",
                                   .capacity.cores = 8};
    assert_null(catalog_host_update(f->st, id_of(host), &patch, 0, &err));
    assert_string_equal(err.target, "agent.uri");
    err_clear(&err);
    patch.agent_uri = "sim://?latencyMs=5";
    got = made(catalog_host_update(f->st, id_of(host), &patch, 0, &err), &err);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(got, "capacity"), "cores")),
                     8);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(got, "capacity"), "memoryMB")), 4096);
    json_decref(got);
    json_decref(host);
    json_decref(cloud);
}

/* A cloud PATCH that gives one field keeps the others; description given as null becomes null. */
static void
cloud_patch_one_field_then_null(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *cloud = cloud_make(f->st, "c", "first"), *got;
    catalog_cloud_patch_t patch = {.given = CATALOG_CLOUD_NAME, .set.name = "renamed"};

    assert_string_equal(json_string_value(json_object_get(cloud, "description")), "first");
    got = made(catalog_cloud_update(f->st, id_of(cloud), &patch, 1, &err), &err);
    assert_string_equal(json_string_value(json_object_get(got, "name")), "renamed");
    assert_string_equal(json_string_value(json_object_get(got, "description")), "first");
    json_decref(got);
    patch = (catalog_cloud_patch_t){.given = CATALOG_CLOUD_DESCRIPTION};
    got = made(catalog_cloud_update(f->st, id_of(cloud), &patch, 2, &err), &err);
    assert_true(json_is_null(json_object_get(got, "description")));
    assert_string_equal(json_string_value(json_object_get(got, "name")), "renamed");
    json_decref(got);
    /* A stale revision is refused. */
    assert_null(catalog_cloud_update(f->st, id_of(cloud), &patch, 2, &err));
    assert_int_equal(err.code, ERR_PRECONDITION_FAILED);
    json_decref(cloud);
}

/* The plan.update job applies a typed patch: the one quota it names changes and the others stay, the
 * retention it sets to null becomes null, the name changes, what it does not name stays. */
static void
plan_update_job_applies_typed_patch(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *cloud = cloud_make(f->st, "c", NULL), *plan, *job, *got;
    catalog_plan_settings_t set = settings(CATALOG_CHECKPOINT_VIEW_RESTORE);
    catalog_plan_patch_t patch = {
        .given = CATALOG_PLAN_NAME | CATALOG_PLAN_QUOTAS | CATALOG_PLAN_RETENTION,
        .quotas_given = 1u << CATALOG_QUOTA_CORES,
        .set = settings(CATALOG_CHECKPOINT_DISABLED),
    };

    set.limits[CATALOG_QUOTA_VMS] = 3;
    set.checkpoint_retention_hours = 48;
    set.state = CATALOG_PLAN_PUBLIC;
    plan = plan_make(f->st, cloud, set);
    assert_int_equal(json_integer_value(json_object_get(plan, "checkpointRetentionHours")), 48);
    patch.set.name = "gold";
    patch.set.limits[CATALOG_QUOTA_CORES] = 8;
    start_engine(f->st);
    job = made(catalog_plan_update(f->st, id_of(plan), &patch, 0, &err), &err);
    assert_string_equal(wait_job(f->st, id_of(job)), "succeeded");
    job_engine_stop();
    got = store_rec_get(f->st, &store_kind_plan, id_of(plan), NULL, &err);
    assert_string_equal(json_string_value(json_object_get(got, "name")), "gold");
    assert_int_equal(json_integer_value(quota_of(got, "vms")), 3);
    assert_int_equal(json_integer_value(quota_of(got, "cores")), 8);
    assert_true(json_is_null(quota_of(got, "memoryMB")));
    assert_true(json_is_null(json_object_get(got, "checkpointRetentionHours")));
    assert_string_equal(json_string_value(json_object_get(got, "state")), "public");
    assert_string_equal(json_string_value(json_object_get(got, "checkpointMode")), "viewRestore");
    json_decref(got);
    json_decref(job);
    json_decref(plan);
    json_decref(cloud);
}

/* A patch's JSON form reads and writes back the same, nulls included; and a plan.update job whose params
 * hold the PATCH body as it came (as older versions queued it) still runs. */
static void
plan_patch_json_form_and_old_params(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *cloud = cloud_make(f->st, "c", NULL), *plan, *body, *again, *params, *job, *got;
    catalog_plan_settings_t set = settings(CATALOG_CHECKPOINT_DISABLED);
    catalog_plan_patch_t patch;

    set.limits[CATALOG_QUOTA_VMS] = 3;
    plan = plan_make(f->st, cloud, set);
    body = json_pack("{s:n, s:n, s:[s], s:s, s:i, s:[]}", "quotas", "imageIds", "sizeNames", "Small",
                     "state", "public", "checkpointRetentionHours", 24, "galleryItemIds");
    assert_int_equal(catalog_plan_patch_from_json(body, &patch, &err), 0);
    assert_true(patch.quotas_null && patch.set.image_ids.null && !patch.set.gallery_item_ids.null);
    assert_int_equal(patch.set.size_names.count, 1);
    again = catalog_plan_patch_to_json(&patch);
    assert_true(json_equal(again, body));
    json_decref(again);
    catalog_plan_patch_clear(&patch);
    /* A value outside its set is a 400 naming the field. */
    again = json_pack("{s:s}", "checkpointMode", "always");
    assert_int_equal(catalog_plan_patch_from_json(again, &patch, &err), -1);
    assert_string_equal(err.target, "checkpointMode");
    json_decref(again);
    err_clear(&err);
    json_object_del(body, "sizeNames"); /* no size exists here */
    params = json_pack("{s:O}", "patch", body);
    job = made(job_submit(f->st, "plan.update", id_of(plan), NULL, id_of(plan), params, &err), &err);
    start_engine(f->st);
    assert_string_equal(wait_job(f->st, id_of(job)), "succeeded");
    job_engine_stop();
    got = store_rec_get(f->st, &store_kind_plan, id_of(plan), NULL, &err);
    assert_true(json_is_null(quota_of(got, "vms")));
    assert_int_equal(json_array_size(json_object_get(got, "imageIds")), 0);
    assert_true(json_is_array(json_object_get(got, "imageIds")));
    assert_string_equal(json_string_value(json_object_get(got, "state")), "public");
    assert_int_equal(json_integer_value(json_object_get(got, "checkpointRetentionHours")), 24);
    json_decref(got);
    json_decref(job);
    json_decref(params);
    json_decref(body);
    json_decref(plan);
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
    catalog_plan_patch_t patch = {
        .given = CATALOG_PLAN_CHECKPOINT_MODE | CATALOG_PLAN_QUOTAS,
        .quotas_given = 1u << CATALOG_QUOTA_VMS,
        .set = settings(CATALOG_CHECKPOINT_CREATE_VIEW_RESTORE),
    };
    json_t *job = NULL, *got;
    long n;
    int64_t rev;
    int faults = 0;

    patch.set.limits[CATALOG_QUOTA_VMS] = 7;
    world_make(f->st, CATALOG_CHECKPOINT_VIEW_RESTORE, "f@b.c", &w);
    for (n = 1; n < 100; n++) {
        err_clear(&err);
        fault_arm(FAULT_STORE, n);
        job = catalog_plan_update(f->st, id_of(w.plan), &patch, 0, &err);
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
    got = store_rec_get(f->st, &store_kind_plan, id_of(w.plan), NULL, &err);
    assert_int_equal(json_integer_value(quota_of(got, "vms")), 7);
    json_decref(got);
    json_decref(job);
    world_free(&w);
}

/* The creates below, each called with its typed request. */
static json_t *
size_create(store_t *st, const void *req, err_t *err)
{
    return catalog_size_create(st, req, err);
}

static json_t *
gallery_item_create(store_t *st, const void *req, err_t *err)
{
    return catalog_gallery_item_create(st, req, err);
}

static json_t *
plan_create(store_t *st, const void *req, err_t *err)
{
    return catalog_plan_create(st, req, err);
}

/* One reference check of a create: its request, the error it answers when the record it names is missing
 * (or, for a uniqueness check, present), and which store call of the create reads that record. */
typedef struct {
    json_t *(*create)(store_t *, const void *, err_t *);
    const void *req;
    err_code_t code;
    const char *target, *message;
    long call;
} ref_check_t;

/* The create answers a missing (or duplicate) record once, with its own error; when the store fails at
 * that read, the store's own error comes up as it was written, never rewritten into the business one. */
static void
run_ref_check(store_t *st, const ref_check_t *c)
{
    const void *req = c->req;
    err_t err = {0};

    assert_null(c->create(st, req, &err));
    assert_int_equal(err.code, c->code);
    assert_string_equal(err.target, c->target);
    assert_string_equal(err.message, c->message);
    err_clear(&err);
    fault_arm(FAULT_STORE, c->call);
    assert_null(c->create(st, req, &err));
    fault_arm(FAULT_STORE, 0);
    assert_int_equal(err.code, ERR_INTERNAL);
    assert_string_equal(err.target, "");
    assert_string_equal(err.message, "The database failed (injected fault).");
}

/* Every reference check of the creates, each answered once (see run_ref_check). */
static void
references_are_answered_once(void **state)
{
    fixture_t *f = *state;
    char user_id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    world_t w;
    const catalog_size_req_t small = {.name = "Small", .cores = 1, .memory_mb = 512};
    const catalog_image_req_t linux_image = {
        .name = "i", .os_type = "linux", .generation = 2, .os_disk_gb = 10};
    json_t *size = made(catalog_size_create(f->st, &small, &err), &err);
    json_t *image = made(catalog_image_create(f->st, &linux_image, &err), &err);
    const char *const sizes[] = {"Small", "Huge"};
    const catalog_size_req_t twin = {.name = "Small", .cores = 2, .memory_mb = 1};
    catalog_gallery_item_req_t no_image = {.name = "g",
                                           .version = "1",
                                           .image_id = "nope",
                                           .default_size = "Small",
                                           .min_instances = 1,
                                           .max_instances = 2};
    catalog_gallery_item_req_t no_size = no_image;
    catalog_plan_req_t plan = {.set = settings(CATALOG_CHECKPOINT_DISABLED)};
    size_t i;

    no_size.image_id = id_of(image);
    no_size.default_size = "Huge";
    world_make(f->st, CATALOG_CHECKPOINT_DISABLED, "r@b.c", &w);
    plan.cloud_id = id_of(w.cloud);
    plan.set.name = "p2";
    plan.set.size_names = (catalog_strs_t){.items = sizes, .count = 2};
    {
        /* call: the store call of the create that reads the record (the plan's: its cloud, then
         * each size it names). */
        const ref_check_t checks[] = {
            {size_create, &twin, ERR_CONFLICT, "name",
             "A size named 'Small' already exists.", 1},
            {gallery_item_create, &no_image, ERR_INVALID_REQUEST, "imageId",
             "No image has the id given in imageId.", 1},
            {gallery_item_create, &no_size, ERR_INVALID_REQUEST, "defaultSize",
             "No size is named 'Huge'.", 2},
            {plan_create, &plan, ERR_INVALID_REQUEST, "sizeNames[1]",
             "No size matches sizeNames[1].", 3},
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

/* Each test on a fresh store of its own. */
#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(plan_defaults_and_references),
        TEST(plan_update_reaches_subscriptions),
        TEST(tokens_authenticate_until_revoked),
        TEST(host_kinds_and_capacity),
        TEST(cloud_patch_one_field_then_null),
        TEST(plan_update_job_applies_typed_patch),
        TEST(plan_patch_json_form_and_old_params),
        TEST(plan_update_is_atomic_under_store_faults),
        TEST(references_are_answered_once),
    };

    return cmocka_run_group_tests_name("catalog+accounts", tests, NULL, NULL);
}
