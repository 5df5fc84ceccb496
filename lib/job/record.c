/*
 * record.c: job records: the kinds, submitting a job, its views, and cancel and restart as changes of
 * its row (see job.h).
 *
 * The database is the truth: a job's status, its steps' statuses, its scratch data (_data), its retry time
 * (_runAfterMs), its deadline (_deadlineMs), its retry count (_attempts) and its restart epoch (_epoch) live
 * in its row. Views never show these underscore fields.
 *
 * A job a worker has taken up keeps the row status queued until its first step's commit claims it
 * (runner.c): the views (job_get, job_list) show such a job as the API must, running, started when the
 * worker took it up, its first unfinished step running; a list filtered by status reads the rows that
 * may show so (a running filter reads queued rows too) and keeps what the views show.
 *
 * Invariants: a job is inserted and its workers are woken only once the caller's transaction commits (an
 * on-commit callback); at most one queued or running job per lock key, which the store's unique index
 * enforces (a second is 409 OperationInProgress); cancel ends at once a queued job no worker has taken
 * up (it holds the job in the pool until its transaction ends, so no worker starts it meanwhile, and takes
 * its lease, so no other daemon does), and on a job that runs, here or on another daemon (whose lease is
 * live), records a request (_data.cancelRequested) that the runner honours at its next step boundary; restart applies only to a failed job; each is one transaction with a revision check.
 */
#include "job_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KINDS 64

/* Written at start, before the workers run (job_kind_register's contract); read-only afterwards. */
static const job_kind_def_t *kinds[MAX_KINDS];
static int nkinds;

const char *
job__str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

void
job__now_text(char out[UTIL_TIME_LEN + 1])
{
    util_time_format(util_now_ms(), out);
}

int
job_kind_register(const job_kind_def_t *def)
{
    int i;

    assert(def != NULL && def->kind != NULL);
    /* A kind runs either named steps or `each` over the steps named at submit. */
    assert((def->steps != NULL) != (def->each != NULL));
    for (i = 0; i < nkinds; i++)
        if (strcmp(kinds[i]->kind, def->kind) == 0)
            return kinds[i] == def ? 0 : -1;
    if (nkinds == MAX_KINDS)
        return -1;
    kinds[nkinds++] = def;
    return 0;
}

const job_kind_def_t *
job__find_kind(const char *kind)
{
    int i;

    for (i = 0; kind && i < nkinds; i++)
        if (strcmp(kinds[i]->kind, kind) == 0)
            return kinds[i];
    return NULL;
}

/* True when a job may go from status `from` to status `to`. */
static bool
transition_allowed(const char *from, const char *to)
{
    if (strcmp(from, "queued") == 0)
        return strcmp(to, "running") == 0 || strcmp(to, "canceled") == 0 ||
               strcmp(to, "failed") == 0;
    if (strcmp(from, "running") == 0)
        return strcmp(to, "succeeded") == 0 || strcmp(to, "failed") == 0 ||
               strcmp(to, "canceled") == 0;
    if (strcmp(from, "failed") == 0)
        return strcmp(to, "queued") == 0;
    return false;
}

void
job__status_set(json_t *rec, const char *status)
{
    const char *from = job__str(rec, "status");

    assert(from != NULL && status != NULL);
    assert(transition_allowed(from, status));
    (void) from;
    json_object_set_new(rec, "status", json_string(status));
}

void
job__step_status_set(json_t *rec, int step, const char *status)
{
    json_t *s = json_array_get(json_object_get(rec, "steps"), (size_t) step);

    assert(step >= 0 && s != NULL);
    json_object_set_new(s, "status", json_string(status));
}

int
job__progress_of(const json_t *rec)
{
    const json_t *steps = json_object_get(rec, "steps"), *s;
    size_t i, done = 0, n = json_array_size(steps);
    const char *st;

    json_array_foreach(steps, i, s) {
        st = job__str(s, "status");
        if (strcmp(st, "succeeded") == 0 || strcmp(st, "skipped") == 0)
            done++;
    }
    return n ? (int) (done * 100 / n) : 100;
}

