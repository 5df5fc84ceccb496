/*
 * libvirt.c: the libvirt agent driver (kind "libvirt"): a host is a libvirt connection, e.g.
 * qemu:///system, qemu+ssh://host/system, or libvirt's built-in test:///default (no libvirtd
 * needed). This file holds its uri, its connection, its errors, the metadata it keeps in domains,
 * its life and its table; the operations are in libvirt_vm.c, libvirt_disk.c, libvirt_read.c,
 * libvirt_volume.c and libvirt_import.c, the XML in libvirt_xml.c.
 *
 * The model: a VM is a persistent domain whose UUID is the wapd VM id, and its hypervisor id is
 * that UUID; its name is the spec's (suffixed with the id when another domain has it); each disk is
 * a volume of the host's storage pool named after the VM id and the lun; a checkpoint is a domain
 * snapshot whose id is its name; a volume wapd keeps (a disk snapshot, a captured image's disk) is
 * a volume of the pool named by wapd's id for it. What libvirt does not hold itself (the wapd VM
 * id, the deallocated flag, the disks' luns and sizes) is kept in the domain's metadata in wapd's
 * namespace; a domain without it (libvirt's "test" domain, anything made by hand) is an
 * unmanaged VM, listed by inventory with an empty vm_id.
 *
 * Several wapd hosts may be one libvirt (two hosts on one daemon with their own pools, or
 * test:///default, which every connection of the process shares): the metadata names the wapd host
 * that holds the domain, and a host neither lists nor acts on a domain another host holds (its
 * calls answer AGENT_ERR_NOT_FOUND). A migration between two such hosts hands the domain over
 * (libvirt_import.c), so that the source's delete afterwards finds nothing to delete. Domains
 * written before the metadata named a host are held by every host of their libvirt.
 *
 * The uri is libvirt's, "scheme://[host]/path[?query]", with wapd's own query keys taken out before
 * libvirt sees it: pool (the storage pool for disks; default the first active pool), network (the
 * network of NICs whose wapd network the host does not have; default "default") and the chaos keys
 * of lib/agent.h (latencyMs, jitterMs, failRate, hangRate), which the chaos decorator reads.
 *
 * Connection: made at the first call, not at open (a host that is down opens, and its calls answer
 * AGENT_ERR_UNREACHABLE); replaced under the host's lock when virConnectIsAlive says it is dead.
 * One connection serves every thread (libvirt's connections are thread-safe); each call holds its
 * own reference. libvirt's printing of errors to stderr is silenced; its errors are mapped to
 * statuses.
 *
 * Timeouts: libvirt's API has no per-call deadline, so a call answers when libvirt does (remote
 * connections rely on libvirt's own keepalive and transport timeouts); only a guest shutdown, which
 * libvirt starts and does not wait for, is waited for up to the call's timeout.
 */
#include "libvirt.h"
#include "libvirt_internal.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Query keys that are wapd's, not libvirt's: taken out of the uri before connecting. */
static const char *const wapd_keys[] = {"pool",     "network",  "latencyMs",
                                        "jitterMs", "failRate", "hangRate"};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void
quiet(void *user, virErrorPtr error)
{
    (void) user;
    (void) error;
}

static void
init_libvirt(void)
{
    virInitialize();
    virSetErrorFunc(NULL, quiet);
}

/* ---- errors ---- */

static agent_status_t
status_of(int code)
{
    switch (code) {
    case VIR_ERR_NO_DOMAIN:
    case VIR_ERR_NO_DOMAIN_SNAPSHOT:
    case VIR_ERR_NO_STORAGE_VOL:
        return AGENT_ERR_NOT_FOUND;
    case VIR_ERR_SYSTEM_ERROR:
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_INVALID_CONN:
    case VIR_ERR_RPC:
    case VIR_ERR_OPERATION_TIMEOUT:
    case VIR_ERR_AGENT_UNRESPONSIVE:
        return AGENT_ERR_TRANSIENT;
    case VIR_ERR_NO_SUPPORT:
        return AGENT_ERR_UNSUPPORTED;
    default:
        return AGENT_ERR_PERMANENT;
    }
}

int
agent_libvirt__last_code(void)
{
    virErrorPtr e = virGetLastError();

    return e != NULL ? e->code : VIR_ERR_OK;
}

