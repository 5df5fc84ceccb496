/*
 * libvirt_read.c: the libvirt driver's checkpoints (domain snapshots) and the host's reads
 * (inventory and host info).
 *
 * A checkpoint is a domain snapshot named by the checkpoint's id, which follows from its name (the
 * name itself when it fits an id, else a digest of it; see agent_libvirt__checkpoint_id), so a
 * create is keyed by the name (a snapshot of that id already there is the answer); the name itself
 * is the snapshot's description, which inventory reports. Restoring reverts the domain to it, power
 * state and configuration included (vCPUs, memory, the disks and the wapd metadata the snapshot's
 * domain definition holds), as a Hyper-V checkpoint does; the volume of a disk attached since stays in
 * the pool until wapd detaches that lun (libvirt_disk.c). What a snapshot of an inactive domain needs depends
 * on the hypervisor (QEMU wants qcow2 volumes for internal snapshots); its refusal comes back as
 * libvirt's error.
 *
 * Inventory lists every domain, wapd's and the others: vm_id, the deallocated flag and the disks
 * come from the domain's metadata (none for an unmanaged one), the rest from libvirt. A domain that
 * goes away while the list is read is left out. A snapshot's size is not reported (0).
 */
#include "libvirt_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Looks the VM's snapshot up by its name (a checkpoint id) into *s (owned by the caller), NULL when
 * the VM has none of that name; -1 with err when the VM is not there or libvirt fails. */
static int
snapshot_find(lv_t *lv, const char *hypervisor_id, const char *id, lv_call_t *x,
              virDomainSnapshotPtr *s, agent_err_t *err)
{
    assert(id != NULL);
    *s = NULL;
    if (agent_libvirt__call_open(lv, hypervisor_id, x, err) < 0)
        return -1;
    *s = virDomainSnapshotLookupByName(x->d, id, 0);
    if (*s == NULL && agent_libvirt__last_code() != VIR_ERR_NO_DOMAIN_SNAPSHOT)
        return agent_libvirt__fail(err, "looking up the checkpoint");
    return 0;
}

int
agent_libvirt__checkpoint_create(void *priv, const agent_call_t *call, const char *hypervisor_id,
                                 const char *name, char checkpoint_id[AGENT_ID_MAX],
                                 agent_err_t *err)
{
    lv_call_t x;
    virDomainSnapshotPtr s = NULL;
    char id[AGENT_ID_MAX], *xml = NULL;
    int rc = -1;

    assert(call != NULL && name != NULL && checkpoint_id != NULL);
    if (name[0] == '\0')
        return agent_fail(err, AGENT_ERR_PERMANENT, "A checkpoint needs a name.");
    agent_libvirt__checkpoint_id(name, id);
    if (snapshot_find(priv, hypervisor_id, id, &x, &s, err) < 0)
        goto cleanup;
    if (s == NULL) { /* keyed by name: only a checkpoint not there yet is made */
        if ((xml = agent_libvirt__snapshot_xml(id, name)) == NULL) {
            agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
            goto cleanup;
        }
        if ((s = virDomainSnapshotCreateXML(x.d, xml, 0)) == NULL) {
            agent_libvirt__fail(err, "creating the checkpoint");
            goto cleanup;
        }
    }
    snprintf(checkpoint_id, AGENT_ID_MAX, "%s", id);
    rc = 0;
cleanup:
    free(xml);
    if (s != NULL)
        virDomainSnapshotFree(s);
    agent_libvirt__call_close(&x);
    return rc;
}

/* After a revert: the metadata the snapshot held (taken on another host before a migration) names
 * this host again. */
static int
keep_holder(lv_t *lv, virDomainPtr d, agent_err_t *err)
{
    lv_meta_t m;

    if (agent_libvirt__meta_get(d, &m, err) < 0)
        return -1;
    if (!agent_libvirt__held_elsewhere(lv, &m))
        return 0;
    memcpy(m.host_id, lv->host_id, sizeof(m.host_id));
    return agent_libvirt__meta_set(d, &m, err);
}

