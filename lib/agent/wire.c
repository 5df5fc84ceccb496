/*
 * wire.c: the JSON codecs of the wapd-agent protocol (see wire.h): statuses and errors, header
 * syntax, the field readers every decoder uses, and the resize, checkpoint, host and progress
 * bodies (the VM spec and disks are in wire_spec.c).
 *
 * Every decoder checks the object's keys against the fields it knows first (an unknown key is
 * refused), then reads each field through one of three readers (integer in a range, string of a
 * bounded length, object) that name the field in their error, so every refusal says which field is
 * at fault and no value is read without its bounds. Encoders write every field the decoders read,
 * so a decoded value encodes back to the same body. No state: safe from any thread.
 */
#include "wire_internal.h"

#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../util.h"

/* ---- statuses ---- */

/* The protocol's table: HTTP status, error code, the agent_status_t it stands for. */
#define AGENT_WIRE_HTTP_MAP(X)                                                                     \
    X(400, "BadRequest", AGENT_ERR_PERMANENT)                                                      \
    X(401, "Unauthorized", AGENT_ERR_PERMANENT)                                                    \
    X(404, "NotFound", AGENT_ERR_NOT_FOUND)                                                        \
    X(405, "MethodNotAllowed", AGENT_ERR_PERMANENT)                                                \
    X(409, "Conflict", AGENT_ERR_CONFLICT)                                                         \
    X(413, "PayloadTooLarge", AGENT_ERR_PERMANENT)                                                 \
    X(422, "HostFailed", AGENT_ERR_PERMANENT)                                                      \
    X(501, "Unsupported", AGENT_ERR_UNSUPPORTED)                                                   \
    X(503, "Unavailable", AGENT_ERR_TRANSIENT)                                                     \
    X(504, "Timeout", AGENT_ERR_TIMEOUT)

static const struct {
    int http;
    const char *code;
    agent_status_t status;
} http_map[] = {
#define X(http, code, status) {http, code, status},
    AGENT_WIRE_HTTP_MAP(X)
#undef X
};

#define HTTP_MAP_N (sizeof(http_map) / sizeof(http_map[0]))

int
agent_wire_http_of_status(agent_status_t status, const char **code)
{
    int http;

    switch (status) {
    case AGENT_OK:
        http = 200;
        break;
    case AGENT_PENDING:
        http = 202;
        break;
    case AGENT_ERR_NOT_FOUND:
        http = 404;
        break;
    case AGENT_ERR_CONFLICT:
        http = 409;
        break;
    case AGENT_ERR_UNSUPPORTED:
        http = 501;
        break;
    case AGENT_ERR_TRANSIENT:
    case AGENT_ERR_UNREACHABLE:
        http = 503;
        break;
    case AGENT_ERR_TIMEOUT:
        http = 504;
        break;
    case AGENT_ERR_PERMANENT:
    default:
        http = 422;
        break;
    }
    if (code)
        *code = agent_wire_code_of_http(http);
    return http;
}

const char *
agent_wire_code_of_http(int http)
{
    size_t i;

    for (i = 0; i < HTTP_MAP_N; i++)
        if (http_map[i].http == http)
            return http_map[i].code;
    return NULL;
}

agent_status_t
agent_wire_status_of_http(int http)
{
    size_t i;

    if (http == 202)
        return AGENT_PENDING;
    if (http >= 200 && http < 300)
        return AGENT_OK;
    for (i = 0; i < HTTP_MAP_N; i++)
        if (http_map[i].http == http)
            return http_map[i].status;
    return http >= 500 && http < 600 ? AGENT_ERR_TRANSIENT : AGENT_ERR_PERMANENT;
}

json_t *
agent_wire_error_json(const char *code, const char *message)
{
    assert(code != NULL && message != NULL);
    return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}

int
agent_wire_error_from_http(int http, const json_t *body, agent_err_t *err)
{
    agent_status_t status = agent_wire_status_of_http(http);
    const char *msg = json_string_value(json_object_get(json_object_get(body, "error"), "message"));

    assert(err != NULL);
    if (status == AGENT_OK || status == AGENT_PENDING)
        status = AGENT_ERR_PERMANENT; /* not an error answer: the caller misread it */
    if (http == 401)
        return agent_fail(err, status, "the agent refused the token");
    if (msg != NULL && msg[0] != '\0')
        return agent_fail(err, status, "%s", msg);
    return agent_fail(err, status, "the agent answered HTTP %d", http);
}

/* ---- headers and path segments ---- */

static bool
token_valid(const char *s, size_t max)
{
    size_t n;

    if (s == NULL)
        return false;
    for (n = 0; s[n]; n++)
        if (n >= max || !(isalnum((unsigned char) s[n]) || strchr("._:-", s[n])))
            return false;
    return n > 0;
}

