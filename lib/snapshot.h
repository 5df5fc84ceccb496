/*
 * snapshot.h: disk snapshots and their copies between clouds.
 *
 * A snapshot is a point-in-time copy of one disk of a VM (its OS disk or a data disk), kept as a volume on
 * one host (the VM's host when taken, the target host of a copy); its cloudId is that host's cloud. It
 * outlives its VM. lib/ decides everything here; api/ only parses bodies and maps errors.
 *
 * Invariants:
 * - What a snapshot holds (its size in its subscription's storageGB usage and in its host's allocated
 *   storage) is reserved by the request that makes it, while the record says _counted, and released
 *   exactly once: by the job that fails to make it, or by the job that deletes it.
 * - It is billed (storage.snapshotGbHours) from the moment it is ready until it is deleted: a snapshot that
 *   never became ready has no timeline rows, and so no usage records.
 * - A copy holds a lease on its source for the copy job's whole life (lib/lease.h); a snapshot being made,
 *   copied, or read by a running job is not deleted (409 Conflict, target "lease").
 * - A copy's progress ({bytesCopied, bytesTotal, percent}) is saved on the new snapshot and on its job at
 *   every poll of the host (every JOB_POLL_MS), and a copy resumes where it was after a crash.
 *
 * Ownership: views returned are new references owned by the caller; requests and contexts are borrowed.
 * Every request runs in its own transaction, nested in the caller's when one is open.
 */
#ifndef WAPD_SNAPSHOT_H
#define WAPD_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "store.h"
#include "vm.h"

/* A snapshot asked for: its name, the VM (of the caller's subscription) and the disk: the data disk at lun
 * when has_lun, otherwise the OS disk. */
typedef struct {
    const char *name;
    const char *vm_id;
    bool has_lun;
    int lun;
} snapshot_create_req_t;

/* Takes a snapshot of a disk of a VM in any steady power state: reserves its size (409 QuotaExceeded,
 * target storageGB; 409 NoCapacity when the VM's host has no room) and starts the snapshot.create job.
 * Answers the new snapshot's view (state creating) and, in *job, the job. 400 naming vmId (a VM the
 * caller may not use) or lun (a disk the VM lacks); 409 OperationInProgress while the VM has a job or is in
 * a transitional state; 409 Conflict when its last operation failed or it has no host. */
json_t *snapshot_create(store_t *st, const vm_ctx_t *ctx, const snapshot_create_req_t *req, json_t **job,
                        err_t *err);
/* The view of snapshot id of subscription sid (404 when there is none, or it is another's), and its
 * revision in *rev when rev is not NULL. */
json_t *snapshot_get(store_t *st, const char *sid, const char *id, int64_t *rev, err_t *err);
/* A page of the subscription's snapshot views, paged as store_rec_list pages. */
json_t *snapshot_list(store_t *st, const char *sid, int64_t after, int limit, int64_t *next, err_t *err);
/* Starts the snapshot.delete job (its view answered), which deletes the volume and then the record, and
 * releases what it held. expect_rev > 0: only at that revision (412). 409 Conflict, target "lease", while
 * it is being made or copied or a running job reads it. */
json_t *snapshot_delete(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev, err_t *err);
/* Copies ready snapshot id to cloud_id, which must be the plan's cloud or one of its replicaCloudIds (400
 * naming cloudId otherwise, an unknown cloud included): reserves the size, picks a host of that cloud with
 * room (409 Conflict, target cloudId, when none is ok and has room), leases the source and starts the
 * snapshot.copy job. Answers the new snapshot's view (state copying, copy {bytesCopied: 0, bytesTotal, percent:
 * 0}) and, in *job, the job. 409 Conflict when the source is not ready. */
json_t *snapshot_copy(store_t *st, const vm_ctx_t *ctx, const char *id, const char *cloud_id, json_t **job,
                      err_t *err);
/* For a subscription being deleted: starts the delete job of every snapshot of sid that may go now (one
 * being made or copied, or read by a running job, is left until that ends; one whose delete already runs
 * keeps its job). 1 when the subscription has no snapshot left, 0 when some remain (the caller asks again
 * later), -1 with err. Runs in its own transaction. */
int snapshot_delete_all(store_t *st, const char *sid, err_t *err);
/* A snapshot's view, from its record (borrowed): {id, name, vmId, lun, sizeGB, cloudId, state, copy,
 * createdAt} and sourceSnapshotId for a copy; no key starts with '_'. NULL when out of memory. */
json_t *snapshot_view(const json_t *rec);
/* Registers snapshot.create, snapshot.copy and snapshot.delete (at start, before the job engine). */
int snapshot_jobs_register(void);

#endif
