/*
 * snapshot.c: disk snapshots and their copies (tenant API). Not built yet: every handler answers 500 until
 * the module lands.
 */
#include "internal.h"

#define NOT_YET(fn)                                                                                \
    void fn(api_req_t *r) { api_reply_error(r, ERR_INTERNAL, NULL, "Not built yet."); }

NOT_YET(api_tenant_snapshots_list)
NOT_YET(api_tenant_snapshots_create)
NOT_YET(api_tenant_snapshot_get)
NOT_YET(api_tenant_snapshot_delete)
NOT_YET(api_tenant_snapshot_copy)
