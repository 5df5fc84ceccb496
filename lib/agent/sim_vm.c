/*
 * sim_vm.c: the simulator's VM operations and reads (see sim_internal.h).
 *
 * Each changing slot of the driver is one apply function (op_*), run by agent_sim__run_call under the
 * host's lock with its answer journaled; the slots themselves only pack their arguments. A VM is
 * {hypervisorId, name, powerState, cores, memoryMB, disks, checkpoints, createdAt} plus the growth account
 * below.
 *
 * Differencing disks: a checkpoint's disk starts empty and grows while the VM runs, by diffGBPerHour (uri,
 * default 1) for every hour of running since the checkpoint was taken, up to the size of the VM's disks;
 * restoring the checkpoint empties it again (the changes since are discarded). The host reports the
 * current size (sizeGB) of each checkpoint in its inventory. Invariant: a running VM has runningSinceMs,
 * and each checkpoint's accumMs counts the running time folded in up to its sinceMs.
 */
#include "sim_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../jget.h"
#include "../util.h"

/* ---- operations (lock held) ---- */

static json_t *
find_vm(sim_t *s, const char *hyp, agent_err_t *err)
{
    json_t *vm = json_object_get(s->vms, hyp);

    assert(agent_sim__locked(s));
    if (vm == NULL)
        agent_fail(err, AGENT_ERR_NOT_FOUND, "The host has no VM %s.", hyp);
    else
        snprintf(s->dirty, sizeof(s->dirty), "%s", hyp);
    return vm;
}

static const char *
power_of(const json_t *vm)
{
    return json_string_value(json_object_get(vm, "powerState"));
}

typedef struct {
    const agent_vm_spec_t *spec;
} create_args_t;

/* The VM created for wapd VM vm_id, or NULL; lock held. */
static json_t *
find_by_vm_id(sim_t *s, const char *vm_id)
{
    const char *key;
    json_t *vm;

    assert(agent_sim__locked(s));
    json_object_foreach(s->vms, key, vm) {
        const char *id = json_string_value(json_object_get(vm, "vmId"));
        if (id != NULL && strcmp(id, vm_id) == 0)
            return vm;
    }
    return NULL;
}

static int
op_vm_create(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    const agent_vm_spec_t *spec = ((create_args_t *) args)->spec;
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    json_t *disks, *nics, *existing = find_by_vm_id(s, spec->vm_id);
    int i;

    (void) err;
    if (existing != NULL) { /* keyed by the wapd VM id: a repeat answers the VM made before */
        snprintf(result, AGENT_ID_MAX, "%s", json_string_value(json_object_get(existing,
                                                                                "hypervisorId")));
        return 0;
    }
    disks = json_array();
    nics = json_array();
    for (i = 0; i < spec->ndisks; i++) {
        const agent_disk_spec_t *d = &spec->disks[i];
        json_array_append_new(disks, json_pack("{s:o, s:s, s:i, s:s, s:o, s:o}", "lun",
                                               i == 0 ? json_null() : json_integer(d->lun), "kind",
                                               i == 0 ? "os" : "data", "sizeGB", d->size_gb,
                                               "caching", agent_caching_name(d->caching), "imageId",
                                               d->image_id ? json_string(d->image_id) : json_null(),
                                               "snapshotId",
                                               d->snapshot_id ? json_string(d->snapshot_id)
                                                              : json_null()));
    }
    for (i = 0; i < spec->nnics; i++)
        json_array_append_new(nics, json_pack("{s:s?, s:s?, s:s?}", "networkId",
                                              spec->nics[i].network_id, "macAddress",
                                              spec->nics[i].mac, "ipAddress", spec->nics[i].ip));
    util_uuid(id);
    util_time_format(util_now_ms(), now);
    snprintf(result, AGENT_ID_MAX, "sim-%s", id);
    snprintf(s->dirty, sizeof(s->dirty), "%s", result);
    json_object_set_new(s->vms, result,
                        json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:{}, s:s}",
                                  "hypervisorId", result, "vmId", spec->vm_id, "name",
                                  spec->name ? spec->name : "", "powerState", "stopped", "cores",
                                  spec->cores, "memoryMB", spec->memory_mb, "memoryMinMB",
                                  spec->memory_min_mb, "memoryMaxMB", spec->memory_max_mb,
                                  "generation", spec->generation, "disks", disks, "nics", nics,
                                  "checkpoints", "createdAt", now));
    return 0;
}

