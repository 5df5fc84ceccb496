/* Unit tests of the request bodies' required fields (api/requests.h): for every route that creates
 * something, and every other POST or PUT whose body has required fields, and for each field the contract
 * requires (the OpenAPI document's required lists, nested ones included), a body without that field is a
 * 400 InvalidRequest whose target and details name the field. The parse is called directly: this binary
 * never opens a store, so none of it can have reached one. A body of the required fields alone parses
 * (the parser asks for nothing the contract leaves optional), and every route that the generic create
 * handler or a body parser serves is in the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/internal.h"
#include "../../api/requests.h"

#define U1 "5f0c2a52-3c4b-4a8e-9a51-2d0f4c7e8b11"
#define U2 "0b6f8c1e-2a7d-4e5f-8c9a-1b2c3d4e5f60"
#define REQUIRED_MAX 10

/* A route's body as the contract has it: a full body (optional fields included), the fields it requires
 * ("agent.kind": kind inside agent), and a body of those fields alone. */
typedef struct {
    const char *route;
    const char *full;
    const char *required[REQUIRED_MAX];
    const char *minimal;
} contract_t;

static const contract_t contract[] = {
    {"POST /v1/admin/clouds", "{\"name\": \"east\", \"description\": \"the east\"}", {"name"},
     "{\"name\": \"east\"}"},
    {"POST /v1/admin/hosts",
     "{\"name\": \"hv\", \"cloudId\": \"" U1 "\", \"agent\": {\"kind\": \"http\", \"uri\": "
     "\"http://10.0.0.1:30010\", \"token\": \"t\"}, \"capacity\": {\"cores\": 8, \"memoryMB\": 1024, "
     "\"storageGB\": 50}}",
     {"name", "cloudId", "agent", "agent.kind", "capacity", "capacity.cores", "capacity.memoryMB",
      "capacity.storageGB"},
     "{\"name\": \"hv\", \"cloudId\": \"" U1 "\", \"agent\": {\"kind\": \"sim\"}, \"capacity\": "
     "{\"cores\": 8, \"memoryMB\": 1024, \"storageGB\": 50}}"},
    {"POST /v1/admin/hosts/{id}/simulate", "{\"regenerateIds\": [\"" U1 "\"]}", {"regenerateIds"},
     "{\"regenerateIds\": []}"},
    {"POST /v1/admin/sizes",
     "{\"name\": \"S1\", \"cores\": 1, \"memoryMB\": 1792, \"dynamicMemory\": {\"enabled\": true, "
     "\"minimumMB\": 512, \"maximumMB\": 4096}}",
     {"name", "cores", "memoryMB"}, "{\"name\": \"S1\", \"cores\": 1, \"memoryMB\": 1792}"},
    {"POST /v1/admin/images",
     "{\"name\": \"img\", \"osType\": \"linux\", \"generation\": 2, \"osDiskGB\": 30}",
     {"name", "osType", "generation", "osDiskGB"},
     "{\"name\": \"img\", \"osType\": \"linux\", \"generation\": 2, \"osDiskGB\": 30}"},
    {"POST /v1/admin/galleryItems",
     "{\"name\": \"web\", \"version\": \"1.0\", \"imageId\": \"" U1 "\", \"defaultSize\": \"S1\", "
     "\"minInstances\": 1, \"maxInstances\": 5}",
     {"name", "version", "imageId", "defaultSize", "minInstances", "maxInstances"},
     "{\"name\": \"web\", \"version\": \"1.0\", \"imageId\": \"" U1 "\", \"defaultSize\": \"S1\", "
     "\"minInstances\": 1, \"maxInstances\": 5}"},
    {"POST /v1/admin/plans",
     "{\"name\": \"gold\", \"cloudId\": \"" U1 "\", \"state\": \"public\", \"quotas\": {\"vms\": 5}, "
     "\"imageIds\": [\"" U2 "\"], \"sizeNames\": [\"S1\"], \"galleryItemIds\": [], \"checkpointMode\": "
     "\"createViewRestore\", \"checkpointRetentionHours\": 24, \"replicaCloudIds\": []}",
     {"name", "cloudId"}, "{\"name\": \"gold\", \"cloudId\": \"" U1 "\"}"},
    {"POST /v1/admin/users", "{\"email\": \"a@example.com\", \"name\": \"A\"}", {"email"},
     "{\"email\": \"a@example.com\"}"},
    {"POST /v1/admin/users/{id}/tokens", "{\"expiresInDays\": 30}", {NULL}, "{}"},
    {"POST /v1/admin/tokens", "{\"name\": \"ops\", \"scope\": \"readOnly\", \"expiresInDays\": 7}",
     {"name", "scope"}, "{\"name\": \"ops\", \"scope\": \"readOnly\"}"},
    {"POST /v1/admin/subscriptions",
     "{\"userId\": \"" U1 "\", \"planId\": \"" U2 "\", \"displayName\": \"sub\"}", {"userId", "planId"},
     "{\"userId\": \"" U1 "\", \"planId\": \"" U2 "\"}"},
    {"POST /v1/admin/vms/{id}/reassociate", "{\"hostId\": \"" U1 "\", \"hypervisorId\": \"sim-7\"}",
     {"hostId", "hypervisorId"}, "{\"hostId\": \"" U1 "\", \"hypervisorId\": \"sim-7\"}"},
    {"POST /v1/admin/vms/{id}/migrate", "{\"hostId\": \"" U1 "\"}", {"hostId"},
     "{\"hostId\": \"" U1 "\"}"},
    {"POST /v1/admin/checkpoints/prune",
     "{\"cloudId\": \"" U1 "\", \"planId\": \"" U2 "\", \"olderThanHours\": 48}", {"olderThanHours"},
     "{\"olderThanHours\": 48}"},
    {"POST /v1/admin/usage/ack", "{\"cursor\": \"dTEuMTI\"}", {"cursor"}, "{\"cursor\": \"dTEuMTI\"}"},
    {"POST /v1/admin/hooks",
     "{\"url\": \"https://example.com/h\", \"events\": [\"vm.*\"], \"secret\": \"s\", \"active\": true, "
     "\"description\": \"d\"}",
     {"url", "events", "secret"},
     "{\"url\": \"https://example.com/h\", \"events\": [\"vm.*\"], \"secret\": \"s\"}"},
    {"POST /v1/subscriptions/{sid}/snapshots", "{\"name\": \"s\", \"vmId\": \"" U1 "\", \"lun\": 1}",
     {"name", "vmId"}, "{\"name\": \"s\", \"vmId\": \"" U1 "\"}"},
    {"POST /v1/subscriptions/{sid}/snapshots/{id}/copy", "{\"cloudId\": \"" U1 "\"}", {"cloudId"},
     "{\"cloudId\": \"" U1 "\"}"},
    {"POST /v1/subscriptions/{sid}/vms",
     "{\"name\": \"vm\", \"imageId\": \"" U1 "\", \"size\": \"S1\", \"dataDisks\": [{\"sizeGB\": 10, "
     "\"caching\": \"ReadOnly\", \"lun\": 2}, {\"snapshotId\": \"" U2 "\"}], \"networkId\": \"" U2 "\", "
     "\"dynamicMemory\": {\"enabled\": true, \"minimumMB\": 512, \"maximumMB\": 4096}}",
     {"name", "imageId", "size"}, "{\"name\": \"vm\", \"imageId\": \"" U1 "\", \"size\": \"S1\"}"},
    /* A data disk takes exactly one of sizeGB and snapshotId: without either, sizeGB is named. */
    {"POST /v1/subscriptions/{sid}/vms/{id}/disks",
     "{\"sizeGB\": 10, \"caching\": \"ReadWrite\", \"lun\": 3}", {"sizeGB"}, "{\"sizeGB\": 10}"},
    {"PUT /v1/subscriptions/{sid}/vms/{id}/checkpoint", "{\"name\": \"cp\", \"description\": \"d\"}",
     {"name"}, "{\"name\": \"cp\"}"},
    {"POST /v1/subscriptions/{sid}/vms/{id}/capture", "{\"name\": \"img\"}", {"name"},
     "{\"name\": \"img\"}"},
    {"POST /v1/subscriptions/{sid}/vmroles",
     "{\"name\": \"web\", \"galleryItemId\": \"" U1 "\", \"size\": \"S1\", \"instanceCount\": 2, "
     "\"networkId\": \"" U2 "\"}",
     {"name", "galleryItemId", "instanceCount"},
     "{\"name\": \"web\", \"galleryItemId\": \"" U1 "\", \"instanceCount\": 2}"},
    {"POST /v1/subscriptions/{sid}/vmroles/{id}/scale", "{\"instanceCount\": 3}", {"instanceCount"},
     "{\"instanceCount\": 3}"},
    {"POST /v1/subscriptions/{sid}/networks", "{\"name\": \"net\", \"addressPrefix\": \"10.0.0.0/24\"}",
     {"name", "addressPrefix"}, "{\"name\": \"net\", \"addressPrefix\": \"10.0.0.0/24\"}"},
};
#define NCONTRACT (sizeof(contract) / sizeof(contract[0]))

