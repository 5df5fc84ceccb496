/*
 * ipam.h: IP address management for tenant networks: which address a VM NIC gets. Not for api/.
 *
 * A network is an IPv4 prefix from /8 to /29; its usable addresses are the prefix less the first four and
 * the last (reserved, as in Azure). A NIC takes the lowest usable address no VM holds, so addresses given
 * back are reused first. The store only keeps the rows (store_ip_used, store_ip_claim); the choice is
 * made here, and a claim that loses a race for its address (another transaction took it between the read
 * and the claim) chooses again, past that address.
 */
#ifndef WAPD_VM_IPAM_H
#define WAPD_VM_IPAM_H

#include <stddef.h>
#include <stdint.h>

#include "../err.h"
#include "../store.h"

#define IPAM_TEXT_LEN 16 /* "255.255.255.255" and its NUL */

/* The first and last usable host addresses of an IPv4 CIDR from /8 to /29, as host-order integers: 0;
 * -1 with a 400 on addressPrefix. */
int ipam_parse_prefix(const char *prefix, int64_t *first, int64_t *last, err_t *err);
/* The lowest address of [from, last] not in used (ascending, n of them, borrowed), or -1 when every one
 * is taken. */
int64_t ipam_lowest_free(const int64_t *used, size_t n, int64_t from, int64_t last);
/* Dotted quad of a host-order address into out. */
void ipam_format(int64_t ip, char out[IPAM_TEXT_LEN]);

/* Takes the lowest free address of network network_id (its prefix: prefix, borrowed) for VM vm_id, in
 * the caller's transaction: 0 with the address in *ip; -1 with err (400 on addressPrefix when prefix is
 * not one, 409 on networkId when the network has no free address left, or the store's error). */
int ipam_take(store_t *st, const char *network_id, const char *prefix, const char *vm_id, int64_t *ip,
              err_t *err);

/* Tests only: when set, called between choosing an address and claiming it (to make a race). */
extern void (*ipam__before_claim)(store_t *st, const char *network_id, int64_t ip);

#endif
