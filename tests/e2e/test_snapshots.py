"""Disk snapshots and their copies: snapshots of the OS and a data disk of a running and a stopped VM; a copy
to a replica cloud whose progress advances, that survives kill -9 of wapd and finishes after the restart;
bad input that changes nothing; leases; tenant isolation; quota; and the storage.snapshotGbHours meter."""
import time

from harness import Daemon, err, ok, uid, wait_for, wait_job
from test_hooks import feed
from test_usage import drain, iso_ms
from test_vms import VmWorld

VIEW_KEYS = {"id", "name", "vmId", "lun", "sizeGB", "cloudId", "state", "copy", "createdAt"}
GIB = 1 << 30


class SnapWorld(VmWorld):
    """A VmWorld (cloud c1, one sim host, a tenant) with a replica cloud c2 that the plan allows (its host
    copies at the rate replica_uri sets) and a cloud c3 that it does not."""

    def __init__(self, d, replica_uri="sim://", quotas=None):
        VmWorld.__init__(self, d, quotas=quotas)
        a = self.a
        cap = {"cores": 64, "memoryMB": 262144, "storageGB": 10000}
        self.c2 = ok(a.post("/v1/admin/clouds", {"name": "c2-" + uid()[:6]}), 201)
        self.c3 = ok(a.post("/v1/admin/clouds", {"name": "c3-" + uid()[:6]}), 201)
        self.h2 = ok(a.post("/v1/admin/hosts", {"name": "r", "cloudId": self.c2["id"],
                                                "agent": {"kind": "sim", "uri": replica_uri},
                                                "capacity": cap}), 201)
        ok(a.post("/v1/admin/hosts", {"name": "o", "cloudId": self.c3["id"],
                                      "agent": {"kind": "sim", "uri": "sim://"}, "capacity": cap}), 201)
        r = a.patch("/v1/admin/plans/" + self.plan["id"], {"replicaCloudIds": [self.c2["id"]]})
        assert wait_job(a, r.header("Location"))["status"] == "succeeded"

    def snap(self, vm_id, lun=None, name="s", expect="succeeded"):
        r = self.t.post(self.base + "/snapshots", {"name": name, "vmId": vm_id, "lun": lun})
        s = ok(r, 202)
        assert s["state"] == "creating" and set(s) == VIEW_KEYS, s
        job = wait_job(self.t, r.header("Location"))
        assert job["kind"] == "snapshot.create" and job["status"] == expect, job
        return self.snapshot(s["id"])

    def snapshot(self, sid):
        return ok(self.t.get(self.base + "/snapshots/" + sid), 200)

    def snapshots(self):
        return ok(self.t.get(self.base + "/snapshots?limit=1000"), 200)["value"]

    def copy(self, sid, cloud):
        return self.t.post(self.base + "/snapshots/%s/copy" % sid, {"cloudId": cloud["id"]})

    def delete(self, sid):
        return self.t.delete(self.base + "/snapshots/" + sid)


def test_plan_replica_cloud_ids(d):
    w = VmWorld(d)
    a = w.a
    assert ok(a.get("/v1/admin/plans/" + w.plan["id"]), 200)["replicaCloudIds"] == []
    other = ok(a.post("/v1/admin/clouds", {"name": "x-" + uid()[:6]}), 201)
    err(a.patch("/v1/admin/plans/" + w.plan["id"], {"replicaCloudIds": [other["id"], uid()]}), 400,
        "InvalidRequest", "replicaCloudIds")
    err(a.post("/v1/admin/plans", {"name": "p", "cloudId": w.cloud["id"], "replicaCloudIds": ["nope"]}),
        400, "InvalidRequest", "replicaCloudIds")
    r = a.patch("/v1/admin/plans/" + w.plan["id"], {"replicaCloudIds": [other["id"]]})
    assert wait_job(a, r.header("Location"))["status"] == "succeeded"
    assert ok(a.get("/v1/admin/plans/" + w.plan["id"]), 200)["replicaCloudIds"] == [other["id"]]
    p = ok(a.post("/v1/admin/plans", {"name": "q", "cloudId": w.cloud["id"]}), 201)
    assert p["replicaCloudIds"] == []


