/*
 * job.c: job records and the worker pool that runs them (see job.h).
 *
 * The database is the truth: a job's status, its steps' statuses, its scratch data, its retry time and its
 * deadline live in its row. The in-memory queue only says which jobs to look at and when; it is rebuilt from
 * the database at start, so nothing is lost with it.
 *
 * Life of a job: queued -> running (startedAt, deadline set) -> each step: pending -> running -> succeeded
 * (or failed) -> succeeded | failed; canceled only from queued. A worker owns a job while it runs it (the
 * busy set), so no job runs twice at once.
 */
#include "job.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "util.h"

#define MAX_KINDS 64
#define MAX_WORKERS 64
#define DEFAULT_DEADLINE_MS (10 * 60 * 1000)
#define BACKOFF_BASE_MS 100
#define BACKOFF_MAX_MS 5000

struct job_ctx {
    store_t *st;
    json_t *rec;
    int64_t rev; /* the record's revision as last read or written by this worker */
    const job_kind_def_t *def;
    int step;
    char op_id[UTIL_UUID_LEN + 32];
    bool in_tx;
};

typedef struct qitem {
    char id[UTIL_UUID_LEN + 1];
    int64_t run_after_ms;
    struct qitem *next;
} qitem_t;

static const job_kind_def_t *kinds[MAX_KINDS];
static int nkinds;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    store_t *st;
    bool running, stopping;
    int nworkers;
    pthread_t workers[MAX_WORKERS];
    qitem_t *queue;      /* unordered; small */
    char (*busy)[UTIL_UUID_LEN + 1];
} eng = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static const char *
str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

static void
now_text(char out[UTIL_TIME_LEN + 1])
{
    util_time_format(util_now_ms(), out);
}

int
job_kind_register(const job_kind_def_t *def)
{
    int i;

    for (i = 0; i < nkinds; i++)
        if (strcmp(kinds[i]->kind, def->kind) == 0)
            return kinds[i] == def ? 0 : -1;
    if (nkinds == MAX_KINDS)
        return -1;
    kinds[nkinds++] = def;
    return 0;
}

static const job_kind_def_t *
find_kind(const char *kind)
{
    int i;

    for (i = 0; kind && i < nkinds; i++)
        if (strcmp(kinds[i]->kind, kind) == 0)
            return kinds[i];
    return NULL;
}

void
job_view(json_t *rec)
{
    static const char *const internal[] = {"_params", "_data", "_lockKey", "_runAfterMs",
                                           "_deadlineMs", "_attempts", "_epoch", NULL};
    size_t i;

    for (i = 0; internal[i]; i++)
        json_object_del(rec, internal[i]);
}

/* ---- fault points ---- */

/* WAPD_FAULT=<kind>:<step>:<before|after> makes the process abort right before the step starts, or right
 * after its end is committed: a crash at a step boundary, for the tests that prove resumption. */
static struct {
    char kind[64];
    int step;
    int after;
    bool armed;
} fault;
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;

static void
fault_init(void)
{
    const char *e = getenv("WAPD_FAULT");
    char when[16];

    if (e && sscanf(e, "%63[^:]:%d:%15s", fault.kind, &fault.step, when) == 3) {
        fault.after = strcmp(when, "after") == 0;
        fault.armed = true;
    }
}

static void
fault_point(const char *kind, int step, int after)
{
    pthread_once(&fault_once, fault_init);
    if (fault.armed && fault.step == step && fault.after == after && strcmp(fault.kind, kind) == 0) {
        fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"fault point reached: aborting\","
                        "\"kind\":\"%s\",\"step\":%d,\"when\":\"%s\"}\n",
                kind, step, after ? "after" : "before");
        abort();
    }
}

/* ---- the queue ---- */

