"""A checkpoint restore gives the VM back the size (cores, memory) and disks it had when the checkpoint was
taken, with its power state: data disks attached since are detached and deleted, and the host's allocation,
the quota usage and the timeline follow (reconcile finds nothing to correct). On a sim host, a wapd-agent
host and a libvirt host; a restore that would grow past a quota or the host's room is refused and changes
nothing; a daemon that dies at any step boundary of the restore finishes it after its restart."""

from harness import Agent, Daemon, err, ok, wait_for, wait_job
from simhosts import sim_vms
from test_checkpoint import cp_path, put_cp
from test_hooks import feed
from test_vms import VmWorld

LIBVIRT = {"kind": "libvirt", "uri": "test:///default"}


def timeline(d, vm_id):
    return d.store_rows("SELECT event, size, cores FROM vm_timeline WHERE vm_id = ? ORDER BY seq", (vm_id,))


def books_balance(w):
    """Reconcile corrects nothing, and each host's allocated is the sum of what its VMs hold."""
    assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}
    for i, h in enumerate(w.hosts):
        vms = ok(w.a.get("/v1/admin/vms?hostId=%s&limit=1000" % h["id"]), 200)["value"]
        want = {k: sum(v["allocated"][k] for v in vms) for k in ("cores", "memoryMB", "storageGB")}
        assert w.host(i)["allocated"] == want, (w.host(i)["allocated"], want)


def restore(w, vm_id, expect="succeeded"):
    r = w.t.post(cp_path(w, vm_id) + "/restore")
    job = ok(r, 202)
    assert [s["name"] for s in job["steps"]] == ["revertCheckpoint", "dropDisks", "recordRestore"]
    done = wait_job(w.t, r.header("Location"))
    assert done["status"] == expect, done
    return w.get(vm_id)


def resize(w, vm_id, size):
    r = w.t.patch(w.base + "/vms/" + vm_id, {"size": size})
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"


def shrunk(w, name, disk=True):
    """A Medium VM with a checkpoint taken while it ran, then stopped, resized to Small and (with disk)
    given a data disk at lun 0: its id, and the subscription's usage when the checkpoint was taken."""
    vid = w.create(name, size=w.medium)["id"]
    usage = w.usage()
    put_cp(w, vid, "medium")
    assert w.act(vid, "stop")["powerState"] == "stopped"
    resize(w, vid, w.small)
    if disk:
        r = w.t.post(w.base + "/vms/%s/disks" % vid, {"sizeGB": 20})
        assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    return vid, usage


def restore_story(d, w, host_vm=None):
    """Medium, checkpoint, stop, resize to Small, attach a disk, restore: Medium again, running, the disk
    gone. host_vm(w, vm) answers what the host has of the VM ({cores, memoryMB, disks}), when it can."""
    vid, usage = shrunk(w, "r")
    assert [d["lun"] for d in w.get(vid)["disks"]] == [None, 0]
    assert w.usage()["cores"] == usage["cores"] - 1
    books_balance(w)
    _, cursor = feed(w.a)
    vm = restore(w, vid)
    assert (vm["size"], vm["cores"], vm["memoryMB"]) == (w.medium, 2, 3584), vm
    assert vm["powerState"] == "running" and vm["provisioningState"] == "succeeded"
    assert [d["lun"] for d in vm["disks"]] == [None]
    assert not [k for k in vm["checkpoint"] if k.startswith("_")]
    assert w.usage() == usage
    books_balance(w)
    # Its events: the size change, and the restore.
    events = [e for e in feed(w.a, cursor)[0] if e.get("resourceId") == vid]
    assert {"vm.resized", "vm.checkpoint.restored"} <= {e["type"] for e in events}, events
    if host_vm is not None:
        on_host = host_vm(w, ok(w.a.get("/v1/admin/vms/" + vid), 200))
        assert (on_host["cores"], on_host["memoryMB"]) == (2, 3584), on_host
        assert [d["lun"] for d in on_host["disks"]] == [None], on_host
    # Metering sees the size come back: a "changed" row at Medium after the one at Small.
    rows = timeline(d, vid)
    small = max(i for i, (e, s, _) in enumerate(rows) if s == w.small)
    assert ("changed", w.medium, 2) in rows[small + 1:], rows
    # The VM works on: it stops and starts at its restored size.
    assert w.act(vid, "stop")["powerState"] == "stopped"
    assert w.act(vid, "start")["cores"] == 2
    books_balance(w)


