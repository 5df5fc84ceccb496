/*
 * inventory.h: host inventory sync, unmanaged VMs, the simulated storage incident, re-association (see
 * inventory.c). Answers are new references.
 */
#ifndef WAPD_INVENTORY_H
#define WAPD_INVENTORY_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "store.h"

/* The requests, validated for shape at the api edge; strings are borrowed. */
typedef struct {
    size_t nvms;
    const char *const *vm_ids; /* nvms VM ids */
} inventory_simulate_req_t;

/* Where a VM is now: a host and the hypervisor's id for it there. */
typedef struct {
    const char *host_id;
    const char *hypervisor_id;
} inventory_target_t;

int inventory_jobs_register(void);
/* Compares the host's inventory with the records now (what the host.refresh job runs). */
int inventory_sync(store_t *st, const char *host_id, err_t *err);
/* Records what the host reports of its VMs (guest heartbeat, assigned memory) on the records that it
 * changes, each in a transaction of its own (lib/inventory/observe.c); what the heartbeat runs. */
int inventory_observe(store_t *st, const char *host_id, err_t *err);
/* Starts the host.refresh job: answers the job (409 OperationInProgress while one runs). */
json_t *inventory_refresh(store_t *st, const char *host_id, err_t *err);
/* Starts a refresh of every host that has none under way and is not unreachable; returns how many
 * started, or -1. */
int inventory_sweep(store_t *st, err_t *err);
/* [{hypervisorId, name, powerState, seenAt}] the last sync found that no record owns. */
json_t *inventory_unmanaged(store_t *st, const char *host_id, err_t *err);
/* On a sim host (400 on others): req's VMs (400 on regenerateIds[i] for one not on this host) reappear
 * under new hypervisor ids. Answers {regenerated: [{vmId, oldHypervisorId, newHypervisorId}]}. */
json_t *inventory_simulate(store_t *st, const char *host_id, const inventory_simulate_req_t *req,
                           err_t *err);
/* The VM record now points at the VM to (400 on hostId or hypervisorId when there is none such, 409 when
 * a record owns it); answers the admin view. */
json_t *inventory_reassociate(store_t *st, const char *vm_id, const inventory_target_t *to,
                              err_t *err);
/* Adopts an unmanaged VM as a new instance record of role (quota reserved), in a transaction of its own
 * (nested in the caller's when one is open): 0, or -1 with err. role is borrowed. */
int inventory_adopt(store_t *st, const json_t *role, const char *host_id, const char *hyp, err_t *err);

#endif
