"""Hosts that go away: a libvirt host (libvirt's built-in test driver) whose agent uri is pointed at a
connection that cannot be made stops answering its heartbeats. Within three heartbeats it is unreachable,
with one host.unreachable event; its VM shows powerState unknown; placement avoids it; a job on it ends
failed with HostUnreachable at its deadline. Pointed back, it is ok again with one host.reachable event and
an inventory sync. (libvirt's test driver starts each connection afresh, so the sync cannot show the VM's
old state here; the unit tests of lib/hostwatch show that it does.)"""
from harness import Daemon, World, err, ok, wait_for, wait_job

UP = "test:///default"
DOWN = "test:///nonexistent/wapd-reachability.xml"


def host_events(a, host_id):
    events, cursor = [], None
    while True:
        page = ok(a.get("/v1/admin/events?limit=1000" + ("&after=" + cursor if cursor else "")), 200)
        events += page["value"]
        if not page["value"]:
            break
        cursor = page["nextCursor"]
    return [e for e in events
            if e["type"] in ("host.unreachable", "host.reachable") and e["resourceId"] == host_id]


def test_a_host_that_stops_answering_and_comes_back():
    d = Daemon(extra_args=["--host-heartbeat-seconds", "1", "--job-deadline-seconds", "5"]).start()
    try:
        w = World(d)
        a = w.a
        host = ok(a.post("/v1/admin/hosts", {"name": "lv", "cloudId": w.cloud["id"],
                                              "agent": {"kind": "libvirt", "uri": UP},
                                              "capacity": {"cores": 16, "memoryMB": 65536,
                                                           "storageGB": 1000}}), 201)
        hpath = "/v1/admin/hosts/" + host["id"]
        t, sub, _ = w.tenant()
        base = "/v1/subscriptions/%s/vms" % sub["id"]
        r = t.post(base, {"name": "web01", "imageId": w.image["id"], "size": w.size_name})
        vm = ok(r, 202)
        assert wait_job(t, r.header("Location"))["status"] == "succeeded"
        assert ok(t.get(base + "/" + vm["id"]), 200)["powerState"] == "running"
        assert ok(a.get(hpath), 200)["state"] == "ok"

        ok(a.patch(hpath, {"agent": {"uri": DOWN}}), 200)
        wait_for(lambda: ok(a.get(hpath), 200)["state"] == "unreachable", 20, "the host unreachable")
        (ev,) = host_events(a, host["id"])
        assert ev["type"] == "host.unreachable" and ev["subscriptionId"] is None
        assert ev["data"]["name"] == "lv" and ev["data"]["failures"] == 3
        assert ok(t.get(base + "/" + vm["id"]), 200)["powerState"] == "unknown"
        # Placement avoids it: the cloud has no other host.
        err(t.post(base, {"name": "web02", "imageId": w.image["id"], "size": w.size_name}),
            409, "NoCapacity")
        # A job on it is retried until its deadline, then fails HostUnreachable; the VM stays.
        r = t.delete(base + "/" + vm["id"])
        job = wait_job(t, r.header("Location"))
        assert job["status"] == "failed" and job["error"]["code"] == "HostUnreachable", job
        assert ok(t.get(base + "/" + vm["id"]), 200)["powerState"] == "unknown"
        assert [e["type"] for e in host_events(a, host["id"])] == ["host.unreachable"]

        ok(a.patch(hpath, {"agent": {"uri": UP}}), 200)
        wait_for(lambda: ok(a.get(hpath), 200)["state"] == "ok", 20, "the host ok again")
        assert [e["type"] for e in host_events(a, host["id"])] == ["host.unreachable", "host.reachable"]

        def synced():
            jobs = ok(a.get("/v1/admin/jobs?kind=host.refresh&resourceId=" + host["id"]), 200)["value"]
            return [j for j in jobs if j["status"] == "succeeded"]
        wait_for(synced, 20, "the inventory sync")
    finally:
        d.stop()
        d.cleanup()
