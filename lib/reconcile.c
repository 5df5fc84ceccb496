/*
 * reconcile.c: the periodic recompute of quota usage and host allocation (see reconcile.h).
 *
 * Which work counts as under way is decided inside the transaction that corrects, from the jobs that are
 * queued or running at that moment: requests reserve and submit their job in one transaction, so no
 * reservation can slip in between the check and the correction.
 * - A subscription is left alone while any job of it is under way. Only a subscription's own jobs hold
 *   its quota: a request reserves quota in the transaction that submits the job of that subscription,
 *   and every step changes records and counters together.
 * - A host is left alone while any job of no subscription is under way, or a job of a subscription whose
 *   plan is in the host's cloud (placement may be reserving there), or a job whose parameters name the
 *   host or its cloud (a migration's target, a copy to another cloud).
 * Quota usage is corrected through quota_correct, the same recompute as the admin's reconcile; a host's
 * allocation through store_host_allocate (cores, memory) and store_host_grow_storage, the only writers of
 * it.
 */
#include "reconcile.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jget.h"
#include "quota.h"
#include "util.h"

/* Records per page of the round's walk over subscriptions and hosts. */
#define PAGE 256

static uint64_t stat_runs, stat_subscriptions, stat_hosts;
static int64_t stat_last_ms;

/* One line of the daemon's JSON log on stderr, as the daemon writes its own. fields is stolen. */
static void
log_drift(const char *level, const char *msg, json_t *fields)
{
    char now[UTIL_TIME_LEN + 1];
    char *text;

    util_time_format(util_now_ms(), now);
    json_object_set_new(fields, "ts", json_string(now));
    json_object_set_new(fields, "level", json_string(level));
    json_object_set_new(fields, "msg", json_string(msg));
    text = util_json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
    if (text != NULL)
        fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(fields);
}

/* The jobs queued or running now (a new array), in the caller's transaction. */
static json_t *
jobs_under_way(store_t *st, err_t *err)
{
    json_t *states = json_pack("[s, s]", "queued", "running"), *jobs;
    store_filter_t f = {.field = "status", .op = STORE_FILTER_IN, .values = states};

    jobs = store_rec_list_all(st, &store_kind_job, &f, 1, err);
    json_decref(states);
    return jobs;
}

/* How many jobs of subscription sid are queued or running now (in the caller's transaction); -1 with err. */
static int64_t
subscription_jobs_under_way(store_t *st, const char *sid, err_t *err)
{
    json_t *states = json_pack("[s, s]", "queued", "running");
    store_filter_t f[2] = {{.field = "status", .op = STORE_FILTER_IN, .values = states},
                           {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = sid}};
    int64_t n = store_rec_count(st, &store_kind_job, f, 2, err);

    json_decref(states);
    return n;
}

/* True when one of the job's parameters (top level) is the string a. */
static bool
params_name(const json_t *job, const char *a)
{
    const char *key;
    json_t *v;

    json_object_foreach(json_object_get(job, "_params"), key, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), a) == 0)
            return true;
    }
    return false;
}

/* 1 when the job may be reserving on host (record, borrowed), 0 when not, -1 with err. */
static int
job_touches_host(store_t *st, const json_t *job, const json_t *host, err_t *err)
{
    const char *sid = jget_str(job, "subscriptionId"), *cloud = jget_str(host, "cloudId");
    json_t *sub = NULL, *plan = NULL;
    int rc;

    if (sid == NULL || params_name(job, jget_str(host, "id")) || (cloud && params_name(job, cloud)))
        return 1;
    if ((rc = store_rec_lookup_shared(st, &store_kind_subscription, sid, &sub, NULL, err)) <= 0)
        return rc < 0 ? -1 : 1; /* a subscription going away: its job may still release there */
    rc = store_rec_lookup_shared(st, &store_kind_plan, jget_str(sub, "planId"), &plan, NULL, err);
    if (rc == 1)
        rc = cloud == NULL || jget_str(plan, "cloudId") == NULL ||
             strcmp(jget_str(plan, "cloudId"), cloud) == 0;
    else if (rc == 0)
        rc = 1;
    json_decref(sub);
    json_decref(plan);
    return rc;
}

/* {key: value} of corrected's before (or after) values. */
static json_t *
side(const json_t *corrected, const char *which)
{
    json_t *out = json_object(), *v;
    const char *key;

    json_object_foreach((json_t *) corrected, key, v)
        json_object_set(out, key, json_object_get(v, which));
    return out;
}

/* Reconciles subscription sid in a transaction of its own: 1 when it drifted and was corrected, 0 when
 * not (or left for later), -1 with err. */
static int
reconcile_subscription(store_t *st, const char *sid, err_t *err)
{
    json_t *corrected = NULL;
    int64_t busy = 0;
    int rc = -1, exists;

    if (store_tx_begin(st, err))
        return -1;
    if ((exists = store_rec_lookup(st, &store_kind_subscription, sid, NULL, NULL, err)) < 0 ||
        (exists == 1 && (busy = subscription_jobs_under_way(st, sid, err)) < 0))
        goto out;
    rc = 0;
    if (exists == 1 && busy == 0) {
        if ((corrected = quota_correct(st, sid, err)) == NULL) {
            rc = -1;
            goto out;
        }
        rc = json_object_size(corrected) > 0;
    }
    if (store_tx_commit(st, err)) {
        rc = -1;
        goto out;
    }
    if (rc == 1)
        log_drift("warn", "quota usage drifted and was corrected",
                  json_pack("{s:s, s:s, s:o, s:o}", "what", "subscription", "id", sid, "before",
                            side(corrected, "before"), "after", side(corrected, "after")));
out:
    if (rc < 0)
        store_tx_rollback(st);
    json_decref(corrected);
    return rc;
}

