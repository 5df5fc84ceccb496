/*
 * checkpoint.h: the single checkpoint slot of each VM, the plan modes that decide what tenants may do with
 * it, admin pruning and automatic retention. lib/checkpoint/slot.c holds the slot (its invariant, requests
 * and jobs); lib/checkpoint/prune.c the checkpoints that go in bulk (prune, retention).
 *
 * ctx is the tenant request's context (its subscription's mode applies and the VM must be its own; the
 * subscription is not read again); NULL is the admin, for whom every mode allows everything. Answers are
 * job views (new references).
 */
#ifndef WAPD_CHECKPOINT_H
#define WAPD_CHECKPOINT_H

#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "store.h"
#include "vm.h"

typedef enum {
    CHECKPOINT_VIEW,
    CHECKPOINT_CREATE,
    CHECKPOINT_RESTORE,
    CHECKPOINT_DELETE,
} checkpoint_op_t;

/* The requests, validated for shape at the api edge; strings are borrowed. */
typedef struct {
    const char *name;
    const char *description; /* may be NULL */
} checkpoint_put_req_t;

/* Every checkpoint older than older_than_hours, of the plans of cloud_id and of plan_id (NULL: any). */
typedef struct {
    const char *cloud_id;
    const char *plan_id;
    int64_t older_than_hours;
} checkpoint_prune_req_t;

int checkpoint_jobs_register(void);

/* 404 when the VM is not the subscription's, then 403 when its mode does not allow op: the checks that
 * come before the body's. */
int checkpoint_check(store_t *st, const vm_ctx_t *ctx, const char *vm_id, checkpoint_op_t op,
                     err_t *err);

/* {name, description, createdAt, sizeGB}; 403 CheckpointsNotAllowed when disabled, 404 NoCheckpoint. */
json_t *checkpoint_get(store_t *st, const vm_ctx_t *ctx, const char *vm_id, err_t *err);
/* The same, with the slot's own ETag in *etag (when etag is not NULL) on success: positive, changing
 * exactly when the slot takes another checkpoint. */
json_t *checkpoint_get_tagged(store_t *st, const vm_ctx_t *ctx, const char *vm_id, int64_t *etag,
                              err_t *err);

/* The replacement job, with "replaces" naming the checkpoint it will delete (null when the slot is
 * empty). */
json_t *checkpoint_put(store_t *st, const vm_ctx_t *ctx, const char *vm_id,
                       const checkpoint_put_req_t *req, err_t *err);
json_t *checkpoint_restore(store_t *st, const vm_ctx_t *ctx, const char *vm_id, err_t *err);
json_t *checkpoint_delete(store_t *st, const vm_ctx_t *ctx, const char *vm_id, err_t *err);
/* PUT and DELETE only while the slot's ETag is expect_etag (any when 0): 412 PreconditionFailed
 * otherwise, checked in the transaction that submits the job, so nothing changes. */
json_t *checkpoint_put_if(store_t *st, const vm_ctx_t *ctx, const char *vm_id,
                          const checkpoint_put_req_t *req, int64_t expect_etag, err_t *err);
json_t *checkpoint_delete_if(store_t *st, const vm_ctx_t *ctx, const char *vm_id,
                             int64_t expect_etag, err_t *err);
/* The prune job (400 on cloudId or planId when it names no record). */
json_t *checkpoint_prune(store_t *st, const checkpoint_prune_req_t *req, err_t *err);
/* Starts a delete job for every checkpoint older than its plan's checkpointRetentionHours at now_ms.
 * Idempotent: what is busy now is found by the next sweep. Returns how many jobs started, or -1. */
int checkpoint_retention_sweep(store_t *st, int64_t now_ms, err_t *err);

#endif