/* Deletes the checkpoint, or reverts the VM to it. */
static int
snapshot_act(void *priv, const char *hypervisor_id, const char *checkpoint_id, bool restore,
             agent_err_t *err)
{
    lv_call_t x;
    virDomainSnapshotPtr s;
    int rc = -1;

    if (snapshot_find(priv, hypervisor_id, checkpoint_id, &x, &s, err) < 0)
        goto cleanup;
    if (s == NULL) {
        agent_fail(err, AGENT_ERR_NOT_FOUND, "The VM has no checkpoint %s.", checkpoint_id);
        goto cleanup;
    }
    rc = restore ? virDomainRevertToSnapshot(s, 0) : virDomainSnapshotDelete(s, 0);
    if (rc < 0)
        agent_libvirt__fail(err, restore ? "restoring the checkpoint" : "deleting the checkpoint");
    else if (restore)
        rc = keep_holder(priv, x.d, err);
    virDomainSnapshotFree(s);
cleanup:
    agent_libvirt__call_close(&x);
    return rc < 0 ? -1 : 0;
}

int
agent_libvirt__checkpoint_delete(void *priv, const agent_call_t *call, const char *hypervisor_id,
                                 const char *checkpoint_id, agent_err_t *err)
{
    assert(call != NULL);
    return snapshot_act(priv, hypervisor_id, checkpoint_id, false, err);
}

int
agent_libvirt__checkpoint_restore(void *priv, const agent_call_t *call, const char *hypervisor_id,
                                  const char *checkpoint_id, agent_err_t *err)
{
    assert(call != NULL);
    return snapshot_act(priv, hypervisor_id, checkpoint_id, true, err);
}

/* ---- the host's reads ---- */

static int
read_checkpoints(virDomainPtr d, agent_vm_info_t *vm, agent_err_t *err)
{
    virDomainSnapshotPtr *snaps = NULL;
    int n = virDomainListAllSnapshots(d, &snaps, 0);

    if (n < 0)
        return agent_libvirt__fail(err, "listing the VM's checkpoints");
    for (int i = 0; i < n; i++) {
        if (vm->ncheckpoints < AGENT_MAX_CHECKPOINTS) {
            agent_checkpoint_info_t *cp = &vm->checkpoints[vm->ncheckpoints++];
            const char *id = virDomainSnapshotGetName(snaps[i]);
            char *xml = virDomainSnapshotGetXMLDesc(snaps[i], 0);
            snprintf(cp->id, sizeof(cp->id), "%s", id != NULL ? id : "");
            /* the name is the description wapd wrote, else the snapshot's own name */
            if (xml == NULL ||
                agent_libvirt__snapshot_description(xml, cp->name, sizeof(cp->name)) < 0)
                memcpy(cp->name, cp->id, sizeof(cp->id));
            free(xml);
        }
        virDomainSnapshotFree(snaps[i]);
    }
    free(snaps);
    return 0;
}

/* Fills *vm from the domain; -1 with err (AGENT_ERR_NOT_FOUND when it went away meanwhile or
 * another host holds it). */
static int
read_vm(lv_t *lv, virDomainPtr d, agent_vm_info_t *vm, agent_err_t *err)
{
    virDomainInfo info;
    lv_meta_t m;
    const char *name;

    memset(vm, 0, sizeof(*vm));
    if (virDomainGetUUIDString(d, vm->hypervisor_id) < 0 || virDomainGetInfo(d, &info) < 0 ||
        (name = virDomainGetName(d)) == NULL)
        return agent_libvirt__fail(err, "reading a VM");
    if (agent_libvirt__meta_get(d, &m, err) < 0)
        return -1;
    if (agent_libvirt__held_elsewhere(lv, &m))
        return agent_fail(err, AGENT_ERR_NOT_FOUND, "Another host holds the VM.");
    snprintf(vm->name, sizeof(vm->name), "%s", name);
    snprintf(vm->vm_id, sizeof(vm->vm_id), "%s", m.vm_id);
    switch (info.state) {
    case VIR_DOMAIN_SHUTOFF:
    case VIR_DOMAIN_CRASHED:
        vm->power = m.deallocated ? AGENT_VM_DEALLOCATED : AGENT_VM_STOPPED;
        break;
    case VIR_DOMAIN_NOSTATE:
        vm->power = AGENT_VM_UNKNOWN;
        break;
    default:
        vm->power = AGENT_VM_RUNNING;
    }
    vm->cores = info.nrVirtCpu;
    vm->memory_mb = (int) (info.memory / 1024);
    /* The balloon's current size (currentMemory) is what a running VM is assigned. */
    vm->assigned_memory_mb = vm->power == AGENT_VM_RUNNING ? (int) (info.memory / 1024) : 0;
    /* guest_heartbeat stays "" (not reported): wapd does not query a guest agent through libvirt (its
     * test driver has none). */
    vm->ndisks = m.ndisks;
    for (int i = 0; i < m.ndisks; i++) {
        vm->disks[i].lun = m.disks[i].lun;
        vm->disks[i].size_gb = m.disks[i].size_gb;
    }
    return read_checkpoints(d, vm, err);
}

