/*
 * dispatch.c: the store's calls below records and transactions (idempotency keys, quota counters, host
 * allocation, addresses, unmanaged VMs, the VM timeline and usage records, events and deliveries, job
 * leases), in the neutral layer: each checks its arguments, passes the fault wrapper, and calls the
 * backend once.
 *
 * Invariants: every call but store_idem_purge and the job leases passes the fault wrapper (as before the
 * backend table, so fault loops count the same calls); a counter update that applied notes its kind as written, so cached
 * subscriptions and hosts are read again; every call that writes runs inside a write transaction, the
 * caller's or an implicit one of its own (store__write_open, STORE_WRITE).
 */
#include <assert.h>

#include "core.h"

/* ---- idempotency keys ---- */

json_t *
store_idem_lookup(store_t *st, const char *scope, const char *method, const char *path,
                  const char *key, int64_t max_age_ms, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(scope != NULL && method != NULL && path != NULL && key != NULL);
    return t == NULL ? NULL
                     : st->be->idem_lookup(t->conn, scope, method, path, key, max_age_ms, err);
}

int
store_idem_save(store_t *st, const char *scope, const char *method, const char *path,
                const char *key, const json_t *answer, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(scope != NULL && method != NULL && path != NULL && key != NULL && answer != NULL);
    return STORE_WRITE(st, t, st->be->idem_save(t->conn, scope, method, path, key, answer, err), err);
}

int64_t
store_idem_purge(store_t *st, int64_t max_age_ms, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__thread(st, err), err);

    return STORE_WRITE(st, t, st->be->idem_purge(t->conn, max_age_ms, err), err);
}

/* ---- quota usage counters, host allocation, network addresses ---- */

int
store_usage_get(store_t *st, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(usage != NULL);
    return t == NULL ? -1 : st->be->usage_get(t->conn, sid, usage, err);
}

/* A counter update that applied (0) wrote kind. */
static int
noted(store_t *st, store_thread_t *t, const store_kind_t *kind, int rc)
{
    if (rc == 0)
        store__note_write(st, t, kind);
    return rc;
}

int
store_usage_adjust(store_t *st, const char *sid, const int64_t delta[STORE_QUOTAS],
                   const int64_t limit[STORE_QUOTAS], err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(delta != NULL);
    return STORE_WRITE(st, t,
                       noted(st, t, &store_kind_subscription,
                             st->be->usage_adjust(t->conn, sid, delta, limit, err)),
                       err);
}

int
store_usage_set(store_t *st, const char *sid, const int64_t usage[STORE_QUOTAS], err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(usage != NULL);
    return STORE_WRITE(st, t,
                       noted(st, t, &store_kind_subscription,
                             st->be->usage_set(t->conn, sid, usage, err)),
                       err);
}

int
store_usage_recompute(store_t *st, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(usage != NULL);
    return STORE_WRITE(st, t, st->be->usage_recompute(t->conn, sid, usage, err), err);
}

int
store_host_allocate(store_t *st, const char *host_id, int64_t cores, int64_t memory_mb,
                    int64_t storage_gb, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    return STORE_WRITE(st, t,
                       noted(st, t, &store_kind_host,
                             st->be->host_allocate(t->conn, host_id, cores, memory_mb, storage_gb,
                                                   err)),
                       err);
}

int
store_host_grow_storage(store_t *st, const char *host_id, int64_t storage_gb, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    return STORE_WRITE(st, t,
                       noted(st, t, &store_kind_host,
                             st->be->host_grow_storage(t->conn, host_id, storage_gb, err)),
                       err);
}

int
store_host_recompute(store_t *st, const char *host_id, int64_t out[3], err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(out != NULL);
    return STORE_WRITE(st, t, st->be->host_recompute(t->conn, host_id, out, err), err);
}

int
store_cloud_capacity(store_t *st, const char *cloud_id, int64_t out[7], err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(cloud_id != NULL && out != NULL);
    return t == NULL ? -1 : st->be->cloud_capacity(t->conn, cloud_id, out, err);
}

int
store_ip_used(store_t *st, const char *network_id, int64_t **ips, size_t *n, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(network_id != NULL && ips != NULL && n != NULL);
    return t == NULL ? -1 : st->be->ip_used(t->conn, network_id, ips, n, err);
}

int
store_ip_claim(store_t *st, const char *network_id, const char *vm_id, int64_t ip, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(network_id != NULL && vm_id != NULL && ip >= 0);
    return STORE_WRITE(st, t, st->be->ip_claim(t->conn, network_id, vm_id, ip, err), err);
}

int
store_ip_release_vm(store_t *st, const char *vm_id, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    return STORE_WRITE(st, t, st->be->ip_release_vm(t->conn, vm_id, err), err);
}

