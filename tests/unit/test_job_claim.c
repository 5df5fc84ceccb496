/* Unit tests of the job engine's claim, folded into the first step's commit: a job of n steps costs n
 * commits after its submit; while a worker runs its first step the row still says queued, but the job
 * shows running, and a cancel asked then lets the step finish and ends the job canceled after it; a job
 * polling a long operation is canceled at its next poll; a queued job canceled while the workers are busy
 * never runs (a cancel holds the job until its caller's transaction ends); a change of the row made elsewhere during the first step wins over the step's commit, whose
 * writes roll back; and a crash between a first step's host call and its commit runs the step again, with
 * the same operation id, from a row that never left queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "fixture.h"

#include "../../lib/jget.h"
#include "../../lib/job.h"
#include "../../lib/job/job_internal.h"
#include "../../lib/util.h"

#define WAIT_MS 30000

static int gate_open;      /* the gate step returns once this is set */
static int gate_entered;   /* set by the gate step when it starts */
static int plain_runs;     /* runs of the plain step */
static int crash_in_step;  /* in the crash test's child: the counted step dies before it returns */
static char op_log[160];

/* Waits (polling, with a deadline) until *flag is set. */
static void
wait_flag(int *flag)
{
    int64_t deadline = util_now_ms() + WAIT_MS;

    while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST)) {
        assert_true(util_now_ms() < deadline);
        usleep(1000);
    }
}

static job_step_result_t
plain(job_ctx_t *ctx, err_t *err)
{
    (void) ctx;
    (void) err;
    __atomic_add_fetch(&plain_runs, 1, __ATOMIC_SEQ_CST);
    return JOB_STEP_DONE;
}

/* Waits at the gate (as a host call would take its time, no transaction open), then writes in the step's
 * transaction (a counter). */
static job_step_result_t
gate(job_ctx_t *ctx, err_t *err)
{
    int64_t n = 0;

    __atomic_store_n(&gate_entered, 1, __ATOMIC_SEQ_CST);
    wait_flag(&gate_open);
    if (job_ctx_begin(ctx, err) || store_meta_get(job_ctx_store(ctx), "t.gate", &n, err) < 0 ||
        store_meta_set(job_ctx_store(ctx), "t.gate", n + 1, err))
        return JOB_STEP_RETRY;
    return JOB_STEP_DONE;
}

/* As a host call would: logs its operation id, counts its run in the step's transaction, and, in the
 * crash test's child, dies before the step's commit. */
static job_step_result_t
counted(job_ctx_t *ctx, err_t *err)
{
    int64_t n = 0;
    FILE *fp = fopen(op_log, "a");

    if (fp != NULL) {
        fprintf(fp, "%s\n", job_ctx_op_id(ctx));
        fclose(fp);
    }
    if (job_ctx_begin(ctx, err) || store_meta_get(job_ctx_store(ctx), "t.counted", &n, err) < 0 ||
        store_meta_set(job_ctx_store(ctx), "t.counted", n + 1, err))
        return JOB_STEP_RETRY;
    if (crash_in_step)
        _exit(0); /* as kill -9 would: nothing after this point runs */
    return JOB_STEP_DONE;
}

static int poll_runs;      /* runs of the polling step */
static char failed_status[16]; /* job_ctx_status as on_failed saw it */

/* A long operation that never ends by itself: it polls until the job is canceled. */
static job_step_result_t
polling(job_ctx_t *ctx, err_t *err)
{
    (void) ctx;
    (void) err;
    __atomic_add_fetch(&poll_runs, 1, __ATOMIC_SEQ_CST);
    return JOB_STEP_POLL;
}

/* Records the status the job ends with, as a kind's compensation would read it. */
static int
record_failed(job_ctx_t *ctx, err_t *err)
{
    (void) err;
    assert_true(job_ctx_started(ctx));
    snprintf(failed_status, sizeof(failed_status), "%s", job_ctx_status(ctx));
    return 0;
}

static const job_step_def_t three_steps[] = {{"one", plain}, {"two", plain}, {"three", plain},
                                             {NULL, NULL}};
static const job_step_def_t one_step[] = {{"only", plain}, {NULL, NULL}};
static const job_step_def_t gate_steps[] = {{"gate", gate}, {"after", plain}, {NULL, NULL}};
static const job_step_def_t crash_steps[] = {{"counted", counted}, {"after", plain}, {NULL, NULL}};
static const job_kind_def_t three_kind = {"c.three", three_steps, 0, NULL, NULL, NULL, NULL};
static const job_kind_def_t one_kind = {"c.one", one_step, 0, NULL, NULL, NULL, NULL};
static const job_kind_def_t gate_kind = {"c.gate", gate_steps, 0, record_failed, NULL, NULL, NULL};
static const job_step_def_t poll_steps[] = {{"copy", polling}, {"after", plain}, {NULL, NULL}};
static const job_kind_def_t poll_kind = {"c.poll", poll_steps, 0, record_failed, NULL, NULL, NULL};
static const job_kind_def_t crash_kind = {"c.crash", crash_steps, 0, NULL, NULL, NULL, NULL};

