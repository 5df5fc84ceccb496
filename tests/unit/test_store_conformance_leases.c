/*
 * test_store_conformance_leases.c: the store's job leases (store.h) on every backend of the list in
 * test_store_conformance.h: on a store shared by several processes (PostgreSQL) a lease is held by one
 * owner at a time, taken over once expired, renewed and given back by its owner only, and the takeover
 * scan finds exactly the queued and running jobs no live lease covers; several daemons taking one job at
 * once get it once. A store of one process (SQLite) answers what store.h says: every take 1, renew and
 * give 0, and a scan that finds nothing.
 *
 * Then the job engine over them (lib/job/claim.c), on a shared store where another daemon is played by
 * leases taken in its name: a job whose lease another daemon holds is not run until that lease expires,
 * and is then taken over by the scan and its lease given back at its end; a cancel of a job another
 * daemon holds is a request on its row, not an end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "test_store_conformance.h"

#include "../../lib/job.h"
#include "../../lib/util.h"

#define NOW INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define LEASE INT64_C(15000)

static bool
shared(store_t *st)
{
    return strcmp(store_backend_name(st), "sqlite") != 0;
}

static json_t *
job(const char *id, const char *status)
{
    bool ended = strcmp(status, "queued") != 0 && strcmp(status, "running") != 0;

    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:[{s:s, s:s}], s:n, s:n, s:s, s:s?, s:s?, s:n, "
                     "s:n, s:n, s:i, s:n, s:i, s:i}",
                     "id", id, "kind", "vm.create", "status", status, "resourceId", "vm1",
                     "subscriptionId", "s1", "progress", 0, "steps", "name", "create", "status",
                     "pending", "error", "copy", "createdAt", TS, "startedAt",
                     strcmp(status, "queued") != 0 ? TS : NULL, "endedAt", ended ? TS : NULL, "_params",
                     "_data", "_lockKey", "_runAfterMs", 0, "_deadlineMs", "_attempts", 0, "_epoch", 0);
}

static int
take(store_t *st, const char *id, const char *owner, int64_t now)
{
    err_t err = {0};
    int rc = store_job_lease_take(st, id, owner, now, now + LEASE, &err);

    if (rc < 0)
        fail_msg("store_job_lease_take: %s", err.message);
    return rc;
}

/* The ids the takeover scan answers at now, as one comma-separated text. */
static void
unleased(store_t *st, int64_t now, char *out, size_t outn)
{
    err_t err = {0};
    json_t *ids = store_jobs_unleased(st, now, 100, &err), *id;
    size_t i, len = 0;

    if (ids == NULL)
        fail_msg("store_jobs_unleased: %s", err.message);
    out[0] = '\0';
    json_array_foreach(ids, i, id)
        len += (size_t) snprintf(out + len, outn - len, "%s%s", i ? "," : "", json_string_value(id));
    json_decref(ids);
}

/* One owner at a time; the same owner renews by taking again; an expired lease goes to the next taker;
 * give drops only the giver's own lease. */
static void
case_one_owner_at_a_time(store_t *st)
{
    err_t err = {0};

    put(st, &store_kind_job, job("j1", "running"));
    assert_int_equal(take(st, "j1", "a", NOW), 1);
    if (!shared(st)) {
        /* One process: its pool is the lease. */
        assert_int_equal(take(st, "j1", "b", NOW), 1);
        assert_int_equal(store_job_leases_renew(st, "a", NOW + LEASE, &err), 0);
        assert_int_equal(store_job_lease_give(st, "j1", "a", &err), 0);
        return;
    }
    assert_int_equal(take(st, "j1", "b", NOW + 1), 0);
    assert_int_equal(take(st, "j1", "a", NOW + 2), 1);            /* a's again: renewed to NOW + 2 + LEASE */
    assert_int_equal(take(st, "j1", "b", NOW + LEASE + 1), 0);    /* still a's */
    assert_int_equal(take(st, "j1", "b", NOW + LEASE + 2), 1);    /* expired at NOW + LEASE + 2: b's */
    assert_int_equal(take(st, "j1", "a", NOW + LEASE + 3), 0);
    /* a gives back what is no longer its own: nothing changes. */
    assert_int_equal(store_job_lease_give(st, "j1", "a", &err), 0);
    assert_int_equal(take(st, "j1", "a", NOW + LEASE + 4), 0);
    assert_int_equal(store_job_lease_give(st, "j1", "b", &err), 0);
    assert_int_equal(take(st, "j1", "a", NOW + LEASE + 5), 1);
    /* A give of a job nobody holds is a no-op too. */
    assert_int_equal(store_job_lease_give(st, "nobody", "a", &err), 0);
    assert_int_equal(err.code, ERR_NONE);
}
CASE(one_owner_at_a_time)