static json_t *
load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

    if (j == NULL)
        fail_msg("bad JSON in the test (%s): %s", jerr.text, text);
    return j;
}

static const api_body_route_t *
route_of(const contract_t *c)
{
    const api_body_route_t *b = api_body_route(c->route);

    if (b == NULL)
        fail_msg("%s is not in the table of body routes", c->route);
    return b;
}

/* body without field (one dot: a field of a nested object). */
static void
drop(json_t *body, const char *field)
{
    const char *dot = strchr(field, '.');
    char outer[64];

    if (dot == NULL) {
        assert_int_equal(json_object_del(body, field), 0);
        return;
    }
    snprintf(outer, sizeof(outer), "%.*s", (int) (dot - field), field);
    assert_int_equal(json_object_del(json_object_get(body, outer), dot + 1), 0);
}

static bool
names(const json_t *details, const char *field)
{
    const json_t *d;
    size_t i;

    json_array_foreach(details, i, d)
        if (json_string_value(json_object_get(d, "target")) != NULL &&
            strcmp(json_string_value(json_object_get(d, "target")), field) == 0)
            return true;
    return false;
}

static void
full_and_minimal_bodies_parse(void **state)
{
    err_t err = {0};
    json_t *body, *details = NULL;
    size_t i;

    (void) state;
    for (i = 0; i < NCONTRACT; i++) {
        body = load(contract[i].full);
        if (api_body_parse(route_of(&contract[i]), body, &err, &details))
            fail_msg("%s: the full body is refused: %s (%s)", contract[i].route, err.message,
                     err.target);
        json_decref(body);
        body = load(contract[i].minimal);
        if (api_body_parse(route_of(&contract[i]), body, &err, &details))
            fail_msg("%s: the required fields alone are refused: %s (%s)", contract[i].route,
                     err.message, err.target);
        json_decref(body);
    }
}

