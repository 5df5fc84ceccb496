/*
 * fuzz_query.c: fuzz target for query and cursor parsing: every list of both listeners read with a fuzzed
 * query string (limit, cursor, filters, status, anything else), its nextLink written back from that query,
 * and If-Match read on a PATCH. Run through the real pipeline against a small world (api_harness.h).
 *
 * Input: the first byte picks the list (with its high bit set: a PATCH whose If-Match header is the text),
 * the rest is the query string as it follows '?' (percent-decoded like libmicrohttpd does; the world's ids
 * may be named as in paths, {cloud} ...). The answer is a
 * 2xx or a 4xx in the error envelope, never a 5xx, a crash, a leak or undefined behaviour.
 */
#include "api_harness.h"

#define A API_LISTENER_ADMIN
#define T API_LISTENER_TENANT

static const struct {
    api_listener_t listener;
    const char *path;
} lists[] = {
    {A, "/v1/admin/clouds"},
    {A, "/v1/admin/hosts"},
    {A, "/v1/admin/sizes"},
    {A, "/v1/admin/images"},
    {A, "/v1/admin/galleryItems"},
    {A, "/v1/admin/plans"},
    {A, "/v1/admin/users"},
    {A, "/v1/admin/users/{user}/tokens"},
    {A, "/v1/admin/tokens"},
    {A, "/v1/admin/subscriptions"},
    {A, "/v1/admin/vms"},
    {A, "/v1/admin/hooks"},
    {A, "/v1/admin/hooks/{hook}/deliveries"},
    {A, "/v1/admin/events"},
    {A, "/v1/admin/jobs"},
    {A, "/v1/admin/vms/{vm}"},
    {T, "/v1/subscriptions"},
    {T, "/v1/subscriptions/{sub}/images"},
    {T, "/v1/subscriptions/{sub}/snapshots"},
    {T, "/v1/subscriptions/{sub}/sizes"},
    {T, "/v1/subscriptions/{sub}/galleryItems"},
    {T, "/v1/subscriptions/{sub}/vms"},
    {T, "/v1/subscriptions/{sub}/vmroles"},
    {T, "/v1/subscriptions/{sub}/networks"},
    {T, "/v1/subscriptions/{sub}/jobs"},
    {T, "/v1/subscriptions/{sub}/vms/{vm}"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512], *url, *text, *tmpl;
    const char *h[7];
    size_t i;

    if (size < 1)
        return 0;
    fz_world();
    text = strndup((const char *) data + 1, size - 1); /* up to a NUL, as a header or URL would be */
    if (text == NULL)
        abort();
    if (data[0] & 0x80) {
        fz_path("/v1/admin/clouds/{cloud}", path, sizeof(path));
        memcpy(h, fz_admin_h, 4 * sizeof(h[0]));
        h[4] = "If-Match", h[5] = text, h[6] = NULL;
        fz_run(A, "PATCH", path, h, "{}", 2, NULL, NULL, 0);
        free(text);
        return 0;
    }
    i = data[0] % (sizeof(lists) / sizeof(lists[0]));
    if (asprintf(&tmpl, "%s?%s", lists[i].path, text) < 0 || (url = malloc(strlen(tmpl) * 8 + 64)) == NULL)
        abort();
    fz_path(tmpl, url, strlen(tmpl) * 8 + 64); /* the world's ids named in the query too */
    free(tmpl);
    fz_run(lists[i].listener, "GET", url, lists[i].listener == A ? fz_admin_h : fz_tenant_h, NULL, 0, NULL,
           NULL, 0);
    free(url);
    free(text);
    return 0;
}
