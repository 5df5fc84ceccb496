/*
 * vmstep.h: the job-step toolkit of VM jobs, shared by the VM kinds and by the modules that drive VMs
 * through jobs of their own (checkpoint, VM roles, inventory). Not for api/.
 *
 * A step loads its VM afresh (vmstep_vm), calls the host's agent with the job's operation id (vmstep_call),
 * so that a step run again after a crash gets the host's recorded answer, and maps the agent's answer to a
 * step result (vmstep_result). A failed job asks the host what is true (vmstep_ask_host, the kinds' cleanup)
 * and records it (vmstep_apply_true_power, in on_failed).
 */
#ifndef WAPD_VM_VMSTEP_H
#define WAPD_VM_VMSTEP_H

#include <stdbool.h>

#include "../agent.h"
#include "../job.h"
#include "vmrec.h"

/* A VM step's agent calls take each operation's own timeout (agent_op_timeout_ms). */
#define VM_AGENT_TIMEOUT_MS 0
#define VM_JOB_DEADLINE_MS (120 * 1000)

/* Missing as a value: 1 with the job's VM in *vm; 0 when it is gone (*vm untouched, err untouched); -1 with
 * err when the store cannot tell. */
int vmstep_job_vm(job_ctx_t *ctx, vm_rec_t *vm, err_t *err);
/* The job's VM in *vm and, unless agent is NULL, its host's agent (borrowed). A missing VM or host fails
 * the step; a host that cannot be reached retries it. */
job_step_result_t vmstep_vm(job_ctx_t *ctx, vm_rec_t *vm, agent_t **agent, err_t *err);
/* The same for VM id, for a job whose resource is not the VM (a capture's is its image). */
job_step_result_t vmstep_vm_of(job_ctx_t *ctx, const char *id, vm_rec_t *vm, agent_t **agent,
                               err_t *err);
/* The agent call of the running step: the job's operation id, the VM timeout. */
agent_call_t vmstep_call(job_ctx_t *ctx);
/* The end of a step that changed the VM: when r is done, saves vm in the step's transaction (a failure to
 * save retries the step). Returns the step's result. */
job_step_result_t vmstep_finish(job_ctx_t *ctx, vm_rec_t *vm, job_step_result_t r, err_t *err);
/* Shows a long agent call's progress as the job's copy (nothing when it copies no bytes). */
void vmstep_show_copy(job_ctx_t *ctx, const agent_progress_t *progress);
/* A step of one agent call on the job's VM (its copy progress shown as the job's): call asks the host (params: the job's), and when the host did
 * it, apply changes the record, which then shows provisioningState succeeded and is saved in the step's
 * transaction. */
typedef int (*vmstep_agent_fn)(agent_t *a, const agent_call_t *call, const vm_rec_t *vm,
                               const json_t *params, agent_err_t *aerr);
typedef void (*vmstep_apply_fn)(vm_rec_t *vm, const json_t *params);
job_step_result_t vmstep_call_and_apply(job_ctx_t *ctx, vmstep_agent_fn call, vmstep_apply_fn apply,
                                        err_t *err);
/* Done, retry (transient, timeout) or failed (anything else), with err set for the latter two. */
job_step_result_t vmstep_result(const agent_err_t *aerr, err_t *err);
/* What the host says about the VM: 1 with its inventory entry in *out, 0 when the host has no such VM, -1
 * when the host cannot be asked. The VM is found by its hypervisor id, or, when the record has none (a
 * create whose answer was lost), by the wapd VM id the host keeps with it. */
int vmstep_host_view(job_ctx_t *ctx, const vm_rec_t *vm, agent_vm_info_t *out);
/* cleanup hook: saves what the host says of the VM in the job's data (hostAsked, hostHasVm, hostVm). */
void vmstep_ask_host(job_ctx_t *ctx);
/* In on_failed: the VM's power state (and compute holding) as the host said; unknown when it could not be
 * asked, has no such VM or names a state wapd does not know. */
int vmstep_apply_true_power(store_t *st, job_ctx_t *ctx, vm_rec_t *vm, err_t *err);
/* The agent's description of a VM record (out->spec) and the storage it points to: its id, name, size,
 * generation, disks (the OS disk from the VM's image) and NICs with a MAC stable for the VM's life. The
 * spec borrows vm's strings: vm must outlive it. */
typedef struct {
    agent_vm_spec_t spec;
    agent_disk_spec_t disks[AGENT_MAX_DISKS];
    agent_nic_spec_t nics[AGENT_MAX_NICS];
    char macs[AGENT_MAX_NICS][AGENT_MAC_MAX];
} vmstep_spec_t;
void vmstep_fill_spec(const vm_rec_t *vm, vmstep_spec_t *out);
/* Deletes a VM from a host; one already gone counts as done. */
job_step_result_t vmstep_delete_on_host(agent_t *a, const agent_call_t *call, const char *hyp,
                                        err_t *err);
/* The checkpoint slot's differencing disk size as the host reports it now (-1 when unknown). */
int64_t vmstep_checkpoint_size(job_ctx_t *ctx, const vm_rec_t *vm);

/* In the caller's transaction, which the caller rolls back when this fails: checks that ctx's plan offers
 * the image and size, reserves quota against it, places the VM and inserts its record (creating, starting)
 * with its NIC, into *out. role_id may be NULL. Reads neither the subscription nor the plan (ctx holds
 * them). */
int vm__reserve_new(store_t *st, const vm_ctx_t *ctx, const vm_create_req_t *req, const char *role_id,
                    vm_rec_t *out, err_t *err);

/* The request side of a change: the VM of ctx's subscription (404) into *vm, at revision expect_rev when
 * that is > 0 (412 otherwise), the subscription writable (409). 0, or -1 with err. */
int vm__load_for_change(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev,
                        vm_rec_t *vm, err_t *err);

/* The kinds of each VM job module; vm_jobs_register registers them all. */
int vm_create_kinds_register(void);
int vm_power_kinds_register(void);
int vm_resize_kinds_register(void);
int vm_delete_kinds_register(void);
int vm_disk_kinds_register(void);

#endif
