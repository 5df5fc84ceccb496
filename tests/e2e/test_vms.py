"""VMs, power actions, data disks, networks, quotas, placement and subscription suspend/delete."""
import threading

from harness import Agent, Client, err, ok, uid, wait_for, wait_job
from simhosts import sim_vms


class VmWorld:
    """A cloud with hosts (each a sim uri, or an agent object such as {"kind": "http", "uri": …, "token": …}),
    an image, two sizes, a plan and a tenant with a subscription."""

    def __init__(self, d, hosts=("sim://",), quotas=None, capacity=None, checkpoint="createViewRestore"):
        self.d = d
        a = self.a = d.admin()
        self.cloud = ok(a.post("/v1/admin/clouds", {"name": "vmc-" + uid()[:6]}), 201)
        cap = capacity or {"cores": 64, "memoryMB": 262144, "storageGB": 10000}
        self.hosts = [ok(a.post("/v1/admin/hosts", {"name": "hv%d" % i, "cloudId": self.cloud["id"],
                                                    "agent": uri if isinstance(uri, dict)
                                                    else {"kind": "sim", "uri": uri},
                                                    "capacity": cap}), 201)
                      for i, uri in enumerate(hosts)]
        self.image = ok(a.post("/v1/admin/images", {"name": "ubuntu", "osType": "linux", "generation": 2,
                                                    "osDiskGB": 30}), 201)
        tag = uid()[:6]
        self.small, self.medium = "S" + tag, "M" + tag
        ok(a.post("/v1/admin/sizes", {"name": self.small, "cores": 1, "memoryMB": 1792}), 201)
        ok(a.post("/v1/admin/sizes", {"name": self.medium, "cores": 2, "memoryMB": 3584}), 201)
        self.plan = ok(a.post("/v1/admin/plans", {
            "name": "vm-plan", "cloudId": self.cloud["id"], "quotas": quotas or {},
            "imageIds": [self.image["id"]], "sizeNames": [self.small, self.medium],
            "checkpointMode": checkpoint}), 201)
        self.user = ok(a.post("/v1/admin/users", {"email": uid()[:8] + "@example.com"}), 201)
        self.sub = ok(a.post("/v1/admin/subscriptions", {"userId": self.user["id"],
                                                         "planId": self.plan["id"]}), 201)
        self.token = ok(a.post("/v1/admin/users/%s/tokens" % self.user["id"]), 201)["token"]
        self.t = d.tenant(self.token)
        self.base = "/v1/subscriptions/" + self.sub["id"]

    def vm_body(self, name="vm", **kw):
        b = {"name": name, "imageId": self.image["id"], "size": self.small}
        b.update(kw)
        return b

    def create(self, name="vm", wait=True, client=None, **kw):
        r = (client or self.t).post(self.base + "/vms", self.vm_body(name, **kw))
        vm = ok(r, 202)
        if wait:
            job = wait_job(self.t, r.header("Location"))
            assert job["status"] == "succeeded", job
            vm = self.get(vm["id"])
        return vm

    def get(self, vm_id):
        return ok(self.t.get(self.base + "/vms/" + vm_id), 200)

    def act(self, vm_id, action, expect="succeeded"):
        r = self.t.post(self.base + "/vms/%s/%s" % (vm_id, action))
        job = ok(r, 202)
        assert r.header("Location").endswith("/jobs/" + job["id"])
        done = wait_job(self.t, r.header("Location"))
        assert done["status"] == expect, done
        return self.get(vm_id)

    def host(self, i=0):
        return ok(self.a.get("/v1/admin/hosts/" + self.hosts[i]["id"]), 200)

    def usage(self):
        return ok(self.t.get(self.base), 200)["usage"]


