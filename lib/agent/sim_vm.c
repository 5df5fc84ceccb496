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

static int
op_vm_create(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    const agent_vm_spec_t *spec = ((create_args_t *) args)->spec;
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    json_t *disks = json_array(), *d;
    size_t i;

    (void) err;
    json_array_append_new(disks, json_pack("{s:n, s:s, s:i}", "lun", "kind", "os", "sizeGB",
                                           spec->os_disk_gb));
    json_array_foreach(spec->data_disks, i, d)
        json_array_append_new(disks, json_pack("{s:O, s:s, s:O}", "lun", json_object_get(d, "lun"),
                                               "kind", "data", "sizeGB",
                                               json_object_get(d, "sizeGB")));
    util_uuid(id);
    util_time_format(util_now_ms(), now);
    snprintf(result, AGENT_ID_MAX, "sim-%s", id);
    snprintf(s->dirty, sizeof(s->dirty), "%s", result);
    json_object_set_new(s->vms, result,
                        json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:{}, s:s}", "hypervisorId",
                                  result, "name", spec->name ? spec->name : "", "powerState",
                                  "stopped", "cores", spec->cores, "memoryMB", spec->memory_mb,
                                  "disks", disks, "checkpoints", "createdAt", now));
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

    (void) result;
    if (vm == NULL)
        return -1;
    disks = json_object_get(vm, "disks");
    if (find_lun(disks, a->a) >= 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "Lun %d is taken.", a->a);
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
    json_t *vm = find_vm(s, a->hyp, err);
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];

    if (vm == NULL)
        return -1;
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
agent_sim__disk_attach(void *priv, const agent_call_t *call, const char *hyp, int lun, int size_gb,
                agent_err_t *err)
{
    vm_args_t a = {hyp, lun, size_gb, NULL};

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
int
agent_sim__inventory(void *priv, const agent_call_t *call, json_t **vms, agent_err_t *err)
{
    sim_t *s = priv;
    const char *key;
    json_t *vm, *list;

    if (agent_sim__read_frame(s, call, err))
        return -1;
    list = json_array();
    agent_sim__lock(s);
    json_object_foreach(s->vms, key, vm) {
        json_t *copy = json_deep_copy(vm), *cp;
        const char *ck;
        json_object_del(copy, "_ops");
        json_object_del(copy, "runningSinceMs");
        json_object_foreach(json_object_get(copy, "checkpoints"), ck, cp) {
            json_object_set_new(cp, "sizeGB",
                                json_integer(diff_size_gb(s, vm, json_object_get(json_object_get(
                                                                     vm, "checkpoints"),
                                                                 ck),
                                                          util_now_ms())));
            json_object_del(cp, "accumMs");
            json_object_del(cp, "sinceMs");
        }
        json_array_append_new(list, copy);
    }
    agent_sim__unlock(s);
    *vms = list;
    return 0;
}

int
agent_sim__host_info(void *priv, const agent_call_t *call, json_t **info, agent_err_t *err)
{
    sim_t *s = priv;
    json_int_t cores = 0, memory = 0;
    const char *key;
    json_t *vm;
    size_t n;

    if (agent_sim__read_frame(s, call, err))
        return -1;
    agent_sim__lock(s);
    n = json_object_size(s->vms);
    json_object_foreach(s->vms, key, vm) {
        if (strcmp(power_of(vm), "deallocated") == 0)
            continue;
        cores += json_integer_value(json_object_get(vm, "cores"));
        memory += json_integer_value(json_object_get(vm, "memoryMB"));
    }
    agent_sim__unlock(s);
    *info = json_pack("{s:s, s:I, s:I, s:I}", "kind", "sim", "vms", (json_int_t) n, "cores", cores,
                      "memoryMB", memory);
    return 0;
}

