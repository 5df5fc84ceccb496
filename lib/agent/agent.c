/*
 * agent.c: the registry of agent drivers and the one dispatch layer over them (see agent.h).
 *
 * The registry answers every question about a kind (known, its uri, its default uri, remote, simulator
 * controls) so that no module outside lib/agent/ names one. The dispatch layer checks the arguments every
 * call shares (an agent, an operation id, a hypervisor id where one is needed), fills in the operation's
 * default timeout, turns an empty slot into AGENT_ERR_UNSUPPORTED, and makes sure a failed call always
 * carries a typed error with a message. Drivers never see a call this layer refused.
 *
 * It is also the injection point of the FAULT_AGENT class (lib/fault.h): once a call has passed the shared
 * checks, an armed fault fails it before the driver sees it: with AGENT_ERR_TRANSIENT, as a host that did
 * not take the call would, or with AGENT_ERR_PERMANENT when the fault was armed FAULT_PERMANENT. A call a
 * decorator forwards to the agent it wraps comes through here again; only the outermost is counted.
 *
 * Invariants: the driver table is written under drivers_lock and only grows; an agent_t's driver and priv
 * never change while it is open.
 */
#include "agent_internal.h"
#include "libvirt.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../fault.h"
#include "../util.h"

#define MAX_DRIVERS 8

static const agent_driver_t *drivers[MAX_DRIVERS];
static const char *kind_names[MAX_DRIVERS + 1];
static int ndrivers;
static pthread_mutex_t drivers_lock = PTHREAD_MUTEX_INITIALIZER;

/* How deep this thread is in dispatched calls: a decorator's forward is not the outermost call. */
static _Thread_local int call_depth;

