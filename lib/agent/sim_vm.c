/*
 * sim_vm.c: the simulator's VM operations (see sim_internal.h).
 *
 * Each changing slot of the driver is one apply function (op_*), run by agent_sim__run under the host's
 * lock and saved with the VM it changed, durably before the slot answers; the slots themselves only pack
 * their arguments. A VM is {hypervisorId, vmId, name, powerState, cores, memoryMB, memoryMinMB,
 * memoryMaxMB, generation, disks, nics, checkpoints, createdAt}, plus the growth account of
 * sim_checkpoint.c and, while its disks are being copied, copy (sim_volume.c). The memory it is assigned
 * follows from its bounds and the host's memoryDemand when it is read (agent_sim__assigned_mb): nothing of
 * it is stored.
 *
 * Every change is idempotent by its key, as agent.h asks of every driver: a create by the wapd VM id (a
 * second create answers the VM made before), power actions by the state they lead to (starting a running
 * VM and stopping a stopped one succeed and change nothing), a disk by its lun (attaching the same disk
 * again succeeds), deleting what is gone answers AGENT_ERR_NOT_FOUND.
 *
 * Copies: with copyMBps > 0 (uri), a VM whose OS disk is made from an image, or any of whose disks is a
 * clone of a volume, is created at once but its disks (the OS disk from an image, every clone) take their
 * size / copyMBps seconds to copy; until then every create of that VM answers AGENT_PENDING with the bytes
 * copied so far, and the first create after it answers AGENT_OK. A disk attached as a clone of a volume
 * keeps its own copy likewise: the attach, repeated, is the poll. The bytes copied are saved at every
 * poll, and a copy resumes from them when the host is opened again (sim_volume.c).
 */
#include "sim_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"

#define GB ((int64_t) 1024 * 1024 * 1024)

/* ---- shared by the operations (lock held) ---- */

json_t *
agent_sim__find_vm(sim_t *s, const char *hyp, agent_err_t *err)
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

void
agent_sim__settle(json_t *vm, int64_t now)
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

int
agent_sim__assigned_mb(const sim_t *s, const json_t *vm)
{
    int64_t mb = json_integer_value(json_object_get(vm, "memoryMB")), assigned;
    int64_t lo = json_integer_value(json_object_get(vm, "memoryMinMB"));
    int64_t hi = json_integer_value(json_object_get(vm, "memoryMaxMB"));

    assert(agent_sim__locked(s));
    if (strcmp(power_of(vm), "running") != 0)
        return 0;
    if (lo <= 0 || hi <= 0) /* static memory */
        return (int) mb;
    assigned = (int64_t) (s->memory_demand * (double) mb + 0.5); /* demand >= 0: rounds half up */
    if (assigned < lo)
        assigned = lo;
    if (assigned > hi)
        assigned = hi;
    return (int) assigned;
}

int
agent_sim__set_power(json_t *vm, const char *ps)
{
    int64_t now = util_now_ms();

    agent_sim__settle(vm, now);
    if (json_object_set_new(vm, "runningSinceMs",
                            strcmp(ps, "running") == 0 ? json_integer(now) : json_null()) ||
        json_object_set_new(vm, "powerState", json_string(ps)))
        return -1;
    return 0;
}

int
agent_sim__run(sim_t *s, agent_sim_apply_fn fn, void *args, char result[AGENT_ID_MAX],
               agent_err_t *err)
{
    char res[AGENT_ID_MAX] = "";
    agent_err_t local = {0};
    uint64_t end = 0;
    int rc;

    agent_sim__lock(s);
    s->dirty[0] = '\0';
    rc = fn(s, args, res, &local);
    if (agent_sim__save(s, &end, rc == 0 ? &local : NULL) != 0 && rc == 0)
        rc = -1;
    agent_sim__unlock(s);
    if (agent_sim__sync(s, end, rc == 0 ? &local : NULL) != 0 && rc == 0)
        rc = -1;
    if (rc != 0) {
        if (err)
            *err = local;
        return -1;
    }
    if (result)
        memcpy(result, res, AGENT_ID_MAX);
    return 0;
}

/* ---- create and delete ---- */

typedef struct {
    const agent_vm_spec_t *spec;
    agent_progress_t *progress;
} create_args_t;

