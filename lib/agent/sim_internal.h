/*
 * sim_internal.h: what the parts of the simulator agent share; not for other modules.
 *
 * The simulator (driver "sim", see sim.c for its behaviour) is four files, one concern each:
 * - sim.c: the driver: its uri options, open, reconfigure, close, the simulator controls, the table;
 * - sim_state.c: its VMs in memory, and their durable state: one append log per host;
 * - sim_vm.c: the VM operations themselves (create, power, size, disks), each idempotent by its key;
 * - sim_checkpoint.c: checkpoints, the growth of their differencing disks, and the host's reads
 *   (inventory, host info);
 * - sim_volume.c: volumes (disk snapshots, copies of another host's volume), the progress of every copy
 *   (a disk made from an image or a volume, a volume copy, a VM imported from another host), and imports.
 * Latency, injected faults and hangs are the chaos decorator's, and the operation-id journal is the journal
 * decorator's (lib/agent/chaos.c, lib/agent/journal.c): agent_open wraps the simulator in both.
 *
 * Locking: one mutex per host (sim_t.lock) guards every field but those set at open; functions documented
 * "lock held" assert it. The simulator never sleeps; it waits only for its log's fdatasync, never with the
 * lock held. A thread holds at most one host's lock at a time.
 */
#ifndef WAPD_AGENT_SIM_INTERNAL_H
#define WAPD_AGENT_SIM_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "agent_internal.h"

typedef struct applog applog_t;

#define SIM_GUEST_MAX 16

typedef struct {
    char host_id[AGENT_ID_MAX];
    applog_t *log;            /* the host's log (sim_state.c); NULL: memory only */
    char dirty[AGENT_ID_MAX]; /* the VM the call being applied changed (or removed) */
    char dirty_volume[AGENT_ID_MAX]; /* the volume it changed (or removed) */
    double diff_gb_per_hour;  /* the uri's diffGBPerHour */
    double copy_mbps;         /* the uri's copyMBps: 0, copies are instant */
    double memory_demand;     /* the uri's memoryDemand: 1, dynamic-memory VMs get their startup memory */
    char guest[SIM_GUEST_MAX]; /* the uri's guestHeartbeat: what a running VM's guest reports ("": off) */
    pthread_mutex_t lock;
    json_t *vms;      /* {hypervisorId: vm} */
    json_t *by_vm_id; /* {vmId: hypervisorId}, for keyed creates without a scan */
    json_t *volumes;  /* {volumeId: volume} (sim_volume.c) */
} sim_t;

/* The host's lock, and whether this thread holds it (for asserts). */
void agent_sim__lock(sim_t *s);
void agent_sim__unlock(sim_t *s);
bool agent_sim__locked(const sim_t *s);

/* ---- sim_state.c ---- */

/* Adds or replaces the VM of that hypervisor id (vm stolen; -1 when out of memory), and forgets one;
 * lock held (or at open). The only writers of s->vms and s->by_vm_id. */
int agent_sim__vm_put(sim_t *s, const char *hyp, json_t *vm);
void agent_sim__vm_del(sim_t *s, const char *hyp);
/* The VM made for that wapd VM id (borrowed), or NULL; lock held. */
json_t *agent_sim__vm_of_wapd_id(sim_t *s, const char *vm_id);

/* Appends the record of the VM the last call changed (s->dirty), or its deletion when it is gone, and the
 * record of the volume it changed (s->dirty_volume) likewise, clears both marks, and writes *end, its
 * position in the log (with nothing changed, the log's end: the call may answer from a change another call
 * has not synced yet); lock held. Not durable until agent_sim__sync. A failure to append fails the call. */
int agent_sim__save(sim_t *s, uint64_t *end, agent_err_t *err);
/* The log's end now, for a read to sync to before it answers (0 in memory); lock held. */
uint64_t agent_sim__end(sim_t *s);
/* Returns once everything saved up to end is durable (end 0: nothing saved); lock NOT held, so that
 * concurrent calls share the fdatasync. */