int
agent_fail(agent_err_t *err, agent_status_t status, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return -1;
    err->status = status;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

static const char *const status_names[] = {"ok",          "transient", "permanent",   "timeout",
                                           "notFound",    "unsupported", "conflict",
                                           "unreachable", "pending"};

const char *
agent_status_name(agent_status_t status)
{
    if ((unsigned) status < sizeof(status_names) / sizeof(status_names[0]))
        return status_names[status];
    return "unknown";
}

/* ---- the registry ---- */

int
agent_register(const agent_driver_t *driver)
{
    int i, rc = 0;

    if (driver == NULL || driver->name == NULL || driver->check_uri == NULL ||
        driver->open == NULL || driver->close == NULL)
        return -1;
    pthread_mutex_lock(&drivers_lock);
    for (i = 0; i < ndrivers; i++)
        if (strcmp(drivers[i]->name, driver->name) == 0) {
            rc = drivers[i] == driver ? 0 : -1; /* registered already (or a different driver) */
            break;
        }
    if (i == ndrivers && rc == 0) {
        if (ndrivers == MAX_DRIVERS) {
            rc = -1;
        } else {
            kind_names[ndrivers] = driver->name;
            drivers[ndrivers++] = driver;
        }
    }
    pthread_mutex_unlock(&drivers_lock);
    return rc;
}

int
agent_builtin_register(void)
{
    if (agent_sim_register() || agent_http_register() || agent_libvirt_register())
        return -1;
    return 0;
}

static const agent_driver_t *
find_driver(const char *kind)
{
    const agent_driver_t *d = NULL;
    int i;

    pthread_mutex_lock(&drivers_lock);
    for (i = 0; i < ndrivers && kind; i++)
        if (strcmp(drivers[i]->name, kind) == 0)
            d = drivers[i];
    pthread_mutex_unlock(&drivers_lock);
    return d;
}

bool
agent_kind_known(const char *kind)
{
    return find_driver(kind) != NULL;
}

const char *const *
agent_kinds(void)
{
    return kind_names; /* only grows, at start-up; NULL-terminated by its spare slot */
}

int
agent_check_uri(const char *kind, const char *uri, agent_err_t *err)
{
    const agent_driver_t *d = find_driver(kind);

    if (err)
        memset(err, 0, sizeof(*err));
    if (d == NULL)
        return agent_fail(err, AGENT_ERR_UNSUPPORTED, "No agent driver of kind '%s' is available.",
                          kind ? kind : "");
    if (uri == NULL || uri[0] == '\0')
        return d->default_uri != NULL
                   ? 0
                   : agent_fail(err, AGENT_ERR_PERMANENT, "A %s host needs a uri.", d->name);
    if (d->check_uri(uri, err) != 0) {
        if (err && err->status == AGENT_OK)
            agent_fail(err, AGENT_ERR_PERMANENT, "The uri is not one a %s host takes.", d->name);
        return -1;
    }
    return 0;
}

const char *
agent_default_uri(const char *kind)
{
    const agent_driver_t *d = find_driver(kind);

    return d ? d->default_uri : NULL;
}

bool
agent_kind_can_simulate(const char *kind)
{
    const agent_driver_t *d = find_driver(kind);

    return d != NULL && d->simulate != NULL;
}

bool
agent_kind_remote(const char *kind)
{
    const agent_driver_t *d = find_driver(kind);

    return d != NULL && d->remote;
}

/* ---- an open agent ---- */

agent_t *
agent__new(const agent_driver_t *d, void *priv)
{
    agent_t *a = calloc(1, sizeof(*a));

    assert(d != NULL);
    if (a != NULL) {
        a->driver = d;
        a->priv = priv;
    }
    return a;
}

/* The journal's file for the host: STATE_DIR/journal/<host id>.log, its directory made; "" when the agent
 * keeps no files. -1 when the directory cannot be made. */
static int
journal_path(const agent_conf_t *conf, char path[PATH_MAX], agent_err_t *err)
{
    char dir[PATH_MAX];

    path[0] = '\0';
    if (conf->state_dir == NULL || conf->state_dir[0] == '\0')
        return 0;
    if (snprintf(dir, sizeof(dir), "%s/journal", conf->state_dir) >= (int) sizeof(dir) ||
        snprintf(path, PATH_MAX, "%s/%s.log", dir, conf->host_id) >= PATH_MAX)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The agent's journal path is too long.");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The agent's journal directory cannot be made.");
    return 0;
}

agent_t *
agent_open(const char *kind, const agent_conf_t *conf, agent_err_t *err)
{
    const agent_driver_t *d = find_driver(kind);
    agent_conf_t eff;
    agent_chaos_t chaos;
    char path[PATH_MAX];
    void *priv = NULL;
    agent_t *a;

    if (err)
        memset(err, 0, sizeof(*err));
    if (d == NULL) {
        agent_fail(err, AGENT_ERR_UNSUPPORTED, "No agent driver of kind '%s' is available.",
                   kind ? kind : "");
        return NULL;
    }
    assert(conf != NULL && conf->host_id != NULL);
    eff = *conf;
    if (eff.uri == NULL || eff.uri[0] == '\0')
        eff.uri = d->default_uri;
    if (agent_check_uri(kind, eff.uri, err) || agent_chaos_parse(eff.uri, &chaos, err) ||
        (!d->journals && journal_path(&eff, path, err)))
        return NULL;
    if (d->open(&eff, &priv, err) != 0) {
        if (err && err->status == AGENT_OK)
            agent_fail(err, AGENT_ERR_PERMANENT, "The %s agent could not be opened.", d->name);
        return NULL;
    }
    a = agent__new(d, priv);
    if (a == NULL) {
        d->close(priv);
        agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        return NULL;
    }
    a = agent_chaos_wrap(a, &chaos, err);
    if (a != NULL && !d->journals)
        a = agent_journal_wrap(a, path[0] ? path : NULL, err);
    return a;
}

void
agent_close(agent_t *a)
{
    if (a == NULL)
        return;
    assert(a->driver != NULL);
    a->driver->close(a->priv);
    free(a);
}

static int finish(int rc, agent_err_t *err);

int
agent_reconfigure(agent_t *a, const agent_conf_t *conf, agent_err_t *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
    if (a == NULL)
        return agent_fail(err, AGENT_ERR_PERMANENT, "No agent is open for this host.");
    if (a->driver->reconfigure == NULL)
        return agent_fail(err, AGENT_ERR_UNSUPPORTED, "The %s agent cannot change its uri.",
                          a->driver->name);
    return finish(a->driver->reconfigure(a->priv, conf, err), err);
}

/* The shared checks of every call; fills *eff with the effective call. */
static int
precheck(agent_t *a, agent_op_t op, const agent_call_t *call, const char *hypervisor_id,
         bool need_vm, const void *slot, agent_call_t *eff, agent_err_t *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
    if (a == NULL)
        return agent_fail(err, AGENT_ERR_PERMANENT, "No agent is open for this host.");
    if (slot == NULL)
        return agent_fail(err, AGENT_ERR_UNSUPPORTED, "The %s agent does not support this call.",
                          a->driver->name);
    if (call == NULL || call->op_id == NULL || call->op_id[0] == '\0')
        return agent_fail(err, AGENT_ERR_PERMANENT, "An agent call needs an operation id.");
    if (need_vm && (hypervisor_id == NULL || hypervisor_id[0] == '\0'))
        return agent_fail(err, AGENT_ERR_PERMANENT, "An agent call needs a hypervisor id.");
    *eff = *call;
    if (eff->timeout_ms <= 0)
        eff->timeout_ms = agent_op_timeout_ms(op);
    if (call_depth == 0 && fault_hit(FAULT_AGENT))
        return fault_permanent(FAULT_AGENT)
                   ? agent_fail(err, AGENT_ERR_PERMANENT, "The host refused the call (injected fault).")
                   : agent_fail(err, AGENT_ERR_TRANSIENT,
                                "The host did not take the call (injected fault).");
    return 0;
}

/* A driver that failed without saying why still answers a typed error; a pending answer is not done. */
static int
finish(int rc, agent_err_t *err)
{
    if (rc != 0 && err && err->status == AGENT_OK)
        agent_fail(err, AGENT_ERR_TRANSIENT, "The agent call failed.");
    return rc == 0 ? 0 : -1;
}

#define DISPATCH(op, slot, need_vm, hyp, ...)                                                      \
    do {                                                                                           \
        agent_call_t eff;                                                                          \
        int rc_;                                                                                   \
        if (precheck(a, op, call, hyp, need_vm, a ? (const void *) a->driver->slot : NULL, &eff,  \
                     err))                                                                         \
            return -1;                                                                             \
        call_depth++;                                                                              \
        rc_ = a->driver->slot(a->priv, &eff, __VA_ARGS__);                                         \
        call_depth--;                                                                              \
        return finish(rc_, err);                                                                   \
    } while (0)

/* 0 when spec describes a VM a host can make, else -1 with a permanent error. */
static int
check_spec(const agent_vm_spec_t *spec, agent_err_t *err)
{
    if (spec == NULL || spec->vm_id == NULL || spec->vm_id[0] == '\0' || spec->cores <= 0 ||
        spec->memory_mb <= 0 || spec->ndisks < 1 || spec->ndisks > AGENT_MAX_DISKS ||
        spec->nnics < 0 || spec->nnics > AGENT_MAX_NICS)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "A VM needs its id, cores, memory, an OS disk and at most %d disks and %d NICs.",
                          AGENT_MAX_DISKS, AGENT_MAX_NICS);
    return 0;
}

