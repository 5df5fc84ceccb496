/*
 * util.h: small helpers shared by every module: ids, clocks, RFC 3339 times, secrets and hashes, and the
 * allocation injection point.
 *
 * Nothing here keeps state (util_alloc_install sets jansson's allocator once, at start); every other
 * function is safe to call from any thread.
 */
#ifndef WAPD_UTIL_H
#define WAPD_UTIL_H

#define WAPD_VERSION "0.1.0"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTIL_UUID_LEN 36
#define UTIL_TIME_LEN 24 /* "2026-11-22T06:17:17.123Z" */
#define UTIL_SHA256_HEX_LEN 64

/* Writes a random (v4) UUID, lower case, into out[UTIL_UUID_LEN + 1]. */
void util_uuid(char out[UTIL_UUID_LEN + 1]);
/* Writes a time-ordered (v7, RFC 9562) UUID whose first 48 bits are ms: ids made in time order sort in
 * time order, so an index over them grows at its end. */
void util_uuid_v7(int64_t ms, char out[UTIL_UUID_LEN + 1]);
/* True when s is a UUID in canonical 8-4-4-4-12 form (either case). */
bool util_uuid_valid(const char *s);

/* Wall clock in milliseconds since the Unix epoch. */
int64_t util_now_ms(void);
/* Monotonic clock in nanoseconds, for durations. */
int64_t util_mono_ns(void);
/* Formats ms since the epoch as RFC 3339 UTC with milliseconds into out[UTIL_TIME_LEN + 1]. */
void util_time_format(int64_t ms, char out[UTIL_TIME_LEN + 1]);
/* Parses an RFC 3339 time (Z or a numeric offset, optional fraction). Returns 0 and sets *ms, or -1. */
int util_time_parse(const char *s, int64_t *ms);

/* Fills buf with n cryptographically random bytes. Returns 0, or -1 when the generator fails. */
int util_random_bytes(void *buf, size_t n);
/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void util_hex(const void *data, size_t n, char *out);
/* SHA-256 of data as lower-case hex into out[UTIL_SHA256_HEX_LEN + 1]. */
void util_sha256_hex(const void *data, size_t n, char out[UTIL_SHA256_HEX_LEN + 1]);
/* Constant-time comparison of two NUL-terminated strings. */
bool util_secret_equal(const char *a, const char *b);
/* Constant-time comparison of two SHA-256 hex digests. */
bool util_digest_equal(const char *a, const char *b);

/* base64url without padding. Encode writes at most 4 * ceil(n / 3) + 1 bytes. Decode returns the decoded
 * length, or -1 on a bad character or when out (of size cap) is too small. */
void util_b64url_encode(const void *data, size_t n, char *out);
long util_b64url_decode(const char *in, void *out, size_t cap);

/* Parses a decimal integer made only of digits (an optional leading '-' when allow_negative), with no
 * sign, space, fraction or exponent, into *out. Returns 0 or -1 (also on overflow). */
int util_parse_int64(const char *s, bool allow_negative, int64_t *out);

/* malloc and realloc, except that they answer NULL (realloc leaving p as it was) when a test armed
 * FAULT_ALLOC and this is the call it counts down to (lib/fault.h): the allocation injection point.
 * Free with free(). */
void *util_malloc(size_t n);
void *util_realloc(void *p, size_t n);
/* Makes jansson allocate with util_malloc (and free with free, as it does by default), so a failed
 * allocation inside any JSON call can be injected. Called once, before other threads start: by the
 * daemon at start, and by the tests that arm FAULT_ALLOC. */
void util_alloc_install(void);
/* json_dumps, except that a failed allocation always answers NULL: jansson's own (2.14) ignores a
 * failed write of an object's key and answers the text without it, which no reader can load back. The
 * text is new; free() it. */
struct json_t;
char *util_json_dumps(const struct json_t *json, size_t flags);

/* A growing text buffer, for answers written straight out rather than built as JSON values and dumped.
 * Start from {0}. An append that cannot grow it (out of memory, FAULT_ALLOC) sets failed, and every later
 * append does nothing; buf is NUL-terminated whenever it is not NULL. take hands the text over (NULL when
 * failed or empty) and resets the buffer; free releases it. */
typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} util_buf_t;
void util_buf_add(util_buf_t *b, const char *data, size_t n);
/* Room for n more bytes at once (one allocation instead of several doublings). */
void util_buf_reserve(util_buf_t *b, size_t n);
void util_buf_puts(util_buf_t *b, const char *s);
/* n in decimal, as jansson writes an integer. */
void util_buf_json_int(util_buf_t *b, int64_t n);
/* s (valid UTF-8) as a JSON string, escaped exactly as jansson's dumps escapes it by default: '"', '\\'
 * and the control characters, \b \f \n \r \t by name and the others as \u00XX; everything else as is. */
void util_buf_json_str(util_buf_t *b, const char *s);
char *util_buf_take(util_buf_t *b);
void util_buf_free(util_buf_t *b);

/* The index of text in names[0 .. n-1], or -1 (text NULL included). */
int util_name_index(const char *const *names, size_t n, const char *text);
/* Defines prefix_name(value) and prefix_parse(text, out) of an enum of type whose value v is named
 * names[v]: name asserts the value is in range; parse answers 0 with *out set, or -1 for any other text
 * (NULL included) with *out untouched. Needs <assert.h>. */
#define UTIL_ENUM_NAMES(prefix, type, names)                                                       \
    const char *prefix##_name(type value)                                                          \
    {                                                                                              \
        assert((size_t) value < sizeof(names) / sizeof((names)[0]));                               \
        return (names)[value];                                                                     \
    }                                                                                              \
    int prefix##_parse(const char *text, type *out)                                                \
    {                                                                                              \
        int i = util_name_index((names), sizeof(names) / sizeof((names)[0]), text);                \
        if (i < 0)                                                                                 \
            return -1;                                                                             \
        *out = (type) i;                                                                           \
        return 0;                                                                                  \
    }

#endif
