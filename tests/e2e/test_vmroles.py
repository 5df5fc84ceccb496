"""VM roles: create, scale out and in within the gallery item's range, delete, instances as VMs with their
checkpoint slots, repair by retry and by skip, and a crash in the middle of a scale-out."""
from harness import Daemon, err, ok, sim_vms, uid, wait_for, wait_job
from test_vms import VmWorld


class RoleWorld(VmWorld):
    def __init__(self, d, lo=1, hi=6, **kw):
        super().__init__(d, **kw)
        self.item = ok(self.a.post("/v1/admin/galleryItems", {
            "name": "web", "version": "1.0", "imageId": self.image["id"], "defaultSize": self.small,
            "minInstances": lo, "maxInstances": hi}), 201)

    def role_path(self, rid=""):
        return self.base + "/vmroles" + ("/" + rid if rid else "")

    def role(self, rid):
        return ok(self.t.get(self.role_path(rid)), 200)

    def instances(self, rid):
        return [self.get(v) for v in self.role(rid)["instances"]]


def test_role_create_scale_delete(d):
    w = RoleWorld(d)
    r = w.t.post(w.role_path(), {"name": "web", "galleryItemId": w.item["id"], "instanceCount": 3})
    role = ok(r, 202)
    assert role["provisioningState"] == "creating" and role["size"] == w.small
    job = wait_job(w.t, r.header("Location"))
    assert job["status"] == "succeeded" and job["progress"] == 100
    assert [s["name"] for s in job["steps"]] == ["addInstance-1", "addInstance-2", "addInstance-3"]
    role = w.role(role["id"])
    assert role["provisioningState"] == "succeeded" and role["instanceCount"] == 3
    vms = w.instances(role["id"])
    assert [v["name"] for v in vms] == ["web-1", "web-2", "web-3"]
    assert all(v["vmRoleId"] == role["id"] and v["powerState"] == "running" for v in vms)
    assert {v["id"] for v in ok(w.t.get(w.base + "/vms"), 200)["value"]} == {v["id"] for v in vms}
    assert w.usage()["vmRoles"] == 1 and w.usage()["vms"] == 3
    # Scale out to 5, in to 2 (the highest numbers go first).
    r = w.t.post(w.role_path(role["id"]) + "/scale", {"instanceCount": 5})
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert [v["name"] for v in w.instances(role["id"])] == ["web-1", "web-2", "web-3", "web-4", "web-5"]
    r = w.t.post(w.role_path(role["id"]) + "/scale", {"instanceCount": 2})
    job = wait_job(w.t, r.header("Location"))
    assert [s["name"] for s in job["steps"]] == ["removeInstance-5", "removeInstance-4", "removeInstance-3"]
    assert [v["name"] for v in w.instances(role["id"])] == ["web-1", "web-2"]
    assert w.role(role["id"])["instanceCount"] == 2 and w.usage()["vms"] == 2
    # Out of the gallery item's range: 400.
    err(w.t.post(w.role_path(role["id"]) + "/scale", {"instanceCount": 7}), 400, "InvalidRequest",
        "instanceCount")
    err(w.t.post(w.role_path(role["id"]) + "/scale", {"instanceCount": 0}), 400, "InvalidRequest",
        "instanceCount")
    err(w.t.post(w.role_path(), {"name": "x", "galleryItemId": w.item["id"], "instanceCount": 9}), 400,
        "InvalidRequest", "instanceCount")
    err(w.t.post(w.role_path(), {"name": "x", "galleryItemId": uid(), "instanceCount": 1}), 400,
        "InvalidRequest", "galleryItemId")
    # An instance's checkpoint slot works through its VM path.
    inst = w.instances(role["id"])[0]
    r = w.t.request("PUT", w.base + "/vms/%s/checkpoint" % inst["id"], body={"name": "inst-cp"})
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert ok(w.t.get(w.base + "/vms/%s/checkpoint" % inst["id"]), 200)["name"] == "inst-cp"
    assert w.act(inst["id"], "stop")["powerState"] == "stopped"
    # Delete removes the instances, then the role.
    r = w.t.delete(w.role_path(role["id"]))
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    err(w.t.get(w.role_path(role["id"])), 404, "NotFound")
    assert ok(w.t.get(w.base + "/vms"), 200)["value"] == []
    assert w.usage() == {"vms": 0, "cores": 0, "memoryMB": 0, "storageGB": 0, "vmRoles": 0, "networks": 0}
    assert sim_vms(d.state_dir, w.hosts[0]["id"]) == {}
    assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}