static const char *const alloc_keys[3] = {"cores", "memoryMB", "storageGB"};

/* Moves host id's allocation from before to after, in the caller's transaction: 0, 1 when cores or
 * memory would grow past the capacity (left as they are; storage is corrected), -1 with err. */
static int
correct_host(store_t *st, const char *id, const int64_t before[3], const int64_t after[3], err_t *err)
{
    int rc = 0;

    if (after[0] != before[0] || after[1] != before[1])
        rc = store_host_allocate(st, id, after[0] - before[0], after[1] - before[1], 0, err);
    if (rc >= 0 && after[2] != before[2] &&
        store_host_grow_storage(st, id, after[2] - before[2], err))
        return -1;
    return rc;
}

static json_t *
alloc_json(const int64_t v[3])
{
    return json_pack("{s:I, s:I, s:I}", alloc_keys[0], (json_int_t) v[0], alloc_keys[1],
                     (json_int_t) v[1], alloc_keys[2], (json_int_t) v[2]);
}

/* Reconciles host id in a transaction of its own: 1 when it drifted (and was corrected), 0 when not (or
 * left for later), -1 with err. */
static int
reconcile_host(store_t *st, const char *id, err_t *err)
{
    json_t *host = NULL, *jobs = NULL, *job;
    int64_t before[3], after[3];
    int rc = -1, busy = 0, left = 0;
    size_t i;

    if (store_tx_begin(st, err))
        return -1;
    if ((busy = store_rec_lookup(st, &store_kind_host, id, &host, NULL, err)) != 1) {
        /* A host gone since the page was read: nothing to do. */
        rc = busy < 0 || store_tx_commit(st, err) ? -1 : 0;
        goto out;
    }
    if ((jobs = jobs_under_way(st, err)) == NULL)
        goto out;
    busy = 0;
    json_array_foreach(jobs, i, job) {
        if (busy == 0 && (busy = job_touches_host(st, job, host, err)) < 0)
            goto out;
    }
    rc = 0;
    if (busy == 0) {
        for (i = 0; i < 3; i++)
            before[i] = jget_int(json_object_get(host, "allocated"), alloc_keys[i]);
        if (store_host_recompute(st, id, after, err) ||
            (memcmp(before, after, sizeof(before)) != 0 &&
             (left = correct_host(st, id, before, after, err)) < 0)) {
            rc = -1;
            goto out;
        }
        rc = memcmp(before, after, sizeof(before)) != 0;
    }
    if (store_tx_commit(st, err)) {
        rc = -1;
        goto out;
    }
    if (rc == 1)
        log_drift(left ? "error" : "warn",
                  left ? "host allocation drifted; cores and memory exceed the capacity and were left"
                        : "host allocation drifted and was corrected",
                  json_pack("{s:s, s:s, s:o, s:o}", "what", "host", "id", id, "before",
                            alloc_json(before), "after", alloc_json(after)));
out:
    if (rc < 0)
        store_tx_rollback(st);
    json_decref(host);
    json_decref(jobs);
    return rc;
}

/* Calls one(st, id) for every record of kind, page by page; adds the drifts to *total and counts them in
 * *stat. 0, or -1 with err at the first failure. */
static int
walk(store_t *st, const store_kind_t *kind, int (*one)(store_t *, const char *, err_t *),
     uint64_t *stat, int *total, err_t *err)
{
    store_rec_key_t keys[PAGE];
    int64_t after = 0, next = 0;
    int i, n, rc;

    do {
        if (store_rec_list_keys(st, kind, NULL, 0, after, PAGE, keys, &n, &next, err))
            return -1;
        for (i = 0; i < n; i++) {
            if ((rc = one(st, keys[i].id, err)) < 0)
                return -1;
            if (rc == 1) {
                __atomic_add_fetch(stat, 1, __ATOMIC_RELAXED);
                (*total)++;
            }
        }
        after = next;
    } while (next != 0);
    return 0;
}

int
reconcile_run(store_t *st, err_t *err)
{
    int total = 0, rc;

    assert(st != NULL && err != NULL);
    rc = walk(st, &store_kind_subscription, reconcile_subscription, &stat_subscriptions, &total, err);
    if (rc == 0)
        rc = walk(st, &store_kind_host, reconcile_host, &stat_hosts, &total, err);
    __atomic_add_fetch(&stat_runs, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&stat_last_ms, util_now_ms(), __ATOMIC_RELAXED);
    return rc < 0 ? -1 : total;
}

void
reconcile_stats(reconcile_stats_t *out)
{
    assert(out != NULL);
    out->runs = __atomic_load_n(&stat_runs, __ATOMIC_RELAXED);
    out->subscriptions = __atomic_load_n(&stat_subscriptions, __ATOMIC_RELAXED);
    out->hosts = __atomic_load_n(&stat_hosts, __ATOMIC_RELAXED);
    out->last_run_ms = __atomic_load_n(&stat_last_ms, __ATOMIC_RELAXED);
}