/* A renewal pushes every lease of its owner on, and only its owner's; it answers how many. */
static void
case_renew_pushes_owner_leases_on(store_t *st)
{
    err_t err = {0};

    put(st, &store_kind_job, job("j1", "running"));
    put(st, &store_kind_job, job("j2", "queued"));
    put(st, &store_kind_job, job("j3", "running"));
    assert_int_equal(take(st, "j1", "a", NOW), 1);
    assert_int_equal(take(st, "j2", "a", NOW), 1);
    assert_int_equal(take(st, "j3", "b", NOW), 1);
    if (!shared(st)) {
        assert_int_equal(store_job_leases_renew(st, "a", NOW + 3 * LEASE, &err), 0);
        return;
    }
    /* A lease on a job that ended (its give-back failed) is not renewed: it expires. */
    put(st, &store_kind_job, job("j4", "succeeded"));
    assert_int_equal(take(st, "j4", "a", NOW), 1);
    assert_int_equal(store_job_leases_renew(st, "a", NOW + 3 * LEASE, &err), 2);
    assert_int_equal(store_job_leases_renew(st, "nobody", NOW + 3 * LEASE, &err), 0);
    assert_int_equal(take(st, "j4", "c", NOW + 2 * LEASE), 1);
    /* Past the first lease's end: a's are live, b's expired. */
    assert_int_equal(take(st, "j1", "c", NOW + 2 * LEASE), 0);
    assert_int_equal(take(st, "j2", "c", NOW + 2 * LEASE), 0);
    assert_int_equal(take(st, "j3", "c", NOW + 2 * LEASE), 1);
    assert_int_equal(err.code, ERR_NONE);
}
CASE(renew_pushes_owner_leases_on)

/* The takeover scan: queued and running jobs whose lease is absent or expired, oldest first, at most
 * limit; never an ended job, never one under a live lease. */
static void
case_scan_finds_jobs_no_live_lease_covers(store_t *st)
{
    char ids[256];
    err_t err = {0};
    json_t *some;

    put(st, &store_kind_job, job("q-free", "queued"));
    put(st, &store_kind_job, job("r-live", "running"));
    put(st, &store_kind_job, job("r-expired", "running"));
    put(st, &store_kind_job, job("done", "succeeded"));
    put(st, &store_kind_job, job("q-given", "queued"));
    put(st, &store_kind_job, job("failed", "failed"));
    assert_int_equal(take(st, "r-live", "a", NOW), 1);
    assert_int_equal(take(st, "r-expired", "b", NOW - LEASE), 1);
    assert_int_equal(take(st, "done", "b", NOW - LEASE), 1);
    assert_int_equal(take(st, "q-given", "a", NOW), 1);
    assert_int_equal(store_job_lease_give(st, "q-given", "a", &err), 0);
    unleased(st, NOW, ids, sizeof(ids));
    if (!shared(st)) {
        assert_string_equal(ids, "");
        return;
    }
    assert_string_equal(ids, "q-free,r-expired,q-given");
    some = store_jobs_unleased(st, NOW, 2, &err);
    assert_int_equal(json_array_size(some), 2);
    json_decref(some);
    /* Later, a's live lease has expired too. */
    unleased(st, NOW + LEASE, ids, sizeof(ids));
    assert_string_equal(ids, "q-free,r-live,r-expired,q-given");
    /* A lease taken ends the job's stay in the scan. */
    assert_int_equal(take(st, "q-free", "c", NOW), 1);
    unleased(st, NOW, ids, sizeof(ids));
    assert_string_equal(ids, "r-expired,q-given");
}
CASE(scan_finds_jobs_no_live_lease_covers)

/* The jobs under a live lease, whoever holds it, among those asked about (ids quoted whatever they hold);
 * none on a store of one process. */
