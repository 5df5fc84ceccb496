/*
 * vmrec.h: the VM record, for the modules that change VMs (lib/vm/, checkpoint, VM roles, inventory).
 * Not for api/.
 *
 * A VM record is a store record of kind vm: the fields the API shows, plus what the VM holds, kept in
 * private fields that only vmrec.c reads or writes (the accessors below): its storage in GB, whether it
 * holds compute (cores, memory) and storage on its host, and whether it counts toward its subscription's
 * quotas. vm_view strips them; no view ever carries a key that starts with '_'.
 *
 * Every save records the VM's metered state on its timeline and raises the events the change means (created,
 * power state changed, resized), in the caller's transaction. Holdings move together with their flags, so
 * that a release is exact and happens once.
 */
#ifndef WAPD_VM_VMREC_H
#define WAPD_VM_VMREC_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../err.h"
#include "../jget.h"
#include "../store.h"
#include "../vm.h"

#define VM_MAX_LUN 63

/* The VM record (all fields) of subscription sid (any when NULL), or NULL with 404 "The VM was not found."
 * (or the store's error). */
json_t *vmrec_load(store_t *st, const char *sid, const char *id, int64_t *rev, err_t *err);
/* Missing as a value: 1 when a record of kind has that id (and, when field is not NULL, field equals value),
 * 0 when none has, -1 with err when the store cannot tell. */
int vmrec_exists(store_t *st, const store_kind_t *kind, const char *id, const char *field,
                 const char *value, err_t *err);
/* Missing as a value: 1 with the record (a new reference) in *out when a record of kind has that id (and,
 * when field is not NULL, field equals value); 0 when none has (*out untouched, err untouched); -1 with err
 * when the store cannot tell. */
int vmrec_lookup(store_t *st, const store_kind_t *kind, const char *id, const char *field,
                 const char *value, json_t **out, err_t *err);
/* Opens a transaction and answers every VM record of subscription sid; on failure, NULL with the
 * transaction rolled back. */
json_t *vmrec_begin_all(store_t *st, const char *sid, err_t *err);
/* Saves the record (updatedAt now), its timeline row and its events, in the caller's transaction. */
int vmrec_save(store_t *st, json_t *vm, err_t *err);
/* Starts a job of kind on the VM (one at a time: 409 OperationInProgress) and saves the VM, already put in
 * its transitional state by the caller, in the caller's transaction. params is borrowed. The job's view, or
 * NULL. */
json_t *vmrec_submit(store_t *st, json_t *vm, const char *kind, const json_t *params, err_t *err);

/* 409 OperationInProgress while the VM is being created, updated or deleted; Conflict when its last
 * operation failed. */
int vmrec_busy(const json_t *vm, err_t *err);
/* vmrec_busy, and 409 OperationInProgress while its power state is transitional. */
int vmrec_ready(const json_t *vm, err_t *err);
/* True when no data disk of disks (a VM's, or a host's view of it) sits at lun. */
bool vmrec_lun_free(const json_t *disks, int64_t lun);

/* What the VM holds. */
bool vmrec_holds_compute(const json_t *vm);
bool vmrec_holds_storage(const json_t *vm);
int64_t vmrec_storage_gb(const json_t *vm);
/* A new record's holdings: storage_gb of storage, counted toward quota, held on its host when held (a VM
 * placed by a create) or not yet (an adopted one, whose holdings are taken when it is pointed at its
 * host). -1 with err when an allocation failed. */
int vmrec_init_holdings(json_t *vm, int64_t storage_gb, bool held, err_t *err);
/* The VM's storage grew (or shrank) by delta GB; what it holds follows in the caller's accounting. */
void vmrec_add_storage(json_t *vm, int64_t delta_gb);
/* The VM now holds the compute (or storage) its caller took on its host. */
void vmrec_set_compute_held(json_t *vm);
void vmrec_set_storage_held(json_t *vm);
/* The VM now holds compute and storage on the host it names (it moved there). */
void vmrec_set_held(json_t *vm);
/* Releases (and clears the flags of) the VM's host holdings: compute, storage or both. */
int vmrec_release_host(store_t *st, json_t *vm, bool compute, bool storage, err_t *err);
/* Takes compute on the VM's host for a VM that holds none: 409 NoCapacity when there is no room. */
int vmrec_hold_compute(store_t *st, json_t *vm, err_t *err);
/* Changes the storage the VM holds by delta GB: its quota usage (when counted) and its host's allocation
 * (when held) follow. Growth that does not fit the host is 409 NoCapacity with no_room. */
int vmrec_hold_storage(store_t *st, json_t *vm, int64_t delta_gb, const char *no_room, err_t *err);
/* Releases everything the VM holds: host, quota, addresses. */
int vmrec_release_all(store_t *st, json_t *vm, err_t *err);
/* A create that failed: releases everything; the record stays, failed and deallocated, never billed. */
int vmrec_fail_create(store_t *st, json_t *vm, err_t *err);
/* Releases everything the VM holds and deletes its record, leaving its last timeline row (or none, for a
 * VM whose creation failed). */
int vmrec_remove(store_t *st, json_t *vm, err_t *err);
/* Records the checkpoint slot's size (size < 0 changes nothing): the VM's storage, its quota usage and its
 * host's allocation follow, growth never refused (it already happened on the host). */
int vmrec_set_checkpoint_size(store_t *st, json_t *vm, int64_t size, err_t *err);

#endif
