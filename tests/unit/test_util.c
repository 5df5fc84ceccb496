/* Unit tests of lib/util: ids, times, encodings, hashes, number parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "../../lib/fault.h"
#include "../../lib/util.h"

static void
uuid_is_v4_and_unique(void **state)
{
    char a[UTIL_UUID_LEN + 1], b[UTIL_UUID_LEN + 1];

    (void) state;
    util_uuid(a);
    util_uuid(b);
    assert_true(util_uuid_valid(a));
    assert_int_equal(a[14], '4');
    assert_string_not_equal(a, b);
    assert_false(util_uuid_valid("not-a-uuid"));
    assert_false(util_uuid_valid("0123456789abcdef0123456789abcdef0123"));
    assert_false(util_uuid_valid(NULL));
}

static void
uuid_v7_sorts_by_time(void **state)
{
    char a[UTIL_UUID_LEN + 1], b[UTIL_UUID_LEN + 1], c[UTIL_UUID_LEN + 1];

    (void) state;
    util_uuid_v7(1795336275000, a);
    util_uuid_v7(1795336275001, b);
    util_uuid_v7(1795336275000, c);
    assert_true(util_uuid_valid(a));
    assert_int_equal(a[14], '7');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_memory_equal(a, "01a20261-8438", 13); /* 1795336275000 = 0x01a202618438 */
    assert_true(strcmp(a, b) < 0);
    assert_string_not_equal(a, c); /* same millisecond, different random bits */
}

static int
cmp_ids(const void *x, const void *y)
{
    return strcmp(x, y);
}

/* A burst of ids in one millisecond (a usage period's records) draws on the random pool across several
 * refills: every id is still distinct. */
