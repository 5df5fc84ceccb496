/*
 * vm.h: tenant VMs and networks.
 *
 * Requests check everything they can at once (the subscription is writable, the plan allows the image and
 * size, the power state allows the action, quotas, room on a host) and reserve what the change needs in the
 * caller's transaction; a job then drives the host through its agent. A VM in a transitional power state
 * (starting, stopping, deallocating) or provisioning state (creating, updating, deleting) always has an
 * active job, and every job ends by putting its VM in a steady, true state.
 *
 * Holdings: a VM holds host cores and memory unless deallocated, host storage while it exists on a host,
 * and counts toward quota unless its creation failed. Views returned are new references; with admin they
 * show hostId and hypervisorId too.
 */
#ifndef WAPD_VM_H
#define WAPD_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "catalog/dynmem.h"
#include "store.h"
#include "util.h"

/* The request's context, loaded once by the caller (the api pipeline) and passed down: the subscription
 * sid, its record and its plan (borrowed, read-only). lib never reads them again. */
typedef struct {
    const char *sid;
    const json_t *sub;
    const json_t *plan;
} vm_ctx_t;

typedef enum {
    VM_CACHING_NONE,
    VM_CACHING_READ_ONLY,
    VM_CACHING_READ_WRITE,
} vm_caching_t;

/* A data disk asked for: its size, its host caching and its lun (-1: the caller picks). With snapshot_id
 * (borrowed; NULL: an empty disk) the disk is a clone of that snapshot and size_gb is ignored: the disk has
 * the snapshot's size. */
typedef struct {
    int64_t size_gb;
    vm_caching_t caching;
    int lun;
    const char *snapshot_id;
} vm_disk_req_t;

#define VM_MAX_DATA_DISKS 64

/* A VM create, validated for shape at the api edge; strings are borrowed. network_id may be NULL. A data
 * disk's lun -1 is its index in disks. image_id names a plan image or a ready private image of the
 * subscription in the plan's cloud, whose captured disks the VM's disks are clones of. */
typedef struct {
    const char *name;
    const char *image_id;
    const char *size;
    const char *network_id;
    size_t ndisks;
    vm_disk_req_t disks[VM_MAX_DATA_DISKS];
    catalog_dynmem_t dynamic_memory; /* not present: the size's */
} vm_create_req_t;

/* "None", "ReadOnly", "ReadWrite"; parse answers -1 for any other text. */
const char *vm_caching_name(vm_caching_t caching);
int vm_caching_parse(const char *text, vm_caching_t *out);

int vm_jobs_register(void);

/* 409 SubscriptionSuspended (or Conflict while it is being deleted) unless the subscription takes tenant
 * writes. */
int vm_subscription_writable(const json_t *sub, err_t *err);

/* Creates a VM in the caller's transaction, which the caller rolls back when this fails: answers its view
 * (as a GET shows it) and, in *job, the create job. Reads neither the subscription nor the plan. */
json_t *vm_create(store_t *st, const vm_ctx_t *ctx, const vm_create_req_t *req, json_t **job,
                  err_t *err);
/* A VM of subscription sid (any subscription when sid is NULL). */
json_t *vm_get(store_t *st, const char *sid, const char *id, bool admin, int64_t *rev, err_t *err);
/* vm_get written straight to b (compact JSON text, byte for byte what dumping vm_get's view answers):
 * 0, or -1 with err (404 when it is not there). hide_checkpoint (tenant views): the checkpoint shows null.
 * Whether b ran out of memory is b->failed. */
int vm_get_text(store_t *st, const char *sid, const char *id, bool admin, bool hide_checkpoint,
                util_buf_t *b, int64_t *rev, err_t *err);
/* One page of VMs (the store's list with filters f, after, limit and *next as store_rec_list has them)
 * written to b as a JSON array of their views: one query, each row rendered once. 0, or -1 with err. */
int vm_list_text(store_t *st, const store_filter_t *f, size_t nf, int64_t after, int limit, bool admin,
                 bool hide_checkpoint, util_buf_t *b, int64_t *next, err_t *err);