int
agent_vm_create(agent_t *a, const agent_call_t *call, const agent_vm_spec_t *spec,
                char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    if (check_spec(spec, err))
        return -1;
    DISPATCH(AGENT_OP_VM_CREATE, vm_create, false, NULL, spec, hypervisor_id, err);
}

int
agent_vm_import(agent_t *a, const agent_call_t *call, const agent_vm_spec_t *spec,
                const agent_vm_source_t *src, char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    if (check_spec(spec, err))
        return -1;
    if (src == NULL || src->host_id == NULL || src->hypervisor_id == NULL ||
        src->hypervisor_id[0] == '\0' || src->ncheckpoints < 0 ||
        src->ncheckpoints > AGENT_MAX_CHECKPOINTS || (src->ncheckpoints > 0 && src->checkpoints == NULL) ||
        (src->power != AGENT_VM_RUNNING && src->power != AGENT_VM_STOPPED &&
         src->power != AGENT_VM_DEALLOCATED))
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "An import needs the source host, the VM's id there, a steady power state and at most %d checkpoints.",
                          AGENT_MAX_CHECKPOINTS);
    DISPATCH(AGENT_OP_VM_IMPORT, vm_import, false, NULL, spec, src, hypervisor_id, err);
}

int
agent_vm_delete(agent_t *a, const agent_call_t *call, const char *hypervisor_id, agent_err_t *err)
{
    DISPATCH(AGENT_OP_VM_DELETE, vm_delete, true, hypervisor_id, hypervisor_id, err);
}

int
agent_vm_power(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
               agent_power_op_t op, agent_err_t *err)
{
    DISPATCH(AGENT_OP_VM_POWER, vm_power, true, hypervisor_id, hypervisor_id, op, err);
}

int
agent_vm_release(agent_t *a, const agent_call_t *call, const char *hypervisor_id, agent_err_t *err)
{
    DISPATCH(AGENT_OP_VM_RELEASE, vm_release, true, hypervisor_id, hypervisor_id, err);
}

int
agent_vm_reconfigure(agent_t *a, const agent_call_t *call, const char *hypervisor_id, int cores,
                     int memory_mb, agent_err_t *err)
{
    if (cores <= 0 || memory_mb <= 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "A VM needs cores and memory.");
    DISPATCH(AGENT_OP_VM_RECONFIGURE, vm_reconfigure, true, hypervisor_id, hypervisor_id, cores,
             memory_mb, err);
}

