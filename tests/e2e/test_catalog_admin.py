"""Admin PATCH and DELETE of sizes, images, gallery items and users; user suspend; cloud capacity."""
from harness import World, err, ok, uid, wait_for, wait_job
from test_vms import VmWorld


def test_size_patch_and_delete(d):
    a = d.admin()
    name = "P" + uid()[:8]
    s = ok(a.post("/v1/admin/sizes", {"name": name, "cores": 2, "memoryMB": 2048}), 201)
    r = a.patch("/v1/admin/sizes/" + s["id"], {"cores": 4, "memoryMB": 4096})
    s2 = ok(r, 200)
    assert s2["cores"] == 4 and s2["memoryMB"] == 4096 and s2["name"] == name
    assert r.header("ETag") is not None and r.header("ETag") == a.get("/v1/admin/sizes/" + s["id"]).header("ETag")
    dm = {"enabled": True, "minimumMB": 1024, "maximumMB": 8192}
    assert ok(a.patch("/v1/admin/sizes/" + s["id"], {"dynamicMemory": dm}), 200)["dynamicMemory"] == dm
    err(a.patch("/v1/admin/sizes/" + s["id"], {"dynamicMemory": dict(dm, minimumMB=5000)}), 400,
        "InvalidRequest", "dynamicMemory.minimumMB")
    err(a.patch("/v1/admin/sizes/" + s["id"], {"memoryMB": 9000}), 400, "InvalidRequest",
        "dynamicMemory.maximumMB")
    err(a.patch("/v1/admin/sizes/" + s["id"], {"dynamicMemory": {"enabled": True}}), 400, "InvalidRequest",
        "dynamicMemory.minimumMB")
    err(a.patch("/v1/admin/sizes/" + s["id"], {"dynamicMemory": dict(dm, enabled="yes")}), 400,
        "InvalidRequest", "dynamicMemory.enabled")
    assert ok(a.patch("/v1/admin/sizes/" + s["id"], {"dynamicMemory": None}), 200)["dynamicMemory"] is None
    err(a.patch("/v1/admin/sizes/" + s["id"], {"cores": "4"}), 400, "InvalidRequest", "cores")
    err(a.patch("/v1/admin/sizes/" + s["id"], {"colour": "red"}), 400, "InvalidRequest", "colour")
    other = ok(a.post("/v1/admin/sizes", {"name": "O" + uid()[:8], "cores": 1, "memoryMB": 512}), 201)
    err(a.patch("/v1/admin/sizes/" + s["id"], {"name": other["name"]}), 409, "Conflict", "name")
    renamed = ok(a.patch("/v1/admin/sizes/" + s["id"], {"name": name + "x"}), 200)
    assert renamed["name"] == name + "x"
    err(a.patch("/v1/admin/sizes/" + uid(), {"cores": 1}), 404, "NotFound")
    stale = {"If-Match": '"999"'}
    err(a.delete("/v1/admin/sizes/" + s["id"], headers=stale), 412, "PreconditionFailed")
    fresh = a.get("/v1/admin/sizes/" + s["id"]).header("ETag")
    assert a.delete("/v1/admin/sizes/" + s["id"], headers={"If-Match": fresh}).status == 204
    s = ok(a.post("/v1/admin/sizes", {"name": name, "cores": 2, "memoryMB": 2048}), 201)
    assert a.delete("/v1/admin/sizes/" + s["id"]).status == 204
    err(a.get("/v1/admin/sizes/" + s["id"]), 404, "NotFound")
    err(a.delete("/v1/admin/sizes/" + s["id"]), 404, "NotFound")


