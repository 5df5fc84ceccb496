/* Unit tests of api/validate.c (body shape checks) and api/router.c (route matching). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/internal.h"

static const char *const colors[] = {"red", "blue", NULL};
static const jv_field_t inner[] = {
    {"n", JV_INT, JV_REQUIRED, 1, 10, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const jv_field_t spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 8, NULL, NULL},
    {"color", JV_STRING, JV_NULLABLE, 1, 8, colors, NULL},
    {"id", JV_STRING, JV_UUID, 0, 0, NULL, NULL},
    {"flag", JV_BOOL, 0, 0, 0, NULL, NULL},
    {"obj", JV_OBJECT, 0, 0, 0, NULL, inner},
    {"ids", JV_STRING_ARRAY, JV_UUID, 0, 0, NULL, NULL},
    {"email", JV_STRING, JV_EMAIL, 3, 64, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

/* Validates text; returns the target of the error ("" when it passed). */
static const char *
check(const char *text, bool partial)
{
    static err_t err;
    json_t *obj = json_loads(text, 0, NULL);

    assert_non_null(obj);
    err_clear(&err);
    if (api_json_validate(obj, spec, partial, &err) == 0)
        err.target[0] = '\0';
    else
        assert_int_equal(err.code, ERR_INVALID_REQUEST);
    json_decref(obj);
    return err.target;
}

static void
accepts_good_bodies(void **state)
{
    (void) state;
    assert_string_equal(check("{\"name\": \"a\"}", false), "");
    assert_string_equal(check("{\"name\": \"a\", \"color\": null, \"flag\": true, \"obj\": {\"n\": 3},"
                              " \"ids\": [\"9f0f3c2e-1111-4a2b-8c3d-0123456789ab\"],"
                              " \"email\": \"a@b.c\"}",
                              false),
                        "");
    assert_string_equal(check("{}", true), "");
}

static void
names_the_field_at_fault(void **state)
{
    (void) state;
    assert_string_equal(check("{}", false), "name");
    assert_string_equal(check("{\"name\": 1}", false), "name");
    assert_string_equal(check("{\"name\": \"\"}", false), "name");
    assert_string_equal(check("{\"name\": \"123456789\"}", false), "name");
    assert_string_equal(check("{\"name\": null}", false), "name");
    assert_string_equal(check("{\"name\": \"a\", \"extra\": 1}", false), "extra");
    assert_string_equal(check("{\"name\": \"a\", \"color\": \"green\"}", false), "color");
    assert_string_equal(check("{\"name\": \"a\", \"id\": \"x\"}", false), "id");
    assert_string_equal(check("{\"name\": \"a\", \"flag\": 1}", false), "flag");
    assert_string_equal(check("{\"name\": \"a\", \"obj\": {}}", false), "obj.n");
    assert_string_equal(check("{\"name\": \"a\", \"obj\": {\"n\": 11}}", false), "obj.n");
    assert_string_equal(check("{\"name\": \"a\", \"obj\": {\"n\": 1.5}}", false), "obj.n");
    assert_string_equal(check("{\"name\": \"a\", \"obj\": {\"n\": 1, \"m\": 2}}", false), "obj.m");
    assert_string_equal(check("{\"name\": \"a\", \"obj\": []}", false), "obj");
    assert_string_equal(check("{\"name\": \"a\", \"ids\": [\"x\"]}", false), "ids[0]");
    assert_string_equal(check("{\"name\": \"a\", \"ids\": \"x\"}", false), "ids");
    assert_string_equal(check("{\"name\": \"a\", \"email\": \"nope\"}", false), "email");
    assert_string_equal(check("{\"name\": \"a\\u0001\"}", false), "name");
    /* PATCH: nothing required, everything else still checked. */
    assert_string_equal(check("{\"obj\": {}}", true), "");
    assert_string_equal(check("{\"name\": 5}", true), "name");
}

/* Validates text reporting every fault; returns the details (NULL when it passed) and checks that the
 * error is the first of them. */
static json_t *
check_all(const char *text, bool partial)
{
    err_t err = {0};
    json_t *obj = json_loads(text, 0, NULL), *details = NULL, *first;

    assert_non_null(obj);
    if (api_json_check(obj, spec, partial, &err, &details) == 0) {
        assert_null(details);
    } else {
        assert_int_equal(err.code, ERR_INVALID_REQUEST);
        assert_non_null(details);
        first = json_array_get(details, 0);
        assert_string_equal(json_string_value(json_object_get(first, "code")), "InvalidRequest");
        assert_string_equal(json_string_value(json_object_get(first, "target")), err.target);
        assert_string_equal(json_string_value(json_object_get(first, "message")), err.message);
    }
    json_decref(obj);
    return details;
}

