/* Unit tests of lib/job: the engine runs steps in order, retries transient faults with backoff, fails with
 * a code and message, honours deadlines (the engine's override too) and ends a job at its deadline with
 * its step's last error, one active job per lock key, cancel, restart, resumption at the
 * first unfinished step (also after a real crash in a child process, mid-step), and the pool's timed
 * wakeups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "fixture.h"

#include "../../lib/events.h"
#include "../../lib/fault.h"
#include "../../lib/job.h"
#include "../../lib/util.h"

static int runs[3];
static int retry_left;
static int fail_step_fails = 1;
static int compensated;

static job_step_result_t
step_count(job_ctx_t *ctx, int i)
{
    char key[8];

    __atomic_add_fetch(&runs[i], 1, __ATOMIC_SEQ_CST);
    snprintf(key, sizeof(key), "s%d", i);
    json_object_set_new(job_ctx_data(ctx), key, json_string(job_ctx_op_id(ctx)));
    return JOB_STEP_DONE;
}

static int64_t s0_at; /* when step s0 last ran */

static job_step_result_t
s0(job_ctx_t *ctx, err_t *err)
{
    (void) err;
    s0_at = util_now_ms();
    return step_count(ctx, 0);
}

static job_step_result_t
s1(job_ctx_t *ctx, err_t *err)
{
    (void) err;
    return step_count(ctx, 1);
}

static job_step_result_t
s2(job_ctx_t *ctx, err_t *err)
{
    (void) err;
    return step_count(ctx, 2);
}

static job_step_result_t
flaky(job_ctx_t *ctx, err_t *err)
{
    (void) ctx;
    if (__atomic_sub_fetch(&retry_left, 1, __ATOMIC_SEQ_CST) >= 0) {
        err_set(err, ERR_UNAVAILABLE, NULL, "Not yet.");
        return JOB_STEP_RETRY;
    }
    return JOB_STEP_DONE;
}

static job_step_result_t
breaks(job_ctx_t *ctx, err_t *err)
{
    (void) ctx;
    if (fail_step_fails) {
        err_set(err, ERR_CONFLICT, NULL, "The host refused.");
        return JOB_STEP_FAILED;
    }
    return JOB_STEP_DONE;
}

static job_step_result_t
never(job_ctx_t *ctx, err_t *err)
{
    (void) ctx;
    err_set(err, ERR_UNAVAILABLE, NULL, "Still down.");
    return JOB_STEP_RETRY;
}

static int unreachable_runs;

/* A step whose host never answers: retried until the deadline. */
static job_step_result_t
unreachable(job_ctx_t *ctx, err_t *err)
{
    (void) ctx;
    __atomic_add_fetch(&unreachable_runs, 1, __ATOMIC_SEQ_CST);
    err_set(err, ERR_HOST_UNREACHABLE, NULL, "The host does not answer.");
    return JOB_STEP_RETRY;
}

/* The operation id the failure's cleanup was given: a cleanup names its host calls after it. */
static char cleanup_op[160];

static void
unreach_cleanup(job_ctx_t *ctx)
{
    snprintf(cleanup_op, sizeof(cleanup_op), "%s", job_ctx_op_id(ctx));
}

static int
compensate(job_ctx_t *ctx, err_t *err)
{
    (void) ctx;
    (void) err;
    compensated++;
    return 0;
}

/* Set in the child process of the crash test: the step dies in the middle, its transaction open. */
static int crash_mid_step;
static char op_log[160];

/* Counts its runs in the store, in the step's own transaction, and logs its operation id to a file. */
static job_step_result_t
counted(job_ctx_t *ctx, err_t *err)
{
    int64_t n = 0;
    FILE *fp;

    if (job_ctx_begin(ctx, err) || store_meta_get(job_ctx_store(ctx), "t.counted", &n, err) < 0 ||
        store_meta_set(job_ctx_store(ctx), "t.counted", n + 1, err))
        return JOB_STEP_RETRY;
    fp = fopen(op_log, "a");
    if (fp != NULL) {
        fprintf(fp, "%s\n", job_ctx_op_id(ctx));
        fclose(fp);
    }
    if (crash_mid_step)
        _exit(0); /* as kill -9 would: nothing after this point runs */
    return JOB_STEP_DONE;
}

static const job_step_def_t ok_steps[] = {{"one", s0}, {"two", s1}, {"three", s2}, {NULL, NULL}};
static const job_step_def_t retry_steps[] = {{"flaky", flaky}, {"after", s2}, {NULL, NULL}};
static const job_step_def_t fail_steps[] = {{"one", s0}, {"breaks", breaks}, {"three", s2},
                                            {NULL, NULL}};
