/*
 * placement.h: which host a VM goes to.
 *
 * Policy (least loaded): among the hosts of the plan's cloud whose state is ok and that have room for the
 * VM's cores, memory and storage, the one with the most free cores, then the most free memory, then the
 * oldest. Hosts in maintenance or unreachable take no new VMs. The chosen host's allocation grows in the
 * caller's transaction; no room anywhere is 409 NoCapacity at once.
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

#endif
