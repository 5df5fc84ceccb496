/*
 * vmrole.h: VM roles (lib/vmrole/: request.c the requests, steps.c the role jobs). sid, or the request's context ctx (its subscription and plan, not read
 * again), scopes everything to the tenant's subscription. Answers are new references.
 */
#ifndef WAPD_VMROLE_H
#define WAPD_VMROLE_H

#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "store.h"
#include "vm.h"

/* The requests, validated for shape at the api edge; strings are borrowed. */
typedef struct {
    const char *name;
    const char *gallery_item_id;
    const char *size;       /* NULL: the gallery item's defaultSize */
    int64_t instance_count;
    const char *network_id; /* may be NULL */
} vmrole_create_req_t;

typedef struct {
    int64_t instance_count;
} vmrole_scale_req_t;

/* A join names a stand-alone VM (vm_id), or an unmanaged VM of a host (host_id and hypervisor_id); the
 * others are NULL. */
typedef struct {
    const char *vm_id;
    const char *host_id;
    const char *hypervisor_id;
} vmrole_join_req_t;

int vmrole_jobs_register(void);
/* Answers the role as a GET shows it (no instances yet) and, in *job, its create job (one step per
 * instance). */
json_t *vmrole_create(store_t *st, const vm_ctx_t *ctx, const vmrole_create_req_t *req, json_t **job,
                      err_t *err);
/* The role's view: its record with `instances` (VM ids, by instance number). */
json_t *vmrole_get(store_t *st, const char *sid, const char *id, err_t *err);
/* The same, with the role record's revision (its ETag) in *rev when rev is not NULL. */
json_t *vmrole_get_rev(store_t *st, const char *sid, const char *id, int64_t *rev, err_t *err);
json_t *vmrole_view(store_t *st, const json_t *role, err_t *err);
/* Scales to req's count within the gallery item's min and max (400 otherwise): answers the job. A scale-in
 * removes the highest-numbered instances, failed ones included, and their VMs from their hosts. */
json_t *vmrole_scale(store_t *st, const vm_ctx_t *ctx, const char *id, const vmrole_scale_req_t *req,
                     err_t *err);
/* Removes the instances (each one's VM from its host, a failed instance's included), then the role:
 * answers the job. */
json_t *vmrole_delete(store_t *st, const vm_ctx_t *ctx, const char *id, err_t *err);
/* The same, only while the role is at revision expect_rev (any when 0): 412 PreconditionFailed otherwise,
 * checked in the transaction that submits the job, so a stale If-Match changes nothing. */
json_t *vmrole_delete_if(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev,
                         err_t *err);

/* Admin: makes a stand-alone VM or an unmanaged one an instance of the role (404 for a missing role comes
 * before 400 for a request that names neither); answers the role's view. */
json_t *vmrole_join(store_t *st, const char *role_id, const vmrole_join_req_t *req, err_t *err);

#endif