static void
enqueue_locked(const char *id, int64_t run_after_ms)
{
    qitem_t *q;

    for (q = eng.queue; q; q = q->next) {
        if (strcmp(q->id, id) == 0) {
            if (run_after_ms < q->run_after_ms)
                q->run_after_ms = run_after_ms;
            return;
        }
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return; /* the job stays in the database and is found at the next start */
    snprintf(q->id, sizeof(q->id), "%s", id);
    q->run_after_ms = run_after_ms;
    q->next = eng.queue;
    eng.queue = q;
}

static void
enqueue(const char *id, int64_t run_after_ms)
{
    pthread_mutex_lock(&eng.lock);
    /* With no engine running the job waits in the database, where the next start finds it. */
    if (eng.running || eng.st != NULL)
        enqueue_locked(id, run_after_ms);
    pthread_cond_broadcast(&eng.cond);
    pthread_mutex_unlock(&eng.lock);
}

static void
wake_for_job(void *arg)
{
    char *id = arg;

    enqueue(id, 0);
    free(id);
}

static bool
busy_locked(const char *id)
{
    int i;

    for (i = 0; i < eng.nworkers; i++)
        if (strcmp(eng.busy[i], id) == 0)
            return true;
    return false;
}

/* Takes the due job that is not running elsewhere, or says when the next one is due. */
static bool
take_locked(int worker, int64_t *next_due)
{
    qitem_t **pp, *q;
    int64_t now = util_now_ms();

    *next_due = INT64_MAX;
    for (pp = &eng.queue; (q = *pp) != NULL; pp = &q->next) {
        if (busy_locked(q->id))
            continue;
        if (q->run_after_ms <= now) {
            *pp = q->next;
            snprintf(eng.busy[worker], UTIL_UUID_LEN + 1, "%s", q->id);
            free(q);
            return true;
        }
        if (q->run_after_ms < *next_due)
            *next_due = q->run_after_ms;
    }
    return false;
}

/* ---- records ---- */

static json_t *
new_record(const job_kind_def_t *def, const char *resource_id, const char *subscription_id,
           const char *lock_key, const json_t *params, const json_t *names)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    json_t *steps = json_array(), *n;
    size_t i;

    if (names) {
        json_array_foreach(names, i, n)
            json_array_append_new(steps, json_pack("{s:O, s:s}", "name", n, "status", "pending"));
    }
    for (i = 0; !names && def->steps && def->steps[i].name; i++)
        json_array_append_new(steps,
                              json_pack("{s:s, s:s}", "name", def->steps[i].name, "status", "pending"));
    util_uuid(id);
    now_text(now);
    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:i, s:o, s:n, s:s, s:n, s:n, s:O, s:{}, s:s?, "
                     "s:i, s:n, s:i, s:i}",
                     "id", id, "kind", def->kind, "status", "queued", "resourceId", resource_id,
                     "subscriptionId", subscription_id, "progress", 0, "steps", steps, "error",
                     "createdAt", now, "startedAt", "endedAt", "_params",
                     params ? params : json_null(), "_data", "_lockKey", lock_key, "_runAfterMs", 0,
                     "_deadlineMs", "_attempts", 0, "_epoch", 0);
}

static json_t *submit(store_t *st, const char *kind, const char *resource_id,
                      const char *subscription_id, const char *lock_key, const json_t *params,
                      const json_t *names, err_t *err);

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
    return submit(st, kind, resource_id, subscription_id, lock_key, params, step_names, err);
}

static json_t *
submit(store_t *st, const char *kind, const char *resource_id, const char *subscription_id,
       const char *lock_key, const json_t *params, const json_t *names, err_t *err)
{
    const job_kind_def_t *def = find_kind(kind);
    err_t local = {0};
    json_t *rec;
    char *id;

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
    if (store_rec_insert(st, &store_kind_job, rec, &local)) {
        store_tx_rollback(st);
        json_decref(rec);
        if (local.code == ERR_CONFLICT)
            err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                    "Another operation on this resource is still in progress.");
        else
            err_set(err, local.code, NULL, "%s", local.message);
        return NULL;
    }
    id = strdup(str(rec, "id"));
    if (id == NULL || store_tx_on_commit(st, wake_for_job, id, err) || store_tx_commit(st, err)) {
        free(id);
        store_tx_rollback(st);
        json_decref(rec);
        return NULL;
    }
    job_view(rec);
    return rec;
}

json_t *
job_list(store_t *st, const store_filter_t *filters, size_t nfilters, int64_t after, int limit,
         int64_t *next, err_t *err)
{
    json_t *list = store_rec_list(st, &store_kind_job, filters, nfilters, after, limit, next, err),
           *rec;
    size_t i;

    json_array_foreach(list, i, rec)
        job_view(rec);
    return list;
}