void
job_view(json_t *rec)
{
    static const char *const internal[] = {"_params", "_data", "_lockKey", "_runAfterMs",
                                           "_deadlineMs", "_attempts", "_epoch", NULL};
    size_t i;

    assert(rec != NULL);
    for (i = 0; internal[i]; i++)
        json_object_del(rec, internal[i]);
}

/* ---- submit ---- */

static json_t *
new_record(const job_kind_def_t *def, const char *resource_id, const char *subscription_id,
           const char *lock_key, const json_t *params, const json_t *names)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    json_t *steps = json_array(), *n;
    size_t i;

    /* Every step or none: a job missing a step would end "succeeded" without doing it. */
    if (steps == NULL)
        return NULL;
    if (names) {
        json_array_foreach(names, i, n)
            if (json_array_append_new(steps, json_pack("{s:O, s:s}", "name", n, "status", "pending")))
                goto oom;
    }
    for (i = 0; !names && def->steps && def->steps[i].name; i++)
        if (json_array_append_new(steps, json_pack("{s:s, s:s}", "name", def->steps[i].name, "status",
                                                   "pending")))
            goto oom;
    util_uuid(id);
    job__now_text(now);
    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:i, s:o, s:n, s:n, s:s, s:n, s:n, s:O, s:{}, s:s?, "
                     "s:i, s:n, s:i, s:i}",
                     "id", id, "kind", def->kind, "status", "queued", "resourceId", resource_id,
                     "subscriptionId", subscription_id, "progress", 0, "steps", steps, "error", "copy",
                     "createdAt", now, "startedAt", "endedAt", "_params",
                     params ? params : json_null(), "_data", "_lockKey", lock_key, "_runAfterMs", 0,
                     "_deadlineMs", "_attempts", 0, "_epoch", 0);
oom:
    json_decref(steps);
    return NULL;
}

static json_t *
submit(store_t *st, const char *kind, const char *resource_id, const char *subscription_id,
       const char *lock_key, const json_t *params, const json_t *names, err_t *err)
{
    const job_kind_def_t *def = job__find_kind(kind);
    json_t *rec;
    char *id;
    int added;

    assert(st != NULL && kind != NULL);
    if (def == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "No job kind '%s' is registered.", kind);
        return NULL;
    }
    rec = new_record(def, resource_id, subscription_id, lock_key, params, names);
    if (rec == NULL || store_tx_begin(st, err)) {
        json_decref(rec);
        if (rec == NULL)
            err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    /* The job's id is new, so the one unique value it can share is its lock key: another job that is
     * still queued or running holds it. */
    added = store_rec_insert_unique(st, &store_kind_job, rec, err);
    if (added != 1) {
        store_tx_rollback(st);
        json_decref(rec);
        if (added == 0)
            err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                    "Another operation on this resource is still in progress.");
        return NULL;
    }
    /* The wakeup owns its copy of the id: the workers take it on commit, a rollback frees it. */
    id = strdup(job__str(rec, "id"));
    if (id == NULL)
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    if (id == NULL || store_tx_on_commit_owned(st, job__wake_for_job, free, id, err)) {
        free(id);
        store_tx_rollback(st);
        json_decref(rec);
        return NULL;
    }
    if (store_tx_commit(st, err)) {
        store_tx_rollback(st);
        json_decref(rec);
        return NULL;
    }
    job_view(rec);
    return rec;
}

json_t *
job_submit(store_t *st, const char *kind, const char *resource_id, const char *subscription_id,
           const char *lock_key, const json_t *params, err_t *err)
{
    return submit(st, kind, resource_id, subscription_id, lock_key, params, NULL, err);
}

json_t *
job_submit_steps(store_t *st, const char *kind, const char *resource_id,
                 const char *subscription_id, const char *lock_key, const json_t *params,
                 const json_t *step_names, err_t *err)
{
    assert(json_is_array(step_names));
    return submit(st, kind, resource_id, subscription_id, lock_key, params, step_names, err);
}

/* ---- reads ---- */

/* A queued job a worker runs now shows as running (see the top of this file); so does one another daemon
 * holds (elsewhere: its lease is another daemon's, which took it up). */
