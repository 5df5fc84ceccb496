/*
 * sim_state.c: the simulator's durable state (see sim_internal.h).
 *
 * The host's VMs and volumes live in one append log (applog.h), STATE_DIR/sim/<host id>.log: each line is
 * a VM's whole record (as sim_vm.c keeps it) or the deletion of one, {"hypervisorId": id, "deleted": true},
 * or likewise a volume's record (as sim_volume.c keeps it, with no hypervisorId at its top) or its
 * deletion, {"volumeId": id, "deleted": true}; the last line of an id wins. A copy under way is in the
 * record of what it makes, with the bytes copied at its last poll; at open every such copy resumes from
 * those bytes (agent_sim__copies_resume). A call appends the record of the VM (and the volume) it changed
 * under the host's lock and makes it durable (a group fdatasync shared with concurrent calls) after
 * releasing the lock, before it answers: the journal decorator records the answer only after the call,
 * and relies on that. So, like a real host, the simulator has its VMs and volumes after the daemon
 * restarts, crash included. When the log holds twice as many lines as live VMs and volumes (plus a floor)
 * it is rewritten with the live ones. A host opened without a state directory keeps everything in memory.
 *
 * Earlier versions kept one file per VM, STATE_DIR/sim/<host id>/<hypervisor id>.json (which may carry a
 * record of answers, _ops, or be the tombstone of a deleted VM, {deleted}). At open such a directory is
 * read once, its VMs appended to the log and synced, and then it is removed; a VM the log already has
 * (a migration interrupted by a crash, redone) keeps its logged record.
 *
 * Invariants: s->vms holds every live VM and s->volumes every live volume; s->by_vm_id maps the vmId of
 * every live VM that has one to its hypervisor id; the first two are changed only through agent_sim__vm_put
 * and agent_sim__vm_del, the volumes only by sim_volume.c, with the host's lock held (or at open, before
 * the host is shared); every change of s->vms and s->volumes is appended to the log under the same lock, in
 * the same order.
 */
#include "sim_internal.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../sysio.h"
#include "../util.h"
#include "applog.h"

/* The log is compacted when it holds 2 x live VMs + this many lines. */
#define SIM_LOG_FLOOR 1024

/* ---- the in-memory state ---- */

static const char *
vm_id_of(const json_t *vm)
{
    const char *id = json_string_value(json_object_get(vm, "vmId"));

    return id != NULL && id[0] != '\0' ? id : NULL;
}

int
agent_sim__vm_put(sim_t *s, const char *hyp, json_t *vm)
{
    const char *id = vm_id_of(vm);

    assert(hyp != NULL && vm != NULL);
    if (json_object_set_new(s->vms, hyp, vm) != 0)
        return -1;
    if (id != NULL && json_object_set_new(s->by_vm_id, id, json_string(hyp)) != 0) {
        /* A VM its wapd id does not find would be made a second time by the next create of that id: a
         * new one is not kept (one already indexed is, unchanged in its index). */
        if (strcmp(json_string_value(json_object_get(s->by_vm_id, id)) ?: "", hyp) != 0)
            json_object_del(s->vms, hyp);
        return -1;
    }
    return 0;
}

void
agent_sim__vm_del(sim_t *s, const char *hyp)
{
    json_t *vm = json_object_get(s->vms, hyp);
    const char *id = vm_id_of(vm);

    if (vm == NULL)
        return;
    if (id != NULL &&
        strcmp(json_string_value(json_object_get(s->by_vm_id, id)) ?: "", hyp) == 0)
        json_object_del(s->by_vm_id, id);
    json_object_del(s->vms, hyp);
}

json_t *
agent_sim__vm_of_wapd_id(sim_t *s, const char *vm_id)
{
    const char *hyp;
    json_t *vm;

    assert(agent_sim__locked(s));
    if (vm_id == NULL || vm_id[0] == '\0')
        return NULL;
    hyp = json_string_value(json_object_get(s->by_vm_id, vm_id));
    vm = hyp != NULL ? json_object_get(s->vms, hyp) : NULL;
    return vm != NULL && strcmp(vm_id_of(vm) ?: "", vm_id) == 0 ? vm : NULL;
}

