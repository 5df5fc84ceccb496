"""Generalize, capture and private images: the story from a VM to an image to VMs made from it, a snapshot of
a data disk attached to another VM, and the bad input, each refused with nothing changed."""
from harness import Daemon, err, ok, uid, wait_for, wait_job
from test_hooks import feed
from test_vms import VmWorld


def image_world(d):
    """A VmWorld whose plan image has a 1 GB OS disk (clones are quick even at a slow copy rate)."""
    w = VmWorld(d)
    w.image = ok(w.a.post("/v1/admin/images", {"name": "tiny", "osType": "linux", "generation": 2,
                                               "osDiskGB": 1}), 201)
    r = w.a.patch("/v1/admin/plans/" + w.plan["id"], {"imageIds": [w.image["id"]]})
    assert wait_job(w.a, r.header("Location"))["status"] == "succeeded"
    return w


def generalized_vm(w, name="src"):
    """A VM with a 1 GB data disk at lun 2, stopped and generalized."""
    vm = w.create(name, dataDisks=[{"sizeGB": 1, "lun": 2}])
    w.act(vm["id"], "stop")
    r = w.t.post(w.base + "/vms/%s/generalize" % vm["id"])
    assert ok(r, 202)["kind"] == "vm.generalize"
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    vm = w.get(vm["id"])
    assert vm["osState"] == "generalized" and vm["powerState"] == "stopped"
    return vm


def capture(w, vm_id, name="golden"):
    r = w.t.post(w.base + "/vms/%s/capture" % vm_id, {"name": name})
    image = ok(r, 202)
    assert image["state"] == "creating" and image["visibility"] == "private"
    assert image["sourceVmId"] == vm_id and image["subscriptionId"] == w.sub["id"]
    assert not [k for k in image if k.startswith("_")]
    job = wait_job(w.t, r.header("Location"))
    assert job["status"] == "succeeded", job
    assert job["kind"] == "image.capture"
    return ok(w.t.get(w.base + "/images/" + image["id"]), 200)


def set_copy_rate(w, mbps):
    ok(w.a.patch("/v1/admin/hosts/" + w.hosts[0]["id"],
                 {"agent": {"uri": "sim://?copyMBps=%d" % mbps if mbps else "sim://"}}), 200)


def test_generalize_capture_create_delete(d):
    w = image_world(d)
    src = generalized_vm(w)
    used = w.usage()["storageGB"]
    image = capture(w, src["id"])
    assert image["state"] == "ready" and image["osDiskGB"] == 1
    assert image["dataDisks"] == [{"lun": 2, "sizeGB": 1}]
    assert image["osType"] == "linux" and image["generation"] == 2
    assert w.usage()["storageGB"] == used + 2
    # Listed after the plan's images, one cursor across both.
    listed = ok(w.t.get(w.base + "/images"), 200)["value"]
    assert [(i["id"], i["visibility"]) for i in listed] == [(w.image["id"], "public"),
                                                           (image["id"], "private")]
    page = ok(w.t.get(w.base + "/images?limit=1"), 200)
    assert [i["id"] for i in page["value"]] == [w.image["id"]]
    nxt = page["nextLink"]
    assert [i["id"] for i in ok(w.t.get(nxt[nxt.index("/v1/"):]), 200)["value"]] == [image["id"]]
    # Two VMs from it: the captured disks at their luns.
    for name in ("c1", "c2"):
        vm = w.create(name, imageId=image["id"])
        assert [(x["lun"], x["sizeGB"]) for x in vm["disks"]] == [(None, 1), (2, 1)]
        assert vm["imageId"] == image["id"] and vm["osState"] == "specialized"
        assert vm["powerState"] == "running"
    # While a VM is being made from it, the image is leased: 409, nothing changed.
    set_copy_rate(w, 200)
    r = w.t.post(w.base + "/vms", w.vm_body("c3", imageId=image["id"]))
    ok(r, 202)
    err(w.t.delete(w.base + "/images/" + image["id"]), 409, "Conflict", "lease")
    assert ok(w.t.get(w.base + "/images/" + image["id"]), 200)["state"] == "ready"
    # The create's job shows the clone's bytes as they are copied.
    copying = wait_for(lambda: (ok(w.t.get(r.header("Location")), 200).get("copy") or {}).get("bytesCopied"),
                       60, "the clone's progress")
    assert copying > 0
    job = wait_job(w.t, r.header("Location"), timeout=120)
    assert job["status"] == "succeeded", job
    set_copy_rate(w, 0)
    # Free again: 204, its storage released; the VMs made from it keep their disks.
    before = w.usage()["storageGB"]
    # A stale If-Match changes nothing (412); the image's own ETag lets the delete through.
    etag = w.t.get(w.base + "/images/" + image["id"]).header("ETag")
    err(w.t.delete(w.base + "/images/" + image["id"], headers={"If-Match": '"999"'}), 412,
        "PreconditionFailed")
    r = w.t.delete(w.base + "/images/" + image["id"], headers={"If-Match": etag})
    assert r.status == 204, r
    err(w.t.get(w.base + "/images/" + image["id"]), 404, "NotFound")
    assert w.usage()["storageGB"] == before - 2
    vms = ok(w.t.get(w.base + "/vms"), 200)["value"]
    assert len([v for v in vms if v["imageId"] == image["id"]]) == 3
    types = [e["type"] for e in feed(w.a)[0] if e.get("resourceId") in (image["id"], src["id"])]
    assert "vm.generalized" in types and "image.created" in types and "image.deleted" in types


