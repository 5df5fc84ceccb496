/*
 * create.c: VM creation, the request and its job (vm.create: createOnHost, startVm).
 *
 * The request checks and reserves everything at once, in the caller's transaction: the plan offers the
 * image and size, the data disks' luns are distinct, the quotas hold (409 QuotaExceeded), a host of the
 * plan's cloud has room (409 NoCapacity), and the network has a free address. The request's context (the
 * subscription and its plan) comes from the caller; nothing here reads them again. A failed create removes
 * what reached the host and leaves the record failed and holding nothing; a canceled one leaves nothing.
 *
 * A VM made from a private image has clones of every captured disk (the data disks at the image's luns); a
 * data disk may be a clone of a snapshot. Each such source is leased from the request to the job's end
 * (given back in on_succeeded and on_failed), and the create step polls while the host clones, showing
 * the copy's bytes as the job's copy.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../catalog.h"
#include "../hostreg.h"
#include "../placement.h"
#include "../quota.h"
#include "../util.h"
#include "image.h"
#include "network.h"
#include "vmstep.h"

static const char *const caching_names[] = {"None", "ReadOnly", "ReadWrite"};

UTIL_ENUM_NAMES(vm_caching, vm_caching_t, caching_names)

/* Adds a data disk at lun to vm (400 on dataDisks[i].lun, i = idx, when the lun is taken). */
static int
add_data_disk(vm_rec_t *vm, int64_t lun, int64_t size_gb, vm_caching_t caching, size_t idx,
              err_t *err)
{
    char target[64];

    if (!vmrec_lun_free(vm, lun)) {
        snprintf(target, sizeof(target), "dataDisks[%zu].lun", idx);
        return err_set(err, ERR_INVALID_REQUEST, target, "Lun %lld is given twice (or is the image's).",
                       (long long) lun);
    }
    assert(lun >= 0 && lun <= VM_MAX_LUN && vm->ndisks < VM_REC_MAX_DISKS); /* distinct luns fit */
    vm->disks[vm->ndisks++] = (vm_disk_t){(int) lun, VM_DISK_DATA, size_gb, caching};
    vm->hold.storage_gb += size_gb;
    return 0;
}

/* The disks of a new VM: the image's OS disk (and a private image's data disks, at their luns), then the
 * data disks asked for, each empty or a clone of a snapshot (sources NULL: none may be); its storage is
 * their total. */
static int
new_disks(store_t *st, const vm_ctx_t *ctx, const vm_create_req_t *req, const json_t *image,
          json_t *sources, vm_rec_t *vm, err_t *err)
{
    char target[64];
    const json_t *d;
    int64_t lun, size;
    size_t i;

    vm->disks[0] = (vm_disk_t){-1, VM_DISK_OS, jget_int(image, "osDiskGB"), VM_CACHING_READ_WRITE};
    vm->ndisks = 1;
    vm->hold.storage_gb = vm->disks[0].size_gb;
    json_array_foreach(json_object_get(image, "dataDisks"), i, d)
        if (add_data_disk(vm, jget_int(d, "lun"), jget_int(d, "sizeGB"), VM_CACHING_NONE, i, err))
            return -1;
    for (i = 0; i < req->ndisks; i++) {
        const vm_disk_req_t *r = &req->disks[i];
        lun = r->lun >= 0 ? r->lun : (int64_t) i;
        size = r->size_gb;
        snprintf(target, sizeof(target), "dataDisks[%zu].snapshotId", i);
        if (r->snapshot_id != NULL &&
            (sources == NULL ? err_set(err, ERR_INVALID_REQUEST, target, "No snapshot may be used here.")
                             : vm_image__use_snapshot(st, ctx->sid, jget_str(ctx->plan, "cloudId"),
                                                      r->snapshot_id, (int) lun, target, sources,
                                                      &size, err)))
            return -1;
        if (add_data_disk(vm, lun, size, r->caching, i, err))
            return -1;
    }
    return 0;
}

/* Copies text into a record's buffer of size; text too long for it is 400 on field. */
static int
put_text(char *out, size_t size, const char *text, const char *field, err_t *err)
{
    if (text != NULL && strlen(text) >= size)
        return err_set(err, ERR_INVALID_REQUEST, field, "%s is too long.", field);
    snprintf(out, size, "%s", text ? text : "");
    return 0;
}