static json_t *
disk_json(const agent_disk_spec_t *d)
{
    return json_pack("{s:o, s:s, s:i, s:s, s:s?, s:s?}", "lun",
                     d->lun < 0 ? json_null() : json_integer(d->lun), "kind",
                     d->lun < 0 ? "os" : "data", "sizeGB", d->size_gb, "caching",
                     agent_caching_name(d->caching), "imageId", d->image_id, "volumeId",
                     d->volume_id);
}

json_t *
agent_sim__vm_json(const agent_vm_spec_t *spec, const char *hyp)
{
    json_t *disks = json_array(), *nics = json_array();
    char now[UTIL_TIME_LEN + 1];
    int i;

    for (i = 0; i < spec->ndisks; i++)
        json_array_append_new(disks, disk_json(&spec->disks[i]));
    for (i = 0; i < spec->nnics; i++)
        json_array_append_new(nics, json_pack("{s:s?, s:s?, s:s?}", "networkId",
                                              spec->nics[i].network_id, "macAddress",
                                              spec->nics[i].mac, "ipAddress", spec->nics[i].ip));
    util_time_format(util_now_ms(), now);
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:{}, s:s}",
                     "hypervisorId", hyp, "vmId", spec->vm_id ? spec->vm_id : "", "name",
                     spec->name ? spec->name : "", "powerState", "stopped", "cores", spec->cores,
                     "memoryMB", spec->memory_mb, "memoryMinMB", spec->memory_min_mb,
                     "memoryMaxMB", spec->memory_max_mb, "generation", spec->generation, "disks",
                     disks, "nics", nics, "checkpoints", "createdAt", now);
}

/* How far the VM's copy is: AGENT_PENDING with the progress while it runs (its bytes saved), else 0 (the
 * copy done and forgotten); lock held. */
/* The bytes a create copies: the OS disk made from an image, and every disk cloned from a volume. */
static int64_t
copy_bytes(const agent_vm_spec_t *spec)
{
    int64_t bytes = 0;
    int i;

    for (i = 0; i < spec->ndisks; i++)
        if (spec->disks[i].volume_id != NULL || (i == 0 && spec->disks[i].image_id != NULL))
            bytes += (int64_t) spec->disks[i].size_gb * GB;
    return bytes;
}

static int
copy_progress(sim_t *s, json_t *vm, const agent_vm_spec_t *spec, agent_progress_t *progress,
              agent_err_t *err)
{
    if (json_object_get(vm, "copy") != NULL)
        snprintf(s->dirty, sizeof(s->dirty), "%s",
                 json_string_value(json_object_get(vm, "hypervisorId")));
    return agent_sim__copy_poll(s, vm, copy_bytes(spec), progress, err);
}

static int
op_vm_create(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    create_args_t *a = args;
    const agent_vm_spec_t *spec = a->spec;
    char uuid[UTIL_UUID_LEN + 1];
    json_t *vm = agent_sim__vm_of_wapd_id(s, spec->vm_id);

    if (vm == NULL) {
        util_uuid(uuid);
        snprintf(result, AGENT_ID_MAX, "sim-%s", uuid);
        vm = agent_sim__vm_json(spec, result);
        if (vm == NULL)
            return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        if (s->copy_mbps > 0 && copy_bytes(spec) > 0)
            json_object_set_new(vm, "copy", agent_sim__copy_new(copy_bytes(spec)));
        snprintf(s->dirty, sizeof(s->dirty), "%s", result);
        if (agent_sim__vm_put(s, result, vm) != 0)
            return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    }
    snprintf(result, AGENT_ID_MAX, "%s", json_string_value(json_object_get(vm, "hypervisorId")));
    return copy_progress(s, vm, spec, a->progress, err);
}

static int
op_vm_delete(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    const char *hyp = args;

    (void) result;
    if (agent_sim__find_vm(s, hyp, err) == NULL)
        return -1;
    agent_sim__vm_del(s, hyp);
    return 0;
}

/* ---- power and size ---- */

typedef struct {
    const char *hyp;
    agent_power_op_t op;
} power_args_t;

