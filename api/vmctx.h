/*
 * vmctx.h: the tenant request's context (its subscription and plan, as the pipeline loaded them once,
 * inside the request's transaction) in the form lib's VM-side entry points take it. For the handlers of
 * paths under /v1/subscriptions/{sid}, whose first parameter is the subscription id.
 */
#ifndef WAPD_API_VMCTX_H
#define WAPD_API_VMCTX_H

#include <assert.h>

#include "../lib/vm.h"
#include "internal.h"

static inline vm_ctx_t
api_vm_ctx(const api_req_t *r)
{
    vm_ctx_t c = {r->params[0], r->sub, r->plan};

    assert(r->nparams > 0 && r->sub != NULL && r->plan != NULL);
    return c;
}

#endif