json_t *
job_get(store_t *st, const char *id, const char *subscription_id, int64_t *rev, err_t *err)
{
    err_t local = {0};
    json_t *rec = store_rec_get(st, &store_kind_job, id, rev, &local);

    if (rec != NULL && subscription_id &&
        (str(rec, "subscriptionId") == NULL || strcmp(str(rec, "subscriptionId"), subscription_id))) {
        json_decref(rec);
        rec = NULL;
        local.code = ERR_NOT_FOUND;
    }
    if (rec == NULL) {
        if (local.code == ERR_NOT_FOUND)
            err_set(err, ERR_NOT_FOUND, NULL, "The job was not found.");
        else
            err_set(err, local.code, NULL, "%s", local.message);
        return NULL;
    }
    job_view(rec);
    return rec;
}

/* Reads the job's full record for a change; 404 as job_get. */
static json_t *
get_full(store_t *st, const char *id, const char *subscription_id, int64_t *rev, err_t *err)
{
    json_t *rec = job_get(st, id, subscription_id, NULL, err);

    json_decref(rec);
    if (rec == NULL)
        return NULL;
    return store_rec_get(st, &store_kind_job, id, rev, err);
}

static void
set_step_status(json_t *rec, int step, const char *status)
{
    json_object_set_new(json_array_get(json_object_get(rec, "steps"), (size_t) step), "status",
                        json_string(status));
}

static int
progress_of(const json_t *rec)
{
    const json_t *steps = json_object_get(rec, "steps"), *s;
    size_t i, done = 0, n = json_array_size(steps);
    const char *st;

    json_array_foreach(steps, i, s) {
        st = str(s, "status");
        if (strcmp(st, "succeeded") == 0 || strcmp(st, "skipped") == 0)
            done++;
    }
    return n ? (int) (done * 100 / n) : 100;
}

json_t *
job_cancel(store_t *st, const char *id, const char *subscription_id, err_t *err)
{
    char now[UTIL_TIME_LEN + 1];
    json_t *rec;
    int64_t rev = 0;
    size_t i, n;
    job_ctx_t ctx;
    const job_kind_def_t *def;

    if (store_tx_begin(st, err))
        return NULL;
    rec = get_full(st, id, subscription_id, &rev, err);
    if (rec == NULL)
        goto fail;
    if (strcmp(str(rec, "status"), "queued") != 0) {
        err_set(err, ERR_CONFLICT, NULL, "Only a queued job can be canceled; this one is %s.",
                str(rec, "status"));
        goto fail;
    }
    now_text(now);
    n = json_array_size(json_object_get(rec, "steps"));
    for (i = 0; i < n; i++)
        set_step_status(rec, (int) i, "skipped");
    json_object_set_new(rec, "status", json_string("canceled"));
    json_object_set_new(rec, "endedAt", json_string(now));
    def = find_kind(str(rec, "kind"));
    memset(&ctx, 0, sizeof(ctx));
    ctx.st = st;
    ctx.rec = rec;
    ctx.def = def;
    ctx.in_tx = true;
    if (def && def->on_failed && def->on_failed(&ctx, err))
        goto fail;
    if (store_rec_update(st, &store_kind_job, id, rec, rev, err) || store_tx_commit(st, err))
        goto fail;
    job_view(rec);
    return rec;
fail:
    store_tx_rollback(st);
    json_decref(rec);
    return NULL;
}

json_t *
job_restart(store_t *st, const char *id, const char *subscription_id, bool skip_failed_step,
            err_t *err)
{
    const json_t *steps, *s;
    json_t *rec;
    int64_t rev = 0;
    size_t i;
    char *wake;

    if (store_tx_begin(st, err))
        return NULL;
    rec = get_full(st, id, subscription_id, &rev, err);
    if (rec == NULL)
        goto fail;
    if (strcmp(str(rec, "status"), "failed") != 0) {
        err_set(err, ERR_CONFLICT, NULL, "Only a failed job can be restarted; this one is %s.",
                str(rec, "status"));
        goto fail;
    }
    steps = json_object_get(rec, "steps");
    json_array_foreach(steps, i, s) {
        if (strcmp(str(s, "status"), "failed") == 0 || strcmp(str(s, "status"), "running") == 0)
            set_step_status(rec, (int) i, skip_failed_step ? "skipped" : "pending");
    }
    json_object_set_new(rec, "status", json_string("queued"));
    json_object_set_new(rec, "error", json_null());
    json_object_set_new(rec, "endedAt", json_null());
    json_object_set_new(rec, "_deadlineMs", json_null());
    json_object_set_new(rec, "_attempts", json_integer(0));
    json_object_set_new(rec, "_runAfterMs", json_integer(0));
    /* A new epoch: the steps that run again get new operation ids, so a host that recorded the failed
     * answer does not replay it. */
    json_object_set_new(rec, "_epoch",
                        json_integer(json_integer_value(json_object_get(rec, "_epoch")) + 1));
    json_object_set_new(rec, "progress", json_integer(progress_of(rec)));
    wake = strdup(id);
    if (wake == NULL || store_rec_update(st, &store_kind_job, id, rec, rev, err) ||
        store_tx_on_commit(st, wake_for_job, wake, err)) {
        free(wake);
        goto fail;
    }
    if (store_tx_commit(st, err))
        goto fail;
    job_view(rec);
    return rec;
fail:
    store_tx_rollback(st);
    json_decref(rec);
    return NULL;
}

