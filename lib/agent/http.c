/*
 * http.c: the http agent (driver "http"): a wapd-agent process on the host, reached over HTTP(S) at
 * the host's uri with its bearer token, speaking the wapd-agent protocol (protocol v1,
 * schemas/agent.yaml).
 *
 * Each slot is one request (http_conn.c): a VM create is POST /v1/vms with the VmSpec, a power
 * action a POST to the VM's action, a disk's snapshot a POST to .../disks/{lun|os}/snapshot, a
 * volume's copy and delete a PUT and DELETE of /v1/volumes/{id}, a VM's import POST
 * /v1/vms/import, and so on; the JSON of the bodies and the error table are lib/agent/wire*.c's,
 * shared with the agent. The agent keeps the operation-id journal itself
 * (journals = true): a write carries its operation id, and a repeat is answered by the agent from
 * its journal. A long operation (a create or attach that clones a volume, a copy, an import, maybe a
 * snapshot) answers AGENT_PENDING with its progress (http_conn.c reads it from the 202), and the
 * caller polls with the same request.
 *
 * The uri is http:// or https://, a host and an optional port, nothing else (no path, query,
 * fragment or userinfo: the token is set apart). There is no default uri. Opening does no I/O: a
 * host that is down opens, and its calls answer AGENT_ERR_UNREACHABLE.
 *
 * Invariants: h->base always holds a uri check_uri accepted; a reconfigure swaps uri, token and CA
 * file under h->lock and applies to the next call (a call in flight keeps what it copied). The idle
 * handles are dropped on a reconfigure, so no connection to an old address is reused.
 */
#include "http_internal.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"
#include "agent_internal.h"
#include "wire.h"

#define PATH_CAP 512

/* ---- the uri ---- */

static int
check_port(const char *p, agent_err_t *err)
{
    int64_t port;

    if (util_parse_int64(p, false, &port) != 0 || port < 1 || port > 65535)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "The http agent's uri has a port that is not a number from 1 to 65535.");
    return 0;
}

/* Checks the authority "host[:port]" of n bytes at a. */
static int
check_authority(const char *a, size_t n, agent_err_t *err)
{
    char auth[256];
    const char *port = NULL;
    char *end;
    size_t i, hostlen;

    if (n == 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The http agent's uri has no host.");
    if (n >= sizeof(auth))
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "The http agent's uri has a host that is too long.");
    memcpy(auth, a, n);
    auth[n] = '\0';
    if (auth[0] == '[') { /* an IPv6 literal */
        if ((end = strchr(auth, ']')) == NULL || end == auth + 1)
            return agent_fail(err, AGENT_ERR_PERMANENT,
                              "The http agent's uri has a malformed IPv6 address.");
        for (i = 1; auth + i < end; i++)
            if (!isxdigit((unsigned char) auth[i]) && auth[i] != ':' && auth[i] != '.')
                return agent_fail(err, AGENT_ERR_PERMANENT,
                                  "The http agent's uri has a malformed IPv6 address.");
        if (end[1] != '\0' && end[1] != ':')
            return agent_fail(err, AGENT_ERR_PERMANENT,
                              "The http agent's uri has a malformed host.");
        port = end[1] == ':' ? end + 2 : NULL;
        hostlen = (size_t) (end - auth) + 1;
    } else {
        end = strchr(auth, ':');
        port = end ? end + 1 : NULL;
        hostlen = end ? (size_t) (end - auth) : n;
        if (hostlen == 0)
            return agent_fail(err, AGENT_ERR_PERMANENT, "The http agent's uri has no host.");
        for (i = 0; i < hostlen; i++)
            if (!isalnum((unsigned char) auth[i]) && auth[i] != '.' && auth[i] != '-' &&
                auth[i] != '_')
                return agent_fail(err, AGENT_ERR_PERMANENT,
                                  "The http agent's uri has a host with a character a host name "
                                  "cannot have.");
    }
    return port != NULL ? check_port(port, err) : 0;
}

static int
http_check_uri(const char *uri, agent_err_t *err)
{
    const char *rest, *end;

    if (uri == NULL || uri[0] == '\0')
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "An http host needs a uri, e.g. http://10.1.2.3:30010.");
    if (strncasecmp(uri, "http://", 7) == 0)
        rest = uri + 7;
    else if (strncasecmp(uri, "https://", 8) == 0)
        rest = uri + 8;
    else
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "The http agent's uri starts with http:// or https://.");
    if (strchr(rest, '@') != NULL)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "The http agent's uri must not carry a user or password: the token is "
                          "given apart.");
    if (strchr(rest, '?') != NULL)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The http agent's uri must not have a query.");
    if (strchr(rest, '#') != NULL)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "The http agent's uri must not have a fragment.");
    end = strchr(rest, '/');
    if (end != NULL && end[1] != '\0')
        return agent_fail(err, AGENT_ERR_PERMANENT, "The http agent's uri must not have a path.");
    return check_authority(rest, end ? (size_t) (end - rest) : strlen(rest), err);
}

