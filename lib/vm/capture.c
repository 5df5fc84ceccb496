/*
 * capture.c: generalize and capture, the requests and their jobs (vm.generalize, image.capture).
 *
 * Generalize records that the guest ran sysprep: a stopped or deallocated VM, not already generalized,
 * shows osState generalized once its job ends, and can no longer start (power.c). Capture makes a private
 * image of a generalized VM: the request reserves the VM's disks' total size against the storageGB quota
 * and on the VM's host and inserts the image (creating, _counted); the job, which holds the VM's lock,
 * snapshots every disk into the image's volumes (keyed by volume id, so a step run again after a crash
 * makes nothing twice). Success makes the image ready and starts its metering; failure removes the volumes
 * made, releases what the request reserved (once: _counted goes false with it) and leaves the image failed,
 * never billed; a canceled capture leaves no image.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../events.h"
#include "../hostreg.h"
#include "../placement.h"
#include "../quota.h"
#include "../usage.h"
#include "image.h"
#include "vmstep.h"

/* The request's end: commits with j (the job), or rolls back without; answers j. */
static json_t *
commit_or_roll_back(store_t *st, json_t *j, err_t *err)
{
    if (j == NULL || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        json_decref(j);
        return NULL;
    }
    return j;
}

json_t *
vm_generalize(store_t *st, const vm_ctx_t *ctx, const char *id, err_t *err)
{
    json_t *j = NULL;
    vm_rec_t vm;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && id != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    if (vm__load_for_change(st, ctx, id, 0, &vm, err) || vmrec_ready(&vm, err))
        return commit_or_roll_back(st, NULL, err);
    if (vm.power != VM_POWER_STOPPED && vm.power != VM_POWER_DEALLOCATED) {
        err_set(err, ERR_INVALID_POWER_STATE, NULL,
                "A VM that is %s cannot be generalized; stop or deallocate it first.",
                vm_power_name(vm.power));
    } else if (vm.os_state == VM_OS_GENERALIZED) {
        err_set(err, ERR_CONFLICT, NULL, "The VM is already generalized.");
    } else {
        vm.provisioning = VM_PROV_UPDATING;
        j = vmrec_submit(st, &vm, "vm.generalize", NULL, err);
    }
    return commit_or_roll_back(st, j, err);
}

static job_step_result_t
step_generalize(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    job_step_result_t r;
    vm_rec_t vm;

    if ((r = vmstep_vm(ctx, &vm, NULL, err)) != JOB_STEP_DONE)
        return r;
    vm.os_state = VM_OS_GENERALIZED;
    vm.provisioning = VM_PROV_SUCCEEDED;
    if (job_ctx_begin(ctx, err) || vmrec_save(st, &vm, err) ||
        events_emit(st, "vm.generalized", vm.subscription_id, vm.id, NULL, err))
        return JOB_STEP_RETRY;
    return JOB_STEP_DONE;
}

static int
failed_generalize(job_ctx_t *ctx, err_t *err)
{
    vm_rec_t vm;
    int rc;

    if ((rc = vmstep_job_vm(ctx, &vm, err)) <= 0)
        return rc; /* a VM that is gone has nothing to put right */
    vm.provisioning = VM_PROV_SUCCEEDED;
    return vmrec_save(job_ctx_store(ctx), &vm, err);
}

/* The new image's record from the VM's disks, in *out (a new reference). */
static int
new_image(const vm_rec_t *vm, const char *name, const char *cloud_id, json_t **out, err_t *err)
{
    char id[UTIL_UUID_LEN + 1], now[VM_REC_STAMP_MAX];
    json_t *rec, *data = json_array();
    int64_t os_gb = 0, total = 0;
    size_t i;

    for (i = 0; data != NULL && i < vm->ndisks; i++) {
        total += vm->disks[i].size_gb;
        if (vm->disks[i].kind == VM_DISK_OS)
            os_gb = vm->disks[i].size_gb;
        else
            json_array_append_new(data, json_pack("{s:i, s:I}", "lun", vm->disks[i].lun, "sizeGB",
                                                  (json_int_t) vm->disks[i].size_gb));
    }
    util_uuid(id);
    util_time_format(util_now_ms(), now);
    rec = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:I, s:I, s:o, s:s, s:s, s:s, s:s, s:s, s:I, s:i, "
                    "s:b}",
                    "id", id, "name", name, "subscriptionId", vm->subscription_id, "sourceVmId", vm->id,
                    "osType", vm->os_type[0] ? vm->os_type : NULL, "generation",
                    (json_int_t) (vm->generation > 0 ? vm->generation : 1), "osDiskGB",
                    (json_int_t) os_gb, "dataDisks", data, "cloudId", cloud_id, "state", "creating",
                    "createdAt", now, "updatedAt", now, "_hostId", vm->host_id, "_storageGB",
                    (json_int_t) total, "_leases", 0, "_counted", 1);
    if ((*out = vmrec__or_oom(rec, err)) == NULL)
        return -1;
    return 0;
}