/* ---- running a job ---- */

store_t *
job_ctx_store(job_ctx_t *ctx)
{
    return ctx->st;
}

const char *
job_ctx_id(job_ctx_t *ctx)
{
    return str(ctx->rec, "id");
}

const char *
job_ctx_resource(job_ctx_t *ctx)
{
    return str(ctx->rec, "resourceId");
}

int
job_ctx_step(job_ctx_t *ctx)
{
    return ctx->step;
}

const char *
job_ctx_step_name(job_ctx_t *ctx)
{
    return str(json_array_get(json_object_get(ctx->rec, "steps"), (size_t) ctx->step), "name");
}

const char *
job_ctx_status(job_ctx_t *ctx)
{
    return str(ctx->rec, "status");
}

const json_t *
job_ctx_params(job_ctx_t *ctx)
{
    return json_object_get(ctx->rec, "_params");
}

json_t *
job_ctx_data(job_ctx_t *ctx)
{
    json_t *d = json_object_get(ctx->rec, "_data");

    if (!json_is_object(d)) {
        d = json_object();
        json_object_set_new(ctx->rec, "_data", d);
    }
    return d;
}

const char *
job_ctx_op_id(job_ctx_t *ctx)
{
    return ctx->op_id;
}

static int save_job(job_ctx_t *ctx, err_t *err);

int
job_ctx_progress(job_ctx_t *ctx, int percent, err_t *err)
{
    if (ctx->in_tx)
        return err_set(err, ERR_INTERNAL, NULL, "Progress is saved outside the step's transaction.");
    json_object_set_new(ctx->rec, "progress", json_integer(percent < 0 ? 0 : percent > 99 ? 99 : percent));
    return save_job(ctx, err);
}

int
job_ctx_begin(job_ctx_t *ctx, err_t *err)
{
    if (ctx->in_tx)
        return 0;
    if (store_tx_begin(ctx->st, err))
        return -1;
    ctx->in_tx = true;
    return 0;
}

/* Writes the job row (in the open step transaction, or in one of its own) and commits. The row must still
 * be at the revision this worker last saw: otherwise someone else (a cancel) changed the job, and this
 * worker lets it go (412). */
static int
save_job(job_ctx_t *ctx, err_t *err)
{
    if (job_ctx_begin(ctx, err))
        return -1;
    if (store_rec_update(ctx->st, &store_kind_job, job_ctx_id(ctx), ctx->rec, ctx->rev, err) ||
        store_tx_commit(ctx->st, err)) {
        store_tx_rollback(ctx->st);
        ctx->in_tx = false;
        return -1;
    }
    ctx->rev++;
    ctx->in_tx = false;
    return 0;
}

static void
abandon_tx(job_ctx_t *ctx)
{
    if (ctx->in_tx) {
        store_tx_rollback(ctx->st);
        ctx->in_tx = false;
    }
}