/* The targets of details, joined by spaces. */
static const char *
targets(json_t *details)
{
    static char out[512];
    json_t *d;
    size_t i;

    out[0] = '\0';
    json_array_foreach(details, i, d) {
        strncat(out, i ? " " : "", sizeof(out) - strlen(out) - 1);
        strncat(out, json_string_value(json_object_get(d, "target")), sizeof(out) - strlen(out) - 1);
    }
    json_decref(details);
    return out;
}

static void
reports_every_field_at_fault(void **state)
{
    char *big;
    size_t i, len;
    json_t *details;

    (void) state;
    assert_null(check_all("{\"name\": \"a\"}", false));
    /* in the body's order, then the missing fields in the table's */
    assert_string_equal(targets(check_all("{\"color\": \"green\", \"flag\": 1, \"extra\": 2}", false)),
                        "color flag extra name");
    assert_string_equal(targets(check_all("{\"name\": 1, \"obj\": {\"m\": 1}, \"ids\": [\"x\", 2]}",
                                          false)),
                        "name obj.m obj.n ids[0] ids[1]");
    assert_string_equal(targets(check_all("{\"obj\": {\"m\": 1}}", true)), "obj.m");
    /* one fault a field: a wrong type is not also out of range */
    assert_string_equal(targets(check_all("{\"name\": null, \"email\": 5}", false)), "name email");
    /* the first fault alone still comes from api_json_validate */
    assert_string_equal(check("{\"color\": \"green\", \"flag\": 1}", false), "color");
    /* a body of many faults keeps at most 100 details */
    big = malloc(300 * 16);
    assert_non_null(big);
    len = (size_t) sprintf(big, "{\"name\": \"a\"");
    for (i = 0; i < 300; i++)
        len += (size_t) sprintf(big + len, ", \"x%zu\": 1", i);
    sprintf(big + len, "}");
    details = check_all(big, false);
    assert_int_equal(json_array_size(details), 100);
    assert_string_equal(json_string_value(json_object_get(json_array_get(details, 99), "target")),
                        "x99");
    json_decref(details);
    free(big);
}

static void
routes_match_with_params(void **state)
{
    api_req_t r;
    const api_route_t *route;
    char allow[64];
    int i;

    (void) state;
    memset(&r, 0, sizeof(r));
    route = api_route_match(&r, API_LISTENER_ADMIN, "/v1/admin/users/u1/tokens/t2");
    assert_non_null(route);
    assert_string_equal(route->pattern, "/v1/admin/users/{id}/tokens/{tokenId}");
    assert_int_equal(r.nparams, 2);
    assert_string_equal(r.params[0], "u1");
    assert_string_equal(r.params[1], "t2");
    for (i = 0; i < r.nparams; i++)
        free(r.params[i]);
    memset(&r, 0, sizeof(r));
    assert_null(api_route_match(&r, API_LISTENER_TENANT, "/v1/admin/clouds"));
    assert_null(api_route_match(&r, API_LISTENER_ADMIN, "/v1/admin/clouds/"));
    assert_null(api_route_match(&r, API_LISTENER_ADMIN, "/v1/admin//clouds"));
    assert_null(api_route_match(&r, API_LISTENER_ADMIN, "/v1/admin/clouds/a/b"));
    assert_null(api_route_match(&r, API_LISTENER_ADMIN, ""));
    assert_int_equal(r.nparams, 0);
    route = api_route_match(&r, API_LISTENER_ADMIN, "/v1/admin/clouds");
    api_route_allow(route, allow, sizeof(allow));
    assert_string_equal(allow, "GET, HEAD, POST");
    /* /healthz answers on both listeners, without a token */
    route = api_route_match(&r, API_LISTENER_TENANT, "/healthz");
    assert_non_null(route);
    assert_true(route->flags & API_ROUTE_PUBLIC);
    assert_ptr_equal(route->handlers[API_GET],
                     api_route_match(&r, API_LISTENER_ADMIN, "/healthz")->handlers[API_GET]);
    route = api_route_match(&r, API_LISTENER_TENANT, "/v1/subscriptions/s1");
    assert_non_null(route);
    assert_string_equal(r.params[0], "s1");
    free(r.params[0]);
    assert_int_equal(api_method_parse("PATCH"), API_PATCH);
    assert_int_equal(api_method_parse("patch"), API__METHODS);
}

static void
every_route_has_a_handler(void **state)
{
    int i, m, any;

    (void) state;
    for (i = 0; i < api_route_count; i++) {
        any = 0;
        for (m = 0; m < API__METHODS; m++)
            any |= api_routes[i].handlers[m] != NULL;
        assert_true(any);
        assert_true(api_routes[i].pattern[0] == '/');
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_good_bodies),
        cmocka_unit_test(names_the_field_at_fault),
        cmocka_unit_test(reports_every_field_at_fault),
        cmocka_unit_test(routes_match_with_params),
        cmocka_unit_test(every_route_has_a_handler),
    };

    return cmocka_run_group_tests_name("validate+router", tests, NULL, NULL);
}