int
agent_libvirt__fail(agent_err_t *err, const char *what)
{
    virErrorPtr e = virGetLastError();

    assert(what != NULL);
    if (e == NULL)
        return agent_fail(err, AGENT_ERR_PERMANENT, "libvirt: %s failed.", what);
    return agent_fail(err, status_of(e->code), "libvirt: %s: %s", what,
                      e->message != NULL ? e->message : "no message");
}

/* ---- the uri ---- */

static bool
is_wapd_key(const char *key, size_t n)
{
    for (size_t i = 0; i < sizeof(wapd_keys) / sizeof(wapd_keys[0]); i++)
        if (strlen(wapd_keys[i]) == n && strncmp(key, wapd_keys[i], n) == 0)
            return true;
    return false;
}

static int
lv_check_uri(const char *uri, agent_err_t *err)
{
    const char *p = uri, *q;

    if (uri == NULL || !isalpha((unsigned char) *p))
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "It is not a libvirt uri such as qemu:///system.");
    for (p = uri; *p != '\0'; p++)
        if (isspace((unsigned char) *p) || iscntrl((unsigned char) *p) || *p == '#')
            return agent_fail(err, AGENT_ERR_PERMANENT,
                              "A libvirt uri holds no spaces and no '#'.");
    for (p = uri; isalnum((unsigned char) *p) || *p == '+' || *p == '-' || *p == '.'; p++)
        ;
    if (strncmp(p, "://", 3) != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "A libvirt uri reads scheme://[host]/path, e.g. qemu:///system.");
    p += 3;
    p += strcspn(p, "/?");
    if (*p != '/')
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "A libvirt uri has a path after the host, e.g. qemu:///system.");
    q = strchr(p, '?');
    for (p = q; p != NULL; p = strchr(p + 1, '&')) {
        size_t klen = strcspn(p + 1, "=&");
        if ((klen == 4 && strncmp(p + 1, "pool", 4) == 0) ||
            (klen == 7 && strncmp(p + 1, "network", 7) == 0))
            if (p[1 + klen] != '=' || p[2 + klen] == '\0' || p[2 + klen] == '&')
                return agent_fail(err, AGENT_ERR_PERMANENT, "The uri's %.*s needs a value.",
                                  (int) klen, p + 1);
    }
    return 0;
}

/* Splits uri into the libvirt uri (malloc'd into *out) and wapd's pool and network. */
static int
parse_uri(const char *uri, char **out, char pool[AGENT_NAME_MAX], char network[AGENT_NAME_MAX],
          agent_err_t *err)
{
    const char *q = strchr(uri, '?'), *p, *v;
    size_t n = q != NULL ? (size_t) (q - uri) : strlen(uri), klen, plen;
    char *s = malloc(strlen(uri) + 1);
    bool first = true;

    if (s == NULL)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    memcpy(s, uri, n);
    pool[0] = '\0';
    snprintf(network, AGENT_NAME_MAX, "default");
    for (p = q; p != NULL && p[1] != '\0'; p = strchr(p + 1, '&')) {
        klen = strcspn(p + 1, "=&");
        plen = strcspn(p + 1, "&");
        v = p[1 + klen] == '=' ? p + 2 + klen : p + 1 + klen;
        if (!is_wapd_key(p + 1, klen)) {
            s[n++] = first ? '?' : '&';
            memcpy(s + n, p + 1, plen);
            n += plen;
            first = false;
        } else if (klen == 4 && strncmp(p + 1, "pool", 4) == 0) {
            snprintf(pool, AGENT_NAME_MAX, "%.*s", (int) (plen - (size_t) (v - p - 1)), v);
        } else if (klen == 7 && strncmp(p + 1, "network", 7) == 0) {
            snprintf(network, AGENT_NAME_MAX, "%.*s", (int) (plen - (size_t) (v - p - 1)), v);
        }
    }
    s[n] = '\0';
    *out = s;
    return 0;
}

/* ---- the connection ---- */

virConnectPtr
agent_libvirt__conn(lv_t *lv, agent_err_t *err)
{
    virConnectPtr c = NULL, dead = NULL;

    assert(lv != NULL);
    pthread_mutex_lock(&lv->lock);
    if (lv->conn != NULL && virConnectIsAlive(lv->conn) != 1) {
        dead = lv->conn;
        lv->conn = NULL;
    }
    if (lv->conn == NULL) {
        lv->conn = virConnectOpen(lv->uri);
        if (lv->conn == NULL) {
            virErrorPtr e = virGetLastError();
            agent_fail(err, AGENT_ERR_UNREACHABLE, "libvirt: cannot connect to the host: %s",
                       e != NULL && e->message != NULL ? e->message : "no message");
        } else {
            virConnSetErrorFunc(lv->conn, NULL, quiet);
        }
    }
    if (lv->conn != NULL && virConnectRef(lv->conn) == 0)
        c = lv->conn;
    pthread_mutex_unlock(&lv->lock);
    if (dead != NULL)
        virConnectClose(dead);
    return c;
}