def test_snapshots_of_os_and_data_disks_running_and_stopped(d):
    w = SnapWorld(d)
    vm = w.create("sv", dataDisks=[{"sizeGB": 10, "lun": 3}])
    before = w.usage()["storageGB"]
    made = []
    for state in ("running", "stopped"):
        if state == "stopped":
            assert w.act(vm["id"], "stop")["powerState"] == "stopped"
        for lun, size in ((None, 30), (3, 10)):
            s = w.snap(vm["id"], lun, name="%s-%s" % (state, lun))
            assert set(s) == VIEW_KEYS, s
            assert s["state"] == "ready" and s["sizeGB"] == size and s["lun"] == lun, s
            assert s["vmId"] == vm["id"] and s["cloudId"] == w.cloud["id"] and s["copy"] is None
            made.append(s["id"])
    r = w.t.get(w.base + "/snapshots/" + made[0])
    assert r.header("ETag")
    assert {s["id"] for s in w.snapshots()} == set(made)
    assert w.usage()["storageGB"] == before + 80
    assert w.host()["allocated"]["storageGB"] == 40 + 80
    # Deleting one gives its storage back.
    r = w.delete(made[0])
    assert ok(r, 202)["kind"] == "snapshot.delete"
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    err(w.t.get(w.base + "/snapshots/" + made[0]), 404, "NotFound")
    assert w.usage()["storageGB"] == before + 50
    assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}


def test_bad_input_changes_nothing(d):
    w = SnapWorld(d)
    vm = w.create("bv", dataDisks=[{"sizeGB": 10, "lun": 0}])
    s = w.snap(vm["id"], 0)
    before = (w.usage(), len(w.snapshots()))
    err(w.t.post(w.base + "/snapshots", {"name": "x", "vmId": vm["id"], "lun": 5}), 400, "InvalidRequest",
        "lun")
    err(w.t.post(w.base + "/snapshots", {"name": "x", "vmId": uid(), "lun": None}), 400, "InvalidRequest",
        "vmId")
    err(w.t.post(w.base + "/snapshots", {"name": "x", "vmId": vm["id"], "extra": 1}), 400, "InvalidRequest",
        "extra")
    err(w.t.post(w.base + "/snapshots", {"name": "", "vmId": vm["id"]}), 400, "InvalidRequest", "name")
    err(w.copy(s["id"], w.c3), 400, "InvalidRequest", "cloudId")
    err(w.t.post(w.base + "/snapshots/%s/copy" % s["id"], {"cloudId": uid()}), 400, "InvalidRequest",
        "cloudId")
    assert (w.usage(), len(w.snapshots())) == before
    # Another tenant: the snapshot is 404 on every path, and the VM is an unknown vmId.
    o = SnapWorld(d)
    base = o.base + "/snapshots/" + s["id"]
    err(o.t.get(base), 404, "NotFound")
    err(o.t.delete(base), 404, "NotFound")
    err(o.t.post(base + "/copy", {"cloudId": o.c2["id"]}), 404, "NotFound")
    err(o.t.post(o.base + "/snapshots", {"name": "x", "vmId": vm["id"]}), 400, "InvalidRequest", "vmId")
    assert o.snapshots() == []
    assert w.snapshot(s["id"])["state"] == "ready"


def test_quota_storage(d):
    w = SnapWorld(d, quotas={"storageGB": 50})
    vm = w.create("qv")  # 30 GB
    err(w.t.post(w.base + "/snapshots", {"name": "q", "vmId": vm["id"]}), 409, "QuotaExceeded",
        "storageGB")
    assert w.snapshots() == [] and w.usage()["storageGB"] == 30


