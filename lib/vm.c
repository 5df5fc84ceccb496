/*
 * vm.c: VM requests, their jobs, and networks (see vm.h).
 *
 * Power state machine (API.md): start from stopped or deallocated; stop, shutdown and restart from
 * running; deallocate from running or stopped. The request sets the transitional state and the job the
 * final one. A failed job asks the host what is true (cleanup) and records that (on_failed), fixing the
 * VM's holdings to match.
 *
 * Each job step is idempotent: agent calls carry the job's operation id, so a step run again after a crash
 * gets the host's recorded answer, and the database changes re-read the VM before applying.
 */
#include "vm.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "events.h"
#include "hostreg.h"
#include "job.h"
#include "placement.h"
#include "quota.h"
#include "util.h"
#include "vm_internal.h"

#define MAX_LUN 63

static const char *
str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t
num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

void
vm_view(json_t *rec, bool admin)
{
    static const char *const internal[] = {"_storageGB", "_holdsCompute", "_holdsStorage",
                                           "_counted", NULL};
    bool compute = json_is_true(json_object_get(rec, "_holdsCompute")),
         storage = json_is_true(json_object_get(rec, "_holdsStorage"));
    size_t i;

    if (admin) {
        /* What the VM holds on its host: the host's allocated is the sum of these. */
        json_object_set_new(rec, "allocated",
                            json_pack("{s:I, s:I, s:I}", "cores",
                                      (json_int_t) (compute ? num(rec, "cores") : 0), "memoryMB",
                                      (json_int_t) (compute ? num(rec, "memoryMB") : 0),
                                      "storageGB",
                                      (json_int_t) (storage ? num(rec, "_storageGB") : 0)));
    } else {
        json_object_del(rec, "hostId");
        json_object_del(rec, "hypervisorId");
    }
    for (i = 0; internal[i]; i++)
        json_object_del(rec, internal[i]);
    if (json_is_object(json_object_get(rec, "checkpoint"))) {
        json_object_del(json_object_get(rec, "checkpoint"), "_hostId");
        json_object_del(json_object_get(rec, "checkpoint"), "_powerState");
    }
}

int
vm_subscription_writable(const json_t *sub, err_t *err)
{
    const char *state = str(sub, "state");

    if (state && strcmp(state, "suspended") == 0)
        return err_set(err, ERR_SUBSCRIPTION_SUSPENDED, NULL,
                       "The subscription is suspended; it takes no changes.");
    if (state && strcmp(state, "deleting") == 0)
        return err_set(err, ERR_CONFLICT, NULL, "The subscription is being deleted.");
    return 0;
}

/* The subscription, checked writable. */
static json_t *
writable_sub(store_t *st, const char *sid, err_t *err)
{
    json_t *sub = store_rec_get(st, &store_kind_subscription, sid, NULL, err);

    if (sub != NULL && vm_subscription_writable(sub, err)) {
        json_decref(sub);
        return NULL;
    }
    return sub;
}

static json_t *
load_vm(store_t *st, const char *sid, const char *id, int64_t *rev, err_t *err)
{
    return store_rec_get_where(st, &store_kind_vm, id, "subscriptionId", sid, rev, err);
}

json_t *
vm_get(store_t *st, const char *sid, const char *id, bool admin, int64_t *rev, err_t *err)
{
    json_t *vm = load_vm(st, sid, id, rev, err);

    if (vm)
        vm_view(vm, admin);
    return vm;
}

static bool
differs(const json_t *a, const json_t *b, const char *k)
{
    const char *x = str(a, k), *y = str(b, k);

    return x && y && strcmp(x, y) != 0;
}

/* The events a save raises, from the record as it was to the record as it is now. */
static int
emit_changes(store_t *st, const json_t *was, const json_t *vm, err_t *err)
{
    const char *sid = str(vm, "subscriptionId"), *id = str(vm, "id");

    if (strcmp(str(was, "provisioningState"), "succeeded") != 0 &&
        strcmp(str(vm, "provisioningState"), "succeeded") == 0 &&
        events_emit(st, "vm.created", sid, id,
                    json_pack("{s:s, s:s, s:s?, s:s?}", "name", str(vm, "name"), "size",
                              str(vm, "size"), "vmRoleId", str(vm, "vmRoleId"), "hostId",
                              str(vm, "hostId")),
                    err))
        return -1;
    if (differs(was, vm, "powerState") &&
        events_emit(st, "vm.powerStateChanged", sid, id,
                    json_pack("{s:s, s:s}", "from", str(was, "powerState"), "to",
                              str(vm, "powerState")),
                    err))
        return -1;
    if (differs(was, vm, "size") &&
        events_emit(st, "vm.resized", sid, id,
                    json_pack("{s:s, s:s, s:I, s:I}", "from", str(was, "size"), "to",
                              str(vm, "size"), "cores", (json_int_t) num(vm, "cores"), "memoryMB",
                              (json_int_t) num(vm, "memoryMB")),
                    err))
        return -1;
    return 0;
}

/* Every save records the VM's metered state on its timeline, and the events the change raises, in the
 * same transaction. */
static int
save_vm(store_t *st, json_t *vm, err_t *err)
{
    json_t *was = store_rec_get(st, &store_kind_vm, str(vm, "id"), NULL, err);
    int rc = -1;

    if (was == NULL)
        return -1;
    catalog_record_touch(vm);
    if (store_rec_update(st, &store_kind_vm, str(vm, "id"), vm, 0, err) == 0 &&
        store_timeline_append(st, vm, "changed", err) == 0)
        rc = emit_changes(st, was, vm, err);
    json_decref(was);
    return rc;
}

/* Starts a job of kind on the VM (one at a time: 409 OperationInProgress) and saves the VM, which the caller
 * has already put in its transitional state, in the caller's transaction. params is borrowed. Returns the
 * job, or NULL with err set. */
