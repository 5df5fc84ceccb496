/*
 * image.c: generalize, capture and private images (tenant API). Not built yet: every handler answers 500
 * until the module lands.
 */
#include "internal.h"

#define NOT_YET(fn)                                                                                \
    void fn(api_req_t *r) { api_reply_error(r, ERR_INTERNAL, NULL, "Not built yet."); }

NOT_YET(api_tenant_vm_generalize)
NOT_YET(api_tenant_vm_capture)
NOT_YET(api_tenant_image_get)
NOT_YET(api_tenant_image_delete)
