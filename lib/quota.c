/*
 * quota.c: quota limits from the plan, reservation through the store's one-statement check (see quota.h).
 * quota_reserve takes the plan from its caller (the request's context); quota_adjust reads it, for callers
 * that hold none. quota_correct is the one recompute: the admin's reconcile and the periodic one
 * (lib/reconcile.c) both go through it.
 */
#include "quota.h"

#include <assert.h>

static void
plan_limits(const json_t *plan, int64_t limit[STORE_QUOTAS])
{
    const json_t *q = json_object_get(plan, "quotas"), *v;
    int i;

    for (i = 0; i < STORE_QUOTAS; i++) {
        v = json_object_get(q, store_quota_keys[i]);
        limit[i] = json_is_integer(v) ? json_integer_value(v) : -1;
    }
}

/* The reservation was refused: names the first quota that grows past its limit (409 QuotaExceeded). */
static int
quota_refused(store_t *st, const char *sid, const int64_t delta[STORE_QUOTAS],
              const int64_t limit[STORE_QUOTAS], err_t *err)
{
    int64_t usage[STORE_QUOTAS];
    int i;

    if (store_usage_get(st, sid, usage, err))
        return -1;
    for (i = 0; i < STORE_QUOTAS; i++)
        if (delta[i] > 0 && limit[i] >= 0 && usage[i] + delta[i] > limit[i])
            return err_set(err, ERR_QUOTA_EXCEEDED, store_quota_keys[i],
                           "The plan allows %lld %s; %lld are in use and %lld more were asked.",
                           (long long) limit[i], store_quota_keys[i], (long long) usage[i],
                           (long long) delta[i]);
    return err_set(err, ERR_NOT_FOUND, NULL, "The subscription was not found.");
}

int
quota_reserve(store_t *st, const char *sid, const json_t *plan, const int64_t delta[STORE_QUOTAS],
              err_t *err)
{
    int64_t limit[STORE_QUOTAS];
    int rc;

    assert(st != NULL && sid != NULL && plan != NULL);
    plan_limits(plan, limit);
    rc = store_usage_adjust(st, sid, delta, limit, err);
    return rc == 1 ? quota_refused(st, sid, delta, limit, err) : rc;
}

int
quota_adjust(store_t *st, const char *sid, const int64_t delta[STORE_QUOTAS], err_t *err)
{
    json_t *sub, *plan;
    int rc;

    sub = store_rec_get_shared(st, &store_kind_subscription, sid, NULL, err);
    if (sub == NULL)
        return -1;
    plan = store_rec_get_shared(st, &store_kind_plan,
                                json_string_value(json_object_get(sub, "planId")), NULL, err);
    json_decref(sub);
    if (plan == NULL)
        return -1;
    rc = quota_reserve(st, sid, plan, delta, err);
    json_decref(plan);
    return rc;
}

int
quota_apply(store_t *st, const char *sid, const int64_t delta[STORE_QUOTAS], err_t *err)
{
    int rc = store_usage_adjust(st, sid, delta, NULL, err);

    if (rc == 1)
        return err_set(err, ERR_NOT_FOUND, NULL, "The subscription was not found.");
    return rc;
}

json_t *
quota_usage(store_t *st, const char *sid, err_t *err)
{
    int64_t u[STORE_QUOTAS];
    json_t *o;
    int i;

    if (store_usage_get(st, sid, u, err))
        return NULL;
    o = json_object();
    for (i = 0; i < STORE_QUOTAS; i++)
        json_object_set_new(o, store_quota_keys[i], json_integer(u[i]));
    return o;
}

json_t *
quota_correct(store_t *st, const char *sid, err_t *err)
{
    int64_t before[STORE_QUOTAS], after[STORE_QUOTAS];
    json_t *corrected;
    int i;

    assert(st != NULL && sid != NULL && err != NULL);
    if (store_usage_get(st, sid, before, err) || store_usage_recompute(st, sid, after, err))
        return NULL;
    corrected = json_object();
    for (i = 0; i < STORE_QUOTAS; i++)
        if (before[i] != after[i])
            json_object_set_new(corrected, store_quota_keys[i],
                                json_pack("{s:I, s:I}", "before", (json_int_t) before[i], "after",
                                          (json_int_t) after[i]));
    if (json_object_size(corrected) > 0 && store_usage_set(st, sid, after, err)) {
        json_decref(corrected);
        return NULL;
    }
    return corrected;
}

json_t *
quota_reconcile(store_t *st, const char *sid, err_t *err)
{
    json_t *corrected;

    if (store_tx_begin(st, err))
        return NULL;
    if ((corrected = quota_correct(st, sid, err)) == NULL || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        json_decref(corrected);
        return NULL;
    }
    return json_pack("{s:o}", "corrected", corrected);
}