/* The new record: creating and starting, its size and image as the catalog has them. */
static int
new_record(store_t *st, const vm_ctx_t *ctx, const vm_create_req_t *req, const char *role_id,
           const json_t *image, const json_t *size, json_t *sources, vm_rec_t *vm, err_t *err)
{
    memset(vm, 0, sizeof(*vm));
    util_uuid(vm->id);
    util_time_format(util_now_ms(), vm->created_at);
    memcpy(vm->updated_at, vm->created_at, sizeof(vm->updated_at));
    vm->cores = jget_int(size, "cores");
    vm->memory_mb = jget_int(size, "memoryMB");
    /* Dynamic memory: the body's, checked against the size's startup memory, or else the size's. */
    vm->dynamic_memory_own = req->dynamic_memory.present;
    if (vm->dynamic_memory_own) {
        if (catalog_dynmem_check(&req->dynamic_memory, vm->memory_mb, err))
            return -1;
        vm->dynamic_memory = req->dynamic_memory;
    } else if (catalog_dynmem_from_json(json_object_get(size, "dynamicMemory"), &vm->dynamic_memory)) {
        return err_set(err, ERR_INTERNAL, NULL, "The size's dynamic memory does not parse.");
    }
    vm->generation = jget_int(image, "generation");
    vm->provisioning = VM_PROV_CREATING;
    vm->power = VM_POWER_STARTING;
    if (put_text(vm->name, sizeof(vm->name), req->name, "name", err) ||
        put_text(vm->subscription_id, sizeof(vm->subscription_id), ctx->sid, "subscriptionId", err) ||
        put_text(vm->size, sizeof(vm->size), req->size, "size", err) ||
        put_text(vm->image_id, sizeof(vm->image_id), req->image_id, "imageId", err) ||
        put_text(vm->os_type, sizeof(vm->os_type), jget_str(image, "osType"), "osType", err) ||
        put_text(vm->vm_role_id, sizeof(vm->vm_role_id), role_id, "vmRoleId", err))
        return -1;
    return new_disks(st, ctx, req, image, sources, vm, err);
}

/* The image a VM is made from, in *out: a plan image, or (with sources) a ready private image of the
 * subscription in the plan's cloud, whose volumes and lease go into sources. 400 on imageId otherwise. */
static int
find_image(store_t *st, const vm_ctx_t *ctx, const char *id, json_t *sources, json_t **out,
           err_t *err)
{
    int rc = store_rec_lookup_shared(st, &store_kind_image, id, out, NULL, err);

    /* *out holds a reference only when this answers 0: the caller releases it. */
    if (rc == 1 && !catalog_plan_allows(ctx->plan, "imageIds", id)) {
        json_decref(*out);
        *out = NULL;
        rc = 0;
    }
    if (rc == 0 && sources != NULL) {
        rc = vm_image__lookup_usable(st, ctx->sid, jget_str(ctx->plan, "cloudId"), id, out, err);
        if (rc == 1 && vm_image__use_image(st, *out, sources, err)) {
            json_decref(*out);
            *out = NULL;
            return -1;
        }
    }
    if (rc == 0)
        err_set(err, ERR_INVALID_REQUEST, "imageId", "The plan offers no image with this id.");
    return rc == 1 ? 0 : -1;
}

/* vm__reserve_new, and with sources (NULL: plan images and empty disks only), a VM made from a private
 * image or with disks cloned from snapshots: their volumes and leases are recorded in sources. */
