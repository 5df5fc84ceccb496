/*
 * fuzz_bodies.c: fuzz target for every request body the API reads into a typed request: each create, patch
 * and action body of both listeners, run through the real pipeline and handler against a small world in a
 * temporary database (api_harness.h). The first byte picks the route, the rest is the body, in which the
 * world's ids may be named as in paths ({cloud}, {image}, {vm} ..., see fz_path) so that seeds reach past
 * the checks of references.
 *
 * Whatever the body, the answer is a 2xx or a 4xx in the error envelope: never a 5xx (a body that reaches
 * the database with a field missing, say), never a crash, a leak or undefined behaviour.
 */
#include "api_harness.h"

#define A API_LISTENER_ADMIN
#define T API_LISTENER_TENANT

static const struct {
    api_listener_t listener;
    const char *method, *path;
} routes[] = {
    {A, "POST", "/v1/admin/clouds"},
    {A, "PATCH", "/v1/admin/clouds/{cloud}"},
    {A, "POST", "/v1/admin/hosts"},
    {A, "PATCH", "/v1/admin/hosts/{host}"},
    {A, "POST", "/v1/admin/hosts/{host}/simulate"},
    {A, "POST", "/v1/admin/sizes"},
    {A, "PATCH", "/v1/admin/sizes/{size}"},
    {A, "POST", "/v1/admin/images"},
    {A, "PATCH", "/v1/admin/images/{image}"},
    {A, "POST", "/v1/admin/galleryItems"},
    {A, "PATCH", "/v1/admin/galleryItems/{gallery}"},
    {A, "POST", "/v1/admin/plans"},
    {A, "PATCH", "/v1/admin/plans/{plan}"},
    {A, "POST", "/v1/admin/users"},
    {A, "PATCH", "/v1/admin/users/{user}"},
    {A, "POST", "/v1/admin/users/{user}/tokens"},
    {A, "POST", "/v1/admin/tokens"},
    {A, "POST", "/v1/admin/subscriptions"},
    {A, "PATCH", "/v1/admin/subscriptions/{sub}"},
    {A, "POST", "/v1/admin/vms/{vm}/reassociate"},
    {A, "POST", "/v1/admin/vms/{vm}/migrate"},
    {A, "POST", "/v1/admin/vmroles/{role}/join"},
    {A, "POST", "/v1/admin/checkpoints/prune"},
    {A, "POST", "/v1/admin/usage/ack"},
    {A, "POST", "/v1/admin/hooks"},
    {A, "PATCH", "/v1/admin/hooks/{hook}"},
    {A, "POST", "/v1/admin/jobs/{job}/cancel"},
    {A, "POST", "/v1/admin/jobs/{job}/restart"},
    {T, "POST", "/v1/subscriptions/{sub}/snapshots"},
    {T, "POST", "/v1/subscriptions/{sub}/vms"},
    {T, "PATCH", "/v1/subscriptions/{sub}/vms/{vm}"},
    {T, "POST", "/v1/subscriptions/{sub}/vms/{vm}/disks"},
    {T, "PUT", "/v1/subscriptions/{sub}/vms/{vm}/checkpoint"},
    {T, "POST", "/v1/subscriptions/{sub}/vms/{vm}/checkpoint/restore"},
    {T, "POST", "/v1/subscriptions/{sub}/vms/{vm}/generalize"},
    {T, "POST", "/v1/subscriptions/{sub}/vms/{vm}/capture"},
    {T, "POST", "/v1/subscriptions/{sub}/vms/{vm}/start"},
    {T, "POST", "/v1/subscriptions/{sub}/vms/{vm}/restart"},
    {T, "POST", "/v1/subscriptions/{sub}/vms/{vm}/deallocate"},
    {T, "POST", "/v1/subscriptions/{sub}/vmroles"},
    {T, "POST", "/v1/subscriptions/{sub}/vmroles/{role}/scale"},
    {T, "POST", "/v1/subscriptions/{sub}/networks"},
    {T, "POST", "/v1/subscriptions/{sub}/jobs/{job}/cancel"},
    {T, "POST", "/v1/subscriptions/{sub}/jobs/{job}/restart"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512], *text = NULL, *body = NULL;
    size_t i, len = size - 1, cap = len * 8 + 64;

    if (size < 1)
        return 0;
    fz_world();
    i = data[0] % (sizeof(routes) / sizeof(routes[0]));
    fz_path(routes[i].path, path, sizeof(path));
    if (memchr(data + 1, '\0', len) == NULL) { /* a text body: the world's ids put in */
        text = strndup((const char *) data + 1, len);
        body = malloc(cap);
        if (text == NULL || body == NULL)
            abort();
        fz_path(text, body, cap);
        len = strlen(body);
    }
    fz_run(routes[i].listener, routes[i].method, path, routes[i].listener == A ? fz_admin_h : fz_tenant_h,
           body ? body : (const char *) data + 1, len, NULL, NULL, 0);
    free(text);
    free(body);
    return 0;
}
