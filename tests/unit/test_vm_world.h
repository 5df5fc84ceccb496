/*
 * test_vm_world.h: the world the VM domain's unit tests run in: a cloud with one simulated host, two sizes,
 * an image, a gallery item, a plan offering them (checkpoints allowed) and a subscription, every job kind
 * registered and the job engine running. Include after <cmocka.h> and "fixture.h".
 *
 * A request runs as the pipeline runs it: world_ctx loads the subscription and its plan once, the test
 * opens the write transaction, calls the lib entry point and commits (or rolls back on failure).
 */
#ifndef WAPD_TEST_VM_WORLD_H
#define WAPD_TEST_VM_WORLD_H

#include <string.h>
#include <unistd.h>

#include "records.h"

#include "../../api/catalog.h"
#include "../../lib/accounts.h"
#include "../../lib/agent.h"
#include "../../lib/catalog.h"
#include "../../lib/checkpoint.h"
#include "../../lib/hostreg.h"
#include "../../lib/inventory.h"
#include "../../lib/job.h"
#include "../../lib/quota.h"
#include "../../lib/util.h"
#include "../../lib/vm.h"
#include "../../lib/vmrole.h"

typedef struct {
    fixture_t *f;
    json_t *cloud, *host, *small, *large, *image, *item, *plan, *user, *sub;
    json_t *ctx_sub, *ctx_plan; /* what world_ctx loaded */
    vm_ctx_t ctx;
} world_t;

/* The subscription and its plan, loaded once as the pipeline loads them. */
static inline const vm_ctx_t *
world_ctx(world_t *w)
{
    err_t err = {0};

    json_decref(w->ctx_sub);
    json_decref(w->ctx_plan);
    w->ctx_sub = store_rec_get(w->f->st, &store_kind_subscription, id_of(w->sub), NULL, &err);
    assert_non_null(w->ctx_sub);
    w->ctx_plan = store_rec_get(w->f->st, &store_kind_plan, id_of(w->plan), NULL, &err);
    assert_non_null(w->ctx_plan);
    w->ctx.sid = id_of(w->sub);
    w->ctx.sub = w->ctx_sub;
    w->ctx.plan = w->ctx_plan;
    return &w->ctx;
}

static inline int
world_setup(void **state)
{
    fixture_t *f;
    world_t *w = calloc(1, sizeof(*w));
    err_t err = {0};
    store_t *st;

    setup(state);
    f = *state;
    w->f = f;
    st = f->st;
    hostreg_init(f->dir);
    assert_int_equal(agent_builtin_register(), 0);
    assert_int_equal(vm_jobs_register(), 0);
    assert_int_equal(checkpoint_jobs_register(), 0);
    assert_int_equal(vmrole_jobs_register(), 0);
    assert_int_equal(inventory_jobs_register(), 0);
    w->cloud = make(api_catalog_cloud_create, st, json_pack("{s:s}", "name", "c"));
    w->host = make(api_catalog_host_create, st,
                         json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:i, s:i}}", "name", "h", "cloudId",
                                   id_of(w->cloud), "agent", "kind", "sim", "capacity", "cores", 16,
                                   "memoryMB", 65536, "storageGB", 1000));
    w->small = make(api_catalog_size_create, st,
                          json_pack("{s:s, s:i, s:i}", "name", "S", "cores", 2, "memoryMB", 2048));
    w->large = make(api_catalog_size_create, st,
                          json_pack("{s:s, s:i, s:i}", "name", "L", "cores", 4, "memoryMB", 4096));
    w->image = make(api_catalog_image_create, st,
                          json_pack("{s:s, s:s, s:i, s:i}", "name", "i", "osType", "Linux",
                                    "generation", 2, "osDiskGB", 30));
    w->item = make(api_catalog_gallery_item_create, st,
                         json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "name", "web", "version", "1",
                                   "imageId", id_of(w->image), "defaultSize", "S", "minInstances", 1,
                                   "maxInstances", 3));
    w->plan = make(api_catalog_plan_create, st,
                         json_pack("{s:s, s:s, s:[s], s:[s, s], s:[s], s:s, s:{s:i}}", "name", "p",
                                   "cloudId", id_of(w->cloud), "imageIds", id_of(w->image),
                                   "sizeNames", "S", "L", "galleryItemIds", id_of(w->item),
                                   "checkpointMode", "createViewRestore", "quotas", "vms", 3));
    w->user = make_user(st, "t@example.com");
    w->sub = make_subscription(st, w->user, w->plan);
    assert_int_equal(job_engine_start(st, 2, &err), 0);
    *state = w;
    return 0;
}

static inline int
world_teardown(void **state)
{
    world_t *w = *state;
    json_t **recs[] = {&w->cloud, &w->host, &w->small, &w->large, &w->image, &w->item, &w->plan,
                       &w->user, &w->sub, &w->ctx_sub, &w->ctx_plan};
    size_t i;

    job_engine_stop();
    hostreg_shutdown();
    for (i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
        json_decref(*recs[i]);
    *state = w->f;
    free(w);
    return teardown(state);
}

/* The job once it has ended (new reference). */
static inline json_t *
world_wait(store_t *st, const json_t *job)
{
    int64_t deadline = util_now_ms() + 30000;
    err_t err = {0};
    const char *s;
    json_t *j;

    for (;;) {
        err_clear(&err);
        j = job_get(st, id_of(job), NULL, NULL, &err);
        assert_non_null(j);
        s = json_string_value(json_object_get(j, "status"));
        if (strcmp(s, "queued") != 0 && strcmp(s, "running") != 0)
            return j;
        json_decref(j);
        assert_true(util_now_ms() < deadline);
        usleep(2000);
    }
}

/* Waits for the job (released) and checks how it ended. */
static inline void
world_wait_status(store_t *st, json_t *job, const char *status)
{
    json_t *done;

    assert_non_null(job);
    done = world_wait(st, job);
    assert_string_equal(json_string_value(json_object_get(done, "status")), status);
    json_decref(done);
    json_decref(job);
}

/* A string field of the VM as a GET shows it now. */
static inline void
world_vm_is(store_t *st, const char *id, const char *field, const char *value)
{
    err_t err = {0};
    json_t *vm = vm_get(st, NULL, id, true, NULL, &err);

    assert_non_null(vm);
    assert_string_equal(json_string_value(json_object_get(vm, field)), value);
    json_decref(vm);
}

/* Creates the VM of req as the pipeline does (one transaction) and waits for its create to succeed;
 * answers its id (owned by out, of size UTIL_UUID_LEN + 1). */
static inline void
world_created_vm(world_t *w, const vm_create_req_t *req, char *out)
{
    store_t *st = w->f->st;
    err_t err = {0};
    json_t *vm, *job = NULL;

    assert_int_equal(store_tx_begin(st, &err), 0);
    vm = vm_create(st, world_ctx(w), req, &job, &err);
    if (vm == NULL)
        fail_msg("create failed: %s (%s)", err.message, err.target);
    assert_int_equal(store_tx_commit(st, &err), 0);
    snprintf(out, UTIL_UUID_LEN + 1, "%s", id_of(vm));
    json_decref(vm);
    world_wait_status(st, job, "succeeded");
}

/* A VM of size S, created and running; its id as world_created_vm answers it. */
static inline void
world_running_vm(world_t *w, const char *name, char *out)
{
    vm_create_req_t req = {0};

    req.name = name;
    req.image_id = id_of(w->image);
    req.size = "S";
    world_created_vm(w, &req, out);
    world_vm_is(w->f->st, out, "powerState", "running");
}

#endif
