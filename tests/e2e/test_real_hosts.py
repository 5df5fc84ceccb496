"""Hosts of every agent kind: the VM, checkpoint and VM role stories on a sim host, on two wapd-agent hosts
(http, one per story world) and on a libvirt host (libvirt's built-in test:///default); snapshots, a copy and
a live migration between two libvirt hosts; a wapd-agent killed with -9 in the middle of create, checkpoint
and delete jobs; and an agent stopped for good: unreachable, avoided, its jobs failed with HostUnreachable,
its VMs unknown, and all well again once it is back."""
from harness import Agent, Daemon, err, ok, wait_for, wait_job
from test_checkpoint import cp_path, put_cp
from test_hooks import feed
from test_vmroles import RoleWorld


def http_host(agent):
    return {"kind": "http", "uri": agent.uri, "token": agent.token}


def refresh(w, i=0):
    r = w.a.post("/v1/admin/hosts/%s/inventory" % w.hosts[i]["id"])
    assert r.status in (200, 202), r


def vm_story(w):
    """Create (with a data disk), every power action, resize, disks, deallocate and start again, delete."""
    vm = w.create("story", dataDisks=[{"sizeGB": 10}])
    vid = vm["id"]
    assert vm["powerState"] == "running" and vm["provisioningState"] == "succeeded"
    assert w.act(vid, "restart")["powerState"] == "running"
    assert w.act(vid, "shutdown")["powerState"] == "stopped"
    assert w.act(vid, "start")["powerState"] == "running"
    assert w.act(vid, "stop")["powerState"] == "stopped"
    r = w.t.patch(w.base + "/vms/" + vid, {"size": w.medium})
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert w.get(vid)["cores"] == 2
    r = w.t.post(w.base + "/vms/%s/disks" % vid, {"sizeGB": 20})
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert [d["lun"] for d in w.get(vid)["disks"]] == [None, 0, 1]
    r = w.t.delete(w.base + "/vms/%s/disks/0" % vid)
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert [d["lun"] for d in w.get(vid)["disks"]] == [None, 1]
    assert w.act(vid, "deallocate")["powerState"] == "deallocated"
    assert w.act(vid, "start")["powerState"] == "running"
    keep = w.create("keeper")
    r = w.t.delete(w.base + "/vms/" + vid)
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    return keep


def checkpoint_story(w, vm):
    vid = vm["id"]
    put_cp(w, vid, "one")
    put_cp(w, vid, "two")  # the replacement: the new one is made before the old one goes
    assert ok(w.t.get(cp_path(w, vid)), 200)["name"] == "two"
    w.act(vid, "stop")
    r = w.t.post(cp_path(w, vid) + "/restore")
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert w.get(vid)["powerState"] == "running"  # as it was when "two" was taken
    r = w.t.delete(cp_path(w, vid))
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    err(w.t.get(cp_path(w, vid)), 404, "NoCheckpoint")
    put_cp(w, vid, "last")


def role_story(w):
    r = w.t.post(w.role_path(), {"name": "web", "galleryItemId": w.item["id"], "instanceCount": 2})
    rid = ok(r, 202)["id"]
    assert wait_job(w.t, r.header("Location"), 60)["status"] == "succeeded"
    r = w.t.post(w.role_path(rid) + "/scale", {"instanceCount": 3})
    assert wait_job(w.t, r.header("Location"), 60)["status"] == "succeeded"
    assert all(v["powerState"] == "running" for v in w.instances(rid))
    r = w.t.post(w.role_path(rid) + "/scale", {"instanceCount": 1})
    assert wait_job(w.t, r.header("Location"), 60)["status"] == "succeeded"
    assert len(w.role(rid)["instances"]) == 1


def records_on_host(w, i=0):
    host_id = w.hosts[i]["id"]
    return {v["id"]: v for v in ok(w.a.get("/v1/admin/vms?hostId=" + host_id + "&limit=1000"), 200)["value"]}


def agent_matches_wapd(agent, w, i=0):
    """The agent lists each VM wapd placed there under its wapd id, with the state wapd shows; no other."""
    on_agent = {k: v for k, v in agent.vms().items() if v["id"]}
    recs = records_on_host(w, i)
    assert set(on_agent) == set(recs), (sorted(on_agent), sorted(recs))
    for vid, rec in recs.items():
        assert on_agent[vid]["powerState"] == rec["powerState"], (vid, on_agent[vid], rec)
        assert on_agent[vid]["hypervisorId"] == rec["hypervisorId"]


