/*
 * requests.h: the bodies of the routes that create something (and of the other POST and PUT routes whose
 * bodies have required fields), as one table. Each entry names its route, the field table its handler
 * checks the body against (the very table, not a copy), and the typed step that follows the table in the
 * handler, where there is one (a VM's data disks, a disk to attach).
 *
 * Parsing a body reads the body and nothing else: no store is at hand. A body without one of its
 * required fields is a 400 InvalidRequest whose target (and details) name the field, before any handler
 * reads or writes state. The table is what the unit tests (tests/unit/test_required_fields.c) hold
 * against the contract's required lists, and what fuzzing can drive.
 */
#ifndef WAPD_API_REQUESTS_H
#define WAPD_API_REQUESTS_H

#include <jansson.h>

#include "internal.h"

/* The typed step of a route whose table alone does not make its typed request: reads a body the table
 * has checked into that request (and drops it): 0, or -1 with err (400 naming the field). */
typedef int (*api_body_typed_fn)(const json_t *body, err_t *err);

typedef struct {
    const char *route;             /* "POST /v1/admin/clouds": method and the router's pattern */
    const jv_field_t *const *spec; /* where the handler's field table is */
    api_body_typed_fn typed;       /* NULL: the table is all */
} api_body_route_t;

/* Every such route, ended by an entry whose route is NULL. */
extern const api_body_route_t api_body_routes[];

/* The entry of route, or NULL. */
const api_body_route_t *api_body_route(const char *route);

/* Parses body as the route's handler does before it touches anything: the field table (as a create:
 * required fields required), then the typed step. 0; or -1 with err (400, the first fault) and, when
 * details is not NULL and the table found the faults, *details a new array of every fault. */
int api_body_parse(const api_body_route_t *b, const json_t *body, err_t *err, json_t **details);

/* The field tables of the handlers' files, for the table above. */
extern const jv_field_t *const api_spec_vm_create, *const api_spec_disk_attach,
    *const api_spec_network_create;
extern const jv_field_t *const api_spec_vmrole_create, *const api_spec_vmrole_scale;
extern const jv_field_t *const api_spec_snapshot_create, *const api_spec_snapshot_copy;
extern const jv_field_t *const api_spec_checkpoint_put, *const api_spec_checkpoint_prune;
extern const jv_field_t *const api_spec_vm_capture;
extern const jv_field_t *const api_spec_token_create, *const api_spec_admin_token_create;
extern const jv_field_t *const api_spec_host_simulate, *const api_spec_vm_reassociate;
extern const jv_field_t *const api_spec_vm_migrate, *const api_spec_usage_ack;

/* The typed steps of vm.c. */
int api_vm_create_typed(const json_t *body, err_t *err);
int api_disk_attach_typed(const json_t *body, err_t *err);

#endif
