/*
 * journal_internal.h: what the journal decorator (journal.c) takes from journal_args.c, the canonical
 * argument arrays it fingerprints and the result text of the answers that are not an id; not for other
 * modules.
 *
 * A call's array is its operation's name followed by every argument that changes what the call does, in a
 * fixed order, so that the same call always gives the same fingerprint and any other call another one.
 * Every function answers a new reference, NULL when out of memory.
 */
#ifndef WAPD_AGENT_JOURNAL_INTERNAL_H
#define WAPD_AGENT_JOURNAL_INTERNAL_H

#include "../agent.h"

/* A disk spec: [lun, sizeGB, caching, imageId, volumeId]. */
json_t *journal__disk_args(const agent_disk_spec_t *d);
/* A VM create (op: its name) or the spec part of an import. */
json_t *journal__spec_args(const char *op, const agent_vm_spec_t *spec);
/* An import: the spec's array, then [hostId, hypervisorId, power, [checkpoint names]]. */
json_t *journal__import_args(const agent_vm_spec_t *spec, const agent_vm_source_t *src);
/* Forwards a volume snapshot to inner, writing its size, the answer the journal keeps, as the result
 * text res; journal__size_parse reads it back (-1 when it is not a size). */
int journal__snapshot_forward(agent_t *inner, const agent_call_t *call, const char *hyp, int lun,
                              const char *volume_id, char res[AGENT_ID_MAX], agent_err_t *err);
int journal__size_parse(const char *text, int64_t *size_gb);

#endif