int agent_sim__sync(sim_t *s, uint64_t end, agent_err_t *err);
/* Creates the in-memory state and, with a state_dir (borrowed; NULL or "": memory only), opens the
 * host's log, replays it and migrates an old per-VM directory into it (at open). */
int agent_sim__load(sim_t *s, const char *state_dir, agent_err_t *err);
/* Frees the in-memory state and closes the log. */
void agent_sim__state_free(sim_t *s);

/* ---- sim_vm.c ---- */

/* Applies one call to the host's state; lock held. Writes result (an id) when the call makes one. */
typedef int (*agent_sim_apply_fn)(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err);

/* Runs one call that changes the host: fn under the lock, the VM it changed saved, and the save made
 * durable after the lock is released, before the call answers. */
int agent_sim__run(sim_t *s, agent_sim_apply_fn fn, void *args, char result[AGENT_ID_MAX],
                   agent_err_t *err);
/* The VM of that hypervisor id, marked as the one the call changes; NOT_FOUND when none; lock held. */
json_t *agent_sim__find_vm(sim_t *s, const char *hyp, agent_err_t *err);
/* The VM as its spec describes it, stopped, under hypervisor id hyp (a new reference; NULL when out of
 * memory). */
json_t *agent_sim__vm_json(const agent_vm_spec_t *spec, const char *hyp);
/* The memory (MB) the host assigns the VM now: 0 when it is not running; its memoryMB with static memory;
 * with dynamic memory, round(memoryDemand x memoryMB) kept within its minimum and maximum. Lock held. */
int agent_sim__assigned_mb(const sim_t *s, const json_t *vm);
/* Sets the VM's power state, keeping the growth accounts right; lock held. -1 when out of memory (the
 * power state may be left as it was: the caller fails the call). */
int agent_sim__set_power(json_t *vm, const char *ps);
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
/* Adds to vm a checkpoint named name (keyed: one of that name already there is answered), writing its id
 * to id; lock held. */
void agent_sim__checkpoint_add(json_t *vm, const char *name, char id[AGENT_ID_MAX]);
int agent_sim__inventory(void *priv, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err);
int agent_sim__host_info(void *priv, const agent_call_t *call, agent_host_info_t *info,
                         agent_err_t *err);

/* ---- sim_volume.c ---- */

/* A copy of bytes_total bytes starting now, from 0 (a new reference): the "copy" member of a VM (its disks
 * made from an image or volumes, or its import), a disk (a clone attached) or a volume (a copy). */
json_t *agent_sim__copy_new(int64_t bytes_total);
/* Advances the copy holder has (its "copy" member) to now at the host's copyMBps and writes *progress (may
 * be NULL; when holder has no copy, done or never needed, bytes of bytes, what the call copies): answers
 * AGENT_PENDING (-1 with err) while bytes remain, the bytes copied kept in the copy for the caller's save;
 * 0 when done, the copy removed. The caller marks holder changed either way. Lock held. */
int agent_sim__copy_poll(sim_t *s, json_t *holder, int64_t bytes, agent_progress_t *progress,
                         agent_err_t *err);
/* At open, after the log is read back: every unfinished copy goes on from the bytes it had, counting time
 * from now (never the time the host was closed or down). */
void agent_sim__copies_resume(sim_t *s);
/* Takes a volume's record (borrowed) read back from the log: {volumeId, …}, or {volumeId, deleted}; -1
 * when it is not one (at open). */
int agent_sim__volume_take(sim_t *s, json_t *doc);

int agent_sim__volume_snapshot(void *priv, const agent_call_t *call, const char *hyp, int lun,
                               const char *volume_id, int64_t *size_gb, agent_err_t *err);
int agent_sim__volume_copy(void *priv, const agent_call_t *call, const agent_volume_src_t *src,
                           const char *volume_id, agent_err_t *err);
int agent_sim__volume_delete(void *priv, const agent_call_t *call, const char *volume_id,
                             agent_err_t *err);
int agent_sim__vm_import(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                         const agent_vm_source_t *src, char hypervisor_id[AGENT_ID_MAX],
                         agent_err_t *err);

#endif