static const job_step_def_t never_steps[] = {{"never", never}, {NULL, NULL}};
static const job_step_def_t unreach_steps[] = {{"unreachable", unreachable}, {NULL, NULL}};
static const job_step_def_t crash_steps[] = {{"one", s0}, {"counted", counted}, {"three", s2},
                                             {NULL, NULL}};
static const job_kind_def_t crash_kind = {"t.crash", crash_steps, 0, NULL, NULL, NULL, NULL};
static const job_kind_def_t ok_kind = {"t.ok", ok_steps, 0, compensate, NULL, NULL, NULL};
static const job_kind_def_t retry_kind = {"t.retry", retry_steps, 0, NULL, NULL, NULL, NULL};
static const job_kind_def_t fail_kind = {"t.fail", fail_steps, 0, compensate, NULL, NULL, NULL};
static const job_kind_def_t never_kind = {"t.never", never_steps, 400, compensate, NULL, NULL, NULL};
/* The default deadline (10 minutes): only the engine's override ends it within a test. */
static const job_kind_def_t unreach_kind = {"t.unreach", unreach_steps, 0, NULL, unreach_cleanup, NULL,
                                            NULL};

static int
job_setup(void **state)
{
    setup(state);
    memset(runs, 0, sizeof(runs));
    compensated = 0;
    fail_step_fails = 1;
    assert_int_equal(job_kind_register(&ok_kind), 0);
    assert_int_equal(job_kind_register(&retry_kind), 0);
    assert_int_equal(job_kind_register(&fail_kind), 0);
    assert_int_equal(job_kind_register(&never_kind), 0);
    assert_int_equal(job_kind_register(&crash_kind), 0);
    assert_int_equal(job_kind_register(&unreach_kind), 0);
    unreachable_runs = 0;
    return 0;
}

static int
job_teardown(void **state)
{
    job_engine_stop();
    job_engine_set_deadline(0);
    return teardown(state);
}

static json_t *
wait_final(store_t *st, const char *id)
{
    int64_t deadline = util_now_ms() + 30000;
    err_t err = {0};
    json_t *job;
    const char *s;

    for (;;) {
        err_clear(&err);
        job = job_get(st, id, NULL, NULL, &err);
        assert_non_null(job);
        s = json_string_value(json_object_get(job, "status"));
        if (strcmp(s, "queued") != 0 && strcmp(s, "running") != 0)
            return job;
        json_decref(job);
        assert_true(util_now_ms() < deadline);
        usleep(2000);
    }
}

static const char *
status_of(const json_t *job)
{
    return json_string_value(json_object_get(job, "status"));
}

static const char *
step_status(const json_t *job, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(job, "steps"), i), "status"));
}

static void
runs_steps_in_order(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *job, *done, *rec;

    assert_int_equal(job_engine_start(f->st, 2, &err), 0);
    job = job_submit(f->st, "t.ok", "res-1", "sub-1", NULL, NULL, &err);
    assert_non_null(job);
    assert_string_equal(status_of(job), "queued");
    assert_null(json_object_get(job, "_params")); /* the view hides the engine's fields */
    done = wait_final(f->st, id_of(job));
    assert_string_equal(status_of(done), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(done, "progress")), 100);
    assert_string_equal(step_status(done, 2), "succeeded");
    assert_true(json_is_string(json_object_get(done, "startedAt")));
    assert_true(json_is_string(json_object_get(done, "endedAt")));
    assert_int_equal(runs[0] + runs[1] + runs[2], 3);
    /* Each step's data was saved with it, and operation ids differ per step. */
    rec = store_rec_get(f->st, &store_kind_job, id_of(job), NULL, &err);
    assert_string_not_equal(
        json_string_value(json_object_get(json_object_get(rec, "_data"), "s0")),
        json_string_value(json_object_get(json_object_get(rec, "_data"), "s1")));
    json_decref(rec);
    json_decref(done);
    json_decref(job);
}

static void
retries_transient_faults(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *job, *done;

    retry_left = 3;
    assert_int_equal(job_engine_start(f->st, 1, &err), 0);
    job = job_submit(f->st, "t.retry", "res-2", NULL, NULL, NULL, &err);
    done = wait_final(f->st, id_of(job));
    assert_string_equal(status_of(done), "succeeded");
    assert_true(retry_left < 0);
    json_decref(done);
    json_decref(job);
}