static int
claim_setup(void **state)
{
    setup(state);
    gate_open = gate_entered = plain_runs = crash_in_step = poll_runs = 0;
    failed_status[0] = '\0';
    assert_int_equal(job_kind_register(&poll_kind), 0);
    assert_int_equal(job_kind_register(&three_kind), 0);
    assert_int_equal(job_kind_register(&one_kind), 0);
    assert_int_equal(job_kind_register(&gate_kind), 0);
    assert_int_equal(job_kind_register(&crash_kind), 0);
    return 0;
}

static int
claim_teardown(void **state)
{
    __atomic_store_n(&gate_open, 1, __ATOMIC_SEQ_CST); /* a failed test leaves no worker waiting */
    job_engine_stop();
    return teardown(state);
}

#define STATUS(job) jget_str((job), "status")
#define STEP_STATUS(job, i) jget_str(json_array_get(json_object_get((job), "steps"), (i)), "status")

/* Polls the job until it has ended, then asserts it ended `status`; its row's revision in *rev (may be
 * NULL). */
static void
expect_end(store_t *st, const json_t *job, const char *status, int64_t *rev)
{
    int64_t until = util_now_ms() + WAIT_MS;
    err_t err = {0};
    json_t *now = NULL;
    const char *s = "queued";

    for (; strcmp(s, "queued") == 0 || strcmp(s, "running") == 0; usleep(1000)) {
        assert_true(util_now_ms() < until);
        json_decref(now);
        now = job_get(st, id_of(job), NULL, rev, &err);
        assert_non_null(now);
        s = STATUS(now);
    }
    assert_string_equal(s, status);
    json_decref(now);
}

/* Starts the engine with one worker and keeps it busy in a c.gate job's first step, which it returns. */
static json_t *
busy_worker(store_t *st)
{
    err_t err = {0};
    json_t *job;

    assert_int_equal(job_engine_start(st, 1, &err), 0);
    job = job_submit(st, "c.gate", "res", NULL, NULL, NULL, &err);
    assert_non_null(job);
    wait_flag(&gate_entered);
    return job;
}

/* Submits a job of kind and returns its view, with the revision its submit committed in *rev. */
static json_t *
submit(store_t *st, const char *kind, int64_t *rev)
{
    err_t err = {0};
    json_t *job = job_submit(st, kind, "res", NULL, NULL, NULL, &err), *again;

    assert_non_null(job);
    if (rev != NULL) {
        again = store_rec_get(st, &store_kind_job, id_of(job), rev, &err);
        assert_non_null(again);
        json_decref(again);
    }
    return job;
}

static void
a_job_of_n_steps_costs_n_commits(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *a, *b;
    int64_t rev_a = 0, rev_b = 0, end = 0;

    /* Submitted before the engine runs, so that the revisions read are the submits'. */
    a = submit(f->st, "c.three", &rev_a);
    b = submit(f->st, "c.one", &rev_b);
    assert_int_equal(job_engine_start(f->st, 2, &err), 0);
    expect_end(f->st, a, "succeeded", &end);
    assert_int_equal(end - rev_a, 3);
    expect_end(f->st, b, "succeeded", &end);
    assert_int_equal(end - rev_b, 1);
    assert_int_equal(__atomic_load_n(&plain_runs, __ATOMIC_SEQ_CST), 4);
    json_decref(a);
    json_decref(b);
}

