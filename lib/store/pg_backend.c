/*
 * pg_backend.c: the PostgreSQL backend's table: the store's calls as this backend implements them, and its
 * registration with the neutral layer, made before main so that a "postgresql://…" location opens it.
 *
 * Invariants: several daemons may share the database, so the table leaves single_process false: the
 * neutral layer's record cache stays off and every read goes to the database.
 */
#include "pg.h"

static const store_backend_t pg_backend = {
    .name = "postgresql",
    .scheme = "postgresql",
    .single_process = false,

    .open = pg_open,
    .prepare = pg_prepare,
    .close = pg_close,
    .conn_open = pg_conn_open,
    .conn_close = pg_conn_close,
    .schema_version = pg_schema_version,
    .ping = pg_ping,
    .integrity_check = pg_integrity_check,
    .write_probe = pg_write_probe,
    .backup_to = pg_backup_to,
    .batches = pg_batches,
    .job_counts = pg_job_counts,
    .delivery_backlog = pg_delivery_backlog,
    .size_bytes = pg_size_bytes,

    .tx_conn = pg_tx_conn,
    .tx_begin = pg_tx_begin,
    .tx_commit = pg_tx_commit,
    .tx_rollback = pg_tx_rollback,

    .rec_insert = pg_rec_insert,
    .rec_get_by = pg_rec_get_by,
    .rec_get_where = pg_rec_get_where,
    .rec_list = pg_rec_list,
    .rec_list_keys = pg_rec_list_keys,
    .rec_count = pg_rec_count,
    .rec_update = pg_rec_update,
    .rec_delete = pg_rec_delete,

    .idem_lookup = pg_idem_lookup,
    .idem_save = pg_idem_save,
    .idem_purge = pg_idem_purge,
    .usage_get = pg_usage_get,
    .usage_adjust = pg_usage_adjust,
    .usage_set = pg_usage_set,
    .usage_recompute = pg_usage_recompute,
    .host_allocate = pg_host_allocate,
    .host_grow_storage = pg_host_grow_storage,
    .host_recompute = pg_host_recompute,
    .cloud_capacity = pg_cloud_capacity,
    .ip_used = pg_ip_used,
    .ip_claim = pg_ip_claim,
    .ip_release_vm = pg_ip_release_vm,
    .ip_count = pg_ip_count,
    .unmanaged_replace = pg_unmanaged_replace,
    .unmanaged_list = pg_unmanaged_list,
    .unmanaged_remove = pg_unmanaged_remove,

    .timeline_append = pg_timeline_append,
    .timeline_forget = pg_timeline_forget,
    .meta_get = pg_meta_get,
    .meta_set = pg_meta_set,
    .timeline_each = pg_timeline_each,
    .timeline_chunk_end = pg_timeline_chunk_end,
    .vm_state_prune = pg_vm_state_prune,
    .timeline_first = pg_timeline_first,
    .usage_record_put = pg_usage_record_put,
    .usage_records = pg_usage_records,
    .wap_usage_put = pg_wap_usage_put,
    .wap_usage_after = pg_wap_usage_after,
    .usage_issued = pg_usage_issued,
    .usage_purge = pg_usage_purge,

    .event_add = pg_event_add,
    .events_after = pg_events_after,
    .events_purge = pg_events_purge,
    .jobs_purge = pg_jobs_purge,
    .job_lease_take = pg_job_lease_take,
    .job_leases_renew = pg_job_leases_renew,
    .job_lease_give = pg_job_lease_give,
    .jobs_unleased = pg_jobs_unleased,
    .jobs_leased = pg_jobs_leased,
    .deliveries_due = pg_deliveries_due,
    .delivery_record = pg_delivery_record,
    .delivery_next_ms = pg_delivery_next_ms,
    .delivery_attempts = pg_delivery_attempts,
    .delivery_requeue = pg_delivery_requeue,
    .deliveries_purge = pg_deliveries_purge,

    .leader_try = pg_leader_try,
};

__attribute__((constructor)) static void
pg_register(void)
{
    store__backend_register(&pg_backend);
}
