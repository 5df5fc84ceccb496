/*
 * inventory.c: host inventory sync, unmanaged VMs and the simulated storage incident.
 *
 * A sync (the host.refresh job, started by an admin or by the periodic sweep) asks the host's agent what
 * VMs it has and compares with the records of the VMs placed there:
 * - a record whose VM the host no longer has becomes powerState unknown;
 * - a record whose VM the host reports in another steady power state takes the host's state;
 * - a VM on the host that no record owns is listed as unmanaged;
 * - what the host reports of a VM's guest and assigned memory is recorded (lib/inventory/observe.c).
 * It never fights a running job: a VM with a job under way is left alone. The records are compared a page
 * of SYNC_PAGE at a time, each page in its own transaction, so that a sync's memory and the time it holds
 * the write lock stay bounded however many VMs the host has.
 *
 * Re-association and adoption (pointing records at VMs the host has) are lib/inventory/adopt.c.
 */
#include "inventory.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "catalog.h"
#include "events.h"
#include "hostreg.h"
#include "job.h"
#include "placement.h"
#include "quota.h"
#include "util.h"
#include "vm/vmstep.h"
#include "inventory/inventory_internal.h"

/* How many records a sync compares per transaction. */
#define SYNC_PAGE 256

/* True while a job is under way on the VM: its provisioning or power state is transitional. */
bool
inventory__busy(const vm_rec_t *vm)
{
    return vm->provisioning == VM_PROV_CREATING || vm->provisioning == VM_PROV_UPDATING ||
           vm->provisioning == VM_PROV_DELETING || vm->power == VM_POWER_STARTING ||
           vm->power == VM_POWER_STOPPING || vm->power == VM_POWER_DEALLOCATING;
}

/* The power state a host reports (NULL: unknown) as the record's enum; a text no state names is an
 * internal error (the host's answer is not one the record can hold). */
int
inventory__host_power(const char *text, vm_power_t *out, err_t *err)
{
    if (text == NULL) {
        *out = VM_POWER_UNKNOWN;
        return 0;
    }
    if (vm_power_parse(text, out))
        return err_set(err, ERR_INTERNAL, "powerState", "The host reported a power state no VM has.");
    return 0;
}

/* Copies text (NULL: "") into a record's buffer of size; a text too long for it is an internal error
 * naming field (the host's answer does not fit a record). */
int
inventory__put_text(char *out, size_t size, const char *text, const char *field, err_t *err)
{
    if (text != NULL && strlen(text) >= size)
        return err_set(err, ERR_INTERNAL, field, "The host's %s does not fit a VM record.", field);
    snprintf(out, size, "%s", text ? text : "");
    return 0;
}

/* Brings one record (not busy, placed on host_id) in line with what the host reports of it (seen; NULL
 * when the host no longer has it) and saves it when it changed. */
static int
sync_one(store_t *st, const char *host_id, vm_rec_t *vm, const json_t *seen, err_t *err)
{
    const char *hp;
    vm_power_t power;

    if (seen == NULL) {
        if (vm->power == VM_POWER_UNKNOWN)
            return 0;
        if (events_emit(st, "vm.missing", vm->subscription_id, vm->id,
                        json_pack("{s:s, s:s, s:s}", "hostId", host_id, "hypervisorId",
                                  vm->hypervisor_id, "lastPowerState", vm_power_name(vm->power)),
                        err))
            return -1;
        vm->power = VM_POWER_UNKNOWN;
        return vmrec_save(st, vm, err);
    }
    hp = jget_str(seen, "powerState");
    if (hp == NULL || strcmp(hp, vm_power_name(vm->power)) == 0)
        return 0;
    if (inventory__host_power(hp, &power, err))
        return -1;
    /* Changed on the host: the record follows, and so do its holdings. */
    if (power == VM_POWER_DEALLOCATED && vmrec_release_host(st, vm, true, false, err))
        return -1;
    if (power != VM_POWER_DEALLOCATED && !vm->hold.holds_compute &&
        store_host_allocate(st, host_id, vm->cores, vm->memory_mb, 0, err) == 0)
        vm->hold.holds_compute = true;
    vm->power = power;
    return vmrec_save(st, vm, err);
}