static void
fails_with_code_then_restarts(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *job, *done, *again;

    assert_int_equal(job_engine_start(f->st, 1, &err), 0);
    job = job_submit(f->st, "t.fail", "res-3", "sub-3", NULL, NULL, &err);
    done = wait_final(f->st, id_of(job));
    assert_string_equal(status_of(done), "failed");
    assert_string_equal(json_string_value(json_object_get(json_object_get(done, "error"), "code")),
                        "Conflict");
    assert_string_equal(step_status(done, 0), "succeeded");
    assert_string_equal(step_status(done, 1), "failed");
    assert_string_equal(step_status(done, 2), "pending");
    assert_int_equal(compensated, 1);
    assert_int_equal(runs[2], 0);
    json_decref(done);
    /* Only failed jobs restart; a tenant of another subscription cannot see it. */
    assert_null(job_restart(f->st, id_of(job), "sub-other", false, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    /* Restart skipping the failed step: the job ends after running step three. */
    err_clear(&err);
    again = job_restart(f->st, id_of(job), "sub-3", true, &err);
    assert_non_null(again);
    assert_string_equal(id_of(again), id_of(job));
    done = wait_final(f->st, id_of(job));
    assert_string_equal(status_of(done), "succeeded");
    assert_string_equal(step_status(done, 1), "skipped");
    assert_int_equal(runs[0], 1); /* the finished step did not run again */
    assert_int_equal(runs[2], 1);
    assert_null(job_restart(f->st, id_of(job), NULL, false, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    json_decref(done);
    json_decref(again);
    json_decref(job);
}

static void
deadline_ends_a_job(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *job, *done;

    assert_int_equal(job_engine_start(f->st, 1, &err), 0);
    job = job_submit(f->st, "t.never", "res-4", NULL, NULL, NULL, &err);
    done = wait_final(f->st, id_of(job));
    assert_string_equal(status_of(done), "failed");
    assert_non_null(json_object_get(json_object_get(done, "error"), "message"));
    assert_int_equal(compensated, 1);
    json_decref(done);
    json_decref(job);
}

static const char *
error_code(const json_t *job)
{
    return json_string_value(json_object_get(json_object_get(job, "error"), "code"));
}

static void
deadline_override_ends_a_job_with_its_last_error(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *job, *done;

    job_engine_set_deadline(300);
    assert_int_equal(job_engine_start(f->st, 1, &err), 0);
    job = job_submit(f->st, "t.unreach", "res-5", NULL, NULL, NULL, &err);
    done = wait_final(f->st, id_of(job));
    assert_string_equal(status_of(done), "failed");
    assert_string_equal(error_code(done), "HostUnreachable");
    assert_string_equal(json_string_value(json_object_get(json_object_get(done, "error"), "message")),
                        "The host does not answer.");
    assert_true(__atomic_load_n(&unreachable_runs, __ATOMIC_SEQ_CST) >= 1);
    json_decref(done);
    json_decref(job);
}

/* A job taken up again only after its deadline (the daemon was stopped while its step was retrying) ends
 * with the error of the step's last try, not a generic timeout. */
static void
deadline_found_later_keeps_the_last_error(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *job, *done;
    int64_t started, wait_until;

    job_engine_set_deadline(1000);
    started = util_now_ms();
    assert_int_equal(job_engine_start(f->st, 1, &err), 0);
    job = job_submit(f->st, "t.unreach", "res-6", NULL, NULL, NULL, &err);
    wait_until = util_now_ms() + 30000;
    while (__atomic_load_n(&unreachable_runs, __ATOMIC_SEQ_CST) == 0) {
        assert_true(util_now_ms() < wait_until);
        usleep(1000);
    }
    job_engine_stop();
    while (util_now_ms() <= started + 1100) /* the deadline passes while nothing runs */
        usleep(10000);
    done = job_get(f->st, id_of(job), NULL, NULL, &err);
    assert_string_equal(status_of(done), "running");
    json_decref(done);
    assert_int_equal(job_engine_start(f->st, 1, &err), 0);
    done = wait_final(f->st, id_of(job));
    assert_string_equal(status_of(done), "failed");
    assert_string_equal(error_code(done), "HostUnreachable");
    /* The cleanup ran with the step's operation id, although the step itself never ran again. */
    assert_memory_equal(cleanup_op, id_of(job), strlen(id_of(job)));
    assert_string_equal(cleanup_op + strlen(id_of(job)), ":0:0");
    json_decref(done);
    json_decref(job);
}

static void
one_active_job_per_lock_and_cancel(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *a, *b, *c, *done, *ends;
    int64_t next = 0;

    /* No engine yet: the jobs stay queued. */
    a = job_submit(f->st, "t.ok", "vm-1", NULL, "vm-1", NULL, &err);
    assert_non_null(a);
    b = job_submit(f->st, "t.ok", "vm-1", NULL, "vm-1", NULL, &err);
    assert_null(b);
    assert_int_equal(err.code, ERR_OPERATION_IN_PROGRESS);
    err_clear(&err);
    /* A store that fails at the insert is its own error, not a held lock. */
    fault_arm(FAULT_STORE, 2);
    assert_null(job_submit(f->st, "t.ok", "vm-1", NULL, "vm-1", NULL, &err));
    fault_arm(FAULT_STORE, 0);
    assert_int_equal(err.code, ERR_INTERNAL);
    err_clear(&err);
    /* A job of another subscription is as missing as one that does not exist. */
    assert_null(job_get(f->st, id_of(a), "sub-other", NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    assert_string_equal(err.message, "The job was not found.");
    err_clear(&err);
    c = job_cancel(f->st, id_of(a), NULL, &err);
    assert_non_null(c);
    assert_string_equal(status_of(c), "canceled");
    assert_string_equal(step_status(c, 0), "skipped");
    assert_int_equal(compensated, 1);
    json_decref(c);
    /* The lock is free again once the first job ended. */
    b = job_submit(f->st, "t.ok", "vm-1", NULL, "vm-1", NULL, &err);
    assert_non_null(b);
    assert_int_equal(job_engine_start(f->st, 1, &err), 0);
    done = wait_final(f->st, id_of(b));
    assert_string_equal(status_of(done), "succeeded");
    assert_null(job_cancel(f->st, id_of(b), NULL, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    /* Each end is one event, written with it: the cancel's, then the success's; a refused cancel none. */
    ends = events_page(f->st, 0, 100, &next, &err);
    assert_non_null(ends);
    assert_int_equal(json_array_size(ends), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ends, 0), "type")), "job.canceled");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(ends, 0), "data"),
                                                          "jobId")),
                        id_of(a));
    assert_string_equal(json_string_value(json_object_get(json_array_get(ends, 1), "type")),
                        "job.succeeded");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ends, 1), "resourceId")), "vm-1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(ends, 1), "data"),
                                                          "kind")),
                        "t.ok");
    json_decref(ends);
    json_decref(done);
    json_decref(a);
    json_decref(b);
}

