/*
 * job.h: jobs and the engine that runs them.
 *
 * Every long-running change is a job: a kind ("plan.update"), the resource it changes, the subscription it
 * belongs to (NULL for admin-only jobs), and named steps, run in order by a pool of worker threads.
 *
 * Guarantees:
 * - A job is created in the caller's transaction and the workers are woken only when that transaction has
 *   committed: an answered 202 always names a durable job, and a rolled-back request leaves none.
 * - Progress is recorded after each step, in the same transaction as the step's own changes: a job of n
 *   steps costs n commits after its submit, the first of which also records that it started (no commit
 *   of its own claims a job). While a worker runs a job its views say running, even before that first
 *   commit, and a cancel answers that it is running. After a crash a job resumes at its first unfinished
 *   step; a step may therefore run again, so every step is idempotent (agent calls carry an operation id
 *   made of the job, the step and the restart epoch).
 * - A step answers done, retry (a transient fault: run again after a growing backoff), poll (a long
 *   operation goes on: run again soon, its progress saved) or failed. A job
 *   whose deadline passes, or whose step fails, ends `failed` with error.code and error.message, after
 *   its kind's on_failed has put its resource back in a true state.
 * - A running job canceled ends canceled at its next step boundary: a step is never interrupted.
 * - At most one queued or running job per lock key (a VM's id, say): a second is 409 OperationInProgress.
 * - Workers wait on a condition variable: they are woken by new work (one worker per job) and by the
 *   earliest retry time, never by polling; taking and putting back a job costs O(log n) under the pool's
 *   lock, which is held for nothing else.
 */
#ifndef WAPD_JOB_H
#define WAPD_JOB_H

#include <stdbool.h>

#include <jansson.h>

#include "err.h"
#include "store.h"

typedef struct job_ctx job_ctx_t;

typedef enum {
    JOB_STEP_DONE,
    JOB_STEP_RETRY,  /* transient: run the step again later, until the job's deadline */
    JOB_STEP_FAILED, /* permanent: the job fails with err */
    JOB_STEP_POLL,   /* the host is still carrying a long operation out (a copy): the step's transaction
                      * (if open) commits with the job's record, progress and copy included, and the step
                      * runs again in JOB_POLL_MS, with no backoff, until its deadline */
} job_step_result_t;

#define JOB_POLL_MS 500

typedef job_step_result_t (*job_step_fn)(job_ctx_t *ctx, err_t *err);

typedef struct {
    const char *name;
    job_step_fn fn;
} job_step_def_t;

typedef struct {
    const char *kind;
    const job_step_def_t *steps; /* ended by {NULL, NULL} */
    int deadline_ms;             /* from the job's first run; 0: 10 minutes */
    /* Runs in the transaction that records the failure (or cancel), to leave the resource in a true
     * state; may be NULL. job_ctx_status tells a failure from a cancel. */
    int (*on_failed)(job_ctx_t *ctx, err_t *err);
    /* Runs before that transaction, outside any, when the job failed or was canceled while it ran (not
     * when canceled while queued): the place to ask the host what is true (agent calls); may save findings
     * in job_ctx_data for on_failed. May be NULL. A cleanup that could not yet undo what the job made on a
     * host calls job_ctx_undo_pending: the job then stays running, its end recorded on its row, and the
     * cleanup runs again after a backoff (after a restart too) until it no longer asks, or JOB_UNDO_MS
     * have passed; only then does on_failed run and the job end. */
    void (*cleanup)(job_ctx_t *ctx);
    /* Kinds whose steps are named at submit (job_submit_steps), such as one step per VM role instance:
     * every step runs this function (steps is then NULL). */
    job_step_fn each;
    /* Runs in the transaction that records the job's success; may be NULL. */
    int (*on_succeeded)(job_ctx_t *ctx, err_t *err);
} job_kind_def_t;

/* Registers a kind (at start, before job_engine_start). Returns 0 or -1. */
int job_kind_register(const job_kind_def_t *def);

/* Starts `workers` threads over st and queues every job left queued or running by a previous run. */
int job_engine_start(store_t *st, int workers, err_t *err);
/* Stops the workers once their current step has reached its end (a safe point); jobs left running resume
 * at the next start. */
void job_engine_stop(void);
/* True when the engine runs. */
bool job_engine_running(void);
/* Gives every job that starts from now on a deadline of ms from its first run (0: its kind's own). */
void job_engine_set_deadline(int64_t ms);

/* Several daemons on one store (a backend shared by several processes: PostgreSQL) run each job once at a
 * time: a worker runs a job only while this daemon holds the job's lease (store_job_lease_take), taken
 * for JOB_LEASE_MS and renewed every JOB_LEASE_MS / 3 while the job runs or waits here for a retry; every
 * JOB_SCAN_MS the engine queues the jobs no live lease covers, so the jobs of a daemon killed mid-job
 * resume on another within JOB_LEASE_MS + JOB_SCAN_MS (plus the step's own time). A cancel of a job
 * another daemon holds records a request on its row, which that daemon honours at its next step boundary. */
