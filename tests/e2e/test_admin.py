"""Admin resources: clouds, hosts, sizes, images, gallery items, plans, users, tokens, subscriptions."""
import json
from harness import World, err, ok, uid, wait_job


def test_cloud_lifecycle(d):
    a = d.admin()
    c = ok(a.post("/v1/admin/clouds", {"name": "east", "description": "first"}), 201)
    assert c["name"] == "east" and c["description"] == "first"
    r = a.get("/v1/admin/clouds/" + c["id"])
    assert ok(r, 200) == c
    assert r.header("ETag") == '"1"'
    c2 = ok(a.patch("/v1/admin/clouds/" + c["id"], {"description": None}), 200)
    assert c2["description"] is None and c2["name"] == "east"
    # Optional fields are present as null.
    c3 = ok(a.post("/v1/admin/clouds", {"name": "bare"}), 201)
    assert c3["description"] is None
    assert a.delete("/v1/admin/clouds/" + c["id"]).status == 204
    err(a.get("/v1/admin/clouds/" + c["id"]), 404, "NotFound")
    err(a.delete("/v1/admin/clouds/" + c["id"]), 404, "NotFound")


def test_cloud_in_use_is_409(d):
    a = d.admin()
    c = ok(a.post("/v1/admin/clouds", {"name": "busy"}), 201)
    h = ok(a.post("/v1/admin/hosts", {"name": "h", "cloudId": c["id"], "agent": {"kind": "sim"},
                                      "capacity": {"cores": 8, "memoryMB": 8192, "storageGB": 100}}), 201)
    err(a.delete("/v1/admin/clouds/" + c["id"]), 409, "Conflict")
    assert a.delete("/v1/admin/hosts/" + h["id"]).status == 204
    p = ok(a.post("/v1/admin/plans", {"name": "p", "cloudId": c["id"]}), 201)
    err(a.delete("/v1/admin/clouds/" + c["id"]), 409, "Conflict")
    assert a.delete("/v1/admin/plans/" + p["id"]).status == 204
    assert a.delete("/v1/admin/clouds/" + c["id"]).status == 204


def test_hosts(d):
    a = d.admin()
    c = ok(a.post("/v1/admin/clouds", {"name": "hc"}), 201)
    body = {"name": "hv1", "cloudId": c["id"],
            "agent": {"kind": "sim", "uri": "sim://?latencyMs=200&jitterMs=50&failRate=0.05&hangRate=0.01"},
            "capacity": {"cores": 32, "memoryMB": 65536, "storageGB": 2000}}
    h = ok(a.post("/v1/admin/hosts", body), 201)
    assert h["state"] == "ok"
    assert h["allocated"] == {"cores": 0, "memoryMB": 0, "storageGB": 0}
    assert h["capacity"] == body["capacity"] and h["agent"] == body["agent"]
    assert h["lastSeenAt"] is not None
    # An http host's token is write-only; its uri is checked by the http driver.
    hb = dict(body, name="remote", agent={"kind": "http", "uri": "http://127.0.0.1:1", "token": "s3cret"})
    rh = ok(a.post("/v1/admin/hosts", hb), 201)
    assert rh["agent"] == {"kind": "http", "uri": "http://127.0.0.1:1"}
    assert ok(a.get("/v1/admin/hosts/" + rh["id"]), 200)["agent"] == rh["agent"]
    assert "s3cret" not in json.dumps(ok(a.get("/v1/admin/hosts"), 200))
    err(a.post("/v1/admin/hosts", dict(hb, agent={"kind": "http", "uri": "ftp://x"})), 400, "InvalidRequest",
        "agent.uri")
    err(a.post("/v1/admin/hosts", dict(hb, agent={"kind": "http"})), 400, "InvalidRequest", "agent.uri")
    ok(a.delete("/v1/admin/hosts/" + rh["id"]), 204)
    # A kind no driver serves is refused with a clear 400 that names the kinds there are.
    e = err(a.post("/v1/admin/hosts", dict(body, agent={"kind": "vmware"})), 400, "InvalidRequest", "agent.kind")
    assert "sim" in e["error"]["message"]
    err(a.post("/v1/admin/hosts", dict(body, cloudId=uid())), 400, "InvalidRequest", "cloudId")
    err(a.post("/v1/admin/hosts", dict(body, agent={"kind": "sim", "uri": "sim://?failRate=2"})),
        400, "InvalidRequest", "agent.uri")
    err(a.post("/v1/admin/hosts", dict(body, agent={"kind": "sim", "uri": "sim://?bogus=1"})),
        400, "InvalidRequest", "agent.uri")
    err(a.post("/v1/admin/hosts", dict(body, capacity={"cores": 0, "memoryMB": 1, "storageGB": 1})),
        400, "InvalidRequest", "capacity.cores")
    err(a.post("/v1/admin/hosts", dict(body, capacity={"cores": 1, "memoryMB": 1})),
        400, "InvalidRequest", "capacity.storageGB")
    h2 = ok(a.patch("/v1/admin/hosts/" + h["id"], {"state": "maintenance", "capacity": {"cores": 64},
                                                    "agent": {"uri": "sim://?latencyMs=0"}}), 200)
    assert h2["state"] == "maintenance"
    assert h2["capacity"] == {"cores": 64, "memoryMB": 65536, "storageGB": 2000}
    assert h2["agent"] == {"kind": "sim", "uri": "sim://?latencyMs=0"}
    err(a.patch("/v1/admin/hosts/" + h["id"], {"state": "unreachable"}), 400, "InvalidRequest", "state")
    err(a.patch("/v1/admin/hosts/" + h["id"], {"agent": {"kind": "libvirt"}}), 400, "InvalidRequest", "agent.kind")
    listed = ok(a.get("/v1/admin/hosts?cloudId=" + c["id"]), 200)["value"]
    assert [x["id"] for x in listed] == [h["id"]]
    assert a.delete("/v1/admin/hosts/" + h["id"]).status == 204