/* The host's inventory, keyed by hypervisor id (new reference); NULL with err. */
json_t *
inventory__host_inventory(store_t *st, const char *host_id, err_t *err)
{
    agent_call_t c = {"inventory", VM_AGENT_TIMEOUT_MS, NULL};
    agent_err_t aerr = {0};
    agent_t *a = hostreg_agent(st, host_id, err);
    agent_vm_list_t list;
    json_t *by_id;
    size_t i;

    if (a == NULL)
        return NULL;
    if (agent_inventory(a, &c, &list, &aerr) != 0) {
        err_set(err, ERR_UNAVAILABLE, NULL, "The host did not answer its inventory: %s",
                aerr.message);
        return NULL;
    }
    by_id = json_object();
    for (i = 0; by_id != NULL && i < list.n; i++)
        if (json_object_set_new(by_id, list.vms[i].hypervisor_id,
                                agent_vm_info_to_json(&list.vms[i]))) {
            json_decref(by_id);
            by_id = NULL;
        }
    agent_vm_list_free(&list);
    if (by_id == NULL)
        err_set(err, ERR_UNAVAILABLE, NULL, "Out of memory.");
    return by_id;
}

/* Whether any record owns hypervisor id hyp. */
int
inventory__owned(store_t *st, const char *hyp, err_t *err)
{
    store_filter_t f = {.field = "hypervisorId", .op = STORE_FILTER_EQ, .value = hyp};
    int64_t n = store_rec_count(st, &store_kind_vm, &f, 1, err);

    return n < 0 ? -1 : n > 0;
}

/* Whether the host's VM seen (its inventory entry) is owned: by its hypervisor id, or, while a job runs on
 * the VM record its wapd id names, by that job (a migration's copy on its target, or the source's copy
 * before the job deletes it): neither is unmanaged. */
static int
owned_entry(store_t *st, const char *hyp, const json_t *seen, err_t *err)
{
    json_t *active = json_pack("[s, s]", "queued", "running");
    store_filter_t f[2] = {{.field = "resourceId", .op = STORE_FILTER_EQ,
                            .value = json_string_value(json_object_get(seen, "id"))},
                           {.field = "status", .op = STORE_FILTER_IN, .values = active}};
    int o = inventory__owned(st, hyp, err);
    int64_t n;

    if (o != 0 || f[0].value == NULL || active == NULL) {
        json_decref(active);
        return o;
    }
    n = store_rec_count(st, &store_kind_job, f, 2, err);
    json_decref(active);
    return n < 0 ? -1 : n > 0;
}

/* Brings the page of records on host_id after position *after in line with the host's inventory inv, in a
 * transaction of its own; *after is then where the next page starts (0: none). Each record's sync stands
 * alone (a no-op when the record agrees), so a sync cut between pages is finished by the next. */
static int
sync_page(store_t *st, const char *host_id, const json_t *inv, int64_t *after, err_t *err)
{
    store_filter_t f = {.field = "hostId", .op = STORE_FILTER_EQ, .value = host_id};
    json_t *vms, *rec;
    int64_t next = 0;
    vm_rec_t vm;
    size_t i;

    assert(st != NULL && host_id != NULL && inv != NULL && after != NULL);
    if (store_tx_begin(st, err))
        return -1;
    if ((vms = store_rec_list(st, &store_kind_vm, &f, 1, *after, SYNC_PAGE, &next, err)) == NULL)
        goto fail;
    json_array_foreach(vms, i, rec) {
        if (vmrec_from_store(rec, &vm, err))
            goto fail;
        if (vm.hypervisor_id[0] == '\0' || inventory__busy(&vm))
            continue; /* never fight a running job */
        if (sync_one(st, host_id, &vm, json_object_get(inv, vm.hypervisor_id), err) ||
            inventory__observe(st, &vm, json_object_get(inv, vm.hypervisor_id), err))
            goto fail;
    }
    json_decref(vms);
    vms = NULL;
    if (store_tx_commit(st, err))
        goto fail;
    *after = next;
    return 0;
fail:
    json_decref(vms);
    store_tx_rollback(st);
    return -1;
}