/* Ends the job failed with code and message, running the kind's on_failed in the same transaction. */
static void
fail_job(job_ctx_t *ctx, const char *code, const char *message)
{
    char now[UTIL_TIME_LEN + 1];
    err_t err = {0};

    abandon_tx(ctx);
    if (ctx->def && ctx->def->cleanup)
        ctx->def->cleanup(ctx);
    now_text(now);
    if (ctx->step >= 0)
        set_step_status(ctx->rec, ctx->step, "failed");
    json_object_set_new(ctx->rec, "status", json_string("failed"));
    json_object_set_new(ctx->rec, "error",
                        json_pack("{s:s, s:s}", "code", code, "message", message));
    json_object_set_new(ctx->rec, "endedAt", json_string(now));
    if (job_ctx_begin(ctx, &err) == 0 && ctx->def && ctx->def->on_failed &&
        ctx->def->on_failed(ctx, &err) != 0) {
        fprintf(stderr,
                "{\"level\":\"error\",\"msg\":\"job compensation failed\",\"job\":\"%s\"}\n",
                job_ctx_id(ctx));
        abandon_tx(ctx);
    }
    /* Canceled jobs end as "canceled" elsewhere; this one failed, and says so in the feed. */
    if (job_ctx_begin(ctx, &err) == 0 &&
        events_emit(ctx->st, "job.failed", str(ctx->rec, "subscriptionId"),
                    str(ctx->rec, "resourceId"),
                    json_pack("{s:s, s:s, s:s, s:s}", "jobId", job_ctx_id(ctx), "kind",
                              str(ctx->rec, "kind"), "code", code, "message", message),
                    &err) != 0)
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"job.failed event not recorded\",\"job\":\"%s\"}\n",
                job_ctx_id(ctx));
    if (save_job(ctx, &err) != 0)
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"job failure not recorded\",\"job\":\"%s\"}\n",
                job_ctx_id(ctx));
}

static size_t
first_unfinished(const json_t *steps)
{
    size_t i, n = json_array_size(steps);
    const char *s;

    for (i = 0; i < n; i++) {
        s = str(json_array_get(steps, i), "status");
        if (strcmp(s, "succeeded") != 0 && strcmp(s, "skipped") != 0)
            break;
    }
    return i;
}

static void
finish_succeeded(job_ctx_t *ctx)
{
    char text[UTIL_TIME_LEN + 1];

    now_text(text);
    json_object_set_new(ctx->rec, "status", json_string("succeeded"));
    json_object_set_new(ctx->rec, "progress", json_integer(100));
    json_object_set_new(ctx->rec, "endedAt", json_string(text));
}

