"""A VM's instanceView: each status's time is when that state was entered (a stop moves the power state's
time and leaves the provisioning state's alone), a disk's entry appears when it is attached, and the guest
agent's heartbeat shows while the VM runs: "ok" on a sim host and on a wapd-agent host, "noContact" on a sim
host whose uri says so, none once the VM is stopped. The heartbeat is observed every host heartbeat (1 s
here), so the tests poll for it."""
from harness import Agent, Daemon, ok, wait_for, wait_job
from test_vms import VmWorld

HEARTBEAT = ["--host-heartbeat-seconds", "1"]


def statuses(vm):
    return {s["code"].split("/")[0]: s for s in vm["instanceView"]["statuses"]}


def guest_status(w, vm_id):
    """Polls until the VM's view shows a guest status; answers it."""
    def seen():
        return statuses(w.get(vm_id)).get("GuestAgent")
    return wait_for(seen, 30, "a guest status on the VM")


def test_instance_view_times_follow_the_states():
    d = Daemon().start()
    try:
        w = VmWorld(d)
        vm = w.create("iv")
        st = statuses(vm)
        assert [s["code"] for s in vm["instanceView"]["statuses"]][:2] == [
            "ProvisioningState/succeeded", "PowerState/running"], vm["instanceView"]
        assert st["ProvisioningState"]["displayStatus"] == "Provisioning succeeded"
        assert st["PowerState"]["displayStatus"] == "VM running"
        for s in st.values():
            assert s["time"] >= vm["createdAt"], (s, vm["createdAt"])
        assert vm["instanceView"]["disks"] == [{"lun": None, "status": "ok",
                                                "time": vm["instanceView"]["disks"][0]["time"]}]
        assert vm["instanceView"]["disks"][0]["time"] >= vm["createdAt"]
        # The admin's view, and both lists, carry the same instance view.
        admin = ok(w.a.get("/v1/admin/vms/" + vm["id"]), 200)
        assert admin["instanceView"] == vm["instanceView"]
        listed = [v for v in ok(w.t.get(w.base + "/vms"), 200)["value"] if v["id"] == vm["id"]]
        assert listed[0]["instanceView"] == vm["instanceView"]
        assert not any(k.startswith("_") for k in admin), admin
        # A stop: the power state's time moves on, the provisioning state's stays.
        stopped = w.act(vm["id"], "stop")
        st2 = statuses(stopped)
        assert st2["PowerState"]["code"] == "PowerState/stopped"
        assert st2["PowerState"]["displayStatus"] == "VM stopped"
        assert st2["PowerState"]["time"] > st["PowerState"]["time"]
        assert st2["ProvisioningState"] == st["ProvisioningState"]
        assert "GuestAgent" not in st2
        # A disk attached: its entry appears, with the time it was added; the OS disk's stays.
        r = w.t.post(w.base + "/vms/%s/disks" % vm["id"], {"sizeGB": 5})
        assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
        attached = w.get(vm["id"])
        disks = attached["instanceView"]["disks"]
        assert [x["lun"] for x in disks] == [None, 0], disks
        assert disks[0] == vm["instanceView"]["disks"][0]
        assert disks[1]["status"] == "ok" and disks[1]["time"] > st2["PowerState"]["time"], disks
    finally:
        d.cleanup()


def test_guest_heartbeat_on_sim_hosts():
    d = Daemon(extra_args=HEARTBEAT).start()
    try:
        w = VmWorld(d)
        vm = w.create("g")
        g = guest_status(w, vm["id"])
        assert g["code"] == "GuestAgent/ok", g
        assert g["displayStatus"] and g["time"] >= vm["createdAt"], g
        etag = w.t.get(w.base + "/vms/" + vm["id"]).header("ETag")
        # A host that reports nothing of its guests, and one whose guests do not answer.
        w3 = VmWorld(d, hosts=("sim://?guestHeartbeat=off",))
        vm3 = w3.create("off")
        w2 = VmWorld(d, hosts=("sim://?guestHeartbeat=noContact",))
        vm2 = w2.create("nc")
        g2 = guest_status(w2, vm2["id"])
        assert g2["code"] == "GuestAgent/noContact", g2
        assert g2["displayStatus"] != g["displayStatus"]
        # A heartbeat has observed every host since vm3 ran: it shows no guest status; and vm's unchanged
        # heartbeat kept its time and did not rewrite its record.
        assert "GuestAgent" not in statuses(w3.get(vm3["id"]))
        again = w.t.get(w.base + "/vms/" + vm["id"])
        assert statuses(again.json())["GuestAgent"]["time"] == g["time"]
        assert again.header("ETag") == etag
        # Stopped: no guest status.
        stopped = w.act(vm["id"], "stop")
        assert "GuestAgent" not in statuses(stopped)
    finally:
        d.cleanup()


def test_guest_heartbeat_on_a_wapd_agent_host():
    a = Agent().start()
    d = Daemon(extra_args=HEARTBEAT).start()
    try:
        w = VmWorld(d, hosts=({"kind": "http", "uri": a.uri, "token": a.token},))
        vm = w.create("ag")
        g = guest_status(w, vm["id"])
        assert g["code"] == "GuestAgent/ok", g
        # The agent's own inventory says so too.
        entry = [v for v in a.client().get("/v1/vms").json()["value"] if v["id"] == vm["id"]]
        assert entry and entry[0]["guestHeartbeat"] == "ok", entry
    finally:
        d.cleanup()
        a.stop()
