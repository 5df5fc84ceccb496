/*
 * usage.h: metering from the VM timeline.
 *
 * Periods are aligned to multiples of the period since the Unix epoch. When a period has ended, every VM
 * that existed during it gets exactly one record per meter, and for the compute meters per size it had
 * for more than 0 ms within it (compute.hours: time holding host capacity; compute.runningHours: time
 * running; storage.gbHours: GB of every disk, the checkpoint's differencing disk included, times hours),
 * prorated from the real times of the changes; a VM's first and last periods are partial, and a period's
 * compute records of one VM sum to the time it held capacity in it. The WAP record of a VM's period is
 * split the same way, one per size, its averages taken over the time the VM had that size. A stored object (a snapshot, a private image) gets one record per period,
 * storage.snapshotGbHours (its size times hours), with its own resourceType. Closing is idempotent and resumes where it stopped, so periods that ended while
 * the daemon was down are closed when it starts again.
 */
#ifndef WAPD_USAGE_H
#define WAPD_USAGE_H

#include <jansson.h>

#include "err.h"
#include "store.h"

/* Closes every period that has ended by now_ms; returns how many were closed, or -1. */
int usage_close_due(store_t *st, int64_t period_ms, int64_t now_ms, err_t *err);
/* As usage_close_due, within about budget_ms (< 0: no limit): stops after the chunk of VMs that ends past
 * it, and the next close goes on from there. Returns how many periods were closed whole, or -1. */
int usage_close_due_within(store_t *st, int64_t period_ms, int64_t now_ms, int64_t budget_ms,
                           err_t *err);
/* Test hook: the VMs of a close's first chunk and the most of any chunk (the chunks between are sized by
 * the time each took); 0, 0: the defaults again. */
void usage__close_chunks(int first, int max);
/* Records a stored object's metered state on the timeline, in the caller's transaction: type "snapshot" or
 * "image", event "created" (its size from now on), "changed" (a new size) or "deleted" (no more records
 * after this period). */
int usage_storage_record(store_t *st, const char *type, const char *id, const char *sid, const char *name,
                         int64_t size_gb, const char *event, err_t *err);
/* Records after the cursor position, for billing collectors: {value, next} (next: the position to ask
 * after, the same when nothing is new). */
json_t *usage_page(store_t *st, int64_t after, int limit, int64_t *next, err_t *err);
/* The WAP resource-provider usage contract: records with EventId > last_id (empty or "0": from the
 * start), at most batch; a last_id acknowledges every record up to it. A last_id that is not a whole
 * number, or above the highest EventId issued, is ERR_INVALID_REQUEST (target lastID) and acknowledges
 * nothing. */
json_t *usage_wap(store_t *st, const char *last_id, int batch, err_t *err);
/* The native collector's ack: every record up to position pos (a cursor's) is stored by the collector.
 * Monotonic: an older position leaves the acknowledged one as it is. A position beyond the last record
 * handed out is ERR_INVALID_REQUEST (target cursor). */
int usage_ack(store_t *st, int64_t pos, err_t *err);
/* Purges what is acknowledged (by usage_ack's position, or by the WAP endpoint's lastID: a VM's period
 * once all its WAP records are) and whose period ended more than retention_ms ago; never others. A WAP
 * record goes with its acknowledgement, or once its period's usage records are all gone. Returns how
 * many went, or -1. */
int64_t usage_purge(store_t *st, int64_t retention_ms, int64_t now_ms, err_t *err);
/* A subscription's totals within [from_ms, to_ms]: {from, to, meters: {meter: total},
 * resources: [{resourceId, meter, quantity, unit}]}. */
json_t *usage_totals(store_t *st, const char *sid, int64_t from_ms, int64_t to_ms, err_t *err);

#endif
