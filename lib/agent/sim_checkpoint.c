/*
 * sim_checkpoint.c: the simulator's checkpoints and its reads, inventory and host info (see
 * sim_internal.h).
 *
 * A checkpoint is keyed by its name: creating one whose name the VM already has answers that checkpoint.
 * Differencing disks: a checkpoint's disk starts empty and grows while the VM runs, by diffGBPerHour (uri,
 * default 1) for every hour of running since the checkpoint was taken, up to the size of the VM's disks;
 * restoring the checkpoint empties it again (the changes since are discarded). The host reports the
 * current size of each checkpoint in its inventory. A checkpoint keeps the VM's configuration too (cores,
 * memory, disks: its "config"), and restoring it gives that back, as a hypervisor's checkpoint does: a disk
 * attached since is gone again, one detached since is back (a checkpoint made before the sim kept its
 * configuration restores the power state only). Invariant: a running VM has runningSinceMs, and each
 * checkpoint's accumMs counts the running time folded in up to its sinceMs.
 */
#include "sim_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"

/* The checkpoint's differencing disk size now; lock held. */
static int64_t
diff_size_gb(const sim_t *s, const json_t *vm, const json_t *cp, int64_t now)
{
    int64_t ms = json_integer_value(json_object_get(cp, "accumMs")), from, cap = 0;
    const json_t *since = json_object_get(vm, "runningSinceMs"), *d;
    size_t i;
    double gb;

    assert(agent_sim__locked(s));
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

/* The parts of a VM's configuration that a checkpoint keeps and its restore gives back. */
static const char *const config_keys[] = {"cores", "memoryMB", "memoryMinMB", "memoryMaxMB", "disks"};
#define NCONFIG (sizeof(config_keys) / sizeof(config_keys[0]))

/* A deep copy of the VM's configuration (NULL when out of memory); lock held. */
static json_t *
config_of(const json_t *vm)
{
    json_t *c = json_object(), *v;
    size_t i;

    for (i = 0; c != NULL && i < NCONFIG; i++)
        if ((v = json_object_get(vm, config_keys[i])) != NULL &&
            json_object_set_new(c, config_keys[i], json_deep_copy(v)) != 0) {
            json_decref(c);
            return NULL;
        }
    return c;
}

typedef struct {
    const char *hyp;
    const char *name; /* the checkpoint's name (create) or id (delete, restore) */
} cp_args_t;

void
agent_sim__checkpoint_add(json_t *vm, const char *name, char result[AGENT_ID_MAX])
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    const char *key;
    json_t *cp;

    assert(vm != NULL && name != NULL);
    json_object_foreach(json_object_get(vm, "checkpoints"), key, cp)
        if (strcmp(json_string_value(json_object_get(cp, "name")), name) == 0) {
            snprintf(result, AGENT_ID_MAX, "%s", key); /* made before */
            return;
        }
    util_uuid(id);
    util_time_format(util_now_ms(), now);
    snprintf(result, AGENT_ID_MAX, "cp-%s", id);
    agent_sim__settle(vm, util_now_ms());
    /* A new differencing disk starts empty; it grows with the VM's writes. */
    json_object_set_new(json_object_get(vm, "checkpoints"), result,
                        json_pack("{s:s, s:s, s:O, s:i, s:s, s:I, s:I, s:o*}", "id", result, "name",
                                  name, "powerState", json_object_get(vm, "powerState"),
                                  "sizeGB", 0, "createdAt", now, "accumMs", (json_int_t) 0,
                                  "sinceMs", (json_int_t) util_now_ms(), "config", config_of(vm)));
}

static int
op_checkpoint_create(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    cp_args_t *a = args;
    json_t *vm = agent_sim__find_vm(s, a->hyp, err);

    if (vm == NULL)
        return -1;
    agent_sim__checkpoint_add(vm, a->name, result);
    return 0;
}

/* The VM's checkpoint of that id, or NULL with NOT_FOUND; lock held. */
static json_t *
find_checkpoint(sim_t *s, const cp_args_t *a, json_t **vm, agent_err_t *err)
{
    json_t *cp;

    *vm = agent_sim__find_vm(s, a->hyp, err);
    if (*vm == NULL)
        return NULL;
    cp = json_object_get(json_object_get(*vm, "checkpoints"), a->name);
    if (cp == NULL)
        agent_fail(err, AGENT_ERR_NOT_FOUND, "The VM has no checkpoint %s.", a->name);
    return cp;
}

static int
op_checkpoint_delete(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    cp_args_t *a = args;
    json_t *vm;

    (void) result;
    if (find_checkpoint(s, a, &vm, err) == NULL)
        return -1;
    json_object_del(json_object_get(vm, "checkpoints"), a->name);
    return 0;
}

static int
op_checkpoint_restore(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    cp_args_t *a = args;
    json_t *vm, *cp = find_checkpoint(s, a, &vm, err), *config, *v;
    const char *key;

    (void) result;
    if (cp == NULL)
        return -1;
    /* The VM returns to the power state and configuration it had when the checkpoint was taken, and
     * the changes since (the differencing disk) are discarded. */
    agent_sim__set_power(vm, json_string_value(json_object_get(cp, "powerState")));
    if (json_is_object(config = json_object_get(cp, "config")))
        json_object_foreach(config, key, v)
            json_object_set_new(vm, key, json_deep_copy(v));
    json_object_set_new(cp, "accumMs", json_integer(0));
    json_object_set_new(cp, "sinceMs", json_integer(util_now_ms()));
    return 0;
}

