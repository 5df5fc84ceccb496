"""The single-slot checkpoint: plan modes for tenants and admins, replacement that never shows two or none,
crash points, agent failure, restore, prune and retention."""
import json
import threading

from harness import Daemon, err, ok, wait_for, wait_job
from simhosts import sim_vms
from test_vms import VmWorld


def cp_path(w, vm_id):
    return w.base + "/vms/%s/checkpoint" % vm_id


def put_cp(w, vm_id, name, expect="succeeded"):
    r = w.t.request("PUT", cp_path(w, vm_id), body={"name": name, "description": "d-" + name})
    job = ok(r, 202)
    assert job["kind"] == "vm.checkpoint.create"
    assert [s["name"] for s in job["steps"]] == ["createCheckpoint", "deleteOldCheckpoint"]
    done = wait_job(w.t, r.header("Location"))
    assert done["status"] == expect, done
    return job


def set_mode(w, mode):
    r = w.a.patch("/v1/admin/plans/" + w.plan["id"], {"checkpointMode": mode})
    assert wait_job(w.a, r.header("Location"))["status"] == "succeeded"
    assert ok(w.t.get(w.base), 200)["checkpointMode"] == mode


def host_checkpoints(d, w, vm_id):
    """The host's checkpoints of the VM, each named as the tenant named it (the host's name for it adds
    the id of the job that made it: "<name> [<job id>]")."""
    adm = ok(w.a.get("/v1/admin/vms/" + vm_id), 200)
    cps = sim_vms(d.state_dir, adm["hostId"])[adm["hypervisorId"]]["checkpoints"]
    for cp in cps.values():
        assert cp["name"].endswith("]") and " [" in cp["name"], cp["name"]
        cp["name"] = cp["name"].rsplit(" [", 1)[0]
    return cps


def test_modes_for_tenants_and_admins(d):
    w = VmWorld(d)
    vm = w.create("m")
    vid = vm["id"]
    # createViewRestore: everything.
    err(w.t.get(cp_path(w, vid)), 404, "NoCheckpoint")
    err(w.t.post(cp_path(w, vid) + "/restore"), 404, "NoCheckpoint")
    err(w.t.delete(cp_path(w, vid)), 404, "NoCheckpoint")
    first = put_cp(w, vid, "one")
    assert first["replaces"] is None
    cp = ok(w.t.get(cp_path(w, vid)), 200)
    assert cp["name"] == "one" and cp["description"] == "d-one" and cp["createdAt"] and cp["sizeGB"] == 0
    assert not [k for k in cp if k.startswith("_")]
    assert w.get(vid)["checkpoint"]["name"] == "one"
    r = w.t.post(cp_path(w, vid) + "/restore")
    assert ok(r, 202)["kind"] == "vm.checkpoint.restore"
    wait_job(w.t, r.header("Location"))
    err(w.t.request("PUT", cp_path(w, vid), body={"name": ""}), 400, "InvalidRequest", "name")
    err(w.t.request("PUT", cp_path(w, vid), body={"name": "x", "extra": 1}), 400, "InvalidRequest", "extra")
    # viewRestore: see and restore; no create, no delete.
    set_mode(w, "viewRestore")
    assert ok(w.t.get(cp_path(w, vid)), 200)["name"] == "one"
    err(w.t.request("PUT", cp_path(w, vid), body={"name": "two"}), 403, "CheckpointsNotAllowed")
    # 403 wins over 400: the mode is checked before the body.
    err(w.t.request("PUT", cp_path(w, vid), body={"bogus": 1}), 403, "CheckpointsNotAllowed")
    err(w.t.delete(cp_path(w, vid)), 403, "CheckpointsNotAllowed")
    r = w.t.post(cp_path(w, vid) + "/restore")
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    # disabled: hidden from tenants, not deleted.
    set_mode(w, "disabled")
    for m, path in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/restore")):
        body = {"name": "x"} if m == "PUT" else None
        err(w.t.request(m, cp_path(w, vid) + path, body=body), 403, "CheckpointsNotAllowed")
    assert w.get(vid)["checkpoint"] is None
    assert ok(w.a.get("/v1/admin/vms/" + vid), 200)["checkpoint"]["name"] == "one"
    # 404 wins over 403: another tenant's VM, or none.
    w2 = VmWorld(d)
    err(w2.t.get(w2.base + "/vms/%s/checkpoint" % vid), 404, "NotFound")
    # Admins delete whatever the mode.
    r = w.a.delete("/v1/admin/vms/%s/checkpoint" % vid)
    assert ok(r, 202)["kind"] == "vm.checkpoint.delete"
    assert wait_job(w.a, r.header("Location"))["status"] == "succeeded"
    assert ok(w.a.get("/v1/admin/vms/" + vid), 200)["checkpoint"] is None
    err(w.a.delete("/v1/admin/vms/%s/checkpoint" % vid), 404, "NoCheckpoint")
    assert host_checkpoints(d, w, vid) == {}
    # ... in every mode.
    for mode in ("viewRestore", "createViewRestore"):
        set_mode(w, "createViewRestore")
        put_cp(w, vid, "for-admin-" + mode)
        set_mode(w, mode)
        r = w.a.delete("/v1/admin/vms/%s/checkpoint" % vid)
        assert wait_job(w.a, r.header("Location"))["status"] == "succeeded"
        assert ok(w.a.get("/v1/admin/vms/" + vid), 200)["checkpoint"] is None
    set_mode(w, "createViewRestore")
    put_cp(w, vid, "again")
    r = w.t.delete(cp_path(w, vid))
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    err(w.t.get(cp_path(w, vid)), 404, "NoCheckpoint")