static int
op_vm_delete(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    const char *hyp = args;

    json_t *vm;

    (void) result;
    if ((vm = find_vm(s, hyp, err)) == NULL)
        return -1;
    /* The VM goes; its answers stay, in the tombstone save() writes. */
    json_object_set_new(s->graveyard, hyp,
                        json_pack("{s:O}", "_ops",
                                  json_object_get(vm, "_ops") ? json_object_get(vm, "_ops")
                                                              : json_object()));
    json_object_del(s->vms, hyp);
    return 0;
}

/* ---- differencing disk growth ---- */

/* Folds the running time since the last settle into each checkpoint's account; lock held. */
static void
settle(json_t *vm, int64_t now)
{
    json_t *since = json_object_get(vm, "runningSinceMs"), *cp;
    const char *key;
    int64_t from, start;

    if (!json_is_integer(since))
        return;
    start = json_integer_value(since);
    json_object_foreach(json_object_get(vm, "checkpoints"), key, cp) {
        from = json_integer_value(json_object_get(cp, "sinceMs"));
        if (from < start)
            from = start;
        if (now > from)
            json_object_set_new(cp, "accumMs",
                                json_integer(json_integer_value(json_object_get(cp, "accumMs")) +
                                             (now - from)));
        json_object_set_new(cp, "sinceMs", json_integer(now));
    }
    json_object_set_new(vm, "runningSinceMs", json_integer(now));
}

/* Sets the VM's power state, keeping the growth accounts right; lock held. */
static void
set_power(json_t *vm, const char *ps)
{
    int64_t now = util_now_ms();

    settle(vm, now);
    json_object_set_new(vm, "runningSinceMs",
                        strcmp(ps, "running") == 0 ? json_integer(now) : json_null());
    json_object_set_new(vm, "powerState", json_string(ps));
}

/* The checkpoint's differencing disk size now; lock held. */
static int64_t
diff_size_gb(const sim_t *s, const json_t *vm, const json_t *cp, int64_t now)
{
    int64_t ms = json_integer_value(json_object_get(cp, "accumMs")), from, cap = 0;
    const json_t *since = json_object_get(vm, "runningSinceMs"), *d;
    size_t i;
    double gb;

    if (json_is_integer(since)) {
        from = json_integer_value(json_object_get(cp, "sinceMs"));
        if (from < json_integer_value(since))
            from = json_integer_value(since);
        if (now > from)
            ms += now - from;
    }
    json_array_foreach(json_object_get(vm, "disks"), i, d)
        cap += json_integer_value(json_object_get(d, "sizeGB"));
    gb = (double) ms / 3600000.0 * s->diff_gb_per_hour;
    return gb >= (double) cap ? cap : (int64_t) gb;
}

typedef struct {
    const char *hyp;
    agent_power_op_t op;
} power_args_t;

static int
op_vm_power(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    power_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err);
    const char *ps;

    (void) result;
    if (vm == NULL)
        return -1;
    ps = power_of(vm);
    if (a->op == AGENT_POWER_START) {
        if (strcmp(ps, "running") == 0)
            return 0; /* already: the host answers success, as Start-VM does */
        set_power(vm, "running");
        return 0;
    }
    if (a->op != AGENT_POWER_RESTART && strcmp(ps, "stopped") == 0)
        return 0; /* already where the action leads */
    if (strcmp(ps, "running") != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The VM is not running.");
    if (a->op != AGENT_POWER_RESTART)
        set_power(vm, "stopped");
    return 0;
}

static int
op_vm_release(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    json_t *vm = find_vm(s, args, err);

    (void) result;
    if (vm == NULL)
        return -1;
    set_power(vm, "deallocated");
    return 0;
}

typedef struct {
    const char *hyp;
    int a, b;
    const char *name;
} vm_args_t;

static int
op_vm_reconfigure(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err);

    (void) result;
    if (vm == NULL)
        return -1;
    if (strcmp(power_of(vm), "running") == 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "A running VM cannot be resized.");
    json_object_set_new(vm, "cores", json_integer(a->a));
    json_object_set_new(vm, "memoryMB", json_integer(a->b));
    return 0;
}

static int
find_lun(const json_t *disks, int lun)
{
    json_t *d;
    size_t i;

    json_array_foreach(disks, i, d)
        if (json_is_integer(json_object_get(d, "lun")) &&
            json_integer_value(json_object_get(d, "lun")) == lun)
            return (int) i;
    return -1;
}

