/*
 * catalog.c: the admin's catalog (see catalog.h).
 *
 * Invariants kept here:
 * - a host, plan or gallery item refers only to records that exist (checked with a clear 400 naming the
 *   field, and backed by the schema's foreign keys);
 * - a plan's quotas object always has the six quota keys, null meaning unlimited, and its allow lists are
 *   arrays (empty: all allowed);
 * - nothing in use is deleted: a cloud with hosts or plans, a plan with subscriptions (409 Conflict).
 */
#include "catalog.h"

#include <stdio.h>
#include <string.h>

#include "events.h"
#include "job.h"
#include "util.h"

static const char *const quota_keys[] = {"vms", "cores", "memoryMB", "storageGB", "vmRoles",
                                         "networks", NULL};

json_t *
catalog_record_new(const json_t *body)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    json_t *rec = json_deep_copy(body);

    if (rec == NULL)
        return NULL;
    util_uuid(id);
    util_time_format(util_now_ms(), now);
    json_object_set_new(rec, "id", json_string(id));
    json_object_set_new(rec, "createdAt", json_string(now));
    json_object_set_new(rec, "updatedAt", json_string(now));
    return rec;
}

void
catalog_record_touch(json_t *rec)
{
    char now[UTIL_TIME_LEN + 1];

    util_time_format(util_now_ms(), now);
    json_object_set_new(rec, "updatedAt", json_string(now));
}

void
catalog_record_merge(json_t *rec, const json_t *patch)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *) patch, key, value)
        json_object_set(rec, key, value);
    catalog_record_touch(rec);
}

/* Sets key to null in rec when it is absent. */
static void
default_null(json_t *rec, const char *key)
{
    if (json_object_get(rec, key) == NULL)
        json_object_set_new(rec, key, json_null());
}

static int
require_exists(store_t *st, const store_kind_t *kind, const char *id, const char *target,
               const char *what, err_t *err)
{
    err_t local = {0};
    json_t *rec = store_rec_get(st, kind, id, NULL, &local);

    if (rec != NULL) {
        json_decref(rec);
        return 0;
    }
    if (local.code == ERR_NOT_FOUND)
        return err_set(err, ERR_INVALID_REQUEST, target, "No %s has the id given in %s.", what,
                       target);
    return err_set(err, local.code, NULL, "%s", local.message);
}

static int
count_refs(store_t *st, const store_kind_t *kind, const char *field, const char *id, err_t *err)
{
    store_filter_t f = {.field = field, .op = STORE_FILTER_EQ, .value = id};
    int64_t n = store_rec_count(st, kind, &f, 1, err);

    return n < 0 ? -1 : (int) (n > 0);
}