#define JOB_LEASE_MS 15000
#define JOB_SCAN_MS 5000
/* This process's instance id: a UUID made once per process, the owner of the job leases it takes (the
 * daemon logs it as "instance" in its ready line). */
const char *job_engine_instance(void);

/* Creates a queued job in the caller's transaction (or in its own) and wakes a worker once it commits.
 * params (borrowed) is the job's input; lock_key may be NULL. Returns the job's view. */
json_t *job_submit(store_t *st, const char *kind, const char *resource_id,
                   const char *subscription_id, const char *lock_key, const json_t *params,
                   err_t *err);
/* The same, for a kind with `each`: the steps are named by step_names (a JSON array of strings; may be
 * empty, and the job then succeeds at once). */
json_t *job_submit_steps(store_t *st, const char *kind, const char *resource_id,
                         const char *subscription_id, const char *lock_key, const json_t *params,
                         const json_t *step_names, err_t *err);
/* Cancels a job. A queued job no worker has taken up ends canceled now (its view says canceled). A running
 * one (or one a worker has taken up) gets a cancel request, recorded on its row: the step under way
 * finishes, and at its next step boundary (after a step's commit, before the next step, a poll or a retry)
 * the job ends canceled, its cleanup and on_failed run with job_ctx_status "canceled" (its view still says
 * running). A second cancel is the same request again. 409 Conflict for a job that has ended. Returns the
 * job's view. */
json_t *job_cancel(store_t *st, const char *id, const char *subscription_id, err_t *err);
/* Queues a failed job again from its failed step (or the one after, with skip_failed_step), keeping its
 * id. 409 Conflict when the job has not failed. Returns the job's view. */
json_t *job_restart(store_t *st, const char *id, const char *subscription_id,
                    bool skip_failed_step, err_t *err);
/* The job's view (what the API shows), 404 when missing or, with subscription_id, not that
 * subscription's. */
json_t *job_get(store_t *st, const char *id, const char *subscription_id, int64_t *rev, err_t *err);
/* A page of job views, as store_rec_list. */
json_t *job_list(store_t *st, const store_filter_t *filters, size_t nfilters, int64_t after,
                 int limit, int64_t *next, err_t *err);
/* As job_list, keeping only jobs whose view's status is one of statuses (a borrowed JSON array of status
 * strings; NULL: any). A job a worker has taken up is running in its view while its row says queued, so
 * the page reads both rows and keeps what the views say: a page may hold fewer than limit jobs while
 * *next still names the rest. */
json_t *job_list_status(store_t *st, const store_filter_t *filters, size_t nfilters,
                        const json_t *statuses, int64_t after, int limit, int64_t *next, err_t *err);
/* Drops the jobs that ended more than retention_ms before now_ms (their views then answer 404); jobs not
 * ended stay. Returns how many went, or -1 with err (those dropped before the failure stay dropped). */
int64_t job_purge(store_t *st, int64_t retention_ms, int64_t now_ms, err_t *err);
/* True when s is a job status (queued, running, succeeded, failed, canceled). */
bool job_status_valid(const char *s);
/* Removes the engine's own fields from a job record, in place. */
void job_view(json_t *rec);

/* For steps. */
store_t *job_ctx_store(job_ctx_t *ctx);
const char *job_ctx_id(job_ctx_t *ctx);
const char *job_ctx_resource(job_ctx_t *ctx);
const json_t *job_ctx_params(job_ctx_t *ctx);
/* "failed" or "canceled" in on_failed; "running" in steps. */
const char *job_ctx_status(job_ctx_t *ctx);
/* True once the job has been taken up to run (in on_failed: a cancel of a running job, whose steps may have
 * reached the host, rather than of a queued one, which did nothing). */
bool job_ctx_started(job_ctx_t *ctx);
/* The job's scratch object, saved with each finished step (e.g. an id a later step needs). */
json_t *job_ctx_data(job_ctx_t *ctx);
/* The running step's index and name. */
int job_ctx_step(job_ctx_t *ctx);
const char *job_ctx_step_name(job_ctx_t *ctx);
/* An operation id unique to this job, step and restart, stable across retries and resumptions. */
const char *job_ctx_op_id(job_ctx_t *ctx);
/* Saves the job's progress (0-99) now, for a long step that wants to show it; not inside the step's
 * transaction. */
int job_ctx_progress(job_ctx_t *ctx, int percent, err_t *err);
/* Records how far the running step's copy is: the job's copy ({bytesCopied, bytesTotal}, kept once the job
 * ends) and its progress (the share of the bytes, at most 99 until the job ends). Saved with the step's end
 * or poll, in the step's transaction. */
void job_ctx_set_copy(job_ctx_t *ctx, int64_t bytes_copied, int64_t bytes_total);
/* In a kind's cleanup: what the job made is not undone yet (see job_kind_def_t.cleanup). */
void job_ctx_undo_pending(job_ctx_t *ctx);
/* How long a failed job's cleanup is tried again before on_failed runs all the same. */
#define JOB_UNDO_MS (10 * 60 * 1000)
/* Opens the step's transaction: the step's own writes and the record of its end commit together. */
int job_ctx_begin(job_ctx_t *ctx, err_t *err);

#endif