def test_vm_whole_life(d):
    w = VmWorld(d)
    vm = w.create("web01", dataDisks=[{"sizeGB": 10, "caching": "ReadOnly"}])
    assert vm["provisioningState"] == "succeeded" and vm["powerState"] == "running"
    assert vm["cores"] == 1 and vm["memoryMB"] == 1792 and vm["osType"] == "linux" and vm["generation"] == 2
    assert vm["disks"] == [{"lun": None, "kind": "os", "sizeGB": 30, "caching": "ReadWrite"},
                           {"lun": 0, "kind": "data", "sizeGB": 10, "caching": "ReadOnly"}]
    assert vm["nics"] == [] and vm["checkpoint"] is None and vm["vmRoleId"] is None
    assert "hostId" not in vm and "hypervisorId" not in vm
    adm = ok(w.a.get("/v1/admin/vms/" + vm["id"]), 200)
    assert adm["hostId"] == w.hosts[0]["id"] and adm["hypervisorId"].startswith("sim-")
    assert w.host()["allocated"] == {"cores": 1, "memoryMB": 1792, "storageGB": 40}
    assert w.usage() == {"vms": 1, "cores": 1, "memoryMB": 1792, "storageGB": 40, "vmRoles": 0, "networks": 0}
    vid = vm["id"]
    # The state machine: what is not allowed is 409 InvalidPowerState.
    err(w.t.post(w.base + "/vms/%s/start" % vid), 409, "InvalidPowerState")
    err(w.t.post(w.base + "/vms/%s/fly" % vid), 404, "NotFound")
    err(w.t.patch(w.base + "/vms/" + vid, {"size": w.medium}), 409, "InvalidPowerState")
    assert w.act(vid, "restart")["powerState"] == "running"
    assert w.act(vid, "stop")["powerState"] == "stopped"
    err(w.t.post(w.base + "/vms/%s/stop" % vid), 409, "InvalidPowerState")
    err(w.t.post(w.base + "/vms/%s/shutdown" % vid), 409, "InvalidPowerState")
    err(w.t.post(w.base + "/vms/%s/restart" % vid), 409, "InvalidPowerState")
    # Stop keeps host capacity.
    assert w.host()["allocated"]["cores"] == 1
    assert w.act(vid, "start")["powerState"] == "running"
    assert w.act(vid, "shutdown")["powerState"] == "stopped"
    # Resize while stopped.
    r = w.t.patch(w.base + "/vms/" + vid, {"size": w.medium})
    assert ok(r, 202)["kind"] == "vm.resize"
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    vm = w.get(vid)
    assert vm["size"] == w.medium and vm["cores"] == 2 and vm["provisioningState"] == "succeeded"
    assert w.host()["allocated"]["cores"] == 2 and w.usage()["cores"] == 2
    err(w.t.patch(w.base + "/vms/" + vid, {"size": "Huge"}), 400, "InvalidRequest", "size")
    # Deallocate releases cores and memory, not storage.
    assert w.act(vid, "deallocate")["powerState"] == "deallocated"
    assert w.host()["allocated"] == {"cores": 0, "memoryMB": 0, "storageGB": 40}
    assert w.usage()["vms"] == 1  # quotas count every VM that exists
    err(w.t.post(w.base + "/vms/%s/stop" % vid), 409, "InvalidPowerState")
    # Disks attach and detach in any steady state, on unique luns.
    r = w.t.post(w.base + "/vms/%s/disks" % vid, {"sizeGB": 20})
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    vm = w.get(vid)
    assert [x["lun"] for x in vm["disks"]] == [None, 0, 1]
    err(w.t.post(w.base + "/vms/%s/disks" % vid, {"sizeGB": 5, "lun": 1}), 409, "Conflict", "lun")
    err(w.t.post(w.base + "/vms/%s/disks" % vid, {"sizeGB": 0}), 400, "InvalidRequest", "sizeGB")
    assert w.host()["allocated"]["storageGB"] == 60 and w.usage()["storageGB"] == 60
    r = w.t.delete(w.base + "/vms/%s/disks/0" % vid)
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert [x["lun"] for x in w.get(vid)["disks"]] == [None, 1]
    err(w.t.delete(w.base + "/vms/%s/disks/7" % vid), 404, "NotFound")
    assert w.host()["allocated"]["storageGB"] == 50
    assert w.act(vid, "start")["powerState"] == "running"
    assert w.host()["allocated"]["cores"] == 2
    # Delete releases everything.
    r = w.t.delete(w.base + "/vms/" + vid)
    assert ok(r, 202)["kind"] == "vm.delete"
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    err(w.t.get(w.base + "/vms/" + vid), 404, "NotFound")
    assert w.host()["allocated"] == {"cores": 0, "memoryMB": 0, "storageGB": 0}
    assert w.usage() == {"vms": 0, "cores": 0, "memoryMB": 0, "storageGB": 0, "vmRoles": 0, "networks": 0}
    assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}


