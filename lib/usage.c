/*
 * usage.c: closing metering periods from the VM timeline (see usage.h); what the close wrote is read,
 * acknowledged and purged by usage/feed.c.
 *
 * A VM's timeline is a list of states, each in force from its time to the next one's (or to the VM's
 * deletion). For a period [p0, p1) each meter adds up the state durations clipped to the period and to the
 * VM's life, the compute meters and the WAP record per size the VM had (a segment per size, in the order
 * it first had it), so that a period's compute records of one VM sum to what it held. A period is
 * closed a chunk of VMs per transaction (each chunk sized to hold the store's write turn briefly), the
 * last one moving the closed-until mark, so a crash closes the period again from the start, and the
 * records' uniqueness keeps it to one record each. A close
 * given a time budget (the daemon's start) stops after the chunk that ends past it and remembers, in
 * memory only, the period and the last VM it closed; the next close of that period goes on from there.
 * The mark is a hint: lost with the process, the period is closed again from its start.
 * Each period closed is timed, and the mark after each round kept, for /metrics (lib/metrics.h).
 */
#include "usage.h"

#include <stdbool.h>
#include <stdint.h>
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

#define CLOSED_UNTIL "usage.closedUntilMs"
#define MS_PER_HOUR 3600000.0
/* VMs closed per transaction: each chunk holds the store's write turn, and every API write waits behind
 * it, so a chunk is sized by time. The first chunk of a close has CLOSE_CHUNK_FIRST VMs; a chunk that
 * took longer than CLOSE_CHUNK_TARGET_MS halves the next, one that took under a quarter of it doubles the
 * next, within [CLOSE_CHUNK_MIN, CLOSE_CHUNK_MAX]. Between chunks the writers queued meanwhile go first. */
#define CLOSE_CHUNK_FIRST 256
#define CLOSE_CHUNK_MIN 16
#define CLOSE_CHUNK_MAX 5000
#define CLOSE_CHUNK_TARGET_MS 50
#define VM_ID_BUF 64

/* The chunk bounds in force (usage__close_chunks changes them for tests). */
static int chunk_first = CLOSE_CHUNK_FIRST, chunk_max = CLOSE_CHUNK_MAX;

void
usage__close_chunks(int first, int max)
{
    assert((first == 0 && max == 0) || (first > 0 && max >= first));
    __atomic_store_n(&chunk_first, first > 0 ? first : CLOSE_CHUNK_FIRST, __ATOMIC_RELAXED);
    __atomic_store_n(&chunk_max, max > 0 ? max : CLOSE_CHUNK_MAX, __ATOMIC_RELAXED);
}

/* The size of the chunk after one of n VMs that took took_ns. */
static int
chunk_next(int n, int64_t took_ns)
{
    int max = __atomic_load_n(&chunk_max, __ATOMIC_RELAXED);
    int min = CLOSE_CHUNK_MIN < max ? CLOSE_CHUNK_MIN : max;

    if (took_ns > (int64_t) CLOSE_CHUNK_TARGET_MS * 1000000)
        n /= 2;
    else if (took_ns < (int64_t) CLOSE_CHUNK_TARGET_MS * 1000000 / 4)
        n = n > max / 2 ? max : 2 * n;
    return n < min ? min : n > max ? max : n;
}

/* Where a close that ran out of time stopped: period p0 is closed for every VM up to after (p0 -1: none
 * stopped). Guarded by mu. */
static struct {
    pthread_mutex_t mu;
    int64_t p0;
    char after[VM_ID_BUF];
} resume = {PTHREAD_MUTEX_INITIALIZER, -1, ""};

/* Records (p0 and after) or, with after NULL, forgets where a close stopped. */
static void
resume_set(int64_t p0, const char *after)
{
    pthread_mutex_lock(&resume.mu);
    resume.p0 = after ? p0 : -1;
    snprintf(resume.after, sizeof(resume.after), "%s", after ? after : "");
    pthread_mutex_unlock(&resume.mu);
}