/* Inserts rec inside its own (possibly nested) transaction; on success returns rec, else decrefs it. */
static json_t *
insert_or_free(store_t *st, const store_kind_t *kind, json_t *rec, err_t *err)
{
    if (rec == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    if (store_rec_insert(st, kind, rec, err)) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

/* Reads record id with its revision, checking expect_rev early for a clear 412. */
static json_t *
get_for_update(store_t *st, const store_kind_t *kind, const char *id, int64_t expect_rev,
               err_t *err)
{
    int64_t rev = 0;
    json_t *rec = store_rec_get(st, kind, id, &rev, err);

    if (rec != NULL && expect_rev > 0 && rev != expect_rev) {
        json_decref(rec);
        err_set(err, ERR_PRECONDITION_FAILED, NULL,
                "The resource has changed since the ETag in If-Match was read.");
        return NULL;
    }
    return rec;
}

/* ---- clouds ---- */

json_t *
catalog_cloud_create(store_t *st, const json_t *body, err_t *err)
{
    json_t *rec = catalog_record_new(body);

    if (rec)
        default_null(rec, "description");
    return insert_or_free(st, &store_kind_cloud, rec, err);
}

json_t *
catalog_cloud_update(store_t *st, const char *id, const json_t *patch, int64_t expect_rev,
                     err_t *err)
{
    json_t *rec = get_for_update(st, &store_kind_cloud, id, expect_rev, err);

    if (rec == NULL)
        return NULL;
    catalog_record_merge(rec, patch);
    if (store_rec_update(st, &store_kind_cloud, id, rec, expect_rev, err)) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

int
catalog_cloud_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    int used;

    if (store_tx_begin(st, err))
        return -1;
    if ((used = count_refs(st, &store_kind_host, "cloudId", id, err)) == 0)
        used = count_refs(st, &store_kind_plan, "cloudId", id, err);
    if (used < 0)
        goto fail;
    if (used > 0) {
        /* A missing cloud answers 404 before any conflict. */
        json_t *rec = store_rec_get(st, &store_kind_cloud, id, NULL, err);
        if (rec != NULL)
            err_set(err, ERR_CONFLICT, NULL,
                    "The cloud is in use by hosts or plans; remove them first.");
        json_decref(rec);
        goto fail;
    }
    if (store_rec_delete(st, &store_kind_cloud, id, expect_rev, err))
        goto fail;
    return store_tx_commit(st, err);
fail:
    store_tx_rollback(st);
    return -1;
}

/* ---- hosts ---- */

/* Checks a sim host's agent uri: "sim://" with optional latencyMs, jitterMs (integers >= 0), failRate,
 * hangRate (numbers in [0, 1]) and diffGBPerHour (a number >= 0). */
static int
check_sim_uri(const char *uri, err_t *err)
{
    const char *q, *p;
    char key[32], val[64];
    double d;
    char *end;
    int n;

    if (strncmp(uri, "sim://", 6) != 0)
        return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                       "A sim host's agent.uri must start with sim://.");
    q = strchr(uri + 6, '?');
    if (q == NULL)
        return 0;
    for (p = q + 1; *p;) {
        n = 0;
        if (sscanf(p, "%31[^=&]=%63[^&]%n", key, val, &n) != 2 || n == 0)
            return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                           "agent.uri parameters must be key=value pairs separated by &.");
        d = strtod(val, &end);
        if (*end != '\0' || d < 0)
            return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                           "agent.uri parameter %s must be a number of at least 0.", key);
        if (strcmp(key, "failRate") == 0 || strcmp(key, "hangRate") == 0) {
            if (d > 1)
                return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                               "agent.uri parameter %s must be between 0 and 1.", key);
        } else if (strcmp(key, "diffGBPerHour") == 0) {
            if (d > 1000000)
                return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                               "agent.uri parameter diffGBPerHour must be at most 1000000.");
        } else if (strcmp(key, "latencyMs") == 0 || strcmp(key, "jitterMs") == 0) {
            if (d != (double) (long) d || d > 600000)
                return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                               "agent.uri parameter %s must be whole milliseconds up to 600000.",
                               key);
        } else {
            return err_set(err, ERR_INVALID_REQUEST, "agent.uri",
                           "agent.uri has an unknown parameter %s.", key);
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return 0;
}

static int
check_agent(const json_t *agent, err_t *err)
{
    const char *kind = json_string_value(json_object_get(agent, "kind"));
    const json_t *uri = json_object_get(agent, "uri");

    if (kind == NULL || strcmp(kind, "sim") != 0)
        return err_set(err, ERR_INVALID_REQUEST, "agent.kind",
                       "Only agent kind 'sim' is available in this version; 'http' and 'libvirt' "
                       "hosts are not supported yet.");
    if (json_is_string(uri))
        return check_sim_uri(json_string_value(uri), err);
    return 0;
}