int
inventory_sync(store_t *st, const char *host_id, err_t *err)
{
    json_t *inv, *seen, *unmanaged = NULL, *host;
    const char *key;
    char now[UTIL_TIME_LEN + 1];
    int64_t after = 0;
    int rc = -1, o;

    assert(st != NULL && host_id != NULL);
    inv = inventory__host_inventory(st, host_id, err);
    if (inv == NULL)
        return -1;
    do {
        if (sync_page(st, host_id, inv, &after, err))
            goto out;
    } while (after != 0);
    if (store_tx_begin(st, err))
        goto out;
    unmanaged = json_array();
    json_object_foreach(inv, key, seen) {
        o = owned_entry(st, key, seen, err);
        if (o < 0)
            goto fail;
        if (!o)
            json_array_append_new(unmanaged,
                                  json_pack("{s:s, s:O?, s:O?}", "hypervisorId", key, "name",
                                            json_object_get(seen, "name"), "powerState",
                                            json_object_get(seen, "powerState")));
    }
    if (store_unmanaged_replace(st, host_id, unmanaged, err))
        goto fail;
    host = store_rec_get(st, &store_kind_host, host_id, NULL, err);
    if (host == NULL)
        goto fail;
    util_time_format(util_now_ms(), now);
    json_object_set_new(host, "lastSeenAt", json_string(now));
    rc = store_rec_update(st, &store_kind_host, host_id, host, 0, err);
    json_decref(host);
    if (rc || store_tx_commit(st, err))
        goto fail;
    rc = 0;
    goto out;
fail:
    rc = -1;
    store_tx_rollback(st);
out:
    json_decref(unmanaged);
    json_decref(inv);
    return rc;
}

static job_step_result_t
step_sync(job_ctx_t *ctx, err_t *err)
{
    if (inventory_sync(job_ctx_store(ctx), job_ctx_resource(ctx), err) == 0)
        return JOB_STEP_DONE;
    return err->code == ERR_NOT_FOUND ? JOB_STEP_FAILED : JOB_STEP_RETRY;
}

static const job_step_def_t refresh_steps[] = {{"syncInventory", step_sync}, {NULL, NULL}};
static const job_kind_def_t refresh_kind = {"host.refresh", refresh_steps, 5 * 60 * 1000, NULL, NULL,
                                            NULL, NULL};

int
inventory_jobs_register(void)
{
    return job_kind_register(&refresh_kind);
}

json_t *
inventory_refresh(store_t *st, const char *host_id, err_t *err)
{
    char lock[UTIL_UUID_LEN + 8];
    json_t *host;

    assert(st != NULL && host_id != NULL);
    host = store_rec_get(st, &store_kind_host, host_id, NULL, err);
    if (host == NULL)
        return NULL;
    json_decref(host);
    snprintf(lock, sizeof(lock), "host:%s", host_id);
    return job_submit(st, "host.refresh", host_id, NULL, lock, NULL, err);
}

