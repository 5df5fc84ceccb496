/*
 * placement.h: which host a VM goes to.
 *
 * Policy (least loaded): among the hosts of the plan's cloud whose state is ok and that have room for the
 * VM's cores, memory and storage, the one with the most free cores, then the most free memory, then the
 * oldest. Hosts in maintenance or unreachable take no new VMs. The chosen host's allocation grows in the
 * caller's transaction; no room anywhere is 409 NoCapacity at once.
 *
 * A host chosen by an admin (a migration's target) is checked on its own: it must be ok, and its room is
 * reserved in the caller's transaction, refused as 409 Conflict naming hostId.
 */
#ifndef WAPD_PLACEMENT_H
#define WAPD_PLACEMENT_H

#include "err.h"
#include "store.h"
#include "util.h"

int placement_place(store_t *st, const char *cloud_id, int64_t cores, int64_t memory_mb,
                    int64_t storage_gb, char host_id[UTIL_UUID_LEN + 1], err_t *err);
/* Adds to the allocation of host host_id (negative: releases) in the caller's transaction. Growth that
 * does not fit its capacity is 409 NoCapacity with the message no_room (a whole sentence). */
int placement_hold(store_t *st, const char *host_id, int64_t cores, int64_t memory_mb,
                   int64_t storage_gb, const char *no_room, err_t *err);

/* Reserves cores, memory and storage (each >= 0) on the chosen host (its record, borrowed) in the caller's
 * transaction: 409 Conflict naming hostId when the host is in maintenance or unreachable, or when it has
 * no room for them; nothing changed then. */
int placement_reserve_on(store_t *st, const json_t *host, int64_t cores, int64_t memory_mb,
                         int64_t storage_gb, err_t *err);

#endif