/* Reserves the image's storage (quota, then the VM's host) and inserts it; answers its view and the job. */
static json_t *
reserve_image(store_t *st, const vm_ctx_t *ctx, const vm_rec_t *vm, const char *name, json_t **job,
              err_t *err)
{
    int64_t delta[STORE_QUOTAS] = {0};
    char cloud[VM_REC_ID_MAX];
    json_t *rec = NULL, *view = NULL, *params = NULL, *j = NULL;
    const char *id;

    if (vm_image__host_cloud(st, vm->host_id, cloud, err) || new_image(vm, name, cloud, &rec, err))
        goto out;
    id = json_string_value(json_object_get(rec, "id"));
    delta[QUOTA_STORAGE] = json_integer_value(json_object_get(rec, "_storageGB"));
    if (quota_reserve(st, ctx->sid, ctx->plan, delta, err) ||
        placement_hold(st, vm->host_id, 0, 0, delta[QUOTA_STORAGE],
                       "The VM's host has no room for the image.", err) ||
        store_rec_insert(st, &store_kind_private_image, rec, err))
        goto out;
    params = vmrec__or_oom(json_pack("{s:s}", "vmId", vm->id), err);
    if (params == NULL ||
        (j = job_submit(st, "image.capture", id, ctx->sid, vm->id, params, err)) == NULL)
        goto out;
    if ((view = vmrec__or_oom(vm_image__view(rec), err)) == NULL) {
        json_decref(j);
        goto out;
    }
    *job = j;
out:
    json_decref(params);
    json_decref(rec);
    return view;
}

json_t *
vm_capture(store_t *st, const vm_ctx_t *ctx, const char *id, const char *name, json_t **job,
           err_t *err)
{
    json_t *view = NULL, *j = NULL;
    vm_rec_t vm;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && ctx->plan != NULL);
    assert(id != NULL && name != NULL && job != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    if (vm__load_for_change(st, ctx, id, 0, &vm, err) || vmrec_ready(&vm, err))
        goto fail;
    if (vm.os_state != VM_OS_GENERALIZED) {
        err_set(err, ERR_CONFLICT, NULL, "Only a generalized VM can be captured; generalize it first.");
        goto fail;
    }
    if (vm.host_id[0] == '\0') {
        err_set(err, ERR_CONFLICT, NULL, "The VM has no host to capture its disks on.");
        goto fail;
    }
    if ((view = reserve_image(st, ctx, &vm, name, &j, err)) == NULL || store_tx_commit(st, err))
        goto fail;
    *job = j;
    return view;
fail:
    store_tx_rollback(st);
    json_decref(view);
    json_decref(j);
    return NULL;
}

/* The job's image record (a new reference) in *out: 1, 0 when it is gone, -1 with err. */
static int
job_image(job_ctx_t *ctx, json_t **out, int64_t *rev, err_t *err)
{
    return store_rec_lookup(job_ctx_store(ctx), &store_kind_private_image, job_ctx_resource(ctx), out,
                            rev, err);
}

