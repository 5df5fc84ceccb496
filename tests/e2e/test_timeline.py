"""The VM timeline, the source of metering: every change of what a VM runs or holds is recorded with its
time in the same transaction as the change; a VM whose creation failed leaves nothing to bill."""

from harness import ok, wait_job
from test_vms import VmWorld


def rows(d, vm_id):
    return d.store_rows("SELECT event, power_state, size, cores, storage_gb, holds_compute, holds_storage,"
                        " at_ms FROM vm_timeline WHERE vm_id = ? ORDER BY seq", (vm_id,))


def test_timeline_follows_a_vm(d):
    w = VmWorld(d)
    vm = w.create("t", dataDisks=[{"sizeGB": 10}])
    vid = vm["id"]
    w.act(vid, "stop")
    w.act(vid, "deallocate")
    r = w.t.patch(w.base + "/vms/" + vid, {"size": w.medium})
    wait_job(w.t, r.header("Location"))
    w.act(vid, "start")
    r = w.t.delete(w.base + "/vms/" + vid)
    wait_job(w.t, r.header("Location"))
    seen = [(e, p, s == w.medium, c, g, hc, hs) for e, p, s, c, g, hc, hs, _ in rows(d, vid)]
    # Only changes are recorded, each once, in order.
    assert seen[0] == ("created", "starting", False, 1, 40, 1, 1)
    assert ("changed", "running", False, 1, 40, 1, 1) in seen
    assert ("changed", "stopped", False, 1, 40, 1, 1) in seen
    assert ("changed", "deallocated", False, 1, 40, 0, 1) in seen
    assert ("changed", "deallocated", True, 2, 40, 0, 1) in seen
    assert ("changed", "running", True, 2, 40, 1, 1) in seen
    assert seen[-1][0] == "deleted"
    assert all(a != b for a, b in zip(seen, seen[1:]))
    times = [t for *_, t in rows(d, vid)]
    assert times == sorted(times)


def test_failed_create_is_never_billed(d):
    w = VmWorld(d, hosts=("sim://?failRate=1",))
    r = w.t.post(w.base + "/vms", w.vm_body("never"))
    vid = r.json()["id"]
    assert wait_job(w.t, r.header("Location"))["status"] == "failed"
    assert ok(w.t.get(w.base + "/vms/" + vid), 200)["provisioningState"] == "failed"
    assert rows(d, vid) == []
