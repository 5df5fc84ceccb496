/*
 * runner.c: running one job: its steps in order, resumption at the first unfinished step, retries with
 * backoff, the deadline, and the end (on_succeeded, or cleanup and on_failed) (see job.h).
 *
 * Life of a job's steps: pending -> running -> succeeded | failed (skipped by cancel or restart). One
 * commit records a step's own changes, its end and the next step's start, so a crash leaves the job at a
 * step boundary or inside a step whose changes rolled back; either way the job resumes at its first
 * unfinished step, which is why every step is idempotent.
 *
 * Commits: none to take a job up. A queued job is claimed by the commit that records its first step's end
 * (or its retry, failure or progress): that commit makes it running, started, its deadline set. So a job
 * of n steps costs n commits after its submit. Until that commit the row says queued, and what the API
 * shows comes from the pool: a job a worker holds is shown running (record.c), and a cancel, which cannot
 * hold such a job, records a request on its row rather than racing the step.
 *
 * Cancel of a running job: the request in the job's data is checked at every step boundary (before each
 * step, so after a step's commit, and when a job waiting for a poll or retry is run again); the job then
 * ends canceled, the step under way never interrupted. A step's commit that finds the row changed only by
 * such a request takes it in and commits (take_cancel_request).
 *
 * Undo before the end: a failed (or canceled) job's cleanup that could not yet undo what the job made on a
 * host says so (job_ctx_undo_pending); the end it is bound for is then kept in the job's data and the job,
 * still running, comes back after a backoff (restart included) straight to its cleanup, until the cleanup
 * is done or JOB_UNDO_MS have passed; only then do on_failed and the end run, so a failed job never ends
 * before its undo is done (or known undone by on_failed).
 *
 * Every end raises its event (job.succeeded, job.failed, job.canceled: job__emit_end) in the transaction
 * that records the job's final status, so the feed holds one such event exactly for each job that ended;
 * the same transaction's commit counts the end in /metrics (end.c).
 *
 * Invariants: the worker that runs a job holds it in the pool, so one job never runs twice at once; every
 * write of the row carries the revision this worker last saw, so a change made meanwhile by anyone else
 * (but a cancel request) wins and the runner lets the job go (412); ctx->in_tx is true exactly while this worker has a
 * transaction open for the step.
 */
#include "job_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fault.h"
#include "../jget.h"

#define DEFAULT_DEADLINE_MS (10 * 60 * 1000)
#define BACKOFF_BASE_MS 100
#define BACKOFF_MAX_MS 5000
#define MAX_STEPS 1024
/* The key of the job's data that holds the error of the running step's last try. */
#define RETRY_ERROR "retryError"
/* The key of the job's data a cleanup sets when what the job made is not undone yet. */
#define UNDO_PENDING "undoPending"
/* The key of the job's data that holds the end a job is bound for while its undo is pending. */
#define ENDING "ending"

/* Every job's deadline when > 0 (job_engine_set_deadline); else its kind's. */
static int64_t deadline_override_ms;

void
job_engine_set_deadline(int64_t ms)
{
    assert(ms >= 0);
    __atomic_store_n(&deadline_override_ms, ms, __ATOMIC_RELAXED);
}

/* ---- what steps see (the accessors are in ctx.c) ---- */

int
job_ctx_begin(job_ctx_t *ctx, err_t *err)
{
    assert(ctx != NULL);
    if (ctx->in_tx)
        return 0;
    if (store_tx_begin(ctx->st, err))
        return -1;
    ctx->in_tx = true;
    return 0;
}

/* A write of the job row found it changed (412): when the change is a cancel request on a job still queued
 * or running, this worker takes the request into its record and the row's revision, in the open
 * transaction, and its write goes on. -1 (err unchanged) for any other change: the worker lets the job go. */
static int
take_cancel_request(job_ctx_t *ctx, err_t *err)
{
    json_t *row = NULL;
    const char *status;
    int64_t rev = 0;
    err_t e = {0};
    int taken = 0;

    assert(ctx->in_tx);
    if (store_rec_lookup(ctx->st, &store_kind_job, job_ctx_id(ctx), &row, &rev, &e) == 1) {
        status = job__str(row, "status");
        taken = (strcmp(status, "queued") == 0 || strcmp(status, "running") == 0) &&
                json_is_true(json_object_get(json_object_get(row, "_data"), JOB_CANCEL_REQUESTED));
    }
    json_decref(row);
    if (!taken)
        return -1;
    json_object_set_new(job_ctx_data(ctx), JOB_CANCEL_REQUESTED, json_true());
    ctx->rev = rev;
    err_clear(err);
    return 0;
}

