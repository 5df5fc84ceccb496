"""Maintenance that empties a host: PATCH {state: "maintenance"} on a host with VMs starts one vm.migrate job
per VM (running, stopped and deallocated ones alike) to the other ok hosts of its cloud, answers 200 with
the host, and the VMs end on those hosts in the power state they had, the host holding nothing. A cloud
whose other hosts lack room, or a VM that cannot move now, is 409 Conflict naming state, with nothing
changed. Back to ok stops nothing."""
from harness import Daemon, err, ok, wait_for
from test_vms import VmWorld


def admin_vm(w, vm_id):
    return ok(w.a.get("/v1/admin/vms/" + vm_id), 200)


def set_state(w, i, state):
    return w.a.request("PATCH", "/v1/admin/hosts/" + w.hosts[i]["id"], body={"state": state})


def world_on_first_host(d, hosts, capacity=None):
    """A world whose VMs (running, stopped, deallocated) all live on its first host: the others are in
    maintenance while they are made, then ok again."""
    w = VmWorld(d, hosts=hosts, capacity=capacity)
    for i in range(1, len(hosts)):
        ok(set_state(w, i, "maintenance"), 200)
    vms = [w.create("run"), w.create("stop"), w.create("dealloc", size=w.medium)]
    assert w.act(vms[1]["id"], "stop")["powerState"] == "stopped"
    assert w.act(vms[2]["id"], "deallocate")["powerState"] == "deallocated"
    for i in range(1, len(hosts)):
        ok(set_state(w, i, "ok"), 200)
    assert {admin_vm(w, v["id"])["hostId"] for v in vms} == {w.hosts[0]["id"]}
    return w, [v["id"] for v in vms]


def migrate_jobs(w):
    """The vm.migrate jobs of the world's VMs (each names its VM as resourceId)."""
    jobs = ok(w.a.get("/v1/admin/jobs?kind=vm.migrate&limit=100"), 200)["value"]
    return [j for j in jobs if j["resourceId"] in w.vm_ids]


def test_maintenance_moves_every_vm_and_keeps_its_power_state():
    d = Daemon().start()
    try:
        w, ids = world_on_first_host(d, ("sim://", "sim://?copyMBps=20000"))
        w.vm_ids = ids
        power = {v: admin_vm(w, v)["powerState"] for v in ids}
        assert sorted(power.values()) == ["deallocated", "running", "stopped"]
        src, dst = w.hosts[0]["id"], w.hosts[1]["id"]
        assert w.host(0)["allocated"]["cores"] == 2  # the deallocated VM holds storage only

        host = ok(set_state(w, 0, "maintenance"), 200)
        assert host["state"] == "maintenance" and host["id"] == src
        # The jobs: one vm.migrate per VM, found by kind (and each by its VM as resourceId).
        jobs = migrate_jobs(w)
        assert sorted(j["resourceId"] for j in jobs) == sorted(ids), jobs
        assert all(admin_vm(w, v)["provisioningState"] in ("updating", "succeeded") for v in ids)
        # The target holds what the VMs hold as soon as the answer came.
        assert w.host(1)["allocated"]["cores"] == 2

        def moved():
            vms = [admin_vm(w, v) for v in ids]
            return vms if all(v["hostId"] == dst and v["provisioningState"] == "succeeded"
                              for v in vms) else None
        vms = wait_for(moved, 90, "every VM on the other host")
        assert {v["id"]: v["powerState"] for v in vms} == power
        # A job's view says running until its worker lets it go, which may come just after the commit
        # that moved the VM.
        wait_for(lambda: all(j["status"] not in ("queued", "running") for j in migrate_jobs(w)), 30,
                 "the migrate jobs' ends")
        assert all(j["status"] == "succeeded" for j in migrate_jobs(w))
        assert w.host(0)["allocated"] == {"cores": 0, "memoryMB": 0, "storageGB": 0}
        assert w.host(0)["state"] == "maintenance"
        assert w.host(1)["allocated"]["cores"] == 2
        assert ok(w.a.get("/v1/admin/vms?hostId=" + src), 200)["value"] == []
        # The running VM answers its tenant as running, on its new host.
        assert w.get(ids[0])["powerState"] == "running"
        # Maintenance again, and back to ok: nothing to move, nothing refused.
        ok(set_state(w, 0, "maintenance"), 200)
        assert ok(set_state(w, 0, "ok"), 200)["state"] == "ok"
        assert len(migrate_jobs(w)) == 3
    finally:
        d.cleanup()