def test_repair_with_retry_and_skip(d):
    w = RoleWorld(d)
    host = "/v1/admin/hosts/" + w.hosts[0]["id"]
    ok(w.a.patch(host, {"agent": {"uri": "sim://?failRate=1"}}), 200)
    r = w.t.post(w.role_path(), {"name": "rep", "galleryItemId": w.item["id"], "instanceCount": 2})
    rid = r.json()["id"]
    job = wait_job(w.t, r.header("Location"))
    assert job["status"] == "failed" and job["steps"][0]["status"] == "failed"
    assert w.role(rid)["provisioningState"] == "failed"
    failed = w.instances(rid)
    assert [v["provisioningState"] for v in failed] == ["failed"]
    assert w.usage()["vms"] == 0  # a failed instance holds nothing
    # Retry: the host works again; the failed instance is made anew, then the rest.
    ok(w.a.patch(host, {"agent": {"uri": "sim://"}}), 200)
    again = ok(w.t.post(w.base + "/jobs/%s/restart" % job["id"], {"skipLastFailedStep": False}), 200)
    assert again["id"] == job["id"]
    done = wait_job(w.t, r.header("Location"))
    assert done["status"] == "succeeded"
    assert [(v["name"], v["provisioningState"]) for v in w.instances(rid)] == [("rep-1", "succeeded"),
                                                                             ("rep-2", "succeeded")]
    assert w.role(rid)["provisioningState"] == "succeeded"
    # Skip: a scale-out whose new instance fails is repaired by skipping it.
    ok(w.a.patch(host, {"agent": {"uri": "sim://?failRate=1"}}), 200)
    r = w.t.post(w.role_path(rid) + "/scale", {"instanceCount": 3})
    job = wait_job(w.t, r.header("Location"))
    assert job["status"] == "failed"
    ok(w.a.patch(host, {"agent": {"uri": "sim://"}}), 200)
    ok(w.t.post(w.base + "/jobs/%s/restart" % job["id"], {"skipLastFailedStep": True}), 200)
    done = wait_job(w.t, r.header("Location"))
    assert done["status"] == "succeeded" and done["steps"][0]["status"] == "skipped"
    assert w.role(rid)["provisioningState"] == "succeeded"
    states = [(v["name"], v["provisioningState"]) for v in w.instances(rid)]
    assert states == [("rep-1", "succeeded"), ("rep-2", "succeeded"), ("rep-3", "failed")]
    assert w.usage()["vms"] == 2
    assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}


def test_crash_in_the_middle_of_a_scale_out():
    d = Daemon().start()
    try:
        w = RoleWorld(d, hi=10, hosts=("sim://?latencyMs=60",))
        r = w.t.post(w.role_path(), {"name": "c", "galleryItemId": w.item["id"], "instanceCount": 1})
        rid = r.json()["id"]
        wait_job(w.t, r.header("Location"))
        r = w.t.post(w.role_path(rid) + "/scale", {"instanceCount": 8})
        loc = r.header("Location")
        wait_for(lambda: 0 < ok(w.t.get(loc), 200)["progress"], 30, "the scale-out to be under way")
        d.kill9()
        d.start()
        w.t, w.a = d.tenant(w.token), d.admin()
        assert wait_job(w.t, loc, 60)["status"] == "succeeded"
        vms = w.instances(rid)
        assert [v["name"] for v in vms] == ["c-%d" % i for i in range(1, 9)]
        assert all(v["provisioningState"] == "succeeded" and v["powerState"] == "running" for v in vms)
        # No orphan on the host: it has exactly the instances' VMs.
        hyp = {ok(w.a.get("/v1/admin/vms/" + v["id"]), 200)["hypervisorId"] for v in vms}
        assert set(sim_vms(d.state_dir, w.hosts[0]["id"])) == hyp
        assert w.usage()["vms"] == 8
    finally:
        d.cleanup()
