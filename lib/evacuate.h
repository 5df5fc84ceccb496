/*
 * evacuate.h: a host put in maintenance is emptied: each of its VMs moves to another host of its cloud.
 *
 * Putting a host in maintenance (PATCH state "maintenance" on a host that was ok) starts, in the same
 * transaction as the state change, one vm.migrate job per VM that lives there, whatever its power state
 * (running ones move live and keep running), each to the host placement chooses among the other ok hosts
 * of the cloud, its room reserved there at once. Either every VM has a target and every job starts, or
 * nothing changes: 409 Conflict naming state when a VM has nowhere to go or cannot move now (an operation
 * under way, its last one failed, its power state unknown). A VM whose move then fails stays where it was,
 * and the host stays in maintenance; setting the host back to ok stops no job. An unreachable host put in
 * maintenance is only marked: nothing can be copied from a host that does not answer, and its VMs' power
 * states are unknown; once it answers, ok and then maintenance again empties it.
 */
#ifndef WAPD_EVACUATE_H
#define WAPD_EVACUATE_H

#include <jansson.h>

#include "catalog.h"
#include "err.h"
#include "store.h"

/* catalog_host_update (the same arguments, borrowed, and the same answer: the host's record, a new
 * reference, or NULL with err), which evacuates the host when patch takes it from ok into maintenance:
 * then the change and the jobs are one transaction, and a host that cannot be emptied is 409 Conflict
 * (target "state") with nothing changed. The jobs are of kind vm.migrate, each with its VM as resourceId;
 * each VM shows provisioningState updating until its job ends. */
json_t *evacuate_host_update(store_t *st, const char *id, const catalog_host_patch_t *patch,
                             int64_t expect_rev, err_t *err);

#endif
