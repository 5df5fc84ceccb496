/*
 * libvirt_vm.c: the libvirt driver's operations that change a VM: create, delete, power actions,
 * release, resize; and the volumes of disks, which data disks (libvirt_disk.c) share.
 *
 * Each is idempotent by its key, as lib/agent.h asks, without a journal of its own: create by the
 * VM id (a domain with that UUID is the answer), volumes by their names (the VM id and lun: one
 * already there is used), a disk by its lun in the metadata, power actions by the state they lead
 * to (starting a running domain or stopping a stopped one changes nothing). Delete undoes create in
 * an order that a repeat can finish: the domain is undefined last, so a delete cut short is found
 * and finished by the next, and answers AGENT_ERR_NOT_FOUND once the domain is gone.
 */
#include "libvirt_internal.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* libvirt's domain type for the connection: kvm on QEMU, the driver's own name elsewhere (test,
 * ...). */
static void
domain_type(virConnectPtr c, char out[16])
{
    const char *t = virConnectGetType(c);
    size_t i;

    if (t == NULL || strcmp(t, "QEMU") == 0) {
        snprintf(out, 16, "kvm");
        return;
    }
    for (i = 0; i < 15 && t[i] != '\0'; i++)
        out[i] = (char) tolower((unsigned char) t[i]);
    out[i] = '\0';
}

/* Makes the volume of a disk; see libvirt_internal.h. */
int
agent_libvirt__volume_make(virStoragePoolPtr pool, const char *vm_id, const agent_disk_spec_t *disk,
                           agent_err_t *err)
{
    char name[LV_VOL_MAX], *xml = NULL;
    const char *src_name = disk->image_id != NULL ? disk->image_id : disk->volume_id;
    virStorageVolPtr vol = NULL, src = NULL;
    int rc = -1, found;

    agent_libvirt__vol_name(vm_id, disk->lun, name);
    if ((found = agent_libvirt__volume_find(pool, name, &vol, err)) != 0) {
        rc = found > 0 ? 0 : -1;
        goto cleanup;
    }
    if (src_name != NULL && agent_libvirt__volume_find(pool, src_name, &src, err) < 0)
        goto cleanup;
    /* a clone of a volume needs it: an empty disk in its place would lose what it holds */
    if (src == NULL && disk->image_id == NULL && disk->volume_id != NULL) {
        agent_fail(err, AGENT_ERR_NOT_FOUND, "The host has no volume %s to clone.",
                   disk->volume_id);
        goto cleanup;
    }
    if ((xml = agent_libvirt__volume_xml(name, disk->size_gb)) == NULL) {
        agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        goto cleanup;
    }
    vol = src != NULL ? virStorageVolCreateXMLFrom(pool, xml, src, 0)
                      : virStorageVolCreateXML(pool, xml, 0);
    if (vol == NULL)
        agent_libvirt__fail(err, "creating a disk's volume");
    else
        rc = 1;
cleanup:
    free(xml);
    if (src != NULL)
        virStorageVolFree(src);
    if (vol != NULL)
        virStorageVolFree(vol);
    return rc;
}

/* Deletes the volume of a disk; see libvirt_internal.h. */
int
agent_libvirt__disk_volume_delete(virStoragePoolPtr pool, const char *vm_id, int lun,
                                  agent_err_t *err)
{
    char name[LV_VOL_MAX];
    virStorageVolPtr vol;
    int rc;

    agent_libvirt__vol_name(vm_id, lun, name);
    vol = virStorageVolLookupByName(pool, name);
    if (vol == NULL)
        return agent_libvirt__last_code() == VIR_ERR_NO_STORAGE_VOL
                   ? 0
                   : agent_libvirt__fail(err, "looking up a disk's volume");
    rc = virStorageVolDelete(vol, 0);
    if (rc < 0)
        agent_libvirt__fail(err, "deleting a disk's volume");
    virStorageVolFree(vol);
    return rc < 0 ? -1 : 0;
}

/* The name for the new domain: the spec's, or the spec's suffixed with the VM id when it is taken
 * (or when taken is true: another domain took it meanwhile). */