/* ---- open, reconfigure, close ---- */

/* Replaces h's settings with conf's (lock held, or h not yet shared). */
static int
settings_set(agent_http_t *h, const agent_conf_t *conf, agent_err_t *err)
{
    char *base = strdup(conf->uri), *token = NULL, *ca = NULL;
    size_t n;

    if (base == NULL || (conf->token != NULL && (token = strdup(conf->token)) == NULL) ||
        (conf->ca_file != NULL && conf->ca_file[0] != '\0' &&
         (ca = strdup(conf->ca_file)) == NULL)) {
        free(base);
        free(token);
        return agent_http__fail_oom(err);
    }
    n = strlen(base);
    if (n > 0 && base[n - 1] == '/')
        base[n - 1] = '\0';
    free(h->base);
    if (h->token != NULL)
        explicit_bzero(h->token, strlen(h->token));
    free(h->token);
    free(h->ca_file);
    h->base = base;
    h->token = token;
    h->ca_file = ca;
    return 0;
}

static int
http_open(const agent_conf_t *conf, void **priv, agent_err_t *err)
{
    agent_http_t *h;

    assert(conf != NULL && priv != NULL);
    if (http_check_uri(conf->uri, err) != 0)
        return -1;
    if (agent_http__global_init() != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "libcurl could not be initialised.");
    if ((h = calloc(1, sizeof(*h))) == NULL)
        return agent_http__fail_oom(err);
    pthread_mutex_init(&h->lock, NULL);
    if (settings_set(h, conf, err) != 0) {
        pthread_mutex_destroy(&h->lock);
        free(h);
        return -1;
    }
    *priv = h;
    return 0;
}

static int
http_reconfigure(void *priv, const agent_conf_t *conf, agent_err_t *err)
{
    agent_http_t *h = priv;
    int rc;

    assert(h != NULL && conf != NULL);
    if (http_check_uri(conf->uri, err) != 0)
        return -1;
    pthread_mutex_lock(&h->lock);
    rc = settings_set(h, conf, err);
    pthread_mutex_unlock(&h->lock);
    if (rc == 0)
        agent_http__pool_drain(h);
    return rc;
}

static void
http_close(void *priv)
{
    agent_http_t *h = priv;

    if (h == NULL)
        return;
    agent_http__pool_drain(h);
    free(h->base);
    if (h->token != NULL)
        explicit_bzero(h->token, strlen(h->token));
    free(h->token);
    free(h->ca_file);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* ---- paths ---- */

/* Appends seg to out (of cap bytes, holding a string), percent-encoding all but unreserved
 * characters. Returns 0, or -1 when it does not fit. */
static int
path_append(char *out, size_t cap, const char *seg)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);

    for (; *seg; seg++) {
        unsigned char ch = (unsigned char) *seg;
        if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            if (n + 2 > cap)
                return -1;
            out[n++] = (char) ch;
        } else {
            if (n + 4 > cap)
                return -1;
            out[n++] = '%';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 15];
        }
        out[n] = '\0';
    }
    return 0;
}

/* Writes "/v1/vms/<hyp><suffix>" into out[PATH_CAP]; suffix is a literal path tail ("" or "/start",
 * …) and sub, when not NULL, an id appended (escaped) after it, then tail. */
static int
vm_path(char out[PATH_CAP], const char *hyp, const char *suffix, const char *sub, const char *tail,
        agent_err_t *err)
{
    snprintf(out, PATH_CAP, "/v1/vms/");
    if (path_append(out, PATH_CAP, hyp) != 0 || strlen(out) + strlen(suffix) >= PATH_CAP)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The hypervisor id is too long.");
    strcat(out, suffix);
    if (sub != NULL && path_append(out, PATH_CAP, sub) != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The id is too long.");
    if (strlen(out) + strlen(tail) >= PATH_CAP)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The id is too long.");
    strcat(out, tail);
    return 0;
}

/* One write on a VM's path whose answer carries nothing; body is stolen (NULL: the request has
 * none, as a delete or a power action). */
static int
vm_write(agent_http_t *h, const agent_call_t *call, const char *method, const char *hyp,
         const char *suffix, const char *sub, const char *tail, json_t *body, agent_err_t *err)
{
    char path[PATH_CAP];
    json_t *answer = NULL;
    int rc = -1;

    if (vm_path(path, hyp, suffix, sub, tail, err) == 0)
        rc = agent_http__request(h, call, method, path, body, &answer, err);
    json_decref(answer);
    json_decref(body);
    return rc;
}

/* Copies the string member key of answer into out[AGENT_ID_MAX]. */
static int
answer_id(const json_t *answer, const char *key, char out[AGENT_ID_MAX], agent_err_t *err)
{
    const char *s = json_string_value(json_object_get(answer, key));

    if (s == NULL || s[0] == '\0' || strlen(s) >= AGENT_ID_MAX)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "The agent's answer has no valid %s.", key);
    snprintf(out, AGENT_ID_MAX, "%s", s);
    return 0;
}