/* Writes the job row (in the open step transaction, or in one of its own) and commits. The row must still
 * be at the revision this worker last saw: otherwise someone else changed the job, and this worker lets it
 * go (412), unless that change was a cancel request, which it takes in (take_cancel_request). */
static int
save_job(job_ctx_t *ctx, err_t *err)
{
    int rc;

    if (job_ctx_begin(ctx, err))
        return -1;
    rc = store_rec_update(ctx->st, &store_kind_job, job_ctx_id(ctx), ctx->rec, ctx->rev, err);
    if (rc != 0 && err->code == ERR_PRECONDITION_FAILED && take_cancel_request(ctx, err) == 0)
        rc = store_rec_update(ctx->st, &store_kind_job, job_ctx_id(ctx), ctx->rec, ctx->rev, err);
    if (rc != 0 || store_tx_commit(ctx->st, err)) {
        store_tx_rollback(ctx->st);
        ctx->in_tx = false;
        return -1;
    }
    ctx->rev++;
    ctx->in_tx = false;
    return 0;
}

void
job_ctx_undo_pending(job_ctx_t *ctx)
{
    assert(ctx != NULL);
    json_object_set_new(job_ctx_data(ctx), UNDO_PENDING, json_true());
}

int
job_ctx_progress(job_ctx_t *ctx, int percent, err_t *err)
{
    assert(ctx != NULL);
    if (ctx->in_tx)
        return err_set(err, ERR_INTERNAL, NULL, "Progress is saved outside the step's transaction.");
    json_object_set_new(ctx->rec, "progress", json_integer(percent < 0 ? 0 : percent > 99 ? 99 : percent));
    return save_job(ctx, err);
}

void
job_ctx_set_copy(job_ctx_t *ctx, int64_t bytes_copied, int64_t bytes_total)
{
    int64_t pct;

    assert(ctx != NULL && bytes_copied >= 0 && bytes_total >= 0);
    if (bytes_copied > bytes_total)
        bytes_copied = bytes_total;
    pct = bytes_total > 0 ? bytes_copied * 99 / bytes_total : 0;
    json_object_set_new(ctx->rec, "copy", json_pack("{s:I, s:I}", "bytesCopied", (json_int_t) bytes_copied,
                                                    "bytesTotal", (json_int_t) bytes_total));
    json_object_set_new(ctx->rec, "progress", json_integer((json_int_t) pct));
}

static void
abandon_tx(job_ctx_t *ctx)
{
    if (ctx->in_tx) {
        store_tx_rollback(ctx->st);
        ctx->in_tx = false;
    }
}

/* ---- ends ---- */

/* The kind's cleanup could not undo yet what the job made: the end the job is bound for (code NULL: a
 * cancel) is recorded on its row (in its data, with the time the undo may take), and the job, still running,
 * comes back after a backoff straight to its end (job__run), restart included. False when that time is up:
 * the job ends now, and on_failed records what is left. */
static bool
undo_later(job_ctx_t *ctx, const char *code, const char *message)
{
    json_t *ending = json_object_get(job_ctx_data(ctx), ENDING);
    int64_t now = util_now_ms(), backoff;
    err_t err = {0};
    int attempts;

    if (!json_is_object(ending)) {
        ending = json_pack("{s:s?, s:s?, s:I}", "code", code, "message", message, "untilMs",
                           (json_int_t) (now + JOB_UNDO_MS));
        if (ending == NULL)
            return false;
        json_object_set_new(job_ctx_data(ctx), ENDING, ending);
    }
    if (now >= json_integer_value(json_object_get(ending, "untilMs")))
        return false;
    attempts = (int) json_integer_value(json_object_get(ctx->rec, "_attempts")) + 1;
    backoff = BACKOFF_BASE_MS << (attempts < 6 ? attempts : 6);
    if (backoff > BACKOFF_MAX_MS)
        backoff = BACKOFF_MAX_MS;
    json_object_set_new(ctx->rec, "_attempts", json_integer(attempts));
    json_object_set_new(ctx->rec, "_runAfterMs", json_integer(now + backoff));
    /* Not saved: the step runs again when the job next comes up (every step is idempotent), unless
     * someone else changed the job, which this worker then lets go. */
    if (save_job(ctx, &err) != 0 && err.code == ERR_PRECONDITION_FAILED)
        return true;
    job__enqueue(job_ctx_id(ctx), now + backoff);
    return true;
}

