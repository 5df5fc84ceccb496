/*
 * tenant.c: handlers of the tenant listener.
 *
 * Every path under /v1/subscriptions/{sid} reaches these handlers only after the pipeline has loaded the
 * caller's subscription (r->sub) and its plan (r->plan) in the request's transaction; handlers use them and
 * never read them again. Anything a tenant may not see answers 404 exactly as a missing resource does.
 */
#include "internal.h"
#include "vmctx.h"

#include <string.h>

#include "../lib/accounts.h"
#include "../lib/catalog.h"
#include "../lib/vm.h"

void
api_tenant_subscriptions_list(api_req_t *r)
{
    store_filter_t f = {.field = "userId", .op = STORE_FILTER_EQ, .value = r->user_id};

    api_list_kind_views(r, &store_kind_subscription, &f, 1, accounts_subscription_view);
}

void
api_tenant_subscription_get(api_req_t *r)
{
    err_t err = {0};
    json_t *view = accounts_subscription_view(r->store, r->sub, &err);

    if (view == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_record(r, 200, view, r->sub_rev);
}

/* Lists kind, restricted to the plan's allow list (list_field) when that list is not empty. */
static void
list_allowed(api_req_t *r, const store_kind_t *kind, const char *list_field, const char *by)
{
    const json_t *allowed = json_object_get(r->plan, list_field);
    store_filter_t f;

    if (json_array_size(allowed) == 0) {
        api_list_kind(r, kind, NULL, 0);
    } else {
        f.field = by;
        f.op = STORE_FILTER_IN;
        f.value = NULL;
        f.values = allowed;
        api_list_kind(r, kind, &f, 1);
    }
}

/* The plan's images ("visibility": "public"), then the subscription's private images, one cursor across
 * both. */
void
api_tenant_images_list(api_req_t *r)
{
    vm_ctx_t c = api_vm_ctx(r);
    int64_t after, next = 0;
    err_t err = {0};
    json_t *list;
    int limit;

    if (api_paging(r, &limit, &after))
        return;
    list = vm_images_list(r->store, &c, after, limit, &next, &err);
    api_reply_page_or_err(r, list, limit, next, &err);
}

void
api_tenant_sizes_list(api_req_t *r)
{
    list_allowed(r, &store_kind_size, "sizeNames", "name");
}

void
api_tenant_gallery_list(api_req_t *r)
{
    list_allowed(r, &store_kind_gallery_item, "galleryItemIds", "id");
}
