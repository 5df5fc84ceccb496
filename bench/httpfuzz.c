/*
 * httpfuzz.c: a black-box HTTP fuzzer for a running wapd, raw requests over plain sockets.
 *
 *   httpfuzz ADMIN_URL TENANT_URL ROUTES WORLD N CONNS SEED
 *
 * ROUTES has one line per route of the router's table, "A|T PATTERN METHOD,METHOD,..." (A the admin
 * listener, T the tenant one); WORLD holds the seeded world as "admin_token X", "tenant_token X", "sub X"
 * and any number of "id X" and "keep X" lines, the ids of seeded resources of every kind (a keep id, the
 * world's backbone such as the subscription and the tenant's token, is never put in a DELETE's path, so
 * that the tenant's routes stay reachable for the whole run). N requests are sent from CONNS
 * threads, each with one keep-alive connection per listener, reopened when the server closes it or after
 * a request whose framing leaves the connection's state unknown. SEED makes a run repeatable (as far as
 * threads allow).
 *
 * Each request is one route's pattern filled in (seeded ids, the subscription, random or hostile segments)
 * and then mutated: the method (the route's own, other standard ones, HEAD, unknown ones, lower case,
 * garbage), the path (slashes, dot segments, percent escapes, raw bytes, very long segments, the other
 * listener), the query (limit, cursor and the usage parameters with good and bad values, repeats, bad
 * escapes), the version, line endings, headers (a valid token of either listener, none, broken ones;
 * Content-Type, Idempotency-Key, If-Match, Expect, long, folded and malformed headers) and the body (a
 * plausible JSON body for the route, mutated bytes, random JSON, deep nesting, invalid UTF-8), with framings
 * that are right, or wrong: two Content-Length headers, a length too short or too long, chunked (valid or
 * broken), unsupported transfer codings, a body with no length, two requests pipelined.
 *
 * Every answer is checked:
 *   - no 5xx, except 503 with Retry-After (documented), 501 in the JSON envelope to a request with a
 *     transfer coding the server does not support, and 505 in the envelope to an HTTP version not 1.x;
 *   - every error answer (4xx, 5xx) to a request other than HEAD carries X-Request-Id and the JSON envelope
 *     {"error": {"code", "message", ...}}. An error without X-Request-Id is one libmicrohttpd raised itself
 *     (HTML): the listener's front answers a connection's first request before libmicrohttpd parses it, so
 *     these come only from the later requests of a keep-alive connection; they are counted apart, by
 *     status, and do not fail the run (a known gap);
 *   - the server stays reachable: a run of connection failures in a row ends the run as a crash.
 * A request with a broken framing may go unanswered (its answer is waited for BROKEN_TIMEOUT_MS, then
 * counted as "no answer, expected"); a malformed request line that libmicrohttpd closes without an answer is
 * counted apart (a known gap); any other request without an answer in READ_TIMEOUT_MS counts as a
 * connection error, and one answered later than SLOW_MS as slow: both reported, neither failed on. The first
 * few of each kind are printed with their request.
 *
 * Totals go to stdout; the exit status is 1 on any unexpected 5xx, any error answer from wapd outside the
 * envelope, or an unreachable server; 0 otherwise; 2 on bad arguments.
 *
 * Invariants: a thread owns its connections, buffers and random state; the tallies are atomics.
 */
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define ROUTES_MAX 512
#define IDS_MAX 512
#define READ_TIMEOUT_MS 10000
#define BROKEN_TIMEOUT_MS 300 /* the wait for an answer to a broken framing */
#define DEAD_AFTER 200 /* connection failures in a row that mean the server is gone */
#define SAMPLES 5      /* failures printed per kind */
#define SLOW_MS 1000   /* a request answered (or given up on) later is slow */

enum { L_ADMIN, L_TENANT };

typedef struct {
    int listener;
    char pattern[256];
    char methods[6][8];
    int nmethods;
} route_t;

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

/* One request as sent, and what the answer may be. */
typedef struct {
    int listener;
    buf_t raw;
    bool head;        /* HEAD: an answer without a body */
    bool broken;      /* framing that may go unanswered */
    bool bad_coding;  /* an unsupported transfer coding: 501 is right */
    bool bad_version; /* an HTTP version other than 1.x: 505 is right */
    bool close_after; /* the connection's state is unknown afterwards */
    bool half_close;  /* shut the write side after sending */
    bool bad_line;    /* a malformed request line: libmicrohttpd may close without an answer */
    int answers;      /* replies to read: 2 when pipelined */
} fz_req_t;

typedef struct {
    int status;
    bool has_reqid, retry_after, closing, chunked, has_length;
    size_t clen;
    const char *body;
    size_t body_len;
} fz_resp_t;

typedef struct {
    int fd;
    buf_t in; /* bytes read and not yet consumed */
} fz_conn_t;

static char hosts[2][256], ports[2][16];
static route_t routes[ROUTES_MAX];
static int nroutes;
static char ids[IDS_MAX][256];
static bool keep[IDS_MAX]; /* never the target of a DELETE: the world's backbone */
static int nids;
static char admin_token[256], tenant_token[256], sub[256];

static atomic_long next_req, total_sent, by_class[6], by_status[600], mhd_by_status[600];
static atomic_long fail_5xx, expected_503, expected_501, expected_505, nonjson, mhd_raised, conn_errors, no_answer_expected,
    timeouts;
static atomic_long slow, no_answer_bad_line;
static atomic_int consecutive_conn_fail, samples_5xx, samples_nonjson, samples_conn, samples_slow;
static atomic_bool dead;

/* ---- random ---- */

