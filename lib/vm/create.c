/*
 * create.c: VM creation, the request and its job (vm.create: createOnHost, startVm).
 *
 * The request checks and reserves everything at once, in the caller's transaction: the plan offers the
 * image and size, the data disks' luns are distinct, the quotas hold (409 QuotaExceeded), a host of the
 * plan's cloud has room (409 NoCapacity), and the network has a free address. The request's context (the
 * subscription and its plan) comes from the caller; nothing here reads them again. A failed create removes
 * what reached the host and leaves the record failed and holding nothing; a canceled one leaves nothing.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../catalog.h"
#include "../hostreg.h"
#include "../placement.h"
#include "../quota.h"
#include "../util.h"
#include "network.h"
#include "vmstep.h"

static const char *const caching_names[] = {"None", "ReadOnly", "ReadWrite"};

const char *
vm_caching_name(vm_caching_t caching)
{
    assert(caching >= VM_CACHING_NONE && caching <= VM_CACHING_READ_WRITE);
    return caching_names[caching];
}

int
vm_caching_parse(const char *text, vm_caching_t *out)
{
    int i;

    for (i = 0; text && i <= VM_CACHING_READ_WRITE; i++)
        if (strcmp(caching_names[i], text) == 0) {
            *out = (vm_caching_t) i;
            return 0;
        }
    return -1;
}

/* The disks of a new VM: the image's OS disk, then the data disks asked for; *storage is their total. */
static json_t *
new_disks(const vm_create_req_t *req, const json_t *image, int64_t *storage, err_t *err)
{
    json_t *disks = json_array();
    char target[64];
    int64_t lun;
    size_t i;

    if (json_array_append_new(disks, json_pack("{s:n, s:s, s:I, s:s}", "lun", "kind", "os", "sizeGB",
                                               (json_int_t) jget_int(image, "osDiskGB"), "caching",
                                               "ReadWrite")))
        goto oom;
    *storage = jget_int(image, "osDiskGB");
    for (i = 0; i < req->ndisks; i++) {
        const vm_disk_req_t *d = &req->disks[i];
        lun = d->lun >= 0 ? d->lun : (int64_t) i;
        if (!vmrec_lun_free(disks, lun)) {
            snprintf(target, sizeof(target), "dataDisks[%zu].lun", i);
            json_decref(disks);
            err_set(err, ERR_INVALID_REQUEST, target, "Lun %lld is given twice.", (long long) lun);
            return NULL;
        }
        if (json_array_append_new(disks, json_pack("{s:I, s:s, s:I, s:s}", "lun", (json_int_t) lun,
                                                   "kind", "data", "sizeGB", (json_int_t) d->size_gb,
                                                   "caching", vm_caching_name(d->caching))))
            goto oom;
        *storage += d->size_gb;
    }
    return disks;
oom:
    json_decref(disks);
    err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return NULL;
}

/* The new record, its fields in the order the store keeps them (a create answers what a GET shows). disks
 * is stolen. */
static json_t *
new_record(const vm_ctx_t *ctx, const vm_create_req_t *req, const char *role_id, const json_t *image,
           const json_t *size, json_t *disks, const char *host_id)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];

    util_uuid(id);
    util_time_format(util_now_ms(), now);
    return json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:s, s:O, s:O, s:s?, s:s, s:s, s:o, s:[], s:n, "
                     "s:s, s:s, s:s, s:n}",
                     "id", id, "name", req->name, "subscriptionId", ctx->sid, "size", req->size,
                     "cores", json_object_get(size, "cores"), "memoryMB",
                     json_object_get(size, "memoryMB"), "imageId", req->image_id, "generation",
                     json_object_get(image, "generation"), "osType", json_object_get(image, "osType"),
                     "vmRoleId", role_id, "provisioningState", "creating", "powerState", "starting",
                     "disks", disks, "nics", "checkpoint", "createdAt", now, "updatedAt", now,
                     "hostId", host_id, "hypervisorId");
}

json_t *
vm__reserve_new(store_t *st, const vm_ctx_t *ctx, const vm_create_req_t *req, const char *role_id,
                err_t *err)
{
    json_t *image = NULL, *size = NULL, *vm = NULL, *disks = NULL, *nic;
    int rc;
    char host[UTIL_UUID_LEN + 1];
    int64_t storage = 0, delta[STORE_QUOTAS] = {0};

    assert(st != NULL && ctx != NULL && ctx->sid != NULL && ctx->plan != NULL);
    assert(req != NULL && req->name != NULL && req->image_id != NULL && req->size != NULL);
    assert(req->ndisks <= VM_MAX_DATA_DISKS);
    /* A missing image or size is the same answer as one the plan does not offer. */
    rc = store_rec_lookup_shared(st, &store_kind_image, req->image_id, &image, NULL, err);
    if (rc < 0)
        goto out;
    if (rc == 0 || !catalog_plan_allows(ctx->plan, "imageIds", req->image_id)) {
        err_set(err, ERR_INVALID_REQUEST, "imageId", "The plan offers no image with this id.");
        goto out;
    }
    rc = store_rec_lookup_by_shared(st, &store_kind_size, "name", req->size, &size, err);
    if (rc < 0)
        goto out;
    if (rc == 0 || !catalog_plan_allows(ctx->plan, "sizeNames", req->size)) {
        err_set(err, ERR_INVALID_REQUEST, "size", "The plan offers no size named '%s'.", req->size);
        goto out;
    }
    if ((disks = new_disks(req, image, &storage, err)) == NULL)
        goto out;
    /* Quota first (409 QuotaExceeded), then room on a host (409 NoCapacity): both at once. */
    delta[QUOTA_VMS] = 1;
    delta[QUOTA_CORES] = jget_int(size, "cores");
    delta[QUOTA_MEMORY] = jget_int(size, "memoryMB");
    delta[QUOTA_STORAGE] = storage;
    if (quota_reserve(st, ctx->sid, ctx->plan, delta, err) ||
        placement_place(st, jget_str(ctx->plan, "cloudId"), jget_int(size, "cores"),
                        jget_int(size, "memoryMB"), storage, host, err))
        goto out;
    vm = new_record(ctx, req, role_id, image, size, disks, host);
    disks = NULL;
    if (vm == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        goto out;
    }
    if (vmrec_init_holdings(vm, storage, true, err) || store_rec_insert(st, &store_kind_vm, vm, err) ||
        store_timeline_append(st, vm, "created", err))
        goto fail;
    if (req->network_id != NULL) {
        nic = network_nic_take(st, ctx->sid, req->network_id, jget_str(vm, "id"), err);
        if (nic == NULL)
            goto fail;
        if (json_array_append_new(json_object_get(vm, "nics"), nic)) {
            err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
            goto fail;
        }
        if (store_rec_update(st, &store_kind_vm, jget_str(vm, "id"), vm, 0, err))
            goto fail;
    }
    goto out;
fail:
    json_decref(vm);
    vm = NULL;
out:
    json_decref(image);
    json_decref(size);
    json_decref(disks);
    return vm;
}