/* image.capture, its one step: a volume of every disk, each keyed by its volume id. */
static job_step_result_t
step_capture_disks(job_ctx_t *ctx, err_t *err)
{
    char op[256];
    agent_call_t c = {op, VM_AGENT_TIMEOUT_MS, NULL};
    agent_err_t aerr = {0};
    json_t *image = NULL, *vols = NULL, *v;
    job_step_result_t r = JOB_STEP_RETRY;
    err_t perr = {0};
    int64_t size;
    agent_t *a;
    vm_rec_t vm;
    size_t i, n;
    int rc;

    if ((rc = job_image(ctx, &image, NULL, err)) <= 0) {
        if (rc == 0)
            err_set(err, ERR_NOT_FOUND, NULL, "The image was not found.");
        return rc == 0 ? JOB_STEP_FAILED : JOB_STEP_RETRY;
    }
    if ((r = vmstep_vm_of(ctx, jget_str(job_ctx_params(ctx), "vmId"), &vm, &a, err)) != JOB_STEP_DONE)
        goto out;
    if ((vols = vm_image__volumes(image)) == NULL)
        goto out;
    n = json_array_size(vols);
    json_array_foreach(vols, i, v) {
        const json_t *lun = json_object_get(v, "lun");
        snprintf(op, sizeof(op), "%s:%s", job_ctx_op_id(ctx), jget_str(v, "volumeId"));
        agent_volume_snapshot(a, &c, vm.hypervisor_id, json_is_integer(lun) ? (int) jget_int(v, "lun") : -1,
                              jget_str(v, "volumeId"), &size, &aerr);
        if ((r = vmstep_result(&aerr, err)) != JOB_STEP_DONE)
            goto out;
        if (i + 1 < n && job_ctx_progress(ctx, (int) ((i + 1) * 99 / n), &perr))
            err_clear(&perr); /* progress is shown best effort; the volumes are what count */
    }
out:
    if (r == JOB_STEP_RETRY && err->code == ERR_NONE)
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    json_decref(vols);
    json_decref(image);
    return r;
}

/* Sets the job's image to state, in the caller's transaction; with release, gives back what it holds. */
static int
settle_image(job_ctx_t *ctx, const char *state, bool release, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    int64_t rev, size, d[STORE_QUOTAS] = {0};
    json_t *image = NULL;
    int rc;

    if ((rc = job_image(ctx, &image, &rev, err)) <= 0)
        return rc;
    size = jget_int(image, "_storageGB");
    if (release && json_is_true(json_object_get(image, "_counted"))) {
        d[QUOTA_STORAGE] = -size;
        json_object_set_new(image, "_counted", json_false());
        if (quota_apply(st, jget_str(image, "subscriptionId"), d, err) ||
            store_host_allocate(st, jget_str(image, "_hostId"), 0, 0, -size, err) < 0)
            goto out;
    }
    json_object_set_new(image, "state", json_string(state));
    rc = strcmp(job_ctx_status(ctx), "canceled") == 0
             ? store_rec_delete(st, &store_kind_private_image, job_ctx_resource(ctx), 0, err)
             : store_rec_update(st, &store_kind_private_image, job_ctx_resource(ctx), image, rev, err);
    if (rc == 0 && !release)
        rc = usage_storage_record(st, "image", job_ctx_resource(ctx), jget_str(image, "subscriptionId"),
                                  jget_str(image, "name"), size, "created", err) ||
             events_emit(st, "image.created", jget_str(image, "subscriptionId"),
                         job_ctx_resource(ctx), NULL, err);
out:
    json_decref(image);
    return err->code == ERR_NONE ? 0 : -1;
}

static int
captured(job_ctx_t *ctx, err_t *err)
{
    return settle_image(ctx, "ready", false, err);
}

static int
failed_capture(job_ctx_t *ctx, err_t *err)
{
    return settle_image(ctx, "failed", true, err);
}

/* A failed capture removes the volumes it made, best effort. */
static void
cleanup_capture(job_ctx_t *ctx)
{
    char op[128];
    json_t *image = NULL, *vols;
    err_t err = {0};

    if (job_image(ctx, &image, NULL, &err) != 1)
        return;
    snprintf(op, sizeof(op), "%s:cleanup", job_ctx_op_id(ctx));
    if ((vols = vm_image__volumes(image)) != NULL)
        vm_image__delete_volumes(job_ctx_store(ctx), jget_str(image, "_hostId"), vols, op, &err);
    json_decref(vols);
    json_decref(image);
}

static const job_step_def_t generalize_steps[] = {{"generalize", step_generalize}, {NULL, NULL}};
static const job_step_def_t capture_steps[] = {{"captureDisks", step_capture_disks}, {NULL, NULL}};
static const job_kind_def_t capture_kinds[] = {
    {"vm.generalize", generalize_steps, VM_JOB_DEADLINE_MS, failed_generalize, NULL, NULL, NULL},
    {"image.capture", capture_steps, 0, failed_capture, cleanup_capture, NULL, captured},
};

int
vm_capture_kinds_register(void)
{
    return job_kind_register(&capture_kinds[0]) || job_kind_register(&capture_kinds[1]) ? -1 : 0;
}