static int
op_disk_attach(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err), *disks;
    int i;

    (void) result;
    if (vm == NULL)
        return -1;
    disks = json_object_get(vm, "disks");
    if ((i = find_lun(disks, a->a)) >= 0) {
        /* keyed by lun: the same disk again is done; another one there is refused */
        if (json_integer_value(json_object_get(json_array_get(disks, (size_t) i), "sizeGB")) == a->b)
            return 0;
        return agent_fail(err, AGENT_ERR_PERMANENT, "Lun %d is taken.", a->a);
    }
    json_array_append_new(disks, json_pack("{s:i, s:s, s:i}", "lun", a->a, "kind", "data",
                                           "sizeGB", a->b));
    return 0;
}

static int
op_disk_detach(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err);
    int i;

    (void) result;
    if (vm == NULL)
        return -1;
    i = find_lun(json_object_get(vm, "disks"), a->a);
    if (i < 0)
        return agent_fail(err, AGENT_ERR_NOT_FOUND, "The VM has no disk at lun %d.", a->a);
    json_array_remove(json_object_get(vm, "disks"), (size_t) i);
    return 0;
}

static int
op_checkpoint_create(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err), *cp;
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    const char *key;

    if (vm == NULL)
        return -1;
    json_object_foreach(json_object_get(vm, "checkpoints"), key, cp)
        if (strcmp(json_string_value(json_object_get(cp, "name")), a->name) == 0) {
            snprintf(result, AGENT_ID_MAX, "%s", key); /* keyed by name: made before */
            return 0;
        }
    util_uuid(id);
    util_time_format(util_now_ms(), now);
    snprintf(result, AGENT_ID_MAX, "cp-%s", id);
    settle(vm, util_now_ms());
    /* A new differencing disk starts empty; it grows with the VM's writes. */
    json_object_set_new(json_object_get(vm, "checkpoints"), result,
                        json_pack("{s:s, s:s, s:O, s:i, s:s, s:I, s:I}", "id", result, "name",
                                  a->name, "powerState", json_object_get(vm, "powerState"),
                                  "sizeGB", 0, "createdAt", now, "accumMs", (json_int_t) 0,
                                  "sinceMs", (json_int_t) util_now_ms()));
    return 0;
}

static int
op_checkpoint_delete(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err), *cps;

    (void) result;
    if (vm == NULL)
        return -1;
    cps = json_object_get(vm, "checkpoints");
    if (json_object_get(cps, a->name) == NULL)
        return agent_fail(err, AGENT_ERR_NOT_FOUND, "The VM has no checkpoint %s.", a->name);
    json_object_del(cps, a->name);
    return 0;
}

static int
op_checkpoint_restore(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err), *cp;

    (void) result;
    if (vm == NULL)
        return -1;
    cp = json_object_get(json_object_get(vm, "checkpoints"), a->name);
    if (cp == NULL)
        return agent_fail(err, AGENT_ERR_NOT_FOUND, "The VM has no checkpoint %s.", a->name);
    /* The VM returns to the power state it had when the checkpoint was taken, and the changes since
     * (the differencing disk) are discarded. */
    set_power(vm, json_string_value(json_object_get(cp, "powerState")));
    json_object_set_new(cp, "accumMs", json_integer(0));
    json_object_set_new(cp, "sinceMs", json_integer(util_now_ms()));
    return 0;
}

/* ---- the driver's slots ---- */

int
agent_sim__vm_create(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
              char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    create_args_t a = {spec};

    return agent_sim__run_call(priv, call, op_vm_create, &a, hypervisor_id, err);
}

int
agent_sim__vm_delete(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    return agent_sim__run_call(priv, call, op_vm_delete, (void *) hyp, NULL, err);
}

int
agent_sim__vm_power(void *priv, const agent_call_t *call, const char *hyp, agent_power_op_t op,
             agent_err_t *err)
{
    power_args_t a = {hyp, op};

    return agent_sim__run_call(priv, call, op_vm_power, &a, NULL, err);
}

int
agent_sim__vm_release(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    return agent_sim__run_call(priv, call, op_vm_release, (void *) hyp, NULL, err);
}

int
agent_sim__vm_reconfigure(void *priv, const agent_call_t *call, const char *hyp, int cores, int memory_mb,
                   agent_err_t *err)
{
    vm_args_t a = {hyp, cores, memory_mb, NULL};

    return agent_sim__run_call(priv, call, op_vm_reconfigure, &a, NULL, err);
}

int
agent_sim__disk_attach(void *priv, const agent_call_t *call, const char *hyp,
                       const agent_disk_spec_t *disk, agent_err_t *err)
{
    vm_args_t a = {hyp, disk->lun, disk->size_gb, NULL};

    return agent_sim__run_call(priv, call, op_disk_attach, &a, NULL, err);
}