def test_transitional_states_and_one_job_per_vm(d):
    w = VmWorld(d, hosts=("sim://?latencyMs=400",))
    r = w.t.post(w.base + "/vms", w.vm_body("slow"))
    vm = ok(r, 202)
    assert vm["provisioningState"] == "creating" and vm["powerState"] == "starting"
    # A second write while the first job runs: 409 OperationInProgress.
    err(w.t.post(w.base + "/vms/%s/stop" % vm["id"]), 409, "OperationInProgress")
    err(w.t.delete(w.base + "/vms/" + vm["id"]), 409, "OperationInProgress")
    wait_job(w.t, r.header("Location"))
    r = w.t.post(w.base + "/vms/%s/stop" % vm["id"])
    ok(r, 202)
    assert w.get(vm["id"])["powerState"] == "stopping"
    err(w.t.post(w.base + "/vms/%s/start" % vm["id"]), 409, "OperationInProgress")
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert w.get(vm["id"])["powerState"] == "stopped"


def test_create_validation(d):
    w = VmWorld(d)
    other = ok(w.a.post("/v1/admin/images", {"name": "win", "osType": "windows", "generation": 2,
                                             "osDiskGB": 127}), 201)
    err(w.t.post(w.base + "/vms", w.vm_body(imageId=other["id"])), 400, "InvalidRequest", "imageId")
    err(w.t.post(w.base + "/vms", w.vm_body(imageId=uid())), 400, "InvalidRequest", "imageId")
    err(w.t.post(w.base + "/vms", w.vm_body(size="Tiny")), 400, "InvalidRequest", "size")
    err(w.t.post(w.base + "/vms", w.vm_body(dataDisks=[{"sizeGB": 1}, {"sizeGB": "big"}])), 400,
        "InvalidRequest", "dataDisks[1].sizeGB")
    err(w.t.post(w.base + "/vms", w.vm_body(dataDisks=[{"sizeGB": 1, "caching": "Fast"}])), 400,
        "InvalidRequest", "dataDisks[0].caching")
    err(w.t.post(w.base + "/vms", w.vm_body(dataDisks=[{"sizeGB": 1, "lun": 3}, {"sizeGB": 1, "lun": 3}])),
        400, "InvalidRequest", "dataDisks[1].lun")
    err(w.t.post(w.base + "/vms", w.vm_body(networkId=uid())), 400, "InvalidRequest", "networkId")
    err(w.t.post(w.base + "/vms", w.vm_body(extra=1)), 400, "InvalidRequest", "extra")
    assert ok(w.t.get(w.base + "/vms"), 200)["value"] == []
    assert w.usage()["vms"] == 0