static int
op_vm_power(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    power_args_t *a = args;
    json_t *vm = agent_sim__find_vm(s, a->hyp, err);
    const char *ps;

    (void) result;
    if (vm == NULL)
        return -1;
    ps = power_of(vm);
    if (a->op == AGENT_POWER_START) {
        if (strcmp(ps, "running") != 0 && agent_sim__set_power(vm, "running"))
            return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        return 0; /* already running: success, as Start-VM answers */
    }
    if ((a->op == AGENT_POWER_STOP || a->op == AGENT_POWER_SHUTDOWN) && strcmp(ps, "stopped") == 0)
        return 0; /* the state the action leads to already */
    if (strcmp(ps, "running") != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The VM is not running.");
    if (a->op != AGENT_POWER_RESTART && agent_sim__set_power(vm, "stopped"))
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    return 0;
}

static int
op_vm_release(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    json_t *vm = agent_sim__find_vm(s, args, err);

    (void) result;
    if (vm == NULL)
        return -1;
    if (agent_sim__set_power(vm, "deallocated"))
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    return 0;
}

typedef struct {
    const char *hyp;
    int a, b;
    const agent_disk_spec_t *disk;
    agent_progress_t *progress;
} vm_args_t;

static int
op_vm_reconfigure(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = agent_sim__find_vm(s, a->hyp, err);

    (void) result;
    if (vm == NULL)
        return -1;
    if (strcmp(power_of(vm), "running") == 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "A running VM cannot be resized.");
    json_object_set_new(vm, "cores", json_integer(a->a));
    json_object_set_new(vm, "memoryMB", json_integer(a->b));
    return 0;
}

/* ---- disks ---- */

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

/* The bytes an attach copies: the disk's, when it is a clone of a volume. */
static int64_t
clone_bytes(const agent_disk_spec_t *d)
{
    return d->volume_id != NULL ? (int64_t) d->size_gb * GB : 0;
}

static int
op_disk_attach(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = agent_sim__find_vm(s, a->hyp, err), *disks, *disk;
    int i;

    (void) result;
    if (vm == NULL)
        return -1;
    disks = json_object_get(vm, "disks");
    if ((i = find_lun(disks, a->disk->lun)) >= 0) {
        disk = json_array_get(disks, (size_t) i);
        if (json_integer_value(json_object_get(disk, "sizeGB")) == a->disk->size_gb)
            return agent_sim__copy_poll(s, disk, clone_bytes(a->disk), a->progress,
                                        err); /* attached before */
        return agent_fail(err, AGENT_ERR_PERMANENT, "Lun %d is taken.", a->disk->lun);
    }
    disk = disk_json(a->disk);
    if (disk == NULL || json_array_append_new(disks, disk) != 0)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    if (s->copy_mbps > 0 && clone_bytes(a->disk) > 0)
        json_object_set_new(disk, "copy", agent_sim__copy_new(clone_bytes(a->disk)));
    return agent_sim__copy_poll(s, disk, clone_bytes(a->disk), a->progress, err);
}

static int
op_disk_detach(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = agent_sim__find_vm(s, a->hyp, err);
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

/* ---- the driver's slots ---- */

int
agent_sim__vm_create(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                     char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    create_args_t a = {spec, call->progress};

    return agent_sim__run(priv, op_vm_create, &a, hypervisor_id, err);
}

int
agent_sim__vm_delete(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    (void) call;
    return agent_sim__run(priv, op_vm_delete, (void *) hyp, NULL, err);
}

int
agent_sim__vm_power(void *priv, const agent_call_t *call, const char *hyp, agent_power_op_t op,
                    agent_err_t *err)
{
    power_args_t a = {hyp, op};

    (void) call;
    return agent_sim__run(priv, op_vm_power, &a, NULL, err);
}

int
agent_sim__vm_release(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    (void) call;
    return agent_sim__run(priv, op_vm_release, (void *) hyp, NULL, err);
}

int
agent_sim__vm_reconfigure(void *priv, const agent_call_t *call, const char *hyp, int cores,
                          int memory_mb, agent_err_t *err)
{
    vm_args_t a = {hyp, cores, memory_mb, NULL, NULL};

    (void) call;
    return agent_sim__run(priv, op_vm_reconfigure, &a, NULL, err);
}

int
agent_sim__disk_attach(void *priv, const agent_call_t *call, const char *hyp,
                       const agent_disk_spec_t *disk, agent_err_t *err)
{
    vm_args_t a = {hyp, 0, 0, disk, call->progress};

    return agent_sim__run(priv, op_disk_attach, &a, NULL, err);
}

int
agent_sim__disk_detach(void *priv, const agent_call_t *call, const char *hyp, int lun,
                       agent_err_t *err)
{
    vm_args_t a = {hyp, lun, 0, NULL, NULL};

    (void) call;
    return agent_sim__run(priv, op_disk_detach, &a, NULL, err);
}
