/*
 * libvirt_import.c: the libvirt driver's import of a VM from another host (the target's half of a
 * migration), and what a delete does about a migration between two hosts of one libvirt.
 *
 * An import is keyed by the VM id, as a create is, and each of its steps first looks whether it is
 * done, so a repeat finishes an import cut short: the domain (defined for this host, or, when this
 * libvirt already has the VM's domain, taken over from the source host), its checkpoints made
 * again by name (domain snapshots of the new definition), and its power state (started when the
 * source ran, deallocated when it was). It is one synchronous call: AGENT_OK with its progress
 * complete (the disks' bytes, and the memory's when the VM runs).
 *
 * Disks: a connection reads only its own host's storage. The new domain's volumes have the names
 * the source's have (the VM id and the lun), so where the source's volumes are in this pool (one
 * libvirt, or one pool the hosts share) they are the disks, as a migration over shared storage
 * keeps them; otherwise volumes of the disks' sizes are made here, the bytes of a copy between
 * libvirt hosts moving through storage libvirt's API does not reach from here.
 *
 * Two hosts of one libvirt (see libvirt.c): the target takes the domain over (the metadata names
 * it, and the source as the host it came from). The takeover is final when the source deletes its
 * side: that delete answers AGENT_ERR_NOT_FOUND and clears the source's name. Until then a delete
 * on the target (a migration's cleanup) hands the domain back instead of deleting it, so a failed
 * migration leaves the VM where it was.
 */
#include "libvirt_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#define MIB ((int64_t) 1 << 20)

int
agent_libvirt__delete_handoff(lv_t *lv, virDomainPtr d, lv_meta_t *m, int *rc, agent_err_t *err)
{
    assert(lv != NULL && d != NULL && m != NULL && rc != NULL);
    if (agent_libvirt__held_elsewhere(lv, m)) {
        *rc = 0;
        if (strcmp(m->from_host, lv->host_id) == 0) { /* the source lets it go: final */
            m->from_host[0] = '\0';
            *rc = agent_libvirt__meta_set(d, m, err);
        }
        if (*rc == 0)
            *rc = agent_fail(err, AGENT_ERR_NOT_FOUND, "The host has no VM of that id.");
        return 1;
    }
    if (m->from_host[0] == '\0')
        return 0;
    /* taken over, not yet final: back to the host it came from */
    memcpy(m->host_id, m->from_host, sizeof(m->host_id));
    m->from_host[0] = '\0';
    *rc = agent_libvirt__meta_set(d, m, err);
    return 1;
}

/* The domain of this libvirt that already has the VM's UUID becomes this host's: one it holds (an
 * import or create before), one written before hosts were named, or the source's (one libvirt). */
static int
take_over(lv_t *lv, virDomainPtr d, const agent_vm_source_t *src, agent_err_t *err)
{
    lv_meta_t m;

    if (agent_libvirt__meta_get(d, &m, err) < 0)
        return -1;
    if (!agent_libvirt__held_elsewhere(lv, &m) && m.host_id[0] != '\0')
        return 0;
    if (m.host_id[0] != '\0' && strcmp(m.host_id, src->host_id) != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "Another host of this libvirt holds the VM.");
    snprintf(m.from_host, sizeof(m.from_host), "%s",
             m.host_id[0] != '\0' ? m.host_id : src->host_id);
    memcpy(m.host_id, lv->host_id, sizeof(m.host_id));
    return agent_libvirt__meta_set(d, &m, err);
}

/* Defines the domain for this host: spec's disks as plain volumes of their sizes (kept where the
 * pool has them: see above), not made from the VM's image or volume again. */
static virDomainPtr
define_copy(lv_t *lv, virConnectPtr c, const agent_vm_spec_t *spec, const agent_vm_source_t *src,
            agent_err_t *err)
{
    agent_disk_spec_t disks[AGENT_MAX_DISKS];
    agent_vm_spec_t copy = *spec;

    assert(spec->ndisks >= 0 && spec->ndisks <= AGENT_MAX_DISKS);
    for (int i = 0; i < spec->ndisks; i++) {
        disks[i] = spec->disks[i];
        disks[i].image_id = NULL;
        disks[i].volume_id = NULL;
    }
    copy.disks = disks;
    return agent_libvirt__define_vm(lv, c, &copy, src->power == AGENT_VM_DEALLOCATED, err);
}

/* The domain of the VM id: found (and taken over when it must be) or defined. */
static virDomainPtr
import_domain(lv_t *lv, virConnectPtr c, const agent_vm_spec_t *spec, const agent_vm_source_t *src,
              agent_err_t *err)
{
    virDomainPtr d = NULL;
    int found = agent_libvirt__domain_of_vm(c, spec->vm_id, &d, err);

    if (found <= 0)
        return found == 0 ? define_copy(lv, c, spec, src, err) : NULL;
    if (take_over(lv, d, src, err) < 0) {
        virDomainFree(d);
        return NULL;
    }
    return d;
}

/* Starts the domain when the source ran and it does not run yet. */
static int
import_power(virDomainPtr d, const agent_vm_source_t *src, agent_err_t *err)
{
    int active;

    if (src->power != AGENT_VM_RUNNING)
        return 0;
    if ((active = virDomainIsActive(d)) < 0)
        return agent_libvirt__fail(err, "reading the VM's state");
    return agent_libvirt__start(d, active, err);
}

int
agent_libvirt__vm_import(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                         const agent_vm_source_t *src, char hypervisor_id[AGENT_ID_MAX],
                         agent_err_t *err)
{
    lv_call_t x = {NULL, NULL};
    char uuid[VIR_UUID_STRING_BUFLEN], cp[AGENT_ID_MAX];
    int64_t total = 0;
    int rc = -1;

    assert(priv != NULL && call != NULL && spec != NULL && src != NULL && hypervisor_id != NULL);
    assert(spec->vm_id != NULL && spec->name != NULL && src->host_id != NULL);
    assert(src->ncheckpoints >= 0 && (src->ncheckpoints == 0 || src->checkpoints != NULL));
    if ((x.c = agent_libvirt__conn(priv, err)) == NULL ||
        (x.d = import_domain(priv, x.c, spec, src, err)) == NULL)
        goto cleanup;
    if (virDomainGetUUIDString(x.d, uuid) < 0) {
        agent_libvirt__fail(err, "reading the VM's UUID");
        goto cleanup;
    }
    /* checkpoints first: a snapshot of the domain before it starts (keyed by name) */
    for (int i = 0; i < src->ncheckpoints; i++)
        if (agent_libvirt__checkpoint_create(priv, call, uuid, src->checkpoints[i], cp, err) < 0)
            goto cleanup;
    if (import_power(x.d, src, err) < 0)
        goto cleanup;
    if (call->progress != NULL) {
        for (int i = 0; i < spec->ndisks; i++)
            total += (int64_t) spec->disks[i].size_gb * 1024 * MIB;
        if (src->power == AGENT_VM_RUNNING)
            total += (int64_t) spec->memory_mb * MIB;
        call->progress->bytes_total = total;
        call->progress->bytes_copied = total;
    }
    snprintf(hypervisor_id, AGENT_ID_MAX, "%s", uuid);
    rc = 0;
cleanup:
    agent_libvirt__call_close(&x);
    return rc;
}