def test_replacement_under_observation(d):
    w = VmWorld(d)
    vm = w.create("obs")
    put_cp(w, vm["id"], "cp-0")
    seen = []
    stop = threading.Event()

    def observe():
        c = d.tenant(w.token)
        while not stop.is_set():
            r = c.get(cp_path(w, vm["id"]))
            seen.append((r.status, r.json()))

    t = threading.Thread(target=observe)
    t.start()
    try:
        for i in range(1, 21):
            job = put_cp(w, vm["id"], "cp-%d" % i)
            assert job["replaces"]["name"] == "cp-%d" % (i - 1)
            assert len(host_checkpoints(d, w, vm["id"])) == 1
    finally:
        stop.set()
        t.join(30)
    assert len(seen) > 20
    names = []
    for status, body in seen:
        assert status == 200, (status, body)  # never none
        assert set(body) == {"name", "description", "createdAt", "sizeGB"}  # one checkpoint, never two
        names.append(int(body["name"].split("-")[1]))
    assert names == sorted(names)  # each answer is the old or the new one, in order
    assert ok(w.t.get(cp_path(w, vm["id"])), 200)["name"] == "cp-20"


def test_agent_failure_while_creating_keeps_the_old_one(d):
    w = VmWorld(d)
    vm = w.create("f")
    put_cp(w, vm["id"], "keep")
    ok(w.a.patch("/v1/admin/hosts/" + w.hosts[0]["id"], {"agent": {"uri": "sim://?failRate=1"}}), 200)
    job = put_cp(w, vm["id"], "lost", expect="failed")
    assert job["replaces"]["name"] == "keep"
    ok(w.a.patch("/v1/admin/hosts/" + w.hosts[0]["id"], {"agent": {"uri": "sim://"}}), 200)
    assert ok(w.t.get(cp_path(w, vm["id"])), 200)["name"] == "keep"
    assert w.get(vm["id"])["provisioningState"] == "succeeded"
    assert [c["name"] for c in host_checkpoints(d, w, vm["id"]).values()] == ["keep"]
    # Still restorable.
    w.act(vm["id"], "stop")
    r = w.t.post(cp_path(w, vm["id"]) + "/restore")
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert w.get(vm["id"])["powerState"] == "running"