def test_kill9_during_a_clone():
    """A VM being cloned from an image when wapd is killed: after the restart its job resumes, the clone
    goes on from the bytes it had and ends, and the image's lease is given back."""
    d = Daemon().start()
    try:
        w = image_world(d)
        image = capture(w, generalized_vm(w)["id"])
        set_copy_rate(w, 200)
        r = w.t.post(w.base + "/vms", w.vm_body("c", imageId=image["id"]))
        vm = ok(r, 202)
        loc = r.header("Location")
        wait_for(lambda: (ok(w.t.get(loc), 200).get("copy") or {}).get("bytesCopied"), 60, "bytes copied")
        d.kill9()
        d.start()
        w.t, w.a = d.tenant(w.token), d.admin()
        job = wait_job(w.t, loc, 120)
        assert job["status"] == "succeeded", job
        assert job["copy"]["bytesCopied"] == job["copy"]["bytesTotal"] > 0
        vm = w.get(vm["id"])
        assert vm["powerState"] == "running" and [x["lun"] for x in vm["disks"]] == [None, 2]
        assert w.t.delete(w.base + "/images/" + image["id"]).status == 204
    finally:
        d.cleanup()


def test_snapshot_of_a_data_disk_attached_to_another_vm(d):
    w = image_world(d)
    vm = w.create("a", dataDisks=[{"sizeGB": 3, "lun": 1}])
    other = w.create("b")
    r = w.t.post(w.base + "/snapshots", {"name": "s", "vmId": vm["id"], "lun": 1})
    sid = ok(r, 202)["id"]
    job = wait_job(w.t, r.header("Location"))
    assert job["status"] == "succeeded", job
    assert ok(w.t.get(w.base + "/snapshots/" + sid), 200)["sizeGB"] == 3
    r = w.t.post(w.base + "/vms/%s/disks" % other["id"], {"snapshotId": sid, "caching": "ReadOnly"})
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    disks = w.get(other["id"])["disks"]
    assert [(x["lun"], x["sizeGB"], x["caching"]) for x in disks if x["lun"] is not None] == \
        [(0, 3, "ReadOnly")]
    # Exactly one of sizeGB and snapshotId.
    err(w.t.post(w.base + "/vms/%s/disks" % other["id"], {"snapshotId": sid, "sizeGB": 3}), 400,
        "InvalidRequest", "sizeGB")
    err(w.t.post(w.base + "/vms", w.vm_body("x", dataDisks=[{"caching": "None"}])), 400, "InvalidRequest",
        "dataDisks[0].sizeGB")
    # A create whose data disk is the snapshot.
    made = w.create("c", dataDisks=[{"snapshotId": sid, "lun": 4}])
    assert [(x["lun"], x["sizeGB"]) for x in made["disks"]] == [(None, 1), (4, 3)]