/* ---- the log ---- */

/* Writes every record of set through emit. */
static int
emit_all(json_t *set, applog_emit_fn emit, void *emit_ctx)
{
    void *it;
    char *text;
    int rc = 0;

    for (it = json_object_iter(set); it != NULL && rc == 0; it = json_object_iter_next(set, it)) {
        text = util_json_dumps(json_object_iter_value(it), JSON_COMPACT);
        rc = text == NULL ? -1 : emit(emit_ctx, text, strlen(text));
        free(text);
    }
    return rc;
}

/* Writes every live VM and volume through emit (compaction; lock held). */
static int
live_records(void *ctx, applog_emit_fn emit, void *emit_ctx)
{
    sim_t *s = ctx;

    assert(agent_sim__locked(s));
    return emit_all(s->vms, emit, emit_ctx) || emit_all(s->volumes, emit, emit_ctx) ? -1 : 0;
}

/* Appends the record of id in set (its deletion, {key: id, deleted}, when it is gone); lock held or not
 * shared. */
static int
append_rec(sim_t *s, json_t *set, const char *key, const char *id, uint64_t *end)
{
    json_t *rec = json_object_get(set, id), *gone = NULL;
    char *text;
    int rc;

    if (rec == NULL)
        rec = gone = json_pack("{s:s, s:b}", key, id, "deleted", 1);
    text = rec != NULL ? util_json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(gone);
    rc = text == NULL || applog_append(s->log, text, strlen(text), end) != 0 ? -1 : 0;
    free(text);
    return rc;
}

static int
append_vm(sim_t *s, const char *hyp, uint64_t *end)
{
    return append_rec(s, s->vms, "hypervisorId", hyp, end);
}

int
agent_sim__save(sim_t *s, uint64_t *end, agent_err_t *err)
{
    assert(agent_sim__locked(s) && end != NULL);
    if (s->log == NULL) {
        s->dirty[0] = s->dirty_volume[0] = '\0';
        return 0;
    }
    *end = applog_end(s->log); /* changed nothing, but may answer from a change not yet synced */
    if ((s->dirty[0] != '\0' && append_vm(s, s->dirty, end) != 0) ||
        (s->dirty_volume[0] != '\0' &&
         append_rec(s, s->volumes, "volumeId", s->dirty_volume, end) != 0)) {
        s->dirty[0] = s->dirty_volume[0] = '\0';
        return agent_fail(err, AGENT_ERR_TRANSIENT, "The simulated host could not save its state.");
    }
    s->dirty[0] = s->dirty_volume[0] = '\0';
    if (applog_needs_compact(s->log, json_object_size(s->vms) + json_object_size(s->volumes),
                             SIM_LOG_FLOOR))
        applog_compact(s->log, live_records, s); /* on failure the next change tries again */
    return 0;
}

uint64_t
agent_sim__end(sim_t *s)
{
    assert(agent_sim__locked(s));
    return s->log != NULL ? applog_end(s->log) : 0;
}

int
agent_sim__sync(sim_t *s, uint64_t end, agent_err_t *err)
{
    assert(!agent_sim__locked(s));
    if (s->log == NULL || end == 0 || applog_sync(s->log, end) == 0)
        return 0;
    return agent_fail(err, AGENT_ERR_TRANSIENT, "The simulated host could not save its state.");
}

/* Takes one record (stolen) read back from the log or an old VM file; replace: whether it overrides a VM
 * of the same id already read. -1 when it is not a VM's record. */
static int
take_record(sim_t *s, json_t *doc, bool replace)
{
    const char *hyp = json_string_value(json_object_get(doc, "hypervisorId"));
    int rc = 0;

    if (hyp == NULL)
        rc = -1;
    else if (!replace && json_object_get(s->vms, hyp) != NULL)
        ; /* the log has it already */
    else if (json_is_true(json_object_get(doc, "deleted")))
        agent_sim__vm_del(s, hyp);
    else {
        json_object_del(doc, "_ops");
        rc = agent_sim__vm_put(s, hyp, json_incref(doc));
    }
    json_decref(doc);
    return rc;
}