/* The VM after which the close of period p0 goes on ("" when it starts from the first). */
static void
resume_get(int64_t p0, char after[VM_ID_BUF])
{
    pthread_mutex_lock(&resume.mu);
    snprintf(after, VM_ID_BUF, "%s", resume.p0 == p0 ? resume.after : "");
    pthread_mutex_unlock(&resume.mu);
}

/* A VM's timeline row as the closer keeps it while it gathers the VM's rows. */
typedef struct {
    int64_t at, cores, memory_mb, assigned_mb, storage_gb;
    bool deleted, running, holds_compute, holds_storage;
    char subscription_id[64], size[96], name[160], type[16];
} row_t;

/* One size a VM had within the period being closed: its compute records and its WAP record. The sums
 * are integrals over time (the quantity times milliseconds) over the ms it had the size. */
typedef struct {
    const row_t *last; /* the last row with this size: the records' properties */
    int64_t ms, compute_ms, running_ms;
    int64_t cpu_max, mem_max, consumed_min, consumed_max, disk_max;
    double cpu_sum, mem_sum, consumed_sum, disk_sum;
} seg_t;

/* The closer's state while it walks the timeline of one period. */
typedef struct {
    store_t *st;
    int64_t p0, p1;
    char vm_id[64];
    row_t *rows;
    size_t n, cap;
    seg_t *segs; /* the sizes of the VM being metered, in the order it first had them */
    size_t nseg, segcap;
    char props_key[128]; /* the size, cores and memory props_json was made for */
    char *props_json;
} closer_t;
/* The records' properties ({size, cores, memoryMB}) as JSON text, made again only when they change. */
static const char *
properties(closer_t *c, const row_t *last)
{
    char key[128];
    json_t *p;

    snprintf(key, sizeof(key), "%s/%lld/%lld", last->size, (long long) last->cores,
             (long long) last->memory_mb);
    if (c->props_json == NULL || strcmp(key, c->props_key) != 0) {
        free(c->props_json);
        p = json_pack("{s:s, s:I, s:I}", "size", last->size, "cores", (json_int_t) last->cores,
                      "memoryMB", (json_int_t) last->memory_mb);
        c->props_json = p ? util_json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        snprintf(c->props_key, sizeof(c->props_key), "%s", key);
    }
    return c->props_json;
}

/* A stored object's properties ({sizeGB}), made again only when they change. */
static const char *
storage_properties(closer_t *c, const row_t *last)
{
    char key[128];
    json_t *p;

    snprintf(key, sizeof(key), "storage/%lld", (long long) last->storage_gb);
    if (c->props_json == NULL || strcmp(key, c->props_key) != 0) {
        free(c->props_json);
        p = json_pack("{s:I}", "sizeGB", (json_int_t) last->storage_gb);
        c->props_json = p ? util_json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        snprintf(c->props_key, sizeof(c->props_key), "%s", key);
    }
    return c->props_json;
}

/* Writes the record of meter for the VM (or stored object) being closed, with the properties of row last;
 * variant is the size a compute record bills ("" for the rest). */
