"""Host inventory and the re-association story: a role instance reappears under a new hypervisor id
after a (simulated) storage incident; a refresh shows its record unknown and the VM unmanaged;
re-association puts the record back on it with its id, role, checkpoint and power actions. Join adopts a
stand-alone VM, or an unmanaged one, into a role."""
from harness import err, ok, uid, wait_job
from test_vmroles import RoleWorld


def refresh(w):
    r = w.a.post("/v1/admin/hosts/%s/refresh" % w.hosts[0]["id"])
    job = ok(r, 202)
    assert job["kind"] == "host.refresh"
    assert wait_job(w.a, r.header("Location"))["status"] == "succeeded"


def unmanaged(w):
    return ok(w.a.get("/v1/admin/hosts/%s/unmanaged" % w.hosts[0]["id"]), 200)["value"]


def test_reassociation_story(d):
    w = RoleWorld(d)
    r = w.t.post(w.role_path(), {"name": "web", "galleryItemId": w.item["id"], "instanceCount": 2})
    rid = r.json()["id"]
    wait_job(w.t, r.header("Location"))
    inst = w.instances(rid)[0]
    r = w.t.request("PUT", w.base + "/vms/%s/checkpoint" % inst["id"], body={"name": "before-incident"})
    wait_job(w.t, r.header("Location"))
    old = ok(w.a.get("/v1/admin/vms/" + inst["id"]), 200)
    refresh(w)
    assert unmanaged(w) == []
    # The incident: the VM reappears under a new hypervisor id.
    res = ok(w.a.post("/v1/admin/hosts/%s/simulate" % w.hosts[0]["id"], {"regenerateIds": [inst["id"]]}), 200)
    (entry,) = res["regenerated"]
    assert entry["vmId"] == inst["id"] and entry["oldHypervisorId"] == old["hypervisorId"]
    new_hyp = entry["newHypervisorId"]
    assert new_hyp != old["hypervisorId"]
    refresh(w)
    assert w.get(inst["id"])["powerState"] == "unknown"
    listed = unmanaged(w)
    assert [(u["hypervisorId"], u["name"], u["powerState"]) for u in listed] == [(new_hyp, "web-1", "running")]
    # Power actions cannot work on a VM the host does not have under that id.
    err(w.t.post(w.base + "/vms/%s/stop" % inst["id"]), 409, "InvalidPowerState")
    # Re-associate: same id, same role, checkpoint intact, power actions work again.
    err(w.a.post("/v1/admin/vms/%s/reassociate" % inst["id"], {"hostId": w.hosts[0]["id"],
                                                               "hypervisorId": "sim-nope"}),
        400, "InvalidRequest", "hypervisorId")
    err(w.a.post("/v1/admin/vms/%s/reassociate" % inst["id"], {"hostId": uid(), "hypervisorId": new_hyp}),
        400, "InvalidRequest", "hostId")
    back = ok(w.a.post("/v1/admin/vms/%s/reassociate" % inst["id"], {"hostId": w.hosts[0]["id"],
                                                                     "hypervisorId": new_hyp}), 200)
    assert back["id"] == inst["id"] and back["hypervisorId"] == new_hyp and back["vmRoleId"] == rid
    assert back["powerState"] == "running" and back["checkpoint"]["name"] == "before-incident"
    # A second record cannot take the same VM.
    other = w.instances(rid)[1]
    err(w.a.post("/v1/admin/vms/%s/reassociate" % other["id"], {"hostId": w.hosts[0]["id"],
                                                                "hypervisorId": new_hyp}), 409, "Conflict")
    assert w.act(inst["id"], "stop")["powerState"] == "stopped"
    assert w.act(inst["id"], "start")["powerState"] == "running"
    r = w.t.post(w.base + "/vms/%s/checkpoint/restore" % inst["id"])
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert unmanaged(w) == []
    refresh(w)
    assert unmanaged(w) == []
    assert w.role(rid)["instances"] == [inst["id"], other["id"]]
    assert w.host()["allocated"]["cores"] == 2
    assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}


def test_join_standalone_and_unmanaged(d):
    w = RoleWorld(d)
    r = w.t.post(w.role_path(), {"name": "app", "galleryItemId": w.item["id"], "instanceCount": 1})
    rid = r.json()["id"]
    wait_job(w.t, r.header("Location"))
    solo = w.create("solo")
    role = ok(w.a.post("/v1/admin/vmroles/%s/join" % rid, {"vmId": solo["id"]}), 200)
    assert solo["id"] in role["instances"] and role["instanceCount"] == 2
    assert w.get(solo["id"])["vmRoleId"] == rid
    err(w.a.post("/v1/admin/vmroles/%s/join" % rid, {"vmId": solo["id"]}), 409, "Conflict", "vmId")
    err(w.a.post("/v1/admin/vmroles/%s/join" % rid, {}), 400, "InvalidRequest", "vmId")
    err(w.a.post("/v1/admin/vmroles/%s/join" % uid(), {"vmId": solo["id"]}), 404, "NotFound")
    # An unmanaged VM: a stand-alone VM lost to an incident is adopted as a new instance record.
    lost = w.create("lost")
    res = ok(w.a.post("/v1/admin/hosts/%s/simulate" % w.hosts[0]["id"], {"regenerateIds": [lost["id"]]}), 200)
    hyp = res["regenerated"][0]["newHypervisorId"]
    refresh(w)
    role = ok(w.a.post("/v1/admin/vmroles/%s/join" % rid, {"hostId": w.hosts[0]["id"], "hypervisorId": hyp}),
              200)
    assert role["instanceCount"] == 3 and len(role["instances"]) == 3
    adopted = [v for v in w.instances(rid) if v["id"] not in (solo["id"],) and v["name"] == "lost"]
    assert len(adopted) == 1 and adopted[0]["id"] != lost["id"] and adopted[0]["powerState"] == "running"
    assert unmanaged(w) == []
    assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}


def test_simulate_checks_its_input(d):
    w = RoleWorld(d)
    vm = w.create("x")
    err(w.a.post("/v1/admin/hosts/%s/simulate" % w.hosts[0]["id"], {"regenerateIds": [uid()]}), 400,
        "InvalidRequest", "regenerateIds[0]")
    err(w.a.post("/v1/admin/hosts/%s/simulate" % w.hosts[0]["id"], {"regenerate": [vm["id"]]}), 400,
        "InvalidRequest", "regenerate")
    err(w.a.post("/v1/admin/hosts/%s/simulate" % uid(), {"regenerateIds": [vm["id"]]}), 404, "NotFound")
    err(w.a.get("/v1/admin/hosts/%s/unmanaged" % uid()), 404, "NotFound")
    err(w.a.post("/v1/admin/hosts/%s/refresh" % uid()), 404, "NotFound")
