/*
 * test_agent_fixture_libvirt.h: the conformance suite's fixture for the libvirt driver on libvirt's built-in
 * test driver (test:///default, no libvirtd). The test driver keeps its domains only while a connection to
 * it is open, so the fixture holds one for the host's whole life: an agent closed and opened again then sees
 * the same host, as it would see a real one. The journal lives in a temporary directory; an unmanaged VM
 * is a domain defined straight through libvirt. Stop leaves the shared state as start found it: the
 * domains and the storage pool's volumes made meanwhile (disks, snapshots, copies) are removed.
 */
#ifndef WAPD_TEST_AGENT_FIXTURE_LIBVIRT_H
#define WAPD_TEST_AGENT_FIXTURE_LIBVIRT_H

#include <libvirt/libvirt.h>

#include "test_agent_conformance.h"
#include "test_agent_tmp.h"

#define LIBVIRT_FIXTURE_URI "test:///default"

typedef struct {
    char dir[AGENT_TMP_LEN];
    virConnectPtr keep; /* holds the test driver's state for the host's life */
} libvirt_env_t;

static void *
libvirt_start(void)
{
    libvirt_env_t *e = calloc(1, sizeof(*e));

    assert_non_null(e);
    e->keep = virConnectOpen(LIBVIRT_FIXTURE_URI);
    if (e->keep == NULL) {
        free(e);
        return NULL; /* libvirt cannot run here: the kind's cases skip */
    }
    agent_tmp_make(e->dir);
    return e;
}

static agent_t *
libvirt_open(void *env, agent_err_t *err)
{
    libvirt_env_t *e = env;
    agent_conf_t conf = {.host_id = "conformance-libvirt", .uri = LIBVIRT_FIXTURE_URI,
                         .state_dir = e->dir};

    return agent_open("libvirt", &conf, err);
}

static int
libvirt_add_unmanaged(void *env, agent_t *a, const char *name, char hyp[AGENT_ID_MAX])
{
    libvirt_env_t *e = env;
    char xml[512], uuid[VIR_UUID_STRING_BUFLEN];
    virDomainPtr d;
    int rc = -1;

    (void) a;
    snprintf(xml, sizeof(xml),
             "<domain type='test'><name>%s</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>"
             "<os><type>hvm</type></os></domain>",
             name);
    d = virDomainDefineXML(e->keep, xml);
    if (d != NULL && virDomainGetUUIDString(d, uuid) == 0) {
        snprintf(hyp, AGENT_ID_MAX, "%s", uuid);
        rc = 0;
    }
    if (d != NULL)
        virDomainFree(d);
    return rc;
}

/* Deletes every volume of the test driver's pool: start finds it empty, the suite fills it. */
static void
libvirt_remove_volumes(virConnectPtr c)
{
    virStoragePoolPtr pool = virStoragePoolLookupByName(c, "default-pool");
    virStorageVolPtr *vols = NULL;
    int i, n;

    if (pool == NULL)
        return;
    n = virStoragePoolListAllVolumes(pool, &vols, 0);
    for (i = 0; i < n; i++) {
        virStorageVolDelete(vols[i], 0);
        virStorageVolFree(vols[i]);
    }
    free(vols);
    virStoragePoolFree(pool);
}

static void
libvirt_stop(void *env)
{
    libvirt_env_t *e = env;
    virDomainPtr *doms = NULL;
    int i, n;

    /* The test driver's default state is shared by the process: leave it as it was found. */
    n = virConnectListAllDomains(e->keep, &doms, 0);
    for (i = 0; i < n; i++) {
        if (strcmp(virDomainGetName(doms[i]), "test") != 0) {
            virDomainDestroy(doms[i]);
            virDomainUndefine(doms[i]);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    libvirt_remove_volumes(e->keep);
    virConnectClose(e->keep);
    agent_tmp_remove(e->dir);
    free(e);
}

static const conformance_fixture_t libvirt_fixture = {"libvirt", libvirt_start, libvirt_open,
                                                      libvirt_add_unmanaged, libvirt_stop, true};

#endif