json_t *
vm_create(store_t *st, const vm_ctx_t *ctx, const vm_create_req_t *req, json_t **job, err_t *err)
{
    json_t *vm, *j;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && job != NULL);
    if (vm_subscription_writable(ctx->sub, err))
        return NULL;
    vm = vm__reserve_new(st, ctx, req, NULL, err);
    if (vm == NULL)
        return NULL;
    j = job_submit(st, "vm.create", jget_str(vm, "id"), ctx->sid, jget_str(vm, "id"), NULL, err);
    if (j == NULL) {
        json_decref(vm);
        return NULL;
    }
    vm_view(vm, false);
    *job = j;
    return vm;
}
static job_step_result_t
step_create_on_host(job_ctx_t *ctx, err_t *err)
{
    agent_vm_spec_t spec;
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    char hyp[AGENT_ID_MAX];
    json_t *vm, *data_disks;
    job_step_result_t r;
    agent_t *a;

    if ((r = vmstep_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    if (jget_str(vm, "hypervisorId")) {
        json_decref(vm);
        return JOB_STEP_DONE;
    }
    vmstep_fill_spec(vm, &spec, &data_disks);
    agent_vm_create(a, &c, &spec, hyp, &aerr);
    json_decref(data_disks);
    r = vmstep_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        json_object_set_new(job_ctx_data(ctx), "hypervisorId", json_string(hyp));
        json_object_set_new(vm, "hypervisorId", json_string(hyp));
    }
    return vmstep_finish(ctx, vm, r, err);
}

static int
start_on_host(agent_t *a, const agent_call_t *c, const json_t *vm, const json_t *params,
              agent_err_t *aerr)
{
    (void) params;
    return agent_vm_power(a, c, jget_str(vm, "hypervisorId"), AGENT_POWER_START, aerr);
}

static void
running(json_t *vm, const json_t *params)
{
    (void) params;
    json_object_set_new(vm, "powerState", json_string("running"));
}

static job_step_result_t
step_start_new(job_ctx_t *ctx, err_t *err)
{
    return vmstep_call_and_apply(ctx, start_on_host, running, err);
}

/* A failed create removes what reached the host, best effort; the record stays, failed, holding nothing. */
static void
cleanup_create(job_ctx_t *ctx)
{
    json_t *vm = vmrec_load(job_ctx_store(ctx), NULL, job_ctx_resource(ctx), NULL, NULL);
    const char *hyp = vm ? jget_str(vm, "hypervisorId") : NULL;
    char op[128];
    agent_call_t c = {op, VM_AGENT_TIMEOUT_MS};
    err_t err = {0};
    agent_t *a;

    if (hyp && jget_str(vm, "hostId")) {
        snprintf(op, sizeof(op), "%s:cleanup", job_ctx_op_id(ctx));
        a = hostreg_agent(job_ctx_store(ctx), jget_str(vm, "hostId"), &err);
        if (a && vmstep_delete_on_host(a, &c, hyp, &err) == JOB_STEP_DONE)
            json_object_set_new(job_ctx_data(ctx), "removedFromHost", json_true());
    }
    json_decref(vm);
}

static int
failed_create(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *vm = NULL;
    int rc;

    if ((rc = vmstep_job_vm(ctx, &vm, err)) <= 0)
        return rc; /* a VM that is gone has nothing to put right */
    if (strcmp(job_ctx_status(ctx), "canceled") == 0) {
        /* A canceled create leaves nothing behind. */
        rc = vmrec_release_all(st, vm, err) ||
             store_rec_delete(st, &store_kind_vm, jget_str(vm, "id"), 0, err);
    } else {
        if (json_is_true(json_object_get(job_ctx_data(ctx), "removedFromHost")))
            json_object_set_new(vm, "hypervisorId", json_null());
        rc = vmrec_fail_create(st, vm, err);
    }
    json_decref(vm);
    return rc ? -1 : 0;
}

static const job_step_def_t create_steps[] = {
    {"createOnHost", step_create_on_host},
    {"startVm", step_start_new},
    {NULL, NULL},
};
static const job_kind_def_t create_kind = {
    "vm.create", create_steps, VM_JOB_DEADLINE_MS, failed_create, cleanup_create, NULL, NULL,
};

int
vm_create_kinds_register(void)
{
    return job_kind_register(&create_kind);
}
