/*
 * util.c: ids (libuuid), clocks, RFC 3339 times, secrets (OpenSSL RAND_bytes) and SHA-256 (OpenSSL EVP),
 * and the allocation wrappers that consult FAULT_ALLOC.
 *
 * Invariant: util_malloc and util_realloc cost one relaxed load and a branch more than malloc and
 * realloc until a test arms a fault class (fault_hit's fast path).
 */
#include "util.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <uuid/uuid.h>

#include "fault.h"

/* 16 random bytes into u from this thread's pool, drawn from OpenSSL's generator a page at a time: ids
 * come in bursts (a request id per request, a period's records), and one draw per id was a visible cost
 * of every request. libuuid's random path takes a process-wide lock and reopens /dev/urandom on every
 * call, so it is only the fallback. */
static void
random_16(uuid_t u)
{
    static _Thread_local unsigned char pool[4096];
    static _Thread_local size_t left;

    if (left < sizeof(uuid_t)) {
        if (RAND_bytes(pool, sizeof(pool)) == 1)
            left = sizeof(pool);
    }
    if (left >= sizeof(uuid_t)) {
        memcpy(u, pool + sizeof(pool) - left, sizeof(uuid_t));
        memset(pool + sizeof(pool) - left, 0, sizeof(uuid_t)); /* never handed out twice */
        left -= sizeof(uuid_t);
    } else {
        uuid_generate_random(u);
    }
}

