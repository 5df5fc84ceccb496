/*
 * sim_volume.c: the simulator's volumes, the progress of its copies, and VM imports (see sim_internal.h).
 *
 * A volume is {volumeId, sizeGB, from, createdAt} and, while it is being copied, copy: from is
 * {hypervisorId, vmId, lun} for a snapshot of a VM's disk (lun null: the OS disk), {hostId, volumeId} for
 * a copy of another host's volume. Each is keyed by its volume id, as agent.h asks: a snapshot of an id
 * already there answers that volume's size, a copy of an id already there is a poll of it, deleting what
 * is gone is AGENT_ERR_NOT_FOUND (and deleting a volume being copied drops the copy). A snapshot is instant
 * in any power state; the simulator does not need the source of a copy or a clone to be on this host,
 * storage being shared within a cloud and the source of a copy elsewhere.
 *
 * Copies: a copy is {bytesTotal, bytesCopied, atMs}: the bytes copied as of atMs, its last poll. A poll
 * advances bytesCopied by the time since atMs at the uri's copyMBps (0: at once) and the caller saves the
 * record holding it, so what the log holds is the progress of the last poll. When the host is opened again
 * (the daemon restarted, crash included) every unfinished copy gets atMs = the time of the open: it goes
 * on from the bytes it had, and neither starts again nor leaps by the time the host was down. A VM's copy
 * (its disks made from an image or cloned from volumes, or an import), a disk's (a clone attached) and a
 * volume's (a copy) all follow this one rule.
 *
 * Imports (a migration): the VM of spec is made at once, keyed by its wapd VM id like a create, with the
 * power state it will have when the import ends and a checkpoint (new id) per name of the source; its copy
 * counts its disks and, when it runs (a live migration), its memory. While the copy runs the inventory
 * lists the VM as it will be, in that power state: the simulator models the target of a live migration,
 * whose VM is there, paused in all but name, until the switch-over; the daemon's record still points at
 * the source host until the import answers AGENT_OK.
 */
#include "sim_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../util.h"

#define GB ((int64_t) 1024 * 1024 * 1024)
#define MB ((int64_t) 1024 * 1024)

/* ---- copies ---- */

json_t *
agent_sim__copy_new(int64_t bytes_total)
{
    return json_pack("{s:I, s:I, s:I}", "bytesTotal", (json_int_t) bytes_total, "bytesCopied",
                     (json_int_t) 0, "atMs", (json_int_t) util_now_ms());
}

int
agent_sim__copy_poll(sim_t *s, json_t *holder, int64_t bytes, agent_progress_t *progress,
                     agent_err_t *err)
{
    json_t *copy = json_object_get(holder, "copy");
    int64_t total, copied, now = util_now_ms(), at;

    assert(agent_sim__locked(s));
    if (copy == NULL) {
        if (progress)
            progress->bytes_copied = progress->bytes_total = bytes;
        return 0;
    }
    total = json_integer_value(json_object_get(copy, "bytesTotal"));
    copied = json_integer_value(json_object_get(copy, "bytesCopied"));
    at = json_integer_value(json_object_get(copy, "atMs"));
    if (s->copy_mbps <= 0)
        copied = total;
    else if (now > at)
        copied += (int64_t) ((double) (now - at) / 1000.0 * s->copy_mbps * (double) MB);
    if (copied > total || copied < 0)
        copied = total;
    if (progress) {
        progress->bytes_total = total;
        progress->bytes_copied = copied;
    }
    if (copied >= total) {
        json_object_del(holder, "copy");
        return 0;
    }
    json_object_set_new(copy, "bytesCopied", json_integer(copied));
    json_object_set_new(copy, "atMs", json_integer(now));
    return agent_fail(err, AGENT_PENDING, "A copy is under way: %lld of %lld bytes.",
                      (long long) copied, (long long) total);
}

/* Restarts the clock of holder's copy at now; an older record's copy ({startedMs, bytesTotal}, with no
 * bytes saved) goes on from 0. */