static void
a_job_in_its_first_step_shows_running_and_is_canceled_after_it(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *job = busy_worker(f->st), *view, *row;
    int64_t counted = 0, next = 0;
    int i;

    /* Nothing committed yet: the row says queued... */
    row = store_rec_get(f->st, &store_kind_job, id_of(job), NULL, &err);
    assert_string_equal(STATUS(row), "queued");
    json_decref(row);
    /* ...and the API says what is true. */
    view = job_get(f->st, id_of(job), NULL, NULL, &err);
    assert_string_equal(STATUS(view), "running");
    assert_true(json_is_string(json_object_get(view, "startedAt")));
    assert_string_equal(STEP_STATUS(view, 0), "running");
    assert_string_equal(STEP_STATUS(view, 1), "pending");
    json_decref(view);
    view = job_list(f->st, NULL, 0, 0, 10, &next, &err);
    assert_string_equal(STATUS(json_array_get(view, 0)), "running");
    json_decref(view);
    /* A cancel (twice: the same request) is recorded; the step under way is not interrupted. */
    for (i = 0; i < 2; i++) {
        view = job_cancel(f->st, id_of(job), NULL, &err);
        assert_non_null(view);
        assert_string_equal(STATUS(view), "running");
        json_decref(view);
    }
    __atomic_store_n(&gate_open, 1, __ATOMIC_SEQ_CST);
    expect_end(f->st, job, "canceled", NULL);
    /* The step finished and committed its writes; the next never ran; on_failed saw the cancel. */
    assert_int_equal(store_meta_get(f->st, "t.gate", &counted, &err), 0);
    assert_int_equal(counted, 1);
    assert_int_equal(__atomic_load_n(&plain_runs, __ATOMIC_SEQ_CST), 0);
    assert_string_equal(failed_status, "canceled");
    view = job_get(f->st, id_of(job), NULL, NULL, &err);
    assert_string_equal(STEP_STATUS(view, 0), "succeeded");
    assert_string_equal(STEP_STATUS(view, 1), "skipped");
    json_decref(view);
    /* An ended job cannot be canceled. */
    assert_null(job_cancel(f->st, id_of(job), NULL, &err));
    assert_int_equal(err.code, ERR_CONFLICT);
    json_decref(job);
}

/* A job polling a long operation waits between polls in the queue, held by no worker: a cancel then is
 * recorded on its running row, wakes it, and the job ends canceled at that boundary. */
static void
a_polling_job_is_canceled_at_its_next_poll(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *job, *view;
    int64_t deadline = util_now_ms() + WAIT_MS;

    assert_int_equal(job_engine_start(f->st, 1, &err), 0);
    job = job_submit(f->st, "c.poll", "res", NULL, NULL, NULL, &err);
    assert_non_null(job);
    while (__atomic_load_n(&poll_runs, __ATOMIC_SEQ_CST) < 2) {
        assert_true(util_now_ms() < deadline);
        usleep(1000);
    }
    view = job_cancel(f->st, id_of(job), NULL, &err);
    assert_non_null(view);
    assert_string_not_equal(STATUS(view), "canceled"); /* it ends at the boundary, not here */
    json_decref(view);
    expect_end(f->st, job, "canceled", NULL);
    assert_string_equal(failed_status, "canceled");
    assert_int_equal(__atomic_load_n(&plain_runs, __ATOMIC_SEQ_CST), 0);
    view = job_get(f->st, id_of(job), NULL, NULL, &err);
    assert_string_equal(STEP_STATUS(view, 0), "skipped");
    assert_string_equal(STEP_STATUS(view, 1), "skipped");
    json_decref(view);
    json_decref(job);
}

/* Cancels job, in a transaction of the caller's that then commits (or rolls back). */
static void
cancel_in_tx(store_t *st, const json_t *job, bool commit)
{
    err_t err = {0};
    json_t *c;

    assert_int_equal(store_tx_begin(st, &err), 0);
    c = job_cancel(st, id_of(job), NULL, &err);
    assert_non_null(c);
    assert_string_equal(STATUS(c), "canceled");
    json_decref(c);
    if (commit)
        assert_int_equal(store_tx_commit(st, &err), 0);
    else
        store_tx_rollback(st);
}

/* With the only worker busy, one queued job is canceled and another's cancel rolls back (a request's
 * transaction that failed): the cancel holds its job until that transaction ends. One worker takes jobs
 * in the order they were queued; the canceled job never runs, the other does. */
static void
a_queued_job_canceled_while_the_workers_are_busy_never_runs(void **state)
{
    fixture_t *f = *state;
    json_t *busy = busy_worker(f->st), *gone = submit(f->st, "c.one", NULL),
           *kept = submit(f->st, "c.one", NULL);

    cancel_in_tx(f->st, gone, true);
    cancel_in_tx(f->st, kept, false);
    __atomic_store_n(&gate_open, 1, __ATOMIC_SEQ_CST);
    expect_end(f->st, busy, "succeeded", NULL);
    expect_end(f->st, kept, "succeeded", NULL);
    expect_end(f->st, gone, "canceled", NULL);
    /* The gate job's second step and the job whose cancel rolled back; not the canceled job's. */
    assert_int_equal(__atomic_load_n(&plain_runs, __ATOMIC_SEQ_CST), 2);
    json_decref(busy);
    json_decref(gone);
    json_decref(kept);
}

/* Another writer (as another process would) ends the job while its first step runs: the step's commit
 * finds the row changed (412) and the worker lets the job go; the step's own writes roll back. */
