/*
 * viewcache.h: the rendered views of VMs, kept by record position and revision so that a list page
 * renders only the VMs that changed since they were last shown (see viewcache.c). Internal to lib/vm.
 */
#ifndef WAPD_VM_VIEWCACHE_H
#define WAPD_VM_VIEWCACHE_H

#include <stdbool.h>

#include "../store.h"
#include "../util.h"

/* Which view: the tenant's, the tenant's with the checkpoint hidden, the admin's. */
typedef enum {
    VIEWCACHE_TENANT,
    VIEWCACHE_TENANT_NO_CHECKPOINT,
    VIEWCACHE_ADMIN,
} viewcache_form_t;

/* Whether the view of the record key names (at its revision) in that form is kept. */
bool viewcache_has(const store_rec_key_t *key, viewcache_form_t form);
/* Appends the kept view to b: true, or false when it is not (or no longer) kept. */
bool viewcache_append(const store_rec_key_t *key, viewcache_form_t form, util_buf_t *b);
/* Keeps a copy of text (len bytes), the view of key in that form; out of memory keeps nothing. */
void viewcache_put(const store_rec_key_t *key, viewcache_form_t form, const char *text, size_t len);

#endif
