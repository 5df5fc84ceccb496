/*
 * vmrole.h: VM roles (lib/vmrole/: request.c the requests, steps.c the role jobs). sid, or the request's context ctx (its subscription and plan, not read
 * again), scopes everything to the tenant's subscription. Answers are new references.
 */
#ifndef WAPD_VMROLE_H
#define WAPD_VMROLE_H

#include <jansson.h>

#include "err.h"
#include "store.h"
#include "vm.h"

int vmrole_jobs_register(void);
/* body {name, galleryItemId, size?, instanceCount, networkId?}: answers the role and, in *job, its
 * create job (one step per instance). */
json_t *vmrole_create(store_t *st, const vm_ctx_t *ctx, const json_t *body, json_t **job, err_t *err);
/* The role's view: its record with `instances` (VM ids, by instance number). */
json_t *vmrole_get(store_t *st, const char *sid, const char *id, err_t *err);
json_t *vmrole_view(store_t *st, const json_t *role, err_t *err);
/* Scales to count within the gallery item's min and max (400 otherwise): answers the job. */
json_t *vmrole_scale(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t count, err_t *err);
/* Removes the instances, then the role: answers the job. */
json_t *vmrole_delete(store_t *st, const vm_ctx_t *ctx, const char *id, err_t *err);

/* Admin: makes a stand-alone VM ({vmId}) or an unmanaged one ({hostId, hypervisorId}) an instance of the
 * role; answers the role's view. */
json_t *vmrole_join(store_t *st, const char *role_id, const json_t *body, err_t *err);

#endif