static void
domain_name(virConnectPtr c, const agent_vm_spec_t *spec, bool taken, char out[AGENT_NAME_MAX])
{
    virDomainPtr other = taken ? NULL : virDomainLookupByName(c, spec->name);

    if (!taken && other == NULL) {
        snprintf(out, AGENT_NAME_MAX, "%s", spec->name);
        return;
    }
    if (other != NULL)
        virDomainFree(other);
    snprintf(out, AGENT_NAME_MAX, "%.*s-%s", AGENT_NAME_MAX - AGENT_ID_MAX - 2, spec->name,
             spec->vm_id);
}

/* Defines the domain, under the spec's name or, when another domain has it or takes it while this
 * one is defined, under the name suffixed with the VM id. */
static virDomainPtr
define_named(virConnectPtr c, const agent_vm_spec_t *spec, const char *pool,
             char (*nets)[AGENT_NAME_MAX], const lv_meta_t *m, agent_err_t *err)
{
    char name[AGENT_NAME_MAX], type[16], *xml;
    virDomainPtr d = NULL;
    bool taken = false;

    domain_type(c, type);
    for (;;) {
        domain_name(c, spec, taken, name);
        if ((xml = agent_libvirt__domain_xml(type, name, spec, pool, nets, m)) == NULL) {
            agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
            return NULL;
        }
        d = virDomainDefineXML(c, xml);
        free(xml);
        if (d != NULL || taken || strcmp(name, spec->name) != 0 ||
            agent_libvirt__last_code() != VIR_ERR_OPERATION_FAILED)
            break;
        taken = true;
    }
    if (d == NULL)
        agent_libvirt__fail(err, "defining the VM");
    return d;
}

/* Looks the VM's domain up by its id; see libvirt_internal.h. */
int
agent_libvirt__domain_of_vm(virConnectPtr c, const char *vm_id, virDomainPtr *d, agent_err_t *err)
{
    int code;

    assert(c != NULL && vm_id != NULL && d != NULL);
    if ((*d = virDomainLookupByUUIDString(c, vm_id)) != NULL)
        return 1;
    code = agent_libvirt__last_code();
    if (code == VIR_ERR_NO_DOMAIN)
        return 0;
    if (code == VIR_ERR_INVALID_ARG)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The VM id %s is not a UUID.", vm_id);
    return agent_libvirt__fail(err, "looking up the VM");
}

/* Defines the domain of spec; see libvirt_internal.h. */
virDomainPtr
agent_libvirt__define_vm(lv_t *lv, virConnectPtr c, const agent_vm_spec_t *spec, bool deallocated,
                         agent_err_t *err)
{
    virStoragePoolPtr pool = agent_libvirt__pool(lv, c, err);
    virDomainPtr d = NULL;
    lv_meta_t m;
    char(*nets)[AGENT_NAME_MAX] = NULL;
    bool fresh[AGENT_MAX_DISKS] = {false};
    int made = 0, rc;

    assert(spec->ndisks <= AGENT_MAX_DISKS);
    if (pool == NULL)
        return NULL;
    memset(&m, 0, sizeof(m));
    /* as libvirt writes the UUID, so that delete and the disk calls find the volumes by it */
    for (size_t i = 0; spec->vm_id[i] != '\0' && i < sizeof(m.vm_id) - 1; i++)
        m.vm_id[i] = (char) tolower((unsigned char) spec->vm_id[i]);
    memcpy(m.host_id, lv->host_id, sizeof(m.host_id));
    m.deallocated = deallocated;
    for (; made < spec->ndisks; made++) {
        if ((rc = agent_libvirt__volume_make(pool, m.vm_id, &spec->disks[made], err)) < 0)
            goto cleanup;
        fresh[made] = rc > 0;
        m.disks[made].lun = spec->disks[made].lun;
        m.disks[made].size_gb = spec->disks[made].size_gb;
        m.ndisks++;
    }
    nets = calloc((size_t) spec->nnics + 1, sizeof(*nets));
    if (nets == NULL) {
        agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        goto cleanup;
    }
    for (int i = 0; i < spec->nnics; i++)
        agent_libvirt__network(lv, c, spec->nics[i].network_id, nets[i]);
    d = define_named(c, spec, virStoragePoolGetName(pool), nets, &m, err);
cleanup:
    if (d == NULL && err->status != AGENT_ERR_TRANSIENT) {
        agent_err_t ignored;
        for (int i = 0; i < made; i++) /* only what this call made: a kept one may be in use */
            if (fresh[i])
                agent_libvirt__disk_volume_delete(pool, m.vm_id, spec->disks[i].lun, &ignored);
    }
    free(nets);
    virStoragePoolFree(pool);
    return d;
}

