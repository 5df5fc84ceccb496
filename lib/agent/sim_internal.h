/*
 * sim_internal.h: what the parts of the simulator agent share; not for other modules.
 *
 * The simulator (driver "sim", see sim.c for its behaviour) is four files, one concern each:
 * - sim.c: the driver: its uri options, open, reconfigure, close, the simulator controls, the table;
 * - sim_state.c: its durable state, one file per VM (and tombstones) under the host's directory;
 * - sim_journal.c: the frame of every call (latency, injected faults, hangs) and the operation-id journal
 *   that answers a repeated call with its first answer;
 * - sim_vm.c: the VM operations themselves and the host's reads (inventory, host info).
 *
 * Locking: one mutex per host (sim_t.lock) guards every field but the options set at open; functions
 * documented "lock held" assert it. Sleeps (latency, hangs) happen outside it. A thread holds at most
 * one host's lock at a time.
 */
#ifndef WAPD_AGENT_SIM_INTERNAL_H
#define WAPD_AGENT_SIM_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#include <jansson.h>

#include "agent_internal.h"

/* Answers kept for operation ids: only calls still in flight are ever asked again (a job retrying or
 * resuming its step), and a host never has more than a few of those. */
#define SIM_OPS_KEPT 512
/* Answers kept with each VM's file. */
#define SIM_VM_OPS_KEPT 16

typedef struct {
    char host_id[AGENT_ID_MAX];
    char path[PATH_MAX]; /* the host's directory; empty: memory only */
    char dirty[AGENT_ID_MAX]; /* the VM the call being applied changed */
    json_t *graveyard;        /* deleted VMs' answers, until their tombstone is written */
    int latency_ms, jitter_ms;
    double fail_rate, hang_rate;
    double diff_gb_per_hour;
    pthread_mutex_t lock;
    unsigned seed;
    json_t *vms;      /* {hypervisorId: vm} */
    json_t *ops;      /* {opId: {status, message, result}} */
    json_t *op_order; /* [opId…], oldest first */
} sim_t;

/* The host's lock, and whether this thread holds it (for asserts). */
void agent_sim__lock(sim_t *s);
void agent_sim__unlock(sim_t *s);
bool agent_sim__locked(const sim_t *s);

/* ---- sim_state.c ---- */

/* Writes the file of the VM the last call changed (s->dirty), or its tombstone; lock held. A failure to
 * persist fails the call. */
int agent_sim__save(sim_t *s, agent_err_t *err);
/* Creates the in-memory state and reads every VM file of the host's directory (at open). */
int agent_sim__load(sim_t *s, agent_err_t *err);
/* Frees the in-memory state. */
void agent_sim__state_free(sim_t *s);

/* ---- sim_journal.c ---- */

/* Applies one call to the host's state; lock held. Writes result (an id) when the call makes one. */
typedef int (*agent_sim_apply_fn)(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err);

/* Keeps an answer (stolen) in the in-memory index of recent answers; lock held. */
void agent_sim__remember_op(sim_t *s, const char *op_id, json_t *answer);
/* Runs one call that changes the host: its frame, then fn under the lock, its answer journaled and saved
 * with the VM it changed; a call already answered gets that answer again without running fn. */
int agent_sim__run_call(sim_t *s, const agent_call_t *call, agent_sim_apply_fn fn, void *args,
                        char result[AGENT_ID_MAX], agent_err_t *err);
/* The frame of a read (not journaled): latency, hangs and injected faults. */
int agent_sim__read_frame(sim_t *s, const agent_call_t *call, agent_err_t *err);

/* ---- sim_vm.c: the driver's VM slots ---- */

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
