/*
 * fuzz_usage.c: fuzz target for the usage parameters: the WAP resource provider's GET /usage (lastID,
 * batchSize), the admin feed GET /v1/admin/usage (after, limit) and its ack (POST /v1/admin/usage/ack), the
 * tenant's totals (from, to) and the events feed, run through the real pipeline against a small world
 * (api_harness.h).
 *
 * Input: the first byte picks the request; the text up to the first newline is the query string, the rest
 * the body (the ack's); the world's ids may be named in the query as in paths ({sub} ...). The answer is a 2xx or a 4xx in the error envelope, never a 5xx, a crash, a leak or
 * undefined behaviour.
 */
#include "api_harness.h"

#define A API_LISTENER_ADMIN
#define T API_LISTENER_TENANT

static const struct {
    api_listener_t listener;
    const char *method, *path;
} routes[] = {
    {A, "GET", "/usage"},
    {A, "GET", "/v1/admin/usage"},
    {A, "POST", "/v1/admin/usage/ack"},
    {T, "GET", "/v1/subscriptions/{sub}/usage"},
    {A, "GET", "/v1/admin/events"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url, *query, *tmpl;
    const char *nl, *body = "";
    size_t i, qlen = size - 1;

    if (size < 1)
        return 0;
    fz_world();
    nl = memchr(data + 1, '\n', size - 1);
    if (nl) {
        qlen = (size_t) (nl - (const char *) data - 1);
        body = nl + 1;
    }
    query = strndup((const char *) data + 1, qlen);
    if (query == NULL)
        abort();
    i = data[0] % (sizeof(routes) / sizeof(routes[0]));
    if (asprintf(&tmpl, "%s?%s", routes[i].path, query) < 0 || (url = malloc(strlen(tmpl) * 8 + 64)) == NULL)
        abort();
    fz_path(tmpl, url, strlen(tmpl) * 8 + 64); /* the world's ids named in the query too */
    free(tmpl);
    fz_run(routes[i].listener, routes[i].method, url, routes[i].listener == A ? fz_admin_h : fz_tenant_h,
           body, nl ? size - 2 - qlen : 0, NULL, NULL, 0);
    free(url);
    free(query);
    return 0;
}
