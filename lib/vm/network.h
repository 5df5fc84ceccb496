/*
 * network.h: tenant networks and their addresses (network_create and network_delete are in ../vm.h).
 * Not for api/.
 *
 * A network is an IPv4 prefix of a subscription; its usable addresses are the prefix less the first four
 * and the last (reserved, as in Azure). Each VM NIC takes the lowest free address (ipam.h), in the
 * caller's transaction, and gives it back when the VM releases what it holds.
 */
#ifndef WAPD_VM_NETWORK_H
#define WAPD_VM_NETWORK_H

#include <stdint.h>

#include <jansson.h>

#include "../err.h"
#include "../store.h"
#include "vmrec.h"

/* Takes an address of network network_id of subscription sid for VM vm_id, in the caller's transaction,
 * into *nic (written only on success): 0; -1 with 400 on networkId when the subscription has no such
 * network, 409 when it has no free address left. */
int network_nic_take(store_t *st, const char *sid, const char *network_id, const char *vm_id,
                     vm_nic_t *nic, err_t *err);

#endif