static int
reserve_new(store_t *st, const vm_ctx_t *ctx, const vm_create_req_t *req, const char *role_id,
            json_t *sources, vm_rec_t *out, err_t *err)
{
    json_t *image = NULL, *size = NULL;
    int rc, answer = -1;
    int64_t delta[STORE_QUOTAS] = {0};
    vm_rec_t rec, *vm = &rec; /* *out is written only on success */

    assert(st != NULL && ctx != NULL && ctx->sid != NULL && ctx->plan != NULL && out != NULL);
    assert(req != NULL && req->name != NULL && req->image_id != NULL && req->size != NULL);
    assert(req->ndisks <= VM_MAX_DATA_DISKS);
    /* A missing image or size is the same answer as one the plan does not offer. */
    if (find_image(st, ctx, req->image_id, sources, &image, err))
        goto out;
    rc = store_rec_lookup_by_shared(st, &store_kind_size, "name", req->size, &size, err);
    if (rc < 0)
        goto out;
    if (rc == 0 || !catalog_plan_allows(ctx->plan, "sizeNames", req->size)) {
        err_set(err, ERR_INVALID_REQUEST, "size", "The plan offers no size named '%s'.", req->size);
        goto out;
    }
    if (new_record(st, ctx, req, role_id, image, size, sources, vm, err))
        goto out;
    /* Quota first (409 QuotaExceeded), then room on a host (409 NoCapacity): both at once. */
    delta[QUOTA_VMS] = 1;
    delta[QUOTA_CORES] = vm->cores;
    delta[QUOTA_MEMORY] = vm->memory_mb;
    delta[QUOTA_STORAGE] = vm->hold.storage_gb;
    if (quota_reserve(st, ctx->sid, ctx->plan, delta, err) ||
        placement_place(st, jget_str(ctx->plan, "cloudId"), vm->cores, vm->memory_mb,
                        vm->hold.storage_gb, vm->host_id, err))
        goto out;
    vmrec_init_holdings(vm, vm->hold.storage_gb, true);
    /* The address is leased to the VM's id before the record exists, so that the record is written
     * once, NIC and all. */
    if (req->network_id != NULL) {
        if (network_nic_take(st, ctx->sid, req->network_id, vm->id, &vm->nics[0], err))
            goto out;
        vm->nnics = 1;
    }
    if (vmrec_insert(st, vm, err))
        goto out;
    *out = rec;
    answer = 0;
out:
    json_decref(image);
    json_decref(size);
    return answer;
}

int
vm__reserve_new(store_t *st, const vm_ctx_t *ctx, const vm_create_req_t *req, const char *role_id,
                vm_rec_t *out, err_t *err)
{
    return reserve_new(st, ctx, req, role_id, NULL, out, err);
}

json_t *
vm_create(store_t *st, const vm_ctx_t *ctx, const vm_create_req_t *req, json_t **job, err_t *err)
{
    json_t *view, *j, *sources;
    vm_rec_t vm;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && job != NULL);
    if (vm_subscription_writable(ctx->sub, err))
        return NULL;
    if ((sources = vmrec__or_oom(json_object(), err)) == NULL)
        return NULL;
    if (reserve_new(st, ctx, req, NULL, sources, &vm, err)) {
        json_decref(sources);
        return NULL;
    }
    /* The sources of cloned disks ride in the job's params; a VM of empty disks has none. */
    j = job_submit(st, "vm.create", vm.id, ctx->sid, vm.id, json_object_size(sources) ? sources : NULL,
                   err);
    json_decref(sources);
    if (j == NULL)
        return NULL;
    /* The answer is what a GET shows. */
    if ((view = vmrec__or_oom(vm_render_view(&vm, false), err)) == NULL) {
        json_decref(j);
        return NULL;
    }
    *job = j;
    return view;
}

/* Points the spec's disks made from volumes (the job's sources; none for a VM of empty disks) at them. */
static void
clone_sources(const json_t *sources, vmstep_spec_t *spec)
{
    const char *vol;
    int i;

    for (i = 0; sources != NULL && i < spec->spec.ndisks; i++) {
        if ((vol = vm_image__source_volume(sources, spec->disks[i].lun)) == NULL)
            continue;
        spec->disks[i].volume_id = vol;
        spec->disks[i].image_id = NULL;
    }
}

