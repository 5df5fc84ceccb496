/*
 * agent.c: the one dispatch layer over the agent drivers (see agent.h).
 *
 * It checks the arguments every call shares (an agent, an operation id, a hypervisor id where one is
 * needed), fills in the default timeout, turns an empty slot into AGENT_ERR_UNSUPPORTED, and makes sure a
 * failed call always carries a typed error with a message. Drivers never see a call this layer refused.
 *
 * It is also the injection point of the FAULT_AGENT class (lib/fault.h): once a call has passed the shared
 * checks, an armed fault fails it before the driver sees it: with AGENT_ERR_TRANSIENT, as a host that did
 * not take the call would, or with AGENT_ERR_PERMANENT when the fault was armed FAULT_PERMANENT.
 *
 * Invariants: the driver table is written under drivers_lock and only grows; an agent_t's driver and priv
 * never change while it is open.
 */
#include "../agent.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fault.h"

#define MAX_DRIVERS 8

struct agent {
    const agent_driver_t *driver;
    void *priv;
};

static const agent_driver_t *drivers[MAX_DRIVERS];
static int ndrivers;
static pthread_mutex_t drivers_lock = PTHREAD_MUTEX_INITIALIZER;

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

const char *
agent_status_name(agent_status_t status)
{
    switch (status) {
    case AGENT_OK:
        return "ok";
    case AGENT_ERR_TRANSIENT:
        return "transient";
    case AGENT_ERR_PERMANENT:
        return "permanent";
    case AGENT_ERR_TIMEOUT:
        return "timeout";
    case AGENT_ERR_NOT_FOUND:
        return "notFound";
    case AGENT_ERR_UNSUPPORTED:
        return "unsupported";
    }
    return "unknown";
}