static json_t *
submit_job(store_t *st, json_t *vm, const char *kind, const json_t *params, err_t *err)
{
    json_t *j = job_submit(st, kind, str(vm, "id"), str(vm, "subscriptionId"), str(vm, "id"), params,
                           err);

    if (j != NULL && save_vm(st, vm, err) != 0) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Releases the VM's host holdings (compute, storage, or both) and clears the flags. */
static int
release_host(store_t *st, json_t *vm, bool compute, bool storage, err_t *err)
{
    int64_t c = 0, m = 0, s = 0;

    if (compute && json_is_true(json_object_get(vm, "_holdsCompute"))) {
        c = num(vm, "cores");
        m = num(vm, "memoryMB");
        json_object_set_new(vm, "_holdsCompute", json_false());
    }
    if (storage && json_is_true(json_object_get(vm, "_holdsStorage"))) {
        s = num(vm, "_storageGB");
        json_object_set_new(vm, "_holdsStorage", json_false());
    }
    if ((c || m || s) && str(vm, "hostId"))
        return placement_hold(st, str(vm, "hostId"), -c, -m, -s, "The VM's host was not found.",
                              err);
    return 0;
}

/* Releases the VM's quota usage (once). */
static int
release_quota(store_t *st, json_t *vm, err_t *err)
{
    int64_t d[STORE_QUOTAS] = {0};

    if (!json_is_true(json_object_get(vm, "_counted")))
        return 0;
    d[QUOTA_VMS] = -1;
    d[QUOTA_CORES] = -num(vm, "cores");
    d[QUOTA_MEMORY] = -num(vm, "memoryMB");
    d[QUOTA_STORAGE] = -num(vm, "_storageGB");
    json_object_set_new(vm, "_counted", json_false());
    return quota_apply(st, str(vm, "subscriptionId"), d, err);
}

/* ---- agent helpers ---- */

static job_step_result_t
agent_result(const agent_err_t *aerr, err_t *err)
{
    switch (aerr->status) {
    case AGENT_OK:
        return JOB_STEP_DONE;
    case AGENT_ERR_TRANSIENT:
    case AGENT_ERR_TIMEOUT:
        err_set(err, ERR_UNAVAILABLE, NULL, "The host did not complete the operation: %s",
                aerr->message);
        return JOB_STEP_RETRY;
    default:
        err_set(err, ERR_HOST_FAILED, NULL, "The host refused the operation: %s", aerr->message);
        return JOB_STEP_FAILED;
    }
}

static agent_call_t
step_call(job_ctx_t *ctx)
{
    agent_call_t c = {job_ctx_op_id(ctx), VM_AGENT_TIMEOUT_MS};

    return c;
}

/* The VM of the job and its host's agent; a missing VM fails the step. */
static job_step_result_t
step_vm(job_ctx_t *ctx, json_t **vm, agent_t **agent, err_t *err)
{
    *vm = load_vm(job_ctx_store(ctx), NULL, job_ctx_resource(ctx), NULL, err);
    if (*vm == NULL)
        return err->code == ERR_NOT_FOUND ? JOB_STEP_FAILED : JOB_STEP_RETRY;
    if (agent == NULL)
        return JOB_STEP_DONE;
    *agent = str(*vm, "hostId") ? hostreg_agent(job_ctx_store(ctx), str(*vm, "hostId"), err) : NULL;
    if (*agent == NULL) {
        json_decref(*vm);
        *vm = NULL;
        if (err->code == ERR_NONE)
            err_set(err, ERR_HOST_FAILED, NULL, "The VM has no host.");
        return err->code == ERR_UNAVAILABLE ? JOB_STEP_RETRY : JOB_STEP_FAILED;
    }
    return JOB_STEP_DONE;
}

/* What the host says about the VM: its inventory entry (new reference), or NULL when the host has no such
 * VM or cannot be asked (*asked false then). */
static json_t *
host_view(job_ctx_t *ctx, const json_t *vm, bool *asked)
{
    agent_call_t c = {"inventory", VM_AGENT_TIMEOUT_MS};
    agent_err_t aerr;
    err_t err = {0};
    agent_t *a;
    json_t *list = NULL, *e, *found = NULL;
    size_t i;

    int attempt;

    *asked = false;
    if (str(vm, "hostId") == NULL)
        return NULL;
    a = hostreg_agent(job_ctx_store(ctx), str(vm, "hostId"), &err);
    if (a == NULL)
        return NULL;
    /* A read may be asked again at will: a few tries before the answer is "unknown". */
    for (attempt = 0; attempt < 3; attempt++)
        if (agent_inventory(a, &c, &list, &aerr) == 0)
            break;
    if (attempt == 3)
        return NULL;
    *asked = true;
    json_array_foreach(list, i, e)
        if (str(vm, "hypervisorId") && str(e, "hypervisorId") &&
            strcmp(str(e, "hypervisorId"), str(vm, "hypervisorId")) == 0)
            found = json_incref(e);
    json_decref(list);
    return found;
}

/* cleanup of power, resize, disk and delete jobs: record what the host says is true. */
static void
cleanup_ask_host(job_ctx_t *ctx)
{
    json_t *vm = load_vm(job_ctx_store(ctx), NULL, job_ctx_resource(ctx), NULL, NULL), *hv;
    json_t *data = job_ctx_data(ctx);
    bool asked;

    if (vm == NULL)
        return;
    hv = host_view(ctx, vm, &asked);
    json_object_set_new(data, "hostAsked", json_boolean(asked));
    json_object_set_new(data, "hostHasVm", json_boolean(hv != NULL));
    if (hv)
        json_object_set(data, "hostVm", hv);
    json_decref(hv);
    json_decref(vm);
}

/* Sets the VM's power state to what the host said (unknown when it could not be asked or has no such VM),
 * and its compute holding to match. */
static int
apply_true_power(store_t *st, job_ctx_t *ctx, json_t *vm, err_t *err)
{
    const json_t *data = job_ctx_data(ctx);
    const char *ps = NULL;

    if (json_is_true(json_object_get(data, "hostHasVm")))
        ps = str(json_object_get(data, "hostVm"), "powerState");
    if (ps == NULL) {
        json_object_set_new(vm, "powerState", json_string("unknown"));
        return 0;
    }
    json_object_set_new(vm, "powerState", json_string(ps));
    if (strcmp(ps, "deallocated") == 0)
        return release_host(st, vm, true, false, err);
    return 0;
}

/* ---- create ---- */

static int
lun_free(const json_t *disks, int64_t lun)
{
    const json_t *d;
    size_t i;

    json_array_foreach(disks, i, d)
        if (json_is_integer(json_object_get(d, "lun")) && num(d, "lun") == lun)
            return 0;
    return 1;
}

/* IPv4 CIDR: writes the first and last usable host addresses (the first four and the last are reserved,
 * as in Azure). */
static int
parse_prefix(const char *prefix, int64_t *first, int64_t *last, err_t *err)
{
    char addr[32];
    const char *slash = strchr(prefix, '/');
    struct in_addr in;
    int64_t bits, base, size;
    uint32_t host;

    if (slash == NULL || slash - prefix >= (long) sizeof(addr) ||
        util_parse_int64(slash + 1, false, &bits) || bits < 8 || bits > 29)
        return err_set(err, ERR_INVALID_REQUEST, "addressPrefix",
                       "addressPrefix must be an IPv4 prefix from /8 to /29, e.g. 10.0.0.0/24.");
    snprintf(addr, sizeof(addr), "%.*s", (int) (slash - prefix), prefix);
    if (inet_pton(AF_INET, addr, &in) != 1)
        return err_set(err, ERR_INVALID_REQUEST, "addressPrefix",
                       "addressPrefix must be an IPv4 prefix from /8 to /29, e.g. 10.0.0.0/24.");
    host = ntohl(in.s_addr);
    size = (int64_t) 1 << (32 - bits);
    if (host & (uint32_t) (size - 1))
        return err_set(err, ERR_INVALID_REQUEST, "addressPrefix",
                       "addressPrefix has host bits set; use the network address.");
    base = host;
    *first = base + 4;
    *last = base + size - 2;
    return 0;
}

static void
ip_text(int64_t ip, char out[INET_ADDRSTRLEN])
{
    struct in_addr in;

    in.s_addr = htonl((uint32_t) ip);
    inet_ntop(AF_INET, &in, out, INET_ADDRSTRLEN);
}

/* Takes an address of the subscription's network for the VM: {networkId, ipAddress}. */
static json_t *
make_nic(store_t *st, const char *sid, const char *network_id, const char *vm_id, err_t *err)
{
    err_t local = {0};
    json_t *net = store_rec_get_where(st, &store_kind_network, network_id, "subscriptionId", sid, NULL,
                                      &local);
    int64_t first, last, ip;
    char text[INET_ADDRSTRLEN];
    int rc = 0;

    if (net == NULL) {
        if (local.code == ERR_NOT_FOUND)
            err_set(err, ERR_INVALID_REQUEST, "networkId",
                    "networkId names no network of this subscription.");
        else
            err_set(err, local.code, NULL, "%s", local.message);
        return NULL;
    }
    if (parse_prefix(str(net, "addressPrefix"), &first, &last, err) ||
        (rc = store_ip_take(st, network_id, vm_id, first, last, &ip, err)) != 0) {
        json_decref(net);
        if (rc == 1)
            err_set(err, ERR_CONFLICT, "networkId", "The network has no free address left.");
        return NULL;
    }
    json_decref(net);
    ip_text(ip, text);
    return json_pack("{s:s, s:s}", "networkId", network_id, "ipAddress", text);
}

json_t *
vm__reserve_new(store_t *st, const char *sid, const json_t *body, const char *role_id, err_t *err)
{
    json_t *sub = NULL, *plan = NULL, *image = NULL, *size = NULL, *vm = NULL, *disks, *nics, *nic,
           *d;
    const char *size_name = str(body, "size"), *image_id = str(body, "imageId");
    char id[UTIL_UUID_LEN + 1], host[UTIL_UUID_LEN + 1], target[64];
    int64_t storage, delta[STORE_QUOTAS] = {0};
    err_t local = {0};
    size_t i;

    if (store_tx_begin(st, err))
        return NULL;
    sub = store_rec_get(st, &store_kind_subscription, sid, NULL, err);
    if (sub == NULL)
        goto fail;
    plan = store_rec_get(st, &store_kind_plan, str(sub, "planId"), NULL, err);
    if (plan == NULL)
        goto fail;
    image = store_rec_get(st, &store_kind_image, image_id, NULL, &local);
    if (image == NULL || !catalog_plan_allows(plan, "imageIds", image_id)) {
        err_set(err, ERR_INVALID_REQUEST, "imageId", "The plan offers no image with this id.");
        goto fail;
    }
    err_clear(&local);
    size = store_rec_find(st, &store_kind_size, "name", size_name, &local);
    if (size == NULL || !catalog_plan_allows(plan, "sizeNames", size_name)) {
        err_set(err, ERR_INVALID_REQUEST, "size", "The plan offers no size named '%s'.",
                size_name);
        goto fail;
    }
    disks = json_array();
    json_array_append_new(disks, json_pack("{s:n, s:s, s:I, s:s}", "lun", "kind", "os", "sizeGB",
                                           (json_int_t) num(image, "osDiskGB"), "caching",
                                           "ReadWrite"));
    storage = num(image, "osDiskGB");
    json_array_foreach(json_object_get(body, "dataDisks"), i, d) {
        json_t *lun = json_object_get(d, "lun");
        int64_t l = json_is_integer(lun) ? json_integer_value(lun) : (int64_t) i;
        if (!lun_free(disks, l)) {
            snprintf(target, sizeof(target), "dataDisks[%zu].lun", i);
            json_decref(disks);
            err_set(err, ERR_INVALID_REQUEST, target, "Lun %lld is given twice.", (long long) l);
            goto fail;
        }
        json_array_append_new(disks, json_pack("{s:I, s:s, s:O, s:s}", "lun", (json_int_t) l,
                                               "kind", "data", "sizeGB",
                                               json_object_get(d, "sizeGB"), "caching",
                                               str(d, "caching") ? str(d, "caching") : "None"));
        storage += num(d, "sizeGB");
    }
    util_uuid(id);
    vm = json_object();
    util_time_format(util_now_ms(), target);
    json_object_set_new(vm, "createdAt", json_string(target));
    json_object_set_new(vm, "updatedAt", json_string(target));
    json_object_set_new(vm, "id", json_string(id));
    json_object_set(vm, "name", json_object_get(body, "name"));
    json_object_set_new(vm, "subscriptionId", json_string(sid));
    json_object_set_new(vm, "size", json_string(size_name));
    json_object_set(vm, "cores", json_object_get(size, "cores"));
    json_object_set(vm, "memoryMB", json_object_get(size, "memoryMB"));
    json_object_set_new(vm, "imageId", json_string(image_id));
    json_object_set(vm, "generation", json_object_get(image, "generation"));
    json_object_set(vm, "osType", json_object_get(image, "osType"));
    json_object_set_new(vm, "vmRoleId", role_id ? json_string(role_id) : json_null());
    json_object_set_new(vm, "provisioningState", json_string("creating"));
    json_object_set_new(vm, "powerState", json_string("starting"));
    json_object_set_new(vm, "disks", disks);
    json_object_set_new(vm, "checkpoint", json_null());
    json_object_set_new(vm, "_storageGB", json_integer(storage));
    json_object_set_new(vm, "_counted", json_true());
    /* Quota first (409 QuotaExceeded), then room on a host (409 NoCapacity): both at once. */
    delta[QUOTA_VMS] = 1;
    delta[QUOTA_CORES] = num(size, "cores");
    delta[QUOTA_MEMORY] = num(size, "memoryMB");
    delta[QUOTA_STORAGE] = storage;
    if (quota_adjust(st, sid, delta, err))
        goto fail;
    if (placement_place(st, str(plan, "cloudId"), num(size, "cores"), num(size, "memoryMB"),
                        storage, host, err))
        goto fail;
    json_object_set_new(vm, "hostId", json_string(host));
    json_object_set_new(vm, "hypervisorId", json_null());
    json_object_set_new(vm, "_holdsCompute", json_true());
    json_object_set_new(vm, "_holdsStorage", json_true());
    nics = json_array();
    json_object_set_new(vm, "nics", nics);
    if (store_rec_insert(st, &store_kind_vm, vm, err) ||
        store_timeline_append(st, vm, "created", err))
        goto fail;
    if (json_is_string(json_object_get(body, "networkId"))) {
        nic = make_nic(st, sid, str(body, "networkId"), id, err);
        if (nic == NULL)
            goto fail;
        json_array_append_new(nics, nic);
        if (store_rec_update(st, &store_kind_vm, id, vm, 0, err))
            goto fail;
    }
    if (store_tx_commit(st, err))
        goto fail;
    json_decref(sub);
    json_decref(plan);
    json_decref(image);
    json_decref(size);
    return vm;
fail:
    store_tx_rollback(st);
    json_decref(sub);
    json_decref(plan);
    json_decref(image);
    json_decref(size);
    json_decref(vm);
    return NULL;
}

json_t *
vm_create(store_t *st, const char *sid, const json_t *body, json_t **job, err_t *err)
{
    json_t *sub = NULL, *vm = NULL, *j = NULL;

    if (store_tx_begin(st, err))
        return NULL;
    if ((sub = writable_sub(st, sid, err)) == NULL)
        goto fail;
    vm = vm__reserve_new(st, sid, body, NULL, err);
    if (vm == NULL)
        goto fail;
    j = job_submit(st, "vm.create", str(vm, "id"), sid, str(vm, "id"), NULL, err);
    if (j == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(sub);
    vm_view(vm, false);
    *job = j;
    return vm;
fail:
    store_tx_rollback(st);
    json_decref(sub);
    json_decref(vm);
    json_decref(j);
    return NULL;
}

/* The agent's description of a VM record: its size and disks. The data disks array (a new reference in
 * *data_disks) must outlive the spec. */
static void
fill_spec(const json_t *vm, agent_vm_spec_t *spec, json_t **data_disks)
{
    const json_t *d;
    size_t i;

    *data_disks = json_array();
    json_array_foreach(json_object_get(vm, "disks"), i, d)
        if (json_is_integer(json_object_get(d, "lun")))
            json_array_append(*data_disks, (json_t *) d);
    memset(spec, 0, sizeof(*spec));
    spec->name = str(vm, "name");
    spec->cores = (int) num(vm, "cores");
    spec->memory_mb = (int) num(vm, "memoryMB");
    spec->os_disk_gb = (int) num(json_array_get(json_object_get(vm, "disks"), 0), "sizeGB");
    spec->data_disks = *data_disks;
}

void
vm__fill_spec(const json_t *vm, agent_vm_spec_t *spec, json_t **data_disks)
{
    fill_spec(vm, spec, data_disks);
}

static job_step_result_t
step_create_on_host(job_ctx_t *ctx, err_t *err)
{
    agent_vm_spec_t spec;
    agent_call_t c = step_call(ctx);
    agent_err_t aerr = {0};
    char hyp[AGENT_ID_MAX];
    json_t *vm, *data_disks;
    job_step_result_t r;
    agent_t *a;

    if ((r = step_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    if (str(vm, "hypervisorId")) {
        json_decref(vm);
        return JOB_STEP_DONE;
    }
    fill_spec(vm, &spec, &data_disks);
    agent_vm_create(a, &c, &spec, hyp, &aerr);
    json_decref(data_disks);
    r = agent_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        json_object_set_new(job_ctx_data(ctx), "hypervisorId", json_string(hyp));
        json_object_set_new(vm, "hypervisorId", json_string(hyp));
        if (job_ctx_begin(ctx, err) || save_vm(job_ctx_store(ctx), vm, err))
            r = JOB_STEP_RETRY;
    }
    json_decref(vm);
    return r;
}

static job_step_result_t
step_start_new(job_ctx_t *ctx, err_t *err)
{
    agent_call_t c = step_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r;
    json_t *vm;
    agent_t *a;

    if ((r = step_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    agent_vm_power(a, &c, str(vm, "hypervisorId"), AGENT_POWER_START, &aerr);
    r = agent_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        json_object_set_new(vm, "powerState", json_string("running"));
        json_object_set_new(vm, "provisioningState", json_string("succeeded"));
        if (job_ctx_begin(ctx, err) || save_vm(job_ctx_store(ctx), vm, err))
            r = JOB_STEP_RETRY;
    }
    json_decref(vm);
    return r;
}

/* A failed create removes what reached the host, best effort; the record stays, failed, holding nothing. */
static void
cleanup_create(job_ctx_t *ctx)
{
    json_t *vm = load_vm(job_ctx_store(ctx), NULL, job_ctx_resource(ctx), NULL, NULL);
    const char *hyp = vm ? str(vm, "hypervisorId") : NULL;
    char op[128];
    agent_call_t c = {op, VM_AGENT_TIMEOUT_MS};
    agent_err_t aerr;
    err_t err = {0};
    agent_t *a;

    if (hyp && str(vm, "hostId")) {
        snprintf(op, sizeof(op), "%s:cleanup", job_ctx_op_id(ctx));
        a = hostreg_agent(job_ctx_store(ctx), str(vm, "hostId"), &err);
        if (a && (agent_vm_delete(a, &c, hyp, &aerr) == 0 || aerr.status == AGENT_ERR_NOT_FOUND))
            json_object_set_new(job_ctx_data(ctx), "removedFromHost", json_true());
    }
    json_decref(vm);
}

static int
failed_create(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *vm = load_vm(st, NULL, job_ctx_resource(ctx), NULL, err);
    int rc = -1;

    if (vm == NULL)
        return err->code == ERR_NOT_FOUND ? 0 : -1;
    if (release_host(st, vm, true, true, err) || release_quota(st, vm, err) ||
        store_ip_release_vm(st, str(vm, "id"), err))
        goto out;
    if (strcmp(job_ctx_status(ctx), "canceled") == 0) {
        /* A canceled create leaves nothing behind. */
        rc = store_rec_delete(st, &store_kind_vm, str(vm, "id"), 0, err);
        goto out;
    }
    if (json_is_true(json_object_get(job_ctx_data(ctx), "removedFromHost")))
        json_object_set_new(vm, "hypervisorId", json_null());
    json_object_set_new(vm, "nics", json_array());
    json_object_set_new(vm, "provisioningState", json_string("failed"));
    json_object_set_new(vm, "powerState", json_string("deallocated"));
    rc = save_vm(st, vm, err);
    /* A VM whose creation failed holds nothing and is never billed. */
    if (rc == 0)
        rc = store_timeline_forget(st, str(vm, "id"), err);
out:
    json_decref(vm);
    return rc;
}

/* ---- power actions ---- */

typedef struct {
    const char *action, *transitional, *final;
    agent_power_op_t op; /* for deallocate: release instead */
} action_def_t;

static const action_def_t actions[] = {
    {"start", "starting", "running", AGENT_POWER_START},
    {"stop", "stopping", "stopped", AGENT_POWER_STOP},
    {"shutdown", "stopping", "stopped", AGENT_POWER_SHUTDOWN},
    {"restart", "starting", "running", AGENT_POWER_RESTART},
    {"deallocate", "deallocating", "deallocated", AGENT_POWER_STOP},
    {NULL, NULL, NULL, AGENT_POWER_START},
};

static const action_def_t *
find_action(const char *name)
{
    int i;

    for (i = 0; name && actions[i].action; i++)
        if (strcmp(actions[i].action, name) == 0)
            return &actions[i];
    return NULL;
}

static int
action_allowed(const char *action, const char *power)
{
    if (strcmp(action, "start") == 0)
        return strcmp(power, "stopped") == 0 || strcmp(power, "deallocated") == 0;
    if (strcmp(action, "deallocate") == 0)
        return strcmp(power, "running") == 0 || strcmp(power, "stopped") == 0;
    return strcmp(power, "running") == 0; /* stop, shutdown, restart */
}

/* The VM takes a new job: not while another runs, and only once it exists. */
static int
vm_ready_for_job(const json_t *vm, err_t *err)
{
    const char *ps = str(vm, "provisioningState");

    if (strcmp(ps, "creating") == 0 || strcmp(ps, "updating") == 0 || strcmp(ps, "deleting") == 0)
        return err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                       "Another operation on this VM is still in progress.");
    if (strcmp(ps, "failed") == 0)
        return err_set(err, ERR_CONFLICT, NULL,
                       "The VM's last operation failed; delete it or restart the failed job.");
    return 0;
}

/* Starts the power job for a loaded VM (request side); the caller has checked the subscription. */
static json_t *
submit_action(store_t *st, json_t *vm, const action_def_t *a, err_t *err)
{
    const char *ps = str(vm, "powerState");
    char kind[32], move_to[UTIL_UUID_LEN + 1];
    json_t *params, *j;

    if (vm_ready_for_job(vm, err))
        return NULL;
    if (strcmp(ps, "starting") == 0 || strcmp(ps, "stopping") == 0 ||
        strcmp(ps, "deallocating") == 0) {
        err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                "Another operation on this VM is still in progress.");
        return NULL;
    }
    if (!action_allowed(a->action, ps)) {
        err_set(err, ERR_INVALID_POWER_STATE, NULL, "A VM that is %s cannot %s.", ps, a->action);
        return NULL;
    }
    /* Starting a deallocated VM takes host capacity back first: on its own host when it has room, else
     * on another host of the cloud, where the job moves it. No room anywhere is 409 NoCapacity now. */
    move_to[0] = '\0';
    if (strcmp(a->action, "start") == 0 && !json_is_true(json_object_get(vm, "_holdsCompute"))) {
        int held = store_host_allocate(st, str(vm, "hostId"), num(vm, "cores"), num(vm, "memoryMB"),
                                       0, err);
        if (held == 0) {
            json_object_set_new(vm, "_holdsCompute", json_true());
        } else if (held < 0) {
            return NULL;
        } else {
            json_t *host = store_rec_get(st, &store_kind_host, str(vm, "hostId"), NULL, err);
            int rc = host ? placement_place(st, str(host, "cloudId"), num(vm, "cores"),
                                            num(vm, "memoryMB"), num(vm, "_storageGB"), move_to,
                                            err)
                          : -1;
            json_decref(host);
            if (rc)
                return NULL;
        }
    }
    params = json_pack("{s:s, s:s, s:s?}", "action", a->action, "from", ps, "moveTo",
                       move_to[0] ? move_to : NULL);
    snprintf(kind, sizeof(kind), "vm.%s", a->action);
    json_object_set_new(vm, "powerState", json_string(a->transitional));
    j = submit_job(st, vm, kind, params, err);
    json_decref(params);
    return j;
}

json_t *
vm_action(store_t *st, const char *sid, const char *id, const char *action, err_t *err)
{
    const action_def_t *a = find_action(action);
    json_t *sub = NULL, *vm = NULL, *j = NULL;

    if (store_tx_begin(st, err))
        return NULL;
    vm = load_vm(st, sid, id, NULL, err);
    if (vm == NULL)
        goto fail;
    if (a == NULL) {
        err_set(err, ERR_NOT_FOUND, NULL, "No action '%s' exists.", action);
        goto fail;
    }
    if ((sub = writable_sub(st, sid, err)) == NULL)
        goto fail;
    j = submit_action(st, vm, a, err);
    if (j == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(sub);
    json_decref(vm);
    return j;
fail:
    store_tx_rollback(st);
    json_decref(sub);
    json_decref(vm);
    json_decref(j);
    return NULL;
}

static job_step_result_t
step_power(job_ctx_t *ctx, err_t *err)
{
    const action_def_t *a = find_action(str(job_ctx_params(ctx), "action"));
    agent_call_t c = step_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r;
    json_t *vm;
    agent_t *ag;

    if (a == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Unknown action."), JOB_STEP_FAILED;
    if ((r = step_vm(ctx, &vm, &ag, err)) != JOB_STEP_DONE)
        return r;
    if (strcmp(a->action, "deallocate") == 0)
        agent_vm_release(ag, &c, str(vm, "hypervisorId"), &aerr);
    else
        agent_vm_power(ag, &c, str(vm, "hypervisorId"), a->op, &aerr);
    r = agent_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        /* The checkpoint's differencing disk grew while the VM ran: record its size now. */
        int64_t cp_size = vm__checkpoint_size_on_host(ctx, vm);
        json_object_set_new(vm, "powerState", json_string(a->final));
        if (job_ctx_begin(ctx, err) ||
            vm__set_checkpoint_size(job_ctx_store(ctx), vm, cp_size, err) ||
            (strcmp(a->action, "deallocate") == 0 &&
             release_host(job_ctx_store(ctx), vm, true, false, err)) ||
            save_vm(job_ctx_store(ctx), vm, err))
            r = JOB_STEP_RETRY;
    }
    json_decref(vm);
    return r;
}

/* vm.start, step 1: a deallocated VM whose host had no room moves to the host reserved for it: created
 * there from its record, its storage released on the old host (nothing to do for other starts). */
static job_step_result_t
step_move_to_host(job_ctx_t *ctx, err_t *err)
{
    const char *to = str(job_ctx_params(ctx), "moveTo");
    agent_call_t c = step_call(ctx);
    agent_err_t aerr = {0};
    agent_vm_spec_t spec;
    char hyp[AGENT_ID_MAX];
    json_t *vm, *data_disks;
    job_step_result_t r;
    agent_t *a;

    if (to == NULL)
        return JOB_STEP_DONE;
    if ((r = step_vm(ctx, &vm, NULL, err)) != JOB_STEP_DONE)
        return r;
    if (strcmp(str(vm, "hostId"), to) == 0) {
        json_decref(vm);
        return JOB_STEP_DONE; /* moved before a crash */
    }
    a = hostreg_agent(job_ctx_store(ctx), to, err);
    if (a == NULL) {
        json_decref(vm);
        return err->code == ERR_UNAVAILABLE ? JOB_STEP_RETRY : JOB_STEP_FAILED;
    }
    fill_spec(vm, &spec, &data_disks);
    agent_vm_create(a, &c, &spec, hyp, &aerr);
    json_decref(data_disks);
    r = agent_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        json_t *data = job_ctx_data(ctx);
        json_object_set(data, "oldHostId", json_object_get(vm, "hostId"));
        json_object_set(data, "oldHypervisorId", json_object_get(vm, "hypervisorId"));
        if (job_ctx_begin(ctx, err) || release_host(job_ctx_store(ctx), vm, false, true, err)) {
            json_decref(vm);
            return JOB_STEP_RETRY;
        }
        /* The new host's cores, memory and storage were reserved by the request. */
        json_object_set_new(vm, "hostId", json_string(to));
        json_object_set_new(vm, "hypervisorId", json_string(hyp));
        json_object_set_new(vm, "_holdsCompute", json_true());
        json_object_set_new(vm, "_holdsStorage", json_true());
        if (save_vm(job_ctx_store(ctx), vm, err))
            r = JOB_STEP_RETRY;
    }
    json_decref(vm);
    return r;
}

/* Deletes a moved VM's old copy from its old host (already gone counts as done). */
static job_step_result_t
remove_old_copy(job_ctx_t *ctx, const char *op, err_t *err)
{
    const json_t *data = job_ctx_data(ctx);
    const char *host = str(data, "oldHostId"), *hyp = str(data, "oldHypervisorId");
    agent_call_t c = {op, VM_AGENT_TIMEOUT_MS};
    agent_err_t aerr = {0};
    agent_t *a;

    if (host == NULL || hyp == NULL)
        return JOB_STEP_DONE;
    a = hostreg_agent(job_ctx_store(ctx), host, err);
    if (a == NULL)
        return err->code == ERR_NOT_FOUND ? JOB_STEP_DONE : JOB_STEP_RETRY;
    if (agent_vm_delete(a, &c, hyp, &aerr) != 0 && aerr.status == AGENT_ERR_NOT_FOUND)
        aerr.status = AGENT_OK;
    return agent_result(&aerr, err);
}

/* vm.start, step 3. */
static job_step_result_t
step_remove_from_old_host(job_ctx_t *ctx, err_t *err)
{
    return remove_old_copy(ctx, job_ctx_op_id(ctx), err);
}

static void
cleanup_start(job_ctx_t *ctx)
{
    char op[128];
    err_t err = {0};

    cleanup_ask_host(ctx);
    snprintf(op, sizeof(op), "%s:cleanup", job_ctx_op_id(ctx));
    remove_old_copy(ctx, op, &err);
}

static int
failed_power(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *vm = load_vm(st, NULL, job_ctx_resource(ctx), NULL, err);
    const char *from = str(job_ctx_params(ctx), "from"), *move_to = str(job_ctx_params(ctx), "moveTo");
    int rc;

    if (vm == NULL)
        return err->code == ERR_NOT_FOUND ? 0 : -1;
    if (move_to && strcmp(str(vm, "hostId"), move_to) != 0) {
        /* The move did not happen: the reservation on the other host goes, the VM stays deallocated
         * where it was. */
        rc = placement_hold(st, move_to, -num(vm, "cores"), -num(vm, "memoryMB"),
                            -num(vm, "_storageGB"), "The VM's host was not found.", err);
        json_object_set_new(vm, "powerState", json_string("deallocated"));
        if (rc == 0)
            rc = save_vm(st, vm, err);
        json_decref(vm);
        return rc;
    }
    if (strcmp(job_ctx_status(ctx), "canceled") == 0) {
        /* Nothing reached the host: back to where it was, holdings included. */
        json_object_set_new(vm, "powerState", json_string(from ? from : "unknown"));
        rc = (from && strcmp(from, "deallocated") == 0) ? release_host(st, vm, true, false, err) : 0;
    } else {
        rc = apply_true_power(st, ctx, vm, err);
    }
    if (rc == 0)
        rc = save_vm(st, vm, err);
    json_decref(vm);
    return rc;
}

/* ---- resize ---- */

json_t *
vm_resize(store_t *st, const char *sid, const char *id, const char *size_name, int64_t expect_rev,
          err_t *err)
{
    json_t *sub = NULL, *plan = NULL, *size = NULL, *vm = NULL, *j = NULL, *params;
    int64_t rev = 0, dc, dm, delta[STORE_QUOTAS] = {0};
    const char *ps;
    err_t local = {0};

    if (store_tx_begin(st, err))
        return NULL;
    vm = load_vm(st, sid, id, &rev, err);
    if (vm == NULL)
        goto fail;
    if (expect_rev > 0 && rev != expect_rev) {
        err_set(err, ERR_PRECONDITION_FAILED, NULL, "The VM has changed since the ETag was read.");
        goto fail;
    }
    if ((sub = writable_sub(st, sid, err)) == NULL)
        goto fail;
    plan = store_rec_get(st, &store_kind_plan, str(sub, "planId"), NULL, err);
    if (plan == NULL)
        goto fail;
    size = store_rec_find(st, &store_kind_size, "name", size_name, &local);
    if (size == NULL || !catalog_plan_allows(plan, "sizeNames", size_name)) {
        err_set(err, ERR_INVALID_REQUEST, "size", "The plan offers no size named '%s'.",
                size_name);
        goto fail;
    }
    if (vm_ready_for_job(vm, err))
        goto fail;
    ps = str(vm, "powerState");
    if (strcmp(ps, "stopped") != 0 && strcmp(ps, "deallocated") != 0) {
        err_set(err, strcmp(ps, "running") == 0 || strcmp(ps, "unknown") == 0
                         ? ERR_INVALID_POWER_STATE
                         : ERR_OPERATION_IN_PROGRESS,
                NULL, "The size changes only while the VM is stopped or deallocated; it is %s.", ps);
        goto fail;
    }
    dc = num(size, "cores") - num(vm, "cores");
    dm = num(size, "memoryMB") - num(vm, "memoryMB");
    delta[QUOTA_CORES] = dc;
    delta[QUOTA_MEMORY] = dm;
    if (quota_adjust(st, sid, delta, err))
        goto fail;
    if (json_is_true(json_object_get(vm, "_holdsCompute")) &&
        placement_hold(st, str(vm, "hostId"), dc, dm, 0, "The VM's host has no room for that size.",
                       err))
        goto fail;
    params = json_pack("{s:s, s:O, s:O, s:I, s:I}", "size", size_name, "cores",
                       json_object_get(size, "cores"), "memoryMB",
                       json_object_get(size, "memoryMB"), "dCores", (json_int_t) dc, "dMemoryMB",
                       (json_int_t) dm);
    json_object_set_new(vm, "provisioningState", json_string("updating"));
    j = submit_job(st, vm, "vm.resize", params, err);
    json_decref(params);
    if (j == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(sub);
    json_decref(plan);
    json_decref(size);
    json_decref(vm);
    return j;
fail:
    store_tx_rollback(st);
    json_decref(sub);
    json_decref(plan);
    json_decref(size);
    json_decref(vm);
    json_decref(j);
    return NULL;
}

static void
apply_size(json_t *vm, const json_t *p)
{
    json_object_set(vm, "size", json_object_get(p, "size"));
    json_object_set(vm, "cores", json_object_get(p, "cores"));
    json_object_set(vm, "memoryMB", json_object_get(p, "memoryMB"));
    json_object_set_new(vm, "provisioningState", json_string("succeeded"));
}

static job_step_result_t
step_reconfigure(job_ctx_t *ctx, err_t *err)
{
    const json_t *p = job_ctx_params(ctx);
    agent_call_t c = step_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r;
    json_t *vm;
    agent_t *a;

    if ((r = step_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    agent_vm_reconfigure(a, &c, str(vm, "hypervisorId"), (int) num(p, "cores"),
                         (int) num(p, "memoryMB"), &aerr);
    r = agent_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        apply_size(vm, p);
        if (job_ctx_begin(ctx, err) || save_vm(job_ctx_store(ctx), vm, err))
            r = JOB_STEP_RETRY;
    }
    json_decref(vm);
    return r;
}

static int
failed_resize(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *p = job_ctx_params(ctx), *hv = json_object_get(job_ctx_data(ctx), "hostVm");
    json_t *vm = load_vm(st, NULL, job_ctx_resource(ctx), NULL, err);
    int64_t d[STORE_QUOTAS] = {0};
    int rc = 0;

    if (vm == NULL)
        return err->code == ERR_NOT_FOUND ? 0 : -1;
    if (hv && num(hv, "cores") == num(p, "cores") && num(hv, "memoryMB") == num(p, "memoryMB")) {
        apply_size(vm, p); /* the host did it; only the answer was lost */
    } else {
        d[QUOTA_CORES] = -num(p, "dCores");
        d[QUOTA_MEMORY] = -num(p, "dMemoryMB");
        rc = quota_apply(st, str(vm, "subscriptionId"), d, err);
        if (rc == 0 && json_is_true(json_object_get(vm, "_holdsCompute")))
            rc = placement_hold(st, str(vm, "hostId"), -num(p, "dCores"), -num(p, "dMemoryMB"), 0,
                                "The VM's host was not found.", err);
        json_object_set_new(vm, "provisioningState", json_string("succeeded"));
    }
    if (rc == 0)
        rc = save_vm(st, vm, err);
    json_decref(vm);
    return rc;
}

/* ---- delete ---- */

static json_t *
submit_delete(store_t *st, json_t *vm, err_t *err)
{
    const char *ps = str(vm, "provisioningState"), *pw = str(vm, "powerState");

    if (strcmp(ps, "creating") == 0 || strcmp(ps, "updating") == 0 || strcmp(ps, "deleting") == 0 ||
        strcmp(pw, "starting") == 0 || strcmp(pw, "stopping") == 0 ||
        strcmp(pw, "deallocating") == 0) {
        err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                "Another operation on this VM is still in progress.");
        return NULL;
    }
    json_object_set_new(vm, "provisioningState", json_string("deleting"));
    return submit_job(st, vm, "vm.delete", NULL, err);
}

json_t *
vm_delete(store_t *st, const char *sid, const char *id, int64_t expect_rev, err_t *err)
{
    json_t *sub = NULL, *vm = NULL, *j = NULL;
    int64_t rev = 0;

    if (store_tx_begin(st, err))
        return NULL;
    vm = load_vm(st, sid, id, &rev, err);
    if (vm == NULL)
        goto fail;
    if (expect_rev > 0 && rev != expect_rev) {
        err_set(err, ERR_PRECONDITION_FAILED, NULL, "The VM has changed since the ETag was read.");
        goto fail;
    }
    if ((sub = writable_sub(st, sid, err)) == NULL)
        goto fail;
    j = submit_delete(st, vm, err);
    if (j == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(sub);
    json_decref(vm);
    return j;
fail:
    store_tx_rollback(st);
    json_decref(sub);
    json_decref(vm);
    json_decref(j);
    return NULL;
}

static job_step_result_t
step_delete_from_host(job_ctx_t *ctx, err_t *err)
{
    agent_call_t c = step_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r;
    json_t *vm;
    agent_t *a;

    if ((r = step_vm(ctx, &vm, NULL, err)) != JOB_STEP_DONE)
        return r;
    if (str(vm, "hypervisorId") == NULL || str(vm, "hostId") == NULL) {
        json_decref(vm);
        return JOB_STEP_DONE;
    }
    json_decref(vm);
    if ((r = step_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    if (agent_vm_delete(a, &c, str(vm, "hypervisorId"), &aerr) != 0 &&
        aerr.status == AGENT_ERR_NOT_FOUND)
        aerr.status = AGENT_OK; /* already gone */
    json_decref(vm);
    return agent_result(&aerr, err);
}

/* Releases everything the VM holds and removes its record (in the caller's transaction). */
static int
remove_vm(store_t *st, json_t *vm, err_t *err)
{
    if (release_host(st, vm, true, true, err) || release_quota(st, vm, err) ||
        store_ip_release_vm(st, str(vm, "id"), err))
        return -1;
    /* A VM whose creation failed was never billed (nor announced); any other leaves its final row. */
    if (strcmp(str(vm, "provisioningState"), "failed") == 0 && str(vm, "hypervisorId") == NULL
            ? store_timeline_forget(st, str(vm, "id"), err)
            : (store_timeline_append(st, vm, "deleted", err) ||
               events_emit(st, "vm.deleted", str(vm, "subscriptionId"), str(vm, "id"),
                           json_pack("{s:s, s:s?}", "name", str(vm, "name"), "vmRoleId",
                                     str(vm, "vmRoleId")),
                           err)))
        return -1;
    return store_rec_delete(st, &store_kind_vm, str(vm, "id"), 0, err);
}

static job_step_result_t
step_release_and_remove(job_ctx_t *ctx, err_t *err)
{
    job_step_result_t r;
    json_t *vm;

    if ((r = step_vm(ctx, &vm, NULL, err)) != JOB_STEP_DONE)
        return r == JOB_STEP_FAILED && err->code == ERR_NOT_FOUND ? JOB_STEP_DONE : r;
    if (job_ctx_begin(ctx, err) || remove_vm(job_ctx_store(ctx), vm, err))
        r = JOB_STEP_RETRY;
    json_decref(vm);
    return r;
}

static int
failed_delete(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *data = job_ctx_data(ctx);
    json_t *vm = load_vm(st, NULL, job_ctx_resource(ctx), NULL, err);
    int rc;

    if (vm == NULL)
        return err->code == ERR_NOT_FOUND ? 0 : -1;
    if (json_is_true(json_object_get(data, "hostAsked")) &&
        !json_is_true(json_object_get(data, "hostHasVm"))) {
        rc = remove_vm(st, vm, err); /* the host no longer has it: the delete is done */
    } else {
        json_object_set_new(vm, "provisioningState", json_string("failed"));
        rc = apply_true_power(st, ctx, vm, err);
        if (rc == 0)
            rc = save_vm(st, vm, err);
    }
    json_decref(vm);
    return rc;
}

/* ---- data disks ---- */

json_t *
vm_disk_attach(store_t *st, const char *sid, const char *id, const json_t *body, err_t *err)
{
    json_t *sub = NULL, *vm = NULL, *j = NULL, *params;
    int64_t lun, size = num(body, "sizeGB"), delta[STORE_QUOTAS] = {0};

    if (store_tx_begin(st, err))
        return NULL;
    vm = load_vm(st, sid, id, NULL, err);
    if (vm == NULL)
        goto fail;
    if ((sub = writable_sub(st, sid, err)) == NULL || vm_ready_for_job(vm, err))
        goto fail;
    if (json_is_integer(json_object_get(body, "lun"))) {
        lun = num(body, "lun");
        if (!lun_free(json_object_get(vm, "disks"), lun)) {
            err_set(err, ERR_CONFLICT, "lun", "Lun %lld is taken.", (long long) lun);
            goto fail;
        }
    } else {
        for (lun = 0; lun <= MAX_LUN && !lun_free(json_object_get(vm, "disks"), lun); lun++)
            ;
        if (lun > MAX_LUN) {
            err_set(err, ERR_CONFLICT, "lun", "Every lun is taken.");
            goto fail;
        }
    }
    delta[QUOTA_STORAGE] = size;
    if (quota_adjust(st, sid, delta, err))
        goto fail;
    if (json_is_true(json_object_get(vm, "_holdsStorage")) &&
        placement_hold(st, str(vm, "hostId"), 0, 0, size, "The VM's host has no room for the disk.",
                       err))
        goto fail;
    params = json_pack("{s:I, s:I, s:s}", "lun", (json_int_t) lun, "sizeGB", (json_int_t) size,
                       "caching", str(body, "caching") ? str(body, "caching") : "None");
    json_object_set_new(vm, "provisioningState", json_string("updating"));
    j = submit_job(st, vm, "vm.disk.attach", params, err);
    json_decref(params);
    if (j == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(sub);
    json_decref(vm);
    return j;
fail:
    store_tx_rollback(st);
    json_decref(sub);
    json_decref(vm);
    json_decref(j);
    return NULL;
}

static void
add_disk(json_t *vm, const json_t *p)
{
    if (lun_free(json_object_get(vm, "disks"), num(p, "lun"))) {
        json_array_append_new(json_object_get(vm, "disks"),
                              json_pack("{s:O, s:s, s:O, s:O}", "lun", json_object_get(p, "lun"),
                                        "kind", "data", "sizeGB", json_object_get(p, "sizeGB"),
                                        "caching", json_object_get(p, "caching")));
        json_object_set_new(vm, "_storageGB", json_integer(num(vm, "_storageGB") + num(p, "sizeGB")));
    }
    json_object_set_new(vm, "provisioningState", json_string("succeeded"));
}

static job_step_result_t
step_attach(job_ctx_t *ctx, err_t *err)
{
    const json_t *p = job_ctx_params(ctx);
    agent_call_t c = step_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r;
    json_t *vm;
    agent_t *a;

    if ((r = step_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    agent_disk_attach(a, &c, str(vm, "hypervisorId"), (int) num(p, "lun"), (int) num(p, "sizeGB"),
                      &aerr);
    r = agent_result(&aerr, err);
    if (r == JOB_STEP_DONE) {
        add_disk(vm, p);
        if (job_ctx_begin(ctx, err) || save_vm(job_ctx_store(ctx), vm, err))
            r = JOB_STEP_RETRY;
    }
    json_decref(vm);
    return r;
}

static bool
host_has_lun(const json_t *data, int64_t lun)
{
    const json_t *hv = json_object_get(data, "hostVm");

    return hv && !lun_free(json_object_get(hv, "disks"), lun);
}

static int
failed_attach(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    const json_t *p = job_ctx_params(ctx);
    json_t *vm = load_vm(st, NULL, job_ctx_resource(ctx), NULL, err);
    int64_t d[STORE_QUOTAS] = {0};
    int rc = 0;

    if (vm == NULL)
        return err->code == ERR_NOT_FOUND ? 0 : -1;
    if (host_has_lun(job_ctx_data(ctx), num(p, "lun"))) {
        add_disk(vm, p); /* attached on the host; only the answer was lost */
    } else {
        d[QUOTA_STORAGE] = -num(p, "sizeGB");
        rc = quota_apply(st, str(vm, "subscriptionId"), d, err);
        if (rc == 0 && json_is_true(json_object_get(vm, "_holdsStorage")))
            rc = placement_hold(st, str(vm, "hostId"), 0, 0, -num(p, "sizeGB"),
                                "The VM's host was not found.", err);
        json_object_set_new(vm, "provisioningState", json_string("succeeded"));
    }
    if (rc == 0)
        rc = save_vm(st, vm, err);
    json_decref(vm);
    return rc;
}

json_t *
vm_disk_detach(store_t *st, const char *sid, const char *id, int lun, err_t *err)
{
    json_t *sub = NULL, *vm = NULL, *j = NULL, *params;

    if (store_tx_begin(st, err))
        return NULL;
    vm = load_vm(st, sid, id, NULL, err);
    if (vm == NULL)
        goto fail;
    if (lun < 0 || lun_free(json_object_get(vm, "disks"), lun)) {
        err_set(err, ERR_NOT_FOUND, NULL, "The VM has no data disk at lun %d.", lun);
        goto fail;
    }
    if ((sub = writable_sub(st, sid, err)) == NULL || vm_ready_for_job(vm, err))
        goto fail;
    params = json_pack("{s:i}", "lun", lun);
    json_object_set_new(vm, "provisioningState", json_string("updating"));
    j = submit_job(st, vm, "vm.disk.detach", params, err);
    json_decref(params);
    if (j == NULL || store_tx_commit(st, err))
        goto fail;
    json_decref(sub);
    json_decref(vm);
    return j;
fail:
    store_tx_rollback(st);
    json_decref(sub);
    json_decref(vm);
    json_decref(j);
    return NULL;
}

/* Removes the disk at lun from the record and releases its storage. */
static int
remove_disk(store_t *st, json_t *vm, int64_t lun, err_t *err)
{
    json_t *disks = json_object_get(vm, "disks"), *d;
    int64_t size = 0, q[STORE_QUOTAS] = {0};
    size_t i;

    json_array_foreach(disks, i, d) {
        if (json_is_integer(json_object_get(d, "lun")) && num(d, "lun") == lun) {
            size = num(d, "sizeGB");
            json_array_remove(disks, i);
            break;
        }
    }
    json_object_set_new(vm, "provisioningState", json_string("succeeded"));
    if (size == 0)
        return 0;
    json_object_set_new(vm, "_storageGB", json_integer(num(vm, "_storageGB") - size));
    q[QUOTA_STORAGE] = -size;
    if (json_is_true(json_object_get(vm, "_counted")) &&
        quota_apply(st, str(vm, "subscriptionId"), q, err))
        return -1;
    if (json_is_true(json_object_get(vm, "_holdsStorage")))
        return placement_hold(st, str(vm, "hostId"), 0, 0, -size, "The VM's host was not found.",
                              err);
    return 0;
}

static job_step_result_t
step_detach(job_ctx_t *ctx, err_t *err)
{
    int64_t lun = num(job_ctx_params(ctx), "lun");
    agent_call_t c = step_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r;
    json_t *vm;
    agent_t *a;

    if ((r = step_vm(ctx, &vm, &a, err)) != JOB_STEP_DONE)
        return r;
    if (agent_disk_detach(a, &c, str(vm, "hypervisorId"), (int) lun, &aerr) != 0 &&
        aerr.status == AGENT_ERR_NOT_FOUND)
        aerr.status = AGENT_OK;
    r = agent_result(&aerr, err);
    if (r == JOB_STEP_DONE &&
        (job_ctx_begin(ctx, err) || remove_disk(job_ctx_store(ctx), vm, lun, err) ||
         save_vm(job_ctx_store(ctx), vm, err)))
        r = JOB_STEP_RETRY;
    json_decref(vm);
    return r;
}

static int
failed_detach(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    int64_t lun = num(job_ctx_params(ctx), "lun");
    const json_t *data = job_ctx_data(ctx);
    json_t *vm = load_vm(st, NULL, job_ctx_resource(ctx), NULL, err);
    int rc = 0;

    if (vm == NULL)
        return err->code == ERR_NOT_FOUND ? 0 : -1;
    if (json_is_true(json_object_get(data, "hostHasVm")) && !host_has_lun(data, lun))
        rc = remove_disk(st, vm, lun, err); /* detached on the host */
    else
        json_object_set_new(vm, "provisioningState", json_string("succeeded"));
    if (rc == 0)
        rc = save_vm(st, vm, err);
    json_decref(vm);
    return rc;
}

/* ---- subscription-wide ---- */

static json_t *
all_vms(store_t *st, const char *sid, err_t *err)
{
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = sid};

    return store_rec_list_all(st, &store_kind_vm, &f, 1, err);
}

int
vm_stop_all(store_t *st, const char *sid, err_t *err)
{
    const action_def_t *stop = find_action("stop");
    json_t *vms, *vm, *j;
    int done = 1;
    size_t i;
    err_t local;

    if (store_tx_begin(st, err))
        return -1;
    vms = all_vms(st, sid, err);
    if (vms == NULL) {
        store_tx_rollback(st);
        return -1;
    }
    json_array_foreach(vms, i, vm) {
        const char *pw = str(vm, "powerState");
        if (strcmp(pw, "running") != 0 && strcmp(pw, "starting") != 0)
            continue;
        err_clear(&local);
        j = strcmp(pw, "running") == 0 ? submit_action(st, vm, stop, &local) : NULL;
        if (j == NULL)
            done = 0; /* busy: try again once its job has ended */
        json_decref(j);
    }
    json_decref(vms);
    if (store_tx_commit(st, err))
        return -1;
    return done;
}

int
vm_delete_all(store_t *st, const char *sid, err_t *err)
{
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = sid};
    int64_t next = 0;
    json_t *vms, *vm, *j, *nets, *roles, *n;
    size_t i;
    err_t local;

    if (store_tx_begin(st, err))
        return -1;
    vms = all_vms(st, sid, err);
    if (vms == NULL) {
        store_tx_rollback(st);
        return -1;
    }
    json_array_foreach(vms, i, vm) {
        if (strcmp(str(vm, "provisioningState"), "deleting") == 0)
            continue;
        err_clear(&local);
        j = submit_delete(st, vm, &local);
        json_decref(j);
    }
    if (json_array_size(vms) == 0) {
        /* No VM is left: the VM roles and networks go, and with them their quota. */
        roles = store_rec_list_all(st, &store_kind_vmrole, &f, 1, err);
        json_array_foreach(roles, i, n) {
            int64_t d[STORE_QUOTAS] = {0};
            d[QUOTA_VMROLES] = -1;
            if (store_rec_delete(st, &store_kind_vmrole, str(n, "id"), 0, err) ||
                quota_apply(st, sid, d, err))
                break;
        }
        json_decref(roles);
        nets = err->code == ERR_NONE
                   ? store_rec_list(st, &store_kind_network, &f, 1, 0, 1000, &next, err)
                   : NULL;
        json_array_foreach(nets, i, n) {
            int64_t d[STORE_QUOTAS] = {0};
            d[QUOTA_NETWORKS] = -1;
            if (store_rec_delete(st, &store_kind_network, str(n, "id"), 0, err) ||
                quota_apply(st, sid, d, err))
                break;
        }
        json_decref(nets);
        if (err->code != ERR_NONE) {
            json_decref(vms);
            store_tx_rollback(st);
            return -1;
        }
    }
    i = json_array_size(vms);
    json_decref(vms);
    if (store_tx_commit(st, err))
        return -1;
    return i == 0;
}

/* ---- networks ---- */

json_t *
network_create(store_t *st, const char *sid, const json_t *body, err_t *err)
{
    int64_t first, last, d[STORE_QUOTAS] = {0};
    json_t *sub = NULL, *rec = NULL;

    if (parse_prefix(str(body, "addressPrefix"), &first, &last, err))
        return NULL;
    if (store_tx_begin(st, err))
        return NULL;
    if ((sub = writable_sub(st, sid, err)) == NULL)
        goto fail;
    d[QUOTA_NETWORKS] = 1;
    if (quota_adjust(st, sid, d, err))
        goto fail;
    rec = catalog_record_new(body);
    json_object_set_new(rec, "subscriptionId", json_string(sid));
    if (store_rec_insert(st, &store_kind_network, rec, err) || store_tx_commit(st, err))
        goto fail;
    json_decref(sub);
    return rec;
fail:
    store_tx_rollback(st);
    json_decref(sub);
    json_decref(rec);
    return NULL;
}

int
network_delete(store_t *st, const char *sid, const char *id, err_t *err)
{
    int64_t used, d[STORE_QUOTAS] = {0};
    json_t *net, *sub = NULL;

    if (store_tx_begin(st, err))
        return -1;
    net = store_rec_get_where(st, &store_kind_network, id, "subscriptionId", sid, NULL, err);
    if (net == NULL)
        goto fail;
    if ((sub = writable_sub(st, sid, err)) == NULL)
        goto fail;
    used = store_ip_count(st, id, err);
    if (used < 0)
        goto fail;
    if (used > 0) {
        err_set(err, ERR_CONFLICT, NULL, "The network is in use by %lld VM address(es).",
                (long long) used);
        goto fail;
    }
    d[QUOTA_NETWORKS] = -1;
    if (store_rec_delete(st, &store_kind_network, id, 0, err) ||
        quota_apply(st, sid, d, err) || store_tx_commit(st, err))
        goto fail;
    json_decref(net);
    json_decref(sub);
    return 0;
fail:
    store_tx_rollback(st);
    json_decref(net);
    json_decref(sub);
    return -1;
}

/* ---- job kinds ---- */

static const job_step_def_t create_steps[] = {
    {"createOnHost", step_create_on_host},
    {"startVm", step_start_new},
    {NULL, NULL},
};
static const job_step_def_t power_steps[] = {{"powerOperation", step_power}, {NULL, NULL}};
static const job_step_def_t start_steps[] = {
    {"moveToHost", step_move_to_host},
    {"powerOperation", step_power},
    {"removeFromOldHost", step_remove_from_old_host},
    {NULL, NULL},
};
static const job_step_def_t resize_steps[] = {{"reconfigure", step_reconfigure}, {NULL, NULL}};
static const job_step_def_t delete_steps[] = {
    {"deleteFromHost", step_delete_from_host},
    {"releaseResources", step_release_and_remove},
    {NULL, NULL},
};
static const job_step_def_t attach_steps[] = {{"attachDisk", step_attach}, {NULL, NULL}};
static const job_step_def_t detach_steps[] = {{"detachDisk", step_detach}, {NULL, NULL}};

static const job_kind_def_t vm_kinds[] = {
    {"vm.create", create_steps, VM_JOB_DEADLINE_MS, failed_create, cleanup_create, NULL, NULL},
    {"vm.start", start_steps, VM_JOB_DEADLINE_MS, failed_power, cleanup_start, NULL, NULL},
    {"vm.stop", power_steps, VM_JOB_DEADLINE_MS, failed_power, cleanup_ask_host, NULL, NULL},
    {"vm.shutdown", power_steps, VM_JOB_DEADLINE_MS, failed_power, cleanup_ask_host, NULL, NULL},
    {"vm.restart", power_steps, VM_JOB_DEADLINE_MS, failed_power, cleanup_ask_host, NULL, NULL},
    {"vm.deallocate", power_steps, VM_JOB_DEADLINE_MS, failed_power, cleanup_ask_host, NULL, NULL},
    {"vm.resize", resize_steps, VM_JOB_DEADLINE_MS, failed_resize, cleanup_ask_host, NULL, NULL},
    {"vm.delete", delete_steps, VM_JOB_DEADLINE_MS, failed_delete, cleanup_ask_host, NULL, NULL},
    {"vm.disk.attach", attach_steps, VM_JOB_DEADLINE_MS, failed_attach, cleanup_ask_host, NULL, NULL},
    {"vm.disk.detach", detach_steps, VM_JOB_DEADLINE_MS, failed_detach, cleanup_ask_host, NULL, NULL},
};

int
vm_jobs_register(void)
{
    size_t i;

    for (i = 0; i < sizeof(vm_kinds) / sizeof(vm_kinds[0]); i++)
        if (job_kind_register(&vm_kinds[i]))
            return -1;
    return 0;
}

int
vm__fail_create(store_t *st, json_t *vm, err_t *err)
{
    /* A VM whose creation failed holds nothing and is never billed. */
    if (release_host(st, vm, true, true, err) || release_quota(st, vm, err) ||
        store_ip_release_vm(st, str(vm, "id"), err))
        return -1;
    json_object_set_new(vm, "nics", json_array());
    json_object_set_new(vm, "provisioningState", json_string("failed"));
    json_object_set_new(vm, "powerState", json_string("deallocated"));
    if (save_vm(st, vm, err))
        return -1;
    return store_timeline_forget(st, str(vm, "id"), err);
}

int
vm__remove(store_t *st, json_t *vm, err_t *err)
{
    return remove_vm(st, vm, err);
}

/* ---- checkpoint differencing disks ---- */

int64_t
vm__checkpoint_size_on_host(job_ctx_t *ctx, const json_t *vm)
{
    const json_t *slot = json_object_get(vm, "checkpoint"), *cp;
    bool asked;
    json_t *hv;
    int64_t size = -1;

    if (!json_is_object(slot) || str(slot, "_hostId") == NULL)
        return -1;
    hv = host_view(ctx, vm, &asked);
    cp = hv ? json_object_get(json_object_get(hv, "checkpoints"), str(slot, "_hostId")) : NULL;
    if (cp && json_is_integer(json_object_get(cp, "sizeGB")))
        size = num(cp, "sizeGB");
    json_decref(hv);
    return size;
}

int
vm__set_checkpoint_size(store_t *st, json_t *vm, int64_t size, err_t *err)
{
    json_t *slot = json_object_get(vm, "checkpoint");
    int64_t delta, d[STORE_QUOTAS] = {0};

    if (!json_is_object(slot) || size < 0)
        return 0;
    delta = size - num(slot, "sizeGB");
    if (delta == 0)
        return 0;
    json_object_set_new(slot, "sizeGB", json_integer(size));
    json_object_set_new(vm, "_storageGB", json_integer(num(vm, "_storageGB") + delta));
    /* Growth already happened on the host: it is counted, never refused. */
    d[QUOTA_STORAGE] = delta;
    if (json_is_true(json_object_get(vm, "_counted")) &&
        quota_apply(st, str(vm, "subscriptionId"), d, err))
        return -1;
    if (json_is_true(json_object_get(vm, "_holdsStorage")) && str(vm, "hostId"))
        return store_host_grow_storage(st, str(vm, "hostId"), delta, err);
    return 0;
}

/* ---- shared with checkpoint.c (vm_internal.h) ---- */

json_t *
vm__submit(store_t *st, json_t *vm, const char *kind, const json_t *params, err_t *err)
{
    return submit_job(st, vm, kind, params, err);
}

json_t *
vm__load(store_t *st, const char *sid, const char *id, int64_t *rev, err_t *err)
{
    return load_vm(st, sid, id, rev, err);
}

int
vm__save(store_t *st, json_t *vm, err_t *err)
{
    return save_vm(st, vm, err);
}

json_t *
vm__writable_sub(store_t *st, const char *sid, err_t *err)
{
    return writable_sub(st, sid, err);
}

int
vm__ready(const json_t *vm, err_t *err)
{
    const char *pw = str(vm, "powerState");

    if (vm_ready_for_job(vm, err))
        return -1;
    if (strcmp(pw, "starting") == 0 || strcmp(pw, "stopping") == 0 ||
        strcmp(pw, "deallocating") == 0)
        return err_set(err, ERR_OPERATION_IN_PROGRESS, NULL,
                       "Another operation on this VM is still in progress.");
    return 0;
}

int
vm__release_host(store_t *st, json_t *vm, bool compute, bool storage, err_t *err)
{
    return release_host(st, vm, compute, storage, err);
}

int
vm__hold_compute(store_t *st, json_t *vm, err_t *err)
{
    if (json_is_true(json_object_get(vm, "_holdsCompute")))
        return 0;
    if (placement_hold(st, str(vm, "hostId"), num(vm, "cores"), num(vm, "memoryMB"), 0,
                       "The VM's host has no room for it now.", err))
        return -1;
    json_object_set_new(vm, "_holdsCompute", json_true());
    return 0;
}

job_step_result_t
vm__step_vm(job_ctx_t *ctx, json_t **vm, agent_t **agent, err_t *err)
{
    return step_vm(ctx, vm, agent, err);
}

agent_call_t
vm__step_call(job_ctx_t *ctx)
{
    return step_call(ctx);
}

job_step_result_t
vm__agent_result(const agent_err_t *aerr, err_t *err)
{
    return agent_result(aerr, err);
}

void
vm__cleanup_ask_host(job_ctx_t *ctx)
{
    cleanup_ask_host(ctx);
}

int
vm__apply_true_power(store_t *st, job_ctx_t *ctx, json_t *vm, err_t *err)
{
    return apply_true_power(st, ctx, vm, err);
}