def test_restore_returns_the_power_state_of_the_checkpoint(d):
    w = VmWorld(d)
    vm = w.create("r")
    put_cp(w, vm["id"], "while-running")
    w.act(vm["id"], "deallocate")
    host = w.host()
    assert host["allocated"]["cores"] == 0
    r = w.t.post(cp_path(w, vm["id"]) + "/restore")
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    after = w.get(vm["id"])
    assert after["powerState"] == "running" and after["checkpoint"]["name"] == "while-running"
    assert w.host()["allocated"]["cores"] == 1  # running again: it holds its cores
    w.act(vm["id"], "stop")
    put_cp(w, vm["id"], "while-stopped")
    w.act(vm["id"], "start")
    r = w.t.post(cp_path(w, vm["id"]) + "/restore")
    wait_job(w.t, r.header("Location"))
    assert w.get(vm["id"])["powerState"] == "stopped"
    # A VM busy with a job takes no checkpoint job.
    r = w.t.post(w.base + "/vms/%s/start" % vm["id"])
    put = w.t.request("PUT", cp_path(w, vm["id"]), body={"name": "busy"})
    assert put.status in (202, 409)
    wait_job(w.t, r.header("Location"))


def test_prune(d):
    w = VmWorld(d)
    a = w.create("a")
    b = w.create("b")
    put_cp(w, a["id"], "a1")
    put_cp(w, b["id"], "b1")
    err(w.a.post("/v1/admin/checkpoints/prune", {"olderThanHours": -1}), 400, "InvalidRequest", "olderThanHours")
    err(w.a.post("/v1/admin/checkpoints/prune", {}), 400, "InvalidRequest", "olderThanHours")
    err(w.a.post("/v1/admin/checkpoints/prune", {"planId": "8c6e4b1e-0000-4000-8000-000000000000",
                                                 "olderThanHours": 0}), 400, "InvalidRequest", "planId")
    # Nothing is a day old yet.
    r = w.a.post("/v1/admin/checkpoints/prune", {"planId": w.plan["id"], "olderThanHours": 24})
    assert wait_job(w.a, r.header("Location"))["status"] == "succeeded"
    assert ok(w.t.get(cp_path(w, a["id"])), 200)["name"] == "a1"
    r = w.a.post("/v1/admin/checkpoints/prune", {"cloudId": w.cloud["id"], "planId": w.plan["id"],
                                                 "olderThanHours": 0})
    job = ok(r, 202)
    assert job["kind"] == "checkpoint.prune"
    done = wait_job(w.a, r.header("Location"))
    assert done["status"] == "succeeded" and done["progress"] == 100
    for vm in (a, b):
        err(w.t.get(cp_path(w, vm["id"])), 404, "NoCheckpoint")
        assert host_checkpoints(d, w, vm["id"]) == {}


def test_retention_prunes_automatically():
    d = Daemon(extra_args=["--retention-sweep-seconds", "1"],
               env={"WAPD_RETENTION_CLOCK_OFFSET_HOURS": "2"}).start()
    try:
        w = VmWorld(d)
        vm = w.create("ret")
        put_cp(w, vm["id"], "kept-while-no-retention")
        assert ok(w.t.get(cp_path(w, vm["id"])), 200)
        r = w.a.patch("/v1/admin/plans/" + w.plan["id"], {"checkpointRetentionHours": 1})
        wait_job(w.a, r.header("Location"))
        # Two hours ahead on the sweep's clock, the checkpoint is past the plan's one hour.
        wait_for(lambda: w.t.get(cp_path(w, vm["id"])).status == 404, 30, "retention to merge it away")
        assert host_checkpoints(d, w, vm["id"]) == {}
        jobs = ok(w.a.get("/v1/admin/jobs?kind=vm.checkpoint.delete&resourceId=" + vm["id"]), 200)["value"]
        assert jobs and jobs[0]["status"] in ("queued", "running", "succeeded")
    finally:
        d.cleanup()