static int
add_record(closer_t *c, const row_t *last, const char *meter, const char *variant, double qty,
           const char *unit, err_t *err)
{
    char id[UTIL_UUID_LEN + 1];
    bool vm = strcmp(last->type, "vm") == 0;
    store_usage_rec_t r = {
        .id = id,
        .subscription_id = last->subscription_id,
        .resource_id = c->vm_id,
        .resource_type = last->type,
        .meter = meter,
        .unit = unit,
        .properties = vm ? properties(c, last) : storage_properties(c, last),
        .variant = variant,
        .quantity = qty,
        .period_start_ms = c->p0,
        .period_end_ms = c->p1,
    };

    if (r.properties == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    util_uuid_v7(c->p1, id);
    return store_usage_record_put(c->st, &r, err);
}

/* The segment of row's size, added (empty) when the VM had not had that size yet in the period; NULL
 * when out of memory. */
static seg_t *
seg_of(closer_t *c, const row_t *row)
{
    seg_t *g;
    size_t i;

    for (i = 0; i < c->nseg; i++) {
        if (strcmp(c->segs[i].last->size, row->size) == 0) {
            c->segs[i].last = row;
            return &c->segs[i];
        }
    }
    if (c->nseg == c->segcap) {
        size_t cap = c->segcap ? 2 * c->segcap : 4;
        seg_t *grown = realloc(c->segs, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        c->segs = grown;
        c->segcap = cap;
    }
    g = &c->segs[c->nseg++];
    memset(g, 0, sizeof(*g));
    g->last = row;
    g->consumed_min = INT64_MAX;
    return g;
}

/* Adds dur ms of row's state to its size's segment: capacity counts while the VM holds it, the assigned
 * memory while it runs, disks while it holds storage; 0 otherwise. */
static int
seg_add(closer_t *c, const row_t *row, int64_t dur, err_t *err)
{
    seg_t *g = seg_of(c, row);
    int64_t cpu = row->holds_compute ? row->cores : 0, mem = row->holds_compute ? row->memory_mb : 0;
    int64_t consumed = row->running ? row->assigned_mb : 0;
    int64_t disk = row->holds_storage ? row->storage_gb * 1024 * 1024 * 1024 : 0;

    if (g == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    assert(dur > 0);
    g->ms += dur;
    g->compute_ms += row->holds_compute ? dur : 0;
    g->running_ms += row->running ? dur : 0;
    g->cpu_max = cpu > g->cpu_max ? cpu : g->cpu_max;
    g->mem_max = mem > g->mem_max ? mem : g->mem_max;
    g->disk_max = disk > g->disk_max ? disk : g->disk_max;
    g->consumed_max = consumed > g->consumed_max ? consumed : g->consumed_max;
    g->consumed_min = consumed < g->consumed_min ? consumed : g->consumed_min;
    g->cpu_sum += (double) cpu * (double) dur;
    g->mem_sum += (double) mem * (double) dur;
    g->consumed_sum += (double) consumed * (double) dur;
    g->disk_sum += (double) disk * (double) dur;
    return 0;
}

/* The WAP record of a size the VM had in the period: the most it had, and averages over that time. */
static int
seg_wap_put(closer_t *c, const seg_t *g, err_t *err)
{
    double ms = g->ms > 0 ? (double) g->ms : 1;

    return store_wap_usage_put(c->st,
                               &(store_wap_rec_t){
                                   .resource_id = c->vm_id,
                                   .subscription_id = g->last->subscription_id,
                                   .name = g->last->name,
                                   .size = g->last->size,
                                   .period_start_ms = c->p0,
                                   .period_end_ms = c->p1,
                                   .cpu_max = g->cpu_max,
                                   .memory_max = g->mem_max,
                                   .disk_bytes_max = g->disk_max,
                                   .memory_consumed_min =
                                       g->consumed_min == INT64_MAX ? 0 : g->consumed_min,
                                   .memory_consumed_max = g->consumed_max,
                                   .cpu_avg = g->cpu_sum / ms,
                                   .memory_avg = g->mem_sum / ms,
                                   .memory_consumed_avg = g->consumed_sum / ms,
                                   .disk_bytes_avg = g->disk_sum / ms,
                               },
                               err);
}

/* The records of the VM whose rows are gathered, for [p0, p1): none when it did not exist then. Compute
 * meters and the WAP record are split by size (one each per size the VM had for more than 0 ms); the
 * storage meter is one record, with the properties of the VM's last state. */
static int
meter_vm(closer_t *c, err_t *err)
{
    double gb = 0;
    const row_t *row, *next, *last = NULL, *rows = c->rows;
    int64_t from, to, dur, p0 = c->p0, p1 = c->p1;
    size_t i, n = c->n;
    seg_t *g;

    c->nseg = 0;
    if (n == 0 || rows[0].at >= p1)
        return 0;
    for (i = 0; i < n; i++) {
        row = &rows[i];
        if (row->deleted) {
            if (row->at <= p0)
                return 0; /* gone before the period */
            break;
        }
        next = i + 1 < n ? &rows[i + 1] : NULL;
        from = row->at > p0 ? row->at : p0;
        to = next && next->at < p1 ? next->at : p1;
        if (to <= from)
            continue;
        dur = to - from;
        last = row;
        if (seg_add(c, row, dur, err))
            return -1;
        if (row->holds_storage)
            gb += (double) row->storage_gb * (double) dur / MS_PER_HOUR;
    }
    if (last == NULL) {
        /* Every change fell outside the period: the state before it still held. */
        for (i = n; i > 0; i--) {
            if (rows[i - 1].at <= p0 && !rows[i - 1].deleted) {
                last = &rows[i - 1];
                break;
            }
        }
        if (last == NULL)
            return 0;
        if (seg_of(c, last) == NULL)
            return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    }
    if (strcmp(last->type, "vm") != 0) /* a stored object: its size over time, and nothing else */
        return add_record(c, last, "storage.snapshotGbHours", "", gb, "GB-hours", err);
    for (i = 0; i < c->nseg; i++) {
        g = &c->segs[i];
        if (add_record(c, g->last, "compute.hours", g->last->size,
                       (double) g->compute_ms / MS_PER_HOUR, "hours", err) ||
            add_record(c, g->last, "compute.runningHours", g->last->size,
                       (double) g->running_ms / MS_PER_HOUR, "hours", err))
            return -1;
    }
    if (add_record(c, last, "storage.gbHours", "", gb, "GB-hours", err))
        return -1;
    for (i = 0; i < c->nseg; i++) {
        if (seg_wap_put(c, &c->segs[i], err))
            return -1;
    }
    return 0;
}

/* Gathers each VM's rows; when the next VM's begin, meters the one gathered. */
static int
on_row(void *arg, const store_timeline_row_t *r, err_t *err)
{
    closer_t *c = arg;
    row_t *row;

    if (c->n > 0 && strcmp(c->vm_id, r->vm_id) != 0) {
        if (meter_vm(c, err))
            return -1;
        c->n = 0;
    }
    if (c->n == 0 &&
        snprintf(c->vm_id, sizeof(c->vm_id), "%s", r->vm_id) >= (int) sizeof(c->vm_id))
        return err_set(err, ERR_INTERNAL, NULL, "A VM id on the timeline is too long.");
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        row_t *grown = realloc(c->rows, cap * sizeof(*grown));
        if (grown == NULL)
            return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        c->rows = grown;
        c->cap = cap;
    }
    row = &c->rows[c->n++];
    row->at = r->at_ms;
    row->cores = r->cores;
    row->memory_mb = r->memory_mb;
    row->assigned_mb = r->assigned_memory_mb;
    row->storage_gb = r->storage_gb;
    row->deleted = strcmp(r->event, "deleted") == 0;
    row->running = strcmp(r->power_state, "running") == 0;
    row->holds_compute = r->holds_compute;
    row->holds_storage = r->holds_storage;
    snprintf(row->subscription_id, sizeof(row->subscription_id), "%s", r->subscription_id);
    snprintf(row->size, sizeof(row->size), "%s", r->size);
    snprintf(row->name, sizeof(row->name), "%s", r->name);
    snprintf(row->type, sizeof(row->type), "%s", r->resource_type ? r->resource_type : "vm");
    return 0;
}

/* Closes [p0, p1) a chunk of VMs per transaction, each chunk sized to take about CLOSE_CHUNK_TARGET_MS,
 * so that API writes never wait long for the closer.
 * Records are unique per (resource, meter, period, variant), so a crash between chunks only means that
 * the chunks already written are written again, as no-ops; the closed-until mark moves with the last
 * chunk.
 * With deadline_ns > 0 (util_mono_ns), stops after the chunk that ends past it: 1 when the period is
 * closed, 0 when it stopped there (where is remembered), -1 with err. */
static int
close_period(store_t *st, int64_t p0, int64_t p1, int64_t deadline_ns, err_t *err)
{
    closer_t c = {.st = st, .p0 = p0, .p1 = p1};
    char after[VM_ID_BUF], end[VM_ID_BUF];
    int64_t t0 = util_mono_ns(), c0;
    int more, rc = -1, chunk = __atomic_load_n(&chunk_first, __ATOMIC_RELAXED);

    resume_get(p0, after);
    do {
        c.n = 0;
        c0 = util_mono_ns();
        if (store_tx_begin_bulk(st, err))
            goto out;
        more = store_timeline_chunk_end(st, p0, after[0] ? after : NULL, chunk, end, sizeof(end), err);
        if (more < 0 ||
            store_timeline_each(st, p0, p1, after[0] ? after : NULL, more ? end : NULL, on_row, &c,
                                err) != 0 ||
            meter_vm(&c, err) != 0 ||
            (!more && (store_meta_set(st, CLOSED_UNTIL, p1, err) != 0 ||
                       store_vm_state_prune(st, p0, err) < 0)) ||
            store_tx_commit(st, err) != 0) {
            store_tx_rollback(st);
            resume_set(p0, NULL);
            goto out;
        }
        chunk = chunk_next(chunk, util_mono_ns() - c0);
        if (more)
            memcpy(after, end, sizeof(after));
        if (more && deadline_ns > 0 && util_mono_ns() >= deadline_ns) {
            resume_set(p0, after);
            rc = 0;
            goto out;
        }
    } while (more);
    resume_set(p0, NULL);
    metrics_usage_close_observe((double) (util_mono_ns() - t0) / 1e9);
    rc = 1;
out:
    free(c.rows);
    free(c.segs);
    free(c.props_json);
    return rc;
}

int
usage_storage_record(store_t *st, const char *type, const char *id, const char *sid, const char *name,
                     int64_t size_gb, const char *event, err_t *err)
{
    json_t *row;
    int rc;

    assert(st != NULL && type != NULL && strcmp(type, "vm") != 0 && id != NULL && sid != NULL);
    assert(event != NULL && size_gb >= 0);
    row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:b, s:b}", "id", id, "subscriptionId",
                    sid, "name", name ? name : "", "_resourceType", type, "powerState", "none", "size", "",
                    "cores", 0, "memoryMB", 0, "_storageGB", (json_int_t) size_gb, "_holdsCompute", 0,
                    "_holdsStorage", 1);
    if (row == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    rc = store_timeline_append(st, row, event, err);
    json_decref(row);
    return rc;
}

int
usage_close_due_within(store_t *st, int64_t period_ms, int64_t now_ms, int64_t budget_ms, err_t *err)
{
    int64_t until, first, deadline_ns = budget_ms >= 0 ? util_mono_ns() + budget_ms * 1000000 : 0;
    int rc, closed = 0;

    assert(st != NULL && period_ms > 0);
    rc = store_meta_get(st, CLOSED_UNTIL, &until, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        /* First run: from the period of the earliest change on record (or now). */
        if (store_timeline_first(st, &first, err))
            return -1;
        until = (first >= 0 ? first : now_ms) / period_ms * period_ms;
        if (store_meta_set(st, CLOSED_UNTIL, until, err))
            return -1;
    }
    while (until + period_ms <= now_ms) {
        if (closed > 0 && deadline_ns > 0 && util_mono_ns() >= deadline_ns)
            break;
        rc = close_period(st, until, until + period_ms, deadline_ns, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        until += period_ms;
        closed++;
    }
    metrics_usage_closed_until(until);
    return closed;
}

int
usage_close_due(store_t *st, int64_t period_ms, int64_t now_ms, err_t *err)
{
    return usage_close_due_within(st, period_ms, now_ms, -1, err);
}