static int
replay_line(void *ctx, const char *line, size_t len)
{
    json_t *doc = json_loadb(line, len, 0, NULL);
    int rc;

    if (!json_is_object(doc)) {
        json_decref(doc);
        return -1;
    }
    if (json_object_get(doc, "hypervisorId") != NULL)
        return take_record(ctx, doc, true);
    rc = agent_sim__volume_take(ctx, doc);
    json_decref(doc);
    return rc;
}

/* ---- the old per-VM directory ---- */

/* Reads every VM file of dir (in parent) into the state and the log, syncs the log, then removes the
 * directory. */
static int
migrate(sim_t *s, const char *parent, const char *dir, agent_err_t *err)
{
    char file[2 * PATH_MAX];
    const char *hyp;
    struct dirent *de;
    uint64_t end = 0;
    json_t *doc;
    DIR *d = opendir(dir);
    size_t n;
    int ok = 1;

    if (d == NULL)
        return errno == ENOENT ? 0 : agent_fail(err, AGENT_ERR_PERMANENT,
                                                "The simulated host's old state cannot be read.");
    while (ok && (de = readdir(d)) != NULL) {
        n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(file, sizeof(file), "%s/%s", dir, de->d_name);
        doc = json_load_file(file, 0, NULL);
        hyp = json_string_value(json_object_get(doc, "hypervisorId"));
        ok = hyp != NULL && !json_object_get(s->vms, hyp) && !json_is_true(json_object_get(doc, "deleted"))
                 ? take_record(s, json_incref(doc), false) == 0 && append_vm(s, hyp, &end) == 0
                 : json_is_object(doc);
        json_decref(doc);
    }
    if (!ok) {
        closedir(d);
        return agent_fail(err, AGENT_ERR_PERMANENT, "A simulated VM's state file is unreadable.");
    }
    ok = end == 0 || applog_sync(s->log, end) == 0;
    rewinddir(d);
    while (ok && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(file, sizeof(file), "%s/%s", dir, de->d_name);
        ok = unlink(file) == 0 || errno == ENOENT;
    }
    /* The removal is made durable before any call: an old file back after a crash would bring back
     * a VM deleted since. */
    ok = ok && fsync(dirfd(d)) == 0;
    closedir(d);
    if (!ok || rmdir(dir) != 0 || sysio_fsync_dir(parent) != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The simulated host could not move its old state.");
    return 0;
}

int
agent_sim__load(sim_t *s, const char *state_dir, agent_err_t *err)
{
    char dir[PATH_MAX], path[PATH_MAX + AGENT_ID_MAX + 8];
    int rc;

    s->vms = json_object();
    s->by_vm_id = json_object();
    s->volumes = json_object();
    if (s->vms == NULL || s->by_vm_id == NULL || s->volumes == NULL)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    if (state_dir == NULL || state_dir[0] == '\0')
        return 0;
    if (snprintf(dir, sizeof(dir), "%s/sim", state_dir) >= (int) sizeof(dir) ||
        (mkdir(dir, 0700) != 0 && errno != EEXIST))
        return agent_fail(err, AGENT_ERR_PERMANENT, "The simulated host has no state directory.");
    snprintf(path, sizeof(path), "%s/%s.log", dir, s->host_id);
    rc = applog_open(path, replay_line, s, &s->log);
    if (rc == APPLOG_ERR_DAMAGED)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The simulated host's state is damaged.");
    if (rc != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The simulated host's state cannot be opened.");
    snprintf(path, sizeof(path), "%s/%s", dir, s->host_id);
    if (migrate(s, dir, path, err) != 0)
        return -1;
    agent_sim__copies_resume(s);
    return 0;
}

void
agent_sim__state_free(sim_t *s)
{
    applog_close(s->log);
    s->log = NULL;
    json_decref(s->vms);
    json_decref(s->by_vm_id);
    json_decref(s->volumes);
    s->vms = s->by_vm_id = s->volumes = NULL;
}