void
util_uuid(char out[UTIL_UUID_LEN + 1])
{
    uuid_t u;

    random_16(u);
    u[6] = (unsigned char) ((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (unsigned char) ((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    uuid_unparse_lower(u, out);
}

void
util_uuid_v7(int64_t ms, char out[UTIL_UUID_LEN + 1])
{
    uuid_t u;
    int i;

    random_16(u);
    for (i = 0; i < 6; i++)
        u[i] = (unsigned char) ((uint64_t) ms >> (8 * (5 - i)));
    u[6] = (unsigned char) ((u[6] & 0x0f) | 0x70); /* version 7 */
    u[8] = (unsigned char) ((u[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    uuid_unparse_lower(u, out);
}

bool
util_uuid_valid(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != UTIL_UUID_LEN)
        return false;
    for (i = 0; i < UTIL_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char) s[i])) {
            return false;
        }
    }
    return true;
}

int64_t
util_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
util_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
util_time_format(int64_t ms, char out[UTIL_TIME_LEN + 1])
{
    time_t secs = (time_t) (ms / 1000);
    int frac = (int) (ms % 1000);
    struct tm tm;

    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    gmtime_r(&secs, &tm);
    /* Years outside 0..9999 cannot be written in RFC 3339; clamp so the text always fits. */
    if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        snprintf(out, UTIL_TIME_LEN + 1, "%s", tm.tm_year < 0 ? "0000-01-01T00:00:00.000Z"
                                                              : "9999-12-31T23:59:59.999Z");
        return;
    }
    snprintf(out, UTIL_TIME_LEN + 1, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned) (tm.tm_year + 1900) % 10000u, (unsigned) (tm.tm_mon + 1) % 100u,
             (unsigned) tm.tm_mday % 100u, (unsigned) tm.tm_hour % 100u,
             (unsigned) tm.tm_min % 100u, (unsigned) tm.tm_sec % 100u, (unsigned) frac % 1000u);
}

static int
parse_digits(const char **p, int n, int *out)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char) (*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int
util_time_parse(const char *s, int64_t *ms)
{
    const char *p = s;
    struct tm tm;
    int year, mon, day, hour, min, sec, frac_ms = 0, digits = 0, oh, om, sign;
    int64_t offset_s = 0, t;

    if (s == NULL)
        return -1;
    if (parse_digits(&p, 4, &year) || *p++ != '-' || parse_digits(&p, 2, &mon) || *p++ != '-' ||
        parse_digits(&p, 2, &day) || (*p != 'T' && *p != 't') || !*p++ ||
        parse_digits(&p, 2, &hour) || *p++ != ':' || parse_digits(&p, 2, &min) || *p++ != ':' ||
        parse_digits(&p, 2, &sec))
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return -1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char) *p))
            return -1;
        while (isdigit((unsigned char) *p)) {
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        while (digits < 3) {
            frac_ms *= 10;
            digits++;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
        if (parse_digits(&p, 2, &oh) || *p++ != ':' || parse_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    t = (int64_t) timegm(&tm);
    *ms = (t - offset_s) * 1000 + frac_ms;
    return 0;
}

int
util_random_bytes(void *buf, size_t n)
{
    return RAND_bytes(buf, (int) n) == 1 ? 0 : -1;
}

void
util_hex(const void *data, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *d = data;
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_init(void)
{
    /* Fetched once: an implicit fetch on every digest takes OpenSSL's method-store lock each time. */
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void
util_sha256_hex(const void *data, size_t n, char out[UTIL_SHA256_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    pthread_once(&sha256_once, sha256_init);
    EVP_Digest(data, n, md, &len, sha256_md ? sha256_md : EVP_sha256(), NULL);
    util_hex(md, len, out);
}

bool
util_digest_equal(const char *a, const char *b)
{
    unsigned char diff = 0;
    size_t i;

    for (i = 0; i < UTIL_SHA256_HEX_LEN; i++)
        diff |= (unsigned char) (a[i] ^ b[i]);
    return diff == 0;
}

bool
util_secret_equal(const char *a, const char *b)
{
    char ha[UTIL_SHA256_HEX_LEN + 1], hb[UTIL_SHA256_HEX_LEN + 1];

    /* Compare fixed-length digests so that neither length nor content leaks through timing. */
    util_sha256_hex(a, strlen(a), ha);
    util_sha256_hex(b, strlen(b), hb);
    return util_digest_equal(ha, hb);
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
util_b64url_encode(const void *data, size_t n, char *out)
{
    const unsigned char *d = data;
    size_t i, o = 0;
    uint32_t v;

    for (i = 0; i + 2 < n; i += 3) {
        v = ((uint32_t) d[i] << 16) | ((uint32_t) d[i + 1] << 8) | d[i + 2];
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        v = (uint32_t) d[i] << 16;
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        v = ((uint32_t) d[i] << 16) | ((uint32_t) d[i + 1] << 8);
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
}

static int
b64url_value(char c)
{
    const char *p;

    if (c == '\0')
        return -1;
    p = strchr(b64url_alphabet, c);
    return p ? (int) (p - b64url_alphabet) : -1;
}

long
util_b64url_decode(const char *in, void *out, size_t cap)
{
    unsigned char *o = out;
    size_t n = strlen(in), i, w = 0;
    uint32_t acc = 0;
    int bits = 0, v;

    if (n % 4 == 1)
        return -1;
    for (i = 0; i < n; i++) {
        v = b64url_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (w >= cap)
                return -1;
            o[w++] = (unsigned char) ((acc >> bits) & 0xff);
        }
    }
    return (long) w;
}

int
util_parse_int64(const char *s, bool allow_negative, int64_t *out)
{
    const char *p = s;
    char *end;
    long long v;

    if (s == NULL || *s == '\0')
        return -1;
    if (*p == '-') {
        if (!allow_negative)
            return -1;
        p++;
    }
    if (*p == '\0')
        return -1;
    for (; *p; p++)
        if (!isdigit((unsigned char) *p))
            return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* ---- allocations ---- */

void *
util_malloc(size_t n)
{
    return fault_hit(FAULT_ALLOC) ? NULL : malloc(n);
}

void *
util_realloc(void *p, size_t n)
{
    return fault_hit(FAULT_ALLOC) ? NULL : realloc(p, n);
}

void
util_alloc_install(void)
{
    json_set_alloc_funcs(util_malloc, free);
}

void
util_buf_add(util_buf_t *b, const char *data, size_t n)
{
    size_t cap = b->cap ? b->cap : 256;
    char *grown;

    assert(b != NULL && (data != NULL || n == 0));
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        while (cap < b->len + n + 1)
            cap *= 2;
        if ((grown = util_realloc(b->buf, cap)) == NULL) {
            b->failed = true;
            return;
        }
        b->buf = grown;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void
util_buf_reserve(util_buf_t *b, size_t n)
{
    char *grown;

    assert(b != NULL);
    if (b->failed || b->len + n + 1 <= b->cap)
        return;
    if ((grown = util_realloc(b->buf, b->len + n + 1)) == NULL) {
        b->failed = true;
        return;
    }
    b->buf = grown;
    b->cap = b->len + n + 1;
    b->buf[b->len] = '\0';
}

void
util_buf_puts(util_buf_t *b, const char *s)
{
    util_buf_add(b, s, strlen(s));
}

void
util_buf_json_int(util_buf_t *b, int64_t n)
{
    char digits[24];
    int len = snprintf(digits, sizeof(digits), "%" PRId64, n);

    util_buf_add(b, digits, (size_t) len);
}

void
util_buf_json_str(util_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *run = s;
    char esc[7] = {'\\', 'u', '0', '0', 0, 0, 0};
    unsigned char c;

    assert(s != NULL);
    util_buf_add(b, "\"", 1);
    for (; (c = (unsigned char) *s) != '\0'; s++) {
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        util_buf_add(b, run, (size_t) (s - run));
        run = s + 1;
        switch (c) {
        case '"': util_buf_add(b, "\\\"", 2); break;
        case '\\': util_buf_add(b, "\\\\", 2); break;
        case '\b': util_buf_add(b, "\\b", 2); break;
        case '\f': util_buf_add(b, "\\f", 2); break;
        case '\n': util_buf_add(b, "\\n", 2); break;
        case '\r': util_buf_add(b, "\\r", 2); break;
        case '\t': util_buf_add(b, "\\t", 2); break;
        default:
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            util_buf_add(b, esc, 6);
        }
    }
    util_buf_add(b, run, (size_t) (s - run));
    util_buf_add(b, "\"", 1);
}

char *
util_buf_take(util_buf_t *b)
{
    char *text = b->failed ? NULL : b->buf;

    if (text == NULL)
        free(b->buf);
    memset(b, 0, sizeof(*b));
    return text;
}

void
util_buf_free(util_buf_t *b)
{
    free(util_buf_take(b));
}

static int
dump_append(const char *data, size_t n, void *arg)
{
    util_buf_t *b = arg;

    util_buf_add(b, data, n);
    return b->failed ? -1 : 0;
}

char *
util_json_dumps(const json_t *json, size_t flags)
{
    util_buf_t b = {0};

    if (json_dump_callback(json, dump_append, &b, flags) || b.buf == NULL) {
        util_buf_free(&b);
        return NULL;
    }
    return util_buf_take(&b);
}

int
util_name_index(const char *const *names, size_t n, const char *text)
{
    size_t i;

    assert(names != NULL);
    for (i = 0; text != NULL && i < n; i++)
        if (strcmp(names[i], text) == 0)
            return (int) i;
    return -1;
}
