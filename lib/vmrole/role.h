/*
 * role.h: what the two halves of the VM role module share (request.c answers the requests, steps.c runs the
 * role jobs). Not for use outside lib/vmrole/.
 *
 * A role's instances are the VMs whose vmRoleId is the role's id, named <role>-<n>; n is the instance
 * number. Both functions work in the caller's transaction.
 */
#ifndef WAPD_VMROLE_ROLE_H
#define WAPD_VMROLE_ROLE_H

#include <jansson.h>

#include "../err.h"
#include "../store.h"

/* The role's instances (records, new references), by instance number, each carrying "_n" (its number). */
json_t *vmrole__instances(store_t *st, const json_t *role, err_t *err);
/* Sets the role's provisioning state (and updatedAt) and saves the role. */
int vmrole__set_state(store_t *st, json_t *role, const char *state, err_t *err);

#endif
