"""The fault run: a sim host that fails 10% of calls and hangs on 2%, 200 operations on VMs. Every job ends
succeeded or failed within its deadline, no VM is left in a transitional state, each host's allocated
equals the sum of what its VMs hold, and quota usage equals the recomputed value."""
import random
import threading
import time

from harness import SLOW, ok, wait_job
from test_vms import VmWorld

OPERATIONS = 200
WORKERS = 5
JOB_DEADLINE_S = 120
TRANSITIONAL_POWER = {"starting", "stopping", "deallocating"}
TRANSITIONAL_PROV = {"creating", "updating", "deleting"}


def actions_for(vm):
    """The changes a VM in this state accepts."""
    if vm["provisioningState"] == "failed":
        return ["delete"]
    p = vm["powerState"]
    acts = ["attach", "delete"]
    if [d for d in vm["disks"] if d["lun"] is not None]:
        acts.append("detach")
    if p == "running":
        acts += ["stop", "shutdown", "restart", "deallocate"]
    elif p == "stopped":
        acts += ["start", "deallocate", "resize"]
    elif p == "deallocated":
        acts += ["start", "resize"]
    return acts


def test_fault_run():
    from harness import Daemon
    d = Daemon().start()
    try:
        w = VmWorld(d, hosts=("sim://?failRate=0.1&hangRate=0.02", "sim://?failRate=0.1&hangRate=0.02"))
        rng = random.Random(20261122)
        lock = threading.Lock()
        jobs = []
        count = [0]

        def take():
            # An operation is a change that was accepted (202); refused attempts (the VM was busy or
            # its state had moved on) are retried, within a bound.
            with lock:
                if len(jobs) >= OPERATIONS or count[0] >= OPERATIONS * 10:
                    return False
                count[0] += 1
                return True

        def submit(c, method, path, body=None):
            r = c.request(method, path, body=body)
            if r.status == 202:
                with lock:
                    jobs.append(r.header("Location"))
                return r
            assert r.status in (409, 404), r  # busy, or a state the VM no longer has
            return None

        def worker(n):
            c = d.tenant(w.token)
            vm_id = None
            sizes = [w.small, w.medium]
            while take():
                if vm_id is None:
                    r = submit(c, "POST", w.base + "/vms", w.vm_body("f%d" % n))
                    if r is None:
                        continue
                    vm_id = r.json()["id"]
                else:
                    g = c.get(w.base + "/vms/" + vm_id)
                    if g.status == 404:
                        vm_id = None
                        continue
                    vm = g.json()
                    act = rng.choice(actions_for(vm))
                    base = w.base + "/vms/" + vm_id
                    if act == "attach":
                        r = submit(c, "POST", base + "/disks", {"sizeGB": 5})
                    elif act == "detach":
                        lun = [x["lun"] for x in vm["disks"] if x["lun"] is not None][0]
                        r = submit(c, "DELETE", base + "/disks/%d" % lun)
                    elif act == "resize":
                        r = submit(c, "PATCH", base, {"size": rng.choice(sizes)})
                    elif act == "delete":
                        r = submit(c, "DELETE", base)
                    else:
                        r = submit(c, "POST", base + "/" + act)
                    if r is None:
                        continue
                # Each worker drives its VM one job at a time.
                done = wait_job(c, r.header("Location"), JOB_DEADLINE_S + 30)
                assert done["status"] in ("succeeded", "failed"), done

        errors = []

        def guarded(n):
            try:
                worker(n)
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=guarded, args=(n,)) for n in range(WORKERS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join((JOB_DEADLINE_S + 60) * SLOW * 4)
        assert not errors, errors
        assert len(jobs) >= OPERATIONS, len(jobs)

        # Every job ended, within its deadline.
        statuses = {}
        for loc in jobs:
            j = ok(w.t.get(loc), 200)
            statuses[j["status"]] = statuses.get(j["status"], 0) + 1
            assert j["status"] in ("succeeded", "failed"), j
            if j["status"] == "failed":
                assert j["error"]["code"] and j["error"]["message"]
        assert statuses.get("failed", 0) > 0, statuses  # the faults did bite
        # No VM in a transitional state.
        vms = ok(w.a.get("/v1/admin/vms?subscriptionId=%s&limit=1000" % w.sub["id"]), 200)["value"]
        for vm in vms:
            assert vm["powerState"] not in TRANSITIONAL_POWER, vm
            assert vm["provisioningState"] not in TRANSITIONAL_PROV, vm
        # Each host's allocation is the sum of what its VMs hold.
        for h in w.hosts:
            host = ok(w.a.get("/v1/admin/hosts/" + h["id"]), 200)
            mine = [v for v in vms if v["hostId"] == h["id"]]
            total = {k: sum(v["allocated"][k] for v in mine) for k in ("cores", "memoryMB", "storageGB")}
            assert host["allocated"] == total, (host["allocated"], total)
            for v in mine:
                holds = v["allocated"]["cores"] > 0
                if v["powerState"] in ("running", "stopped"):
                    assert holds, v
                if v["powerState"] == "deallocated":
                    assert not holds, v
        # Quota usage equals the recomputed value.
        assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}
        print("fault run: %d jobs %s from %d attempts, %d VMs left, %.1fs" % (
            len(jobs), statuses, count[0], len(vms), time.monotonic() - t0))
    finally:
        d.cleanup()
