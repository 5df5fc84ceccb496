/*
 * api_harness.h: what the fuzz targets over the API share: a database in a temporary directory with a small
 * world made through the API itself (cloud, sim host, size, image, gallery item, plan, user, subscription,
 * tenant token, VM, hook, job), and requests run through the real pipeline and route table
 * (api_pipeline_run), without a socket.
 *
 * A request's headers and query arguments are served by the three libmicrohttpd calls api/ makes on a
 * connection (MHD_lookup_connection_value, MHD_lookup_connection_value_n, MHD_get_connection_values),
 * defined here over a fake connection, so that the query is read exactly as handlers read it.
 *
 * Every answer is checked: a reply exactly once, the transaction ended, never a 5xx, and every error in the
 * JSON envelope {"error": {"code", "message", ...}}. A breach aborts, which libFuzzer reports as a crash.
 */
#ifndef WAPD_FUZZ_API_HARNESS_H
#define WAPD_FUZZ_API_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../../api/internal.h"
#include "../../lib/accounts.h"
#include "../../lib/agent.h"
#include "../../lib/catalog.h"
#include "../../lib/checkpoint.h"
#include "../../lib/hostreg.h"
#include "../../lib/inventory.h"
#include "../../lib/snapshot.h"
#include "../../lib/usage.h"
#include "../../lib/vm.h"
#include "../../lib/vmrole.h"

#define FZ_ADMIN_TOKEN "fuzz-admin-token-0123456789abcdef"
#define FZ_MAX_ARGS 32
#define FZ_RESET_EVERY 2000 /* requests after which the world is made again: small, and not left suspended */

/* ---- the fake connection ---- */

typedef struct {
    const char *const *headers; /* name, value pairs, NULL-ended */
    int nargs;
    char *args[FZ_MAX_ARGS][2]; /* query arguments, decoded as libmicrohttpd does */
} fz_conn_t;

static char
fz_hex(char c)
{
    return (char) (c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10);
}

/* Percent-decodes s in place ('+' is a space in a query), as libmicrohttpd does for arguments. */
static void
fz_unescape(char *s)
{
    char *w = s;

    for (; *s; s++) {
        if (*s == '%' && strchr("0123456789abcdefABCDEF", s[1]) && s[1] && s[2] &&
            strchr("0123456789abcdefABCDEF", s[2])) {
            *w++ = (char) (fz_hex(s[1]) << 4 | fz_hex(s[2]));
            s += 2;
        } else {
            *w++ = *s == '+' ? ' ' : *s;
        }
    }
    *w = '\0';
}

/* Splits query (a=b&c) into c's arguments; a key without '=' has a NULL value. */
static void
fz_conn_query(fz_conn_t *c, const char *query)
{
    char *copy = strdup(query), *save = NULL, *tok, *eq;

    if (copy == NULL)
        abort();
    for (tok = strtok_r(copy, "&", &save); tok && c->nargs < FZ_MAX_ARGS; tok = strtok_r(NULL, "&", &save)) {
        eq = strchr(tok, '=');
        if (eq)
            *eq = '\0';
        c->args[c->nargs][0] = strdup(tok);
        c->args[c->nargs][1] = eq ? strdup(eq + 1) : NULL;
        if (c->args[c->nargs][0] == NULL || (eq && c->args[c->nargs][1] == NULL))
            abort();
        fz_unescape(c->args[c->nargs][0]);
        if (eq)
            fz_unescape(c->args[c->nargs][1]);
        c->nargs++;
    }
    free(copy);
}

static void
fz_conn_clear(fz_conn_t *c)
{
    int i;

    for (i = 0; i < c->nargs; i++) {
        free(c->args[i][0]);
        free(c->args[i][1]);
    }
    c->nargs = 0;
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                        const char *key);
enum MHD_Result MHD_lookup_connection_value_n(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                              const char *key, size_t key_size, const char **value_ptr,
                                              size_t *value_size_ptr);