def test_sizes_images_gallery(d):
    a = d.admin()
    name = "Sz" + uid()[:6]
    s = ok(a.post("/v1/admin/sizes", {"name": name, "cores": 2, "memoryMB": 3584}), 201)
    assert s["name"] == name
    err(a.post("/v1/admin/sizes", {"name": name, "cores": 2, "memoryMB": 3584}), 409, "Conflict", "name")
    err(a.post("/v1/admin/sizes", {"name": "x", "cores": "2", "memoryMB": 3584}), 400, "InvalidRequest", "cores")
    img = ok(a.post("/v1/admin/images", {"name": "ubuntu", "osType": "linux", "generation": 2, "osDiskGB": 30}), 201)
    err(a.post("/v1/admin/images", {"name": "x", "osType": "beos", "generation": 2, "osDiskGB": 30}),
        400, "InvalidRequest", "osType")
    err(a.post("/v1/admin/images", {"name": "x", "osType": "linux", "generation": 3, "osDiskGB": 30}),
        400, "InvalidRequest", "generation")
    g = ok(a.post("/v1/admin/galleryItems", {"name": "web", "version": "1.0.0", "imageId": img["id"],
                                             "defaultSize": name, "minInstances": 1, "maxInstances": 10}), 201)
    assert ok(a.get("/v1/admin/galleryItems/" + g["id"]), 200) == g
    err(a.post("/v1/admin/galleryItems", {"name": "web", "version": "1", "imageId": uid(),
                                          "defaultSize": name, "minInstances": 1, "maxInstances": 2}),
        400, "InvalidRequest", "imageId")
    err(a.post("/v1/admin/galleryItems", {"name": "web", "version": "1", "imageId": img["id"],
                                          "defaultSize": "NoSuchSize", "minInstances": 1, "maxInstances": 2}),
        400, "InvalidRequest", "defaultSize")
    err(a.post("/v1/admin/galleryItems", {"name": "web", "version": "1", "imageId": img["id"],
                                          "defaultSize": name, "minInstances": 3, "maxInstances": 2}),
        400, "InvalidRequest", "minInstances")