/* ---- the slots ---- */

/* POSTs body (stolen; NULL: out of memory) to path, whose answer names a VM: a create or an import. */
static int
vm_make(agent_http_t *h, const agent_call_t *call, const char *path, json_t *body,
        char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    json_t *answer = NULL;
    int rc;

    assert(h != NULL && path != NULL);
    if (body == NULL)
        return agent_http__fail_oom(err);
    rc = agent_http__request(h, call, "POST", path, body, &answer, err);
    if (rc == 0)
        rc = answer_id(answer, "hypervisorId", hypervisor_id, err);
    json_decref(answer);
    json_decref(body);
    return rc;
}

static int
http_vm_create(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
               char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    return vm_make(priv, call, "/v1/vms", agent_wire_spec_to_json(spec), hypervisor_id, err);
}

static int
http_vm_delete(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    return vm_write(priv, call, "DELETE", hyp, "", NULL, "", NULL, err);
}

static int
http_vm_power(void *priv, const agent_call_t *call, const char *hyp, agent_power_op_t op,
              agent_err_t *err)
{
    return vm_write(priv, call, "POST", hyp, "/", agent_wire_power_action(op), "", NULL, err);
}

static int
http_vm_release(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    return vm_write(priv, call, "POST", hyp, "/" AGENT_WIRE_RELEASE_ACTION, NULL, "", NULL, err);
}

static int
http_vm_reconfigure(void *priv, const agent_call_t *call, const char *hyp, int cores, int memory_mb,
                    agent_err_t *err)
{
    json_t *body = agent_wire_resize_to_json(cores, memory_mb);

    if (body == NULL)
        return agent_http__fail_oom(err);
    return vm_write(priv, call, "POST", hyp, "/resize", NULL, "", body, err);
}

static int
http_disk_attach(void *priv, const agent_call_t *call, const char *hyp,
                 const agent_disk_spec_t *disk, agent_err_t *err)
{
    char lun[16];
    json_t *body = agent_wire_disk_to_json(disk);

    if (body == NULL)
        return agent_http__fail_oom(err);
    snprintf(lun, sizeof(lun), "%d", disk->lun);
    return vm_write(priv, call, "PUT", hyp, "/disks/", lun, "", body, err);
}

static int
http_disk_detach(void *priv, const agent_call_t *call, const char *hyp, int lun, agent_err_t *err)
{
    char text[16];

    snprintf(text, sizeof(text), "%d", lun);
    return vm_write(priv, call, "DELETE", hyp, "/disks/", text, "", NULL, err);
}

static int
http_checkpoint_create(void *priv, const agent_call_t *call, const char *hyp, const char *name,
                       char checkpoint_id[AGENT_ID_MAX], agent_err_t *err)
{
    char path[PATH_CAP];
    json_t *body = agent_wire_checkpoint_to_json(name), *answer = NULL;
    int rc = -1;

    if (body == NULL)
        return agent_http__fail_oom(err);
    if (vm_path(path, hyp, "/checkpoints", NULL, "", err) == 0 &&
        agent_http__request(priv, call, "POST", path, body, &answer, err) == 0)
        rc = answer_id(answer, "id", checkpoint_id, err);
    json_decref(answer);
    json_decref(body);
    return rc;
}

static int
http_checkpoint_delete(void *priv, const agent_call_t *call, const char *hyp, const char *cp,
                       agent_err_t *err)
{
    return vm_write(priv, call, "DELETE", hyp, "/checkpoints/", cp, "", NULL, err);
}

static int
http_checkpoint_restore(void *priv, const agent_call_t *call, const char *hyp, const char *cp,
                        agent_err_t *err)
{
    return vm_write(priv, call, "POST", hyp, "/checkpoints/", cp, "/restore", NULL, err);
}