int
agent_libvirt__vm_create(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                         char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    lv_call_t x = {NULL, NULL};
    char uuid[VIR_UUID_STRING_BUFLEN];
    int rc = -1, found;

    assert(priv != NULL && call != NULL && spec != NULL && hypervisor_id != NULL);
    assert(spec->vm_id != NULL && spec->name != NULL);
    assert(spec->ndisks >= 0 && spec->ndisks <= AGENT_MAX_DISKS && spec->nnics >= 0);
    if ((x.c = agent_libvirt__conn(priv, err)) == NULL)
        return -1;
    /* keyed by the VM id: a domain with that UUID is the VM created before */
    if ((found = agent_libvirt__domain_of_vm(x.c, spec->vm_id, &x.d, err)) < 0 ||
        (found == 0 && (x.d = agent_libvirt__define_vm(priv, x.c, spec, false, err)) == NULL))
        goto cleanup;
    if (virDomainGetUUIDString(x.d, uuid) < 0) {
        agent_libvirt__fail(err, "reading the VM's UUID");
        goto cleanup;
    }
    snprintf(hypervisor_id, AGENT_ID_MAX, "%s", uuid);
    rc = 0;
cleanup:
    agent_libvirt__call_close(&x);
    return rc;
}

int
agent_libvirt__vm_delete(void *priv, const agent_call_t *call, const char *hypervisor_id,
                         agent_err_t *err)
{
    lv_call_t x = {NULL, NULL};
    lv_meta_t m;
    virDomainSnapshotPtr *snaps = NULL;
    virStoragePoolPtr pool = NULL;
    char uuid[VIR_UUID_STRING_BUFLEN];
    unsigned int undefine =
        VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE;
    int n = 0, rc = -1;

    assert(call != NULL);
    /* not agent_libvirt__call_open: a domain another host holds may be one migrated from here */
    if ((x.c = agent_libvirt__conn(priv, err)) == NULL ||
        (x.d = agent_libvirt__domain(x.c, hypervisor_id, err)) == NULL ||
        agent_libvirt__meta_get(x.d, &m, err) < 0 ||
        agent_libvirt__delete_handoff(priv, x.d, &m, &rc, err) != 0)
        goto cleanup;
    if (virDomainGetUUIDString(x.d, uuid) < 0) {
        agent_libvirt__fail(err, "reading the VM's UUID");
        goto cleanup;
    }
    if (virDomainIsActive(x.d) == 1 && virDomainDestroy(x.d) < 0 &&
        agent_libvirt__last_code() != VIR_ERR_OPERATION_INVALID) {
        agent_libvirt__fail(err, "stopping the VM");
        goto cleanup;
    }
    if ((n = virDomainListAllSnapshots(x.d, &snaps, 0)) < 0) {
        agent_libvirt__fail(err, "listing the VM's checkpoints");
        goto cleanup;
    }
    for (int i = 0; i < n; i++)
        if (virDomainSnapshotDelete(snaps[i], 0) < 0 &&
            agent_libvirt__last_code() != VIR_ERR_NO_DOMAIN_SNAPSHOT) {
            agent_libvirt__fail(err, "deleting a checkpoint of the VM");
            goto cleanup;
        }
    if (m.ndisks > 0 && (pool = agent_libvirt__pool(priv, x.c, err)) == NULL)
        goto cleanup;
    for (int i = 0; i < m.ndisks; i++)
        if (agent_libvirt__disk_volume_delete(pool, uuid, m.disks[i].lun, err) < 0)
            goto cleanup;
    /* with its UEFI variables where the driver keeps them (the test driver takes no NVRAM flag) */
    if (virDomainUndefineFlags(x.d, undefine | VIR_DOMAIN_UNDEFINE_NVRAM) < 0 &&
        (agent_libvirt__last_code() != VIR_ERR_INVALID_ARG ||
         virDomainUndefineFlags(x.d, undefine) < 0)) {
        agent_libvirt__fail(err, "undefining the VM");
        goto cleanup;
    }
    rc = 0;
cleanup:
    for (int i = 0; i < n; i++)
        virDomainSnapshotFree(snaps[i]);
    free(snaps);
    if (pool != NULL)
        virStoragePoolFree(pool);
    agent_libvirt__call_close(&x);
    return rc;
}