int64_t
store_ip_count(store_t *st, const char *network_id, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    return t == NULL ? -1 : st->be->ip_count(t->conn, network_id, err);
}

/* ---- unmanaged VMs ---- */

int
store_unmanaged_replace(store_t *st, const char *host_id, const json_t *vms, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(json_is_array(vms));
    return STORE_WRITE(st, t, st->be->unmanaged_replace(t->conn, host_id, vms, err), err);
}

json_t *
store_unmanaged_list(store_t *st, const char *host_id, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    return t == NULL ? NULL : st->be->unmanaged_list(t->conn, host_id, err);
}

int
store_unmanaged_remove(store_t *st, const char *host_id, const char *hypervisor_id, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    return STORE_WRITE(st, t, st->be->unmanaged_remove(t->conn, host_id, hypervisor_id, err), err);
}

/* ---- the VM timeline, settings, usage records ---- */

int
store_timeline_append(store_t *st, const json_t *vm, const char *event, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(json_is_object(vm) && event != NULL);
    return STORE_WRITE(st, t, st->be->timeline_append(t->conn, vm, event, err), err);
}

int
store_timeline_forget(store_t *st, const char *vm_id, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    return STORE_WRITE(st, t, st->be->timeline_forget(t->conn, vm_id, err), err);
}

int
store_meta_get(store_t *st, const char *key, int64_t *value, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(key != NULL && value != NULL);
    return t == NULL ? -1 : st->be->meta_get(t->conn, key, value, err);
}

int
store_meta_set(store_t *st, const char *key, int64_t value, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(key != NULL);
    return STORE_WRITE(st, t, st->be->meta_set(t->conn, key, value, err), err);
}

int
store_timeline_each(store_t *st, int64_t from_ms, int64_t until_ms, const char *after_vm,
                    const char *last_vm, store_timeline_fn fn, void *arg, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(fn != NULL);
    if (t == NULL)
        return -1;
    return st->be->timeline_each(t->conn, from_ms, until_ms, after_vm, last_vm, fn, arg, err);
}

int
store_timeline_chunk_end(store_t *st, int64_t from_ms, const char *after_vm, int n, char *out,
                         size_t outn, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(n > 0 && out != NULL && outn > 0);
    return t == NULL ? -1
                     : st->be->timeline_chunk_end(t->conn, from_ms, after_vm, n, out, outn, err);
}

int64_t
store_vm_state_prune(store_t *st, int64_t before_ms, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    return STORE_WRITE(st, t, st->be->vm_state_prune(t->conn, before_ms, err), err);
}

int
store_timeline_first(store_t *st, int64_t *first_ms, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(first_ms != NULL);
    return t == NULL ? -1 : st->be->timeline_first(t->conn, first_ms, err);
}

int
store_usage_record_put(store_t *st, const store_usage_rec_t *r, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(r != NULL);
    return STORE_WRITE(st, t, st->be->usage_record_put(t->conn, r, err), err);
}

json_t *
store_usage_records(store_t *st, const char *sid, int64_t after, int64_t from_ms, int64_t to_ms,
                    int limit, int64_t *last, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(last != NULL);
    if (t == NULL)
        return NULL;
    return st->be->usage_records(t->conn, sid, after, from_ms, to_ms, limit, last, err);
}

int
store_wap_usage_put(store_t *st, const store_wap_rec_t *r, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(r != NULL);
    return STORE_WRITE(st, t, st->be->wap_usage_put(t->conn, r, err), err);
}

json_t *
store_wap_usage_after(store_t *st, int64_t last_id, int batch, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    return t == NULL ? NULL : st->be->wap_usage_after(t->conn, last_id, batch, err);
}

int
store_usage_issued(store_t *st, int64_t *last_pos, int64_t *last_event_id, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(last_pos != NULL && last_event_id != NULL);
    return t == NULL ? -1 : st->be->usage_issued(t->conn, last_pos, last_event_id, err);
}

int64_t
store_usage_purge(store_t *st, int64_t acked_pos, int64_t acked_event_id, int64_t older_than_ms,
                  err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    return STORE_WRITE(st, t,
                       st->be->usage_purge(t->conn, acked_pos, acked_event_id, older_than_ms, err),
                       err);
}

/* ---- events, and deliveries to hooks ---- */

int
store_event_add(store_t *st, const json_t *ev, int64_t now_ms, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(json_is_object(ev));
    return STORE_WRITE(st, t, st->be->event_add(t->conn, ev, now_ms, err), err);
}

json_t *
store_events_after(store_t *st, int64_t after, int limit, int64_t *last, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(last != NULL);
    return t == NULL ? NULL : st->be->events_after(t->conn, after, limit, last, err);
}

