/*
 * journal_args.c: the canonical argument arrays of the calls the journal decorator fingerprints, and the
 * result text of a volume snapshot's answer (see journal_internal.h).
 *
 * Invariant: two calls get equal arrays exactly when the host would do the same for both: every argument
 * that changes what a call does is in its array, in a fixed order, with its operation's name first.
 */
#include "journal_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent_internal.h"

json_t *
journal__disk_args(const agent_disk_spec_t *d)
{
    assert(d != NULL);
    return json_pack("[i, i, i, s?, s?]", d->lun, d->size_gb, (int) d->caching, d->image_id,
                     d->volume_id);
}

json_t *
journal__spec_args(const char *op, const agent_vm_spec_t *spec)
{
    json_t *disks = json_array(), *nics = json_array();
    int i;

    assert(op != NULL && spec != NULL);
    for (i = 0; i < spec->ndisks; i++)
        json_array_append_new(disks, journal__disk_args(&spec->disks[i]));
    for (i = 0; i < spec->nnics; i++)
        json_array_append_new(nics, json_pack("[s?, s?, s?]", spec->nics[i].network_id,
                                              spec->nics[i].mac, spec->nics[i].ip));
    return json_pack("[s, s?, s?, i, i, i, i, i, o, o]", op, spec->vm_id, spec->name, spec->cores,
                     spec->memory_mb, spec->memory_min_mb, spec->memory_max_mb, spec->generation,
                     disks, nics);
}

json_t *
journal__import_args(const agent_vm_spec_t *spec, const agent_vm_source_t *src)
{
    json_t *args = journal__spec_args(agent_op_name(AGENT_OP_VM_IMPORT), spec), *cps = json_array();
    int i;

    assert(src != NULL);
    for (i = 0; i < src->ncheckpoints; i++)
        json_array_append_new(cps, json_string(src->checkpoints[i]));
    if (json_array_append_new(args, json_pack("[s, s, i, o]", src->host_id, src->hypervisor_id,
                                              (int) src->power, cps)) != 0) {
        json_decref(args);
        return NULL;
    }
    return args;
}

int
journal__snapshot_forward(agent_t *inner, const agent_call_t *call, const char *hyp, int lun,
                          const char *volume_id, char res[AGENT_ID_MAX], agent_err_t *err)
{
    int64_t size = 0;

    if (agent_volume_snapshot(inner, call, hyp, lun, volume_id, &size, err) != 0)
        return -1;
    snprintf(res, AGENT_ID_MAX, "%lld", (long long) size);
    return 0;
}

int
journal__size_parse(const char *text, int64_t *size_gb)
{
    char *end;
    long long size;

    assert(text != NULL && size_gb != NULL);
    size = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || size < 0)
        return -1;
    *size_gb = size;
    return 0;
}