json_t *
catalog_host_create(store_t *st, const json_t *body, err_t *err)
{
    json_t *rec, *agent;

    if (require_exists(st, &store_kind_cloud, json_string_value(json_object_get(body, "cloudId")),
                       "cloudId", "cloud", err))
        return NULL;
    if (check_agent(json_object_get(body, "agent"), err))
        return NULL;
    rec = catalog_record_new(body);
    if (rec == NULL)
        return insert_or_free(st, &store_kind_host, NULL, err);
    agent = json_object_get(rec, "agent");
    if (!json_is_string(json_object_get(agent, "uri")))
        json_object_set_new(agent, "uri", json_string("sim://"));
    json_object_set_new(rec, "allocated",
                        json_pack("{s:i, s:i, s:i}", "cores", 0, "memoryMB", 0, "storageGB", 0));
    json_object_set_new(rec, "state", json_string("ok"));
    json_object_set(rec, "lastSeenAt", json_object_get(rec, "createdAt"));
    return insert_or_free(st, &store_kind_host, rec, err);
}

json_t *
catalog_host_update(store_t *st, const char *id, const json_t *patch, int64_t expect_rev,
                    err_t *err)
{
    static const char *const cap_keys[] = {"cores", "memoryMB", "storageGB", NULL};
    json_t *rec = get_for_update(st, &store_kind_host, id, expect_rev, err), *cap, *alloc, *v;
    const char *key;
    size_t i;

    if (rec == NULL)
        return NULL;
    cap = json_object_get(rec, "capacity");
    alloc = json_object_get(rec, "allocated");
    json_object_foreach((json_t *) patch, key, v) {
        if (strcmp(key, "capacity") == 0) {
            json_object_update_existing(cap, v);
        } else if (strcmp(key, "agent") == 0) {
            json_t *uri = json_object_get(v, "uri");
            if (json_is_string(uri)) {
                if (check_sim_uri(json_string_value(uri), err)) /* only sim hosts exist */
                    goto fail;
                json_object_set(json_object_get(rec, "agent"), "uri", uri);
            } else if (json_is_null(uri)) {
                json_object_set_new(json_object_get(rec, "agent"), "uri", json_string("sim://"));
            }
        } else {
            json_object_set(rec, key, v);
        }
    }
    for (i = 0; cap_keys[i]; i++) {
        if (json_integer_value(json_object_get(cap, cap_keys[i])) <
            json_integer_value(json_object_get(alloc, cap_keys[i]))) {
            char target[48];
            snprintf(target, sizeof(target), "capacity.%s", cap_keys[i]);
            err_set(err, ERR_CONFLICT, target,
                    "The new %s is less than what the host's VMs already hold.", target);
            goto fail;
        }
    }
    catalog_record_touch(rec);
    if (store_rec_update(st, &store_kind_host, id, rec, expect_rev, err))
        goto fail;
    return rec;
fail:
    json_decref(rec);
    return NULL;
}

int
catalog_host_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    json_t *rec;
    int used;

    if (store_tx_begin(st, err))
        return -1;
    rec = store_rec_get(st, &store_kind_host, id, NULL, err);
    if (rec == NULL)
        goto fail;
    json_decref(rec);
    /* Every VM placed there counts, deallocated ones too: their disks live on the host. */
    used = count_refs(st, &store_kind_vm, "hostId", id, err);
    if (used < 0)
        goto fail;
    if (used) {
        err_set(err, ERR_CONFLICT, NULL, "VMs live on this host; move or delete them first.");
        goto fail;
    }
    if (store_rec_delete(st, &store_kind_host, id, expect_rev, err))
        goto fail;
    return store_tx_commit(st, err);
fail:
    store_tx_rollback(st);
    return -1;
}

/* ---- sizes, images, gallery items ---- */

json_t *
catalog_size_create(store_t *st, const json_t *body, err_t *err)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    err_t local = {0};
    json_t *dup = store_rec_find(st, &store_kind_size, "name", name, &local);

    if (dup != NULL) {
        json_decref(dup);
        err_set(err, ERR_CONFLICT, "name", "A size named '%s' already exists.", name);
        return NULL;
    }
    if (local.code != ERR_NOT_FOUND) {
        err_set(err, local.code, NULL, "%s", local.message);
        return NULL;
    }
    return insert_or_free(st, &store_kind_size, catalog_record_new(body), err);
}