int64_t
store_events_purge(store_t *st, int64_t older_than_ms, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    return STORE_WRITE(st, t, st->be->events_purge(t->conn, older_than_ms, err), err);
}

int64_t
store_jobs_purge(store_t *st, int64_t ended_before_ms, int limit, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);
    int64_t n;

    assert(limit > 0);
    if (t == NULL)
        return -1;
    n = st->be->jobs_purge(t->conn, ended_before_ms, limit, err);
    if (n > 0)
        store__note_write(st, t, &store_kind_job); /* cached jobs are read again: gone */
    return store__write_done(st, t, n, err);
}

/* ---- job leases: single statements outside any transaction, past the fault wrapper ---- */

/* The connection a lease call runs on: never inside a transaction, so a lease never joins the caller's
 * transaction, never waits for the writers and never holds them up. With no transaction open on the
 * thread, its own connection; with one open (a cancel inside a request's transaction), a second
 * connection of the thread's, opened on first use. A backend of one process answers leases without its
 * connection, so it is handed the current one. NULL with err. */
static store_conn_t *
lease_conn(store_t *st, err_t *err)
{
    store_thread_t *t = store__thread(st, err);

    if (t == NULL)
        return NULL;
    if (t->tx_depth == 0 || st->be->single_process)
        return t->conn;
    if (t->side == NULL)
        t->side = st->be->conn_open(st->db, err);
    return t->side;
}

int
store_job_lease_take(store_t *st, const char *job_id, const char *owner, int64_t now_ms,
                     int64_t until_ms, err_t *err)
{
    store_conn_t *c = lease_conn(st, err);

    assert(job_id != NULL && owner != NULL && until_ms > now_ms);
    return c == NULL ? -1 : st->be->job_lease_take(c, job_id, owner, now_ms, until_ms, err);
}

int
store_job_leases_renew(store_t *st, const char *owner, int64_t until_ms, err_t *err)
{
    store_conn_t *c = lease_conn(st, err);

    assert(owner != NULL);
    return c == NULL ? -1 : st->be->job_leases_renew(c, owner, until_ms, err);
}

int
store_job_lease_give(store_t *st, const char *job_id, const char *owner, err_t *err)
{
    store_conn_t *c = lease_conn(st, err);

    assert(job_id != NULL && owner != NULL);
    return c == NULL ? -1 : st->be->job_lease_give(c, job_id, owner, err);
}

json_t *
store_jobs_unleased(store_t *st, int64_t now_ms, int limit, err_t *err)
{
    store_conn_t *c = lease_conn(st, err);

    assert(limit > 0);
    return c == NULL ? NULL : st->be->jobs_unleased(c, now_ms, limit, err);
}

json_t *
store_jobs_leased(store_t *st, const json_t *ids, int64_t now_ms, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(json_is_array(ids));
    return t == NULL ? NULL : st->be->jobs_leased(t->conn, ids, now_ms, err);
}

json_t *
store_deliveries_due(store_t *st, const char *hook_id, int64_t now_ms, int limit, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    return t == NULL ? NULL : st->be->deliveries_due(t->conn, hook_id, now_ms, limit, err);
}

int
store_delivery_record(store_t *st, int64_t seq, const json_t *attempt, const char *state,
                      int64_t next_ms, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    assert(json_is_object(attempt) && state != NULL);
    return STORE_WRITE(st, t, st->be->delivery_record(t->conn, seq, attempt, state, next_ms, err), err);
}

int
store_delivery_next_ms(store_t *st, const char *hook_id, int64_t *next_ms, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(next_ms != NULL);
    return t == NULL ? -1 : st->be->delivery_next_ms(t->conn, hook_id, next_ms, err);
}

json_t *
store_delivery_attempts(store_t *st, const char *hook_id, int64_t after, int limit, int64_t *next,
                        err_t *err)
{
    store_thread_t *t = store__call(st, err);

    assert(next != NULL);
    return t == NULL ? NULL
                     : st->be->delivery_attempts(t->conn, hook_id, after, limit, next, err);
}

int
store_delivery_requeue(store_t *st, const char *hook_id, const char *attempt_id, int64_t now_ms,
                       err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    return STORE_WRITE(st, t, st->be->delivery_requeue(t->conn, hook_id, attempt_id, now_ms, err), err);
}

int64_t
store_deliveries_purge(store_t *st, int64_t older_than_ms, err_t *err)
{
    store_thread_t *t = store__write_open(st, store__call(st, err), err);

    return STORE_WRITE(st, t, st->be->deliveries_purge(t->conn, older_than_ms, err), err);
}