/* Runs job id until it ends, must wait for a retry, or the engine stops. */
static void
run_job(const char *id)
{
    job_ctx_t ctx;
    err_t err = {0};
    json_t *steps;
    int64_t now, deadline, rev = 0, backoff;
    const char *status;
    char text[UTIL_TIME_LEN + 1];
    job_step_result_t res;
    size_t i, n, next;
    bool marked = false;
    int attempts;

    memset(&ctx, 0, sizeof(ctx));
    ctx.st = eng.st;
    ctx.step = -1;
    ctx.rec = store_rec_get(ctx.st, &store_kind_job, id, &rev, &err);
    if (ctx.rec == NULL)
        return;
    ctx.rev = rev;
    status = str(ctx.rec, "status");
    if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0)
        goto out;
    ctx.def = find_kind(str(ctx.rec, "kind"));
    if (ctx.def == NULL) {
        fail_job(&ctx, "InternalError", "This job's kind is not known to this version of wapd.");
        goto out;
    }
    now = util_now_ms();
    if (strcmp(status, "queued") == 0) {
        now_text(text);
        json_object_set_new(ctx.rec, "status", json_string("running"));
        if (json_is_null(json_object_get(ctx.rec, "startedAt")))
            json_object_set_new(ctx.rec, "startedAt", json_string(text));
    }
    if (!json_is_integer(json_object_get(ctx.rec, "_deadlineMs")))
        json_object_set_new(ctx.rec, "_deadlineMs",
                            json_integer(now + (ctx.def->deadline_ms > 0 ? ctx.def->deadline_ms
                                                                         : DEFAULT_DEADLINE_MS)));
    deadline = json_integer_value(json_object_get(ctx.rec, "_deadlineMs"));
    steps = json_object_get(ctx.rec, "steps");
    n = json_array_size(steps);
    for (;;) {
        i = first_unfinished(steps);
        if (i == n) {
            /* A job with no steps, or resumed with every step done, ends now. */
            finish_succeeded(&ctx);
            if (ctx.def->on_succeeded &&
                (job_ctx_begin(&ctx, &err) || ctx.def->on_succeeded(&ctx, &err))) {
                abandon_tx(&ctx);
                enqueue(id, util_now_ms() + BACKOFF_BASE_MS);
                goto out;
            }
            save_job(&ctx, &err);
            goto out;
        }
        ctx.step = (int) i;
        if (util_now_ms() > deadline) {
            fail_job(&ctx, "JobDeadlineExceeded",
                     "The job did not finish before its deadline; its last step kept failing.");
            goto out;
        }
        if (ctx.def->each == NULL && (i >= (size_t) 1024 || ctx.def->steps[i].name == NULL)) {
            fail_job(&ctx, "InternalError", "This job's steps are not known to this version of wapd.");
            goto out;
        }
        snprintf(ctx.op_id, sizeof(ctx.op_id), "%s:%zu:%lld", id, i,
                 (long long) json_integer_value(json_object_get(ctx.rec, "_epoch")));
        if (!marked) {
            /* Claims the job (a cancel since it was read makes this save fail) and shows the step. */
            set_step_status(ctx.rec, ctx.step, "running");
            if (save_job(&ctx, &err) != 0) {
                if (err.code != ERR_PRECONDITION_FAILED) /* changed elsewhere (canceled): let it go */
                    enqueue(id, util_now_ms() + BACKOFF_MAX_MS);
                goto out;
            }
        }
        marked = false;
        err_clear(&err);
        fault_point(ctx.def->kind, (int) i, 0);
        res = ctx.def->each ? ctx.def->each(&ctx, &err) : ctx.def->steps[i].fn(&ctx, &err);
        if (res == JOB_STEP_DONE) {
            /* One commit records the step's changes, its end, and the next step's start (or the job's
             * end). */
            set_step_status(ctx.rec, ctx.step, "succeeded");
            json_object_set_new(ctx.rec, "_attempts", json_integer(0));
            next = first_unfinished(steps);
            if (next == n) {
                finish_succeeded(&ctx);
                if (ctx.def->on_succeeded &&
                    (job_ctx_begin(&ctx, &err) || ctx.def->on_succeeded(&ctx, &err))) {
                    abandon_tx(&ctx);
                    enqueue(id, util_now_ms() + BACKOFF_BASE_MS);
                    goto out;
                }
            } else {
                set_step_status(ctx.rec, (int) next, "running");
                json_object_set_new(ctx.rec, "progress", json_integer(progress_of(ctx.rec)));
            }
            err_clear(&err);
            if (save_job(&ctx, &err) != 0) {
                /* The step's changes rolled back with the record: run it again later. */
                enqueue(id, util_now_ms() + BACKOFF_BASE_MS);
                goto out;
            }
            fault_point(ctx.def->kind, (int) i, 1);
            if (next == n)
                goto out;
            marked = true;
            pthread_mutex_lock(&eng.lock);
            if (eng.stopping) {
                pthread_mutex_unlock(&eng.lock);
                goto out; /* a safe point: the rest runs after the next start */
            }
            pthread_mutex_unlock(&eng.lock);
            continue;
        }
        abandon_tx(&ctx);
        if (res == JOB_STEP_FAILED) {
            fail_job(&ctx, err.code != ERR_NONE ? err_code_name(err.code) : "StepFailed",
                     err.message[0] ? err.message : "The step failed.");
            goto out;
        }
        /* Retry: exponential backoff with jitter, within the deadline. */
        attempts = (int) json_integer_value(json_object_get(ctx.rec, "_attempts")) + 1;
        backoff = BACKOFF_BASE_MS << (attempts < 6 ? attempts : 6);
        if (backoff > BACKOFF_MAX_MS)
            backoff = BACKOFF_MAX_MS;
        backoff = backoff / 2 + (int64_t) (rand() % (int) (backoff / 2 + 1));
        if (util_now_ms() + backoff > deadline) {
            fail_job(&ctx, err.code != ERR_NONE ? err_code_name(err.code) : "JobDeadlineExceeded",
                     err.message[0] ? err.message : "The step kept failing until the deadline.");
            goto out;
        }
        json_object_set_new(ctx.rec, "_attempts", json_integer(attempts));
        json_object_set_new(ctx.rec, "_runAfterMs", json_integer(util_now_ms() + backoff));
        save_job(&ctx, &err);
        enqueue(id, util_now_ms() + backoff);
        goto out;
    }
out:
    abandon_tx(&ctx);
    json_decref(ctx.rec);
}