def test_no_room_elsewhere_is_409_and_nothing_changes():
    d = Daemon().start()
    try:
        w = VmWorld(d, hosts=("sim://", "sim://"))
        w.vm_ids = []
        ok(set_state(w, 1, "maintenance"), 200)
        for n in ("a", "b", "c"):
            w.vm_ids.append(w.create(n)["id"])
        ok(set_state(w, 1, "ok"), 200)
        # The other host has room for one of the three small VMs only.
        small = w.a.request("PATCH", "/v1/admin/hosts/" + w.hosts[1]["id"],
                            body={"capacity": {"cores": 1}})
        ok(small, 200)
        before = [w.host(0), w.host(1)]
        body = err(set_state(w, 0, "maintenance"), 409, "Conflict", "state")
        msg = body["error"]["message"]
        assert "no room for 2 of its 3 VMs" in msg and w.cloud["id"] in msg, msg
        after = [w.host(0), w.host(1)]
        assert [h["state"] for h in after] == ["ok", "ok"]
        assert [h["allocated"] for h in after] == [h["allocated"] for h in before]
        assert migrate_jobs(w) == []
        assert all(admin_vm(w, v)["hostId"] == w.hosts[0]["id"] and
                   admin_vm(w, v)["provisioningState"] == "succeeded" for v in w.vm_ids)
        # With a host that is itself in maintenance as the only other one: the same refusal.
        ok(set_state(w, 1, "maintenance"), 200)
        err(set_state(w, 0, "maintenance"), 409, "Conflict", "state")
        assert w.host(0)["state"] == "ok"
    finally:
        d.cleanup()


def test_a_vm_with_an_operation_under_way_is_409():
    d = Daemon().start()
    try:
        # A slow copy keeps the VM in creating for minutes.
        w = VmWorld(d, hosts=("sim://?copyMBps=16", "sim://"))
        w.vm_ids = []
        ok(set_state(w, 1, "maintenance"), 200)
        vm = w.create("slow", wait=False)
        w.vm_ids.append(vm["id"])
        ok(set_state(w, 1, "ok"), 200)
        assert admin_vm(w, vm["id"])["provisioningState"] == "creating"
        body = err(set_state(w, 0, "maintenance"), 409, "Conflict", "state")
        assert "cannot move now" in body["error"]["message"] and "slow" in body["error"]["message"], body
        assert w.host(0)["state"] == "ok"
        assert migrate_jobs(w) == []
        # An empty host goes into maintenance at once.
        assert ok(set_state(w, 1, "maintenance"), 200)["state"] == "maintenance"
    finally:
        d.cleanup()


def test_a_vm_that_fails_to_move_stays_and_the_host_stays_in_maintenance():
    d = Daemon().start()
    try:
        # The other host refuses every change: each import fails at once.
        w, ids = world_on_first_host(d, ("sim://", "sim://?failRate=1"))
        w.vm_ids = ids
        power = {v: admin_vm(w, v)["powerState"] for v in ids}
        alloc = w.host(0)["allocated"]
        ok(set_state(w, 0, "maintenance"), 200)

        def ended():
            jobs = migrate_jobs(w)
            return jobs if len(jobs) == 3 and all(j["status"] == "failed" for j in jobs) else None
        wait_for(ended, 60, "every move to fail")
        vms = [admin_vm(w, v) for v in ids]
        assert all(v["hostId"] == w.hosts[0]["id"] and v["provisioningState"] == "succeeded" for v in vms)
        assert {v["id"]: v["powerState"] for v in vms} == power
        assert w.host(0)["state"] == "maintenance" and w.host(0)["allocated"] == alloc
        assert w.host(1)["allocated"] == {"cores": 0, "memoryMB": 0, "storageGB": 0}
    finally:
        d.cleanup()