/* Every domain of the host into *vms. */
static int
read_vms(lv_t *lv, virConnectPtr c, agent_vm_list_t *vms, agent_err_t *err)
{
    virDomainPtr *doms = NULL;
    agent_vm_info_t *list = NULL;
    agent_err_t one;
    int n = virConnectListAllDomains(c, &doms, 0), rc = 0;
    size_t k = 0;

    if (n < 0)
        return agent_libvirt__fail(err, "listing the VMs");
    if (n > 0 && (list = calloc((size_t) n, sizeof(*list))) == NULL)
        rc = agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    for (int i = 0; i < n; i++) {
        if (rc == 0 && read_vm(lv, doms[i], &list[k], &one) == 0)
            k++;
        else if (rc == 0 && one.status != AGENT_ERR_NOT_FOUND) /* not gone, nor elsewhere */
            rc = -1, *err = one;
        virDomainFree(doms[i]);
    }
    free(doms);
    if (rc < 0) {
        free(list);
        return -1;
    }
    vms->n = k;
    vms->vms = list;
    return 0;
}

int
agent_libvirt__inventory(void *priv, const agent_call_t *call, agent_vm_list_t *vms,
                         agent_err_t *err)
{
    virConnectPtr c;
    int rc;

    assert(priv != NULL && call != NULL && vms != NULL);
    if ((c = agent_libvirt__conn(priv, err)) == NULL)
        return -1;
    rc = read_vms(priv, c, vms, err);
    virConnectClose(c);
    return rc;
}

/* The pool's capacity in GB, 0 when the host has no pool for disks. */
static int64_t
storage_gb(lv_t *lv, virConnectPtr c)
{
    agent_err_t ignored;
    virStoragePoolPtr pool = agent_libvirt__pool(lv, c, &ignored);
    virStoragePoolInfo info;
    int64_t gb = 0;

    if (pool == NULL)
        return 0;
    if (virStoragePoolGetInfo(pool, &info) == 0)
        gb = (int64_t) (info.capacity >> 30);
    virStoragePoolFree(pool);
    return gb;
}

int
agent_libvirt__host_info(void *priv, const agent_call_t *call, agent_host_info_t *info,
                         agent_err_t *err)
{
    virConnectPtr c;
    virNodeInfo node;
    agent_vm_list_t vms = {0, NULL};
    unsigned long ver = 0;
    char *host = NULL;
    int rc = -1;

    assert(priv != NULL && call != NULL && info != NULL);
    if ((c = agent_libvirt__conn(priv, err)) == NULL)
        return -1;
    if (virNodeGetInfo(c, &node) < 0 || virConnectGetLibVersion(c, &ver) < 0 ||
        (host = virConnectGetHostname(c)) == NULL) {
        agent_libvirt__fail(err, "reading the host");
        goto cleanup;
    }
    if (read_vms(priv, c, &vms, err) < 0)
        goto cleanup;
    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "%s", host);
    snprintf(info->backend, sizeof(info->backend), "libvirt");
    snprintf(info->version, sizeof(info->version), "%lu.%lu.%lu", ver / 1000000, ver / 1000 % 1000,
             ver % 1000);
    info->cores = node.cpus;
    info->memory_mb = (int64_t) (node.memory / 1024);
    info->storage_gb = storage_gb(priv, c);
    info->vms = (int64_t) vms.n;
    for (size_t i = 0; i < vms.n; i++)
        if (vms.vms[i].power != AGENT_VM_DEALLOCATED) {
            info->used_cores += vms.vms[i].cores;
            info->used_memory_mb += vms.vms[i].memory_mb;
        }
    rc = 0;
cleanup:
    free(vms.vms);
    free(host);
    virConnectClose(c);
    return rc;
}
