/*
 * ipam.c: IP address management for tenant networks (see ipam.h): prefix parsing, the lowest free
 * address, and the claim that chooses again when it loses a race.
 *
 * Invariants: an address chosen lies in [first, last] of the network's prefix; a claim that lost its
 * address moves the search past it, so ipam_take ends after at most one claim per usable address; the
 * store's list of addresses in use is freed on every path.
 */
#include "ipam.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"

void (*ipam__before_claim)(store_t *st, const char *network_id, int64_t ip);

int
ipam_parse_prefix(const char *prefix, int64_t *first, int64_t *last, err_t *err)
{
    char addr[32];
    const char *slash;
    struct in_addr in;
    int64_t bits, base, size;
    uint32_t host;

    assert(prefix != NULL && first != NULL && last != NULL);
    slash = strchr(prefix, '/');
    if (slash == NULL || slash - prefix >= (long) sizeof(addr) ||
        util_parse_int64(slash + 1, false, &bits) || bits < 8 || bits > 29)
        return err_set(err, ERR_INVALID_REQUEST, "addressPrefix",
                       "addressPrefix must be an IPv4 prefix from /8 to /29, e.g. 10.0.0.0/24.");
    snprintf(addr, sizeof(addr), "%.*s", (int) (slash - prefix), prefix);
    if (inet_pton(AF_INET, addr, &in) != 1)
        return err_set(err, ERR_INVALID_REQUEST, "addressPrefix",
                       "addressPrefix must be an IPv4 prefix from /8 to /29, e.g. 10.0.0.0/24.");
    host = ntohl(in.s_addr);
    size = (int64_t) 1 << (32 - bits);
    if (host & (uint32_t) (size - 1))
        return err_set(err, ERR_INVALID_REQUEST, "addressPrefix",
                       "addressPrefix has host bits set; use the network address.");
    base = host;
    *first = base + 4;
    *last = base + size - 2;
    return 0;
}

int64_t
ipam_lowest_free(const int64_t *used, size_t n, int64_t from, int64_t last)
{
    int64_t candidate = from;
    size_t i;

    assert(used != NULL || n == 0);
    for (i = 0; i < n && candidate <= last; i++) {
        assert(i == 0 || used[i - 1] < used[i]);
        if (used[i] > candidate)
            break; /* a hole: candidate is free */
        if (used[i] == candidate)
            candidate++;
    }
    return candidate <= last ? candidate : -1;
}

void
ipam_format(int64_t ip, char out[IPAM_TEXT_LEN])
{
    struct in_addr in;

    assert(ip >= 0 && ip <= UINT32_MAX);
    in.s_addr = htonl((uint32_t) ip);
    inet_ntop(AF_INET, &in, out, IPAM_TEXT_LEN);
}

int
ipam_take(store_t *st, const char *network_id, const char *prefix, const char *vm_id, int64_t *ip,
          err_t *err)
{
    int64_t first, last, from, candidate, *used = NULL;
    size_t n = 0;
    int rc = -1;

    assert(st != NULL && network_id != NULL && prefix != NULL && vm_id != NULL && ip != NULL);
    if (ipam_parse_prefix(prefix, &first, &last, err) ||
        store_ip_used(st, network_id, &used, &n, err))
        return -1;
    for (from = first;; from = candidate + 1) {
        candidate = ipam_lowest_free(used, n, from, last);
        if (candidate < 0) {
            err_set(err, ERR_CONFLICT, "networkId", "The network has no free address left.");
            break;
        }
        if (ipam__before_claim != NULL)
            ipam__before_claim(st, network_id, candidate);
        rc = store_ip_claim(st, network_id, vm_id, candidate, err);
        if (rc != 0)
            break;
        /* Taken since the read: the next free one above it. */
    }
    free(used);
    if (rc != 1)
        return -1;
    *ip = candidate;
    return 0;
}