def test_plans(d):
    w = World(d)
    a = w.a
    p = w.plan
    assert p["state"] == "public"
    assert p["quotas"] == {"vms": 5, "cores": 10, "memoryMB": None, "storageGB": None,
                           "vmRoles": None, "networks": None}
    assert p["galleryItemIds"] == [] and p["checkpointRetentionHours"] is None
    bare = ok(a.post("/v1/admin/plans", {"name": "bare", "cloudId": w.cloud["id"]}), 201)
    assert bare["state"] == "private" and bare["checkpointMode"] == "disabled"
    assert bare["imageIds"] == [] and bare["sizeNames"] == []
    assert all(v is None for v in bare["quotas"].values())
    err(a.post("/v1/admin/plans", {"name": "x", "cloudId": w.cloud["id"], "imageIds": [uid()]}),
        400, "InvalidRequest", "imageIds[0]")
    err(a.post("/v1/admin/plans", {"name": "x", "cloudId": w.cloud["id"], "sizeNames": [w.size_name, "Nope"]}),
        400, "InvalidRequest", "sizeNames[1]")
    err(a.post("/v1/admin/plans", {"name": "x", "cloudId": w.cloud["id"], "checkpointMode": "always"}),
        400, "InvalidRequest", "checkpointMode")
    err(a.post("/v1/admin/plans", {"name": "x", "cloudId": w.cloud["id"], "quotas": {"cpus": 1}}),
        400, "InvalidRequest", "quotas.cpus")
    err(a.post("/v1/admin/plans", {"name": "x", "cloudId": w.cloud["id"], "quotas": {"vms": -1}}),
        400, "InvalidRequest", "quotas.vms")
    err(a.post("/v1/admin/plans", {"name": "x", "cloudId": uid()}), 400, "InvalidRequest", "cloudId")
    # PATCH answers 202 with the plan-update job; the new mode reaches the plan's subscriptions.
    tenant, sub, _ = w.tenant()
    r = a.patch("/v1/admin/plans/" + p["id"], {"checkpointMode": "viewRestore", "quotas": {"vms": None, "cores": 4}})
    job = ok(r, 202)
    assert job["kind"] == "plan.update" and job["resourceId"] == p["id"]
    assert r.header("Location") == "/v1/admin/jobs/" + job["id"]
    assert r.header("Retry-After") is not None
    j = wait_job(a, r.header("Location"))
    assert j["status"] == "succeeded" and j["progress"] == 100
    assert all(s["status"] == "succeeded" for s in j["steps"])
    p2 = ok(a.get("/v1/admin/plans/" + p["id"]), 200)
    assert p2["checkpointMode"] == "viewRestore"
    assert p2["quotas"]["vms"] is None and p2["quotas"]["cores"] == 4
    assert ok(tenant.get("/v1/subscriptions/" + sub["id"]), 200)["checkpointMode"] == "viewRestore"
    # A plan with subscriptions cannot be deleted.
    err(a.delete("/v1/admin/plans/" + p["id"]), 409, "Conflict")
    assert a.delete("/v1/admin/plans/" + bare["id"]).status == 204


def test_creates_require_their_fields(d):
    """Every field a create needs is required, each missing one a 400 naming it; a plan PATCH may still
    leave its name out."""
    w = World(d)
    a = w.a
    bodies = {
        "/v1/admin/clouds": {"name": "c"},
        "/v1/admin/hosts": {"name": "h", "cloudId": w.cloud["id"], "agent": {"kind": "sim"},
                            "capacity": {"cores": 1, "memoryMB": 1, "storageGB": 1}},
        "/v1/admin/sizes": {"name": "S" + uid()[:6], "cores": 1, "memoryMB": 512},
        "/v1/admin/images": {"name": "i", "osType": "linux", "generation": 2, "osDiskGB": 10},
        "/v1/admin/galleryItems": {"name": "g", "version": "1", "imageId": w.image["id"],
                                   "defaultSize": w.size_name, "minInstances": 1, "maxInstances": 1},
        "/v1/admin/plans": {"name": "p", "cloudId": w.cloud["id"]},
    }
    for path, body in bodies.items():
        for field in body:
            partial = {k: v for k, v in body.items() if k != field}
            err(a.post(path, partial), 400, "InvalidRequest", field)
    p = ok(a.post("/v1/admin/plans", {"name": "named", "cloudId": w.cloud["id"],
                                      "checkpointRetentionHours": 24, "imageIds": [w.image["id"]]}), 201)
    r = a.patch("/v1/admin/plans/" + p["id"], {"checkpointRetentionHours": None, "imageIds": None})
    assert wait_job(a, r.header("Location"))["status"] == "succeeded"
    p2 = ok(a.get("/v1/admin/plans/" + p["id"]), 200)
    assert p2["name"] == "named" and p2["checkpointRetentionHours"] is None and p2["imageIds"] == []


def test_users_tokens_subscriptions(d):
    w = World(d)
    a = w.a
    email = uid()[:8] + "@Example.com"
    u = ok(a.post("/v1/admin/users", {"email": email, "name": "Ann"}), 201)
    err(a.post("/v1/admin/users", {"email": email.lower()}), 409, "Conflict", "email")
    err(a.post("/v1/admin/users", {"email": "not-an-email"}), 400, "InvalidRequest", "email")
    assert ok(a.get("/v1/admin/users/" + u["id"]), 200)["email"] == email
    t = ok(a.post("/v1/admin/users/%s/tokens" % u["id"], {"expiresInDays": 7}), 201)
    assert set(t) >= {"id", "token", "expiresAt"}
    # The token is 256 random bits; it is never shown again.
    listed = ok(a.get("/v1/admin/users/%s/tokens" % u["id"]), 200)["value"]
    assert [x["id"] for x in listed] == [t["id"]]
    assert "token" not in listed[0] and "hash" not in listed[0]
    err(a.post("/v1/admin/users/%s/tokens" % uid()), 404, "NotFound")
    s = ok(a.post("/v1/admin/subscriptions", {"userId": u["id"], "planId": w.plan["id"], "displayName": "dev"}), 201)
    assert s["state"] == "active" and s["userId"] == u["id"] and s["planId"] == w.plan["id"]
    tenant = d.tenant(t["token"])
    assert ok(tenant.get("/v1/subscriptions/" + s["id"]), 200)["id"] == s["id"]
    # Revocation works at once.
    assert a.delete("/v1/admin/users/%s/tokens/%s" % (u["id"], t["id"])).status == 204
    err(tenant.get("/v1/subscriptions/" + s["id"]), 401, "Unauthorized")
    err(a.delete("/v1/admin/users/%s/tokens/%s" % (u["id"], t["id"])), 404, "NotFound")
    err(a.post("/v1/admin/subscriptions", {"userId": uid(), "planId": w.plan["id"]}), 400, "InvalidRequest", "userId")
    err(a.post("/v1/admin/subscriptions", {"userId": u["id"], "planId": uid()}), 400, "InvalidRequest", "planId")
    listed = ok(a.get("/v1/admin/subscriptions?userId=" + u["id"]), 200)["value"]
    assert [x["id"] for x in listed] == [s["id"]]