def test_quota_race_exactly_five(d):
    w = VmWorld(d, quotas={"vms": 5})
    clients = [d.tenant(w.token) for _ in range(10)]
    results = []
    lock = threading.Lock()

    def worker(c, n):
        for i in range(3):
            r = c.post(w.base + "/vms", w.vm_body("race-%d-%d" % (n, i)))
            with lock:
                results.append(r)

    threads = [threading.Thread(target=worker, args=(c, n)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 30
    accepted = [r for r in results if r.status == 202]
    refused = [r for r in results if r.status == 409]
    assert len(accepted) == 5, [r.status for r in results]
    assert len(refused) == 25
    assert all(r.json()["error"]["code"] == "QuotaExceeded" and r.json()["error"]["target"] == "vms"
               for r in refused)
    for r in accepted:
        assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    assert len(ok(w.t.get(w.base + "/vms"), 200)["value"]) == 5
    assert w.usage()["vms"] == 5


def test_other_quotas_and_capacity(d):
    w = VmWorld(d, quotas={"cores": 3, "storageGB": 100}, capacity={"cores": 2, "memoryMB": 8192, "storageGB": 500})
    w.create("a", size=w.medium)
    # The one host has no cores left: 409 NoCapacity, at once.
    e = err(w.t.post(w.base + "/vms", w.vm_body("b")), 409, "NoCapacity")
    assert "room" in e["error"]["message"]
    # A second host in maintenance takes no VMs either.
    h2 = ok(w.a.post("/v1/admin/hosts", {"name": "hv-m", "cloudId": w.cloud["id"], "agent": {"kind": "sim"},
                                         "capacity": {"cores": 8, "memoryMB": 8192, "storageGB": 500}}), 201)
    ok(w.a.patch("/v1/admin/hosts/" + h2["id"], {"state": "maintenance"}), 200)
    err(w.t.post(w.base + "/vms", w.vm_body("b")), 409, "NoCapacity")
    ok(w.a.patch("/v1/admin/hosts/" + h2["id"], {"state": "ok"}), 200)
    b = w.create("b")
    assert ok(w.a.get("/v1/admin/vms/" + b["id"]), 200)["hostId"] == h2["id"]
    # cores quota 3 is now used up; storage 100 allows 30+30+... per VM.
    err(w.t.post(w.base + "/vms", w.vm_body("c")), 409, "QuotaExceeded", "cores")
    # A host with VMs cannot be deleted or shrunk below what they hold.
    err(w.a.delete("/v1/admin/hosts/" + h2["id"]), 409, "Conflict")
    err(w.a.patch("/v1/admin/hosts/" + h2["id"], {"capacity": {"cores": 0}}), 400, "InvalidRequest")
    err(w.a.patch("/v1/admin/hosts/" + w.hosts[0]["id"], {"capacity": {"cores": 1}}), 409, "Conflict",
        "capacity.cores")
    ok(w.a.patch("/v1/admin/hosts/" + h2["id"], {"capacity": {"cores": 1}}), 200)


def test_storage_quota(d):
    w = VmWorld(d, quotas={"storageGB": 50})
    err(w.t.post(w.base + "/vms", w.vm_body(dataDisks=[{"sizeGB": 21}])), 409, "QuotaExceeded", "storageGB")
    vm = w.create("s", dataDisks=[{"sizeGB": 20}])
    err(w.t.post(w.base + "/vms/%s/disks" % vm["id"], {"sizeGB": 1}), 409, "QuotaExceeded", "storageGB")


def test_idempotent_vm_create(d):
    w = VmWorld(d)
    key = uid()
    r1 = w.t.post(w.base + "/vms", w.vm_body("idem"), headers={"Idempotency-Key": key})
    r2 = w.t.post(w.base + "/vms", w.vm_body("idem"), headers={"Idempotency-Key": key})
    assert r1.status == 202 and r2.status == 202
    assert r1.json()["id"] == r2.json()["id"] and r1.header("Location") == r2.header("Location")
    err(w.t.post(w.base + "/vms", w.vm_body("other"), headers={"Idempotency-Key": key}), 409, "Conflict")
    wait_job(w.t, r1.header("Location"))
    assert len(ok(w.t.get(w.base + "/vms"), 200)["value"]) == 1
    assert w.usage()["vms"] == 1


def test_networks(d):
    w = VmWorld(d, quotas={"networks": 1})
    err(w.t.post(w.base + "/networks", {"name": "n", "addressPrefix": "10.0.0.1/24"}), 400, "InvalidRequest",
        "addressPrefix")
    err(w.t.post(w.base + "/networks", {"name": "n", "addressPrefix": "300.0.0.0/24"}), 400, "InvalidRequest",
        "addressPrefix")
    err(w.t.post(w.base + "/networks", {"name": "n", "addressPrefix": "10.0.0.0/30"}), 400, "InvalidRequest",
        "addressPrefix")
    r = w.t.post(w.base + "/networks", {"name": "lan", "addressPrefix": "10.0.0.0/24"})
    net = ok(r, 201)
    assert r.header("Location") == w.base + "/networks/" + net["id"]
    err(w.t.post(w.base + "/networks", {"name": "lan2", "addressPrefix": "10.1.0.0/24"}), 409, "QuotaExceeded",
        "networks")
    a = w.create("a", networkId=net["id"])
    b = w.create("b", networkId=net["id"])
    assert a["nics"] == [{"networkId": net["id"], "ipAddress": "10.0.0.4"}]
    assert b["nics"][0]["ipAddress"] == "10.0.0.5"
    err(w.t.delete(w.base + "/networks/" + net["id"]), 409, "Conflict")
    # Another tenant may use the same prefix.
    w2 = VmWorld(d)
    net2 = ok(w2.t.post(w2.base + "/networks", {"name": "lan", "addressPrefix": "10.0.0.0/24"}), 201)
    assert w2.create("x", networkId=net2["id"])["nics"][0]["ipAddress"] == "10.0.0.4"
    err(w2.t.post(w2.base + "/vms", w2.vm_body(networkId=net["id"])), 400, "InvalidRequest", "networkId")
    err(w2.t.get(w2.base + "/networks/" + net["id"]), 404, "NotFound")
    # Freed addresses are used again; the network goes once no VM uses it.
    r = w.t.delete(w.base + "/vms/" + a["id"])
    wait_job(w.t, r.header("Location"))
    assert w.create("c", networkId=net["id"])["nics"][0]["ipAddress"] == "10.0.0.4"
    for vm in ok(w.t.get(w.base + "/vms"), 200)["value"]:
        wait_job(w.t, w.t.delete(w.base + "/vms/" + vm["id"]).header("Location"))
    assert w.t.delete(w.base + "/networks/" + net["id"]).status == 204
    assert w.usage()["networks"] == 0


def test_suspended_subscription(d):
    w = VmWorld(d)
    a = w.create("a")
    b = w.create("b")
    w.act(b["id"], "stop")
    r = w.a.patch("/v1/admin/subscriptions/" + w.sub["id"], {"state": "suspended"})
    assert ok(r, 202)["kind"] == "subscription.suspend"
    assert wait_job(w.a, r.header("Location"))["status"] == "succeeded"
    wait_for(lambda: w.get(a["id"])["powerState"] == "stopped", 30, "the running VM to stop")
    assert w.get(b["id"])["powerState"] == "stopped"
    # Tenant writes are refused; reads work.
    err(w.t.post(w.base + "/vms/%s/start" % a["id"]), 409, "SubscriptionSuspended")
    err(w.t.post(w.base + "/vms", w.vm_body("c")), 409, "SubscriptionSuspended")
    err(w.t.delete(w.base + "/vms/" + a["id"]), 409, "SubscriptionSuspended")
    err(w.t.post(w.base + "/networks", {"name": "n", "addressPrefix": "10.0.0.0/24"}), 409,
        "SubscriptionSuspended")
    assert ok(w.t.get(w.base), 200)["state"] == "suspended"
    ok(w.a.patch("/v1/admin/subscriptions/" + w.sub["id"], {"state": "active"}), 200)
    assert w.act(a["id"], "start")["powerState"] == "running"


def test_subscription_delete_removes_everything(d):
    w = VmWorld(d)
    net = ok(w.t.post(w.base + "/networks", {"name": "lan", "addressPrefix": "192.168.0.0/24"}), 201)
    w.create("a", networkId=net["id"])
    w.create("b")
    r = w.a.delete("/v1/admin/subscriptions/" + w.sub["id"])
    assert wait_job(w.a, r.header("Location"), 60)["status"] == "succeeded"
    err(w.a.get("/v1/admin/subscriptions/" + w.sub["id"]), 404, "NotFound")
    assert ok(w.a.get("/v1/admin/vms?subscriptionId=" + w.sub["id"]), 200)["value"] == []
    assert w.host()["allocated"] == {"cores": 0, "memoryMB": 0, "storageGB": 0}


def test_admin_vm_filters(d):
    w = VmWorld(d, hosts=("sim://", "sim://"))
    a = w.create("a")
    b = w.create("b")
    w.act(b["id"], "stop")
    mine = ok(w.a.get("/v1/admin/vms?subscriptionId=" + w.sub["id"]), 200)["value"]
    assert {v["id"] for v in mine} == {a["id"], b["id"]}
    assert all("hostId" in v and "hypervisorId" in v for v in mine)
    # Least loaded: the two VMs went to different hosts.
    assert len({v["hostId"] for v in mine}) == 2
    stopped = ok(w.a.get("/v1/admin/vms?subscriptionId=%s&powerState=stopped" % w.sub["id"]), 200)["value"]
    assert [v["id"] for v in stopped] == [b["id"]]
    on_host = ok(w.a.get("/v1/admin/vms?hostId=" + mine[0]["hostId"]), 200)["value"]
    assert [v["id"] for v in on_host] == [mine[0]["id"]]


def test_deallocated_vm_starts_on_another_host(d):
    cap = {"cores": 2, "memoryMB": 8192, "storageGB": 500}
    w = VmWorld(d, hosts=("sim://",), capacity=cap)
    a = w.create("a", size=w.medium)
    first = ok(w.a.get("/v1/admin/vms/" + a["id"]), 200)["hostId"]
    w.act(a["id"], "deallocate")
    b = w.create("b", size=w.medium)  # takes the cores a released
    assert ok(w.a.get("/v1/admin/vms/" + b["id"]), 200)["hostId"] == first
    # No other host yet: 409 NoCapacity at once.
    err(w.t.post(w.base + "/vms/%s/start" % a["id"]), 409, "NoCapacity")
    h2 = ok(w.a.post("/v1/admin/hosts", {"name": "hv-b", "cloudId": w.cloud["id"], "agent": {"kind": "sim"},
                                         "capacity": cap}), 201)
    vm = w.act(a["id"], "start")
    assert vm["powerState"] == "running"
    moved = ok(w.a.get("/v1/admin/vms/" + a["id"]), 200)
    assert moved["hostId"] == h2["id"]
    # The old host keeps only b; the new one holds all of a.
    assert ok(w.a.get("/v1/admin/hosts/" + first), 200)["allocated"] == {"cores": 2, "memoryMB": 3584,
                                                                           "storageGB": 30}
    assert ok(w.a.get("/v1/admin/hosts/" + h2["id"]), 200)["allocated"] == {"cores": 2, "memoryMB": 3584,
                                                                              "storageGB": 30}
    # The old host no longer has a's old copy.
    assert set(sim_vms(d.state_dir, first)) == {ok(w.a.get("/v1/admin/vms/" + b["id"]), 200)["hypervisorId"]}
    assert w.act(a["id"], "stop")["powerState"] == "stopped"


def test_sim_hosts_only_on_a_store_of_one_daemon(d):
    """A sim host lives inside one daemon. On the embedded store (one daemon) it is taken; on a store several
    daemons share (PostgreSQL) it is refused, saying what scale-out uses, and nothing changes; there an http
    host (a wapd-agent) is taken, and its agent cannot be made a sim one."""
    # A client without the harness's translation of sim hosts on PostgreSQL: the request goes as written.
    a = Client(d.admin_port, d.admin_token)
    cloud = ok(a.post("/v1/admin/clouds", {"name": "simrule-" + uid()[:6]}), 201)
    cap = {"cores": 4, "memoryMB": 8192, "storageGB": 100}
    sim = {"name": "hv-sim", "cloudId": cloud["id"], "agent": {"kind": "sim", "uri": "sim://?latencyMs=5"},
           "capacity": cap}
    hosts = "/v1/admin/hosts?cloudId=" + cloud["id"]
    if d.pg_uri is None:
        h = ok(a.post("/v1/admin/hosts", sim), 201)
        assert h["agent"] == {"kind": "sim", "uri": "sim://?latencyMs=5"}
        assert [x["id"] for x in ok(a.get(hosts), 200)["value"]] == [h["id"]]
        assert a.delete("/v1/admin/hosts/" + h["id"]).status == 204
        assert a.delete("/v1/admin/clouds/" + cloud["id"]).status == 204
        return
    for body in (sim, dict(sim, agent={"kind": "sim"})):
        e = err(a.post("/v1/admin/hosts", body), 400, "InvalidRequest", "agent.kind")["error"]
        for word in ("sim", "shared", "http", "wapd-agent", "libvirt"):
            assert word in e["message"], e
    assert ok(a.get(hosts), 200)["value"] == []
    agent = Agent().start()
    try:
        h = ok(a.post("/v1/admin/hosts", dict(sim, agent={"kind": "http", "uri": agent.uri,
                                                          "token": agent.token})), 201)
        path = "/v1/admin/hosts/" + h["id"]
        # A host's kind is not a field a PATCH changes, and a sim uri is not an http host's.
        err(a.patch(path, {"agent": {"kind": "sim"}}), 400, "InvalidRequest", "agent.kind")
        err(a.patch(path, {"agent": {"uri": "sim://"}}), 400, "InvalidRequest", "agent.uri")
        now = ok(a.get(path), 200)
        assert now["agent"] == {"kind": "http", "uri": agent.uri}, now
        assert a.delete(path).status == 204
        assert a.delete("/v1/admin/clouds/" + cloud["id"]).status == 204
    finally:
        agent.cleanup()
