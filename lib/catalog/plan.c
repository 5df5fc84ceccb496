/*
 * plan.c: hosting plans (see catalog.h): create, update through the plan-update job, delete. A plan's
 * settings become record fields in plan_patch.c.
 *
 * Invariants kept here:
 * - a plan refers to a cloud, and only to images, sizes, gallery items and replica clouds that exist (a
 *   400 naming the field or the list entry; replicaCloudIds is named whole);
 * - a PATCH is checked when it is asked for (a 400, not a failed job), and applied by the plan.update job
 *   in two steps: the plan takes its new settings (with a plan.updated event for billing), then its
 *   subscriptions take its checkpoint mode; until the job succeeds the old settings apply. The job's
 *   params hold the patch in its JSON form ({"patch": <PATCH body>}), the form older versions wrote;
 * - a plan with subscriptions is not deleted (409 Conflict).
 */
#include "catalog_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../events.h"
#include "../job.h"

int
catalog_plan_allows(const json_t *plan, const char *list_field, const char *value)
{
    const json_t *list = json_object_get(plan, list_field), *v;
    size_t i;

    assert(plan != NULL && list_field != NULL);
    if (json_array_size(list) == 0)
        return 1;
    json_array_foreach(list, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
            return 1;
    return 0;
}

bool
catalog_plan_allows_cloud(const json_t *plan, const char *cloud_id)
{
    const json_t *v;
    size_t i;

    assert(plan != NULL && cloud_id != NULL);
    if ((v = json_object_get(plan, "cloudId")) != NULL && json_is_string(v) &&
        strcmp(json_string_value(v), cloud_id) == 0)
        return true;
    json_array_foreach(json_object_get(plan, "replicaCloudIds"), i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), cloud_id) == 0)
            return true;
    return false;
}

/* Every replica cloud must exist: a 400 naming replicaCloudIds (the field a copy's cloudId is checked
 * against, named whole) and the entry at fault in its message. */
static int
check_replicas(store_t *st, const json_t *list, err_t *err)
{
    const json_t *v;
    size_t i;
    int found;

    json_array_foreach(list, i, v) {
        found = store_rec_lookup(st, &store_kind_cloud, json_string_value(v), NULL, NULL, err);
        if (found < 0)
            return -1;
        if (found == 0)
            return err_set(err, ERR_INVALID_REQUEST, "replicaCloudIds",
                           "No cloud matches replicaCloudIds[%zu].", i);
    }
    return 0;
}

/* Every id (or size name) in list must exist. */
static int
check_list(store_t *st, const json_t *list, const store_kind_t *kind, const char *by,
           const char *field, const char *what, err_t *err)
{
    char target[64];
    json_t *v;
    size_t i;
    int found;

    assert(kind != NULL && by != NULL && field != NULL && what != NULL);
    json_array_foreach(list, i, v) {
        found = store_rec_lookup_by(st, kind, by, json_string_value(v), NULL, err);
        if (found < 0)
            return -1;
        if (found == 0) {
            snprintf(target, sizeof(target), "%s[%zu]", field, i);
            return err_set(err, ERR_INVALID_REQUEST, target, "No %s matches %s.", what, target);
        }
    }
    return 0;
}

static int
check_plan_refs(store_t *st, const json_t *plan, err_t *err)
{
    if (check_list(st, json_object_get(plan, "imageIds"), &store_kind_image, "id", "imageIds",
                   "image", err) ||
        check_list(st, json_object_get(plan, "sizeNames"), &store_kind_size, "name", "sizeNames",
                   "size", err) ||
        check_list(st, json_object_get(plan, "galleryItemIds"), &store_kind_gallery_item, "id",
                   "galleryItemIds", "gallery item", err) ||
        check_replicas(st, json_object_get(plan, "replicaCloudIds"), err))
        return -1;
    return 0;
}

json_t *
catalog_plan_create(store_t *st, const catalog_plan_req_t *req, err_t *err)
{
    json_t *rec;

    assert(req != NULL && req->cloud_id != NULL && req->set.name != NULL);
    if (catalog__require_exists(st, &store_kind_cloud, req->cloud_id, "cloudId", "cloud", err))
        return NULL;
    rec = catalog__record_take(json_pack("{s:s}", "cloudId", req->cloud_id));
    if (rec == NULL)
        return catalog__insert_or_free(st, &store_kind_plan, NULL, err);
    catalog__plan_set(rec, &req->set, CATALOG__ALL_SETTINGS | CATALOG_PLAN_REPLICA_CLOUD_IDS,
                      CATALOG__ALL_QUOTAS);
    if (check_plan_refs(st, rec, err)) {
        json_decref(rec);
        return NULL;
    }
    return catalog__insert_or_free(st, &store_kind_plan, rec, err);
}