def test_every_story_on_every_kind(d):
    agents = [Agent(name="agent-vm").start(), Agent(name="agent-role").start()]
    try:
        worlds = {
            "sim": RoleWorld(d),
            "http": RoleWorld(d, hosts=(http_host(agents[0]),)),
            "libvirt": RoleWorld(d, hosts=({"kind": "libvirt", "uri": "test:///default"},)),
        }
        role_on_agent = RoleWorld(d, hosts=(http_host(agents[1]),))
        for kind, w in worlds.items():
            keep = vm_story(w)
            checkpoint_story(w, keep)
            role_story(w)
            assert w.host()["state"] == "ok", kind
        role_story(role_on_agent)
        agent_matches_wapd(agents[0], worlds["http"])
        agent_matches_wapd(agents[1], role_on_agent)
        host = ok(agents[0].client().get("/v1/host"), 200)
        assert host["name"] == "agent-vm" and host["backend"] == "sim"
        # The token is write-only.
        h = worlds["http"].host()
        assert "token" not in h["agent"] and h["agent"]["kind"] == "http"
    finally:
        for a in agents:
            a.cleanup()


LIBVIRT = {"kind": "libvirt", "uri": "test:///default"}


def unmanaged_on(w, h):
    """The hypervisor ids of what a refresh of host h finds that no record owns (on test:///default,
    libvirt's own "test" domain)."""
    r = w.a.post("/v1/admin/hosts/%s/refresh" % h["id"])
    assert wait_job(w.a, r.header("Location"))["status"] == "succeeded"
    found = ok(w.a.get("/v1/admin/hosts/%s/unmanaged" % h["id"]), 200)["value"]
    return sorted(v["hypervisorId"] for v in found)


def test_snapshots_and_migration_between_libvirt_hosts(d):
    """Two hosts of one libvirt (test:///default is shared by the daemon's connections): a data disk's
    snapshot and its copy are volumes of the pool; a running VM moves to the other host and never leaves
    running; each host then lists only what its records say, and everything deletes cleanly."""
    w = RoleWorld(d, hosts=(LIBVIRT, LIBVIRT))
    found = unmanaged_on(w, w.hosts[0])
    assert unmanaged_on(w, w.hosts[1]) == found
    vm = w.create("mover", dataDisks=[{"sizeGB": 10}])
    vid = vm["id"]
    r = w.t.post(w.base + "/snapshots", {"name": "data", "vmId": vid, "lun": 0})
    sid = ok(r, 202)["id"]
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    snap = ok(w.t.get(w.base + "/snapshots/" + sid), 200)
    assert snap["state"] == "ready" and snap["sizeGB"] == 10 and snap["cloudId"] == w.cloud["id"], snap
    r = w.t.post(w.base + "/snapshots", {"name": "bad", "vmId": vid, "lun": 5})
    err(r, 400, "InvalidRequest", "lun")
    r = w.t.post(w.base + "/snapshots/%s/copy" % sid, {"cloudId": w.cloud["id"]})
    cid = ok(r, 202)["id"]
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    copy = ok(w.t.get(w.base + "/snapshots/" + cid), 200)
    assert copy["state"] == "ready" and copy["copy"]["bytesCopied"] == copy["copy"]["bytesTotal"] == 10 << 30

    src_id = ok(w.a.get("/v1/admin/vms/" + vid), 200)["hostId"]
    src = next(h for h in w.hosts if h["id"] == src_id)
    dst = next(h for h in w.hosts if h["id"] != src_id)
    r = w.a.post("/v1/admin/vms/%s/migrate" % vid, {"hostId": dst["id"]})
    ok(r, 202)
    loc = r.header("Location")
    seen = []

    def ended():
        seen.append(w.get(vid)["powerState"])
        j = ok(w.a.get(loc), 200)
        return j if j["status"] not in ("queued", "running") else None
    job = wait_for(ended, 60, "the migration")
    assert job["status"] == "succeeded", job
    assert set(seen) == {"running"}, seen
    moved = ok(w.a.get("/v1/admin/vms/" + vid), 200)
    assert moved["hostId"] == dst["id"] and moved["powerState"] == "running", moved
    assert job["copy"]["bytesCopied"] == job["copy"]["bytesTotal"] > 0, job
    assert unmanaged_on(w, src) == found and unmanaged_on(w, dst) == found
    assert w.act(vid, "stop")["powerState"] == "stopped"  # acted on where it is now
    assert w.act(vid, "start")["powerState"] == "running"

    for s in (cid, sid):
        r = w.t.delete(w.base + "/snapshots/" + s)
        assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
        err(w.t.get(w.base + "/snapshots/" + s), 404, "NotFound")
    r = w.t.delete(w.base + "/vms/" + vid)
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert unmanaged_on(w, src) == found and unmanaged_on(w, dst) == found


