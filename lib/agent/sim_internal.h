/*
 * sim_internal.h: what the parts of the simulator agent share; not for other modules.
 *
 * The simulator (driver "sim", see sim.c for its behaviour) is four files, one concern each:
 * - sim.c: the driver: its uri options, open, reconfigure, close, the simulator controls, the table;
 * - sim_state.c: its durable state, one file per VM under the host's directory;
 * - sim_vm.c: the VM operations themselves (create, power, size, disks), each idempotent by its key;
 * - sim_checkpoint.c: checkpoints, the growth of their differencing disks, and the host's reads
 *   (inventory, host info).
 * Latency, injected faults and hangs are the chaos decorator's, and the operation-id journal is the journal
 * decorator's (lib/agent/chaos.c, lib/agent/journal.c): agent_open wraps the simulator in both.
 *
 * Locking: one mutex per host (sim_t.lock) guards every field but those set at open; functions documented
 * "lock held" assert it. The simulator never sleeps. A thread holds at most one host's lock at a time.
 */
#ifndef WAPD_AGENT_SIM_INTERNAL_H
#define WAPD_AGENT_SIM_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#include <jansson.h>

#include "agent_internal.h"

typedef struct {
    char host_id[AGENT_ID_MAX];
    char path[PATH_MAX];      /* the host's directory; empty: memory only */
    char dirty[AGENT_ID_MAX]; /* the VM the call being applied changed (or removed) */
    double diff_gb_per_hour;  /* the uri's diffGBPerHour */
    double copy_mbps;         /* the uri's copyMBps: 0, copies are instant */
    pthread_mutex_t lock;
    json_t *vms; /* {hypervisorId: vm} */
} sim_t;

/* The host's lock, and whether this thread holds it (for asserts). */
void agent_sim__lock(sim_t *s);
void agent_sim__unlock(sim_t *s);
bool agent_sim__locked(const sim_t *s);

/* ---- sim_state.c ---- */

/* Writes the file of the VM the last call changed (s->dirty), or removes it when the VM is gone; lock
 * held. A failure to persist fails the call. */
int agent_sim__save(sim_t *s, agent_err_t *err);
/* Creates the in-memory state and reads every VM file of the host's directory (at open). */
int agent_sim__load(sim_t *s, agent_err_t *err);
/* Frees the in-memory state. */
void agent_sim__state_free(sim_t *s);

/* ---- sim_vm.c ---- */

/* Applies one call to the host's state; lock held. Writes result (an id) when the call makes one. */
typedef int (*agent_sim_apply_fn)(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err);

/* Runs one call that changes the host: fn under the lock, then the VM it changed saved. */
int agent_sim__run(sim_t *s, agent_sim_apply_fn fn, void *args, char result[AGENT_ID_MAX],
                   agent_err_t *err);
/* The VM of that hypervisor id, marked as the one the call changes; NOT_FOUND when none; lock held. */
json_t *agent_sim__find_vm(sim_t *s, const char *hyp, agent_err_t *err);
/* Sets the VM's power state, keeping the growth accounts right; lock held. */
void agent_sim__set_power(json_t *vm, const char *ps);
/* Folds the running time since the last settle into each checkpoint's account; lock held. */
void agent_sim__settle(json_t *vm, int64_t now);

int agent_sim__vm_create(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                         char hypervisor_id[AGENT_ID_MAX], agent_err_t *err);
int agent_sim__vm_delete(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err);
int agent_sim__vm_power(void *priv, const agent_call_t *call, const char *hyp, agent_power_op_t op,
                        agent_err_t *err);
int agent_sim__vm_release(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err);
int agent_sim__vm_reconfigure(void *priv, const agent_call_t *call, const char *hyp, int cores,
                              int memory_mb, agent_err_t *err);
int agent_sim__disk_attach(void *priv, const agent_call_t *call, const char *hyp,
                           const agent_disk_spec_t *disk, agent_err_t *err);
int agent_sim__disk_detach(void *priv, const agent_call_t *call, const char *hyp, int lun,
                           agent_err_t *err);

/* ---- sim_checkpoint.c ---- */

int agent_sim__checkpoint_create(void *priv, const agent_call_t *call, const char *hyp,
                                 const char *name, char checkpoint_id[AGENT_ID_MAX], agent_err_t *err);
int agent_sim__checkpoint_delete(void *priv, const agent_call_t *call, const char *hyp, const char *cp,
                                 agent_err_t *err);
int agent_sim__checkpoint_restore(void *priv, const agent_call_t *call, const char *hyp,
                                  const char *cp, agent_err_t *err);
int agent_sim__inventory(void *priv, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err);
int agent_sim__host_info(void *priv, const agent_call_t *call, agent_host_info_t *info,
                         agent_err_t *err);

#endif