static void
a_change_of_the_row_during_the_first_step_wins(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    json_t *job = busy_worker(f->st), *row;
    int64_t rev = 0, counted = -1, deadline;

    row = store_rec_get(f->st, &store_kind_job, id_of(job), &rev, &err);
    json_object_set_new(row, "status", json_string("canceled"));
    json_object_set_new(json_array_get(json_object_get(row, "steps"), 0), "status",
                        json_string("skipped"));
    json_object_set_new(json_array_get(json_object_get(row, "steps"), 1), "status",
                        json_string("skipped"));
    assert_int_equal(store_rec_update(f->st, &store_kind_job, id_of(job), row, rev, &err), 0);
    json_decref(row);
    __atomic_store_n(&gate_open, 1, __ATOMIC_SEQ_CST);
    deadline = util_now_ms() + WAIT_MS;
    while (job__worker_has(id_of(job), NULL)) {
        assert_true(util_now_ms() < deadline);
        usleep(1000);
    }
    expect_end(f->st, job, "canceled", NULL);
    assert_int_equal(store_meta_get(f->st, "t.gate", &counted, &err), 1); /* rolled back: unset */
    assert_int_equal(__atomic_load_n(&plain_runs, __ATOMIC_SEQ_CST), 0);
    json_decref(job);
}

/* The crash test's child: submits a c.crash job to a fresh engine and waits for the step to end the
 * process (exit 0). Never returns. */
static void
crash_child(const char *path)
{
    err_t err = {0};
    store_t *st = store_open(path, NULL, &err);
    int64_t until = util_now_ms() + WAIT_MS;

    crash_in_step = 1;
    if (st == NULL || job_engine_start(st, 1, &err) != 0)
        _exit(2);
    if (job_submit(st, "c.crash", "res", NULL, NULL, NULL, &err) == NULL)
        _exit(2);
    for (; util_now_ms() < until; usleep(2000))
        continue;
    _exit(3); /* the step never ran */
}

/* A child process takes a job up and dies inside its first step, after its host call and before the
 * step's commit. Nothing was committed for the job: it is queued, its first step pending; the next start
 * runs that step again with the same operation id (the host answers it from its record), and the step's
 * writes of the dead run rolled back. */
static void
a_crash_before_the_first_commit_runs_the_step_again(void **state)
{
    fixture_t *f = *state;
    err_t err = {0};
    char ids[2][128] = {"", ""};
    json_t *list = NULL, *job;
    int64_t counted = 0, next = 0;
    int status = -1;
    FILE *fp;
    pid_t pid;

    snprintf(op_log, sizeof(op_log), "%s/ops.log", f->dir);
    store_close(f->st); /* a connection is not carried across fork */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        crash_child(f->path);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    f->st = store_open(f->path, NULL, &err);
    assert_non_null(f->st);
    list = job_list(f->st, NULL, 0, 0, 10, &next, &err);
    assert_int_equal(json_array_size(list), 1);
    job = json_array_get(list, 0);
    assert_string_equal(STATUS(job), "queued");
    assert_string_equal(STEP_STATUS(job, 0), "pending");
    assert_int_equal(store_meta_get(f->st, "t.counted", &counted, &err), 1); /* rolled back: unset */
    assert_int_equal(job_engine_start(f->st, 1, &err), 0);
    expect_end(f->st, job, "succeeded", NULL);
    assert_int_equal(store_meta_get(f->st, "t.counted", &counted, &err), 0);
    assert_int_equal(counted, 1);
    fp = fopen(op_log, "r");
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%127s %127s", ids[0], ids[1]), 2);
    fclose(fp);
    assert_string_equal(ids[0], ids[1]);
    json_decref(list);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_job_of_n_steps_costs_n_commits, claim_setup,
                                        claim_teardown),
        cmocka_unit_test_setup_teardown(a_job_in_its_first_step_shows_running_and_is_canceled_after_it,
                                        claim_setup, claim_teardown),
        cmocka_unit_test_setup_teardown(a_polling_job_is_canceled_at_its_next_poll, claim_setup,
                                        claim_teardown),
        cmocka_unit_test_setup_teardown(a_queued_job_canceled_while_the_workers_are_busy_never_runs,
                                        claim_setup, claim_teardown),
        cmocka_unit_test_setup_teardown(a_change_of_the_row_during_the_first_step_wins, claim_setup,
                                        claim_teardown),
        cmocka_unit_test_setup_teardown(a_crash_before_the_first_commit_runs_the_step_again,
                                        claim_setup, claim_teardown),
    };

    return cmocka_run_group_tests_name("job_claim", tests, NULL, NULL);
}