int
inventory_sweep(store_t *st, err_t *err)
{
    int64_t after = 0, next = 0;
    catalog_host_state_t state;
    json_t *page, *host, *j;
    size_t i;
    int started = 0;

    do {
        page = store_rec_list(st, &store_kind_host, NULL, 0, after, 500, &next, err);
        if (page == NULL)
            return -1;
        json_array_foreach(page, i, host) {
            /* An unreachable host would only fail its refresh at the deadline: the heartbeat starts
             * one when the host answers again (lib/hostwatch.h). */
            if (catalog_host_state_parse(jget_str(host, "state"), &state) == 0 &&
                state == CATALOG_HOST_UNREACHABLE)
                continue;
            /* One at a time per host: a host with a refresh under way is refused, and skipped. */
            j = inventory_refresh(st, jget_str(host, "id"), NULL);
            if (j)
                started++;
            json_decref(j);
        }
        json_decref(page);
        after = next;
    } while (next);
    return started;
}

json_t *
inventory_unmanaged(store_t *st, const char *host_id, err_t *err)
{
    json_t *host;

    assert(st != NULL && host_id != NULL);
    host = store_rec_get(st, &store_kind_host, host_id, NULL, err);

    if (host == NULL)
        return NULL;
    json_decref(host);
    return store_unmanaged_list(st, host_id, err);
}

/* The hypervisor ids of req's VMs, all on host_id (new reference); NULL with 400 on the first that is
 * not. */
static json_t *
hypervisor_ids(store_t *st, const char *host_id, const inventory_simulate_req_t *req, err_t *err)
{
    json_t *hyps = json_array(), *vm, *hyp;
    char target[48];
    size_t i;
    int rc;

    for (i = 0; i < req->nvms; i++) {
        vm = NULL;
        rc = vmrec_lookup(st, &store_kind_vm, req->vm_ids[i], "hostId", host_id, &vm, err);
        if (rc < 0)
            goto fail;
        hyp = json_object_get(vm, "hypervisorId");
        if (!json_is_string(hyp)) {
            json_decref(vm);
            snprintf(target, sizeof(target), "regenerateIds[%zu]", i);
            err_set(err, ERR_INVALID_REQUEST, target, "%s names no VM on this host.", target);
            goto fail;
        }
        json_array_append(hyps, hyp);
        json_decref(vm);
    }
    return hyps;
fail:
    json_decref(hyps);
    return NULL;
}

json_t *
inventory_simulate(store_t *st, const char *host_id, const inventory_simulate_req_t *req,
                   err_t *err)
{
    json_t *host, *hyps, *res = NULL, *out;
    agent_err_t aerr = {0};
    agent_t *a;
    size_t i;

    assert(st != NULL && host_id != NULL && req != NULL && (req->nvms == 0 || req->vm_ids != NULL));
    host = store_rec_get(st, &store_kind_host, host_id, NULL, err);
    if (host == NULL)
        return NULL;
    if (!agent_kind_can_simulate(jget_str(json_object_get(host, "agent"), "kind"))) {
        json_decref(host);
        err_set(err, ERR_INVALID_REQUEST, NULL, "Only simulated hosts take simulator controls.");
        return NULL;
    }
    json_decref(host);
    if ((hyps = hypervisor_ids(st, host_id, req, err)) == NULL)
        return NULL;
    a = hostreg_agent(st, host_id, err);
    if (a == NULL) {
        json_decref(hyps);
        return NULL;
    }
    out = json_pack("{s:O}", "regenerateIds", hyps);
    if (agent_simulate(a, out, &res, &aerr) != 0) {
        json_decref(out);
        json_decref(hyps);
        err_set(err, ERR_HOST_FAILED, NULL, "The simulated host refused: %s", aerr.message);
        return NULL;
    }
    json_decref(out);
    /* Answer per VM: its old and new hypervisor ids. */
    out = json_array();
    for (i = 0; i < req->nvms; i++) {
        const char *old = json_string_value(json_array_get(hyps, i));
        json_array_append_new(out, json_pack("{s:s, s:s, s:O}", "vmId", req->vm_ids[i], "oldHypervisorId", old,
                                             "newHypervisorId",
                                             json_object_get(json_object_get(res, "regenerated"),
                                                             old)));
    }
    json_decref(res);
    json_decref(hyps);
    return json_pack("{s:o}", "regenerated", out);
}

