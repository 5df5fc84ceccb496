"""Admin VM migration: a running role instance with a checkpoint moves to another host of its cloud while a
thread reads it every 100 ms (never anything but running), the job's copy advancing to its total; hosts'
allocation, checkpoint and role membership follow; usage for the periods around the move equals the
timeline with one record per meter and period. A stopped VM moves to another cloud. A sim host and a
wapd-agent host, both ways. Bad input: a clear 4xx, and nothing changed."""
import threading
import time

from harness import Agent, Daemon, err, ok, uid, wait_for, wait_job
from test_hooks import feed
from test_usage import METERS, PERIOD_MS, drain, expected, iso_ms
from test_vmroles import RoleWorld

# Both hosts copy at this rate: a 30 GB disk and the memory of a running VM take about three seconds.
COPY_URI = "sim://?copyMBps=10240"


def admin_vm(w, vm_id):
    return ok(w.a.get("/v1/admin/vms/" + vm_id), 200)


def host(w, h):
    return ok(w.a.get("/v1/admin/hosts/" + h["id"]), 200)


def allocations(w, hosts):
    return [host(w, h)["allocated"] for h in hosts]


def migrate(w, vm_id, h):
    r = w.a.post("/v1/admin/vms/%s/migrate" % vm_id, {"hostId": h["id"]})
    job = ok(r, 202)
    assert job["kind"] == "vm.migrate" and r.header("Location").endswith("/jobs/" + job["id"]), (job, r)
    assert [s["name"] for s in job["steps"]] == ["importOnTarget", "switchOver", "deleteFromSource"]
    return r.header("Location")


def leftovers(w, h):
    """What a refresh of host h finds that no record owns (a copy a migration left behind)."""
    r = w.a.post("/v1/admin/hosts/%s/refresh" % h["id"])
    assert wait_job(w.a, r.header("Location"))["status"] == "succeeded"
    return ok(w.a.get("/v1/admin/hosts/%s/unmanaged" % h["id"]), 200)["value"]


def other_cloud_host(w, uri="sim://"):
    cloud = ok(w.a.post("/v1/admin/clouds", {"name": "far-" + uid()[:6]}), 201)
    return ok(w.a.post("/v1/admin/hosts", {"name": "far", "cloudId": cloud["id"],
                                           "agent": {"kind": "sim", "uri": uri},
                                           "capacity": {"cores": 8, "memoryMB": 32768,
                                                        "storageGB": 1000}}), 201)


