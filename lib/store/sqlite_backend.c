/*
 * sqlite_backend.c: the SQLite backend's table: the store's calls as this backend implements them, and
 * its registration with the neutral layer, made before main so that a plain file path opens it.
 *
 * Invariants: the database file belongs to this process alone (the write gate and the neutral layer's
 * record cache rely on it), so the table says single_process.
 */
#include <assert.h>

#include "sqlite.h"

/* The database belongs to this process alone (daemon/lock.c keeps a second daemon out): it leads its
 * periodic work always. */
static int
sqlite_leader_try(store_db_t *db, err_t *err)
{
    (void) db;
    (void) err;
    return 1;
}

static const store_backend_t sqlite_backend = {
    .name = "sqlite",
    .scheme = NULL, /* file paths */
    .single_process = true,

    .open = sqlite_open,
    .prepare = sqlite_prepare,
    .close = sqlite_close,
    .conn_open = sqlite_conn_open,
    .conn_close = sqlite_conn_close,
    .schema_version = sqlite_schema_version,
    .ping = sqlite_ping,
    .integrity_check = sqlite_integrity_check,
    .write_probe = sqlite_write_probe,
    .backup_to = sqlite_backup_to,
    .batches = sqlite_batches,
    .job_counts = sqlite_job_counts,
    .delivery_backlog = sqlite_delivery_backlog,
    .size_bytes = sqlite_size_bytes,

    .tx_conn = sqlite_tx_conn,
    .tx_begin = sqlite_tx_begin,
    .tx_commit = sqlite_tx_commit,
    .tx_rollback = sqlite_tx_rollback,

    .rec_insert = sqlite_rec_insert,
    .rec_get_by = sqlite_rec_get_by,
    .rec_get_where = sqlite_rec_get_where,
    .rec_list = sqlite_rec_list,
    .rec_list_keys = sqlite_rec_list_keys,
    .rec_count = sqlite_rec_count,
    .rec_update = sqlite_rec_update,
    .rec_delete = sqlite_rec_delete,

    .idem_lookup = sqlite_idem_lookup,
    .idem_save = sqlite_idem_save,
    .idem_purge = sqlite_idem_purge,
    .usage_get = sqlite_usage_get,
    .usage_adjust = sqlite_usage_adjust,
    .usage_set = sqlite_usage_set,
    .usage_recompute = sqlite_usage_recompute,
    .host_allocate = sqlite_host_allocate,
    .host_grow_storage = sqlite_host_grow_storage,
    .host_recompute = sqlite_host_recompute,
    .cloud_capacity = sqlite_cloud_capacity,
    .ip_used = sqlite_ip_used,
    .ip_claim = sqlite_ip_claim,
    .ip_release_vm = sqlite_ip_release_vm,
    .ip_count = sqlite_ip_count,
    .unmanaged_replace = sqlite_unmanaged_replace,
    .unmanaged_list = sqlite_unmanaged_list,
    .unmanaged_remove = sqlite_unmanaged_remove,

    .timeline_append = sqlite_timeline_append,
    .timeline_forget = sqlite_timeline_forget,
    .meta_get = sqlite_meta_get,
    .meta_set = sqlite_meta_set,
    .timeline_each = sqlite_timeline_each,
    .timeline_chunk_end = sqlite_timeline_chunk_end,
    .vm_state_prune = sqlite_vm_state_prune,
    .timeline_first = sqlite_timeline_first,
    .usage_record_put = sqlite_usage_record_put,
    .usage_records = sqlite_usage_records,
    .wap_usage_put = sqlite_wap_usage_put,
    .wap_usage_after = sqlite_wap_usage_after,
    .usage_issued = sqlite_usage_issued,
    .usage_purge = sqlite_usage_purge,

    .event_add = sqlite_event_add,
    .events_after = sqlite_events_after,
    .events_purge = sqlite_events_purge,
    .jobs_purge = sqlite_jobs_purge,
    .job_lease_take = sqlite_job_lease_take,
    .job_leases_renew = sqlite_job_leases_renew,
    .job_lease_give = sqlite_job_lease_give,
    .jobs_unleased = sqlite_jobs_unleased,
    .jobs_leased = sqlite_jobs_leased,
    .deliveries_due = sqlite_deliveries_due,
    .delivery_record = sqlite_delivery_record,
    .delivery_next_ms = sqlite_delivery_next_ms,
    .delivery_attempts = sqlite_delivery_attempts,
    .delivery_requeue = sqlite_delivery_requeue,
    .deliveries_purge = sqlite_deliveries_purge,

    .leader_try = sqlite_leader_try,
};

__attribute__((constructor)) static void
sqlite_register(void)
{
    store__backend_register(&sqlite_backend);
}

int
store_sqlite__gate_waiters(store_t *st)
{
    return sqlite__gate_waiters(store__db(st));
}

void
store_sqlite__batch_bounds(store_t *st, int members, int age_us)
{
    store_db_t *db = store__db(st);

    assert(members > 0 && age_us >= 0);
    pthread_mutex_lock(&db->gate_lock);
    db->batch_members_max = members;
    db->batch_age_us = age_us;
    pthread_mutex_unlock(&db->gate_lock);
}

sqlite3 *
store_sqlite__writer(store_t *st)
{
    return store__db(st)->writer->db;
}