static int
http_inventory(void *priv, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err)
{
    json_t *answer = NULL, *value, *item;
    agent_vm_list_t list = {0};
    size_t i;
    int rc = -1;

    if (agent_http__request(priv, call, "GET", "/v1/vms", NULL, &answer, err) != 0)
        return -1;
    value = json_object_get(answer, "value");
    if (!json_is_array(value)) {
        agent_fail(err, AGENT_ERR_TRANSIENT, "The agent's VM list has no value array.");
        goto cleanup;
    }
    if (json_array_size(value) > 0 &&
        (list.vms = calloc(json_array_size(value), sizeof(*list.vms))) == NULL) {
        agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory reading the agent's VM list.");
        goto cleanup;
    }
    json_array_foreach(value, i, item)
    {
        if (agent_vm_info_from_json(item, &list.vms[i]) != 0) {
            agent_fail(err, AGENT_ERR_TRANSIENT, "The agent's VM list has a malformed VM.");
            goto cleanup;
        }
        list.n = i + 1;
    }
    *vms = list;
    list.vms = NULL;
    rc = 0;
cleanup:
    free(list.vms);
    json_decref(answer);
    return rc;
}

static int
http_host_info(void *priv, const agent_call_t *call, agent_host_info_t *info, agent_err_t *err)
{
    json_t *answer = NULL;
    int rc = -1;

    if (agent_http__request(priv, call, "GET", "/v1/host", NULL, &answer, err) != 0)
        return -1;
    rc = agent_wire_host_from_json(answer, info, err);
    json_decref(answer);
    return rc;
}

/* ---- volumes and imports ---- */

static int
http_volume_snapshot(void *priv, const agent_call_t *call, const char *hyp, int lun,
                     const char *volume_id, int64_t *size_gb, agent_err_t *err)
{
    char path[PATH_CAP], disk[16];
    json_t *body = agent_wire_snapshot_to_json(volume_id), *answer = NULL;
    int rc = -1;

    if (body == NULL)
        return agent_http__fail_oom(err);
    agent_wire_disk_segment(lun, disk);
    if (vm_path(path, hyp, "/disks/", disk, "/snapshot", err) == 0 &&
        agent_http__request(priv, call, "POST", path, body, &answer, err) == 0)
        rc = agent_wire_size_from_json(answer, size_gb, err);
    json_decref(answer);
    json_decref(body);
    return rc;
}

/* One write on /v1/volumes/<volume_id> whose answer carries nothing; body is stolen (NULL: none). */
static int
volume_write(agent_http_t *h, const agent_call_t *call, const char *method, const char *volume_id,
             json_t *body, agent_err_t *err)
{
    char path[PATH_CAP] = "/v1/volumes/";
    json_t *answer = NULL;
    int rc = -1;

    assert(h != NULL && volume_id != NULL);
    if (path_append(path, PATH_CAP, volume_id) != 0)
        agent_fail(err, AGENT_ERR_PERMANENT, "The volume id is too long.");
    else
        rc = agent_http__request(h, call, method, path, body, &answer, err);
    json_decref(answer);
    json_decref(body);
    return rc;
}

static int
http_volume_copy(void *priv, const agent_call_t *call, const agent_volume_src_t *src,
                 const char *volume_id, agent_err_t *err)
{
    json_t *body = agent_wire_copy_to_json(src);

    if (body == NULL)
        return agent_http__fail_oom(err);
    return volume_write(priv, call, "PUT", volume_id, body, err);
}

static int
http_volume_delete(void *priv, const agent_call_t *call, const char *volume_id, agent_err_t *err)
{
    return volume_write(priv, call, "DELETE", volume_id, NULL, err);
}

static int
http_vm_import(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
               const agent_vm_source_t *src, char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    return vm_make(priv, call, "/v1/vms/import", agent_wire_import_to_json(spec, src),
                   hypervisor_id, err);
}

static const agent_driver_t http_driver = {
    .name = "http",
    .default_uri = NULL,
    .remote = true,
    .journals = true,
    .check_uri = http_check_uri,
    .open = http_open,
    .close = http_close,
    .reconfigure = http_reconfigure,
    .vm_create = http_vm_create,
    .vm_delete = http_vm_delete,
    .vm_power = http_vm_power,
    .vm_release = http_vm_release,
    .vm_reconfigure = http_vm_reconfigure,
    .disk_attach = http_disk_attach,
    .disk_detach = http_disk_detach,
    .checkpoint_create = http_checkpoint_create,
    .checkpoint_delete = http_checkpoint_delete,
    .checkpoint_restore = http_checkpoint_restore,
    .inventory = http_inventory,
    .host_info = http_host_info,
    .volume_snapshot = http_volume_snapshot,
    .volume_copy = http_volume_copy,
    .volume_delete = http_volume_delete,
    .vm_import = http_vm_import,
};

int
agent_http_register(void)
{
    return agent_register(&http_driver);
}