/* Applies a patch in its JSON form (a job's params) to a plan record; 400 when it does not read as one. */
static int
apply_plan_patch(json_t *rec, const json_t *json, err_t *err)
{
    catalog_plan_patch_t patch;

    if (!json_is_object(json))
        return err_set(err, ERR_INTERNAL, NULL, "The plan update job has no patch.");
    if (catalog_plan_patch_from_json(json, &patch, err))
        return -1;
    catalog__plan_set(rec, &patch.set, patch.given, patch.quotas_given);
    catalog_record_touch(rec);
    catalog_plan_patch_clear(&patch);
    return 0;
}

/* The job's plan, read in the step's transaction: 1 with *plan; 0 when it is gone (the job fails with
 * its 404); -1 when the store failed (the step runs again). */
static int
job_plan(job_ctx_t *ctx, json_t **plan, err_t *err)
{
    int found;

    assert(ctx != NULL && plan != NULL);
    if (job_ctx_begin(ctx, err))
        return -1;
    found = store_rec_lookup(job_ctx_store(ctx), &store_kind_plan, job_ctx_resource(ctx), plan,
                             NULL, err);
    if (found == 0)
        err_set(err, ERR_NOT_FOUND, NULL, "The plan was not found.");
    return found;
}

/* Step 1 of plan.update: the plan takes its new settings. */
static job_step_result_t
step_update_plan(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *rec = NULL;
    int found = job_plan(ctx, &rec, err);

    if (found != 1)
        return found == 0 ? JOB_STEP_FAILED : JOB_STEP_RETRY;
    if (apply_plan_patch(rec, json_object_get(job_ctx_params(ctx), "patch"), err)) {
        json_decref(rec);
        return JOB_STEP_FAILED;
    }
    /* Billing sees plan changes (quotas, state, what is allowed) in the events feed. */
    if (store_rec_update(st, &store_kind_plan, job_ctx_resource(ctx), rec, 0, err) ||
        events_emit(st, "plan.updated", NULL, job_ctx_resource(ctx),
                    json_pack("{s:O, s:O}", "changes", json_object_get(job_ctx_params(ctx), "patch"),
                              "plan", rec),
                    err)) {
        json_decref(rec);
        return JOB_STEP_RETRY;
    }
    json_decref(rec);
    return JOB_STEP_DONE;
}

/* Step 2 of plan.update: the plan's subscriptions take its checkpoint mode. */
static job_step_result_t
step_apply_to_subscriptions(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    store_filter_t f = {.field = "planId", .op = STORE_FILTER_EQ, .value = job_ctx_resource(ctx)};
    int64_t after = 0, next = 0;
    json_t *plan = NULL, *page, *sub;
    size_t i;
    int found = job_plan(ctx, &plan, err);

    if (found != 1)
        return found == 0 ? JOB_STEP_FAILED : JOB_STEP_RETRY;
    do {
        page = store_rec_list(st, &store_kind_subscription, &f, 1, after, 500, &next, err);
        if (page == NULL)
            break;
        json_array_foreach(page, i, sub) {
            json_object_set(sub, "checkpointMode", json_object_get(plan, "checkpointMode"));
            if (store_rec_update(st, &store_kind_subscription, json_string_value(json_object_get(sub, "id")),
                                 sub, 0, err))
                break;
        }
        json_decref(page);
        after = next;
    } while (next != 0 && err->code == ERR_NONE);
    json_decref(plan);
    return err->code == ERR_NONE ? JOB_STEP_DONE : JOB_STEP_RETRY;
}

static const job_step_def_t plan_update_steps[] = {
    {"updatePlan", step_update_plan},
    {"applyToSubscriptions", step_apply_to_subscriptions},
    {NULL, NULL},
};

static const job_kind_def_t plan_update_kind = {
    .kind = "plan.update",
    .steps = plan_update_steps,
    .deadline_ms = 5 * 60 * 1000,
};

int
catalog_jobs_register(void)
{
    return job_kind_register(&plan_update_kind);
}

json_t *
catalog_plan_update(store_t *st, const char *id, const catalog_plan_patch_t *patch,
                    int64_t expect_rev, err_t *err)
{
    json_t *rec = NULL, *job = NULL, *params;

    assert(st != NULL && id != NULL && patch != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    rec = catalog__get_for_update(st, &store_kind_plan, id, expect_rev, err);
    if (rec == NULL)
        goto fail;
    /* Check the new settings now, so that a bad PATCH is a 400 rather than a failed job. */
    catalog__plan_set(rec, &patch->set, patch->given, patch->quotas_given);
    if (check_plan_refs(st, rec, err))
        goto fail;
    params = json_pack("{s:o}", "patch", catalog_plan_patch_to_json(patch));
    if (params == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        goto fail;
    }
    job = job_submit(st, "plan.update", id, NULL, id, params, err);
    json_decref(params);
    if (job == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(rec);
    return job;
fail:
    store_tx_rollback(st);
    json_decref(rec);
    json_decref(job);
    return NULL;
}

int
catalog_plan_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    return catalog__delete_unless_used(st, &store_kind_plan, id, &store_kind_subscription, "planId",
                                       "The plan has subscriptions; delete them first.", expect_rev,
                                       err);
}