json_t *
catalog_image_create(store_t *st, const json_t *body, err_t *err)
{
    return insert_or_free(st, &store_kind_image, catalog_record_new(body), err);
}

json_t *
catalog_gallery_item_create(store_t *st, const json_t *body, err_t *err)
{
    const char *size = json_string_value(json_object_get(body, "defaultSize"));
    err_t local = {0};
    json_t *rec;

    if (require_exists(st, &store_kind_image, json_string_value(json_object_get(body, "imageId")),
                       "imageId", "image", err))
        return NULL;
    rec = store_rec_find(st, &store_kind_size, "name", size, &local);
    if (rec == NULL) {
        if (local.code == ERR_NOT_FOUND)
            err_set(err, ERR_INVALID_REQUEST, "defaultSize", "No size is named '%s'.", size);
        else
            err_set(err, local.code, NULL, "%s", local.message);
        return NULL;
    }
    json_decref(rec);
    if (json_integer_value(json_object_get(body, "minInstances")) >
        json_integer_value(json_object_get(body, "maxInstances"))) {
        err_set(err, ERR_INVALID_REQUEST, "minInstances",
                "minInstances must not be greater than maxInstances.");
        return NULL;
    }
    return insert_or_free(st, &store_kind_gallery_item, catalog_record_new(body), err);
}

/* ---- plans ---- */

int
catalog_plan_allows(const json_t *plan, const char *list_field, const char *value)
{
    const json_t *list = json_object_get(plan, list_field), *v;
    size_t i;

    if (json_array_size(list) == 0)
        return 1;
    json_array_foreach(list, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
            return 1;
    return 0;
}

/* Every id (or size name) in list must exist. */
static int
check_list(store_t *st, const json_t *list, const store_kind_t *kind, const char *by,
           const char *field, const char *what, err_t *err)
{
    char target[64];
    err_t local;
    json_t *v, *rec;
    size_t i;

    json_array_foreach(list, i, v) {
        err_clear(&local);
        snprintf(target, sizeof(target), "%s[%zu]", field, i);
        rec = strcmp(by, "id") == 0 ? store_rec_get(st, kind, json_string_value(v), NULL, &local)
                                    : store_rec_find(st, kind, by, json_string_value(v), &local);
        if (rec == NULL) {
            if (local.code == ERR_NOT_FOUND)
                return err_set(err, ERR_INVALID_REQUEST, target, "No %s matches %s.", what, target);
            return err_set(err, local.code, NULL, "%s", local.message);
        }
        json_decref(rec);
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
                   "galleryItemIds", "gallery item", err))
        return -1;
    return 0;
}

/* Gives quotas every key (null = unlimited), keeping the given values. */
static json_t *
normalize_quotas(const json_t *given)
{
    json_t *q = json_object(), *v;
    size_t i;

    for (i = 0; quota_keys[i]; i++) {
        v = json_is_object(given) ? json_object_get(given, quota_keys[i]) : NULL;
        json_object_set_new(q, quota_keys[i], v ? json_incref(v) : json_null());
    }
    return q;
}

json_t *
catalog_plan_create(store_t *st, const json_t *body, err_t *err)
{
    static const char *const lists[] = {"imageIds", "sizeNames", "galleryItemIds", NULL};
    json_t *rec;
    size_t i;

    if (require_exists(st, &store_kind_cloud, json_string_value(json_object_get(body, "cloudId")),
                       "cloudId", "cloud", err))
        return NULL;
    if (check_plan_refs(st, body, err))
        return NULL;
    rec = catalog_record_new(body);
    if (rec == NULL)
        return insert_or_free(st, &store_kind_plan, NULL, err);
    json_object_set_new(rec, "quotas", normalize_quotas(json_object_get(body, "quotas")));
    for (i = 0; lists[i]; i++)
        if (!json_is_array(json_object_get(rec, lists[i])))
            json_object_set_new(rec, lists[i], json_array());
    if (!json_is_string(json_object_get(rec, "state")))
        json_object_set_new(rec, "state", json_string("private"));
    if (!json_is_string(json_object_get(rec, "checkpointMode")))
        json_object_set_new(rec, "checkpointMode", json_string("disabled"));
    default_null(rec, "checkpointRetentionHours");
    return insert_or_free(st, &store_kind_plan, rec, err);
}

