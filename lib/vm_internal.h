/*
 * vm_internal.h: what vm.c shares with the modules that drive VMs through jobs of their own (checkpoint.c).
 * Not for api/.
 */
#ifndef WAPD_VM_INTERNAL_H
#define WAPD_VM_INTERNAL_H

#include <stdbool.h>

#include "agent.h"
#include "job.h"
#include "vm.h"

#define VM_AGENT_TIMEOUT_MS 3000
#define VM_JOB_DEADLINE_MS (120 * 1000)

/* In the caller's transaction: checks that the plan offers the image and size, reserves quota, places the
 * VM and inserts its record (creating, starting) with its NIC. body: {name, imageId, size, dataDisks?,
 * networkId?}; role_id may be NULL. Returns the record. */
json_t *vm__reserve_new(store_t *st, const char *sid, const json_t *body, const char *role_id,
                        err_t *err);
/* A create that failed: releases everything the VM holds; the record stays, failed and deallocated. */
int vm__fail_create(store_t *st, json_t *vm, err_t *err);
/* Releases everything the VM holds and deletes its record. */
int vm__remove(store_t *st, json_t *vm, err_t *err);
/* The agent's description of a VM record; *data_disks (a new reference) must outlive spec. */
void vm__fill_spec(const json_t *vm, agent_vm_spec_t *spec, json_t **data_disks);
/* The VM record (all fields) of subscription sid (any when NULL); 404 "The VM was not found." */
/* Starts a job of kind on the VM and saves the VM, already in its transitional state (caller's
 * transaction; params borrowed): the job, or NULL. */
json_t *vm__submit(store_t *st, json_t *vm, const char *kind, const json_t *params, err_t *err);
json_t *vm__load(store_t *st, const char *sid, const char *id, int64_t *rev, err_t *err);
/* Saves the record (updatedAt now). */
int vm__save(store_t *st, json_t *vm, err_t *err);
/* The subscription, 409 unless it takes tenant writes. */
json_t *vm__writable_sub(store_t *st, const char *sid, err_t *err);
/* 409 OperationInProgress while a job runs on the VM (or Conflict when its last one failed). */
int vm__ready(const json_t *vm, err_t *err);
/* Releases (and clears the flags of) the VM's host holdings. */
int vm__release_host(store_t *st, json_t *vm, bool compute, bool storage, err_t *err);
/* Takes compute on the VM's host for a VM that holds none: 409 NoCapacity when there is no room. */
int vm__hold_compute(store_t *st, json_t *vm, err_t *err);
/* In steps: the job's VM and its host's agent. */
job_step_result_t vm__step_vm(job_ctx_t *ctx, json_t **vm, agent_t **agent, err_t *err);
agent_call_t vm__step_call(job_ctx_t *ctx);
job_step_result_t vm__agent_result(const agent_err_t *aerr, err_t *err);
/* cleanup hook: saves what the host says of the VM in the job's data (hostAsked, hostHasVm, hostVm). */
void vm__cleanup_ask_host(job_ctx_t *ctx);
/* In on_failed: the VM's power state (and compute holding) as the host said. */
int vm__apply_true_power(store_t *st, job_ctx_t *ctx, json_t *vm, err_t *err);

/* The slot's differencing disk size as the host reports it now (an agent call; -1 when unknown). */
int64_t vm__checkpoint_size_on_host(job_ctx_t *ctx, const json_t *vm);
/* Records the slot's size (in the step's transaction): the VM's storage, its quota usage and its host's
 * allocation follow. size < 0 changes nothing. */
int vm__set_checkpoint_size(store_t *st, json_t *vm, int64_t size, err_t *err);

#endif
