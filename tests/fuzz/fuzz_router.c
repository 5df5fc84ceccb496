/*
 * fuzz_router.c: fuzz target for the router (api/router.c): a path and a method matched against the route
 * table of either listener. Input: the first byte picks the listener (bit 0) and the method (bits 1-3: the
 * five served, else a made-up one from the path's end), the rest is the path as libmicrohttpd hands it over.
 *
 * Checked against a reference matcher written here from the table's rule (same segments, literals equal,
 * a {param} any one non-empty segment, the first row wins): the same row or none; on a match the params
 * put back into the pattern give the path again; Allow names the row's methods and never overflows.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/internal.h"

/* Whether path matches pattern by the table's rule, read segment by segment. */
static int
ref_match(const char *pattern, const char *path)
{
    const char *p = pattern, *s = path;
    size_t pl, sl;

    if (*p != '/' || *s != '/')
        return 0;
    for (;;) {
        p++, s++;
        pl = strcspn(p, "/");
        sl = strcspn(s, "/");
        if (*p == '{' ? sl == 0 : pl != sl || strncmp(p, s, pl) != 0)
            return 0;
        p += pl, s += sl;
        if (*p == '\0' || *s == '\0')
            return *p == *s;
    }
}

static void
fail(const char *what, const char *path)
{
    fprintf(stderr, "fuzz router: %s for path '%s'\n", what, path);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "BREW"};
    static api_ctx_t ctx;
    api_listener_t listener;
    const api_route_t *route;
    char *path, back[4096], allow[64], tiny[9];
    api_req_t *r;
    int i, want = -1, k;
    size_t len;

    if (size < 1)
        return 0;
    listener = (data[0] & 1) ? API_LISTENER_TENANT : API_LISTENER_ADMIN;
    path = strndup((const char *) data + 1, size - 1);
    if (path == NULL)
        abort();
    r = api_req_new(&ctx, listener, NULL, NULL, path, methods[(data[0] >> 1) & 7]);
    if (r == NULL)
        abort();
    /* HEAD is read as GET (served as the GET without its body); other unknown methods as none. */
    k = data[0] >> 1 & 7;
    if (r->method_id != (k < API__METHODS                        ? (api_method_t) k
                         : strcmp(methods[k], "HEAD") == 0 ? API_GET
                                                           : API__METHODS))
        fail("method misread", path);
    for (i = 0; i < api_route_count && want < 0; i++)
        if (api_routes[i].listener == listener && ref_match(api_routes[i].pattern, path))
            want = i;
    route = api_route_match(r, listener, r->path);
    if ((route ? (int) (route - api_routes) : -1) != want)
        fail("not the reference's row", path);
    if (route != NULL) {
        /* The pattern with its params put back is the path. */
        const char *p = route->pattern;

        len = 0, k = 0;
        while (*p && len < sizeof(back) - 1) {
            if (*p == '{') {
                if (k >= r->nparams || strchr(r->params[k], '/') || r->params[k][0] == '\0')
                    fail("bad param", path);
                len += (size_t) snprintf(back + len, sizeof(back) - len, "%s", r->params[k++]);
                p += strcspn(p, "}") + 1;
            } else {
                back[len++] = *p++;
            }
        }
        back[len < sizeof(back) ? len : sizeof(back) - 1] = '\0';
        if (k != r->nparams || (strlen(path) < sizeof(back) - 1 && strcmp(back, path) != 0))
            fail("params do not give the path back", path);
        api_route_allow(route, allow, sizeof(allow));
        api_route_allow(route, tiny, sizeof(tiny));
        if (allow[0] == '\0' || strlen(tiny) >= sizeof(tiny) || strncmp(allow, tiny, strlen(tiny)) != 0)
            fail("Allow", path);
        if (r->method_id != API__METHODS && (route->handlers[r->method_id] != NULL) !=
                                                (strstr(allow, methods[r->method_id]) != NULL))
            fail("Allow disagrees with the handlers", path);
    } else if (r->nparams != 0) {
        fail("params left without a route", path);
    }
    api_req_free(r);
    free(path);
    return 0;
}