/* Applies a PATCH body to a plan record: given fields replace, quotas merge key by key, null lists and
 * quotas become empty ones. */
static void
apply_plan_patch(json_t *rec, const json_t *patch)
{
    static const char *const lists[] = {"imageIds", "sizeNames", "galleryItemIds", NULL};
    const char *key;
    json_t *v;
    size_t i;

    json_object_foreach((json_t *) patch, key, v) {
        if (strcmp(key, "quotas") == 0) {
            json_t *merged = json_deep_copy(json_object_get(rec, "quotas"));
            if (json_is_object(v))
                json_object_update(merged, v);
            else
                json_object_clear(merged); /* null: every limit lifted */
            json_object_set_new(rec, "quotas", normalize_quotas(merged));
            json_decref(merged);
        } else {
            json_object_set(rec, key, v);
        }
    }
    for (i = 0; lists[i]; i++)
        if (!json_is_array(json_object_get(rec, lists[i])))
            json_object_set_new(rec, lists[i], json_array());
    catalog_record_touch(rec);
}

/* Step 1 of plan.update: the plan takes its new settings. */
static job_step_result_t
step_update_plan(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *rec;

    if (job_ctx_begin(ctx, err))
        return JOB_STEP_RETRY;
    rec = store_rec_get(st, &store_kind_plan, job_ctx_resource(ctx), NULL, err);
    if (rec == NULL)
        return err->code == ERR_NOT_FOUND ? JOB_STEP_FAILED : JOB_STEP_RETRY;
    apply_plan_patch(rec, json_object_get(job_ctx_params(ctx), "patch"));
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
    json_t *plan, *page, *sub;
    size_t i;

    if (job_ctx_begin(ctx, err))
        return JOB_STEP_RETRY;
    plan = store_rec_get(st, &store_kind_plan, job_ctx_resource(ctx), NULL, err);
    if (plan == NULL)
        return err->code == ERR_NOT_FOUND ? JOB_STEP_FAILED : JOB_STEP_RETRY;
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
catalog_plan_update(store_t *st, const char *id, const json_t *patch, int64_t expect_rev,
                    err_t *err)
{
    json_t *rec = NULL, *job = NULL, *params;

    if (store_tx_begin(st, err))
        return NULL;
    rec = get_for_update(st, &store_kind_plan, id, expect_rev, err);
    if (rec == NULL)
        goto fail;
    /* Check the new settings now, so that a bad PATCH is a 400 rather than a failed job. */
    apply_plan_patch(rec, patch);
    if (check_plan_refs(st, rec, err))
        goto fail;
    params = json_pack("{s:O}", "patch", patch);
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
    json_t *rec;
    int used;

    if (store_tx_begin(st, err))
        return -1;
    rec = store_rec_get(st, &store_kind_plan, id, NULL, err);
    if (rec == NULL)
        goto fail;
    json_decref(rec);
    used = count_refs(st, &store_kind_subscription, "planId", id, err);
    if (used < 0)
        goto fail;
    if (used) {
        err_set(err, ERR_CONFLICT, NULL, "The plan has subscriptions; delete them first.");
        goto fail;
    }
    if (store_rec_delete(st, &store_kind_plan, id, expect_rev, err))
        goto fail;
    return store_tx_commit(st, err);
fail:
    store_tx_rollback(st);
    return -1;
}