int
agent_sim__disk_detach(void *priv, const agent_call_t *call, const char *hyp, int lun, agent_err_t *err)
{
    vm_args_t a = {hyp, lun, 0, NULL};

    return agent_sim__run_call(priv, call, op_disk_detach, &a, NULL, err);
}

int
agent_sim__checkpoint_create(void *priv, const agent_call_t *call, const char *hyp, const char *name,
                      char checkpoint_id[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t a = {hyp, 0, 0, name};

    return agent_sim__run_call(priv, call, op_checkpoint_create, &a, checkpoint_id, err);
}

int
agent_sim__checkpoint_delete(void *priv, const agent_call_t *call, const char *hyp, const char *cp,
                      agent_err_t *err)
{
    vm_args_t a = {hyp, 0, 0, cp};

    return agent_sim__run_call(priv, call, op_checkpoint_delete, &a, NULL, err);
}

int
agent_sim__checkpoint_restore(void *priv, const agent_call_t *call, const char *hyp, const char *cp,
                       agent_err_t *err)
{
    vm_args_t a = {hyp, 0, 0, cp};

    return agent_sim__run_call(priv, call, op_checkpoint_restore, &a, NULL, err);
}
/* The host's VM as the contract types it; lock held. */
static void
vm_info(const sim_t *s, const json_t *vm, int64_t now, agent_vm_info_t *out)
{
    const json_t *d, *cp;
    const char *key;
    size_t i;

    memset(out, 0, sizeof(*out));
    snprintf(out->vm_id, sizeof(out->vm_id), "%s", jget_str(vm, "vmId") ? jget_str(vm, "vmId") : "");
    snprintf(out->hypervisor_id, sizeof(out->hypervisor_id), "%s", jget_str(vm, "hypervisorId"));
    snprintf(out->name, sizeof(out->name), "%s", jget_str(vm, "name") ? jget_str(vm, "name") : "");
    if (agent_vm_power_parse(power_of(vm), &out->power))
        out->power = AGENT_VM_UNKNOWN;
    out->cores = (int) jget_int(vm, "cores");
    out->memory_mb = (int) jget_int(vm, "memoryMB");
    json_array_foreach(json_object_get(vm, "disks"), i, d) {
        if (out->ndisks == AGENT_MAX_DISKS)
            break;
        out->disks[out->ndisks].lun =
            json_is_integer(json_object_get(d, "lun")) ? (int) jget_int(d, "lun") : -1;
        out->disks[out->ndisks++].size_gb = (int) jget_int(d, "sizeGB");
    }
    json_object_foreach((json_t *) json_object_get(vm, "checkpoints"), key, cp) {
        agent_checkpoint_info_t *c = &out->checkpoints[out->ncheckpoints];
        if (out->ncheckpoints == AGENT_MAX_CHECKPOINTS)
            break;
        snprintf(c->id, sizeof(c->id), "%s", key);
        snprintf(c->name, sizeof(c->name), "%s", jget_str(cp, "name") ? jget_str(cp, "name") : "");
        c->size_gb = diff_size_gb(s, vm, cp, now);
        out->ncheckpoints++;
    }
}

int
agent_sim__inventory(void *priv, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err)
{
    sim_t *s = priv;
    int64_t now = util_now_ms();
    const char *key;
    json_t *vm;
    size_t n = 0;

    if (agent_sim__read_frame(s, call, err))
        return -1;
    agent_sim__lock(s);
    vms->vms = calloc(json_object_size(s->vms) + 1, sizeof(*vms->vms));
    if (vms->vms == NULL) {
        agent_sim__unlock(s);
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    }
    json_object_foreach(s->vms, key, vm)
        vm_info(s, vm, now, &vms->vms[n++]);
    vms->n = n;
    agent_sim__unlock(s);
    return 0;
}

int
agent_sim__host_info(void *priv, const agent_call_t *call, agent_host_info_t *info,
                     agent_err_t *err)
{
    sim_t *s = priv;
    const char *key;
    json_t *vm;

    if (agent_sim__read_frame(s, call, err))
        return -1;
    snprintf(info->name, sizeof(info->name), "%s", s->host_id);
    snprintf(info->backend, sizeof(info->backend), "sim");
    snprintf(info->version, sizeof(info->version), "1");
    agent_sim__lock(s);
    info->vms = (int64_t) json_object_size(s->vms);
    json_object_foreach(s->vms, key, vm) {
        if (strcmp(power_of(vm), "deallocated") == 0)
            continue;
        info->used_cores += jget_int(vm, "cores");
        info->used_memory_mb += jget_int(vm, "memoryMB");
    }
    agent_sim__unlock(s);
    return 0;
}