static void
each_required_field_dropped_is_400_naming_it(void **state)
{
    json_t *body, *details;
    size_t i, k, checked = 0;
    err_t err;

    (void) state;
    for (i = 0; i < NCONTRACT; i++) {
        for (k = 0; k < REQUIRED_MAX && contract[i].required[k] != NULL; k++) {
            const char *field = contract[i].required[k];

            body = load(contract[i].full);
            drop(body, field);
            memset(&err, 0, sizeof(err));
            details = NULL;
            if (api_body_parse(route_of(&contract[i]), body, &err, &details) != -1)
                fail_msg("%s without %s was accepted", contract[i].route, field);
            assert_int_equal(err.code, ERR_INVALID_REQUEST);
            assert_int_equal(err_http_status(err.code), 400);
            if (strcmp(err.target, field) != 0)
                fail_msg("%s without %s: the error names %s", contract[i].route, field, err.target);
            /* The table's faults come with details that name the field too (a typed step's fault is
             * the error alone). */
            if (details != NULL && !names(details, field))
                fail_msg("%s without %s: no detail names it", contract[i].route, field);
            assert_true(details != NULL || route_of(&contract[i])->typed != NULL);
            json_decref(details);
            json_decref(body);
            checked++;
        }
    }
    assert_true(checked >= 40);
}

/* Every field a table requires, nested ones under a required object included, is one the contract
 * requires: a parser that asked for more would refuse valid requests. */
static void
collect(const jv_field_t *spec, const char *prefix, const contract_t *c)
{
    char path[80];
    size_t k;

    for (; spec->name != NULL; spec++) {
        if (!(spec->flags & JV_REQUIRED))
            continue;
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", spec->name);
        for (k = 0; k < REQUIRED_MAX && c->required[k] != NULL; k++)
            if (strcmp(c->required[k], path) == 0)
                break;
        if (k == REQUIRED_MAX || c->required[k] == NULL)
            fail_msg("%s: the parser requires %s, which the contract does not", c->route, path);
        if (spec->type == JV_OBJECT && spec->fields != NULL && *prefix == '\0')
            collect(spec->fields, path, c);
    }
}

static void
tables_require_only_what_the_contract_does(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < NCONTRACT; i++)
        collect(*route_of(&contract[i])->spec, "", &contract[i]);
}

/* The table and this test name the same routes, each served by the router with that method; and every
 * route the generic create handler serves is among them, with the resource's create table. */
static void
every_body_route_is_covered(void **state)
{
    const api_body_route_t *b;
    char route[200];
    size_t n = 0, i;
    int r, m;
    bool found;

    (void) state;
    for (b = api_body_routes; b->route != NULL; b++, n++) {
        for (i = 0; i < NCONTRACT && strcmp(contract[i].route, b->route) != 0; i++)
            ;
        if (i == NCONTRACT)
            fail_msg("%s has no contract in this test", b->route);
        found = false;
        for (r = 0; r < api_route_count && !found; r++)
            for (m = 0; m < API__METHODS && !found; m++) {
                snprintf(route, sizeof(route), "%s %s", m == API_PUT ? "PUT" : "POST",
                         api_routes[r].pattern);
                found = (m == API_POST || m == API_PUT) && api_routes[r].handlers[m] != NULL &&
                        strcmp(route, b->route) == 0;
            }
        if (!found)
            fail_msg("%s is not a route of the router", b->route);
    }
    assert_int_equal(n, NCONTRACT);
    for (r = 0; r < api_route_count; r++) {
        if (api_routes[r].handlers[API_POST] != api_resource_create)
            continue;
        snprintf(route, sizeof(route), "POST %s", api_routes[r].pattern);
        b = api_body_route(route);
        if (b == NULL)
            fail_msg("%s (a generic create) is not in the table", route);
        assert_ptr_equal(*b->spec, api_routes[r].res->create_spec);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_and_minimal_bodies_parse),
        cmocka_unit_test(each_required_field_dropped_is_400_naming_it),
        cmocka_unit_test(tables_require_only_what_the_contract_does),
        cmocka_unit_test(every_body_route_is_covered),
    };

    return cmocka_run_group_tests_name("required_fields", tests, NULL, NULL);
}