static void
show_taken_up(json_t *rec, bool elsewhere)
{
    char text[UTIL_TIME_LEN + 1];
    json_t *steps = json_object_get(rec, "steps"), *step;
    const char *s;
    int64_t since = 0;
    size_t i;

    if (strcmp(job__str(rec, "status"), "queued") != 0)
        return;
    if (elsewhere)
        since = util_now_ms();
    else if (!job__worker_has(job__str(rec, "id"), &since))
        return;
    json_object_set_new(rec, "status", json_string("running"));
    if (!json_is_string(json_object_get(rec, "startedAt"))) {
        util_time_format(since, text);
        json_object_set_new(rec, "startedAt", json_string(text));
    }
    json_array_foreach(steps, i, step) {
        s = job__str(step, "status");
        if (strcmp(s, "succeeded") != 0 && strcmp(s, "skipped") != 0) {
            json_object_set_new(step, "status", json_string("running"));
            break;
        }
    }
}

/* Shows every job of recs (an array of job records) as it is now: a queued one that a worker of this
 * daemon runs, or, on a store several daemons share, one whose lease another daemon holds (it took the job
 * up; its first step has not committed yet), shows as running, so that every daemon answers alike. When
 * the leases cannot be read, a job shows as its row says. */
static void
show_all_taken_up(store_t *st, json_t *recs)
{
    json_t *ids = NULL, *held = NULL, *rec, *h;
    const char *id;
    size_t i, k;
    bool elsewhere;
    err_t err = {0};

    if (store_shared(st)) {
        ids = json_array();
        json_array_foreach(recs, i, rec) {
            id = job__str(rec, "id");
            if (strcmp(job__str(rec, "status"), "queued") == 0 && !job__worker_has(id, NULL))
                json_array_append_new(ids, json_string(id));
        }
        if (json_array_size(ids) > 0)
            held = store_jobs_leased(st, ids, util_now_ms(), &err);
        json_decref(ids);
    }
    json_array_foreach(recs, i, rec) {
        elsewhere = false;
        json_array_foreach(held, k, h)
            elsewhere = elsewhere || strcmp(json_string_value(h), job__str(rec, "id")) == 0;
        show_taken_up(rec, elsewhere);
        job_view(rec);
    }
    json_decref(held);
}

json_t *
job_list(store_t *st, const store_filter_t *filters, size_t nfilters, int64_t after, int limit,
         int64_t *next, err_t *err)
{
    json_t *list = store_rec_list(st, &store_kind_job, filters, nfilters, after, limit, next, err);

    if (list != NULL)
        show_all_taken_up(st, list);
    return list;
}

bool
job_status_valid(const char *s)
{
    static const char *const all[] = {"queued", "running", "succeeded", "failed", "canceled", NULL};
    size_t i;

    for (i = 0; s != NULL && all[i]; i++)
        if (strcmp(all[i], s) == 0)
            return true;
    return false;
}

static bool
status_in(const json_t *statuses, const char *s)
{
    const json_t *v;
    size_t i;

    json_array_foreach(statuses, i, v)
        if (strcmp(json_string_value(v), s) == 0)
            return true;
    return false;
}