/* Ends the job: failed with code and message, or canceled (code NULL) at a step boundary, its current step
 * and those after it skipped. The kind's cleanup runs first (outside any transaction), then its on_failed in
 * the transaction that records the end. */
static void
end_job(job_ctx_t *ctx, const char *code, const char *message)
{
    char now[UTIL_TIME_LEN + 1];
    err_t err = {0};
    json_t *steps = json_object_get(ctx->rec, "steps");
    size_t i;

    abandon_tx(ctx);
    if (ctx->def && ctx->def->cleanup) {
        json_object_del(job_ctx_data(ctx), UNDO_PENDING);
        ctx->def->cleanup(ctx);
        if (json_is_true(json_object_get(job_ctx_data(ctx), UNDO_PENDING)) &&
            undo_later(ctx, code, message))
            return;
        json_object_del(job_ctx_data(ctx), UNDO_PENDING);
        json_object_del(job_ctx_data(ctx), ENDING); /* a restart of the job starts afresh */
    }
    job__now_text(now);
    if (code == NULL) {
        for (i = ctx->step >= 0 ? (size_t) ctx->step : 0; i < json_array_size(steps); i++)
            job__step_status_set(ctx->rec, (int) i, "skipped");
        job__status_set(ctx->rec, "canceled");
    } else {
        if (ctx->step >= 0)
            job__step_status_set(ctx->rec, ctx->step, "failed");
        job__status_set(ctx->rec, "failed");
        json_object_set_new(ctx->rec, "error",
                            json_pack("{s:s, s:s}", "code", code, "message", message));
    }
    json_object_set_new(ctx->rec, "endedAt", json_string(now));
    if (job_ctx_begin(ctx, &err) == 0 && ctx->def && ctx->def->on_failed &&
        ctx->def->on_failed(ctx, &err) != 0) {
        fprintf(stderr,
                "{\"level\":\"error\",\"msg\":\"job compensation failed\",\"job\":\"%s\"}\n",
                job_ctx_id(ctx));
        abandon_tx(ctx);
    }
    /* A failed or canceled job says so in the feed. */
    if (job_ctx_begin(ctx, &err) == 0 && job__emit_end(ctx->st, ctx->rec, &err) != 0)
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"job end event not recorded\",\"job\":\"%s\"}\n",
                job_ctx_id(ctx));
    if (save_job(ctx, &err) != 0) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"job end not recorded\",\"job\":\"%s\"}\n",
                job_ctx_id(ctx));
        /* Still running in the store: looked at again later, unless someone else changed it. */
        if (err.code != ERR_PRECONDITION_FAILED)
            job__enqueue(job_ctx_id(ctx), util_now_ms() + BACKOFF_MAX_MS);
    }
}

/* Ends the job failed with code and message. */
static void
fail_job(job_ctx_t *ctx, const char *code, const char *message)
{
    assert(code != NULL && message != NULL);
    end_job(ctx, code, message);
}

/* True when a cancel was asked of the job while it ran: it ends canceled at this step boundary. */
static bool
cancel_requested(job_ctx_t *ctx)
{
    return json_is_true(json_object_get(job_ctx_data(ctx), JOB_CANCEL_REQUESTED));
}

/* Marks the job succeeded and runs on_succeeded, and raises job.succeeded, in the transaction that will
 * record it. False when either failed: nothing is recorded and the job is looked at again shortly. */