def test_live_migration_stays_running_and_usage_follows_the_timeline():
    d = Daemon(extra_args=["--usage-period-seconds", "2"]).start()
    try:
        w = RoleWorld(d, hosts=(COPY_URI, COPY_URI))
        r = w.t.post(w.role_path(), {"name": "web", "galleryItemId": w.item["id"], "instanceCount": 1})
        role = ok(r, 202)
        assert wait_job(w.t, r.header("Location"), 60)["status"] == "succeeded"
        vid = w.role(role["id"])["instances"][0]
        r = w.t.request("PUT", w.base + "/vms/%s/checkpoint" % vid, body={"name": "before-move"})
        assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
        vm = admin_vm(w, vid)
        src = next(h for h in w.hosts if h["id"] == vm["hostId"])
        dst = next(h for h in w.hosts if h["id"] != vm["hostId"])
        before = allocations(w, (src, dst))
        # A period closes with the VM on its source.
        start = int(time.time() * 1000)
        wait_for(lambda: any(iso_ms(x["periodEnd"]) > start for x in drain(w.a)[0]), 30, "a period")

        seen, stop = [], threading.Event()

        def watch():
            t = d.tenant(w.token)
            while not stop.is_set():
                v = ok(t.get(w.base + "/vms/" + vid), 200)
                seen.append((v["powerState"], v["provisioningState"]))
                stop.wait(0.1)
            t.close()

        th = threading.Thread(target=watch)
        th.start()
        try:
            loc = migrate(w, vid, dst)
            copies = []

            def ended():
                j = ok(w.a.get(loc), 200)
                if j["copy"] is not None:
                    copies.append((j["copy"]["bytesCopied"], j["copy"]["bytesTotal"]))
                return j if j["status"] not in ("queued", "running") else None
            job = wait_for(ended, 60, "the migration")
            moved = int(time.time() * 1000)
        finally:
            stop.set()
            th.join()
        assert job["status"] == "succeeded", job
        assert len(seen) > 10 and all(p == "running" for p, _ in seen), seen
        assert ("running", "updating") in seen
        total = job["copy"]["bytesTotal"]
        assert total > 30 * 1024 ** 3 and job["copy"]["bytesCopied"] == total and job["progress"] == 100
        partial = [c for c, t in copies if c < t]
        assert len(set(partial)) >= 2, copies  # advanced while polled
        assert [c for c, _ in copies] == sorted(c for c, _ in copies)

        vm2 = admin_vm(w, vid)
        assert vm2["hostId"] == dst["id"] and vm2["hypervisorId"] != vm["hypervisorId"]
        assert vm2["powerState"] == "running" and vm2["provisioningState"] == "succeeded"
        assert vm2["vmRoleId"] == role["id"] and w.role(role["id"])["instances"] == [vid]
        assert vm2["checkpoint"]["name"] == "before-move"
        assert vm2["checkpoint"]["createdAt"] == vm["checkpoint"]["createdAt"]
        after = allocations(w, (src, dst))
        for k in ("cores", "memoryMB", "storageGB"):
            held = vm["allocated"][k]
            assert after[0][k] == before[0][k] - held and after[1][k] == before[1][k] + held, (k, before, after)
        moves = [e for e in feed(w.a)[0] if e["type"] == "vm.migrated" and e["resourceId"] == vid]
        assert len(moves) == 1 and moves[0]["data"] == {"fromHostId": src["id"], "toHostId": dst["id"]}
        assert leftovers(w, src) == [] and leftovers(w, dst) == []

        # Usage around the move: one record per meter and period, contiguous, equal to the timeline.
        wait_for(lambda: any(iso_ms(x["periodStart"]) >= moved + PERIOD_MS for x in drain(w.a)[0]), 30,
                 "periods after the move")
        mine = [x for x in drain(w.a)[0] if x["resourceId"] == vid]
        for m in METERS:
            series = sorted((iso_ms(x["periodStart"]), iso_ms(x["periodEnd"]), x) for x in mine if x["meter"] == m)
            starts = [s for s, _, _ in series]
            assert len(starts) == len(set(starts)), m
            for (s0, e0, _), (s1, _, _) in zip(series, series[1:]):
                assert e0 == s1 and e0 - s0 == PERIOD_MS, (m, s0, e0, s1)
            assert series[0][0] <= start and series[-1][1] >= moved + PERIOD_MS
            for s, e, x in series:
                want = expected(d, vid, s, e)[m]
                assert abs(x["quantity"] - want) <= max(0.02 * want, 1e-9), (m, s, x["quantity"], want)
                assert x["resourceType"] == "vm"
        # The checkpoint slot works on the new host.
        r = w.t.post(w.base + "/vms/%s/checkpoint/restore" % vid)
        assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
        assert w.get(vid)["powerState"] == "running"
    finally:
        d.cleanup()


def test_kill9_mid_copy_resumes_and_finishes():
    d = Daemon().start()
    try:
        w = RoleWorld(d, hosts=(COPY_URI, COPY_URI))
        vid = w.create("crash")["id"]
        vm = admin_vm(w, vid)
        src = next(h for h in w.hosts if h["id"] == vm["hostId"])
        dst = next(h for h in w.hosts if h["id"] != vm["hostId"])
        before = allocations(w, (src, dst))
        loc = migrate(w, vid, dst)

        def copying():
            c = ok(w.a.get(loc), 200)["copy"]
            return c if c and 0 < c["bytesCopied"] < c["bytesTotal"] else None
        mid = wait_for(copying, 30, "the copy to be under way")
        d.kill9()
        d.start()
        w.a, w.t = d.admin(), d.tenant(w.token)
        assert w.get(vid)["powerState"] == "running"
        job = wait_job(w.a, loc, 60)
        assert job["status"] == "succeeded", job
        assert job["copy"]["bytesTotal"] == mid["bytesTotal"] == job["copy"]["bytesCopied"]
        vm2 = admin_vm(w, vid)
        assert vm2["hostId"] == dst["id"] and vm2["powerState"] == "running"
        after = allocations(w, (src, dst))
        for k in ("cores", "memoryMB", "storageGB"):
            held = vm["allocated"][k]
            assert after[0][k] == before[0][k] - held and after[1][k] == before[1][k] + held
        assert leftovers(w, src) == [] and leftovers(w, dst) == []
        assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}
    finally:
        d.cleanup()