virDomainPtr
agent_libvirt__domain(virConnectPtr c, const char *hypervisor_id, agent_err_t *err)
{
    virDomainPtr d;
    int code;

    assert(c != NULL && hypervisor_id != NULL);
    d = virDomainLookupByUUIDString(c, hypervisor_id);
    if (d != NULL)
        return d;
    code = agent_libvirt__last_code();
    if (code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_INVALID_ARG)
        agent_fail(err, AGENT_ERR_NOT_FOUND, "The host has no VM %s.", hypervisor_id);
    else
        agent_libvirt__fail(err, "looking up the VM");
    return NULL;
}

bool
agent_libvirt__held_elsewhere(lv_t *lv, const lv_meta_t *m)
{
    assert(lv != NULL && m != NULL);
    return m->host_id[0] != '\0' && strcmp(m->host_id, lv->host_id) != 0;
}

int
agent_libvirt__call_open(lv_t *lv, const char *hypervisor_id, lv_call_t *x, agent_err_t *err)
{
    lv_meta_t m;

    assert(lv != NULL && hypervisor_id != NULL && x != NULL);
    x->d = NULL;
    x->c = agent_libvirt__conn(lv, err);
    if (x->c == NULL)
        return -1;
    x->d = agent_libvirt__domain(x->c, hypervisor_id, err);
    if (x->d == NULL)
        return -1;
    if (agent_libvirt__meta_get(x->d, &m, err) < 0)
        return -1;
    if (agent_libvirt__held_elsewhere(lv, &m))
        return agent_fail(err, AGENT_ERR_NOT_FOUND, "The host has no VM %s.", hypervisor_id);
    return 0;
}

void
agent_libvirt__call_close(lv_call_t *x)
{
    if (x->d != NULL)
        virDomainFree(x->d);
    if (x->c != NULL)
        virConnectClose(x->c);
    x->d = NULL;
    x->c = NULL;
}

virStoragePoolPtr
agent_libvirt__pool(lv_t *lv, virConnectPtr c, agent_err_t *err)
{
    char name[AGENT_NAME_MAX];
    virStoragePoolPtr pool = NULL, *pools = NULL;
    int n;

    pthread_mutex_lock(&lv->lock);
    memcpy(name, lv->pool, sizeof(name));
    pthread_mutex_unlock(&lv->lock);
    if (name[0] != '\0') {
        pool = virStoragePoolLookupByName(c, name);
        if (pool == NULL)
            agent_libvirt__fail(err, "looking up the storage pool");
        return pool;
    }
    n = virConnectListAllStoragePools(c, &pools, VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE);
    if (n < 0) {
        agent_libvirt__fail(err, "listing the storage pools");
        return NULL;
    }
    if (n == 0)
        agent_fail(err, AGENT_ERR_PERMANENT, "The host has no active storage pool for disks.");
    for (int i = 0; i < n; i++) {
        if (i == 0)
            pool = pools[i];
        else
            virStoragePoolFree(pools[i]);
    }
    free(pools);
    return pool;
}

void
agent_libvirt__network(lv_t *lv, virConnectPtr c, const char *network_id, char *out)
{
    virNetworkPtr net = network_id != NULL ? virNetworkLookupByName(c, network_id) : NULL;

    if (net != NULL) {
        snprintf(out, AGENT_NAME_MAX, "%s", network_id);
        virNetworkFree(net);
        return;
    }
    pthread_mutex_lock(&lv->lock);
    memcpy(out, lv->network, AGENT_NAME_MAX);
    pthread_mutex_unlock(&lv->lock);
}

/* ---- metadata ---- */

