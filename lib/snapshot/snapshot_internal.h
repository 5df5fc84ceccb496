/*
 * snapshot_internal.h: what the snapshot requests (lib/snapshot/request.c) and their jobs
 * (lib/snapshot/jobs.c) share. Not for other modules.
 *
 * A snapshot record's holdings move with its _counted flag: snapshot__release gives back its size (quota and
 * host storage) only while the flag is set and clears it, so that a release happens once whatever path
 * (failed make, failed copy, delete) gets there first.
 */
#ifndef WAPD_SNAPSHOT_INTERNAL_H
#define WAPD_SNAPSHOT_INTERNAL_H

#include <stdint.h>

#include <jansson.h>

#include "../err.h"
#include "../job.h"
#include "../snapshot.h"
#include "../store.h"

/* The bytes of a snapshot of size_gb GB. */
#define SNAPSHOT_GIB ((int64_t) 1 << 30)

/* The copy object a snapshot shows: {bytesCopied, bytesTotal, percent} (a new reference; NULL when out of
 * memory). */
json_t *snapshot__copy_json(int64_t copied, int64_t total);
/* In the caller's transaction: when rec (a snapshot record, changed in place, not saved) is _counted, gives
 * its size back to its subscription's quota usage and its host's allocated storage, and clears _counted. */
int snapshot__release(store_t *st, json_t *rec, err_t *err);

#endif
