/*
 * restore.h: what slot.c needs of restore.c (a checkpoint's restore of the VM's size and disks), and the
 * pure part its unit tests reach. Not for use outside lib/checkpoint/ and its tests.
 */
#ifndef WAPD_CHECKPOINT_RESTORE_H
#define WAPD_CHECKPOINT_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "../job.h"
#include "../vm/vmrec.h"

/* What restoring the VM's checkpoint changes, from the record now and the checkpoint's _vm: the size
 * difference (the checkpoint's minus now), the data disks whose lun the host must let go of (attached
 * since the checkpoint, or detached since and brought back by the host's revert), and the storage the
 * VM gives back (<= 0: the disks attached since). All zero for a checkpoint that kept no _vm. */
typedef struct {
    int64_t d_cores;
    int64_t d_memory_mb;
    int64_t d_storage_gb;
    size_t nluns;
    int luns[2 * VM_REC_MAX_DISKS];
} checkpoint_restore_plan_t;

/* The slot's checkpoint keeps what vm is now (its size, cores, memory and disks). */
void checkpoint__capture(vm_rec_t *vm);
/* What restoring vm's checkpoint changes (vm->checkpoint.present). Pure. */
void checkpoint__restore_plan(const vm_rec_t *vm, checkpoint_restore_plan_t *out);
/* vm as its checkpoint had it: size, cores and memory, and of its disks those the checkpoint had. Its
 * holdings are not touched. Pure. */
void checkpoint__restore_apply(vm_rec_t *vm);

/* The request side of a restore, in the caller's transaction (vm loaded in it, its slot holding a
 * checkpoint): reserves the size difference against the quotas (409 QuotaExceeded) and, when the VM
 * holds compute or will (the checkpoint's power state is not deallocated), on its host (409 NoCapacity).
 * The job's params (a new reference) in *params. ctx NULL is the admin (the plan is read). */
int checkpoint__restore_reserve(store_t *st, const vm_ctx_t *ctx, vm_rec_t *vm, json_t **params,
                                err_t *err);
/* In on_failed of the restore job (failed or canceled), vm being the job's VM: when the host says the VM
 * has the size the restore asked for, the record takes it and lets go of the data disks the host no longer
 * has; otherwise the size difference the request reserved goes back. */
int checkpoint__restore_failed(store_t *st, job_ctx_t *ctx, vm_rec_t *vm, err_t *err);

/* The restore job's steps: revert on the host, let go of the disks the checkpoint did not have, then
 * record it all in one transaction. */
job_step_result_t checkpoint__step_revert(job_ctx_t *ctx, err_t *err);
job_step_result_t checkpoint__step_drop_disks(job_ctx_t *ctx, err_t *err);
job_step_result_t checkpoint__step_record(job_ctx_t *ctx, err_t *err);

#endif