bool
agent_wire_op_id_valid(const char *s)
{
    return token_valid(s, AGENT_WIRE_OP_ID_MAX);
}

bool
agent_wire_path_id_valid(const char *s)
{
    return token_valid(s, AGENT_ID_MAX - 1);
}

static int
parse_bounded(const char *s, int64_t min, int64_t max, int *out)
{
    int64_t v;

    if (s == NULL || util_parse_int64(s, false, &v) != 0 || v < min || v > max)
        return -1;
    *out = (int) v;
    return 0;
}

int
agent_wire_timeout_parse(const char *s, int *ms)
{
    return parse_bounded(s, 1, AGENT_WIRE_TIMEOUT_MAX_MS, ms);
}

const char *
agent_wire_power_action(agent_power_op_t op)
{
    static const char *const actions[] = {"start", "stop", "shutdown", "restart"};

    assert((size_t) op < sizeof(actions) / sizeof(actions[0]));
    return actions[op];
}

int
agent_wire_lun_parse(const char *s, int *lun)
{
    return parse_bounded(s, 0, AGENT_WIRE_LUN_MAX, lun);
}

/* ---- field readers: each names the field ("disks[1].sizeGB") in its error ---- */

/* 0 when j is an object whose keys are all in known (NULL-terminated). */
int
agent_wire__check_object(const json_t *j, const char *where, const char *const *known,
                         agent_err_t *err)
{
    const char *key;
    json_t *v;
    size_t i;

    if (!json_is_object(j))
        return agent_fail(err, AGENT_ERR_PERMANENT, "%s must be a JSON object",
                          where[0] ? where : "the body");
    json_object_foreach((json_t *) j, key, v)
    {
        for (i = 0; known[i] && strcmp(known[i], key) != 0; i++)
            ;
        if (known[i] == NULL)
            return agent_fail(err, AGENT_ERR_PERMANENT, "unknown field '%s%s%s'", where,
                              where[0] ? "." : "", key);
    }
    return 0;
}

/* A required integer field in [min, max]. */
int
agent_wire__read_int(const json_t *o, const char *where, const char *key, int64_t min, int64_t max,
                     int64_t *out, agent_err_t *err)
{
    json_t *v = json_object_get(o, key);
    const char *dot = where[0] ? "." : "";

    if (v == NULL)
        return agent_fail(err, AGENT_ERR_PERMANENT, "field '%s%s%s' is required", where, dot, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "field '%s%s%s' must be an integer from %lld to %lld", where, dot, key,
                          (long long) min, (long long) max);
    *out = json_integer_value(v);
    return 0;
}

int
agent_wire__read_small_int(const json_t *o, const char *where, const char *key, int min, int max,
                           int *out, agent_err_t *err)
{
    int64_t v;

    if (agent_wire__read_int(o, where, key, min, max, &v, err))
        return -1;
    *out = (int) v;
    return 0;
}

/* A string field of 1..cap-1 bytes into out; when nullable, missing or null reads as "" (*present
 * false). */
int
agent_wire__read_str(const json_t *o, const char *where, const char *key, bool nullable, char *out,
                     size_t cap, bool *present, agent_err_t *err)
{
    json_t *v = json_object_get(o, key);
    const char *dot = where[0] ? "." : "";
    size_t n;

    out[0] = '\0';
    if (present)
        *present = false;
    if (v == NULL || json_is_null(v)) {
        if (nullable)
            return 0;
        return agent_fail(err, AGENT_ERR_PERMANENT, "field '%s%s%s' is required", where, dot, key);
    }
    n = json_is_string(v) ? json_string_length(v) : 0;
    if (n == 0 || n >= cap || strlen(json_string_value(v)) != n)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "field '%s%s%s' must be a string of 1 to %zu characters", where, dot, key,
                          cap - 1);
    memcpy(out, json_string_value(v), n + 1);
    if (present)
        *present = true;
    return 0;
}