static bool
finish_succeeded(job_ctx_t *ctx, err_t *err)
{
    char text[UTIL_TIME_LEN + 1];

    job__now_text(text);
    job__status_set(ctx->rec, "succeeded");
    json_object_set_new(ctx->rec, "progress", json_integer(100));
    json_object_set_new(ctx->rec, "endedAt", json_string(text));
    if (job_ctx_begin(ctx, err) || (ctx->def->on_succeeded && ctx->def->on_succeeded(ctx, err)) ||
        job__emit_end(ctx->st, ctx->rec, err)) {
        abandon_tx(ctx);
        job__enqueue(job_ctx_id(ctx), util_now_ms() + BACKOFF_BASE_MS);
        return false;
    }
    return true;
}

static size_t
first_unfinished(const json_t *steps)
{
    size_t i, n = json_array_size(steps);
    const char *s;

    for (i = 0; i < n; i++) {
        s = job__str(json_array_get(steps, i), "status");
        if (strcmp(s, "succeeded") != 0 && strcmp(s, "skipped") != 0)
            break;
    }
    return i;
}

/* ---- one job ---- */

/* Reads job id into ctx and makes it running, with its deadline set, in ctx->rec only: the step's commit
 * records the claim. Returns the deadline, or -1 when the job is not to run (gone, already ended, or ended
 * now for a kind this version does not know). */
static int64_t
claim(job_ctx_t *ctx, const char *id)
{
    err_t err = {0};
    char text[UTIL_TIME_LEN + 1];
    const char *status;
    int64_t now, allowed;
    int found;

    /* Not run here: a job that is gone; one the store cannot read now is looked at again later. */
    found = store_rec_lookup(ctx->st, &store_kind_job, id, &ctx->rec, &ctx->rev, &err);
    if (found < 0)
        job__enqueue(id, util_now_ms() + BACKOFF_MAX_MS);
    if (found != 1)
        return -1;
    status = job__str(ctx->rec, "status");
    if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0)
        return -1;
    ctx->def = job__find_kind(job__str(ctx->rec, "kind"));
    if (ctx->def == NULL) {
        fail_job(ctx, "InternalError", "This job's kind is not known to this version of wapd.");
        return -1;
    }
    now = util_now_ms();
    if (strcmp(status, "queued") == 0) {
        job__now_text(text);
        job__status_set(ctx->rec, "running");
        if (json_is_null(json_object_get(ctx->rec, "startedAt")))
            json_object_set_new(ctx->rec, "startedAt", json_string(text));
    }
    if (!json_is_integer(json_object_get(ctx->rec, "_deadlineMs"))) {
        allowed = __atomic_load_n(&deadline_override_ms, __ATOMIC_RELAXED);
        if (allowed <= 0)
            allowed = ctx->def->deadline_ms > 0 ? ctx->def->deadline_ms : DEFAULT_DEADLINE_MS;
        json_object_set_new(ctx->rec, "_deadlineMs", json_integer(now + allowed));
    }
    return json_integer_value(json_object_get(ctx->rec, "_deadlineMs"));
}

/* The step succeeded: one commit records its changes, its end, and the next step's start (or the job's
 * end). Returns 1 to go on with the next step, 0 when this worker is done with the job. */
static int
step_done(job_ctx_t *ctx, const json_t *steps, err_t *err)
{
    size_t n = json_array_size(steps), next;

    job__step_status_set(ctx->rec, ctx->step, "succeeded");
    json_object_set_new(ctx->rec, "_attempts", json_integer(0));
    json_object_del(job_ctx_data(ctx), RETRY_ERROR);
    next = first_unfinished(steps);
    if (next == n) {
        if (!finish_succeeded(ctx, err))
            return 0;
    } else {
        job__step_status_set(ctx->rec, (int) next, "running");
        json_object_set_new(ctx->rec, "progress", json_integer(job__progress_of(ctx->rec)));
    }
    err_clear(err);
    if (save_job(ctx, err) != 0) {
        /* The step's changes rolled back with the record: run it again later. */
        job__enqueue(job_ctx_id(ctx), util_now_ms() + BACKOFF_BASE_MS);
        return 0;
    }
    fault_crash_point(ctx->def->kind, ctx->step, true);
    if (next == n)
        return 0;
    return job__stopping() ? 0 : 1; /* a safe point: the rest runs after the next start */
}