static void
resumes_at_first_unfinished_step(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *job, *rec, *done;

    /* As a crash would leave it: running, its first step done, its second started. */
    job = job_submit(f->st, "t.ok", "res-5", NULL, NULL, NULL, &err);
    rec = store_rec_get(f->st, &store_kind_job, id_of(job), NULL, &err);
    json_object_set_new(rec, "status", json_string("running"));
    json_object_set_new(json_array_get(json_object_get(rec, "steps"), 0), "status",
                        json_string("succeeded"));
    json_object_set_new(json_array_get(json_object_get(rec, "steps"), 1), "status",
                        json_string("running"));
    assert_int_equal(store_rec_update(f->st, &store_kind_job, id_of(job), rec, 0, &err), 0);
    json_decref(rec);
    assert_int_equal(job_engine_start(f->st, 1, &err), 0);
    done = wait_final(f->st, id_of(job));
    assert_string_equal(status_of(done), "succeeded");
    assert_int_equal(runs[0], 0);
    assert_int_equal(runs[1], 1);
    assert_int_equal(runs[2], 1);
    json_decref(done);
    json_decref(job);
}

/* A child process runs a job and dies in the middle of its second step, the step's transaction open.
 * The next start resumes the job at that step: the first step does not run again, the dead step's
 * writes rolled back (its counter counts one run), and the step runs again with the same operation id,
 * so that a host which saw the first attempt answers it from its record. */
static void
resumes_after_a_crash_mid_step(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    char ids[2][128] = {"", ""};
    json_t *job = NULL, *done;
    int64_t counted_runs = 0, deadline, next = 0;
    int status = -1;
    FILE *fp;
    pid_t pid;

    snprintf(op_log, sizeof(op_log), "%s/ops.log", f->dir);
    store_close(f->st); /* a connection is not carried across fork */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        crash_mid_step = 1;
        f->st = store_open(f->path, NULL, &err);
        if (f->st == NULL || job_engine_start(f->st, 1, &err) ||
            (job = job_submit(f->st, "t.crash", "res-6", NULL, NULL, NULL, &err)) == NULL)
            _exit(2);
        deadline = util_now_ms() + 30000;
        while (util_now_ms() < deadline)
            usleep(2000);
        _exit(3); /* the step never ran */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    f->st = store_open(f->path, NULL, &err);
    assert_non_null(f->st);
    job = job_list(f->st, NULL, 0, 0, 10, &next, &err);
    assert_int_equal(json_array_size(job), 1);
    assert_string_equal(step_status(json_array_get(job, 0), 1), "running");
    assert_int_equal(job_engine_start(f->st, 1, &err), 0);
    done = wait_final(f->st, id_of(json_array_get(job, 0)));
    assert_string_equal(status_of(done), "succeeded");
    assert_int_equal(runs[0], 0); /* in this process: the first step was done before the crash */
    assert_int_equal(runs[2], 1);
    assert_int_equal(store_meta_get(f->st, "t.counted", &counted_runs, &err), 0);
    assert_int_equal(counted_runs, 1);
    fp = fopen(op_log, "r");
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%127s %127s", ids[0], ids[1]), 2);
    fclose(fp);
    assert_string_equal(ids[0], ids[1]);
    json_decref(done);
    json_decref(job);
}

