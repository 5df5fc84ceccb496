/*
 * prune.c: checkpoints that go in bulk: the admin's prune job (checkpoint.prune: findCheckpoints,
 * deleteCheckpoints) and the automatic retention sweep of plans with checkpointRetentionHours.
 *
 * Both start one checkpoint delete job per VM whose checkpoint is old enough, through checkpoint_delete as
 * the admin; a busy VM is found again later (the prune step retries, the sweep runs again).
 */
#include <assert.h>
#include <string.h>

#include "../checkpoint.h"
#include "../job.h"
#include "../jget.h"
#include "../util.h"
#include "../vm/vmrec.h"
#include "prune.h"

/* 400 on field when id names no record of kind; 0 when it does (or id is NULL). */
static int
check_ref(store_t *st, const char *id, const char *field, const store_kind_t *kind,
          const char *message, err_t *err)
{
    int rc;

    if (id == NULL)
        return 0;
    rc = vmrec_exists(st, kind, id, NULL, NULL, err);
    if (rc == 0)
        return err_set(err, ERR_INVALID_REQUEST, field, "%s", message);
    return rc < 0 ? -1 : 0;
}

json_t *
checkpoint_prune(store_t *st, const checkpoint_prune_req_t *req, err_t *err)
{
    json_t *params, *job;

    assert(st != NULL && req != NULL && req->older_than_hours >= 0);
    if (check_ref(st, req->cloud_id, "cloudId", &store_kind_cloud, "No cloud has this id.", err) ||
        check_ref(st, req->plan_id, "planId", &store_kind_plan, "No plan has this id.", err))
        return NULL;
    /* The job's input, as step_find reads it. */
    params = json_pack("{s:s?, s:s?, s:I}", "cloudId", req->cloud_id, "planId", req->plan_id,
                       "olderThanHours", (json_int_t) req->older_than_hours);
    if (params == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    job = job_submit(st, "checkpoint.prune", NULL, NULL, NULL, params, err);
    json_decref(params);
    return job;
}

/* VMs whose checkpoint is older than cutoff_ms, of the plans that match (all when plan_id and cloud_id
 * are NULL); appends their ids to out. */
static int
find_old(store_t *st, const char *cloud_id, const char *plan_id, int64_t cutoff_ms, json_t *out,
         err_t *err)
{
    store_filter_t pf[1];
    size_t npf = 0, i, j, k;
    int64_t after = 0, next = 0, when;
    json_t *plans, *plan, *subs, *sub, *vms, *rec;
    vm_rec_t vm;

    if (cloud_id) {
        pf[0].field = "cloudId";
        pf[0].op = STORE_FILTER_EQ;
        pf[0].value = cloud_id;
        npf = 1;
    }
    plans = json_array();
    do {
        json_t *page = store_rec_list(st, &store_kind_plan, pf, npf, after, 500, &next, err);
        if (page == NULL) {
            json_decref(plans);
            return -1;
        }
        json_array_extend(plans, page);
        json_decref(page);
        after = next;
    } while (next);
    json_array_foreach(plans, i, plan) {
        store_filter_t sf = {.field = "planId", .op = STORE_FILTER_EQ, .value = jget_str(plan, "id")};
        if (plan_id && strcmp(plan_id, jget_str(plan, "id")) != 0)
            continue;
        subs = store_rec_list(st, &store_kind_subscription, &sf, 1, 0, 1000, &next, err);
        json_array_foreach(subs, j, sub) {
            store_filter_t vf = {.field = "subscriptionId", .op = STORE_FILTER_EQ,
                                 .value = jget_str(sub, "id")};
            vms = store_rec_list(st, &store_kind_vm, &vf, 1, 0, 1000, &next, err);
            json_array_foreach(vms, k, rec) {
                /* A record that does not parse has no checkpoint this job can merge away. */
                if (vmrec_from_store(rec, &vm, NULL) == 0 && vm.checkpoint.present &&
                    util_time_parse(vm.checkpoint.created_at, &when) == 0 && when <= cutoff_ms)
                    json_array_append_new(out, json_string(vm.id));
            }
            json_decref(vms);
        }
        json_decref(subs);
    }
    json_decref(plans);
    return 0;
}

static job_step_result_t
step_find(job_ctx_t *ctx, err_t *err)
{
    const json_t *p = job_ctx_params(ctx);
    int64_t hours = json_integer_value(json_object_get(p, "olderThanHours"));
    json_t *targets = json_array();

    if (find_old(job_ctx_store(ctx), jget_str(p, "cloudId"), jget_str(p, "planId"),
                 util_now_ms() - hours * 3600 * 1000, targets, err)) {
        json_decref(targets);
        return JOB_STEP_RETRY;
    }
    json_object_set_new(job_ctx_data(ctx), "targets", targets);
    json_object_set_new(job_ctx_data(ctx), "jobs", json_object());
    return JOB_STEP_DONE;
}

/* Starts a delete job per target VM (a busy VM is tried again later) and waits for them, showing
 * progress: the share of targets whose delete has ended. */
static job_step_result_t
step_prune(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *data = job_ctx_data(ctx), *targets = json_object_get(data, "targets"), *jobs, *t, *j;
    size_t i, n = json_array_size(targets), ended = 0;
    err_t refused; /* why a delete did not start: a status the step tests, never reported */

    jobs = json_object_get(data, "jobs");
    json_array_foreach(targets, i, t) {
        const char *vm_id = json_string_value(t);
        const char *jid = jget_str(jobs, vm_id);
        if (jid == NULL) {
            err_clear(&refused);
            j = checkpoint_delete(st, NULL, vm_id, &refused);
            if (j != NULL) {
                json_object_set(jobs, vm_id, json_object_get(j, "id"));
                json_decref(j);
            } else if (refused.code == ERR_NOT_FOUND || refused.code == ERR_NO_CHECKPOINT) {
                json_object_set_new(jobs, vm_id, json_string("")); /* nothing left to prune */
                ended++;
            }
            continue;
        }
        if (jid[0] == '\0') {
            ended++;
            continue;
        }
        j = job_get(st, jid, NULL, NULL, NULL);
        if (j == NULL ||
            (strcmp(jget_str(j, "status"), "queued") && strcmp(jget_str(j, "status"), "running")))
            ended++;
        json_decref(j);
    }
    json_object_set_new(data, "pruned", json_integer((json_int_t) ended));
    if (ended == n)
        return JOB_STEP_DONE;
    /* 50% for finding them, the rest as their deletes end. */
    job_ctx_progress(ctx, 50 + (int) (ended * 49 / (n ? n : 1)), err);
    err_clear(err);
    err_set(err, ERR_OPERATION_IN_PROGRESS, NULL, "%zu of %zu checkpoints merged away so far.",
            ended, n);
    return JOB_STEP_RETRY;
}

int
checkpoint_retention_sweep(store_t *st, int64_t now_ms, err_t *err)
{
    int64_t after = 0, next = 0, hours;
    json_t *page, *plan, *targets, *t, *j;
    size_t i, k;
    int started = 0;

    do {
        page = store_rec_list(st, &store_kind_plan, NULL, 0, after, 500, &next, err);
        if (page == NULL)
            return -1;
        json_array_foreach(page, i, plan) {
            if (!json_is_integer(json_object_get(plan, "checkpointRetentionHours")))
                continue;
            hours = json_integer_value(json_object_get(plan, "checkpointRetentionHours"));
            targets = json_array();
            if (find_old(st, NULL, jget_str(plan, "id"), now_ms - hours * 3600 * 1000, targets, err) ==
                0) {
                json_array_foreach(targets, k, t) {
                    j = checkpoint_delete(st, NULL, json_string_value(t), NULL);
                    if (j)
                        started++;
                    json_decref(j); /* busy VMs are found again by the next sweep */
                }
            }
            json_decref(targets);
        }
        json_decref(page);
        after = next;
    } while (next);
    return started;
}


static const job_step_def_t prune_steps[] = {
    {"findCheckpoints", step_find},
    {"deleteCheckpoints", step_prune},
    {NULL, NULL},
};
static const job_kind_def_t prune_kind = {
    "checkpoint.prune", prune_steps, 60 * 60 * 1000, NULL, NULL, NULL, NULL,
};

int
checkpoint__prune_register(void)
{
    return job_kind_register(&prune_kind);
}
