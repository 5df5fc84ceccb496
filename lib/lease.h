/*
 * lease.h: leases on stored objects (snapshots and private images).
 *
 * A job that reads a stored object for a long time (a copy from a snapshot, a VM or disk cloned from a
 * snapshot or a private image) holds a lease on it from the transaction that starts the job to the one that
 * ends it (its on_succeeded or on_failed, which also run on cancel), so the count in the record's _leases is
 * exact whatever the job's end, crash included. While a lease is held, or while the object itself is being
 * made (state creating or copying), the object cannot be deleted: 409 Conflict with target "lease". What a
 * stored object holds (its size in quota and on its host) goes with its _counted flag and is given back here
 * once.
 */
#ifndef WAPD_LEASE_H
#define WAPD_LEASE_H

#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "store.h"

/* Takes a lease on record id of kind (store_kind_snapshot or store_kind_private_image), in the caller's
 * transaction. The record must be there (404 naming the kind otherwise). */
int lease_take(store_t *st, const store_kind_t *kind, const char *id, err_t *err);
/* Gives a lease back, in the caller's transaction; a record that is gone, or holds none, is left as it is. */
int lease_give(store_t *st, const store_kind_t *kind, const char *id, err_t *err);
/* Gives back what a counted stored object holds, size_gb of its subscription's storageGB and of its host's
 * allocated storage, in the caller's transaction, and marks rec (_counted false) so that it happens once;
 * the caller saves or deletes rec. A record not counted holds nothing: 0 at once. */
int lease_release_holdings(store_t *st, json_t *rec, int64_t size_gb, err_t *err);
/* 0 when rec (a stored object's record, borrowed) may be deleted now; otherwise 409 Conflict, target
 * "lease", saying what holds it. */
int lease_check_free(const json_t *rec, err_t *err);

#endif