int
agent_sim__checkpoint_create(void *priv, const agent_call_t *call, const char *hyp,
                             const char *name, char checkpoint_id[AGENT_ID_MAX], agent_err_t *err)
{
    cp_args_t a = {hyp, name};

    (void) call;
    return agent_sim__run(priv, op_checkpoint_create, &a, checkpoint_id, err);
}

int
agent_sim__checkpoint_delete(void *priv, const agent_call_t *call, const char *hyp, const char *cp,
                             agent_err_t *err)
{
    cp_args_t a = {hyp, cp};

    (void) call;
    return agent_sim__run(priv, op_checkpoint_delete, &a, NULL, err);
}

int
agent_sim__checkpoint_restore(void *priv, const agent_call_t *call, const char *hyp,
                              const char *cp, agent_err_t *err)
{
    cp_args_t a = {hyp, cp};

    (void) call;
    return agent_sim__run(priv, op_checkpoint_restore, &a, NULL, err);
}

/* ---- reads ---- */

/* One VM as the inventory reports it; lock held. */
static void
vm_info(const sim_t *s, const json_t *vm, int64_t now, agent_vm_info_t *out)
{
    const json_t *d, *cp;
    const char *key;
    size_t i;

    memset(out, 0, sizeof(*out));
    snprintf(out->vm_id, sizeof(out->vm_id), "%s",
             json_string_value(json_object_get(vm, "vmId")) ?: "");
    snprintf(out->hypervisor_id, sizeof(out->hypervisor_id), "%s",
             json_string_value(json_object_get(vm, "hypervisorId")));
    snprintf(out->name, sizeof(out->name), "%s", json_string_value(json_object_get(vm, "name")) ?: "");
    if (agent_vm_power_parse(json_string_value(json_object_get(vm, "powerState")), &out->power) != 0)
        out->power = AGENT_VM_UNKNOWN;
    out->cores = (int) json_integer_value(json_object_get(vm, "cores"));
    out->memory_mb = (int) json_integer_value(json_object_get(vm, "memoryMB"));
    out->assigned_memory_mb = agent_sim__assigned_mb(s, vm);
    json_array_foreach(json_object_get(vm, "disks"), i, d) {
        if (out->ndisks == AGENT_MAX_DISKS)
            break;
        out->disks[out->ndisks].lun = json_is_integer(json_object_get(d, "lun"))
                                          ? (int) json_integer_value(json_object_get(d, "lun"))
                                          : -1;
        out->disks[out->ndisks++].size_gb = (int) json_integer_value(json_object_get(d, "sizeGB"));
    }
    json_object_foreach((json_t *) json_object_get(vm, "checkpoints"), key, cp) {
        agent_checkpoint_info_t *c = &out->checkpoints[out->ncheckpoints];
        if (out->ncheckpoints == AGENT_MAX_CHECKPOINTS)
            break;
        snprintf(c->id, sizeof(c->id), "%s", key);
        snprintf(c->name, sizeof(c->name), "%s", json_string_value(json_object_get(cp, "name")));
        c->size_gb = diff_size_gb(s, vm, cp, now);
        out->ncheckpoints++;
    }
    /* The guest agent answers only while the VM runs. */
    if (out->power == AGENT_VM_RUNNING)
        snprintf(out->guest_heartbeat, sizeof(out->guest_heartbeat), "%s", s->guest);
}

int
agent_sim__inventory(void *priv, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err)
{
    sim_t *s = priv;
    int64_t now = util_now_ms();
    const char *key;
    uint64_t end;
    json_t *vm;
    size_t n = 0;

    (void) call;
    agent_sim__lock(s);
    vms->vms = calloc(json_object_size(s->vms) + 1, sizeof(*vms->vms));
    if (vms->vms != NULL)
        json_object_foreach(s->vms, key, vm)
            vm_info(s, vm, now, &vms->vms[n++]);
    end = agent_sim__end(s);
    agent_sim__unlock(s);
    vms->n = n;
    if (vms->vms == NULL)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    if (agent_sim__sync(s, end, err) != 0) { /* what it reports is durable */
        agent_vm_list_free(vms);
        return -1;
    }
    return 0;
}

int
agent_sim__host_info(void *priv, const agent_call_t *call, agent_host_info_t *info,
                     agent_err_t *err)
{
    sim_t *s = priv;
    const char *key;
    uint64_t end;
    json_t *vm;

    (void) call;
    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "%s", s->host_id);
    snprintf(info->backend, sizeof(info->backend), "sim");
    snprintf(info->version, sizeof(info->version), "1");
    agent_sim__lock(s);
    info->vms = (int64_t) json_object_size(s->vms);
    json_object_foreach(s->vms, key, vm) {
        if (strcmp(json_string_value(json_object_get(vm, "powerState")), "deallocated") == 0)
            continue;
        info->used_cores += json_integer_value(json_object_get(vm, "cores"));
        info->used_memory_mb += json_integer_value(json_object_get(vm, "memoryMB"));
    }
    end = agent_sim__end(s);
    agent_sim__unlock(s);
    return agent_sim__sync(s, end, err);
}
