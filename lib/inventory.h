/*
 * inventory.h: host inventory sync, unmanaged VMs, the simulated storage incident, re-association (see
 * inventory.c). Answers are new references.
 */
#ifndef WAPD_INVENTORY_H
#define WAPD_INVENTORY_H

#include <jansson.h>

#include "err.h"
#include "store.h"

int inventory_jobs_register(void);
/* Compares the host's inventory with the records now (what the host.refresh job runs). */
int inventory_sync(store_t *st, const char *host_id, err_t *err);
/* Starts the host.refresh job: answers the job (409 OperationInProgress while one runs). */
json_t *inventory_refresh(store_t *st, const char *host_id, err_t *err);
/* Starts a refresh of every host that has none under way; returns how many started, or -1. */
int inventory_sweep(store_t *st, err_t *err);
/* [{hypervisorId, name, powerState, seenAt}] the last sync found that no record owns. */
json_t *inventory_unmanaged(store_t *st, const char *host_id, err_t *err);
/* body {regenerateIds: [vmId…]} on a sim host (400 on others): those VMs reappear under new
 * hypervisor ids. Answers {regenerated: [{vmId, oldHypervisorId, newHypervisorId}]}. */
json_t *inventory_simulate(store_t *st, const char *host_id, const json_t *body, err_t *err);
/* body {hostId, hypervisorId}: the VM record now points at that VM; answers the admin view. */
json_t *inventory_reassociate(store_t *st, const char *vm_id, const json_t *body, err_t *err);
/* Adopts an unmanaged VM as a new instance record of role (quota reserved); answers the record. */
json_t *inventory_adopt(store_t *st, const json_t *role, const char *host_id, const char *hyp,
                        err_t *err);

#endif