int
agent_register(const agent_driver_t *driver)
{
    int i, rc = 0;

    if (driver == NULL || driver->name == NULL || driver->open == NULL || driver->close == NULL)
        return -1;
    pthread_mutex_lock(&drivers_lock);
    for (i = 0; i < ndrivers; i++)
        if (strcmp(drivers[i]->name, driver->name) == 0) {
            rc = drivers[i] == driver ? 0 : -1; /* registered already (or a different driver) */
            break;
        }
    if (i == ndrivers && rc == 0) {
        if (ndrivers == MAX_DRIVERS)
            rc = -1;
        else
            drivers[ndrivers++] = driver;
    }
    pthread_mutex_unlock(&drivers_lock);
    return rc;
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

agent_t *
agent_open(const char *kind, const char *host_id, const char *uri, const char *state_dir,
           agent_err_t *err)
{
    const agent_driver_t *d = find_driver(kind);
    agent_t *a;

    if (d == NULL) {
        agent_fail(err, AGENT_ERR_UNSUPPORTED, "No agent driver of kind '%s' is available.",
                   kind ? kind : "");
        return NULL;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        return NULL;
    }
    a->driver = d;
    if (d->open(host_id, uri, state_dir, &a->priv, err) != 0) {
        if (err && err->status == AGENT_OK)
            agent_fail(err, AGENT_ERR_PERMANENT, "The %s agent could not be opened.", d->name);
        free(a);
        return NULL;
    }
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
agent_reconfigure(agent_t *a, const char *uri, agent_err_t *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
    if (a == NULL)
        return agent_fail(err, AGENT_ERR_PERMANENT, "No agent is open for this host.");
    if (a->driver->reconfigure == NULL)
        return agent_fail(err, AGENT_ERR_UNSUPPORTED, "The %s agent cannot change its uri.",
                          a->driver->name);
    return finish(a->driver->reconfigure(a->priv, uri, err), err);
}

/* The shared checks of every call; fills *eff with the effective call. */
static int
precheck(agent_t *a, const agent_call_t *call, const char *hypervisor_id, bool need_vm,
         const void *slot, agent_call_t *eff, agent_err_t *err)
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
        eff->timeout_ms = AGENT_DEFAULT_TIMEOUT_MS;
    if (fault_hit(FAULT_AGENT))
        return fault_permanent(FAULT_AGENT)
                   ? agent_fail(err, AGENT_ERR_PERMANENT, "The host refused the call (injected fault).")
                   : agent_fail(err, AGENT_ERR_TRANSIENT,
                                "The host did not take the call (injected fault).");
    return 0;
}

/* A driver that failed without saying why still answers a typed error. */
static int
finish(int rc, agent_err_t *err)
{
    if (rc != 0 && err && err->status == AGENT_OK)
        agent_fail(err, AGENT_ERR_TRANSIENT, "The agent call failed.");
    return rc == 0 ? 0 : -1;
}

#define DISPATCH(slot, need_vm, hyp, ...)                                                          \
    do {                                                                                           \
        agent_call_t eff;                                                                          \
        if (precheck(a, call, hyp, need_vm, a ? (const void *) a->driver->slot : NULL, &eff,      \
                     err))                                                                         \
            return -1;                                                                             \
        return finish(a->driver->slot(a->priv, &eff, __VA_ARGS__), err);                          \
    } while (0)

int
agent_vm_create(agent_t *a, const agent_call_t *call, const agent_vm_spec_t *spec,
                char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    if (spec == NULL || spec->cores <= 0 || spec->memory_mb <= 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "A VM needs cores and memory.");
    DISPATCH(vm_create, false, NULL, spec, hypervisor_id, err);
}

int
agent_vm_delete(agent_t *a, const agent_call_t *call, const char *hypervisor_id, agent_err_t *err)
{
    DISPATCH(vm_delete, true, hypervisor_id, hypervisor_id, err);
}

int
agent_vm_power(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
               agent_power_op_t op, agent_err_t *err)
{
    DISPATCH(vm_power, true, hypervisor_id, hypervisor_id, op, err);
}

int
agent_vm_release(agent_t *a, const agent_call_t *call, const char *hypervisor_id, agent_err_t *err)
{
    DISPATCH(vm_release, true, hypervisor_id, hypervisor_id, err);
}

int
agent_vm_reconfigure(agent_t *a, const agent_call_t *call, const char *hypervisor_id, int cores,
                     int memory_mb, agent_err_t *err)
{
    if (cores <= 0 || memory_mb <= 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "A VM needs cores and memory.");
    DISPATCH(vm_reconfigure, true, hypervisor_id, hypervisor_id, cores, memory_mb, err);
}

int
agent_disk_attach(agent_t *a, const agent_call_t *call, const char *hypervisor_id, int lun,
                  int size_gb, agent_err_t *err)
{
    if (lun < 0 || size_gb <= 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "A disk needs a lun and a size.");
    DISPATCH(disk_attach, true, hypervisor_id, hypervisor_id, lun, size_gb, err);
}

int
agent_disk_detach(agent_t *a, const agent_call_t *call, const char *hypervisor_id, int lun,
                  agent_err_t *err)
{
    DISPATCH(disk_detach, true, hypervisor_id, hypervisor_id, lun, err);
}

int
agent_checkpoint_create(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                        const char *name, char checkpoint_id[AGENT_ID_MAX], agent_err_t *err)
{
    DISPATCH(checkpoint_create, true, hypervisor_id, hypervisor_id, name ? name : "",
             checkpoint_id, err);
}

int
agent_checkpoint_delete(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                        const char *checkpoint_id, agent_err_t *err)
{
    if (checkpoint_id == NULL || checkpoint_id[0] == '\0')
        return agent_fail(err, AGENT_ERR_PERMANENT, "A checkpoint id is needed.");
    DISPATCH(checkpoint_delete, true, hypervisor_id, hypervisor_id, checkpoint_id, err);
}

int
agent_checkpoint_restore(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                         const char *checkpoint_id, agent_err_t *err)
{
    if (checkpoint_id == NULL || checkpoint_id[0] == '\0')
        return agent_fail(err, AGENT_ERR_PERMANENT, "A checkpoint id is needed.");
    DISPATCH(checkpoint_restore, true, hypervisor_id, hypervisor_id, checkpoint_id, err);
}

int
agent_inventory(agent_t *a, const agent_call_t *call, json_t **vms, agent_err_t *err)
{
    DISPATCH(inventory, false, NULL, vms, err);
}

int
agent_host_info(agent_t *a, const agent_call_t *call, json_t **info, agent_err_t *err)
{
    DISPATCH(host_info, false, NULL, info, err);
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
