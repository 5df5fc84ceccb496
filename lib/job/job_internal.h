/*
 * job_internal.h: what the parts of the job engine share; not for other modules.
 *
 * The engine is these files, each with one reason to change:
 * - record.c: the job row (kinds, submit, views, cancel and restart as changes of the row);
 * - runner.c: running one job's steps (claim, resume, retry with backoff, deadline, on_failed), and
 *   end.c: what a job's end raises (its event, its count in /metrics);
 * - pool.c: the worker threads and their wakeups, over
 * - queue.c: the in-memory queue of jobs to look at and the set of jobs someone holds;
 * - claim.c: this daemon's job leases in the store (take, give back, renew, the takeover scan), so that
 *   several daemons on one database run a job once at a time.
 * The graph is record -> pool (wake on commit; hold a job for a cancel; is a worker running it, for the
 * views), record -> claim (a cancel takes the lease), pool -> queue, pool -> claim (a worker takes the
 * lease; give back), pool -> runner (run a taken job), runner -> record (row helpers), runner -> pool
 * (requeue, safe point) and claim -> pool (queue what the scan found).
 *
 * Job status transitions (job__status_set asserts them): queued -> running | canceled | failed;
 * running -> succeeded | failed | canceled; failed -> queued (restart). Nothing leaves succeeded or canceled.
 */
#ifndef WAPD_JOB_INTERNAL_H
#define WAPD_JOB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "../job.h"
#include "../util.h"

/* A step's run: the job's full record as this worker holds it. Owned by the runner (or by job_cancel for
 * the on_failed call it makes); rec is owned by the context. */
struct job_ctx {
    store_t *st;
    json_t *rec;
    int64_t rev; /* the record's revision as last read or written by this worker */
    const job_kind_def_t *def;
    int step;
    char op_id[UTIL_UUID_LEN + 32];
    bool in_tx;
};

/* The key of a job's data (_data) that records a cancel asked of it while it runs: the runner ends the job
 * canceled at its next step boundary. */
#define JOB_CANCEL_REQUESTED "cancelRequested"

/* ---- record.c ---- */

/* The kind registered under that name, or NULL. */
const job_kind_def_t *job__find_kind(const char *kind);
/* The string at key of rec (borrowed), or NULL. */
const char *job__str(const json_t *rec, const char *key);
void job__now_text(char out[UTIL_TIME_LEN + 1]);
/* Sets the job's status, asserting the transition is one the life of a job allows. */
void job__status_set(json_t *rec, const char *status);
/* Sets step's status; step must be one of the job's steps. */
void job__step_status_set(json_t *rec, int step, const char *status);
/* The share of steps done (succeeded or skipped), 0-100. */
int job__progress_of(const json_t *rec);

/* ---- pool.c ---- */

/* Puts job id in the queue, due at run_after_ms (an earlier due time wins), and wakes the workers. */
void job__enqueue(const char *id, int64_t run_after_ms);
/* An on-commit callback: enqueues the job whose id (taken, strdup'ed) is arg, due now. */
void job__wake_for_job(void *arg);
/* True once job_engine_stop has asked the workers to stop: a runner leaves at its next safe point. */
bool job__stopping(void);
/* Holds job id for a change of its row made outside the engine (a cancel): no worker takes it until
 * every such hold has ended (job__release). False when a worker runs it now (the job is running, whatever
 * its row says yet). True when no engine runs. */
bool job__hold(const char *id);
/* Ends a hold by job__hold; a wakeup for the job meanwhile takes effect now. */
void job__release(const char *id);
/* job__release as an on-commit (and rollback) hook: arg is the job's id, taken (strdup'ed). */
void job__release_owned(void *arg);
/* True when a worker runs job id now, with the time it took the job up in *since_ms (may be NULL). */
bool job__worker_has(const char *id, int64_t *since_ms);

/* ---- claim.c ---- */

/* Takes job id's lease for this daemon (outside the caller's transaction, if one is open): 1 when this daemon holds it now (for
 * JOB_LEASE_MS, renewed while it holds it), 0 when another daemon holds a live one, -1 with err. */
int job__lease_take(store_t *st, const char *id, err_t *err);
/* Gives job id's lease back (outside any transaction); a failure is logged, and the lease expires. */
void job__lease_give(store_t *st, const char *id);
/* Starts the thread that renews this daemon's leases and runs the takeover scan. 0, or -1 with err. */
int job__leases_start(store_t *st, err_t *err);
/* Stops that thread and gives back every lease this daemon still holds. */
void job__leases_stop(void);

/* ---- runner.c ---- */

/* Runs job id until it ends, must wait for a retry, or the engine stops. The caller holds the job in
 * the busy set, so no other worker runs it meanwhile. */
void job__run(store_t *st, const char *id);

/* ---- end.c ---- */

/* Raises the event of job rec's end (job.succeeded, job.failed or job.canceled, from its status) in the
 * open transaction; rec is borrowed and carries its final status (and error, when it failed). */
int job__emit_end(store_t *st, const json_t *rec, err_t *err);

#endif