def test_stopped_vm_moves_to_another_cloud(d):
    w = RoleWorld(d)
    far = other_cloud_host(w)
    vm = w.create("cold", dataDisks=[{"sizeGB": 10}])
    vid = vm["id"]
    err(w.a.post("/v1/admin/vms/%s/migrate" % vid, {"hostId": far["id"]}), 409, "InvalidPowerState")
    w.act(vid, "stop")
    held = admin_vm(w, vid)["allocated"]
    before = allocations(w, (w.hosts[0], far))
    job = wait_job(w.a, migrate(w, vid, far))
    assert job["status"] == "succeeded", job
    assert job["copy"]["bytesCopied"] == job["copy"]["bytesTotal"] == (30 + 10) * 1024 ** 3
    vm2 = admin_vm(w, vid)
    assert vm2["hostId"] == far["id"] and vm2["powerState"] == "stopped"
    assert [(x["lun"], x["sizeGB"]) for x in vm2["disks"]] == [(x["lun"], x["sizeGB"]) for x in vm["disks"]]
    after = allocations(w, (w.hosts[0], far))
    for k in ("cores", "memoryMB", "storageGB"):
        assert after[0][k] == before[0][k] - held[k] and after[1][k] == before[1][k] + held[k]
    assert w.act(vid, "start")["powerState"] == "running"


def test_bad_input_changes_nothing(d):
    w = RoleWorld(d, hosts=("sim://", "sim://"))
    far = other_cloud_host(w)
    tiny = ok(w.a.post("/v1/admin/hosts", {"name": "tiny", "cloudId": w.cloud["id"],
                                           "agent": {"kind": "sim", "uri": "sim://"},
                                           "capacity": {"cores": 1, "memoryMB": 512, "storageGB": 10}}), 201)
    vid = w.create("v")["id"]
    vm = admin_vm(w, vid)
    other = next(h for h in w.hosts if h["id"] != vm["hostId"])
    hosts = list(w.hosts) + [far, tiny]
    before = allocations(w, hosts)
    path = "/v1/admin/vms/%s/migrate" % vid

    def unchanged():
        v = admin_vm(w, vid)
        assert (v["hostId"], v["powerState"], v["provisioningState"]) == (vm["hostId"], "running", "succeeded")
        assert allocations(w, hosts) == before

    err(w.a.post(path, {"hostId": uid()}), 400, "InvalidRequest", "hostId")
    unchanged()
    err(w.a.post(path, {"hostId": "not-a-uuid"}), 400, "InvalidRequest", "hostId")
    err(w.a.post(path, {}), 400, "InvalidRequest", "hostId")
    err(w.a.post(path, {"hostId": other["id"], "live": True}), 400, "InvalidRequest", "live")
    err(w.a.post("/v1/admin/vms/%s/migrate" % uid(), {"hostId": other["id"]}), 404, "NotFound")
    err(w.a.post(path, {"hostId": vm["hostId"]}), 409, "Conflict", "hostId")
    unchanged()
    err(w.a.post(path, {"hostId": tiny["id"]}), 409, "Conflict", "hostId")
    unchanged()
    err(w.a.post(path, {"hostId": far["id"]}), 409, "InvalidPowerState")
    unchanged()
    ok(w.a.patch("/v1/admin/hosts/" + other["id"], {"state": "maintenance"}), 200)
    err(w.a.post(path, {"hostId": other["id"]}), 409, "Conflict", "hostId")
    unchanged()
    ok(w.a.patch("/v1/admin/hosts/" + other["id"], {"state": "ok"}), 200)
    # A tenant has no such path.
    assert w.t.post(path, {"hostId": other["id"]}).status in (401, 403, 404)
    unchanged()


def test_sim_and_agent_hosts_both_ways():
    d = Daemon().start()
    a = Agent(sim_uri="sim://").start()
    try:
        probe = a.client().post("/v1/vms/import", {})
        if probe.status in (404, 405):
            print("skipped: this wapd-agent has no VM import endpoint (POST /v1/vms/import answers %d)"
                  % probe.status)
            return
        w = RoleWorld(d, hosts=("sim://", {"kind": "http", "uri": a.uri, "token": a.token}))
        sim_host, agent_host = w.hosts
        vid = w.create("mixed")["id"]
        assert admin_vm(w, vid)["hostId"] == sim_host["id"]
        for to in (agent_host, sim_host):
            job = wait_job(w.a, migrate(w, vid, to), 60)
            assert job["status"] == "succeeded", job
            vm = admin_vm(w, vid)
            assert vm["hostId"] == to["id"] and vm["powerState"] == "running", vm
            assert (vid in a.vms()) == (to is agent_host)
        assert w.act(vid, "restart")["powerState"] == "running"
    finally:
        a.cleanup()
        d.cleanup()
