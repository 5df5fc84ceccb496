/*
 * accounts_internal.h: what the parts of the accounts module share; not for other modules.
 *
 * The module is lib/accounts.c (tokens, subscriptions, a user's create), lib/accounts/admin_tokens.c
 * (named admin tokens with a scope) and lib/accounts/users.c (a
 * user's change, suspend and delete). Every function here runs in the caller's transaction, or in one of
 * its own when none is open.
 */
#ifndef WAPD_ACCOUNTS_INTERNAL_H
#define WAPD_ACCOUNTS_INTERNAL_H

#include "../accounts.h"

/* Writes rec of kind (a new record when insert, else an update of its id) and raises the event type about
 * resource_id (no subscription) in one transaction of its own (nested in the caller's when one is open).
 * rec is borrowed; data is stolen. */
int accounts__write_with_event(store_t *st, const store_kind_t *kind, const json_t *rec, bool insert,
                               const char *type, const char *resource_id, json_t *data, err_t *err);

/* accounts_subscription_update, with job_params (borrowed; NULL: none) as the suspend job's params: a
 * user's suspend names the user there, so that activating the user finds what it suspended. */
json_t *accounts__subscription_update(store_t *st, const char *id,
                                      const accounts_subscription_patch_t *patch,
                                      int64_t expect_rev, const json_t *job_params, json_t **job,
                                      err_t *err);

#endif
