/*
 * inventory_internal.h: what lib/inventory.c (sync) and lib/inventory/adopt.c (re-association, adoption)
 * share; not for other modules.
 */
#ifndef WAPD_INVENTORY_INTERNAL_H
#define WAPD_INVENTORY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "../err.h"
#include "../store.h"
#include "../vm/vmrec.h"

/* True while a job is under way on the VM: its provisioning or power state is transitional. */
bool inventory__busy(const vm_rec_t *vm);
/* The host's power state text (NULL: unknown) as a VM power state; an internal error naming powerState
 * for a text no state names. */
int inventory__host_power(const char *text, vm_power_t *out, err_t *err);
/* Copies text (NULL: "") into a record's buffer of size; too long is an internal error naming field. */
int inventory__put_text(char *out, size_t size, const char *text, const char *field, err_t *err);
/* The host's inventory, {hypervisorId: VM in the agent's JSON form} (a new reference), or NULL with err. */
json_t *inventory__host_inventory(store_t *st, const char *host_id, err_t *err);
/* Whether any record owns hypervisor id hyp: 1, 0, or -1 with err. */
int inventory__owned(store_t *st, const char *hyp, err_t *err);
/* Records what the host reports of vm (seen, its inventory entry in the agent's JSON form; NULL: nothing)
 * on the record, saving it in the caller's transaction only when a value changed; a VM a job is changing is
 * left alone (observe.c). */
int inventory__observe(store_t *st, vm_rec_t *vm, const json_t *seen, err_t *err);

#endif