def test_subscription_delete_removes_private_images(d):
    w = image_world(d)
    image = capture(w, generalized_vm(w)["id"])
    assert w.host()["allocated"]["storageGB"] > 0
    r = w.a.delete("/v1/admin/subscriptions/" + w.sub["id"])
    assert wait_job(w.a, r.header("Location"), 60)["status"] == "succeeded"
    assert w.host()["allocated"] == {"cores": 0, "memoryMB": 0, "storageGB": 0}
    deleted = [e for e in feed(w.a)[0] if e["type"] == "image.deleted" and e.get("resourceId") == image["id"]]
    assert len(deleted) == 1


def counters(w, vm_id):
    vm = w.get(vm_id)
    vm.pop("updatedAt", None)
    return vm, w.usage(), ok(w.t.get(w.base + "/images"), 200)["value"]


def test_bad_input_changes_nothing(d):
    w = image_world(d)
    vm = w.create("run")
    before = counters(w, vm["id"])
    # Generalize of a running VM; capture of a specialized VM.
    err(w.t.post(w.base + "/vms/%s/generalize" % vm["id"]), 409, "InvalidPowerState")
    err(w.t.post(w.base + "/vms/%s/capture" % vm["id"], {"name": "x"}), 409, "Conflict")
    err(w.t.post(w.base + "/vms/%s/capture" % vm["id"], {}), 400, "InvalidRequest", "name")
    assert counters(w, vm["id"]) == before
    # A generalized VM neither starts nor is generalized again.
    g = generalized_vm(w, "gen")
    before = counters(w, g["id"])
    err(w.t.post(w.base + "/vms/%s/start" % g["id"]), 409, "InvalidPowerState")
    err(w.t.post(w.base + "/vms/%s/generalize" % g["id"]), 409, "Conflict")
    assert counters(w, g["id"]) == before
    # A plan image is not the tenant's to delete; an unknown image is 404.
    err(w.t.delete(w.base + "/images/" + w.image["id"]), 403, "Forbidden")
    err(w.t.get(w.base + "/images/" + uid()), 404, "NotFound")
    # Another tenant's image: 404 on every path, and as imageId 400 like an unknown id; nothing changed.
    image = capture(w, g["id"])
    # A lun the image's data disk has; a snapshot that is not there.
    used = w.usage()
    err(w.t.post(w.base + "/vms", w.vm_body("x", imageId=image["id"], dataDisks=[{"sizeGB": 1, "lun": 2}])),
        400, "InvalidRequest", "dataDisks[0].lun")
    err(w.t.post(w.base + "/vms", w.vm_body("x", dataDisks=[{"snapshotId": uid()}])), 400, "InvalidRequest",
        "dataDisks[0].snapshotId")
    err(w.t.post(w.base + "/vms/%s/disks" % vm["id"], {"snapshotId": uid()}), 400, "InvalidRequest",
        "snapshotId")
    assert w.usage() == used
    w2 = VmWorld(d)
    for path in (w2.base + "/images/", w.base + "/images/"):
        err(w2.t.get(path + image["id"]), 404, "NotFound")
        err(w2.t.delete(path + image["id"]), 404, "NotFound")
    err(w2.t.post(w2.base + "/vms", {"name": "x", "imageId": image["id"], "size": w2.small}), 400,
        "InvalidRequest", "imageId")
    err(w2.t.post(w2.base + "/vms/%s/capture" % g["id"], {"name": "x"}), 404, "NotFound")
    assert ok(w.t.get(w.base + "/images/" + image["id"]), 200) == image
    assert [i["id"] for i in ok(w2.t.get(w2.base + "/images"), 200)["value"]] == [w2.image["id"]]