static job_step_result_t
step_create_on_host(job_ctx_t *ctx, err_t *err)
{
    vmstep_spec_t spec;
    agent_call_t c = vmstep_call(ctx);
    agent_progress_t progress = {0, 0};
    agent_err_t aerr = {0};
    char hyp[AGENT_ID_MAX];
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;

    if ((r = vmstep_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    if (vm.hypervisor_id[0])
        return JOB_STEP_DONE;
    vmstep_fill_spec(&vm, &spec);
    clone_sources(job_ctx_params(ctx), &spec);
    c.progress = &progress;
    agent_vm_create(a, &c, &spec.spec, hyp, &aerr);
    r = vmstep_result(&aerr, err);
    vmstep_show_copy(ctx, &progress);
    /* A VM made (even if this step goes no further), or an answer lost or not yet given, which may hide
     * one: a failure of the job must then find it on the host. Only refusals made nothing. Saved with the
     * step's end, retry or poll. */
    if (aerr.status == AGENT_OK || aerr.status == AGENT_PENDING ||
        aerr.status == AGENT_ERR_TRANSIENT || aerr.status == AGENT_ERR_TIMEOUT)
        json_object_set_new(job_ctx_data(ctx), "mayBeOnHost", json_true());
    if (r == JOB_STEP_DONE) {
        json_object_set_new(job_ctx_data(ctx), "hypervisorId", json_string(hyp));
        snprintf(vm.hypervisor_id, sizeof(vm.hypervisor_id), "%s", hyp);
    }
    return vmstep_finish(ctx, &vm, r, err);
}

/* Starts the new VM; a dynamic-memory VM's record then holds the memory its host assigns it right away
 * (what metering bills until the host is observed again). A start is idempotent, the read best effort. */
static job_step_result_t
step_start_new(job_ctx_t *ctx, err_t *err)
{
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    agent_vm_info_t hv;
    job_step_result_t r;
    vm_rec_t vm;
    agent_t *a;

    if ((r = vmstep_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    agent_vm_power(a, &c, vm.hypervisor_id, AGENT_POWER_START, &aerr);
    if ((r = vmstep_result(&aerr, err)) == JOB_STEP_DONE) {
        vm.power = VM_POWER_RUNNING;
        vm.provisioning = VM_PROV_SUCCEEDED;
        if (vm.dynamic_memory.enabled && vmstep_host_view(ctx, &vm, &hv) == 1 &&
            hv.assigned_memory_mb > 0)
            vm.assigned_memory_mb = hv.assigned_memory_mb;
    }
    return vmstep_finish(ctx, &vm, r, err);
}

/* The host's VMs made for vm: the one its record names and any the host knows by the wapd VM id (a create
 * whose answer was lost). Answers how many went into hyps (at most max), or -1 when the host could not be
 * read. */
static int
made_for(agent_t *a, const vm_rec_t *vm, char hyps[][AGENT_ID_MAX], int max)
{
    agent_call_t c = {"inventory", 0, NULL};
    agent_vm_list_t list = {0};
    agent_err_t aerr;
    int attempt, n = 0;
    size_t i;

    /* A read may be asked again at will: a few tries before the answer is "unknown". */
    for (attempt = 0; attempt < 3; attempt++)
        if (agent_inventory(a, &c, &list, &aerr) == 0)
            break;
    if (attempt == 3)
        return -1;
    for (i = 0; i < list.n && n < max; i++)
        if ((vm->hypervisor_id[0] && strcmp(list.vms[i].hypervisor_id, vm->hypervisor_id) == 0) ||
            strcmp(list.vms[i].vm_id, vm->id) == 0)
            snprintf(hyps[n++], AGENT_ID_MAX, "%s", list.vms[i].hypervisor_id);
    agent_vm_list_free(&list);
    return n;
}

/* A failed create removes what reached the host before the job ends: until the host has confirmed it
 * (removedFromHost), the job asks to be tried again (job_ctx_undo_pending), restart included. Each try is
 * idempotent: it removes every VM the host has of this create, and a VM already gone is removed. */
static void
cleanup_create(job_ctx_t *ctx)
{
    char op[160], hyps[4][AGENT_ID_MAX];
    agent_call_t c = {op, VM_AGENT_TIMEOUT_MS, NULL};
    json_t *data = job_ctx_data(ctx);
    json_int_t tries = json_integer_value(json_object_get(data, "undoTries"));
    bool done = true;
    err_t err = {0};
    vm_rec_t vm;
    agent_t *a;
    int rc, i, n;

    if (json_is_true(json_object_get(data, "removedFromHost")))
        return; /* done by an earlier try */
    if ((rc = vmstep_job_vm(ctx, &vm, NULL)) != 1 || vm.host_id[0] == '\0') {
        if (rc < 0)
            job_ctx_undo_pending(ctx); /* the store did not answer: try again */
        return;
    }
    json_object_set_new(data, "undoTries", json_integer(tries + 1));
    if ((a = hostreg_agent(job_ctx_store(ctx), vm.host_id, &err)) == NULL) {
        job_ctx_undo_pending(ctx);
        return;
    }
    n = made_for(a, &vm, hyps, 4);
    if (n < 0 && vm.hypervisor_id[0]) {
        snprintf(hyps[0], AGENT_ID_MAX, "%s", vm.hypervisor_id); /* removed by the id it has */
        n = 1;
    } else if (n < 0) {
        /* Unknown now: asked again, unless every try of the create was refused (nothing made). */
        if (json_is_true(json_object_get(data, "mayBeOnHost")))
            job_ctx_undo_pending(ctx);
        else
            json_object_set_new(data, "removedFromHost", json_true());
        return;
    }
    if (n == 0 && json_is_true(json_object_get(data, "mayBeOnHost")) && tries < 1) {
        /* A create whose answer was lost may still be under way on the host and not listed yet: the
         * host is asked again after a backoff before nothing is taken as nothing. */
        job_ctx_undo_pending(ctx);
        return;
    }
    if (n == 4)
        done = false; /* there may be more than one listing holds: looked for again once these went */
    if (n > 0 && vm.hypervisor_id[0] == '\0')
        json_object_set_new(data, "hypervisorId", json_string(hyps[0]));
    /* Each try is a call of its own: a host that keeps answers by operation id answers this one anew. */
    for (i = 0; i < n; i++) {
        snprintf(op, sizeof(op), "%s:cleanup:%lld:%d", job_ctx_op_id(ctx), (long long) tries, i);
        if (vmstep_delete_on_host(a, &c, hyps[i], &err) != JOB_STEP_DONE)
            done = false;
    }
    if (done)
        json_object_set_new(data, "removedFromHost", json_true());
    else
        job_ctx_undo_pending(ctx);
}

/* What a failed create leaves: nothing on the host (its cleanup removed it), so the record is failed and
 * holds nothing; or, when the host could not confirm the removal in the time the job had to undo, the VM
 * the host may still have, recorded as it is: failed, its power unknown, naming it, and holding its host's
 * capacity and its quota until it is deleted (never billed: its timeline is forgotten). */
static int
failed_create(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *data = job_ctx_data(ctx);
    bool removed = json_is_true(json_object_get(data, "removedFromHost"));
    const char *hyp = jget_str(data, "hypervisorId");
    vm_rec_t vm;
    int rc;

    if (vm_image__give_leases(st, job_ctx_params(ctx), err))
        return -1;
    if ((rc = vmstep_job_vm(ctx, &vm, err)) <= 0)
        return rc; /* a VM that is gone has nothing to put right */
    if (strcmp(job_ctx_status(ctx), "canceled") == 0 &&
        (!job_ctx_started(ctx) || removed || vm.host_id[0] == '\0')) {
        /* A canceled create leaves nothing behind; one canceled while it ran does so once its cleanup has
         * removed what reached the host (else the record stays, failed, naming it, as a failed create). */
        rc = vmrec_release_all(st, &vm, err) ||
             store_rec_delete(st, &store_kind_vm, vm.id, 0, err);
    } else if (removed || vm.host_id[0] == '\0') {
        vm.hypervisor_id[0] = '\0';
        rc = vmrec_fail_create(st, &vm, err);
    } else {
        if (vm.hypervisor_id[0] == '\0' && hyp != NULL)
            snprintf(vm.hypervisor_id, sizeof(vm.hypervisor_id), "%s", hyp);
        vm.provisioning = VM_PROV_FAILED;
        vm.power = VM_POWER_UNKNOWN;
        rc = vmrec_save(st, &vm, err) || store_timeline_forget(st, vm.id, err);
    }
    return rc ? -1 : 0;
}

/* The clones are made: the sources are free again. */
static int
created(job_ctx_t *ctx, err_t *err)
{
    return vm_image__give_leases(job_ctx_store(ctx), job_ctx_params(ctx), err);
}

static const job_step_def_t create_steps[] = {
    {"createOnHost", step_create_on_host},
    {"startVm", step_start_new},
    {NULL, NULL},
};
static const job_kind_def_t create_kind = {
    "vm.create", create_steps, VM_JOB_DEADLINE_MS, failed_create, cleanup_create, NULL, created,
};

int
vm_create_kinds_register(void)
{
    return job_kind_register(&create_kind);
}