json_t *
job_list_status(store_t *st, const store_filter_t *filters, size_t nfilters, const json_t *statuses,
                int64_t after, int limit, int64_t *next, err_t *err)
{
    store_filter_t f[16];
    json_t *rows = NULL, *list, *rec;
    size_t i;

    assert(st != NULL && nfilters < 16);
    if (statuses == NULL)
        return job_list(st, filters, nfilters, after, limit, next, err);
    /* The rows to read: a running view may stand on a queued row, and a queued one never on a running
     * row (a worker that lets a job go has committed it running). */
    rows = json_deep_copy(statuses);
    if (rows == NULL || (status_in(statuses, "running") && !status_in(statuses, "queued") &&
                         json_array_append_new(rows, json_string("queued")))) {
        json_decref(rows);
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    memcpy(f, filters, nfilters * sizeof(*f));
    f[nfilters] = (store_filter_t){.field = "status", .op = STORE_FILTER_IN, .values = rows};
    list = job_list(st, f, nfilters + 1, after, limit, next, err);
    json_decref(rows);
    for (i = 0; list != NULL && i < json_array_size(list);) {
        rec = json_array_get(list, i);
        if (status_in(statuses, job__str(rec, "status")))
            i++;
        else
            json_array_remove(list, i);
    }
    return list;
}

/* Reads the job's full record, private fields included: a job of another subscription is the same 404
 * as one that does not exist. */
static json_t *
get_full(store_t *st, const char *id, const char *subscription_id, int64_t *rev, err_t *err)
{
    return store_rec_get_where(st, &store_kind_job, id, "subscriptionId", subscription_id, rev, err);
}

json_t *
job_get(store_t *st, const char *id, const char *subscription_id, int64_t *rev, err_t *err)
{
    json_t *rec;

    assert(st != NULL && id != NULL);
    rec = get_full(st, id, subscription_id, rev, err);
    if (rec != NULL) {
        /* One daemon (a store of one process): its own pool says all, with no list to build. */
        json_t *one = store_shared(st) ? json_pack("[O]", rec) : NULL;

        if (one != NULL) {
            show_all_taken_up(st, one);
            json_decref(one);
        } else { /* or out of memory: as its row says */
            show_taken_up(rec, false);
            job_view(rec);
        }
    }
    return rec;
}


/* Opens a transaction and reads the job's full record for a change, when the job's status is `status`:
 * 409 Conflict ("Only a <status> job can be <verb>") otherwise, 404 as job_get. On failure nothing is left
 * open. */
static json_t *
begin_change(store_t *st, const char *id, const char *subscription_id, const char *status,
             const char *verb, int64_t *rev, err_t *err)
{
    json_t *rec;

    if (store_tx_begin(st, err))
        return NULL;
    rec = get_full(st, id, subscription_id, rev, err);
    if (rec != NULL && strcmp(job__str(rec, "status"), status) != 0) {
        err_set(err, ERR_CONFLICT, NULL, "Only a %s job can be %s; this one is %s.", status, verb,
                job__str(rec, "status"));
        json_decref(rec);
        rec = NULL;
    }
    if (rec == NULL)
        store_tx_rollback(st);
    return rec;
}

/* ---- cancel and restart ---- */

/* Registers an on-commit hook that takes a copy of id: fn runs with it on commit, undo (or free) on
 * rollback. */
static int
on_commit_id(store_t *st, const char *id, void (*fn)(void *), void (*undo)(void *), err_t *err)
{
    char *copy = strdup(id);

    if (copy == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    if (store_tx_on_commit_owned(st, fn, undo, copy, err)) {
        free(copy);
        return -1;
    }
    return 0;
}

/* Ends queued job rec canceled in the open transaction: no step has run, so on_failed sees a job that
 * never started. */
static int
cancel_queued(store_t *st, json_t *rec, int64_t rev, err_t *err)
{
    char now[UTIL_TIME_LEN + 1];
    size_t i, n;
    job_ctx_t ctx;
    const job_kind_def_t *def;

    job__now_text(now);
    n = json_array_size(json_object_get(rec, "steps"));
    for (i = 0; i < n; i++)
        job__step_status_set(rec, (int) i, "skipped");
    job__status_set(rec, "canceled");
    json_object_set_new(rec, "endedAt", json_string(now));
    def = job__find_kind(job__str(rec, "kind"));
    memset(&ctx, 0, sizeof(ctx));
    ctx.st = st;
    ctx.rec = rec;
    ctx.def = def;
    ctx.step = -1;
    ctx.in_tx = true;
    if ((def && def->on_failed && def->on_failed(&ctx, err)) || job__emit_end(st, rec, err))
        return -1;
    return store_rec_update(st, &store_kind_job, job__str(rec, "id"), rec, rev, err);
}

/* Records a cancel request on a job that runs (or that a worker has taken up), in the open transaction;
 * the runner ends the job at its next step boundary. The worker is woken on commit, so a job waiting for
 * a retry or a poll reaches that boundary now. */
static int
request_cancel(store_t *st, json_t *rec, int64_t rev, err_t *err)
{
    json_t *data = json_object_get(rec, "_data");

    if (!json_is_object(data)) {
        data = json_object();
        json_object_set_new(rec, "_data", data);
    }
    if (data == NULL || json_object_set_new(data, JOB_CANCEL_REQUESTED, json_true()))
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    if (store_rec_update(st, &store_kind_job, job__str(rec, "id"), rec, rev, err))
        return -1;
    return on_commit_id(st, job__str(rec, "id"), job__wake_for_job, free, err);
}

json_t *
job_cancel(store_t *st, const char *id, const char *subscription_id, err_t *err)
{
    json_t *rec = NULL;
    int64_t rev = 0;
    const char *status;
    bool held, took = false;
    int rc = -1, leased = 1; /* 1: no other daemon holds the job */

    assert(st != NULL && id != NULL);
    /* Held, no worker takes the job up until the cancel's transaction ends. Not held, a worker runs it
     * now (its row may still say queued): the cancel is a request it honours at its next step boundary. */
    held = job__hold(id);
    /* Held here, the job may still be another daemon's: it runs it (its row may say queued) or keeps it
     * for a retry while it holds its lease. The cancel then is a request, as for a worker of this daemon.
     * With the lease this daemon's, no other daemon takes the job up meanwhile; a worker of this daemon
     * looks at the job once the cancel is done, and gives the lease back (or runs what is left). */
    if (held && store_shared(st) && strlen(id) <= UTIL_UUID_LEN) {
        leased = job__lease_take(st, id, err);
        if (leased < 0) {
            job__release(id);
            return NULL;
        }
        took = leased == 1;
    }
    if (store_tx_begin(st, err)) {
        if (held)
            job__release(id);
        if (took)
            job__enqueue(id, 0);
        return NULL;
    }
    if (held && on_commit_id(st, id, job__release_owned, job__release_owned, err)) {
        job__release(id);
        store_tx_rollback(st);
        return NULL;
    }
    /* From here the hold ends with the transaction, committed or rolled back. */
    rec = get_full(st, id, subscription_id, &rev, err);
    if (rec == NULL)
        goto out;
    status = job__str(rec, "status");
    if (held && leased == 1 && strcmp(status, "queued") == 0)
        rc = cancel_queued(st, rec, rev, err);
    else if (strcmp(status, "queued") == 0 || strcmp(status, "running") == 0)
        rc = request_cancel(st, rec, rev, err);
    else
        err_set(err, ERR_CONFLICT, NULL, "Only a queued or running job can be canceled; this one is %s.",
                status);
    if (rc == 0)
        rc = store_tx_commit(st, err);
out:
    if (rc != 0)
        store_tx_rollback(st);
    if (took)
        job__enqueue(id, 0);
    if (rc != 0) {
        json_decref(rec);
        return NULL;
    }
    show_taken_up(rec, leased == 0);
    job_view(rec);
    return rec;
}

json_t *
job_restart(store_t *st, const char *id, const char *subscription_id, bool skip_failed_step,
            err_t *err)
{
    const json_t *steps, *s;
    json_t *rec;
    int64_t rev = 0;
    size_t i;

    assert(st != NULL && id != NULL);
    rec = begin_change(st, id, subscription_id, "failed", "restarted", &rev, err);
    if (rec == NULL)
        return NULL;
    steps = json_object_get(rec, "steps");
    json_array_foreach(steps, i, s) {
        if (strcmp(job__str(s, "status"), "failed") == 0 ||
            strcmp(job__str(s, "status"), "running") == 0)
            job__step_status_set(rec, (int) i, skip_failed_step ? "skipped" : "pending");
    }
    job__status_set(rec, "queued");
    json_object_set_new(rec, "error", json_null());
    json_object_set_new(rec, "endedAt", json_null());
    json_object_set_new(rec, "_deadlineMs", json_null());
    json_object_set_new(rec, "_attempts", json_integer(0));
    json_object_set_new(rec, "_runAfterMs", json_integer(0));
    /* A new epoch: the steps that run again get new operation ids, so a host that recorded the failed
     * answer does not replay it. */
    json_object_set_new(rec, "_epoch",
                        json_integer(json_integer_value(json_object_get(rec, "_epoch")) + 1));
    json_object_set_new(rec, "progress", json_integer(job__progress_of(rec)));
    if (store_rec_update(st, &store_kind_job, id, rec, rev, err) ||
        on_commit_id(st, id, job__wake_for_job, free, err) || store_tx_commit(st, err))
        goto fail;
    job_view(rec);
    return rec;
fail:
    store_tx_rollback(st);
    json_decref(rec);
    return NULL;
}