static void
case_leased_names_jobs_under_a_live_lease(store_t *st)
{
    err_t err = {0};
    json_t *ids, *held;

    put(st, &store_kind_job, job("j1", "queued"));
    put(st, &store_kind_job, job("j2", "queued"));
    put(st, &store_kind_job, job("j\"3,{x}\\", "queued"));
    assert_int_equal(take(st, "j1", "a", NOW), 1);
    assert_int_equal(take(st, "j2", "b", NOW - LEASE), 1); /* expired at NOW */
    assert_int_equal(take(st, "j\"3,{x}\\", "b", NOW), 1);
    ids = json_pack("[s, s, s, s]", "j1", "j2", "j\"3,{x}\\", "nobody");
    held = store_jobs_leased(st, ids, NOW, &err);
    assert_non_null(held);
    if (!shared(st)) {
        assert_int_equal(json_array_size(held), 0);
    } else {
        assert_int_equal(json_array_size(held), 2);
        assert_true(strcmp(json_string_value(json_array_get(held, 0)), "j1") == 0 ||
                    strcmp(json_string_value(json_array_get(held, 1)), "j1") == 0);
        assert_true(strcmp(json_string_value(json_array_get(held, 0)), "j\"3,{x}\\") == 0 ||
                    strcmp(json_string_value(json_array_get(held, 1)), "j\"3,{x}\\") == 0);
    }
    json_decref(held);
    json_decref(ids);
    ids = json_array();
    held = store_jobs_leased(st, ids, NOW, &err);
    assert_int_equal(json_array_size(held), 0);
    json_decref(held);
    json_decref(ids);
}
CASE(leased_names_jobs_under_a_live_lease)

/* A lease taken while the caller's transaction is open is its own statement: the transaction's rollback
 * leaves it taken, and it neither waits for nor joins the transaction. */
static void
case_lease_outside_the_transaction(store_t *st)
{
    err_t err = {0};

    put(st, &store_kind_job, job("j1", "queued"));
    assert_int_equal(store_tx_begin(st, &err), 0);
    put(st, &store_kind_job, job("j2", "queued"));
    assert_int_equal(take(st, "j1", "a", NOW), 1);
    store_tx_rollback(st);
    if (!shared(st))
        return;
    assert_int_equal(take(st, "j1", "b", NOW + 1), 0);
    assert_int_equal(store_rec_count(st, &store_kind_job, NULL, 0, &err), 1);
}
CASE(lease_outside_the_transaction)

#define RACERS 8

typedef struct {
    store_t *st;
    char owner[32];
    int won;
} racer_t;

static pthread_barrier_t start_line;

static void *
racer(void *arg)
{
    racer_t *r = arg;
    err_t err = {0};
    char id[32];
    int i, rc;

    pthread_barrier_wait(&start_line);
    for (i = 0; i < 20; i++) {
        snprintf(id, sizeof(id), "race-%d", i);
        rc = store_job_lease_take(r->st, id, r->owner, NOW, NOW + LEASE, &err);
        assert_true(rc >= 0);
        r->won += rc;
    }
    return NULL;
}

/* Eight owners on eight threads take the same twenty leases at once: each lease goes to exactly one. */
static void
case_racing_takers_get_each_lease_once(store_t *st)
{
    racer_t r[RACERS];
    pthread_t th[RACERS];
    int i, won = 0;

    if (!shared(st))
        return; /* one process: every take answers 1, by contract (case one_owner_at_a_time) */
    assert_int_equal(pthread_barrier_init(&start_line, NULL, RACERS), 0);
    for (i = 0; i < RACERS; i++) {
        r[i].st = st;
        r[i].won = 0;
        snprintf(r[i].owner, sizeof(r[i].owner), "owner-%d", i);
        assert_int_equal(pthread_create(&th[i], NULL, racer, &r[i]), 0);
    }
    for (i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        won += r[i].won;
    }
    pthread_barrier_destroy(&start_line);
    assert_int_equal(won, 20);
}
CASE(racing_takers_get_each_lease_once)

/* ---- the job engine over the leases ---- */

static int64_t stamped_ms; /* when the stamp step last ran */

static job_step_result_t
stamp(job_ctx_t *ctx, err_t *err)
{
    (void) ctx, (void) err;
    __atomic_store_n(&stamped_ms, util_now_ms(), __ATOMIC_SEQ_CST);
    return JOB_STEP_DONE;
}