int
agent_disk_attach(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                  const agent_disk_spec_t *disk, agent_err_t *err)
{
    if (disk == NULL || disk->lun < 0 || disk->size_gb <= 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "A disk needs a lun and a size.");
    DISPATCH(AGENT_OP_DISK_ATTACH, disk_attach, true, hypervisor_id, hypervisor_id, disk, err);
}

int
agent_disk_detach(agent_t *a, const agent_call_t *call, const char *hypervisor_id, int lun,
                  agent_err_t *err)
{
    if (lun < 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "A data disk needs a lun.");
    DISPATCH(AGENT_OP_DISK_DETACH, disk_detach, true, hypervisor_id, hypervisor_id, lun, err);
}

int
agent_checkpoint_create(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                        const char *name, char checkpoint_id[AGENT_ID_MAX], agent_err_t *err)
{
    if (name == NULL || name[0] == '\0')
        return agent_fail(err, AGENT_ERR_PERMANENT, "A checkpoint needs a name.");
    DISPATCH(AGENT_OP_CHECKPOINT_CREATE, checkpoint_create, true, hypervisor_id, hypervisor_id,
             name, checkpoint_id, err);
}

int
agent_checkpoint_delete(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                        const char *checkpoint_id, agent_err_t *err)
{
    if (checkpoint_id == NULL || checkpoint_id[0] == '\0')
        return agent_fail(err, AGENT_ERR_PERMANENT, "A checkpoint id is needed.");
    DISPATCH(AGENT_OP_CHECKPOINT_DELETE, checkpoint_delete, true, hypervisor_id, hypervisor_id,
             checkpoint_id, err);
}

int
agent_checkpoint_restore(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                         const char *checkpoint_id, agent_err_t *err)
{
    if (checkpoint_id == NULL || checkpoint_id[0] == '\0')
        return agent_fail(err, AGENT_ERR_PERMANENT, "A checkpoint id is needed.");
    DISPATCH(AGENT_OP_CHECKPOINT_RESTORE, checkpoint_restore, true, hypervisor_id, hypervisor_id,
             checkpoint_id, err);
}

int
agent_inventory(agent_t *a, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err)
{
    assert(vms != NULL);
    memset(vms, 0, sizeof(*vms));
    DISPATCH(AGENT_OP_INVENTORY, inventory, false, NULL, vms, err);
}

int
agent_host_info(agent_t *a, const agent_call_t *call, agent_host_info_t *info, agent_err_t *err)
{
    assert(info != NULL);
    memset(info, 0, sizeof(*info));
    DISPATCH(AGENT_OP_HOST_INFO, host_info, false, NULL, info, err);
}

int
agent_volume_snapshot(agent_t *a, const agent_call_t *call, const char *hypervisor_id, int lun,
                      const char *volume_id, int64_t *size_gb, agent_err_t *err)
{
    assert(size_gb != NULL);
    *size_gb = 0;
    if (lun < -1 || volume_id == NULL || volume_id[0] == '\0')
        return agent_fail(err, AGENT_ERR_PERMANENT, "A snapshot needs a disk (lun -1: the OS disk) and a volume id.");
    DISPATCH(AGENT_OP_VOLUME_SNAPSHOT, volume_snapshot, true, hypervisor_id, hypervisor_id, lun,
             volume_id, size_gb, err);
}

int
agent_volume_copy(agent_t *a, const agent_call_t *call, const agent_volume_src_t *src,
                  const char *volume_id, agent_err_t *err)
{
    if (src == NULL || src->host_id == NULL || src->volume_id == NULL || src->volume_id[0] == '\0' ||
        src->size_gb <= 0 || volume_id == NULL || volume_id[0] == '\0')
        return agent_fail(err, AGENT_ERR_PERMANENT, "A copy needs its source volume, host and size, and a volume id.");
    DISPATCH(AGENT_OP_VOLUME_COPY, volume_copy, false, NULL, src, volume_id, err);
}

int
agent_volume_delete(agent_t *a, const agent_call_t *call, const char *volume_id, agent_err_t *err)
{
    if (volume_id == NULL || volume_id[0] == '\0')
        return agent_fail(err, AGENT_ERR_PERMANENT, "A volume id is needed.");
    DISPATCH(AGENT_OP_VOLUME_DELETE, volume_delete, false, NULL, volume_id, err);
}

int
agent_simulate(agent_t *a, const json_t *command, json_t **result, agent_err_t *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
    if (a == NULL)
        return agent_fail(err, AGENT_ERR_PERMANENT, "No agent is open for this host.");
    if (a->driver->simulate == NULL)
        return agent_fail(err, AGENT_ERR_UNSUPPORTED, "Only simulated hosts take simulator controls.");
    return finish(a->driver->simulate(a->priv, command, result, err), err);
}