def slot_in_db(d, vm_id):
    if d.pg_uri is None:
        assert d.store_rows("PRAGMA integrity_check")[0][0] == "ok"
    row = d.store_rows("SELECT checkpoint FROM vms WHERE id = ?", (vm_id,))[0]
    return json.loads(row[0])["name"] if row[0] else None


def crash_at(boundary, expect_name):
    """Replacement of "old" by "new", with the process aborting at a step boundary. At the crash the slot
    holds exactly one checkpoint: the new one when its creation had finished, the old one otherwise. After
    the restart the job resumes and ends, and the host keeps exactly the checkpoint the slot names."""
    d = Daemon().start()
    try:
        w = VmWorld(d)
        vm = w.create("crash")
        put_cp(w, vm["id"], "old")
        d.stop()
        d.env = {"WAPD_FAULT": "vm.checkpoint.create:" + boundary}
        d.start()
        w.t, w.a = d.tenant(w.token), d.admin()
        try:
            r = w.t.request("PUT", cp_path(w, vm["id"]), body={"name": "new"})
            assert r.status == 202, r
        except (ConnectionError, OSError):
            pass  # the worker may abort before the answer leaves: the job is committed all the same
        wait_for(lambda: d.proc.poll() is not None, 30, "the fault point to abort the daemon")
        d.kill9()
        assert slot_in_db(d, vm["id"]) == expect_name
        d.env = {"WAPD_FAULT": ""}
        d.start()
        w.t, w.a = d.tenant(w.token), d.admin()
        jobs = ok(w.a.get("/v1/admin/jobs?kind=vm.checkpoint.create&resourceId=" + vm["id"]), 200)["value"]
        assert len(jobs) == 2  # the first checkpoint's, and the interrupted replacement
        assert wait_job(w.a, "/v1/admin/jobs/" + jobs[-1]["id"], 60)["status"] == "succeeded"
        assert ok(w.t.get(cp_path(w, vm["id"])), 200)["name"] == "new"
        on_host = host_checkpoints(d, w, vm["id"])
        assert [c["name"] for c in on_host.values()] == ["new"], on_host
        assert w.get(vm["id"])["provisioningState"] == "succeeded"
    finally:
        d.cleanup()


def test_crash_before_create():
    crash_at("0:before", "old")


def test_crash_after_create():
    crash_at("0:after", "new")


def test_crash_before_delete_old():
    crash_at("1:before", "new")


def test_crash_after_delete_old():
    crash_at("1:after", "new")


def test_differencing_disk_grows_and_counts(d):
    # 1,000,000 GB per hour of running: the disk fills up within a fraction of a second.
    w = VmWorld(d, hosts=("sim://?diffGBPerHour=1000000",))
    vm = w.create("grow", dataDisks=[{"sizeGB": 10}])
    base = {"vms": 1, "cores": 1, "memoryMB": 1792, "storageGB": 40, "vmRoles": 0, "networks": 0}
    assert w.usage() == base
    put_cp(w, vm["id"], "g")
    assert ok(w.t.get(cp_path(w, vm["id"])), 200)["sizeGB"] == 0
    # Power jobs record the size the host reports; it grows while the VM runs, up to its disks' size.
    wait_for(lambda: w.act(vm["id"], "restart")["checkpoint"]["sizeGB"] == 40, 30, "the disk to fill up")
    assert w.usage()["storageGB"] == 80
    assert w.host()["allocated"]["storageGB"] == 80
    assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}
    # Restoring discards the changes: the disk is empty again.
    r = w.t.post(cp_path(w, vm["id"]) + "/restore")
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert ok(w.t.get(cp_path(w, vm["id"])), 200)["sizeGB"] == 0
    assert w.usage() == base and w.host()["allocated"]["storageGB"] == 40
    # Deleting the checkpoint releases what it had grown to.
    wait_for(lambda: w.act(vm["id"], "restart")["checkpoint"]["sizeGB"] > 0, 30, "the disk to grow")
    r = w.t.delete(cp_path(w, vm["id"]))
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert w.usage() == base and w.host()["allocated"]["storageGB"] == 40