/* The requests below run in their own transaction (nested in the caller's when one is open) and answer
 * the job they start. start, stop, shutdown, restart, deallocate: */
json_t *vm_action(store_t *st, const vm_ctx_t *ctx, const char *id, const char *action, err_t *err);
json_t *vm_resize(store_t *st, const vm_ctx_t *ctx, const char *id, const char *size,
                  int64_t expect_rev, err_t *err);
json_t *vm_delete(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev, err_t *err);
json_t *vm_disk_attach(store_t *st, const vm_ctx_t *ctx, const char *id, const vm_disk_req_t *disk,
                       err_t *err);
json_t *vm_disk_detach(store_t *st, const vm_ctx_t *ctx, const char *id, int lun, err_t *err);
/* The same, only while the VM (whose ETag covers its disks) is at revision expect_rev (any when 0): 412
 * PreconditionFailed otherwise, in the same transaction. */
json_t *vm_disk_detach_if(store_t *st, const vm_ctx_t *ctx, const char *id, int lun,
                          int64_t expect_rev, err_t *err);

/* Images of a subscription (lib/vm/capture.c, lib/vm/image.c). Each runs in its own transaction (nested
 * in the caller's when one is open).
 * generalize: the VM (stopped or deallocated, else 409 InvalidPowerState; 409 Conflict when it already is)
 * shows osState generalized once its job ends; answers the job.
 * capture: makes a private image (state creating) of a generalized VM's disks (409 Conflict otherwise),
 * reserving their total size against the storageGB quota and on the VM's host; answers the image's view
 * and, in *job, the job that copies the disks. name is borrowed. */
json_t *vm_generalize(store_t *st, const vm_ctx_t *ctx, const char *id, err_t *err);
json_t *vm_capture(store_t *st, const vm_ctx_t *ctx, const char *id, const char *name, json_t **job,
                   err_t *err);
/* One image as the subscription sees it (a new reference, with its revision in *rev): a private image of
 * the subscription ("visibility": "private") or an image the plan offers ("public"); 404 otherwise. */
json_t *vm_image_get(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t *rev, err_t *err);
/* Deletes a private image of the subscription: 409 Conflict (target lease) while it is being made or a VM
 * is being made from it; 403 Forbidden for a plan image; 404 otherwise. The record goes now (its quota,
 * host storage and metering end); a job removes its volumes from the host. With expect_rev > 0, only at that
 * revision (412 otherwise). 0, or -1 with err. */
int vm_image_delete(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev, err_t *err);
/* One page of the subscription's images: the plan's images, then its private images, one cursor across
 * both (after and *next as store_rec_list has them). A new array of views, or NULL with err. */
json_t *vm_images_list(store_t *st, const vm_ctx_t *ctx, int64_t after, int limit, int64_t *next,
                       err_t *err);

/* A network create, validated for shape at the api edge; strings are borrowed. address_prefix is an IPv4
 * CIDR, /8 to /29 (network_create answers 400 on addressPrefix otherwise). */
typedef struct {
    const char *name;
    const char *address_prefix;
} network_create_req_t;

/* Creates a network of ctx's subscription (counted toward its networks quota) in a transaction of its own
 * (nested in the caller's when one is open). Answers the network as a GET shows it; it is at revision 1,
 * as every new record is. */
json_t *network_create(store_t *st, const vm_ctx_t *ctx, const network_create_req_t *req, err_t *err);
/* 409 Conflict while a VM uses it. With expect_rev > 0, only at that revision (412 PreconditionFailed
 * otherwise, checked in the deleting transaction). 0, or -1 with err. */
int network_delete(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev, err_t *err);

/* For the subscription jobs: start a stop job for each running VM, or a delete job for each VM (and, once
 * no VM is left, delete the VM roles, networks and private images that nothing holds). Returns 1 when everything is under way or done, 0 when
 * some VM must be waited for, -1 on failure. */
int vm_stop_all(store_t *st, const char *sid, err_t *err);
int vm_delete_all(store_t *st, const char *sid, err_t *err);

#endif
