"""kill -9 while VM jobs are in flight: after a restart every job resumes at its first unfinished step and
ends, the host has exactly the VMs the database knows (no leak, no loss), and holdings add up."""

from harness import Daemon, ok, wait_for, wait_job
from simhosts import sim_vms
from test_vms import VmWorld


def host_vms(d, host_id):
    return set(sim_vms(d.state_dir, host_id))


def test_kill9_during_vm_jobs():
    d = Daemon().start()
    try:
        w = VmWorld(d, hosts=("sim://?latencyMs=150&jitterMs=100",))
        made = []
        for round_ in range(3):
            locs = []
            for i in range(4):
                r = w.t.post(w.base + "/vms", w.vm_body("c%d-%d" % (round_, i)))
                assert r.status == 202, r
                locs.append(r.header("Location"))
                made.append(r.json()["id"])
            # Power actions on VMs made in earlier rounds, so that stops and deletes are in flight too.
            for vm in ok(w.t.get(w.base + "/vms?limit=1000"), 200)["value"]:
                if vm["powerState"] == "running" and vm["provisioningState"] == "succeeded":
                    w.t.post(w.base + "/vms/%s/stop" % vm["id"])
            # Crash once some job is under way on the host. On a loaded machine the polls may miss every
            # job's running window: a round whose jobs all ended first still crashes, and says so.
            def under_way():
                states = [ok(w.t.get(loc), 200)["status"] for loc in locs]
                return "running" in states or all(s in ("succeeded", "failed") for s in states)
            wait_for(under_way, 60, "a running job")
            if not any(ok(w.t.get(loc), 200)["status"] == "running" for loc in locs):
                print("  round %d: the jobs ended before the crash" % round_)
            d.kill9()
            d.start()
            w.t = d.tenant(w.token)
            w.a = d.admin()
            for loc in locs:
                assert wait_job(w.t, loc, 60)["status"] in ("succeeded", "failed")
        # Every job of the subscription ended.
        jobs = ok(w.a.get("/v1/admin/jobs?subscriptionId=%s&limit=1000" % w.sub["id"]), 200)["value"]
        for j in jobs:
            if j["status"] in ("queued", "running"):
                wait_job(w.a, "/v1/admin/jobs/" + j["id"], 60)
        vms = ok(w.a.get("/v1/admin/vms?subscriptionId=%s&limit=1000" % w.sub["id"]), 200)["value"]
        assert {v["id"] for v in vms} == set(made)
        for v in vms:
            assert v["provisioningState"] == "succeeded", v
            assert v["powerState"] in ("running", "stopped"), v
        # The host has exactly the VMs the database points at.
        assert host_vms(d, w.hosts[0]["id"]) == {v["hypervisorId"] for v in vms}
        host = ok(w.a.get("/v1/admin/hosts/" + w.hosts[0]["id"]), 200)
        assert host["allocated"] == {k: sum(v["allocated"][k] for v in vms) for k in ("cores", "memoryMB", "storageGB")}
        assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}
    finally:
        d.cleanup()