/* Sets or clears the deallocated flag of the domain's metadata (nothing written when it is so). */
static int
set_deallocated(virDomainPtr d, bool deallocated, agent_err_t *err)
{
    lv_meta_t m;

    if (agent_libvirt__meta_get(d, &m, err) < 0)
        return -1;
    if (m.deallocated == deallocated)
        return 0;
    m.deallocated = deallocated;
    return agent_libvirt__meta_set(d, &m, err);
}

/* Waits until the domain is no longer active (a guest shutdown runs on after libvirt answers). */
static int
wait_inactive(virDomainPtr d, const agent_call_t *call, agent_err_t *err)
{
    int timeout_ms =
        call->timeout_ms > 0 ? call->timeout_ms : agent_op_timeout_ms(AGENT_OP_VM_POWER);
    struct timespec start, now, nap = {0, 50 * 1000 * 1000};
    int active;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if ((active = virDomainIsActive(d)) < 0)
            return agent_libvirt__fail(err, "reading the VM's state");
        if (active == 0)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >=
            timeout_ms)
            return agent_fail(err, AGENT_ERR_TIMEOUT, "The VM's guest did not shut down in %d ms.",
                              timeout_ms);
        nanosleep(&nap, NULL);
    }
}

/* Opens the call on the VM (agent_libvirt__call_open) and reads whether it is active (1) or not
 * (0). */
static int
open_active(lv_t *lv, const char *hypervisor_id, lv_call_t *x, int *active, agent_err_t *err)
{
    if (agent_libvirt__call_open(lv, hypervisor_id, x, err) < 0)
        return -1;
    if ((*active = virDomainIsActive(x->d)) < 0)
        return agent_libvirt__fail(err, "reading the VM's state");
    return 0;
}

int
agent_libvirt__start(virDomainPtr d, int active, agent_err_t *err)
{
    if (active == 0 && virDomainCreate(d) < 0 &&
        agent_libvirt__last_code() != VIR_ERR_OPERATION_INVALID)
        return agent_libvirt__fail(err, "starting the VM");
    return set_deallocated(d, false, err);
}

static int
stop(virDomainPtr d, int active, agent_err_t *err)
{
    if (active == 1 && virDomainDestroy(d) < 0 &&
        agent_libvirt__last_code() != VIR_ERR_OPERATION_INVALID)
        return agent_libvirt__fail(err, "stopping the VM");
    return 0;
}