def sim_host_vm(d):
    def host_vm(w, adm):
        return sim_vms(d.state_dir, adm["hostId"])[adm["hypervisorId"]]
    return host_vm


def test_restore_gives_back_size_and_disks_on_a_sim_host(d):
    w = VmWorld(d)
    restore_story(d, w, sim_host_vm(d))


def test_restore_gives_back_dynamic_memory(d):
    """The size's dynamic memory the VM had at the checkpoint comes back with the size."""
    w = VmWorld(d)
    sizes = {s["name"]: s for s in ok(w.a.get("/v1/admin/sizes?limit=1000"), 200)["value"]}
    dm = {"enabled": True, "minimumMB": 1024, "maximumMB": 4096}
    r = w.a.patch("/v1/admin/sizes/" + sizes[w.medium]["id"], {"dynamicMemory": dm})
    assert ok(r, 200)["dynamicMemory"] == dm
    vid, _ = shrunk(w, "dm", disk=False)
    assert w.get(vid)["dynamicMemory"] is None  # Small has fixed memory
    vm = restore(w, vid)
    assert (vm["size"], vm["memoryMB"], vm["dynamicMemory"]) == (w.medium, 3584, dm), vm
    books_balance(w)


def test_restore_on_a_wapd_agent_host_and_on_libvirt(d):
    agent = Agent(name="agent-restore").start()
    try:
        w = VmWorld(d, hosts=({"kind": "http", "uri": agent.uri, "token": agent.token},))
        restore_story(d, w, lambda w, adm: agent.vms()[adm["id"]])
    finally:
        agent.cleanup()
    # libvirt's test driver lives in the daemon's connection: what the host has is checked by the agent
    # unit tests; here the records, the books and the VM's further life.
    restore_story(d, VmWorld(d, hosts=(LIBVIRT,)))


def test_restore_that_grows_past_a_quota_or_the_host_is_refused(d):
    # Quota: two cores; the checkpoint was taken at Medium (2), the VM is Small now and another Small VM
    # holds the second core.
    w = VmWorld(d, quotas={"cores": 2})
    vid, _ = shrunk(w, "q", disk=False)
    w.create("other")
    before, usage = w.get(vid), w.usage()
    err(w.t.post(cp_path(w, vid) + "/restore"), 409, "QuotaExceeded", "cores")
    after = w.get(vid)
    assert (after["size"], after["provisioningState"], after["powerState"]) == (w.small, "succeeded", "stopped")
    assert after["updatedAt"] == before["updatedAt"] and w.usage() == usage
    books_balance(w)
    # Host room: two cores on the host; the stopped VM holds one, another VM the other.
    w = VmWorld(d, capacity={"cores": 2, "memoryMB": 65536, "storageGB": 1000})
    vid, _ = shrunk(w, "h", disk=False)
    w.create("other")
    host, usage = w.host(), w.usage()
    err(w.t.post(cp_path(w, vid) + "/restore"), 409, "NoCapacity")
    assert w.get(vid)["size"] == w.small and w.host()["allocated"] == host["allocated"] and w.usage() == usage
    books_balance(w)
    # A checkpoint taken at the same size restores with no reservation at all.
    put_cp(w, vid, "small")
    assert restore(w, vid)["size"] == w.small
    books_balance(w)


