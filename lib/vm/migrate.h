/*
 * migrate.h: an admin's move of a VM to another host (the vm.migrate job), live within a cloud, by copying
 * its disks across clouds.
 *
 * The VM keeps its id, power state, checkpoint, role membership and usage series; only its host, its
 * hypervisor id and the host-side id of its checkpoint change, in one transaction (the switch-over), and
 * what it holds moves from the source host to the target's reservation there.
 */
#ifndef WAPD_VM_MIGRATE_H
#define WAPD_VM_MIGRATE_H

#include <jansson.h>

#include "../err.h"
#include "../store.h"
#include "vmrec.h"

/* Starts the migration of VM vm_id to host host_id (both borrowed), in its own transaction: the job's view
 * (a new reference), or NULL with err: 404 the VM; 409 OperationInProgress (a transition or a job under
 * way), Conflict (its last operation failed, the target is its own host, in maintenance, unreachable or
 * without room), InvalidPowerState (another cloud while the VM is neither stopped nor deallocated, or a
 * power state wapd does not know); 400 naming hostId for a host that does not exist. On success the
 * target holds a reservation of what the VM holds and the VM shows provisioningState updating; its power
 * state is unchanged. */
json_t *vm_migrate(store_t *st, const char *vm_id, const char *host_id, err_t *err);

/* The VM's state allows a move within its cloud (the checks vm_migrate makes of the VM itself): 0, or -1
 * with err: 409 OperationInProgress or Conflict (vmrec_ready's), Conflict when it is on no host,
 * InvalidPowerState when its power state is unknown. */
int vm_migrate_check(const vm_rec_t *vm, err_t *err);

/* Moves vm (borrowed; saved in provisioningState updating) off its host to the host placement chooses
 * among the ok hosts of cloud cloud_id (placement's rules), in the caller's transaction, which must already
 * have taken the VM's host out of ok. 0 with the vm.migrate job's view in *job (a new reference) and the
 * target's reservation held; 1 when no host has room for what the VM holds (nothing changed, err
 * untouched); -1 with err (vm_migrate_check's refusals, or the store's). */
int vm_migrate_away(store_t *st, vm_rec_t *vm, const char *cloud_id, json_t **job, err_t *err);

/* Registers the vm.migrate kind (vm_jobs_register calls it). */
int vm_migrate_kinds_register(void);

#endif
