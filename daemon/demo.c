/*
 * demo.c: the --demo world: one cloud, two simulated hosts, two images, four sizes, a gallery item, a public
 * plan with checkpoints enabled, and a user with a subscription and a token. Seeded through the same lib/
 * calls the admin API uses, in one transaction, only into an empty store.
 */
#include "demo.h"

#include <assert.h>
#include <string.h>

#include <jansson.h>

#include "../api/catalog.h"
#include "../lib/accounts.h"
#include "../lib/catalog.h"

static const char *
id_of(const json_t *rec)
{
    return json_string_value(json_object_get(rec, "id"));
}

static json_t *
must(json_t *rec, json_t **keep, int *nkeep)
{
    if (rec)
        keep[(*nkeep)++] = rec;
    return rec;
}

int
demo_seed(store_t *st, FILE *out, const char *admin_url, const char *tenant_url,
          const char *admin_token_hint)
{
    static const struct {
        const char *name;
        int cores, memory;
    } sizes[] = {{"Small", 1, 1792}, {"Medium", 2, 3584}, {"Large", 4, 7168}, {"ExtraLarge", 8, 14336}};
    json_t *keep[32], *cloud, *win, *lin, *gallery, *plan, *user, *sub, *tok, *body;
    err_t err = {0};
    int nkeep = 0, i, rc = -1;
    int64_t clouds, users;
    const char *token, *sid;

    assert(st != NULL && out != NULL);
    assert(admin_url != NULL && tenant_url != NULL && admin_token_hint != NULL);
    clouds = store_rec_count(st, &store_kind_cloud, NULL, 0, &err);
    users = store_rec_count(st, &store_kind_user, NULL, 0, &err);
    if (clouds < 0 || users < 0)
        goto report;
    if (clouds > 0 || users > 0) {
        fprintf(out, "wapd demo: the state dir already holds data, so nothing was seeded.\n"
                     "Start with an empty --state-dir to seed the demo world again.\n");
        fflush(out);
        return 0;
    }
    if (store_tx_begin(st, &err))
        goto report;

#define CREATE(var, fn, ...)                                                                       \
    do {                                                                                           \
        body = json_pack(__VA_ARGS__);                                                             \
        var = must(body ? fn(st, body, &err) : NULL, keep, &nkeep);                                \
        json_decref(body);                                                                         \
        if (var == NULL)                                                                           \
            goto rollback;                                                                         \
    } while (0)

    CREATE(cloud, api_catalog_cloud_create, "{s:s, s:s}", "name", "demo-cloud", "description",
           "The demo cloud seeded by wapd --demo");
    for (i = 1; i <= 2; i++) {
        char name[16];
        json_t *host;
        snprintf(name, sizeof(name), "hv-%02d", i);
        CREATE(host, api_catalog_host_create, "{s:s, s:s, s:{s:s, s:s}, s:{s:i, s:i, s:i}}", "name",
               name, "cloudId", id_of(cloud), "agent", "kind", "sim", "uri",
               "sim://?latencyMs=200&jitterMs=50", "capacity", "cores", 64, "memoryMB", 262144,
               "storageGB", 4096);
    }
    CREATE(win, api_catalog_image_create, "{s:s, s:s, s:i, s:i}", "name",
           "Windows Server 2022 Datacenter", "osType", "windows", "generation", 2, "osDiskGB", 127);
    CREATE(lin, api_catalog_image_create, "{s:s, s:s, s:i, s:i}", "name", "Ubuntu Server 22.04 LTS",
           "osType", "linux", "generation", 2, "osDiskGB", 30);
    for (i = 0; i < 4; i++) {
        json_t *size;
        CREATE(size, api_catalog_size_create, "{s:s, s:i, s:i}", "name", sizes[i].name, "cores",
               sizes[i].cores, "memoryMB", sizes[i].memory);
    }
    CREATE(gallery, api_catalog_gallery_item_create, "{s:s, s:s, s:s, s:s, s:i, s:i}", "name",
           "IIS Web Farm", "version", "1.0.0", "imageId", id_of(win), "defaultSize", "Small",
           "minInstances", 1, "maxInstances", 10);
    CREATE(plan, api_catalog_plan_create,
           "{s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:[s, s], s:[s, s, s], s:[s], s:s, "
           "s:i}",
           "name", "Demo Gold", "cloudId", id_of(cloud), "state", "public", "quotas", "vms", 10,
           "cores", 20, "memoryMB", 40960, "storageGB", 1000, "vmRoles", 3, "networks", 5,
           "imageIds", id_of(win), id_of(lin), "sizeNames", "Small", "Medium", "Large",
           "galleryItemIds", id_of(gallery), "checkpointMode", "createViewRestore",
           "checkpointRetentionHours", 168);
    user = must(accounts_user_create(st, &(accounts_user_req_t){.email = "tenant@example.com",
                                                                .name = "Demo Tenant"}, &err),
                keep, &nkeep);
    if (user == NULL)
        goto rollback;
    sub = must(accounts_subscription_create(
                   st, &(accounts_subscription_req_t){.user_id = id_of(user), .plan_id = id_of(plan),
                                                      .display_name = "Demo subscription"}, &err),
               keep, &nkeep);
    if (sub == NULL)
        goto rollback;
    tok = must(accounts_token_create(st, id_of(user), NULL, &err), keep, &nkeep);
    if (tok == NULL)
        goto rollback;
    if (store_tx_commit(st, &err))
        goto report;
#undef CREATE

    token = json_string_value(json_object_get(tok, "token"));
    sid = id_of(sub);
    fprintf(out,
            "wapd demo: seeded cloud 'demo-cloud', hosts hv-01 and hv-02, 2 images, 4 sizes, the\n"
            "plan 'Demo Gold' (checkpoints: createViewRestore) and the user tenant@example.com\n"
            "with one subscription.\n\n"
            "Tenant token (shown once): %s\n\n"
            "Try, as the tenant:\n"
            "  curl -s -H 'Authorization: Bearer %s' %s/v1/subscriptions\n"
            "  curl -s -H 'Authorization: Bearer %s' %s/v1/subscriptions/%s\n"
            "  curl -s -H 'Authorization: Bearer %s' %s/v1/subscriptions/%s/images\n"
            "  curl -s -H 'Authorization: Bearer %s' %s/v1/subscriptions/%s/sizes\n"
            "and as the admin:\n"
            "  curl -s -H \"Authorization: Bearer %s\" %s/v1/admin/plans\n"
            "  curl -s -H \"Authorization: Bearer %s\" %s/v1/admin/hosts\n\n",
            token, token, tenant_url, token, tenant_url, sid, token, tenant_url, sid, token,
            tenant_url, sid, admin_token_hint, admin_url, admin_token_hint, admin_url);
    fflush(out);
    rc = 0;
    goto cleanup;
rollback:
    store_tx_rollback(st);
report:
    fprintf(stderr, "{\"level\":\"error\",\"msg\":\"the demo could not be seeded\",\"detail\":\"%s\"}\n",
            err.message);
cleanup:
    for (i = 0; i < nkeep; i++)
        json_decref(keep[i]);
    return rc;
}