def test_a_failed_restore_gives_the_reservation_back(d):
    """The host fails every call: the restore fails, the VM keeps its size and disks, and what the request
    reserved for the checkpoint's size goes back."""
    w = VmWorld(d)
    vid, _ = shrunk(w, "f")
    before, usage, host = w.get(vid), w.usage(), w.host()
    ok(w.a.patch("/v1/admin/hosts/" + w.hosts[0]["id"], {"agent": {"uri": "sim://?failRate=1"}}), 200)
    restore(w, vid, expect="failed")
    ok(w.a.patch("/v1/admin/hosts/" + w.hosts[0]["id"], {"agent": {"uri": "sim://"}}), 200)
    vm = w.get(vid)
    assert (vm["size"], vm["cores"], vm["provisioningState"]) == (w.small, 1, "succeeded"), vm
    assert vm["disks"] == before["disks"]
    assert w.usage() == usage and w.host()["allocated"] == host["allocated"]
    books_balance(w)
    # And it can be done again.
    assert restore(w, vid)["size"] == w.medium
    books_balance(w)

def test_a_restore_canceled_while_it_runs_leaves_record_and_host_agreeing(d):
    """Canceled at a step boundary, after the host reverted or before: the record holds the size and the
    disks the host has, and the books balance."""
    w = VmWorld(d)
    vid, _ = shrunk(w, "c")
    ok(w.a.patch("/v1/admin/hosts/" + w.hosts[0]["id"], {"agent": {"uri": "sim://?latencyMs=800"}}), 200)
    r = w.t.post(cp_path(w, vid) + "/restore")
    wait_for(lambda: ok(w.t.get(r.header("Location")), 200)["status"] == "running", 30, "the restore to run")
    assert w.t.post(r.header("Location") + "/cancel").status in (200, 202, 409)
    job = wait_job(w.t, r.header("Location"), 60)
    assert job["status"] in ("canceled", "succeeded"), job
    ok(w.a.patch("/v1/admin/hosts/" + w.hosts[0]["id"], {"agent": {"uri": "sim://"}}), 200)
    vm = w.get(vid)
    assert vm["provisioningState"] == "succeeded", vm
    on_host = sim_host_vm(d)(w, ok(w.a.get("/v1/admin/vms/" + vid), 200))
    assert (vm["cores"], vm["memoryMB"]) == (on_host["cores"], on_host["memoryMB"]), (vm, on_host)
    assert [x["lun"] for x in vm["disks"]] == [x["lun"] for x in on_host["disks"]], (vm, on_host)
    books_balance(w)

def crash_at(boundary):
    """The restore of a Medium checkpoint of a VM resized to Small with a disk attached, the process
    aborting at a step boundary: after the restart the job resumes and ends as an uninterrupted one does."""
    d = Daemon().start()
    try:
        w = VmWorld(d)
        vid, usage = shrunk(w, "crash")
        d.stop()
        d.env = {"WAPD_FAULT": "vm.checkpoint.restore:" + boundary}
        d.start()
        w.t, w.a = d.tenant(w.token), d.admin()
        try:
            assert w.t.post(cp_path(w, vid) + "/restore").status == 202
        except (ConnectionError, OSError):
            pass  # the worker may abort before the answer leaves: the job is committed all the same
        wait_for(lambda: d.proc.poll() is not None, 30, "the fault point to abort the daemon")
        d.kill9()
        d.env = {"WAPD_FAULT": ""}
        d.start()
        w.t, w.a = d.tenant(w.token), d.admin()
        jobs = ok(w.a.get("/v1/admin/jobs?kind=vm.checkpoint.restore&resourceId=" + vid), 200)["value"]
        assert len(jobs) == 1, jobs
        assert wait_job(w.a, "/v1/admin/jobs/" + jobs[0]["id"], 60)["status"] == "succeeded"
        vm = w.get(vid)
        assert (vm["size"], vm["cores"], vm["powerState"]) == (w.medium, 2, "running"), vm
        assert [d["lun"] for d in vm["disks"]] == [None]
        assert w.usage() == usage
        books_balance(w)
        on_host = sim_host_vm(d)(w, ok(w.a.get("/v1/admin/vms/" + vid), 200))
        assert on_host["cores"] == 2 and [d["lun"] for d in on_host["disks"]] == [None], on_host
    finally:
        d.cleanup()


def test_crash_after_revert():
    crash_at("0:after")


def test_crash_after_drop_disks():
    crash_at("1:after")


def test_crash_before_record():
    crash_at("2:before")
