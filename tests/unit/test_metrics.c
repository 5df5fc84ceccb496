/* Unit tests of api/metrics.c: counters and cumulative histogram buckets per route, method and status,
 * rendered in the Prometheus text format; methods outside the API fold into OTHER. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/internal.h"

static void
counts_and_buckets(void **state)
{
    char *text;
    const char *route = api_routes[3].pattern; /* an admin route */
    char want[512];

    (void) state;
    api_metrics_observe(api_routes[3].listener, 3, "GET", 200, 0.0004);
    api_metrics_observe(api_routes[3].listener, 3, "GET", 200, 0.003);
    api_metrics_observe(api_routes[3].listener, 3, "GET", 404, 0.2);
    api_metrics_observe(API_LISTENER_TENANT, -1, "BREW", 405, 0.001);
    text = api_metrics_render(NULL);
    assert_non_null(text);
    snprintf(want, sizeof(want),
             "wapd_http_requests_total{listener=\"admin\",route=\"%s\",method=\"GET\",status=\"200\"} 2",
             route);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want),
             "wapd_http_request_duration_seconds_bucket{listener=\"admin\",route=\"%s\",method=\"GET\","
             "status=\"200\",le=\"0.0005\"} 1",
             route);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want),
             "wapd_http_request_duration_seconds_bucket{listener=\"admin\",route=\"%s\",method=\"GET\","
             "status=\"200\",le=\"0.005\"} 2",
             route);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want),
             "wapd_http_request_duration_seconds_bucket{listener=\"admin\",route=\"%s\",method=\"GET\","
             "status=\"404\",le=\"+Inf\"} 1",
             route);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "route=\"unmatched\",method=\"OTHER\",status=\"405\"} 1"));
    assert_non_null(strstr(text, "# TYPE wapd_http_request_duration_seconds histogram"));
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_and_buckets),
    };

    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