def test_size_in_use_is_409(d):
    w = VmWorld(d)
    a = w.a
    # Named by a plan: a delete names the plans; a rename is refused too (plans name sizes by name).
    sizes = {s["name"]: s for s in ok(a.get("/v1/admin/sizes"), 200)["value"]}
    medium = sizes[w.medium]
    err(a.delete("/v1/admin/sizes/" + medium["id"]), 409, "Conflict", "plans")
    err(a.patch("/v1/admin/sizes/" + medium["id"], {"name": "renamed" + uid()[:4]}), 409, "Conflict", "name")
    # Used by a VM (and named by the plan): the VMs are named first.
    small = sizes[w.small]
    vm = w.create("v1")
    err(a.delete("/v1/admin/sizes/" + small["id"]), 409, "Conflict", "vms")
    # A VM keeps its own cores and memory when its size changes.
    ok(a.patch("/v1/admin/sizes/" + small["id"], {"cores": 3, "memoryMB": 4096}), 200)
    after = w.get(vm["id"])
    assert after["cores"] == vm["cores"] == 1 and after["memoryMB"] == vm["memoryMB"] == 1792
    # A plan whose size list is empty (all) names none.
    free = ok(a.post("/v1/admin/sizes", {"name": "F" + uid()[:8], "cores": 1, "memoryMB": 512}), 201)
    ok(a.post("/v1/admin/plans", {"name": "all", "cloudId": w.cloud["id"]}), 201)
    assert a.delete("/v1/admin/sizes/" + free["id"]).status == 204


def test_image_patch_and_delete(d):
    w = VmWorld(d)
    a = w.a
    img = ok(a.post("/v1/admin/images", {"name": "spare", "osType": "linux", "generation": 1,
                                          "osDiskGB": 20}), 201)
    i2 = ok(a.patch("/v1/admin/images/" + img["id"], {"name": "spare2", "osDiskGB": 25, "osType": "windows",
                                                       "generation": 2}), 200)
    assert (i2["name"], i2["osDiskGB"], i2["osType"], i2["generation"]) == ("spare2", 25, "windows", 2)
    err(a.patch("/v1/admin/images/" + img["id"], {"osType": "solaris"}), 400, "InvalidRequest", "osType")
    # Used by a gallery item.
    size = ok(a.post("/v1/admin/sizes", {"name": "G" + uid()[:8], "cores": 1, "memoryMB": 512}), 201)
    gi = ok(a.post("/v1/admin/galleryItems", {"name": "g", "version": "1", "imageId": img["id"],
                                                "defaultSize": size["name"], "minInstances": 1,
                                                "maxInstances": 2}), 201)
    err(a.delete("/v1/admin/images/" + img["id"]), 409, "Conflict", "galleryItems")
    err(a.patch("/v1/admin/images/" + img["id"], {"generation": 1}), 409, "Conflict", "generation")
    assert a.delete("/v1/admin/galleryItems/" + gi["id"]).status == 204
    assert a.delete("/v1/admin/images/" + img["id"]).status == 204
    # The plan's image, used by a VM.
    w.create("v1")
    err(a.delete("/v1/admin/images/" + w.image["id"]), 409, "Conflict", "vms")
    err(a.patch("/v1/admin/images/" + w.image["id"], {"osType": "windows"}), 409, "Conflict", "osType")
    assert ok(a.patch("/v1/admin/images/" + w.image["id"], {"name": "ubuntu2"}), 200)["name"] == "ubuntu2"


def test_gallery_item_patch_and_delete(d):
    w = World(d)
    a = w.a
    path = "/v1/admin/galleryItems/" + w.gallery["id"]
    g = ok(a.patch(path, {"version": "2.0", "maxInstances": 9, "name": "web2"}), 200)
    assert (g["version"], g["maxInstances"], g["name"], g["minInstances"]) == ("2.0", 9, "web2", 1)
    err(a.patch(path, {"minInstances": 10}), 400, "InvalidRequest", "minInstances")
    err(a.patch(path, {"maxInstances": 0}), 400, "InvalidRequest", "maxInstances")
    err(a.patch(path, {"defaultSize": "nope" + uid()[:4]}), 400, "InvalidRequest", "defaultSize")
    err(a.patch(path, {"imageId": uid()}), 400, "InvalidRequest", "imageId")
    assert ok(a.get(path), 200)["version"] == "2.0"
    # Named by a plan.
    p = ok(a.post("/v1/admin/plans", {"name": "roles", "cloudId": w.cloud["id"],
                                       "galleryItemIds": [w.gallery["id"]]}), 201)
    err(a.delete(path), 409, "Conflict", "plans")
    # The gallery item names the size by name: the size is in use.
    err(a.delete("/v1/admin/sizes/" + w.size["id"]), 409, "Conflict", "galleryItems")
    assert a.delete("/v1/admin/plans/" + p["id"]).status == 204
    assert a.delete(path).status == 204
    err(a.get(path), 404, "NotFound")


