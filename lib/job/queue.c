/*
 * queue.c: the job queue (see queue.h): a binary min-heap of entries ordered by (due time, order of first
 * put), and a chained hash table that finds an entry by its job id.
 *
 * Invariants: an entry exists while its job is queued or held, and is freed when it is neither; a job is
 * held while a worker runs it (`worker`) or requests hold it (`requests` > 0; several may, a worker never
 * with them); an entry is in the heap exactly when its job is queued and not held (heap_at is then its
 * index, else NOT_IN_HEAP); a held entry that was put meanwhile has `waiting` set and keeps its earliest
 * due time in `due`; the hash table has a power-of-two number of buckets and at most one entry per id.
 */
#include "queue.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOT_IN_HEAP SIZE_MAX
#define MIN_BUCKETS 64

typedef struct entry {
    char id[UTIL_UUID_LEN + 1];
    int64_t due;
    uint64_t seq; /* order of the put that queued it: first put, first taken among equal due times */
    size_t heap_at;
    bool worker;  /* a worker runs it, since held_since */
    int requests; /* holds by requests */
    int64_t held_since;
    bool waiting; /* put while held: queued again at its release */
    struct entry *chain;
} entry_t;

struct job_queue {
    entry_t **heap;
    size_t nheap, heap_cap;
    entry_t **buckets;
    size_t nbuckets, nentries, nwaiting;
    uint64_t seq;
};

/* ---- the hash table ---- */

static size_t
hash_of(const char *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *id; id++)
        h = (h ^ (unsigned char) *id) * 1099511628211ULL;
    return (size_t) h;
}