int MHD_get_connection_values(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                              MHD_KeyValueIterator iterator, void *iterator_cls);

const char *
MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind, const char *key)
{
    const char *v = NULL;

    if (MHD_lookup_connection_value_n(connection, kind, key, key ? strlen(key) : 0, &v, NULL) != MHD_YES)
        return NULL;
    return v;
}

enum MHD_Result
MHD_lookup_connection_value_n(struct MHD_Connection *connection, enum MHD_ValueKind kind, const char *key,
                              size_t key_size, const char **value_ptr, size_t *value_size_ptr)
{
    fz_conn_t *c = (fz_conn_t *) connection;
    const char *const *h;
    int i;

    if (key == NULL)
        return MHD_NO;
    if (kind == MHD_HEADER_KIND) {
        for (h = c->headers; h && h[0]; h += 2)
            if (strlen(h[0]) == key_size && strncasecmp(h[0], key, key_size) == 0) {
                *value_ptr = h[1];
                if (value_size_ptr)
                    *value_size_ptr = strlen(h[1]);
                return MHD_YES;
            }
        return MHD_NO;
    }
    if (kind != MHD_GET_ARGUMENT_KIND)
        return MHD_NO;
    for (i = 0; i < c->nargs; i++)
        if (strlen(c->args[i][0]) == key_size && memcmp(c->args[i][0], key, key_size) == 0) {
            *value_ptr = c->args[i][1];
            if (value_size_ptr)
                *value_size_ptr = c->args[i][1] ? strlen(c->args[i][1]) : 0;
            return MHD_YES;
        }
    return MHD_NO;
}

int
MHD_get_connection_values(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                          MHD_KeyValueIterator iterator, void *iterator_cls)
{
    fz_conn_t *c = (fz_conn_t *) connection;
    const char *const *h;
    int i, n = 0;

    if (kind & MHD_HEADER_KIND)
        for (h = c->headers; h && h[0]; h += 2, n++)
            if (iterator && iterator(iterator_cls, MHD_HEADER_KIND, h[0], h[1]) != MHD_YES)
                return n + 1;
    if (kind & MHD_GET_ARGUMENT_KIND)
        for (i = 0; i < c->nargs; i++, n++)
            if (iterator && iterator(iterator_cls, MHD_GET_ARGUMENT_KIND, c->args[i][0], c->args[i][1]) !=
                                MHD_YES)
                return n + 1;
    return n;
}

/* ---- the world ---- */

typedef struct {
    char dir[128];
    api_ctx_t ctx;
    char auth_admin[128], auth_tenant[300];
    char cloud[64], host[64], size[64], image[64], gallery[64], plan[64], user[64], sub[64], vm[64],
        hook[64], job[64], usertok[64], role[64];
    char agents[128]; /* the agents' state directory (the sim hosts' logs) */
    long runs;
} fz_world_t;

static fz_world_t fz;

static void
fz_fail(const char *what, const api_req_t *r)
{
    fprintf(stderr, "fuzz: %s: %s %s answered %d: %.*s\n", what, r->method, r->path, r->status,
            r->resp ? (int) (r->resp_len < 2000 ? r->resp_len : 2000) : 6, r->resp ? r->resp : "(none)");
    abort();
}

/* Checks one answer: exactly once, no transaction left, no 5xx, errors in the envelope. */
static void
fz_check(const api_req_t *r)
{
    json_t *body, *e;
    json_error_t jerr;

    if (!r->replied)
        fz_fail("no answer", r);
    if (r->tx != API_TX_NONE)
        fz_fail("transaction left open", r);
    if (r->status < 200 || r->status > 599)
        fz_fail("status out of range", r);
    if (r->status >= 500)
        fz_fail("server error", r);
    if (r->content_type != NULL || r->resp_from_fd || r->resp == NULL)
        return;
    body = json_loadb(r->resp, r->resp_len, 0, &jerr);
    if (body == NULL)
        fz_fail("answer not JSON", r);
    if (r->status >= 400) {
        e = json_object_get(body, "error");
        if (!json_is_string(json_object_get(e, "code")) || !json_is_string(json_object_get(e, "message")))
            fz_fail("error outside the envelope", r);
    }
    json_decref(body);
}

