/*
 * pool.c: the worker pool of the job engine: the threads, their wakeups, the queue and the busy set (see
 * job.h).
 *
 * The in-memory queue only says which jobs to look at and when; the database holds the truth, and the
 * queue is rebuilt from it at start, so nothing is lost with it. Workers wait on one condition variable
 * (on CLOCK_REALTIME): they are woken by a new or requeued job and by the earliest due time in the queue,
 * never by polling.
 *
 * Invariants, all under eng.lock: a job id is in the queue at most once (with its earliest due time); a
 * worker's slot in the busy set names the job it runs, and no job is taken while another worker holds it;
 * the queue and busy set exist only between job_engine_start and job_engine_stop. Functions named
 * ..._locked are called with eng.lock held (asserted through a per-thread flag).
 */
#include "job_internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WORKERS 64

typedef struct qitem {
    char id[UTIL_UUID_LEN + 1];
    int64_t run_after_ms;
    struct qitem *next;
} qitem_t;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    store_t *st;
    bool running, stopping;
    int nworkers;
    pthread_t workers[MAX_WORKERS];
    qitem_t *queue; /* unordered; small */
    char (*busy)[UTIL_UUID_LEN + 1];
} eng = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* True while this thread holds eng.lock (a condition wait gives it back only until it returns). */
static _Thread_local bool lock_held;

static void
eng_lock(void)
{
    pthread_mutex_lock(&eng.lock);
    lock_held = true;
}

static void
eng_unlock(void)
{
    assert(lock_held);
    lock_held = false;
    pthread_mutex_unlock(&eng.lock);
}

/* ---- the queue ---- */

static void
enqueue_locked(const char *id, int64_t run_after_ms)
{
    qitem_t *q;

    assert(lock_held);
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

void
job__enqueue(const char *id, int64_t run_after_ms)
{
    assert(id != NULL);
    eng_lock();
    /* With no engine running the job waits in the database, where the next start finds it. */
    if (eng.running || eng.st != NULL)
        enqueue_locked(id, run_after_ms);
    pthread_cond_broadcast(&eng.cond);
    eng_unlock();
}

void
job__wake_for_job(void *arg)
{
    char *id = arg;

    job__enqueue(id, 0);
    free(id);
}

bool
job__stopping(void)
{
    bool stopping;

    eng_lock();
    stopping = eng.stopping;
    eng_unlock();
    return stopping;
}

static bool
busy_locked(const char *id)
{
    int i;

    assert(lock_held);
    for (i = 0; i < eng.nworkers; i++)
        if (strcmp(eng.busy[i], id) == 0)
            return true;
    return false;
}

/* Takes the due job that is not running elsewhere into the worker's busy slot, or says when the next one
 * is due (INT64_MAX: none queued). */
static bool
take_locked(int worker, int64_t *next_due)
{
    qitem_t **pp, *q;
    int64_t now = util_now_ms();

    assert(lock_held && eng.busy[worker][0] == '\0');
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

/* ---- the workers ---- */

static void *
worker_main(void *arg)
{
    int worker = (int) (intptr_t) arg;
    char id[UTIL_UUID_LEN + 1];
    int64_t next_due;
    struct timespec ts;

    eng_lock();
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
        eng_unlock();
        job__run(eng.st, id);
        eng_lock();
        eng.busy[worker][0] = '\0';
        pthread_cond_broadcast(&eng.cond); /* a job skipped as busy may be due */
    }
    eng_unlock();
    return NULL;
}

/* Queues every job a previous run left queued or running. */
static int
requeue_unfinished(store_t *st, err_t *err)
{
    json_t *states = json_pack("[s, s]", "queued", "running"), *page, *rec;
    store_filter_t f = {.field = "status", .op = STORE_FILTER_IN, .values = states};
    int64_t after = 0, next = 0;
    size_t i;

    do {
        page = store_rec_list(st, &store_kind_job, &f, 1, after, 500, &next, err);
        if (page == NULL) {
            json_decref(states);
            return -1;
        }
        json_array_foreach(page, i, rec)
            job__enqueue(job__str(rec, "id"),
                         json_integer_value(json_object_get(rec, "_runAfterMs")));
        json_decref(page);
        after = next;
    } while (next);
    json_decref(states);
    return 0;
}

int
job_engine_start(store_t *st, int workers, err_t *err)
{
    pthread_condattr_t attr;
    int w;

    assert(st != NULL);
    if (workers < 1 || workers > MAX_WORKERS)
        return err_set(err, ERR_INTERNAL, NULL, "Workers must be 1 to %d.", MAX_WORKERS);
    eng_lock();
    if (eng.running) {
        eng_unlock();
        return err_set(err, ERR_INTERNAL, NULL, "The job engine already runs.");
    }
    eng.st = st;
    eng.stopping = false;
    eng.busy = calloc((size_t) workers, sizeof(*eng.busy));
    eng_unlock();
    if (eng.busy == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    /* Jobs a previous run left unfinished resume now. */
    if (requeue_unfinished(st, err)) {
        free(eng.busy);
        eng.busy = NULL;
        return -1;
    }
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_REALTIME);
    pthread_cond_destroy(&eng.cond);
    pthread_cond_init(&eng.cond, &attr);
    pthread_condattr_destroy(&attr);
    eng_lock();
    for (w = 0; w < workers; w++) {
        if (pthread_create(&eng.workers[w], NULL, worker_main, (void *) (intptr_t) w) != 0)
            break;
    }
    eng.nworkers = w;
    eng.running = w > 0;
    eng_unlock();
    if (w == 0)
        return err_set(err, ERR_INTERNAL, NULL, "No job worker could be started.");
    return 0;
}

void
job_engine_stop(void)
{
    qitem_t *q, *n;
    int w, count;

    eng_lock();
    if (!eng.running) {
        eng_unlock();
        return;
    }
    eng.stopping = true;
    pthread_cond_broadcast(&eng.cond);
    count = eng.nworkers;
    eng_unlock();
    for (w = 0; w < count; w++)
        pthread_join(eng.workers[w], NULL);
    eng_lock();
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
    eng_unlock();
}

bool
job_engine_running(void)
{
    bool r;

    eng_lock();
    r = eng.running;
    eng_unlock();
    return r;
}
