/*
 * Unit tests of the tenant rate limit (api/http/ratelimit.c): the token bucket of 2N refilled at N per
 * second, driven with explicit times on a table of the test's own, and the pipeline's entry point, which
 * reads ctx->rate_limit on every request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/internal.h"

#define SEC 1000000000LL
#define T0 (1000 * SEC) /* any start: buckets are full when first seen */

/* How many requests key gets through at now_ns before the first refusal (at most max). */
static int
burst(api_ratelimit_t *t, const char *key, int n, int64_t now_ns, int max, int *retry)
{
    int i;

    for (i = 0; i < max; i++)
        if (api_ratelimit__take(t, key, n, now_ns, retry))
            break;
    return i;
}

static void
a_full_bucket_holds_twice_the_rate(void **state)
{
    api_ratelimit_t *t = api_ratelimit__new();
    int retry = 0;

    (void) state;
    assert_non_null(t);
    assert_int_equal(burst(t, "token-a", 5, T0, 100, &retry), 10);
    assert_int_equal(retry, 1);
    /* still empty a moment later; one request is back after 1/N s */
    assert_int_equal(api_ratelimit__take(t, "token-a", 5, T0 + SEC / 10, &retry), 1);
    assert_int_equal(api_ratelimit__take(t, "token-a", 5, T0 + SEC / 5, &retry), 0);
    assert_int_equal(api_ratelimit__take(t, "token-a", 5, T0 + SEC / 5, &retry), 1);
    /* after a long pause the bucket is full again, never fuller */
    assert_int_equal(burst(t, "token-a", 5, T0 + 3600 * SEC, 100, &retry), 10);
    api_ratelimit__free(t);
}

static void
retry_after_is_whole_seconds_rounded_up(void **state)
{
    api_ratelimit_t *t = api_ratelimit__new();
    int retry = 0;

    (void) state;
    /* N = 1: an empty bucket has one request back in exactly 1 s */
    assert_int_equal(burst(t, "slow", 1, T0, 100, &retry), 2);
    assert_int_equal(retry, 1);
    /* 0.3 of a request back at N = 1: 0.7 s to go, said as 1 */
    assert_int_equal(api_ratelimit__take(t, "slow", 1, T0 + 3 * SEC / 10, &retry), 1);
    assert_int_equal(retry, 1);
    /* N = 1000: a millisecond to go is still 1 s */
    assert_int_equal(burst(t, "fast", 1000, T0, 5000, &retry), 2000);
    assert_int_equal(retry, 1);
    api_ratelimit__free(t);
}

static void
each_token_has_its_own_bucket(void **state)
{
    api_ratelimit_t *t = api_ratelimit__new();
    int retry = 0;

    (void) state;
    assert_int_equal(burst(t, "one", 3, T0, 100, &retry), 6);
    assert_int_equal(burst(t, "two", 3, T0, 100, &retry), 6);
    assert_int_equal(api_ratelimit__take(t, "one", 3, T0, &retry), 1);
    /* keys are compared on their first 32 characters (128 bits of a digest) */
    assert_int_equal(burst(t, "0123456789abcdef0123456789abcdefXX", 3, T0, 100, &retry), 6);
    assert_int_equal(api_ratelimit__take(t, "0123456789abcdef0123456789abcdefYY", 3, T0, &retry), 1);
    api_ratelimit__free(t);
}

static void
a_new_rate_keeps_the_level_capped_at_the_new_bucket(void **state)
{
    api_ratelimit_t *t = api_ratelimit__new();
    int retry = 0;

    (void) state;
    assert_int_equal(burst(t, "k", 10, T0, 5, &retry), 5); /* 15 of 20 left */
    /* N 10 -> 2: the level is capped at 4 */
    assert_int_equal(burst(t, "k", 2, T0, 100, &retry), 4);
    /* N 2 -> 10: the level is kept (empty), not filled to the new 20; it refills at 10/s */
    assert_int_equal(api_ratelimit__take(t, "k", 10, T0, &retry), 1);
    assert_int_equal(burst(t, "k", 10, T0 + SEC / 2, 100, &retry), 5);
    /* N = 0 is off */
    assert_int_equal(burst(t, "k", 0, T0 + SEC / 2, 1000, &retry), 1000);
    api_ratelimit__free(t);
}

static void
memory_is_bounded_and_busy_buckets_survive_idle_ones(void **state)
{
    api_ratelimit_t *t = api_ratelimit__new();
    char key[40];
    int retry = 0, i;

    (void) state;
    assert_int_equal(burst(t, "busy", 4, T0, 100, &retry), 8);
    /* many more tokens than the table has buckets pass through */
    for (i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "tok-%d", i);
        assert_int_equal(api_ratelimit__take(t, key, 4, T0 + i, &retry), 0);
    }
    /* the empty bucket was never the one taken for a newcomer */
    assert_int_equal(api_ratelimit__take(t, "busy", 4, T0 + 20000, &retry), 1);
    api_ratelimit__free(t);
    api_ratelimit__free(NULL);
}

/* The pipeline's entry point reads ctx->rate_limit on every request and answers 429 with Retry-After. */
static void
the_limit_is_read_on_every_request(void **state)
{
    api_ctx_t ctx = {.rate_limit = 1};
    api_req_t *r;
    uint64_t refused = api_ratelimit_refused();
    json_t *body;
    int i, status[4];

    (void) state;
    for (i = 0; i < 4; i++) {
        if (i == 3)
            ctx.rate_limit = 0; /* off, live: the next request passes */
        r = api_req_new(&ctx, API_LISTENER_TENANT, NULL, NULL, "/v1/subscriptions", "GET");
        assert_non_null(r);
        snprintf(r->scope, sizeof(r->scope), "%s", "digest-of-the-pipeline-test-token");
        status[i] = api_ratelimit_or_reply(r) ? r->status : 0;
        if (i == 2) {
            assert_int_equal(r->retry_after, 1);
            body = json_loads(r->resp, 0, NULL);
            assert_non_null(body);
            assert_string_equal(json_string_value(json_object_get(json_object_get(body, "error"),
                                                                  "code")),
                                "TooManyRequests");
            json_decref(body);
        }
        api_req_free(r);
    }
    assert_int_equal(status[0], 0);
    assert_int_equal(status[1], 0);
    assert_int_equal(status[2], 429);
    assert_int_equal(status[3], 0);
    assert_int_equal(api_ratelimit_refused() - refused, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_full_bucket_holds_twice_the_rate),
        cmocka_unit_test(retry_after_is_whole_seconds_rounded_up),
        cmocka_unit_test(each_token_has_its_own_bucket),
        cmocka_unit_test(a_new_rate_keeps_the_level_capped_at_the_new_bucket),
        cmocka_unit_test(memory_is_bounded_and_busy_buckets_survive_idle_ones),
        cmocka_unit_test(the_limit_is_read_on_every_request),
    };

    return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