/* A job due later (a retry's time, as a previous run saved it) is not taken before it is due: the pool
 * sleeps until then and wakes by itself, with no new work to wake it. */
static void
a_job_due_later_wakes_the_pool_when_due(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *job, *rec, *done;
    int64_t due;

    job = job_submit(f->st, "t.ok", "res-7", NULL, NULL, NULL, &err);
    rec = store_rec_get(f->st, &store_kind_job, id_of(job), NULL, &err);
    due = util_now_ms() + 300;
    json_object_set_new(rec, "_runAfterMs", json_integer(due));
    assert_int_equal(store_rec_update(f->st, &store_kind_job, id_of(job), rec, 0, &err), 0);
    json_decref(rec);
    assert_int_equal(job_engine_start(f->st, 2, &err), 0);
    done = wait_final(f->st, id_of(job));
    assert_string_equal(status_of(done), "succeeded");
    assert_true(s0_at >= due);
    assert_int_equal(runs[0] + runs[1] + runs[2], 3);
    json_decref(done);
    json_decref(job);
}

/* A job the store cannot read when a worker takes it up is looked at again later, not forgotten until
 * the next start: the worker's read of the job fails once, and the job still runs. */
static void
a_job_the_store_cannot_read_is_taken_up_again(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *job, *rec, *done;
    int64_t deadline;

    job = job_submit(f->st, "t.ok", "res-8", NULL, NULL, NULL, &err);
    rec = store_rec_get(f->st, &store_kind_job, id_of(job), NULL, &err);
    json_object_set_new(rec, "_runAfterMs", json_integer(util_now_ms() + 300));
    assert_int_equal(store_rec_update(f->st, &store_kind_job, id_of(job), rec, 0, &err), 0);
    json_decref(rec);
    assert_int_equal(job_engine_start(f->st, 1, &err), 0);
    /* The next store call is the worker's, when the job falls due: this thread makes none meanwhile. */
    fault_arm(FAULT_STORE, 1);
    deadline = util_now_ms() + 30000;
    while (!fault_fired(FAULT_STORE)) {
        assert_true(util_now_ms() < deadline);
        usleep(2000);
    }
    fault_arm(FAULT_STORE, 0);
    done = wait_final(f->st, id_of(job));
    assert_string_equal(status_of(done), "succeeded");
    json_decref(done);
    json_decref(job);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(runs_steps_in_order, job_setup, job_teardown),
        cmocka_unit_test_setup_teardown(retries_transient_faults, job_setup, job_teardown),
        cmocka_unit_test_setup_teardown(fails_with_code_then_restarts, job_setup, job_teardown),
        cmocka_unit_test_setup_teardown(deadline_ends_a_job, job_setup, job_teardown),
        cmocka_unit_test_setup_teardown(deadline_override_ends_a_job_with_its_last_error, job_setup,
                                        job_teardown),
        cmocka_unit_test_setup_teardown(deadline_found_later_keeps_the_last_error, job_setup,
                                        job_teardown),
        cmocka_unit_test_setup_teardown(one_active_job_per_lock_and_cancel, job_setup,
                                        job_teardown),
        cmocka_unit_test_setup_teardown(resumes_at_first_unfinished_step, job_setup, job_teardown),
        cmocka_unit_test_setup_teardown(resumes_after_a_crash_mid_step, job_setup, job_teardown),
        cmocka_unit_test_setup_teardown(a_job_due_later_wakes_the_pool_when_due, job_setup,
                                        job_teardown),
        cmocka_unit_test_setup_teardown(a_job_the_store_cannot_read_is_taken_up_again, job_setup,
                                        job_teardown),
    };

    return cmocka_run_group_tests_name("job", tests, NULL, NULL);
}