static entry_t **
slot_of(const job_queue_t *q, const char *id)
{
    entry_t **pp = &q->buckets[hash_of(id) & (q->nbuckets - 1)];

    while (*pp != NULL && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->chain;
    return pp;
}

static entry_t *
find(const job_queue_t *q, const char *id)
{
    return *slot_of(q, id);
}

/* Doubles the table when it holds more entries than buckets; a failed growth keeps the old table. */
static void
grow(job_queue_t *q)
{
    size_t n = q->nbuckets * 2, i;
    entry_t **b, *e, *next;

    if (q->nentries <= q->nbuckets || (b = calloc(n, sizeof(*b))) == NULL)
        return;
    for (i = 0; i < q->nbuckets; i++) {
        for (e = q->buckets[i]; e != NULL; e = next) {
            next = e->chain;
            e->chain = b[hash_of(e->id) & (n - 1)];
            b[hash_of(e->id) & (n - 1)] = e;
        }
    }
    free(q->buckets);
    q->buckets = b;
    q->nbuckets = n;
}

static bool
held(const entry_t *e)
{
    return e->worker || e->requests > 0;
}

/* Frees e once it is neither queued nor held. */
static void
drop_if_idle(job_queue_t *q, entry_t *e)
{
    entry_t **pp;

    if (e->heap_at != NOT_IN_HEAP || held(e) || e->waiting)
        return;
    pp = slot_of(q, e->id);
    assert(*pp == e);
    *pp = e->chain;
    q->nentries--;
    free(e);
}

/* ---- the heap ---- */

static bool
before(const entry_t *a, const entry_t *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void
heap_set(job_queue_t *q, size_t i, entry_t *e)
{
    q->heap[i] = e;
    e->heap_at = i;
}

static void
sift_up(job_queue_t *q, size_t i)
{
    entry_t *e = q->heap[i];

    while (i > 0 && before(e, q->heap[(i - 1) / 2])) {
        heap_set(q, i, q->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(q, i, e);
}

static void
sift_down(job_queue_t *q, size_t i)
{
    entry_t *e = q->heap[i];
    size_t c;

    for (;;) {
        c = 2 * i + 1;
        if (c >= q->nheap)
            break;
        if (c + 1 < q->nheap && before(q->heap[c + 1], q->heap[c]))
            c++;
        if (!before(q->heap[c], e))
            break;
        heap_set(q, i, q->heap[c]);
        i = c;
    }
    heap_set(q, i, e);
}

static int
heap_push(job_queue_t *q, entry_t *e)
{
    size_t cap;
    entry_t **h;

    if (q->nheap == q->heap_cap) {
        cap = q->heap_cap ? q->heap_cap * 2 : 64;
        h = realloc(q->heap, cap * sizeof(*h));
        if (h == NULL)
            return -1;
        q->heap = h;
        q->heap_cap = cap;
    }
    heap_set(q, q->nheap++, e);
    sift_up(q, e->heap_at);
    return 0;
}

static void
heap_remove(job_queue_t *q, entry_t *e)
{
    size_t i = e->heap_at;
    entry_t *moved;

    assert(i < q->nheap && q->heap[i] == e);
    e->heap_at = NOT_IN_HEAP;
    if (i == --q->nheap)
        return;
    moved = q->heap[q->nheap];
    heap_set(q, i, moved);
    sift_up(q, i);
    if (moved->heap_at == i)
        sift_down(q, i);
}

/* ---- the queue ---- */

job_queue_t *
job__queue_new(void)
{
    job_queue_t *q = calloc(1, sizeof(*q));

    if (q == NULL)
        return NULL;
    q->buckets = calloc(MIN_BUCKETS, sizeof(*q->buckets));
    if (q->buckets == NULL) {
        free(q);
        return NULL;
    }
    q->nbuckets = MIN_BUCKETS;
    return q;
}

void
job__queue_free(job_queue_t *q)
{
    entry_t *e, *next;
    size_t i;

    if (q == NULL)
        return;
    for (i = 0; i < q->nbuckets; i++) {
        for (e = q->buckets[i]; e != NULL; e = next) {
            next = e->chain;
            free(e);
        }
    }
    free(q->buckets);
    free(q->heap);
    free(q);
}

/* The entry of id, made (free and not queued) when there is none; NULL when out of memory. */
static entry_t *
find_or_add(job_queue_t *q, const char *id)
{
    entry_t **pp = slot_of(q, id), *e = *pp;

    if (e != NULL)
        return e;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->heap_at = NOT_IN_HEAP;
    e->seq = q->seq++;
    *pp = e;
    q->nentries++;
    grow(q);
    return e;
}

int
job__queue_put(job_queue_t *q, const char *id, int64_t due_ms)
{
    entry_t *e;

    assert(q != NULL && id != NULL && strlen(id) <= UTIL_UUID_LEN);
    e = find_or_add(q, id);
    if (e == NULL)
        return -1;
    if (e->heap_at != NOT_IN_HEAP) {
        if (due_ms < e->due) {
            e->due = due_ms;
            sift_up(q, e->heap_at);
        }
        return 0;
    }
    if (held(e)) {
        if (!e->waiting || due_ms < e->due)
            e->due = due_ms;
        if (!e->waiting)
            q->nwaiting++;
        e->waiting = true;
        return 0;
    }
    e->due = due_ms;
    e->seq = q->seq++;
    if (heap_push(q, e) == 0)
        return 0;
    drop_if_idle(q, e);
    return -1;
}

bool
job__queue_take(job_queue_t *q, int64_t now_ms, char out[UTIL_UUID_LEN + 1], int64_t *next_due)
{
    entry_t *e;

    assert(q != NULL && out != NULL && next_due != NULL);
    *next_due = job__queue_next_due(q);
    if (*next_due > now_ms)
        return false;
    e = q->heap[0];
    assert(!held(e) && !e->waiting);
    heap_remove(q, e);
    e->worker = true;
    e->held_since = now_ms;
    memcpy(out, e->id, sizeof(e->id));
    return true;
}

bool
job__queue_hold(job_queue_t *q, const char *id)
{
    entry_t *e;

    assert(q != NULL && id != NULL);
    e = find_or_add(q, id);
    if (e == NULL || e->worker)
        return false;
    if (e->heap_at != NOT_IN_HEAP) {
        heap_remove(q, e);
        e->waiting = true;
        q->nwaiting++;
    }
    e->requests++;
    return true;
}

/* Queues e again, at its earliest due time, when it was put while held and is held no more. */
static void
requeue_if_free(job_queue_t *q, entry_t *e)
{
    if (e->waiting && !held(e)) {
        e->waiting = false;
        q->nwaiting--;
        if (heap_push(q, e) != 0)
            fprintf(stderr, "{\"level\":\"error\",\"msg\":\"job left for the next start: out of "
                            "memory\",\"job\":\"%s\"}\n",
                    e->id);
    }
    drop_if_idle(q, e);
}

/* Ends the hold of the worker that took the job (worker) or of one request. */
static void
end_hold(job_queue_t *q, const char *id, bool worker)
{
    entry_t *e;

    assert(q != NULL && id != NULL);
    e = find(q, id);
    if (e == NULL || (worker ? !e->worker : e->requests == 0))
        return;
    if (worker)
        e->worker = false;
    else
        e->requests--;
    requeue_if_free(q, e);
}

void
job__queue_unhold(job_queue_t *q, const char *id)
{
    end_hold(q, id, false);
}

void
job__queue_release(job_queue_t *q, const char *id)
{
    end_hold(q, id, true);
}

bool
job__queue_queued(const job_queue_t *q, const char *id)
{
    const entry_t *e;

    assert(q != NULL && id != NULL);
    e = find(q, id);
    return e != NULL && (e->heap_at != NOT_IN_HEAP || e->waiting);
}

job_queue_holder_t
job__queue_holder(const job_queue_t *q, const char *id, int64_t *since_ms)
{
    const entry_t *e;

    assert(q != NULL && id != NULL);
    e = find(q, id);
    if (e == NULL)
        return JOB_QUEUE_FREE;
    if (since_ms != NULL)
        *since_ms = e->held_since;
    return e->worker ? JOB_QUEUE_WORKER : e->requests > 0 ? JOB_QUEUE_OTHER : JOB_QUEUE_FREE;
}

int64_t
job__queue_next_due(const job_queue_t *q)
{
    assert(q != NULL);
    return q->nheap ? q->heap[0]->due : INT64_MAX;
}

size_t
job__queue_len(const job_queue_t *q)
{
    assert(q != NULL);
    return q->nheap + q->nwaiting;
}