def test_user_patch_and_delete(d):
    w = World(d)
    a = w.a
    u = ok(a.post("/v1/admin/users", {"email": uid()[:8] + "@example.com", "name": "n"}), 201)
    assert u["state"] == "active"
    other = ok(a.post("/v1/admin/users", {"email": uid()[:8] + "@example.com"}), 201)
    new_email = uid()[:8] + "@example.com"
    u2 = ok(a.patch("/v1/admin/users/" + u["id"], {"email": new_email, "name": None}), 200)
    assert u2["email"] == new_email and u2["name"] is None
    err(a.patch("/v1/admin/users/" + u["id"], {"email": other["email"]}), 409, "Conflict", "email")
    err(a.patch("/v1/admin/users/" + u["id"], {"email": "not-an-email"}), 400, "InvalidRequest", "email")
    err(a.patch("/v1/admin/users/" + u["id"], {"state": "deleted"}), 400, "InvalidRequest", "state")
    # A user with a subscription cannot be deleted.
    tenant, sub, tu = w.tenant()
    err(a.delete("/v1/admin/users/" + tu["id"]), 409, "Conflict", "subscriptions")
    # Without: its tokens go with it.
    tok = ok(a.post("/v1/admin/users/%s/tokens" % u["id"]), 201)
    t = d.tenant(tok["token"])
    assert t.get("/v1/subscriptions").status == 200
    assert a.delete("/v1/admin/users/" + u["id"]).status == 204
    err(a.get("/v1/admin/users/" + u["id"]), 404, "NotFound")
    assert t.get("/v1/subscriptions").status == 401
    types = [e["type"] for e in ok(a.get("/v1/admin/events?limit=1000"), 200)["value"]
             if e["resourceId"] == u["id"]]
    assert types == ["user.created", "user.updated", "user.deleted"]


def test_user_suspend_and_activate(d):
    w = VmWorld(d)
    a = w.a
    vm = w.create("v1")
    assert vm["powerState"] == "running"
    # A second subscription, suspended by the admin on its own before the user is.
    own = ok(a.post("/v1/admin/subscriptions", {"userId": w.user["id"], "planId": w.plan["id"]}), 201)
    wait_job(a, a.patch("/v1/admin/subscriptions/" + own["id"], {"state": "suspended"}).header("Location"))
    # A stale If-Match suspends nothing.
    err(a.patch("/v1/admin/users/" + w.user["id"], {"state": "suspended"}, headers={"If-Match": '"999"'}),
        412, "PreconditionFailed")
    assert ok(a.get("/v1/admin/subscriptions/" + w.sub["id"]), 200)["state"] == "active"
    u = ok(a.patch("/v1/admin/users/" + w.user["id"], {"state": "suspended"}), 200)
    assert u["state"] == "suspended"
    assert ok(a.get("/v1/admin/subscriptions/" + w.sub["id"]), 200)["state"] == "suspended"
    wait_for(lambda: w.get(vm["id"])["powerState"] == "stopped", 60, "the VM to stop")
    jobs = ok(a.get("/v1/admin/jobs?kind=subscription.suspend&resourceId=" + w.sub["id"]), 200)["value"]
    assert len(jobs) == 1
    assert wait_job(a, "/v1/admin/jobs/" + jobs[0]["id"])["status"] == "succeeded"
    # The token still authenticates; writes are refused through the subscription.
    assert ok(w.t.get(w.base), 200)["state"] == "suspended"
    err(w.t.post(w.base + "/vms", w.vm_body("v2")), 409, "SubscriptionSuspended")
    # A suspended user takes no new subscription.
    err(a.post("/v1/admin/subscriptions", {"userId": w.user["id"], "planId": w.plan["id"]}), 409, "Conflict",
        "userId")
    ev = [e for e in ok(a.get("/v1/admin/events?limit=1000"), 200)["value"] if e["type"] == "user.suspended"]
    assert ev[-1]["resourceId"] == w.user["id"] and ev[-1]["data"]["subscriptionIds"] == [w.sub["id"]]
    assert ev[-1]["data"]["jobIds"] == [jobs[0]["id"]]
    # Activating lifts what the suspend did, and only that.
    u = ok(a.patch("/v1/admin/users/" + w.user["id"], {"state": "active"}), 200)
    assert u["state"] == "active"
    assert ok(a.get("/v1/admin/subscriptions/" + w.sub["id"]), 200)["state"] == "active"
    assert ok(a.get("/v1/admin/subscriptions/" + own["id"]), 200)["state"] == "suspended"
    assert w.act(vm["id"], "start")["powerState"] == "running"
    ev = [e for e in ok(a.get("/v1/admin/events?limit=1000"), 200)["value"] if e["type"] == "user.activated"]
    assert ev[-1]["data"]["subscriptionIds"] == [w.sub["id"]]
    # Activating an active user changes nothing more.
    ok(a.patch("/v1/admin/users/" + w.user["id"], {"state": "active"}), 200)
    assert ok(a.get("/v1/admin/subscriptions/" + own["id"]), 200)["state"] == "suspended"