/* Ends a job whose deadline came while its step was retrying: with the error of the step's last try
 * (e.g. HostUnreachable), or JobDeadlineExceeded when that try said nothing. */
static void
fail_at_deadline(job_ctx_t *ctx, const char *code, const char *message)
{
    fail_job(ctx, code && code[0] ? code : "JobDeadlineExceeded",
             message && message[0] ? message
                                   : "The job did not finish before its deadline; its last step kept "
                                     "failing.");
}

/* The step asked to run again: exponential backoff with jitter, within the deadline. The try's error is
 * kept in the job's data (RETRY_ERROR) until the step succeeds, so that a job found past its deadline
 * when it is next picked up still ends with it. */
static void
step_retry(job_ctx_t *ctx, int64_t deadline, err_t *err)
{
    int attempts = (int) json_integer_value(json_object_get(ctx->rec, "_attempts")) + 1;
    int64_t backoff = BACKOFF_BASE_MS << (attempts < 6 ? attempts : 6);

    if (backoff > BACKOFF_MAX_MS)
        backoff = BACKOFF_MAX_MS;
    backoff = backoff / 2 + (int64_t) (rand() % (int) (backoff / 2 + 1));
    if (util_now_ms() + backoff > deadline) {
        fail_at_deadline(ctx, err->code != ERR_NONE ? err_code_name(err->code) : NULL, err->message);
        return;
    }
    if (err->code != ERR_NONE)
        json_object_set_new(job_ctx_data(ctx), RETRY_ERROR,
                            json_pack("{s:s, s:s}", "code", err_code_name(err->code), "message",
                                      err->message));
    json_object_set_new(ctx->rec, "_attempts", json_integer(attempts));
    json_object_set_new(ctx->rec, "_runAfterMs", json_integer(util_now_ms() + backoff));
    save_job(ctx, err);
    job__enqueue(job_ctx_id(ctx), util_now_ms() + backoff);
}

/* The step's long operation goes on: its transaction (the step's own changes, such as a copy's progress on
 * the resource) commits with the job's record, and the step runs again in JOB_POLL_MS, within the
 * deadline. No backoff grows and no try is counted: the host answered. */
static void
step_poll(job_ctx_t *ctx, int64_t deadline, err_t *err)
{
    int64_t at = util_now_ms() + JOB_POLL_MS;

    if (at > deadline) {
        abandon_tx(ctx);
        fail_at_deadline(ctx, NULL, NULL);
        return;
    }
    json_object_set_new(ctx->rec, "_attempts", json_integer(0));
    json_object_del(job_ctx_data(ctx), RETRY_ERROR);
    json_object_set_new(ctx->rec, "_runAfterMs", json_integer(at));
    if (save_job(ctx, err) != 0) {
        if (err->code != ERR_PRECONDITION_FAILED)
            job__enqueue(job_ctx_id(ctx), util_now_ms() + BACKOFF_BASE_MS);
        return;
    }
    job__enqueue(job_ctx_id(ctx), at);
}

/* Ends a job whose end was put off until its cleanup is done (undo_later), at the step that failed. */
static void
end_again(job_ctx_t *ctx, const char *id, const json_t *steps)
{
    const json_t *ending = json_object_get(job_ctx_data(ctx), ENDING);
    char code[64], message[sizeof(((err_t *) 0)->message)];
    const char *c = jget_str(ending, "code");
    size_t i = first_unfinished(steps);

    snprintf(code, sizeof(code), "%s", c ? c : "");
    snprintf(message, sizeof(message), "%s", jget_str(ending, "message") ? jget_str(ending, "message") : "");
    ctx->step = i < json_array_size(steps) ? (int) i : -1;
    snprintf(ctx->op_id, sizeof(ctx->op_id), "%s:%zu:%lld", id, i,
             (long long) json_integer_value(json_object_get(ctx->rec, "_epoch")));
    end_job(ctx, c ? code : NULL, message);
}

/* Whether this daemon still holds the job's lease, renewed (taken again when its row went, as a give-back
 * by a daemon that took it over and let it go leaves it). False when another daemon holds it now, or when
 * the store cannot tell (the job is then looked at again after JOB_SCAN_MS, its lease still this
 * daemon's or expiring). */
