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
#include "../vm/vmrec.h"

/* One of a role's instances: its instance number (0 when its name is not <role>-<n>) and its record. */
typedef struct {
    int64_t n;
    vm_rec_t vm;
} vmrole_instance_t;

/* The role's instances by instance number: an array of *count (owned by the caller, who frees it with
 * free(); NULL when there are none) in *out, written only on success. 0, or -1 with err. */
int vmrole__instances(store_t *st, const json_t *role, vmrole_instance_t **out, size_t *count,
                      err_t *err);
/* Sets the role's provisioning state (and updatedAt) and saves the role. */
int vmrole__set_state(store_t *st, json_t *role, const char *state, err_t *err);

#endif