def test_cloud_capacity_is_the_sum_of_its_hosts(d):
    a = d.admin()
    c = ok(a.post("/v1/admin/clouds", {"name": "cap"}), 201)
    zero = {"cores": 0, "memoryMB": 0, "storageGB": 0}
    got = ok(a.get("/v1/admin/clouds/" + c["id"]), 200)
    assert got["hosts"] == 0 and got["capacity"] == zero and got["allocated"] == zero
    caps = [{"cores": 8, "memoryMB": 8192, "storageGB": 100}, {"cores": 16, "memoryMB": 4096, "storageGB": 50}]
    hosts = [ok(a.post("/v1/admin/hosts", {"name": "h%d" % i, "cloudId": c["id"], "agent": {"kind": "sim"},
                                            "capacity": cap}), 201) for i, cap in enumerate(caps)]
    # A host in maintenance still counts.
    ok(a.patch("/v1/admin/hosts/" + hosts[1]["id"], {"state": "maintenance"}), 200)
    got = ok(a.get("/v1/admin/clouds/" + c["id"]), 200)
    assert got["hosts"] == 2
    assert got["capacity"] == {"cores": 24, "memoryMB": 12288, "storageGB": 150}
    assert got["allocated"] == zero
    listed = [x for x in ok(a.get("/v1/admin/clouds"), 200)["value"] if x["id"] == c["id"]]
    assert listed[0]["capacity"] == got["capacity"] and listed[0]["hosts"] == 2


def test_cloud_allocated_follows_vms(d):
    w = VmWorld(d)
    w.create("v1")
    got = ok(w.a.get("/v1/admin/clouds/" + w.cloud["id"]), 200)
    host = w.host()
    assert got["allocated"] == host["allocated"] and got["allocated"]["cores"] == 1


def test_gallery_item_used_by_a_role(d):
    from test_vmroles import RoleWorld
    w = RoleWorld(d)
    a = w.a
    r = w.t.post(w.role_path(), {"name": "web", "galleryItemId": w.item["id"], "instanceCount": 1})
    role = ok(r, 202)
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    path = "/v1/admin/galleryItems/" + w.item["id"]
    err(a.delete(path), 409, "Conflict", "vmRoles")
    # A role's new instances come from its item's image: the image stays while roles use the item.
    other = ok(a.post("/v1/admin/images", {"name": "o", "osType": "linux", "generation": 2, "osDiskGB": 30}), 201)
    err(a.patch(path, {"imageId": other["id"]}), 409, "Conflict", "imageId")
    # Its range may change, and the role's scaling follows it.
    ok(a.patch(path, {"maxInstances": 2}), 200)
    err(w.t.post(w.role_path(role["id"]) + "/scale", {"instanceCount": 3}), 400, "InvalidRequest",
        "instanceCount")
    # The role's size is in use by the role (and its VM).
    sizes = {s["name"]: s for s in ok(a.get("/v1/admin/sizes"), 200)["value"]}
    err(a.delete("/v1/admin/sizes/" + sizes[w.small]["id"]), 409, "Conflict")