def test_copy_progress_survives_kill9_and_leases():
    d = Daemon().start()
    try:
        # 4 GB at 256 MB/s: about 16 s of copy.
        w = SnapWorld(d, replica_uri="sim://?copyMBps=256")
        vm = w.create("cv", dataDisks=[{"sizeGB": 4, "lun": 0}])
        src = w.snap(vm["id"], 0)
        before = w.usage()["storageGB"]
        r = w.copy(src["id"], w.c2)
        c = ok(r, 202)
        loc = r.header("Location")
        assert c["state"] == "copying" and c["cloudId"] == w.c2["id"] and c["sourceSnapshotId"] == src["id"]
        assert c["copy"] == {"bytesCopied": 0, "bytesTotal": 4 * GIB, "percent": 0}
        assert w.usage()["storageGB"] == before + 4
        # Under a lease: neither the source nor the copy can be deleted.
        err(w.delete(src["id"]), 409, "Conflict", "lease")
        err(w.delete(c["id"]), 409, "Conflict", "lease")
        assert w.snapshot(src["id"])["state"] == "ready"
        # Progress advances, at least once a second while bytes remain (the gaps are measured with slack for
        # a loaded machine, but never allowed to grow to a stall).
        seen = [(time.monotonic(), 0)]

        def advanced_to(n):
            def pred():
                cur = w.snapshot(c["id"])["copy"]["bytesCopied"]
                if cur != seen[-1][1]:
                    assert cur > seen[-1][1], (cur, seen)
                    seen.append((time.monotonic(), cur))
                return cur >= n
            return pred
        wait_for(advanced_to(GIB), 60, "a quarter of the copy")
        assert len(seen) >= 3, seen
        job = ok(w.t.get(loc), 200)
        assert job["status"] == "running" and 0 < job["copy"]["bytesCopied"] < 4 * GIB, job
        d.kill9()
        d.start()
        w.t = d.tenant(w.token)
        w.a = d.admin()
        mid = w.snapshot(c["id"])
        assert mid["state"] == "copying" and mid["copy"]["bytesCopied"] >= seen[-1][1], mid
        done = wait_job(w.t, loc, 120)
        assert done["status"] == "succeeded", done
        assert done["copy"]["bytesCopied"] == done["copy"]["bytesTotal"] == 4 * GIB
        c = w.snapshot(c["id"])
        assert c["state"] == "ready" and c["copy"]["bytesCopied"] == c["copy"]["bytesTotal"] == 4 * GIB
        assert c["copy"]["percent"] == 100
        gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:])]
        assert max(gaps) < 3.0, gaps
        # The lease is given back: both may go now.
        for sid in (src["id"], c["id"]):
            r = w.delete(sid)
            assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
        assert w.usage()["storageGB"] == before - 4
        assert ok(w.a.get("/v1/admin/hosts/" + w.h2["id"]), 200)["allocated"]["storageGB"] == 0
        # Each change said so once, in the feed.
        events = [(e["type"], e["resourceId"]) for e in feed(w.a)[0] if e["type"].startswith("snapshot.")]
        assert events == [("snapshot.created", src["id"]), ("snapshot.copied", c["id"]),
                          ("snapshot.deleted", src["id"]), ("snapshot.deleted", c["id"])], events
        copied = [e for e in feed(w.a)[0] if e["type"] == "snapshot.copied"][0]
        assert copied["data"] == {"sourceSnapshotId": src["id"], "cloudId": w.c2["id"]}, copied
        assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}
    finally:
        d.cleanup()


def test_snapshot_meter_one_record_per_period():
    d = Daemon(extra_args=["--usage-period-seconds", "1"]).start()
    try:
        w = SnapWorld(d)
        vm = w.create("mv", dataDisks=[{"sizeGB": 8, "lun": 0}])
        s = w.snap(vm["id"], 0)
        t = int(time.time() * 1000)

        def mine():
            return [r for r in drain(w.a)[0] if r["resourceId"] == s["id"]]
        wait_for(lambda: len([r for r in mine() if iso_ms(r["periodStart"]) > t]) >= 2, 30, "two periods")
        recs = mine()
        assert recs and all(r["meter"] == "storage.snapshotGbHours" and r["resourceType"] == "snapshot"
                            for r in recs), recs
        starts = [iso_ms(r["periodStart"]) for r in recs]
        assert len(starts) == len(set(starts)), recs  # one per period
        full = [r for r in recs if iso_ms(r["periodEnd"]) - iso_ms(r["periodStart"]) == 1000
                and iso_ms(r["periodStart"]) > t]
        assert full and abs(full[0]["quantity"] - 8 / 3600.0) < 1e-5, full
    finally:
        d.cleanup()