static uint64_t
rnd(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static unsigned
pick(uint64_t *s, unsigned n)
{
    return n ? (unsigned) (rnd(s) % n) : 0;
}

/* true with probability pct/1000 */
static bool
chance(uint64_t *s, unsigned per_mille)
{
    return pick(s, 1000) < per_mille;
}

/* ---- buffers ---- */

static void
bput(buf_t *b, const void *p, size_t n)
{
    char *nb;
    size_t cap = b->cap ? b->cap : 4096;

    while (cap < b->len + n + 1)
        cap *= 2;
    if (cap != b->cap) {
        if ((nb = realloc(b->p, cap)) == NULL)
            abort();
        b->p = nb;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
bstr(buf_t *b, const char *s)
{
    bput(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
bprintf(buf_t *b, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        bput(b, tmp, (size_t) n < sizeof(tmp) ? (size_t) n : sizeof(tmp) - 1);
}

static void
brepeat(buf_t *b, char c, size_t n)
{
    char tmp[256];
    size_t k;

    memset(tmp, c, sizeof(tmp));
    for (k = 0; k < n; k += sizeof(tmp))
        bput(b, tmp, n - k < sizeof(tmp) ? n - k : sizeof(tmp));
}

/* ---- generation ---- */

static const char *const std_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
static const char *const odd_methods[] = {"OPTIONS", "TRACE", "CONNECT", "get", "Post", "PROPFIND", "FOO",
                                          "G\x01T", "", "GET GET", "DELETE\t", "PATCH "};
static const char *const actions[] = {"start", "stop", "restart", "shutdown", "deallocate", "suspend", "resume",
                                      "reset", "checkpoint", "capture", "generalize", "disks", "foo", "START"};
static const char *const hostile[] = {"%00", "..", ".", "%2e%2e", "%2F", "%2f..%2f", "*", "'", "\"", "%",
                                      "%G1", "%C3%A9", "\xc3\xa9", "\xff\xfe", "~", "id;x=1", "%20", "+",
                                      "null", "-1", "0", "99999999999999999999", "<script>", "a%00b", "\\",
                                      "{id}", "$", "%u0041", "..%2f..%2fetc%2fpasswd", "%25", "?", "#"};
static const char *const limits[] = {"1", "100", "1000", "0", "-1", "1001", "abc", "99999999999999999999",
                                     "1e3", "", "%00", "2.5", " 5", "0x10", "+7"};
static const char *const json_tokens[] = {"{", "}", "[", "]", "null", "1e999", "-0", "\"\\u0000\"",
                                          "\"\\ud800\"", "true", ",", ":", "\"name\"", "18446744073709551616",
                                          "\xff", "\"\xc3\x28\"", "-1", "0.0000001", "\"\"", "\"x\"", "{}", "[]",
                                          "\"\\\"", "9223372036854775807", "\"a\":1", "1.5", "\"running\""};
static const char *const field_names[] = {
    "name",      "cloudId",   "hostId",     "planId",    "userId",   "imageId",       "size",
    "sizeName",  "quotas",    "vms",        "cores",     "memoryMB", "storageGB",     "state",
    "agent",     "kind",      "uri",        "token",     "capacity", "email",         "osType",
    "generation", "osDiskGB", "imageIds",   "sizeNames", "url",      "events",        "secret",
    "sizeGB",    "caching",   "lun",        "addressPrefix", "networkId", "instances", "galleryItemId",
    "minInstances", "maxInstances", "version", "defaultSize", "olderThanHours", "checkpointMode",
    "description", "expiresAt", "role",      "scopes",    "ids",      "after",         "count"};

/* A plausible body for a route (by its last literal segment and method), in b. */
static void
template_body(uint64_t *s, const route_t *rt, const char *method, buf_t *b)
{
    const char *p = rt->pattern, *last = strrchr(p, '/');
    char seg[64];
    const char *id = nids ? ids[pick(s, (unsigned) nids)] : "x";

    /* the last literal segment: skip a final {param} */
    if (last && last[1] == '{') {
        const char *q = last;
        while (q > p && *(q - 1) != '/')
            q--;
        snprintf(seg, sizeof(seg), "%.*s", (int) (last - q), q);
    } else {
        snprintf(seg, sizeof(seg), "%.63s", last ? last + 1 : p);
    }
    if (strcmp(method, "PATCH") == 0 && pick(s, 2)) {
        bprintf(b, "{\"name\":\"fz%u\",\"state\":\"%s\"}", pick(s, 100000), pick(s, 2) ? "active" : "suspended");
        return;
    }
    if (strcmp(seg, "clouds") == 0)
        bprintf(b, "{\"name\":\"fz-cloud-%u\"}", pick(s, 1000000));
    else if (strcmp(seg, "hosts") == 0)
        bprintf(b, "{\"name\":\"fz-hv%u\",\"cloudId\":\"%s\",\"agent\":{\"kind\":\"sim\",\"uri\":\"sim://\"},"
                   "\"capacity\":{\"cores\":64,\"memoryMB\":262144,\"storageGB\":10000}}",
                pick(s, 1000000), id);
    else if (strcmp(seg, "sizes") == 0)
        bprintf(b, "{\"name\":\"Fz%u\",\"cores\":%u,\"memoryMB\":%u}", pick(s, 1000000), pick(s, 64), pick(s, 65536));
    else if (strcmp(seg, "images") == 0)
        bprintf(b, "{\"name\":\"fz%u\",\"osType\":\"linux\",\"generation\":2,\"osDiskGB\":10}", pick(s, 1000000));
    else if (strcmp(seg, "plans") == 0)
        bprintf(b, "{\"name\":\"fz%u\",\"cloudId\":\"%s\",\"quotas\":{\"vms\":10}}", pick(s, 1000000), id);
    else if (strcmp(seg, "users") == 0)
        bprintf(b, "{\"email\":\"fz%u@example.com\"}", pick(s, 1000000));
    else if (strcmp(seg, "subscriptions") == 0)
        bprintf(b, "{\"userId\":\"%s\",\"planId\":\"%s\"}", id, nids ? ids[pick(s, (unsigned) nids)] : "x");
    else if (strcmp(seg, "tokens") == 0)
        bprintf(b, "{\"name\":\"fz\",\"expiresAt\":\"2030-01-01T00:00:00Z\"}");
    else if (strcmp(seg, "vms") == 0)
        bprintf(b, "{\"name\":\"fz%u\",\"imageId\":\"%s\",\"size\":\"FuzzSmall\"}", pick(s, 1000000), id);
    else if (strcmp(seg, "vmroles") == 0)
        bprintf(b, "{\"name\":\"fz%u\",\"galleryItemId\":\"%s\",\"instances\":%u}", pick(s, 1000000), id, pick(s, 3));
    else if (strcmp(seg, "networks") == 0)
        bprintf(b, "{\"name\":\"fz%u\",\"addressPrefix\":\"10.%u.0.0/16\"}", pick(s, 1000000), pick(s, 300));
    else if (strcmp(seg, "disks") == 0)
        bprintf(b, "{\"sizeGB\":%u,\"caching\":\"none\"}", pick(s, 100));
    else if (strcmp(seg, "hooks") == 0)
        bprintf(b, "{\"url\":\"http://127.0.0.1:9/h\",\"events\":[\"vm.*\"],\"secret\":\"s%u\"}", pick(s, 1000));
    else if (strcmp(seg, "galleryItems") == 0)
        bprintf(b, "{\"name\":\"fz%u\",\"version\":\"1\",\"imageId\":\"%s\",\"defaultSize\":\"FuzzSmall\"}",
                pick(s, 1000000), id);
    else if (strcmp(seg, "scale") == 0)
        bprintf(b, "{\"instances\":%u}", pick(s, 4));
    else if (strcmp(seg, "migrate") == 0 || strcmp(seg, "reassociate") == 0)
        bprintf(b, "{\"hostId\":\"%s\"}", id);
    else if (strcmp(seg, "prune") == 0)
        bprintf(b, "{\"olderThanHours\":%u}", pick(s, 1000));
    else if (strcmp(seg, "capture") == 0 || strcmp(seg, "snapshots") == 0 || strcmp(seg, "copy") == 0)
        bprintf(b, "{\"name\":\"fz%u\"}", pick(s, 1000000));
    else if (strcmp(seg, "ack") == 0)
        bprintf(b, "{\"after\":\"%u\"}", pick(s, 1000));
    else
        bstr(b, "{}");
}

/* A random JSON value of at most depth levels. */
static void
random_json(uint64_t *s, buf_t *b, int depth)
{
    unsigned k, n;

    switch (depth > 0 ? pick(s, 8) : pick(s, 4)) {
    case 0:
        bprintf(b, "%d", (int) (rnd(s) % 2000001) - 1000000);
        break;
    case 1:
        bprintf(b, "\"%s\"", pick(s, 4) ? hostile[pick(s, sizeof(hostile) / sizeof(hostile[0]))] : "x");
        break;
    case 2:
        bstr(b, pick(s, 2) ? "true" : "null");
        break;
    case 3:
        bstr(b, json_tokens[pick(s, sizeof(json_tokens) / sizeof(json_tokens[0]))]);
        break;
    case 4:
    case 5:
    case 6:
        n = pick(s, 5);
        bstr(b, "{");
        for (k = 0; k < n; k++) {
            bprintf(b, "%s\"%s\":", k ? "," : "", field_names[pick(s, sizeof(field_names) / sizeof(field_names[0]))]);
            random_json(s, b, depth - 1);
        }
        bstr(b, "}");
        break;
    default:
        n = pick(s, 4);
        bstr(b, "[");
        for (k = 0; k < n; k++) {
            if (k)
                bstr(b, ",");
            random_json(s, b, depth - 1);
        }
        bstr(b, "]");
    }
}

/* Byte-level damage to a body. */
static void
mutate_body(uint64_t *s, buf_t *b)
{
    unsigned rounds = 1 + pick(s, 3), r;
    size_t at, n;
    buf_t t = {0};
    const char *tok;

    for (r = 0; r < rounds && b->len > 0; r++) {
        at = pick(s, (unsigned) b->len);
        switch (pick(s, 5)) {
        case 0: /* flip a byte */
            b->p[at] = (char) (b->p[at] ^ (1u << pick(s, 8)));
            break;
        case 1: /* cut a range */
            n = pick(s, (unsigned) (b->len - at)) + 1;
            memmove(b->p + at, b->p + at + n, b->len - at - n + 1);
            b->len -= n;
            break;
        case 2: /* insert a token */
            tok = json_tokens[pick(s, sizeof(json_tokens) / sizeof(json_tokens[0]))];
            t.len = 0;
            bput(&t, b->p, at);
            bstr(&t, tok);
            bput(&t, b->p + at, b->len - at);
            b->len = 0;
            bput(b, t.p, t.len);
            break;
        case 3: /* truncate */
            b->len = at;
            b->p[at] = '\0';
            break;
        default: /* a field repeated: duplicate keys */
            if (b->p[0] == '{' && b->len > 2) {
                t.len = 0;
                bput(&t, b->p, b->len - 1);
                bprintf(&t, ",\"%s\":", field_names[pick(s, sizeof(field_names) / sizeof(field_names[0]))]);
                random_json(s, &t, 1);
                bstr(&t, "}");
                b->len = 0;
                bput(b, t.p, t.len);
            }
        }
    }
    free(t.p);
}

static void
make_body(uint64_t *s, const route_t *rt, const char *method, buf_t *b)
{
    unsigned r = pick(s, 100);

    b->len = 0;
    if (r < 40) {
        template_body(s, rt, method, b);
    } else if (r < 80) {
        template_body(s, rt, method, b);
        mutate_body(s, b);
    } else if (r < 92) {
        random_json(s, b, 4);
    } else if (r < 94) {
        brepeat(b, '[', 2000 + pick(s, 100000)); /* deep nesting */
    } else if (r < 95) {
        brepeat(b, '{', 1000);
    } else if (r < 96) {
        bstr(b, "{\"name\":\"");
        brepeat(b, 'x', 70000 + pick(s, 2000000)); /* large */
        bstr(b, "\"}");
    } else if (r < 97) {
        bput(b, "\x00\x01\x02{\"a\":1}", 10);
    } else if (r < 98) {
        bstr(b, "null");
    }
    /* else: empty */
}

static const char *
segment_value(uint64_t *s, const char *param, bool deleting, buf_t *tmp)
{
    unsigned r = pick(s, 100), k;

    tmp->len = 0;
    if (strcmp(param, "{sid}") == 0 && r < 80)
        return sub;
    if (strcmp(param, "{action}") == 0 && r < 85)
        return actions[pick(s, sizeof(actions) / sizeof(actions[0]))];
    if (strcmp(param, "{lun}") == 0 && r < 70) {
        bprintf(tmp, "%d", (int) pick(s, 70) - 3);
        return tmp->p;
    }
    if (r < 75 && nids) {
        k = pick(s, (unsigned) nids);
        if (!deleting || !keep[k])
            return ids[k];
        r = 80; /* a backbone id is never deleted: a random one instead */
    }
    if (r < 85) {
        bprintf(tmp, "%08x-%04x-4%03x-8%03x-%012llx", (unsigned) rnd(s), pick(s, 65536), pick(s, 4096), pick(s, 4096),
                (unsigned long long) (rnd(s) & 0xffffffffffffULL));
        return tmp->p;
    }
    if (r < 87) {
        brepeat(tmp, 'a', 300 + pick(s, 9000));
        return tmp->p;
    }
    return hostile[pick(s, sizeof(hostile) / sizeof(hostile[0]))];
}

static void
make_path(uint64_t *s, const route_t *rt, bool deleting, buf_t *b)
{
    const char *p = rt->pattern, *e;
    buf_t tmp = {0};
    char seg[256];
    unsigned r;
    size_t k;

    if (chance(s, 10)) {
        bstr(b, pick(s, 2) ? "*" : "http://127.0.0.1");
    }
    if (chance(s, 10))
        bstr(b, "/v1/..");
    while (*p == '/') {
        e = strchr(p + 1, '/');
        snprintf(seg, sizeof(seg), "%.*s", (int) (e ? e - p - 1 : (long) strlen(p + 1)), p + 1);
        bstr(b, chance(s, 10) ? "//" : "/");
        if (seg[0] == '{') {
            bstr(b, segment_value(s, seg, deleting, &tmp));
        } else if (chance(s, 20)) {
            r = pick(s, 3);
            if (r == 0)
                for (k = 0; seg[k]; k++)
                    seg[k] = (char) (seg[k] ^ 0x20 * (seg[k] >= 'a' && seg[k] <= 'z'));
            else if (r == 1 && seg[0])
                seg[strlen(seg) - 1] = '\0';
            else
                strncat(seg, "x", sizeof(seg) - strlen(seg) - 1);
            bstr(b, seg);
        } else {
            bstr(b, seg);
        }
        p = e ? e : p + strlen(p);
    }
    if (chance(s, 30))
        bstr(b, "/");
    if (chance(s, 15)) {
        bstr(b, "/");
        bstr(b, hostile[pick(s, sizeof(hostile) / sizeof(hostile[0]))]);
    }
    free(tmp.p);
}

static void
make_query(uint64_t *s, buf_t *b)
{
    unsigned n = 1 + pick(s, 3), k;
    static const char *const names[] = {"limit", "cursor", "lastID", "batchSize", "status", "after", "$filter",
                                        "limit", "", "a", "%ZZ", "state"};
    const char *name;

    bstr(b, "?");
    for (k = 0; k < n; k++) {
        if (k)
            bstr(b, pick(s, 10) ? "&" : "&&");
        name = names[pick(s, sizeof(names) / sizeof(names[0]))];
        bstr(b, name);
        if (pick(s, 10) == 0)
            continue; /* no value */
        bstr(b, "=");
        if (strcmp(name, "limit") == 0 || strcmp(name, "batchSize") == 0)
            bstr(b, limits[pick(s, sizeof(limits) / sizeof(limits[0]))]);
        else if (strcmp(name, "cursor") == 0 && pick(s, 2))
            bprintf(b, "%016llx%08x", (unsigned long long) rnd(s), (unsigned) rnd(s));
        else if (strcmp(name, "status") == 0 && pick(s, 2))
            bstr(b, pick(s, 2) ? "running" : "failed");
        else if (pick(s, 2))
            bprintf(b, "%u", pick(s, 100000));
        else
            bstr(b, hostile[pick(s, sizeof(hostile) / sizeof(hostile[0]))]);
    }
}

static const char *
listener_token(int l)
{
    return l == L_ADMIN ? admin_token : tenant_token;
}

/* Builds one request into q. */
static void
make_request(uint64_t *s, fz_req_t *q, buf_t *body, buf_t *line)
{
    const route_t *rt = &routes[pick(s, (unsigned) nroutes)];
    const char *method, *eol = chance(s, 20) ? "\n" : "\r\n", *version, *tok;
    unsigned r = pick(s, 100), framing, k;
    bool want_body;
    buf_t *o = &q->raw;

    q->listener = chance(s, 100) ? !rt->listener : rt->listener;
    q->head = q->broken = q->bad_coding = q->bad_version = q->close_after = q->half_close = q->bad_line = false;
    q->answers = 1;
    o->len = 0;

    if (r < 60 && rt->nmethods)
        method = rt->methods[pick(s, (unsigned) rt->nmethods)];
    else if (r < 75)
        method = std_methods[pick(s, 5)];
    else if (r < 88)
        method = "HEAD";
    else
        method = odd_methods[pick(s, sizeof(odd_methods) / sizeof(odd_methods[0]))];
    if (strcmp(method, "HEAD") == 0)
        q->head = true;

    /* request line */
    line->len = 0;
    make_path(s, rt, strcmp(method, "DELETE") == 0, line);
    if (chance(s, 300))
        make_query(s, line);
    r = pick(s, 1000);
    version = r < 950 ? "HTTP/1.1" : r < 975 ? "HTTP/1.0" : r < 980 ? "HTTP/2.0" : r < 985 ? "HTTP/1.2" : r < 990 ? "http/1.1" : r < 994 ? "HTTP/0.9" : r < 997 ? "HTTP/1.1 x" : "";
    bprintf(o, "%s %s%s%s%s", method, line->p, version[0] ? " " : "", version, eol);
    q->bad_version = strcmp(version, "HTTP/2.0") == 0 || strcmp(version, "HTTP/1.2") == 0 ||
                     strcmp(version, "HTTP/0.9") == 0;
    q->bad_line = method[0] == '\0' || strpbrk(method, " \t\x01") != NULL || strpbrk(line->p, " \t") != NULL ||
                  (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0);

    /* headers */
    if (!chance(s, 30))
        bprintf(o, "Host: %s:%s%s", hosts[q->listener], ports[q->listener], eol);
    r = pick(s, 100);
    if (r < 60) {
        bprintf(o, "Authorization: Bearer %s%s", listener_token(q->listener), eol);
    } else if (r < 70) {
        bprintf(o, "Authorization: Bearer %s%s", listener_token(!q->listener), eol);
    } else if (r < 80) {
        /* none */
    } else {
        tok = listener_token(q->listener);
        switch (pick(s, 7)) {
        case 0:
            bprintf(o, "Authorization: Basic dXNlcjpwYXNz%s", eol);
            break;
        case 1:
            bprintf(o, "Authorization: Bearer%s", eol);
            break;
        case 2:
            bprintf(o, "Authorization: bearer %s%s", tok, eol);
            break;
        case 3:
            bprintf(o, "Authorization: Bearer %.*s%c%s%s", (int) (strlen(tok) / 2), tok, 'A' + (char) pick(s, 26),
                    tok + strlen(tok) / 2 + 1, eol);
            break;
        case 4:
            bstr(o, "Authorization: Bearer ");
            brepeat(o, 'k', 500 + pick(s, 12000));
            bstr(o, eol);
            break;
        case 5:
            bprintf(o, "Authorization: Bearer %s%sAuthorization: Bearer x%s", tok, eol, eol);
            break;
        default:
            bprintf(o, "Authorization: Bearer %s %s%s", tok, tok, eol);
        }
    }
    want_body = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0 ? !chance(s, 100)
                                                                                                          : chance(s, 50);
    body->len = 0;
    if (want_body)
        make_body(s, rt, method, body);
    if (want_body || chance(s, 50)) {
        r = pick(s, 100);
        if (r < 85)
            bprintf(o, "Content-Type: application/json%s", eol);
        else if (r < 88)
            bprintf(o, "Content-Type: application/json; charset=utf-8%s", eol);
        else if (r < 91)
            bprintf(o, "Content-Type: text/plain%s", eol);
        else if (r < 94)
            bprintf(o, "Content-Type: application/x-www-form-urlencoded%s", eol);
        else if (r < 96)
            bprintf(o, "Content-Type: multipart/form-data; boundary=x%s", eol);
        else if (r < 98)
            bprintf(o, "Content-Type: %s%s", hostile[pick(s, sizeof(hostile) / sizeof(hostile[0]))], eol);
        /* else none */
    }
    if (chance(s, 50))
        bprintf(o, "Idempotency-Key: fz-%u%s", pick(s, 64), eol);
    if (chance(s, 30))
        bprintf(o, "If-Match: %s%s", pick(s, 2) ? "\"abc\"" : pick(s, 2) ? "*" : "W/\"x\", \"y\"", eol);
    if (chance(s, 20))
        bprintf(o, "If-None-Match: *%s", eol);
    if (chance(s, 30))
        bprintf(o, "X-Request-Id: %s%s", pick(s, 2) ? "fz-123" : hostile[pick(s, sizeof(hostile) / sizeof(hostile[0]))],
                eol);
    if (chance(s, 20))
        bprintf(o, "Accept: %s%s", pick(s, 2) ? "text/html" : "application/json;q=0.1, */*", eol);
    if (chance(s, 100)) {
        switch (pick(s, 8)) {
        case 0:
            bprintf(o, "X-Fuzz: %u%s", pick(s, 1000), eol);
            break;
        case 1:
            bprintf(o, "NoColonHere%s", eol);
            break;
        case 2:
            bprintf(o, "X-Space : x%s", eol);
            break;
        case 3:
            bprintf(o, "X-Fold: a%s folded%s", eol, eol);
            break;
        case 4:
            bstr(o, "X-Long: ");
            brepeat(o, 'v', 4000 + pick(s, 40000));
            bstr(o, eol);
            break;
        case 5:
            for (k = 0; k < 200; k++)
                bprintf(o, "X-Many-%u: %u%s", k, k, eol);
            break;
        case 6:
            bput(o, "X-Nul: a\0b", 10);
            bstr(o, eol);
            break;
        default:
            bprintf(o, ": empty-name%s", eol);
        }
    }
    if (chance(s, 10)) {
        bprintf(o, "Expect: %s%s", pick(s, 4) ? "100-continue" : "fancy", eol);
        q->close_after = true;
    }
    if (q->head || strcmp(version, "HTTP/1.1") != 0 || strcmp(eol, "\r\n") != 0)
        q->close_after = true;

    /* framing */
    framing = pick(s, 1000);
    if (!want_body && framing >= 940)
        framing = 0;
    if (framing < 900) {
        if (want_body || chance(s, 500))
            bprintf(o, "Content-Length: %zu%s", body->len, eol);
        bstr(o, eol);
        bput(o, body->p ? body->p : "", body->len);
    } else if (framing < 930) { /* chunked, valid */
        bprintf(o, "Transfer-Encoding: chunked%s%s", eol, eol);
        for (k = 0; k < body->len;) {
            size_t n = 1 + pick(s, 4096);
            if (n > body->len - k)
                n = body->len - k;
            bprintf(o, "%zx\r\n", n);
            bput(o, body->p + k, n);
            bstr(o, "\r\n");
            k += (unsigned) n;
        }
        bstr(o, "0\r\n\r\n");
        q->close_after = true;
    } else if (framing < 940) { /* two Content-Length headers */
        bprintf(o, "Content-Length: %zu%sContent-Length: %zu%s%s", body->len, eol,
                pick(s, 2) ? body->len : body->len + 1 + pick(s, 10), eol, eol);
        bput(o, body->p ? body->p : "", body->len);
        q->broken = q->close_after = q->half_close = true;
    } else if (framing < 950) { /* too short: the rest is garbage after the request */
        bprintf(o, "Content-Length: %zu%s%s", body->len / 2, eol, eol);
        bput(o, body->p, body->len);
        q->close_after = true;
    } else if (framing < 960) { /* too long: the server waits for bytes that never come */
        bprintf(o, "Content-Length: %zu%s%s", body->len + 1 + pick(s, 1000), eol, eol);
        bput(o, body->p, body->len);
        q->broken = q->close_after = q->half_close = true;
    } else if (framing < 970) { /* unsupported transfer codings */
        static const char *const codings[] = {"gzip", "chunked, gzip", "gzip, chunked", "compress", "x-fuzz",
                                              "identity", "chunked, chunked", "deflate"};
        bprintf(o, "Transfer-Encoding: %s%s", codings[pick(s, sizeof(codings) / sizeof(codings[0]))], eol);
        if (pick(s, 2))
            bprintf(o, "Content-Length: %zu%s", body->len, eol);
        bstr(o, eol);
        bput(o, body->p, body->len);
        q->bad_coding = q->broken = q->close_after = q->half_close = true;
    } else if (framing < 980) { /* chunked, broken */
        bprintf(o, "Transfer-Encoding: chunked%s%s", eol, eol);
        switch (pick(s, 4)) {
        case 0:
            bprintf(o, "zz\r\n%s\r\n0\r\n\r\n", body->p);
            break;
        case 1:
            bprintf(o, "%zx\r\n%s\r\n", body->len + 5, body->p);
            break;
        case 2:
            bprintf(o, "ffffffffffffffffff\r\n%s\r\n0\r\n\r\n", body->p);
            break;
        default:
            bprintf(o, "%zx;ext=1\r\n%s\r\n0\r\nTrailer: x\r\n\r\n", body->len, body->p);
        }
        q->broken = q->close_after = q->half_close = true;
    } else if (framing < 990) { /* a body without a length */
        bstr(o, eol);
        bput(o, body->p, body->len);
        q->close_after = true;
    } else { /* pipelined: the same request twice */
        size_t start = 0, n;
        bprintf(o, "Content-Length: %zu%s%s", body->len, eol, eol);
        bput(o, body->p, body->len);
        n = o->len - start;
        if (!q->close_after && strcmp(version, "HTTP/1.1") == 0) {
            char *copy = malloc(n);
            if (copy != NULL) {
                memcpy(copy, o->p, n);
                bput(o, copy, n);
                free(copy);
                q->answers = 2;
            }
        }
        q->close_after = true;
    }
}

/* ---- the wire ---- */

static int
conn_open(int l)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int fd, one = 1;

    if (getaddrinfo(hosts[l], ports[l], &hints, &res) != 0 || res == NULL)
        return -1;
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void
conn_drop(fz_conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->in.len = 0;
}

/* Sends all of p; -1 when the server closed (it may have answered already). */
static int
send_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t) w;
    }
    return 0;
}

/* Reads more into c->in; 0 on data, -1 on close or error, -2 on timeout. */
static int
read_more(fz_conn_t *c, int timeout_ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    char tmp[65536];
    ssize_t r;
    int pr;

    for (;;) {
        pr = poll(&pfd, 1, timeout_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return -2;
        if (pr < 0)
            return -1;
        r = recv(c->fd, tmp, sizeof(tmp), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        bput(&c->in, tmp, (size_t) r);
        return 0;
    }
}

static void
consume(fz_conn_t *c, size_t n)
{
    memmove(c->in.p, c->in.p + n, c->in.len - n);
    c->in.len -= n;
    c->in.p[c->in.len] = '\0';
}

/* Reads one final answer (skipping 1xx) into resp, its body copied into body. 0, -1 (no answer: closed),
 * -2 (timeout), -3 (not HTTP). */
static int
read_answer(fz_conn_t *c, bool head, int timeout_ms, fz_resp_t *resp, buf_t *body)
{
    char *end, *h, *line_end;
    size_t hlen, need, k;
    int rc;

    for (;;) {
        while (c->in.len == 0 || (end = strstr(c->in.p, "\r\n\r\n")) == NULL) {
            if (c->in.len > (1 << 20))
                return -3;
            if ((rc = read_more(c, timeout_ms)) != 0)
                return rc;
        }
        hlen = (size_t) (end - c->in.p) + 4;
        memset(resp, 0, sizeof(*resp));
        if (sscanf(c->in.p, "HTTP/1.%*1d %3d", &resp->status) != 1)
            return -3;
        for (h = strstr(c->in.p, "\r\n"); h != NULL && h < end; h = line_end) {
            h += 2;
            line_end = strstr(h, "\r\n");
            if (strncasecmp(h, "Content-Length:", 15) == 0) {
                resp->clen = (size_t) strtoull(h + 15, NULL, 10);
                resp->has_length = true;
            } else if (strncasecmp(h, "Transfer-Encoding:", 18) == 0 && strstr(h, "chunked") && strstr(h, "chunked") < line_end) {
                resp->chunked = true;
            } else if (strncasecmp(h, "Connection:", 11) == 0 && strcasestr(h, "close") && strcasestr(h, "close") < line_end) {
                resp->closing = true;
            } else if (strncasecmp(h, "X-Request-Id:", 13) == 0) {
                resp->has_reqid = true;
            } else if (strncasecmp(h, "Retry-After:", 12) == 0) {
                resp->retry_after = true;
            }
        }
        consume(c, hlen);
        if (resp->status >= 100 && resp->status < 200)
            continue; /* 100 Continue: the final answer follows */
        break;
    }
    body->len = 0;
    if (head || resp->status == 204 || resp->status == 304) {
        /* no body */
    } else if (resp->chunked) {
        for (;;) {
            while ((end = strstr(c->in.p ? c->in.p : "", "\r\n")) == NULL)
                if ((rc = read_more(c, timeout_ms)) != 0)
                    return rc;
            need = (size_t) strtoull(c->in.p, NULL, 16);
            k = (size_t) (end - c->in.p) + 2;
            while (c->in.len < k + need + 2)
                if ((rc = read_more(c, timeout_ms)) != 0)
                    return rc;
            bput(body, c->in.p + k, need);
            consume(c, k + need + 2);
            if (need == 0)
                break;
        }
    } else if (resp->has_length) {
        while (c->in.len < resp->clen)
            if ((rc = read_more(c, timeout_ms)) != 0)
                return rc;
        bput(body, c->in.p, resp->clen);
        consume(c, resp->clen);
    } else {
        while (read_more(c, timeout_ms) == 0)
            ;
        bput(body, c->in.p ? c->in.p : "", c->in.len);
        c->in.len = 0;
        resp->closing = true;
    }
    resp->body = body->p ? body->p : "";
    resp->body_len = body->len;
    return 0;
}

/* ---- the checks ---- */

static bool
is_envelope(const char *body, size_t n)
{
    json_t *j = json_loadb(body, n, 0, NULL), *e;
    bool ok;

    e = j ? json_object_get(j, "error") : NULL;
    ok = json_is_object(e) && json_is_string(json_object_get(e, "code")) && json_is_string(json_object_get(e, "message"));
    json_decref(j);
    return ok;
}

static void
sample(atomic_int *counter, const char *what, const fz_req_t *q, const fz_resp_t *resp)
{
    char shown[301];
    size_t k, n = q->raw.len < 300 ? q->raw.len : 300;

    if (atomic_fetch_add(counter, 1) >= SAMPLES)
        return;
    for (k = 0; k < n; k++) {
        unsigned char ch = (unsigned char) q->raw.p[k];
        shown[k] = ch == '\r' ? '~' : ch == '\n' ? '|' : ch < 32 || ch > 126 ? '?' : (char) ch;
    }
    shown[n] = '\0';
    fprintf(stderr, "httpfuzz: %s: %s request: %s\n", what, q->listener == L_ADMIN ? "admin" : "tenant", shown);
    if (resp != NULL)
        fprintf(stderr, "httpfuzz:   answer %d%s: %.200s\n", resp->status, resp->has_reqid ? "" : " (no X-Request-Id)",
                resp->body ? resp->body : "");
}

static void
check(const fz_req_t *q, const fz_resp_t *resp)
{
    int st = resp->status;

    atomic_fetch_add(&by_class[st / 100 < 6 ? st / 100 : 0], 1);
    if (st >= 0 && st < 600)
        atomic_fetch_add(&by_status[st], 1);
    if (st < 400)
        return;
    if (!resp->has_reqid) {
        /* raised by libmicrohttpd itself: a known gap, counted apart */
        atomic_fetch_add(&mhd_raised, 1);
        if (st >= 0 && st < 600)
            atomic_fetch_add(&mhd_by_status[st], 1);
        if (st >= 500 && st != 505) {
            atomic_fetch_add(&fail_5xx, 1);
            sample(&samples_5xx, "5xx", q, resp);
        }
        return;
    }
    if (!q->head && !is_envelope(resp->body, resp->body_len)) {
        atomic_fetch_add(&nonjson, 1);
        sample(&samples_nonjson, "error outside the JSON envelope", q, resp);
    }
    if (st >= 500) {
        if (st == 503 && resp->retry_after)
            atomic_fetch_add(&expected_503, 1);
        else if (st == 501 && q->bad_coding)
            atomic_fetch_add(&expected_501, 1);
        else if (st == 505 && q->bad_version)
            atomic_fetch_add(&expected_505, 1);
        else {
            atomic_fetch_add(&fail_5xx, 1);
            sample(&samples_5xx, "5xx", q, resp);
        }
    }
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the run ---- */

static void *
worker(void *arg)
{
    uint64_t s = (uint64_t) (uintptr_t) arg;
    fz_conn_t conns[2] = {{.fd = -1}, {.fd = -1}};
    fz_req_t q = {0};
    fz_resp_t resp = {0};
    buf_t body = {0}, line = {0}, rbody = {0};
    fz_conn_t *c;
    int64_t t0;
    int a, rc;

    while (!atomic_load(&dead) && atomic_fetch_add(&next_req, -1) > 0) {
        make_request(&s, &q, &body, &line);
        memset(&resp, 0, sizeof(resp));
        c = &conns[q.listener];
        if (c->fd < 0 && (c->fd = conn_open(q.listener)) < 0) {
            atomic_fetch_add(&conn_errors, 1);
            if (atomic_fetch_add(&consecutive_conn_fail, 1) + 1 >= DEAD_AFTER)
                atomic_store(&dead, true);
            usleep(10000);
            continue;
        }
        atomic_store(&consecutive_conn_fail, 0);
        atomic_fetch_add(&total_sent, 1);
        t0 = now_ms();
        /* A send cut short is fine: the server may answer (and close) before taking the whole request. */
        (void) send_all(c->fd, q.raw.p, q.raw.len);
        if (q.half_close)
            shutdown(c->fd, SHUT_WR);
        for (a = 0; a < q.answers; a++) {
            rc = read_answer(c, q.head, q.broken ? BROKEN_TIMEOUT_MS : READ_TIMEOUT_MS, &resp, &rbody);
            if (rc != 0) {
                if (q.broken || a > 0) {
                    atomic_fetch_add(&no_answer_expected, 1);
                } else if (q.bad_line) {
                    atomic_fetch_add(&no_answer_bad_line, 1);
                } else {
                    atomic_fetch_add(&conn_errors, 1);
                    if (rc == -2)
                        atomic_fetch_add(&timeouts, 1);
                    sample(&samples_conn, rc == -2 ? "no answer in time" : rc == -3 ? "not HTTP" : "no answer", &q,
                           NULL);
                }
                conn_drop(c);
                break;
            }
            check(&q, &resp);
            if (resp.closing)
                break;
        }
        if (c->fd >= 0 && (q.close_after || resp.closing || c->in.len > 0))
            conn_drop(c);
        if (now_ms() - t0 > SLOW_MS) {
            atomic_fetch_add(&slow, 1);
            sample(&samples_slow, "slow", &q, NULL);
        }
    }
    conn_drop(&conns[0]);
    conn_drop(&conns[1]);
    free(conns[0].in.p);
    free(conns[1].in.p);
    free(q.raw.p);
    free(body.p);
    free(line.p);
    free(rbody.p);
    return NULL;
}

static int
parse_url(int l, const char *url)
{
    const char *h = strstr(url, "://"), *colon, *slash;

    h = h ? h + 3 : url;
    colon = strchr(h, ':');
    slash = strchr(h, '/');
    if (colon == NULL || (slash && slash < colon) || (size_t) (colon - h) >= sizeof(hosts[l]))
        return -1;
    snprintf(hosts[l], sizeof(hosts[l]), "%.*s", (int) (colon - h), h);
    snprintf(ports[l], sizeof(ports[l]), "%.*s", (int) (slash ? slash - colon - 1 : (long) strlen(colon + 1)),
             colon + 1);
    return 0;
}

static int
load_routes(const char *file)
{
    FILE *f = fopen(file, "r");
    char line[1024], which[4], pattern[256], methods[128], *m, *save = NULL;
    route_t *rt;

    if (f == NULL)
        return -1;
    while (nroutes < ROUTES_MAX && fgets(line, sizeof(line), f)) {
        methods[0] = '\0';
        if (sscanf(line, "%3s %255s %127s", which, pattern, methods) < 2 || pattern[0] != '/')
            continue;
        rt = &routes[nroutes++];
        rt->listener = which[0] == 'A' ? L_ADMIN : L_TENANT;
        snprintf(rt->pattern, sizeof(rt->pattern), "%s", pattern);
        for (m = strtok_r(methods, ",", &save); m && rt->nmethods < 6; m = strtok_r(NULL, ",", &save))
            snprintf(rt->methods[rt->nmethods++], sizeof(rt->methods[0]), "%s", m);
    }
    fclose(f);
    return nroutes > 0 ? 0 : -1;
}

static int
load_world(const char *file)
{
    FILE *f = fopen(file, "r");
    char line[1024], key[32], val[256];

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%31s %255s", key, val) != 2)
            continue;
        if (strcmp(key, "admin_token") == 0)
            snprintf(admin_token, sizeof(admin_token), "%s", val);
        else if (strcmp(key, "tenant_token") == 0)
            snprintf(tenant_token, sizeof(tenant_token), "%s", val);
        else if (strcmp(key, "sub") == 0)
            snprintf(sub, sizeof(sub), "%s", val);
        else if ((strcmp(key, "id") == 0 || strcmp(key, "keep") == 0) && nids < IDS_MAX) {
            keep[nids] = key[0] == 'k';
            snprintf(ids[nids++], sizeof(ids[0]), "%s", val);
        }
    }
    fclose(f);
    return admin_token[0] && tenant_token[0] && sub[0] ? 0 : -1;
}

int
main(int argc, char **argv)
{
    pthread_t *threads;
    long n, conns, k, last = 0, sent;
    uint64_t seed;
    int64_t t0, t1;
    bool failed;

    if (argc != 8 || parse_url(L_ADMIN, argv[1]) || parse_url(L_TENANT, argv[2]) || load_routes(argv[3]) ||
        load_world(argv[4])) {
        fprintf(stderr, "usage: httpfuzz ADMIN_URL TENANT_URL ROUTES WORLD N CONNS SEED\n");
        return 2;
    }
    n = atol(argv[5]);
    conns = atol(argv[6]);
    seed = strtoull(argv[7], NULL, 10);
    if (n <= 0 || conns <= 0 || conns > 1024 || seed == 0) {
        fprintf(stderr, "httpfuzz: N, CONNS and SEED must be positive\n");
        return 2;
    }
    atomic_store(&next_req, n);
    threads = calloc((size_t) conns, sizeof(pthread_t));
    if (threads == NULL)
        return 2;
    t0 = now_ms();
    for (k = 0; k < conns; k++)
        if (pthread_create(&threads[k], NULL, worker, (void *) (uintptr_t) (seed * 2654435761u + (uint64_t) k * 97 + 1)) != 0) {
            fprintf(stderr, "httpfuzz: cannot start a thread\n");
            return 2;
        }
    /* progress every 100,000 requests */
    while (atomic_load(&next_req) > 0 && !atomic_load(&dead)) {
        usleep(200000);
        sent = atomic_load(&total_sent);
        if (sent / 100000 > last / 100000) {
            fprintf(stderr, "httpfuzz: %ld requests, %ld s, 5xx %ld, outside the envelope %ld, raised by "
                            "libmicrohttpd %ld, connection errors %ld\n",
                    sent, (long) ((now_ms() - t0) / 1000), atomic_load(&fail_5xx), atomic_load(&nonjson),
                    atomic_load(&mhd_raised), atomic_load(&conn_errors));
            last = sent;
        }
    }
    for (k = 0; k < conns; k++)
        pthread_join(threads[k], NULL);
    t1 = now_ms();
    free(threads);

    sent = atomic_load(&total_sent);
    printf("requests sent            %ld in %.1f s (%.0f/s), %ld routes, %ld connections per listener\n", sent,
           (double) (t1 - t0) / 1000.0, sent * 1000.0 / (double) (t1 - t0 ? t1 - t0 : 1), (long) nroutes, conns);
    printf("answers by class         1xx %ld, 2xx %ld, 3xx %ld, 4xx %ld, 5xx %ld\n", atomic_load(&by_class[1]),
           atomic_load(&by_class[2]), atomic_load(&by_class[3]), atomic_load(&by_class[4]), atomic_load(&by_class[5]));
    printf("answers by status       ");
    for (k = 100; k < 600; k++)
        if (atomic_load(&by_status[k]))
            printf(" %ld:%ld", k, atomic_load(&by_status[k]));
    printf("\n");
    printf("5xx (failures)           %ld\n", atomic_load(&fail_5xx));
    printf("503 with Retry-After     %ld\n", atomic_load(&expected_503));
    printf("501 to unsupported codings %ld\n", atomic_load(&expected_501));
    printf("505 to HTTP versions other than 1.x %ld\n", atomic_load(&expected_505));
    printf("errors outside the JSON envelope (with X-Request-Id; failures) %ld\n", atomic_load(&nonjson));
    printf("errors raised by libmicrohttpd (no X-Request-Id; known gap) %ld:", atomic_load(&mhd_raised));
    for (k = 400; k < 600; k++)
        if (atomic_load(&mhd_by_status[k]))
            printf(" %ld:%ld", k, atomic_load(&mhd_by_status[k]));
    printf("\n");
    printf("no answer, broken framing (expected) %ld\n", atomic_load(&no_answer_expected));
    printf("closed without an answer, malformed request line (libmicrohttpd; known gap) %ld\n",
           atomic_load(&no_answer_bad_line));
    printf("answered (or given up on) after more than %d ms %ld\n", SLOW_MS, atomic_load(&slow));
    printf("connection errors        %ld (timeouts %ld)\n", atomic_load(&conn_errors), atomic_load(&timeouts));
    failed = atomic_load(&fail_5xx) > 0 || atomic_load(&nonjson) > 0 || atomic_load(&dead);
    if (atomic_load(&dead))
        printf("the server stopped answering: %d connection failures in a row\n", DEAD_AFTER);
    printf("httpfuzz: %s\n", failed ? "FAILED" : "passed");
    return failed ? 1 : 0;
}