def events_of(w, kind):
    """Every event of that type so far, oldest first."""
    return [e for e in feed(w.a)[0] if e["type"] == kind]


def test_agent_killed_mid_jobs(d):
    """kill -9 of the agent while create, checkpoint and delete jobs wait on it; restarted on the same
    state dir, every job ends succeeded and the host has exactly one VM per record."""
    agent = Agent(sim_uri="sim://?latencyMs=3000").start()
    try:
        w = RoleWorld(d, hosts=(http_host(agent),))
        old = w.create("old")
        victim = w.create("victim")
        # Every call takes 3 s on the host: the three jobs are all waiting on it when it dies (a shorter
        # wait let a loaded machine see the checkpoint's one call end before the kill).
        r_create = w.t.post(w.base + "/vms", w.vm_body("new"))
        r_cp = w.t.request("PUT", cp_path(w, old["id"]), body={"name": "cp"})
        r_delete = w.t.delete(w.base + "/vms/" + victim["id"])
        locs = [r.header("Location") for r in (r_create, r_cp, r_delete)]
        for loc in locs:
            wait_for(lambda: ok(w.t.get(loc), 200)["status"] == "running", 30, "the job to run")
        agent.kill9()
        # None ended: each is still running, or queued again for a retry once its call to the dead agent
        # failed.
        statuses = [ok(w.t.get(loc), 200)["status"] for loc in locs]
        assert all(s in ("running", "queued") for s in statuses), statuses
        agent.start()
        for loc in locs:
            job = wait_job(w.t, loc, 120)
            assert job["status"] == "succeeded", job
        agent_matches_wapd(agent, w)
        assert len(records_on_host(w)) == 2  # old and new; the victim is gone
    finally:
        agent.cleanup()


def test_agent_gone_for_good():
    d = Daemon(extra_args=["--host-heartbeat-seconds", "1", "--job-deadline-seconds", "8"]).start()
    agent = Agent().start()
    try:
        w = RoleWorld(d, hosts=(http_host(agent), "sim://"))
        # A VM on the agent's host: the sim host is in maintenance meanwhile.
        sim_host = "/v1/admin/hosts/" + w.hosts[1]["id"]
        ok(w.a.patch(sim_host, {"state": "maintenance"}), 200)
        on_agent, doomed = w.create("a1"), w.create("a2")
        assert {on_agent["id"], doomed["id"]} <= set(records_on_host(w, 0))
        ok(w.a.patch(sim_host, {"state": "ok"}), 200)
        agent.stop()
        wait_for(lambda: w.host(0)["state"] == "unreachable", 3 * 1 + 10, "the host to be unreachable")
        down = events_of(w, "host.unreachable")
        assert [e["resourceId"] for e in down] == [w.hosts[0]["id"]]
        assert down[0]["data"]["failures"] == 3, down  # unreachable at the third missed heartbeat
        assert w.get(on_agent["id"])["powerState"] == "unknown"
        # Placement avoids it.
        for i in range(3):
            vm = w.create("elsewhere%d" % i)
            assert vm["id"] in records_on_host(w, 1)
        # A job on it retries until its deadline (8 s here), then fails HostUnreachable; nothing is lost.
        r = w.t.delete(w.base + "/vms/" + doomed["id"])
        job = wait_job(w.t, ok(r, 202) and r.header("Location"), 60)
        assert job["status"] == "failed" and job["error"]["code"] == "HostUnreachable", job
        assert w.get(doomed["id"])["powerState"] == "unknown"
        agent.start()
        wait_for(lambda: w.host(0)["state"] == "ok", 30, "the host to be ok again")
        for vm in (on_agent, doomed):
            wait_for(lambda: w.get(vm["id"])["powerState"] == "running", 30, "the VM's true state")
        assert [e["resourceId"] for e in events_of(w, "host.reachable")] == [w.hosts[0]["id"]]
        agent_matches_wapd(agent, w)
    finally:
        agent.cleanup()
        d.cleanup()


def test_a_create_that_copies_its_disk_is_polled_until_done(d):
    """On a host whose disk copies take time (sim copyMBps), the create's first step answers "pending" with
    its progress; the job polls it with the same operation id until the copy is done, then runs."""
    agent = Agent(sim_uri="sim://?copyMBps=20000").start()  # a 30 GB OS disk: about 1.5 s
    try:
        for host in ("sim://?copyMBps=20000", http_host(agent)):
            w = RoleWorld(d, hosts=(host,))
            vm = w.create("copied")
            assert vm["powerState"] == "running" and vm["provisioningState"] == "succeeded"
        assert len([v for v in agent.vms().values() if v["id"]]) == 1
    finally:
        agent.cleanup()