static const job_step_def_t stamp_steps[] = {{"stamp", stamp}, {NULL, NULL}};
static const job_kind_def_t stamp_kind = {"l.stamp", stamp_steps, 0, NULL, NULL, NULL, NULL};

/* Submits an l.stamp job (no engine runs: nothing takes it up) and answers its id (static). */
static const char *
submit_stamp(store_t *st)
{
    static char id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    json_t *job;

    assert_int_equal(job_kind_register(&stamp_kind), 0);
    job = job_submit(st, "l.stamp", "res", NULL, NULL, NULL, &err);
    if (job == NULL)
        fail_msg("job_submit: %s", err.message);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(job, "id")));
    json_decref(job);
    return id;
}

static const char *
job_status(store_t *st, const char *id)
{
    static char status[16];
    err_t err = {0};
    json_t *job = store_rec_get(st, &store_kind_job, id, NULL, &err);

    assert_non_null(job);
    snprintf(status, sizeof(status), "%s", json_string_value(json_object_get(job, "status")));
    json_decref(job);
    return status;
}

/* Another daemon holds the job's lease for 3 s more: this engine leaves the job alone until the lease
 * expires, then its scan takes the job over; at the job's end the lease is given back (a third daemon may
 * take it at once, long before this engine's own 15 s would have run out). */
static void
case_engine_runs_a_job_only_under_its_own_lease(store_t *st)
{
    err_t err = {0};
    const char *id;
    int64_t until, deadline;

    if (!shared(st))
        return;
    id = submit_stamp(st);
    until = util_now_ms() + 3000;
    assert_int_equal(store_job_lease_take(st, id, "another-daemon", util_now_ms(), until, &err), 1);
    __atomic_store_n(&stamped_ms, 0, __ATOMIC_SEQ_CST);
    assert_int_equal(job_engine_start(st, 2, &err), 0);
    deadline = util_now_ms() + 30000;
    while (strcmp(job_status(st, id), "succeeded") != 0) {
        assert_true(util_now_ms() < deadline);
        usleep(20000);
    }
    job_engine_stop();
    assert_true(__atomic_load_n(&stamped_ms, __ATOMIC_SEQ_CST) >= until);
    assert_int_equal(take(st, id, "a-third-daemon", util_now_ms()), 1);
}
CASE(engine_runs_a_job_only_under_its_own_lease)

/* A cancel of a queued job another daemon holds (it runs the job; its row still says queued) records a
 * request the job's daemon honours, and shows the job running; once no daemon holds it, a cancel ends it. */
static void
case_cancel_of_a_job_another_daemon_holds_is_a_request(store_t *st)
{
    err_t err = {0};
    const char *id;
    json_t *view, *row;

    if (!shared(st))
        return;
    id = submit_stamp(st);
    assert_int_equal(take(st, id, "another-daemon", util_now_ms()), 1);
    view = job_cancel(st, id, NULL, &err);
    if (view == NULL)
        fail_msg("job_cancel: %s", err.message);
    assert_string_equal(json_string_value(json_object_get(view, "status")), "running");
    json_decref(view);
    row = store_rec_get(st, &store_kind_job, id, NULL, &err);
    assert_non_null(row);
    assert_string_equal(json_string_value(json_object_get(row, "status")), "queued");
    assert_true(json_is_true(json_object_get(json_object_get(row, "_data"), "cancelRequested")));
    json_decref(row);
    assert_int_equal(store_job_lease_give(st, id, "another-daemon", &err), 0);
    view = job_cancel(st, id, NULL, &err);
    if (view == NULL)
        fail_msg("job_cancel: %s", err.message);
    assert_string_equal(json_string_value(json_object_get(view, "status")), "canceled");
    json_decref(view);
}
CASE(cancel_of_a_job_another_daemon_holds_is_a_request)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_owner_at_a_time),
        cmocka_unit_test(renew_pushes_owner_leases_on),
        cmocka_unit_test(scan_finds_jobs_no_live_lease_covers),
        cmocka_unit_test(leased_names_jobs_under_a_live_lease),
        cmocka_unit_test(lease_outside_the_transaction),
        cmocka_unit_test(racing_takers_get_each_lease_once),
        cmocka_unit_test(engine_runs_a_job_only_under_its_own_lease),
        cmocka_unit_test(cancel_of_a_job_another_daemon_holds_is_a_request),
    };

    return cmocka_run_group_tests_name("store conformance: job leases", tests, NULL, NULL);
}
