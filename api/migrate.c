/*
 * migrate.c: VM migration (admin API). Not built yet: the handler answers 500 until the module lands.
 */
#include "internal.h"

void
api_admin_vm_migrate(api_req_t *r)
{
    api_reply_error(r, ERR_INTERNAL, NULL, "Not built yet.");
}