json_t *
agent_wire__nullable_string(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* ---- resize and checkpoint ---- */

static const char *const resize_keys[] = {"cores", "memoryMB", NULL};
static const char *const checkpoint_keys[] = {"name", NULL};

json_t *
agent_wire_resize_to_json(int cores, int memory_mb)
{
    return json_pack("{s:i, s:i}", "cores", cores, "memoryMB", memory_mb);
}

int
agent_wire_resize_from_json(const json_t *j, int *cores, int *memory_mb, agent_err_t *err)
{
    int c, m;

    assert(cores != NULL && memory_mb != NULL && err != NULL);
    if (agent_wire__check_object(j, "", resize_keys, err) ||
        agent_wire__read_small_int(j, "", "cores", 1, 4096, &c, err) ||
        agent_wire__read_small_int(j, "", "memoryMB", 1, INT_MAX, &m, err))
        return -1;
    *cores = c;
    *memory_mb = m;
    return 0;
}

json_t *
agent_wire_checkpoint_to_json(const char *name)
{
    assert(name != NULL);
    return json_pack("{s:s}", "name", name);
}

int
agent_wire_checkpoint_from_json(const json_t *j, char out[AGENT_NAME_MAX], agent_err_t *err)
{
    assert(out != NULL && err != NULL);
    if (agent_wire__check_object(j, "", checkpoint_keys, err) ||
        agent_wire__read_str(j, "", "name", false, out, AGENT_NAME_MAX, NULL, err))
        return -1;
    return 0;
}

/* ---- the host ---- */

static const char *const host_keys[] = {"name", "backend", "version", "capacity",
                                        "vms",  "used",    NULL};
static const char *const capacity_keys[] = {"cores", "memoryMB", "storageGB", NULL};
static const char *const used_keys[] = {"cores", "memoryMB", NULL};

json_t *
agent_wire_host_to_json(const agent_host_info_t *h)
{
    assert(h != NULL);
    return json_pack("{s:s, s:s, s:s, s:{s:I, s:I, s:I}, s:I, s:{s:I, s:I}}", "name", h->name,
                     "backend", h->backend, "version", h->version, "capacity", "cores",
                     (json_int_t) h->cores, "memoryMB", (json_int_t) h->memory_mb, "storageGB",
                     (json_int_t) h->storage_gb, "vms", (json_int_t) h->vms, "used", "cores",
                     (json_int_t) h->used_cores, "memoryMB", (json_int_t) h->used_memory_mb);
}

int
agent_wire_host_from_json(const json_t *j, agent_host_info_t *out, agent_err_t *err)
{
    json_t *cap = json_object_get(j, "capacity"), *used = json_object_get(j, "used");

    assert(out != NULL && err != NULL);
    memset(out, 0, sizeof(*out));
    if (agent_wire__check_object(j, "", host_keys, err) ||
        agent_wire__read_str(j, "", "name", false, out->name, sizeof(out->name), NULL, err) ||
        agent_wire__read_str(j, "", "backend", false, out->backend, sizeof(out->backend), NULL,
                             err) ||
        agent_wire__read_str(j, "", "version", false, out->version, sizeof(out->version), NULL,
                             err) ||
        agent_wire__check_object(cap, "capacity", capacity_keys, err) ||
        agent_wire__read_int(cap, "capacity", "cores", 0, INT64_MAX, &out->cores, err) ||
        agent_wire__read_int(cap, "capacity", "memoryMB", 0, INT64_MAX, &out->memory_mb, err) ||
        agent_wire__read_int(cap, "capacity", "storageGB", 0, INT64_MAX, &out->storage_gb, err) ||
        agent_wire__read_int(j, "", "vms", 0, INT64_MAX, &out->vms, err) ||
        agent_wire__check_object(used, "used", used_keys, err) ||
        agent_wire__read_int(used, "used", "cores", 0, INT64_MAX, &out->used_cores, err) ||
        agent_wire__read_int(used, "used", "memoryMB", 0, INT64_MAX, &out->used_memory_mb, err))
        return -1;
    return 0;
}

/* ---- long operations ---- */

static const char *const progress_keys[] = {"bytesCopied", "bytesTotal", NULL};

json_t *
agent_wire_progress_json(const agent_progress_t *p)
{
    assert(p != NULL);
    return json_pack("{s:I, s:I}", "bytesCopied", (json_int_t) p->bytes_copied, "bytesTotal",
                     (json_int_t) p->bytes_total);
}

json_t *
agent_wire_pending_json(const agent_progress_t *p)
{
    agent_progress_t zero = {0, 0};

    return json_pack("{s:s, s:o}", "status", "Running", "progress",
                     agent_wire_progress_json(p ? p : &zero));
}

int
agent_wire_progress_from_json(const json_t *j, agent_progress_t *out, agent_err_t *err)
{
    json_t *p = json_object_get(j, "progress");

    assert(out != NULL && err != NULL);
    out->bytes_copied = 0;
    out->bytes_total = 0;
    if (p == NULL || json_is_null(p))
        return 0;
    if (agent_wire__check_object(p, "progress", progress_keys, err) ||
        agent_wire__read_int(p, "progress", "bytesCopied", 0, INT64_MAX, &out->bytes_copied, err) ||
        agent_wire__read_int(p, "progress", "bytesTotal", 0, INT64_MAX, &out->bytes_total, err))
        return -1;
    return 0;
}
