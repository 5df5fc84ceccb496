/*
 * test_fault_loop.h: what the fault loops share: the VM world (test_vm_world.h) with room on its host for
 * every run, a fresh subscription per run, waiting until every job has ended, and the leak checks.
 * Include after <cmocka.h> and "fixture.h".
 *
 * The invariants a run must leave, whatever failed in it: no job queued or running; the run's subscription
 * (when it still exists) has quota counters equal to their recomputation from its resources; the host's
 * allocation equals what its VMs hold; a failed create holds no host capacity at all.
 */
#ifndef WAPD_TEST_FAULT_LOOP_H
#define WAPD_TEST_FAULT_LOOP_H

#include <stdio.h>
#include <string.h>

#include "../../lib/fault.h"
#include "test_vm_world.h"

/* A fault loop gives up (and fails) after this many runs that all met a fault. */
#define LOOP_MAX_RUNS 80

static const char *const loop_host_keys[3] = {"cores", "memoryMB", "storageGB"};

/* The world, with a host large enough for every VM the runs of one test leave behind. */
static inline int
loop_setup(void **state)
{
    world_t *w;
    json_t *patch, *host;
    err_t err = {0};

    assert_int_equal(accounts_jobs_register(), 0);
    assert_int_equal(catalog_jobs_register(), 0);
    world_setup(state);
    w = *state;
    patch = json_pack("{s:{s:i, s:i, s:i}}", "capacity", "cores", 100000, "memoryMB", 100000000,
                      "storageGB", 10000000);
    host = api_catalog_host_update(w->f->st, id_of(w->host), patch, 0, &err);
    if (host == NULL)
        fail_msg("host update failed: %s", err.message);
    json_decref(patch);
    json_decref(host);
    return 0;
}

static inline int
loop_teardown(void **state)
{
    fault_arm(FAULT_STORE, 0);
    fault_arm(FAULT_AGENT, 0);
    return world_teardown(state);
}

/* Replaces the world's subscription with a new one to its plan: each run starts from a clean slate. */
static inline void
loop_new_subscription(world_t *w)
{
    json_t *sub = make_subscription(w->f->st, w->user, w->plan);

    json_decref(w->sub);
    w->sub = sub;
}

/* Waits (polling, with a generous deadline) until no job is queued or running. */
static inline void
loop_wait_all_final(store_t *st)
{
    json_t *active = json_pack("[s, s]", "queued", "running");
    store_filter_t f = {.field = "status", .op = STORE_FILTER_IN, .values = active};
    int64_t deadline = util_now_ms() + 120000, n;
    err_t err = {0};

    for (;;) {
        n = store_rec_count(st, &store_kind_job, &f, 1, &err);
        assert_true(n >= 0);
        if (n == 0)
            break;
        if (util_now_ms() > deadline)
            fail_msg("%lld jobs still queued or running after two minutes", (long long) n);
        usleep(2000);
    }
    json_decref(active);
}

/* The host's allocation now, in loop_host_keys' order. */
static inline void
loop_host_allocated(world_t *w, int64_t out[3])
{
    err_t err = {0};
    json_t *host = store_rec_get(w->f->st, &store_kind_host, id_of(w->host), NULL, &err);
    int i;

    assert_non_null(host);
    for (i = 0; i < 3; i++)
        out[i] = json_integer_value(json_object_get(json_object_get(host, "allocated"),
                                                    loop_host_keys[i]));
    json_decref(host);
}

/* Whether something leaked: the subscription's counters (when it still exists) or the host's allocation
 * differ from their recomputation. True with the first difference described in msg. */
static inline bool
loop_find_leak(world_t *w, const char *what, char *msg, size_t size)
{
    int64_t usage[STORE_QUOTAS], again[STORE_QUOTAS], held[3], alloc[3];
    err_t err = {0};
    json_t *sub;
    int i;

    sub = store_rec_get(w->f->st, &store_kind_subscription, id_of(w->sub), NULL, &err);
    if (sub != NULL) {
        assert_int_equal(store_usage_get(w->f->st, id_of(w->sub), usage, &err), 0);
        assert_int_equal(store_usage_recompute(w->f->st, id_of(w->sub), again, &err), 0);
        json_decref(sub);
        for (i = 0; i < STORE_QUOTAS; i++)
            if (usage[i] != again[i]) {
                snprintf(msg, size, "%s: quota counter %d is %lld, its resources say %lld", what, i,
                         (long long) usage[i], (long long) again[i]);
                return true;
            }
    }
    err_clear(&err);
    loop_host_allocated(w, alloc);
    assert_int_equal(store_host_recompute(w->f->st, id_of(w->host), held, &err), 0);
    for (i = 0; i < 3; i++)
        if (alloc[i] != held[i]) {
            snprintf(msg, size, "%s: the host has %lld %s allocated, its VMs hold %lld", what,
                     (long long) alloc[i], loop_host_keys[i], (long long) held[i]);
            return true;
        }
    return false;
}

/* Nothing leaked (see loop_find_leak). what names the run in a failure. */
static inline void
loop_check_no_leak(world_t *w, const char *what)
{
    char msg[256];

    if (loop_find_leak(w, what, msg, sizeof(msg)))
        fail_msg("%s", msg);
}

/* A failed create holds no host capacity: the allocation is what it was before the run. */
static inline void
loop_check_nothing_held(world_t *w, const int64_t before[3], const char *what)
{
    int64_t now[3];
    int i;

    loop_host_allocated(w, now);
    for (i = 0; i < 3; i++)
        if (now[i] != before[i])
            fail_msg("%s: the failed create still holds %lld host %s", what,
                     (long long) (now[i] - before[i]), loop_host_keys[i]);
}

/* Ends the request's transaction: commits when the call answered rec, rolls back otherwise. Answers rec
 * (NULL when the commit failed). */
static inline json_t *
loop_commit_or_roll_back(store_t *st, json_t *rec, err_t *err)
{
    if (rec != NULL && store_tx_commit(st, err) == 0)
        return rec;
    store_tx_rollback(st);
    json_decref(rec);
    return NULL;
}

#endif