int
agent_libvirt__meta_get(virDomainPtr d, lv_meta_t *m, agent_err_t *err)
{
    char *xml =
        virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, LV_META_NS, VIR_DOMAIN_AFFECT_CONFIG);
    agent_err_t failed;
    int rc = 0;

    if (xml == NULL) {
        memset(m, 0, sizeof(*m));
        if (agent_libvirt__last_code() == VIR_ERR_NO_DOMAIN_METADATA)
            return 0;
        agent_libvirt__fail(&failed, "reading the VM's metadata");
        /* a transient domain has no persistent config: it is not one of wapd's */
        if (virDomainIsPersistent(d) == 0)
            return 0;
        *err = failed;
        return -1;
    }
    if (agent_libvirt__meta_parse(xml, m) < 0)
        rc = agent_fail(err, AGENT_ERR_PERMANENT, "The VM's wapd metadata is malformed.");
    free(xml);
    return rc;
}

int
agent_libvirt__meta_set(virDomainPtr d, const lv_meta_t *m, agent_err_t *err)
{
    char *xml = agent_libvirt__meta_format(m, false);
    int rc;

    if (xml == NULL)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    rc = virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, xml, LV_META_PREFIX, LV_META_NS,
                              VIR_DOMAIN_AFFECT_CONFIG);
    if (rc < 0)
        agent_libvirt__fail(err, "writing the VM's metadata");
    free(xml);
    return rc < 0 ? -1 : 0;
}

/* ---- life ---- */

static int
lv_open(const agent_conf_t *conf, void **priv, agent_err_t *err)
{
    lv_t *lv;

    assert(conf != NULL && priv != NULL);
    if (lv_check_uri(conf->uri, err) < 0)
        return -1;
    pthread_once(&init_once, init_libvirt);
    lv = calloc(1, sizeof(*lv));
    if (lv == NULL)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    if (parse_uri(conf->uri, &lv->uri, lv->pool, lv->network, err) < 0) {
        free(lv);
        return -1;
    }
    if (conf->host_id != NULL)
        snprintf(lv->host_id, sizeof(lv->host_id), "%s", conf->host_id);
    pthread_mutex_init(&lv->lock, NULL);
    *priv = lv;
    return 0;
}

static void
lv_close(void *priv)
{
    lv_t *lv = priv;

    if (lv == NULL)
        return;
    if (lv->conn != NULL)
        virConnectClose(lv->conn);
    pthread_mutex_destroy(&lv->lock);
    free(lv->uri);
    free(lv);
}

/* A changed uri takes effect at the next call: the connection is dropped when the libvirt uri
 * changed (calls in flight keep their reference to the old one). */
static int
lv_reconfigure(void *priv, const agent_conf_t *conf, agent_err_t *err)
{
    lv_t *lv = priv;
    char *uri, pool[AGENT_NAME_MAX], network[AGENT_NAME_MAX];
    virConnectPtr old = NULL;

    assert(lv != NULL && conf != NULL);
    if (lv_check_uri(conf->uri, err) < 0 || parse_uri(conf->uri, &uri, pool, network, err) < 0)
        return -1;
    pthread_mutex_lock(&lv->lock);
    if (strcmp(uri, lv->uri) != 0) {
        old = lv->conn;
        lv->conn = NULL;
    }
    free(lv->uri);
    lv->uri = uri;
    memcpy(lv->pool, pool, sizeof(pool));
    memcpy(lv->network, network, sizeof(network));
    pthread_mutex_unlock(&lv->lock);
    if (old != NULL)
        virConnectClose(old);
    return 0;
}

const agent_driver_t agent_libvirt_driver = {
    .name = "libvirt",
    .default_uri = NULL,
    .remote = true,
    .journals = false,
    .check_uri = lv_check_uri,
    .open = lv_open,
    .close = lv_close,
    .reconfigure = lv_reconfigure,
    .vm_create = agent_libvirt__vm_create,
    .vm_delete = agent_libvirt__vm_delete,
    .vm_power = agent_libvirt__vm_power,
    .vm_release = agent_libvirt__vm_release,
    .vm_reconfigure = agent_libvirt__vm_reconfigure,
    .disk_attach = agent_libvirt__disk_attach,
    .disk_detach = agent_libvirt__disk_detach,
    .checkpoint_create = agent_libvirt__checkpoint_create,
    .checkpoint_delete = agent_libvirt__checkpoint_delete,
    .checkpoint_restore = agent_libvirt__checkpoint_restore,
    .inventory = agent_libvirt__inventory,
    .host_info = agent_libvirt__host_info,
    .volume_snapshot = agent_libvirt__volume_snapshot,
    .volume_copy = agent_libvirt__volume_copy,
    .volume_delete = agent_libvirt__volume_delete,
    .vm_import = agent_libvirt__vm_import,
};

int
agent_libvirt_register(void)
{
    return agent_register(&agent_libvirt_driver);
}
