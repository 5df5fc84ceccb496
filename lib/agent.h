/*
 * agent.h: the hypervisor agent table.
 *
 * A driver is one static table of typed function pointers, as libvirt's hypervisor drivers are; only name,
 * open and close are required, and an empty slot answers AGENT_ERR_UNSUPPORTED through the dispatch layer.
 * lib/agent.c is the only code that calls through a table: it checks arguments once, applies the default
 * timeout, and reports errors in one shape.
 *
 * Every call is designed for a remote host:
 * - it carries a timeout, after which it answers AGENT_ERR_TIMEOUT (the host may or may not have done it);
 * - it carries an operation id: a call repeated with the same id is answered with the first call's result
 *   and is never applied twice, so a job step can retry a call whose answer was lost;
 * - its error is typed: transient (retry may succeed), permanent (it will not), timeout, not found,
 *   unsupported.
 *
 * Ownership: an agent_t is owned by whoever opened it and closed with agent_close; strings passed in are
 * borrowed; JSON returned is a new reference.
 *
 * Thread safety, the rule every driver keeps: one open agent (one host) is shared by every job worker of
 * the process (lib/hostreg.c), so its slots are called from several threads at once, on the same priv,
 * for different VMs and for the same VM (a retry racing a slow answer, an inventory sync beside a job).
 * A driver therefore guards everything priv holds itself (the simulator: one mutex per host); keeps no
 * state between calls outside priv; never holds its lock across a wait on the host (latency, timeouts), so
 * one slow call does not stall the others; and applies a repeated operation id once. The callers promise
 * in turn that one operation id is never in flight twice at once (a job runs on one worker at a time), so
 * a driver need only answer a repeat that comes after the first call answered or timed out. open and close
 * are not concurrent with anything on that agent (the registry opens before the first call and closes
 * after the last); reconfigure may come at any time, like a call. agent_register is for start-up; the
 * dispatch layer keeps no per-call state and may be entered from any thread.
 */
#ifndef WAPD_AGENT_H
#define WAPD_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define AGENT_ID_MAX 64
#define AGENT_DEFAULT_TIMEOUT_MS 30000

typedef enum {
    AGENT_OK = 0,
    AGENT_ERR_TRANSIENT,   /* a retry may succeed */
    AGENT_ERR_PERMANENT,   /* a retry will fail the same way */
    AGENT_ERR_TIMEOUT,     /* no answer in time: the outcome is unknown, ask the host */
    AGENT_ERR_NOT_FOUND,   /* the host has no such VM or checkpoint */
    AGENT_ERR_UNSUPPORTED, /* the driver does not implement the call */
} agent_status_t;

typedef struct {
    agent_status_t status;
    char message[256];
} agent_err_t;

typedef enum {
    AGENT_POWER_START,
    AGENT_POWER_STOP,     /* power off, stays allocated */
    AGENT_POWER_SHUTDOWN, /* guest shutdown, stays allocated */
    AGENT_POWER_RESTART,
} agent_power_op_t;

/* What every call carries. */
typedef struct {
    const char *op_id; /* unique per logical operation; required */
    int timeout_ms;    /* 0: AGENT_DEFAULT_TIMEOUT_MS */
} agent_call_t;

typedef struct {
    const char *name; /* the host's name for the VM */
    int cores;
    int memory_mb;
    int os_disk_gb;
    const json_t *data_disks; /* array of {lun, sizeGB}; may be NULL */
} agent_vm_spec_t;