/* Runs method url (path, then "?query" maybe) with body on listener through the pipeline with headers
 * (the caller's token among them), checks the answer and copies its "field" (when out) into out. Returns
 * the status. */
static int
fz_run(api_listener_t listener, const char *method, const char *url, const char *const *headers,
       const char *body, size_t body_len, const char *field, char *out, size_t outn)
{
    fz_conn_t conn = {headers, 0, {{0}}};
    char *path = strdup(url), *q;
    api_req_t *r;
    int status;

    if (path == NULL)
        abort();
    q = strchr(path, '?');
    if (q) {
        *q = '\0';
        fz_conn_query(&conn, q + 1);
    }
    r = api_req_new(&fz.ctx, listener, (struct MHD_Connection *) &conn, NULL, path, method);
    if (r == NULL)
        abort();
    if (body_len > 0) {
        r->body = malloc(body_len + 1);
        if (r->body == NULL)
            abort();
        memcpy(r->body, body, body_len);
        r->body[body_len] = '\0';
        r->body_len = body_len;
    }
    api_pipeline_run(r, &api_route_table);
    fz_check(r);
    status = r->status;
    if (getenv("FUZZ_VERBOSE")) /* each request and its answer, to see what a corpus reaches */
        fprintf(stderr, "%s %s -> %d %.*s\n", method, url, status, r->resp ? (int) (r->resp_len < 300 ? r->resp_len : 300) : 0,
                r->resp ? r->resp : "");
    if (field && out && strcmp(field, "Location") == 0) { /* its last segment: the job of a 202 */
        snprintf(out, outn, "%s", strrchr(r->location, '/') ? strrchr(r->location, '/') + 1 : "");
    } else if (field && out && r->resp) {
        json_t *j = json_loadb(r->resp, r->resp_len, 0, NULL);
        const char *v = json_string_value(json_object_get(j, field));

        snprintf(out, outn, "%s", v ? v : "00000000-0000-4000-8000-000000000000");
        json_decref(j);
    }
    api_req_free(r);
    fz_conn_clear(&conn);
    free(path);
    fz.runs++;
    return status;
}

static const char *fz_admin_h[5], *fz_tenant_h[5];

/* A write of the world's: JSON text fmt (with %s of the ids made before) posted as admin or tenant. */
static void
fz_make(api_listener_t l, const char *path, const char *body, const char *field, char *out, size_t n)
{
    fz_run(l, "POST", path, l == API_LISTENER_ADMIN ? fz_admin_h : fz_tenant_h, body, strlen(body), field,
           out, n);
}

static void
fz_world_close(void)
{
    char cmd[200];

    if (fz.ctx.store == NULL)
        return;
    store_close(fz.ctx.store);
    fz.ctx.store = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fz.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: cannot remove %s\n", fz.dir);
}