static void
uuid_v7_burst_is_distinct(void **state)
{
    enum { N = 5000 };
    char(*ids)[UTIL_UUID_LEN + 1] = malloc(N * sizeof(*ids));
    int i;

    (void) state;
    assert_non_null(ids);
    for (i = 0; i < N; i++)
        util_uuid_v7(1795336275000, ids[i]);
    qsort(ids, N, sizeof(*ids), cmp_ids);
    for (i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

static void
time_round_trips(void **state)
{
    char out[UTIL_TIME_LEN + 1];
    int64_t ms;

    (void) state;
    util_time_format(1795328237123LL, out);
    assert_string_equal(out, "2026-11-22T06:17:17.123Z");
    assert_int_equal(util_time_parse(out, &ms), 0);
    assert_int_equal(ms, 1795328237123LL);
    assert_int_equal(util_time_parse("2026-11-22T07:17:17.1+01:00", &ms), 0);
    assert_int_equal(ms, 1795328237100LL);
    assert_int_equal(util_time_parse("2026-11-22T06:17:17Z", &ms), 0);
    assert_int_equal(ms, 1795328237000LL);
    assert_int_equal(util_time_parse("2026-11-22 06:17:17Z", &ms), -1);
    assert_int_equal(util_time_parse("2026-13-22T06:17:17Z", &ms), -1);
    assert_int_equal(util_time_parse("2026-11-22T06:17:17", &ms), -1);
    assert_int_equal(util_time_parse("2026-11-22T06:17:17Zjunk", &ms), -1);
    util_time_format(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

static void
b64url_round_trips(void **state)
{
    const char *inputs[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00x"};
    char enc[64], dec[64];
    size_t i, n;
    long got;

    (void) state;
    for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        n = i == 7 ? 4 : strlen(inputs[i]);
        util_b64url_encode(inputs[i], n, enc);
        assert_null(strchr(enc, '='));
        got = util_b64url_decode(enc, dec, sizeof(dec));
        assert_int_equal(got, (long) n);
        assert_memory_equal(dec, inputs[i], n);
    }
    util_b64url_encode("\xfb\xff", 2, enc);
    assert_string_equal(enc, "-_8");
    assert_int_equal(util_b64url_decode("a", dec, sizeof(dec)), -1);
    assert_int_equal(util_b64url_decode("ab$d", dec, sizeof(dec)), -1);
    assert_int_equal(util_b64url_decode("abcdabcd", dec, 2), -1);
}

static void
sha256_matches_known_vector(void **state)
{
    char hex[UTIL_SHA256_HEX_LEN + 1];

    (void) state;
    util_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(util_secret_equal("same", "same"));
    assert_false(util_secret_equal("same", "samf"));
    assert_false(util_secret_equal("same", "same-longer"));
}

static void
parse_int64_is_strict(void **state)
{
    int64_t v;

    (void) state;
    assert_int_equal(util_parse_int64("100", false, &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(util_parse_int64("-5", true, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(util_parse_int64("-5", false, &v), -1);
    assert_int_equal(util_parse_int64("", false, &v), -1);
    assert_int_equal(util_parse_int64("1.5", false, &v), -1);
    assert_int_equal(util_parse_int64("1e3", false, &v), -1);
    assert_int_equal(util_parse_int64("+1", false, &v), -1);
    assert_int_equal(util_parse_int64(" 1", false, &v), -1);
    assert_int_equal(util_parse_int64("99999999999999999999", false, &v), -1);
    assert_int_equal(util_parse_int64(NULL, false, &v), -1);
}

static void
random_bytes_differ(void **state)
{
    unsigned char a[32], b[32];

    (void) state;
    assert_int_equal(util_random_bytes(a, sizeof(a)), 0);
    assert_int_equal(util_random_bytes(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
}

/* Whichever allocation fails, the text is whole or there is none (jansson's json_dumps would answer an
 * object without the key whose write failed). */
static void
json_dumps_is_whole_or_nothing(void **state)
{
    json_t *v = json_pack("[{s:n, s:s, s:i}, {s:i, s:s}]", "lun", "kind", "os", "sizeGB", 30, "lun",
                          0, "caching", "None"),
           *back;
    char *text, key[400];
    long n;
    bool fired = true;

    (void) state;
    /* A key long enough that the text grows while it is written. */
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    json_object_set_new(json_array_get(v, 1), key, json_true());
    for (n = 1; fired; n++) {
        fault_arm(FAULT_ALLOC, n);
        text = util_json_dumps(v, JSON_COMPACT);
        fired = fault_fired(FAULT_ALLOC);
        fault_arm(FAULT_ALLOC, 0);
        if (fired) {
            assert_null(text);
            continue;
        }
        back = json_loads(text, 0, NULL);
        assert_true(json_equal(back, v));
        json_decref(back);
        free(text);
    }
    assert_true(n > 2);
    json_decref(v);
}

/* util_buf_json_str writes what jansson's dumps writes for the same string: every ASCII byte alone and
 * amid text, quotes, backslashes, slashes, DEL and multi-byte UTF-8 as is. */
static void
buf_json_str_escapes_as_jansson_does(void **state)
{
    static const char *const odd[] = {
        "", "plain", "a\"b", "back\\slash", "sl/ash", "tab\there", "nl\nx\r\n", "\x01\x1f\x7f",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"\\\"", "\b\f", "end\\",
    };
    char one[4], *mine, *theirs;
    util_buf_t b = {0};
    json_t *j;
    size_t i;
    int c;

    (void) state;
    for (i = 0; i < sizeof(odd) / sizeof(odd[0]) + 127; i++) {
        const char *s = odd[0];
        if (i < sizeof(odd) / sizeof(odd[0])) {
            s = odd[i];
        } else {
            c = (int) (i - sizeof(odd) / sizeof(odd[0])) + 1;
            one[0] = 'x';
            one[1] = (char) c;
            one[2] = 'y';
            one[3] = '\0';
            s = one;
        }
        util_buf_json_str(&b, s);
        mine = util_buf_take(&b);
        j = json_string(s);
        assert_non_null(j);
        theirs = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        assert_non_null(mine);
        assert_string_equal(mine, theirs);
        free(mine);
        free(theirs);
        json_decref(j);
    }
}

/* A buffer that cannot grow stays failed: take answers NULL and nothing leaks. */
static void
buf_failure_sticks(void **state)
{
    util_buf_t b = {0};

    (void) state;
    util_buf_puts(&b, "{");
    assert_string_equal(b.buf, "{");
    fault_arm(FAULT_ALLOC, 1);
    util_buf_add(&b, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 256);
    fault_arm(FAULT_ALLOC, 0);
    assert_true(b.failed);
    util_buf_puts(&b, "}");
    assert_null(util_buf_take(&b));
    assert_null(b.buf);
    util_buf_json_int(&b, -42);
    util_buf_json_str(&b, "x");
    assert_string_equal(b.buf, "-42\"x\"");
    util_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uuid_is_v4_and_unique),
        cmocka_unit_test(uuid_v7_sorts_by_time),
        cmocka_unit_test(uuid_v7_burst_is_distinct),
        cmocka_unit_test(time_round_trips),
        cmocka_unit_test(b64url_round_trips),
        cmocka_unit_test(sha256_matches_known_vector),
        cmocka_unit_test(parse_int64_is_strict),
        cmocka_unit_test(random_bytes_differ),
        cmocka_unit_test(json_dumps_is_whole_or_nothing),
        cmocka_unit_test(buf_json_str_escapes_as_jansson_does),
        cmocka_unit_test(buf_failure_sticks),
    };

    util_alloc_install();
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