static void *
worker_main(void *arg)
{
    int worker = (int) (intptr_t) arg;
    char id[UTIL_UUID_LEN + 1];
    int64_t next_due;
    struct timespec ts;

    pthread_mutex_lock(&eng.lock);
    while (!eng.stopping) {
        if (!take_locked(worker, &next_due)) {
            if (next_due == INT64_MAX) {
                pthread_cond_wait(&eng.cond, &eng.lock);
            } else {
                ts.tv_sec = (time_t) (next_due / 1000);
                ts.tv_nsec = (long) (next_due % 1000) * 1000000L;
                pthread_cond_timedwait(&eng.cond, &eng.lock, &ts);
            }
            continue;
        }
        snprintf(id, sizeof(id), "%s", eng.busy[worker]);
        pthread_mutex_unlock(&eng.lock);
        run_job(id);
        pthread_mutex_lock(&eng.lock);
        eng.busy[worker][0] = '\0';
        pthread_cond_broadcast(&eng.cond); /* a job skipped as busy may be due */
    }
    pthread_mutex_unlock(&eng.lock);
    return NULL;
}

int
job_engine_start(store_t *st, int workers, err_t *err)
{
    static const char *const active[] = {"queued", "running"};
    json_t *states = json_pack("[s, s]", active[0], active[1]), *page, *rec;
    store_filter_t f = {.field = "status", .op = STORE_FILTER_IN, .values = states};
    int64_t after = 0, next = 0;
    pthread_condattr_t attr;
    size_t i;
    int w;

    if (workers < 1 || workers > MAX_WORKERS) {
        json_decref(states);
        return err_set(err, ERR_INTERNAL, NULL, "Workers must be 1 to %d.", MAX_WORKERS);
    }
    pthread_mutex_lock(&eng.lock);
    if (eng.running) {
        pthread_mutex_unlock(&eng.lock);
        json_decref(states);
        return err_set(err, ERR_INTERNAL, NULL, "The job engine already runs.");
    }
    eng.st = st;
    eng.stopping = false;
    eng.busy = calloc((size_t) workers, sizeof(*eng.busy));
    pthread_mutex_unlock(&eng.lock);
    if (eng.busy == NULL) {
        json_decref(states);
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    }
    /* Jobs a previous run left unfinished resume now. */
    do {
        page = store_rec_list(st, &store_kind_job, &f, 1, after, 500, &next, err);
        if (page == NULL) {
            json_decref(states);
            free(eng.busy);
            eng.busy = NULL;
            return -1;
        }
        json_array_foreach(page, i, rec)
            enqueue(str(rec, "id"),
                    json_integer_value(json_object_get(rec, "_runAfterMs")));
        json_decref(page);
        after = next;
    } while (next);
    json_decref(states);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_REALTIME);
    pthread_cond_destroy(&eng.cond);
    pthread_cond_init(&eng.cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_lock(&eng.lock);
    for (w = 0; w < workers; w++) {
        if (pthread_create(&eng.workers[w], NULL, worker_main, (void *) (intptr_t) w) != 0)
            break;
    }
    eng.nworkers = w;
    eng.running = w > 0;
    pthread_mutex_unlock(&eng.lock);
    if (w == 0)
        return err_set(err, ERR_INTERNAL, NULL, "No job worker could be started.");
    return 0;
}

void
job_engine_stop(void)
{
    qitem_t *q, *n;
    int w, count;

    pthread_mutex_lock(&eng.lock);
    if (!eng.running) {
        pthread_mutex_unlock(&eng.lock);
        return;
    }
    eng.stopping = true;
    pthread_cond_broadcast(&eng.cond);
    count = eng.nworkers;
    pthread_mutex_unlock(&eng.lock);
    for (w = 0; w < count; w++)
        pthread_join(eng.workers[w], NULL);
    pthread_mutex_lock(&eng.lock);
    for (q = eng.queue; q; q = n) {
        n = q->next;
        free(q);
    }
    eng.queue = NULL;
    free(eng.busy);
    eng.busy = NULL;
    eng.nworkers = 0;
    eng.running = false;
    eng.st = NULL;
    pthread_mutex_unlock(&eng.lock);
}

bool
job_engine_running(void)
{
    bool r;

    pthread_mutex_lock(&eng.lock);
    r = eng.running;
    pthread_mutex_unlock(&eng.lock);
    return r;
}