static void
fz_world_open(void)
{
    char path[200], body[1024], p[256];
    err_t err = {0};

    snprintf(fz.dir, sizeof(fz.dir), "%s/wapd-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(fz.dir) == NULL)
        abort();
    snprintf(path, sizeof(path), "%s/wapd.db", fz.dir);
    fz.ctx.store = store_open(path, NULL, &err);
    if (fz.ctx.store == NULL) {
        fprintf(stderr, "fuzz: cannot open the store: %s\n", err.message);
        abort();
    }
    fz.ctx.ready = 1;
    util_sha256_hex(FZ_ADMIN_TOKEN, strlen(FZ_ADMIN_TOKEN), fz.ctx.admin_token_hash);
    snprintf(fz.auth_admin, sizeof(fz.auth_admin), "Bearer %s", FZ_ADMIN_TOKEN);
    fz_admin_h[0] = "Authorization", fz_admin_h[1] = fz.auth_admin;
    fz_admin_h[2] = "Content-Type", fz_admin_h[3] = "application/json";
    fz_admin_h[4] = NULL;

    fz_make(API_LISTENER_ADMIN, "/v1/admin/clouds", "{\"name\":\"fz\"}", "id", fz.cloud, sizeof(fz.cloud));
    snprintf(body, sizeof(body),
             "{\"name\":\"h\",\"cloudId\":\"%s\",\"agent\":{\"kind\":\"sim\"},"
             "\"capacity\":{\"cores\":64,\"memoryMB\":262144,\"storageGB\":10000}}", fz.cloud);
    fz_make(API_LISTENER_ADMIN, "/v1/admin/hosts", body, "id", fz.host, sizeof(fz.host));
    fz_make(API_LISTENER_ADMIN, "/v1/admin/sizes", "{\"name\":\"S1\",\"cores\":1,\"memoryMB\":1024}", "id",
            fz.size, sizeof(fz.size));
    fz_make(API_LISTENER_ADMIN, "/v1/admin/images",
            "{\"name\":\"lin\",\"osType\":\"linux\",\"generation\":1,\"osDiskGB\":20}", "id", fz.image,
            sizeof(fz.image));
    snprintf(body, sizeof(body),
             "{\"name\":\"web\",\"version\":\"1.0\",\"imageId\":\"%s\",\"defaultSize\":\"S1\","
             "\"minInstances\":1,\"maxInstances\":5}", fz.image);
    fz_make(API_LISTENER_ADMIN, "/v1/admin/galleryItems", body, "id", fz.gallery, sizeof(fz.gallery));
    snprintf(body, sizeof(body),
             "{\"name\":\"gold\",\"cloudId\":\"%s\",\"state\":\"public\",\"quotas\":{\"vms\":50,\"cores\":100},"
             "\"imageIds\":[\"%s\"],\"sizeNames\":[\"S1\"],\"galleryItemIds\":[\"%s\"],"
             "\"checkpointMode\":\"createViewRestore\"}", fz.cloud, fz.image, fz.gallery);
    fz_make(API_LISTENER_ADMIN, "/v1/admin/plans", body, "id", fz.plan, sizeof(fz.plan));
    fz_make(API_LISTENER_ADMIN, "/v1/admin/users", "{\"email\":\"t@example.com\",\"name\":\"t\"}", "id", fz.user,
            sizeof(fz.user));
    snprintf(body, sizeof(body), "{\"userId\":\"%s\",\"planId\":\"%s\",\"displayName\":\"sub\"}", fz.user,
             fz.plan);
    fz_make(API_LISTENER_ADMIN, "/v1/admin/subscriptions", body, "id", fz.sub, sizeof(fz.sub));
    snprintf(p, sizeof(p), "/v1/admin/users/%s/tokens", fz.user);
    {
        char token[256];

        fz_make(API_LISTENER_ADMIN, p, "{}", "token", token, sizeof(token));
        snprintf(fz.auth_tenant, sizeof(fz.auth_tenant), "Bearer %s", token);
    }
    fz_tenant_h[0] = "Authorization", fz_tenant_h[1] = fz.auth_tenant;
    fz_tenant_h[2] = "Content-Type", fz_tenant_h[3] = "application/json";
    fz_tenant_h[4] = NULL;
    snprintf(p, sizeof(p), "/v1/subscriptions/%s/vms", fz.sub);
    snprintf(body, sizeof(body), "{\"name\":\"vm1\",\"imageId\":\"%s\",\"size\":\"S1\"}", fz.image);
    fz_make(API_LISTENER_TENANT, p, body, "id", fz.vm, sizeof(fz.vm));
    fz_make(API_LISTENER_TENANT, p, body, "Location", fz.job, sizeof(fz.job)); /* a second VM: its job */
    fz_make(API_LISTENER_ADMIN, "/v1/admin/hooks", "{\"url\":\"http://127.0.0.1:9/h\",\"events\":[\"vm.created\"],\"secret\":\"s\"}",
            "id", fz.hook, sizeof(fz.hook));
    snprintf(p, sizeof(p), "/v1/subscriptions/%s/vmroles", fz.sub);
    snprintf(body, sizeof(body), "{\"name\":\"r1\",\"galleryItemId\":\"%s\",\"instanceCount\":1}",
             fz.gallery);
    fz_make(API_LISTENER_TENANT, p, body, "id", fz.role, sizeof(fz.role));
    fz_make(API_LISTENER_ADMIN, "/v1/admin/tokens", "{\"name\":\"ro\",\"scope\":\"readOnly\"}", "id", fz.usertok,
            sizeof(fz.usertok));
    /* Usage records for the feeds: the periods of the world's VMs closed as of five minutes from now. */
    if (usage_close_due(fz.ctx.store, 60000, util_now_ms() + 300000, &err) < 0)
        fprintf(stderr, "fuzz: usage_close_due: %s\n", err.message);
    fz.runs = 0;
}

static void
fz_world_end(void)
{
    char cmd[200];

    fz_world_close();
    hostreg_shutdown();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fz.agents);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: cannot remove %s\n", fz.agents);
}