static bool
lease_kept(job_ctx_t *ctx)
{
    err_t err = {0};
    int rc = job__lease_take(ctx->st, job_ctx_id(ctx), &err);

    if (rc == 1)
        return true;
    if (rc == 0)
        fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"job lease lost: another daemon runs the job\","
                        "\"job\":\"%s\"}\n", job_ctx_id(ctx));
    else
        job__enqueue(job_ctx_id(ctx), util_now_ms() + JOB_SCAN_MS);
    return false;
}

void
job__run(store_t *st, const char *id)
{
    job_ctx_t ctx;
    err_t err = {0};
    json_t *steps;
    const json_t *retried;
    char code[64];
    int64_t deadline;
    job_step_result_t res;
    size_t i, n;

    assert(st != NULL && id != NULL);
    memset(&ctx, 0, sizeof(ctx));
    ctx.st = st;
    ctx.step = -1;
    deadline = claim(&ctx, id);
    if (deadline < 0)
        goto out;
    steps = json_object_get(ctx.rec, "steps");
    n = json_array_size(steps);
    if (json_is_object(json_object_get(job_ctx_data(&ctx), ENDING))) {
        /* Its end is under way: the cleanup is tried again, and the job ends once it is done. */
        end_again(&ctx, id, steps);
        goto out;
    }
    for (bool first = true;; first = false) {
        assert(!ctx.in_tx);
        /* A step boundary on a store several daemons share: the lease, taken before the first step, is
         * still this daemon's (renewed now). A daemon that stalled past its lease may find another daemon
         * took the job over: it lets the job go, committing nothing (the other resumes it at this step). */
        if (!first && store_shared(st) && !lease_kept(&ctx))
            goto out;
        i = first_unfinished(steps);
        if (i == n) {
            /* A job with no steps, or resumed with every step done, ends now. */
            if (finish_succeeded(&ctx, &err))
                save_job(&ctx, &err);
            goto out;
        }
        ctx.step = (int) i;
        /* Named before anything can end the job: a failure's cleanup names its calls after it. */
        snprintf(ctx.op_id, sizeof(ctx.op_id), "%s:%zu:%lld", id, i,
                 (long long) json_integer_value(json_object_get(ctx.rec, "_epoch")));
        /* A step boundary: a cancel asked meanwhile ends the job here, before its next step. */
        if (cancel_requested(&ctx)) {
            end_job(&ctx, NULL, NULL);
            goto out;
        }
        if (util_now_ms() > deadline) {
            /* Copied: failing runs the kind's cleanup, which may change the job's data. */
            retried = json_object_get(job_ctx_data(&ctx), RETRY_ERROR);
            snprintf(code, sizeof(code), "%s", retried ? jget_str(retried, "code") : "");
            snprintf(err.message, sizeof(err.message), "%s",
                     retried ? jget_str(retried, "message") : "");
            fail_at_deadline(&ctx, code, err.message);
            goto out;
        }
        if (ctx.def->each == NULL && (i >= (size_t) MAX_STEPS || ctx.def->steps[i].name == NULL)) {
            fail_job(&ctx, "InternalError", "This job's steps are not known to this version of wapd.");
            goto out;
        }
        /* Recorded with the step's end: no commit of its own (see the top of this file). */
        job__step_status_set(ctx.rec, ctx.step, "running");
        err_clear(&err);
        fault_crash_point(ctx.def->kind, (int) i, false);
        fault_step_enter();
        res = ctx.def->each ? ctx.def->each(&ctx, &err) : ctx.def->steps[i].fn(&ctx, &err);
        fault_step_leave();
        if (res == JOB_STEP_DONE) {
            if (!step_done(&ctx, steps, &err))
                goto out;
            continue;
        }
        if (res == JOB_STEP_POLL) {
            err_clear(&err);
            step_poll(&ctx, deadline, &err);
            goto out;
        }
        abandon_tx(&ctx);
        if (res == JOB_STEP_FAILED)
            fail_job(&ctx, err.code != ERR_NONE ? err_code_name(err.code) : "StepFailed",
                     err.message[0] ? err.message : "The step failed.");
        else
            step_retry(&ctx, deadline, &err);
        goto out;
    }
out:
    abandon_tx(&ctx);
    json_decref(ctx.rec);
}