static void
resume_one(json_t *holder, int64_t now)
{
    json_t *copy = json_object_get(holder, "copy");

    if (copy == NULL)
        return;
    if (!json_is_integer(json_object_get(copy, "bytesCopied")))
        json_object_set_new(copy, "bytesCopied", json_integer(0));
    json_object_del(copy, "startedMs");
    json_object_set_new(copy, "atMs", json_integer(now));
}

void
agent_sim__copies_resume(sim_t *s)
{
    int64_t now = util_now_ms();
    const char *key;
    json_t *rec, *disk;
    size_t i;

    json_object_foreach(s->vms, key, rec) {
        resume_one(rec, now);
        json_array_foreach(json_object_get(rec, "disks"), i, disk)
            resume_one(disk, now);
    }
    json_object_foreach(s->volumes, key, rec)
        resume_one(rec, now);
}

/* ---- volumes ---- */

int
agent_sim__volume_take(sim_t *s, json_t *doc)
{
    const char *id = json_string_value(json_object_get(doc, "volumeId"));

    if (id == NULL)
        return -1;
    if (json_is_true(json_object_get(doc, "deleted"))) {
        json_object_del(s->volumes, id);
        return 0;
    }
    return json_object_set(s->volumes, id, doc);
}

/* Adds volume id, made from from (stolen), of size_gb, with a copy of it under way when copy; lock held. */
static json_t *
volume_put(sim_t *s, const char *id, int64_t size_gb, json_t *from, bool copy, agent_err_t *err)
{
    char now[UTIL_TIME_LEN + 1];
    json_t *v;

    util_time_format(util_now_ms(), now);
    v = json_pack("{s:s, s:I, s:o, s:s}", "volumeId", id, "sizeGB", (json_int_t) size_gb, "from",
                  from, "createdAt", now);
    if (v != NULL && copy && s->copy_mbps > 0)
        json_object_set_new(v, "copy", agent_sim__copy_new(size_gb * GB));
    if (v == NULL || json_object_set_new(s->volumes, id, v) != 0) {
        agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        return NULL;
    }
    snprintf(s->dirty_volume, sizeof(s->dirty_volume), "%s", id);
    return v;
}

typedef struct {
    const char *hyp;
    int lun;
    const char *volume_id;
    int64_t *size_gb;
    const agent_volume_src_t *src;
    agent_progress_t *progress;
} volume_args_t;

static int
op_volume_snapshot(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    volume_args_t *a = args;
    json_t *v = json_object_get(s->volumes, a->volume_id), *vm, *d = NULL, *each, *lun;
    size_t i;

    (void) result;
    if (v == NULL) {
        vm = json_object_get(s->vms, a->hyp);
        if (vm == NULL)
            return agent_fail(err, AGENT_ERR_NOT_FOUND, "The host has no VM %s.", a->hyp);
        json_array_foreach(json_object_get(vm, "disks"), i, each) {
            lun = json_object_get(each, "lun");
            if (d == NULL && json_is_integer(lun) == (a->lun >= 0) &&
                (a->lun < 0 || json_integer_value(lun) == a->lun))
                d = each;
        }
        if (d == NULL)
            return agent_fail(err, AGENT_ERR_NOT_FOUND, "The VM has no disk at lun %d.", a->lun);
        v = volume_put(s, a->volume_id, json_integer_value(json_object_get(d, "sizeGB")),
                       json_pack("{s:s, s:O, s:O}", "hypervisorId", a->hyp, "vmId",
                                 json_object_get(vm, "vmId"), "lun", json_object_get(d, "lun")),
                       false, err);
        if (v == NULL)
            return -1;
    }
    *a->size_gb = json_integer_value(json_object_get(v, "sizeGB"));
    return 0;
}

static int
op_volume_copy(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    volume_args_t *a = args;
    json_t *v = json_object_get(s->volumes, a->volume_id);

    (void) result;
    if (v == NULL)
        v = volume_put(s, a->volume_id, a->src->size_gb,
                       json_pack("{s:s, s:s}", "hostId", a->src->host_id, "volumeId",
                                 a->src->volume_id),
                       true, err);
    if (v == NULL)
        return -1;
    if (json_object_get(v, "copy") != NULL)
        snprintf(s->dirty_volume, sizeof(s->dirty_volume), "%s", a->volume_id);
    return agent_sim__copy_poll(s, v, json_integer_value(json_object_get(v, "sizeGB")) * GB, a->progress,
                                err);
}

