/*
 * pool.c: the worker pool of the job engine: the threads, their wakeups, and the queue of jobs to look at
 * with the set of jobs someone holds (queue.h) (see job.h).
 *
 * The in-memory queue only says which jobs to look at and when; the database holds the truth, and the
 * queue is rebuilt from it at start, so nothing is lost with it. Workers wait on one condition variable
 * (on CLOCK_REALTIME): a new or requeued job wakes one of them (a signal: one job, one worker), and the
 * earliest due time in the queue ends a timed wait; never polling. A worker that takes a job while more
 * are due and other workers sleep wakes one more.
 *
 * A worker runs a job only while this daemon holds the job's lease in the store (claim.c), taken after
 * the worker took the job from the queue and given back before the worker lets it go, unless the job is
 * queued here again: several daemons on one database never run a job at once.
 *
 * Invariants, all under eng.lock, which is held only to put, take, hold and release (O(log n) each): a
 * job id is in the queue at most once (with its earliest due time); a job held by a worker or by a request
 * (job__hold, a cancel) is not taken by another worker; the queue exists only between job_engine_start and
 * job_engine_stop. Functions named ..._locked are called with eng.lock held (asserted through a
 * per-thread flag).
 */
#include "job_internal.h"
#include "queue.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WORKERS 256

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    store_t *st;
    bool running, stopping;
    int nworkers, nidle;
    pthread_t workers[MAX_WORKERS];
    job_queue_t *queue; /* NULL while no engine runs */
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

/* Wakes one sleeping worker when a job is queued that is due by `by` (INT64_MAX - 1: whenever; the
 * worker then waits until it is due, a wait shorter than the one it slept in). */
static void
wake_one_locked(int64_t by)
{
    assert(lock_held);
    if (eng.nidle > 0 && eng.queue != NULL && job__queue_next_due(eng.queue) <= by)
        pthread_cond_signal(&eng.cond);
}

void
job__enqueue(const char *id, int64_t run_after_ms)
{
    assert(id != NULL);
    eng_lock();
    /* With no engine running the job waits in the database, where the next start finds it; so does a
     * job the queue has no memory for. */
    if (eng.queue != NULL && job__queue_put(eng.queue, id, run_after_ms) == 0)
        wake_one_locked(INT64_MAX - 1);
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

bool
job__hold(const char *id)
{
    bool held;

    assert(id != NULL);
    if (strlen(id) > UTIL_UUID_LEN)
        return true; /* not a job's id: no worker can hold it */
    eng_lock();
    held = eng.queue == NULL || job__queue_hold(eng.queue, id);
    eng_unlock();
    return held;
}

void
job__release(const char *id)
{
    assert(id != NULL);
    if (strlen(id) > UTIL_UUID_LEN)
        return;
    eng_lock();
    if (eng.queue != NULL) {
        job__queue_unhold(eng.queue, id);
        wake_one_locked(INT64_MAX - 1);
    }
    eng_unlock();
}

void
job__release_owned(void *arg)
{
    job__release(arg);
    free(arg);
}

bool
job__worker_has(const char *id, int64_t *since_ms)
{
    bool has;

    assert(id != NULL);
    if (strlen(id) > UTIL_UUID_LEN)
        return false;
    eng_lock();
    has = eng.queue != NULL && job__queue_holder(eng.queue, id, since_ms) == JOB_QUEUE_WORKER;
    eng_unlock();
    return has;
}

/* ---- the workers ---- */

static void
wait_locked(int64_t next_due)
{
    struct timespec ts;

    assert(lock_held);
    eng.nidle++;
    if (next_due == INT64_MAX) {
        pthread_cond_wait(&eng.cond, &eng.lock);
    } else {
        ts.tv_sec = (time_t) (next_due / 1000);
        ts.tv_nsec = (long) (next_due % 1000) * 1000000L;
        pthread_cond_timedwait(&eng.cond, &eng.lock, &ts);
    }
    eng.nidle--;
}

/* Runs job id, which this worker has taken from the queue, while this daemon holds its lease (claim.c):
 * another daemon's job is dropped (that daemon runs it; the takeover scan finds it if that daemon dies).
 * The lease is kept while the job is queued here again (a retry, a poll, a wakeup), else given back,
 * before the worker's hold ends: no other worker of this daemon runs the job without its lease. */
static void
run_leased(const char *id)
{
    err_t err = {0};
    int leased;
    bool queued;

    if (!store_shared(eng.st)) { /* one process: this pool is the lease */
        job__run(eng.st, id);
        return;
    }
    leased = job__lease_take(eng.st, id, &err);
    if (leased < 0) {
        fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"job lease not taken\",\"job\":\"%s\","
                        "\"error\":\"%s\"}\n",
                id, err.message);
        job__enqueue(id, util_now_ms() + JOB_SCAN_MS);
        return;
    }
    if (leased == 0)
        return;
    job__run(eng.st, id);
    eng_lock();
    queued = job__queue_queued(eng.queue, id);
    eng_unlock();
    if (!queued)
        job__lease_give(eng.st, id);
}

static void *
worker_main(void *arg)
{
    char id[UTIL_UUID_LEN + 1];
    int64_t next_due;

    (void) arg;
    eng_lock();
    while (!eng.stopping) {
        if (!job__queue_take(eng.queue, util_now_ms(), id, &next_due)) {
            wait_locked(next_due);
            continue;
        }
        wake_one_locked(util_now_ms()); /* more work due now: another worker takes it */
        eng_unlock();
        run_leased(id);
        eng_lock();
        job__queue_release(eng.queue, id); /* a requeue made while it ran is due now or later */
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
    eng.nidle = 0;
    eng.queue = job__queue_new();
    eng_unlock();
    if (eng.queue == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    /* Jobs a previous run left unfinished resume now. */
    if (requeue_unfinished(st, err)) {
        eng_lock();
        job__queue_free(eng.queue);
        eng.queue = NULL;
        eng.st = NULL;
        eng_unlock();
        return -1;
    }
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_REALTIME);
    pthread_cond_destroy(&eng.cond);
    pthread_cond_init(&eng.cond, &attr);
    pthread_condattr_destroy(&attr);
    eng_lock();
    for (w = 0; w < workers; w++) {
        if (pthread_create(&eng.workers[w], NULL, worker_main, NULL) != 0)
            break;
    }
    eng.nworkers = w;
    eng.running = w > 0;
    eng_unlock();
    if (w > 0 && store_shared(st) && job__leases_start(st, err) != 0) {
        job_engine_stop();
        return -1;
    }
    eng_lock();
    if (w == 0) {
        job__queue_free(eng.queue);
        eng.queue = NULL;
        eng.st = NULL;
    }
    eng_unlock();
    if (w == 0)
        return err_set(err, ERR_INTERNAL, NULL, "No job worker could be started.");
    return 0;
}

void
job_engine_stop(void)
{
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
    job__leases_stop(); /* what stays queued here is another daemon's to run */
    eng_lock();
    job__queue_free(eng.queue);
    eng.queue = NULL;
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