/* Once: the agents' registry and the world; then, every FZ_RESET_EVERY requests, a new world. */
static void
fz_world(void)
{
    static int once;

    if (!once) {
        once = 1;
        snprintf(fz.agents, sizeof(fz.agents), "%s/wapd-fuzz-agents-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (mkdtemp(fz.agents) == NULL)
            abort();
        hostreg_init(fz.agents);
        if (agent_builtin_register() || catalog_jobs_register() || accounts_jobs_register() ||
            vm_jobs_register() || checkpoint_jobs_register() || vmrole_jobs_register() ||
            inventory_jobs_register() || snapshot_jobs_register())
            abort();
        fz_world_open();
        atexit(fz_world_end);
        return;
    }
    if (fz.runs >= FZ_RESET_EVERY) {
        fz_world_close();
        fz_world_open();
    }
}

/* Expands the placeholders of a path template: {cloud} {host} {size} {image} {gallery} {plan} {user} {sub}
 * {vm} {hook} {job} {tok} {role}. */
static void
fz_path(const char *tmpl, char *out, size_t n)
{
    static const struct {
        const char *name;
        size_t off;
    } ids[] = {
        {"{cloud}", offsetof(fz_world_t, cloud)}, {"{host}", offsetof(fz_world_t, host)},
        {"{size}", offsetof(fz_world_t, size)},   {"{image}", offsetof(fz_world_t, image)},
        {"{gallery}", offsetof(fz_world_t, gallery)}, {"{plan}", offsetof(fz_world_t, plan)},
        {"{user}", offsetof(fz_world_t, user)},   {"{sub}", offsetof(fz_world_t, sub)},
        {"{vm}", offsetof(fz_world_t, vm)},       {"{hook}", offsetof(fz_world_t, hook)},
        {"{job}", offsetof(fz_world_t, job)},     {"{tok}", offsetof(fz_world_t, usertok)},
        {"{role}", offsetof(fz_world_t, role)},
    };
    size_t len = 0, i;

    while (*tmpl && len + 1 < n) {
        for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
            if (strncmp(tmpl, ids[i].name, strlen(ids[i].name)) == 0)
                break;
        if (i < sizeof(ids) / sizeof(ids[0])) {
            len += (size_t) snprintf(out + len, n - len, "%s", (const char *) &fz + ids[i].off);
            if (len >= n)
                len = n - 1;
            tmpl += strlen(ids[i].name);
        } else {
            out[len++] = *tmpl++;
        }
    }
    out[len] = '\0';
}

#endif