typedef struct agent_driver {
    const char *name;
    /* Opens a connection to the host described by uri; state_dir is where a driver may keep files. */
    int (*open)(const char *host_id, const char *uri, const char *state_dir, void **priv,
                agent_err_t *err);
    void (*close)(void *priv);
    /* Applies a changed uri to an open agent (optional). */
    int (*reconfigure)(void *priv, const char *uri, agent_err_t *err);
    int (*vm_create)(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                     char hypervisor_id[AGENT_ID_MAX], agent_err_t *err);
    int (*vm_delete)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                     agent_err_t *err);
    int (*vm_power)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                    agent_power_op_t op, agent_err_t *err);
    int (*vm_release)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                      agent_err_t *err);
    int (*vm_reconfigure)(void *priv, const agent_call_t *call, const char *hypervisor_id, int cores,
                          int memory_mb, agent_err_t *err);
    int (*disk_attach)(void *priv, const agent_call_t *call, const char *hypervisor_id, int lun,
                       int size_gb, agent_err_t *err);
    int (*disk_detach)(void *priv, const agent_call_t *call, const char *hypervisor_id, int lun,
                       agent_err_t *err);
    int (*checkpoint_create)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                             const char *name, char checkpoint_id[AGENT_ID_MAX], agent_err_t *err);
    int (*checkpoint_delete)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                             const char *checkpoint_id, agent_err_t *err);
    int (*checkpoint_restore)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                              const char *checkpoint_id, agent_err_t *err);
    /* Every VM on the host: [{hypervisorId, name, powerState, cores, memoryMB, disks, checkpoints}]. */
    int (*inventory)(void *priv, const agent_call_t *call, json_t **vms, agent_err_t *err);
    /* {kind, vms, cores, memoryMB}: what the host reports about itself. */
    int (*host_info)(void *priv, const agent_call_t *call, json_t **info, agent_err_t *err);
    /* Simulator controls (sim only): {"regenerateIds": [hypervisorId…]} gives those VMs new hypervisor
     * ids, as after a storage incident; answers {"regenerated": {old: new}}. */
    int (*simulate)(void *priv, const json_t *command, json_t **result, agent_err_t *err);
} agent_driver_t;

typedef struct agent agent_t;

/* Registers a driver under its name (at start, before any open). Returns 0, or -1 when the table is full
 * or the name is taken. */
int agent_register(const agent_driver_t *driver);
/* The built-in drivers register themselves here. */
int agent_sim_register(void);
/* True when a driver of that kind is registered. */
bool agent_kind_known(const char *kind);

/* Opens the host's agent. NULL with err on failure. */
agent_t *agent_open(const char *kind, const char *host_id, const char *uri, const char *state_dir,
                    agent_err_t *err);
void agent_close(agent_t *a);
/* Applies a changed uri to an open agent. */
int agent_reconfigure(agent_t *a, const char *uri, agent_err_t *err);

int agent_vm_create(agent_t *a, const agent_call_t *call, const agent_vm_spec_t *spec,
                    char hypervisor_id[AGENT_ID_MAX], agent_err_t *err);
int agent_vm_delete(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                    agent_err_t *err);
int agent_vm_power(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                   agent_power_op_t op, agent_err_t *err);
int agent_vm_release(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                     agent_err_t *err);
int agent_vm_reconfigure(agent_t *a, const agent_call_t *call, const char *hypervisor_id, int cores,
                         int memory_mb, agent_err_t *err);
int agent_disk_attach(agent_t *a, const agent_call_t *call, const char *hypervisor_id, int lun,
                      int size_gb, agent_err_t *err);
int agent_disk_detach(agent_t *a, const agent_call_t *call, const char *hypervisor_id, int lun,
                      agent_err_t *err);
int agent_checkpoint_create(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                            const char *name, char checkpoint_id[AGENT_ID_MAX], agent_err_t *err);
int agent_checkpoint_delete(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                            const char *checkpoint_id, agent_err_t *err);
int agent_checkpoint_restore(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                             const char *checkpoint_id, agent_err_t *err);
int agent_inventory(agent_t *a, const agent_call_t *call, json_t **vms, agent_err_t *err);
int agent_host_info(agent_t *a, const agent_call_t *call, json_t **info, agent_err_t *err);
/* AGENT_ERR_UNSUPPORTED for every driver but the simulator. */
int agent_simulate(agent_t *a, const json_t *command, json_t **result, agent_err_t *err);

/* Sets *err and returns -1 (for drivers). */
int agent_fail(agent_err_t *err, agent_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *agent_status_name(agent_status_t status);

#endif
