/*
 * demo.h: --demo seeds an empty state dir with a small world a newcomer can try at once.
 */
#ifndef WAPD_DEMO_H
#define WAPD_DEMO_H

#include <stdio.h>

#include "../lib/store.h"

/* Seeds when the store holds no cloud and no user, then prints a tenant token and curl lines to out.
 * admin_url and tenant_url are "http://host:port"; admin_token_hint is how the curl lines spell the admin
 * token (never its value). Returns 0, or -1 with a message on stderr. */
int demo_seed(store_t *st, FILE *out, const char *admin_url, const char *tenant_url,
              const char *admin_token_hint);

#endif