def test_decommissioned_plan_takes_no_subscription(d):
    w = World(d)
    a = w.a
    u = ok(a.post("/v1/admin/users", {"email": uid()[:8] + "@example.com"}), 201)
    p = ok(a.post("/v1/admin/plans", {"name": "old", "cloudId": w.cloud["id"], "state": "decommissioned"}), 201)
    err(a.post("/v1/admin/subscriptions", {"userId": u["id"], "planId": p["id"]}), 409, "Conflict")


def test_subscription_suspend_resume_delete(d):
    w = World(d)
    a = w.a
    tenant, sub, _ = w.tenant()
    r = a.patch("/v1/admin/subscriptions/" + sub["id"], {"state": "suspended"})
    job = ok(r, 202)
    assert job["kind"] == "subscription.suspend" and job["status"] in ("queued", "running", "succeeded")
    # The state changes at once; the job stops the VMs.
    assert ok(a.get("/v1/admin/subscriptions/" + sub["id"]), 200)["state"] == "suspended"
    assert wait_job(a, r.header("Location"))["status"] == "succeeded"
    assert ok(tenant.get("/v1/subscriptions/" + sub["id"]), 200)["state"] == "suspended"
    # The tenant sees its subscription's jobs.
    tj = ok(tenant.get("/v1/subscriptions/%s/jobs/%s" % (sub["id"], job["id"])), 200)
    assert tj["id"] == job["id"]
    assert [x["id"] for x in ok(tenant.get("/v1/subscriptions/%s/jobs" % sub["id"]), 200)["value"]] == [job["id"]]
    s2 = ok(a.patch("/v1/admin/subscriptions/" + sub["id"], {"state": "active"}), 200)
    assert s2["state"] == "active"
    err(a.patch("/v1/admin/subscriptions/" + sub["id"], {"state": "deleted"}), 400, "InvalidRequest", "state")
    r = a.delete("/v1/admin/subscriptions/" + sub["id"])
    job = ok(r, 202)
    assert job["kind"] == "subscription.delete"
    assert r.header("Location") == "/v1/admin/jobs/" + job["id"]
    assert wait_job(a, r.header("Location"))["status"] == "succeeded"
    err(a.get("/v1/admin/subscriptions/" + sub["id"]), 404, "NotFound")
    err(tenant.get("/v1/subscriptions/" + sub["id"]), 404, "NotFound")


def test_tenant_catalog_follows_plan(d):
    w = World(d)
    tenant, sub, _ = w.tenant()
    base = "/v1/subscriptions/" + sub["id"]
    imgs = ok(tenant.get(base + "/images"), 200)["value"]
    assert [i["id"] for i in imgs] == [w.image["id"]]
    sizes = ok(tenant.get(base + "/sizes"), 200)["value"]
    assert [s["name"] for s in sizes] == [w.size_name]
    # An empty allow list means all.
    gis = ok(tenant.get(base + "/galleryItems"), 200)["value"]
    assert w.gallery["id"] in [g["id"] for g in gis]
    view = ok(tenant.get(base), 200)
    assert set(view) >= {"id", "displayName", "state", "planId", "planName", "quotas", "usage", "checkpointMode"}
    assert view["planName"] == "gold" and view["quotas"]["memoryMB"] is None
    assert view["usage"] == {"vms": 0, "cores": 0, "memoryMB": 0, "storageGB": 0, "vmRoles": 0, "networks": 0}
    mine = ok(tenant.get("/v1/subscriptions"), 200)["value"]
    assert [s["id"] for s in mine] == [sub["id"]]