static int
op_volume_delete(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    volume_args_t *a = args;

    (void) result;
    if (json_object_get(s->volumes, a->volume_id) == NULL)
        return agent_fail(err, AGENT_ERR_NOT_FOUND, "The host has no volume %s.", a->volume_id);
    json_object_del(s->volumes, a->volume_id); /* a copy under way goes with it */
    snprintf(s->dirty_volume, sizeof(s->dirty_volume), "%s", a->volume_id);
    return 0;
}

/* ---- imports ---- */

typedef struct {
    const agent_vm_spec_t *spec;
    const agent_vm_source_t *src;
    agent_progress_t *progress;
} import_args_t;

/* The bytes an import copies: every disk, and the memory of a running VM. */
static int64_t
import_bytes(const agent_vm_spec_t *spec, const agent_vm_source_t *src)
{
    int64_t bytes = src->power == AGENT_VM_RUNNING ? (int64_t) spec->memory_mb * MB : 0;
    int i;

    for (i = 0; i < spec->ndisks; i++)
        bytes += (int64_t) spec->disks[i].size_gb * GB;
    return bytes;
}

static int
op_vm_import(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    import_args_t *a = args;
    char uuid[UTIL_UUID_LEN + 1], cp[AGENT_ID_MAX];
    json_t *vm = agent_sim__vm_of_wapd_id(s, a->spec->vm_id);
    int i;

    if (vm == NULL) {
        util_uuid(uuid);
        snprintf(result, AGENT_ID_MAX, "sim-%s", uuid);
        vm = agent_sim__vm_json(a->spec, result);
        if (vm == NULL || agent_sim__vm_put(s, result, vm) != 0)
            return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        /* Listed from now on in the power state it will have (see the top of this file). */
        agent_sim__set_power(vm, agent_vm_power_name(a->src->power));
        for (i = 0; i < a->src->ncheckpoints; i++)
            agent_sim__checkpoint_add(vm, a->src->checkpoints[i], cp);
        if (s->copy_mbps > 0 && import_bytes(a->spec, a->src) > 0)
            json_object_set_new(vm, "copy", agent_sim__copy_new(import_bytes(a->spec, a->src)));
    }
    snprintf(result, AGENT_ID_MAX, "%s", json_string_value(json_object_get(vm, "hypervisorId")));
    snprintf(s->dirty, sizeof(s->dirty), "%s", result);
    return agent_sim__copy_poll(s, vm, import_bytes(a->spec, a->src), a->progress, err);
}

/* ---- the driver's slots ---- */

int
agent_sim__volume_snapshot(void *priv, const agent_call_t *call, const char *hyp, int lun,
                           const char *volume_id, int64_t *size_gb, agent_err_t *err)
{
    int64_t size = 0;
    volume_args_t a = {hyp, lun, volume_id, &size, NULL, call->progress};

    if (agent_sim__run(priv, op_volume_snapshot, &a, NULL, err) != 0)
        return -1;
    *size_gb = size;
    return 0;
}

int
agent_sim__volume_copy(void *priv, const agent_call_t *call, const agent_volume_src_t *src,
                       const char *volume_id, agent_err_t *err)
{
    volume_args_t a = {NULL, 0, volume_id, NULL, src, call->progress};

    return agent_sim__run(priv, op_volume_copy, &a, NULL, err);
}

int
agent_sim__volume_delete(void *priv, const agent_call_t *call, const char *volume_id,
                         agent_err_t *err)
{
    volume_args_t a = {NULL, 0, volume_id, NULL, NULL, NULL};

    (void) call;
    return agent_sim__run(priv, op_volume_delete, &a, NULL, err);
}

int
agent_sim__vm_import(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                     const agent_vm_source_t *src, char hypervisor_id[AGENT_ID_MAX],
                     agent_err_t *err)
{
    import_args_t a = {spec, src, call->progress};

    return agent_sim__run(priv, op_vm_import, &a, hypervisor_id, err);
}