int
agent_libvirt__vm_power(void *priv, const agent_call_t *call, const char *hypervisor_id,
                        agent_power_op_t op, agent_err_t *err)
{
    lv_call_t x;
    int active, rc = -1;

    assert(call != NULL);
    if (open_active(priv, hypervisor_id, &x, &active, err) < 0)
        goto cleanup;
    switch (op) {
    case AGENT_POWER_START:
        rc = agent_libvirt__start(x.d, active, err);
        break;
    case AGENT_POWER_STOP:
        rc = stop(x.d, active, err);
        break;
    case AGENT_POWER_SHUTDOWN:
        if (active == 1 && virDomainShutdown(x.d) < 0 &&
            agent_libvirt__last_code() != VIR_ERR_OPERATION_INVALID)
            rc = agent_libvirt__fail(err, "shutting the VM down");
        else
            rc = wait_inactive(x.d, call, err);
        break;
    case AGENT_POWER_RESTART:
        if (active == 1 && virDomainReboot(x.d, 0) == 0)
            rc = 0;
        else if (active == 1 && agent_libvirt__last_code() != VIR_ERR_NO_SUPPORT)
            rc = agent_libvirt__fail(err, "restarting the VM");
        else if (stop(x.d, active, err) == 0)
            rc = agent_libvirt__start(x.d, 0, err);
        break;
    }
cleanup:
    agent_libvirt__call_close(&x);
    return rc;
}

int
agent_libvirt__vm_release(void *priv, const agent_call_t *call, const char *hypervisor_id,
                          agent_err_t *err)
{
    lv_call_t x;
    int active, rc = -1;

    assert(call != NULL);
    if (open_active(priv, hypervisor_id, &x, &active, err) < 0)
        goto cleanup;
    if (stop(x.d, active, err) == 0)
        rc = set_deallocated(x.d, true, err);
cleanup:
    agent_libvirt__call_close(&x);
    return rc;
}

/* Sets the config's vcpus (the maximum follows: raised first, lowered after). */
static int
set_vcpus(virDomainPtr d, int cores, agent_err_t *err)
{
    unsigned int cfg = VIR_DOMAIN_AFFECT_CONFIG, max = cfg | VIR_DOMAIN_VCPU_MAXIMUM;
    int now = virDomainGetVcpusFlags(d, max);

    if (now < 0)
        return agent_libvirt__fail(err, "reading the VM's cores");
    if ((cores > now && virDomainSetVcpusFlags(d, (unsigned) cores, max) < 0) ||
        virDomainSetVcpusFlags(d, (unsigned) cores, cfg) < 0 ||
        (cores < now && virDomainSetVcpusFlags(d, (unsigned) cores, max) < 0))
        return agent_libvirt__fail(err, "setting the VM's cores");
    return 0;
}

/* Sets the config's memory: static memory stays static; with dynamic memory (current below the
 * maximum) the startup memory changes and the maximum is raised when it must. */
static int
set_memory(virDomainPtr d, int memory_mb, agent_err_t *err)
{
    unsigned int cfg = VIR_DOMAIN_AFFECT_CONFIG, max = cfg | VIR_DOMAIN_MEM_MAXIMUM;
    unsigned long kib = (unsigned long) memory_mb * 1024;
    virDomainInfo info;
    bool grow, static_mem;

    if (virDomainGetInfo(d, &info) < 0)
        return agent_libvirt__fail(err, "reading the VM's memory");
    grow = kib > info.maxMem;
    static_mem = info.memory == info.maxMem;
    if (((grow || static_mem) && kib >= info.memory && virDomainSetMemoryFlags(d, kib, max) < 0) ||
        virDomainSetMemoryFlags(d, kib, cfg) < 0 ||
        (static_mem && kib < info.memory && virDomainSetMemoryFlags(d, kib, max) < 0))
        return agent_libvirt__fail(err, "setting the VM's memory");
    return 0;
}

int
agent_libvirt__vm_reconfigure(void *priv, const agent_call_t *call, const char *hypervisor_id,
                              int cores, int memory_mb, agent_err_t *err)
{
    lv_call_t x;
    int rc = -1;

    assert(call != NULL && cores > 0 && memory_mb > 0);
    if (agent_libvirt__call_open(priv, hypervisor_id, &x, err) < 0)
        goto cleanup;
    if (virDomainIsActive(x.d) != 0) {
        agent_fail(err, AGENT_ERR_PERMANENT, "A running VM cannot be resized.");
        goto cleanup;
    }
    if (set_vcpus(x.d, cores, err) == 0 && set_memory(x.d, memory_mb, err) == 0)
        rc = 0;
cleanup:
    agent_libvirt__call_close(&x);
    return rc;
}
