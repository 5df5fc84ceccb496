"""Events for every change a portal or runbook reacts to: networks, disks, VM roles (create, delete, join),
re-association, hosts, users and tokens, and the end of every job; each read back from the feed with its
type, resourceId, subscriptionId (null for host, user and token events) and data. Hooks with a trailing
".*" receive exactly the events under their prefix."""
from harness import err, ok, uid, wait_for, wait_job
from receiver import Receiver
from test_hooks import SECRET, add_hook, feed
from test_jobs import _running
from test_vmroles import RoleWorld


def since(a, cursor):
    """The events after cursor, and the cursor after them."""
    return feed(a, cursor)


def one(events, type_, **match):
    """The single event of type_ whose fields (or data fields, with a data_ prefix) match."""
    def field(e, k):
        return e["data"].get(k[5:]) if k.startswith("data_") else e.get(k)
    found = [e for e in events if e["type"] == type_ and all(field(e, k) == v for k, v in match.items())]
    assert len(found) == 1, (type_, match, [e for e in events if e["type"] == type_])
    return found[0]


def job_ends(events, job_id):
    return [e for e in events if e["type"].startswith("job.") and e["data"].get("jobId") == job_id]


def test_networks_disks_and_roles(d):
    w = RoleWorld(d)
    sid = w.sub["id"]
    _, cursor = feed(w.a)
    net = ok(w.t.post(w.base + "/networks", {"name": "ev-net", "addressPrefix": "10.9.0.0/24"}), 201)
    assert w.t.delete(w.base + "/networks/" + net["id"]).status == 204
    vm = w.create("ev-disk")
    r = w.t.post(w.base + "/vms/%s/disks" % vm["id"], {"sizeGB": 20})
    attach = wait_job(w.t, r.header("Location"))
    assert attach["status"] == "succeeded"
    r = w.t.delete(w.base + "/vms/%s/disks/0" % vm["id"])
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    r = w.t.post(w.role_path(), {"name": "evr", "galleryItemId": w.item["id"], "instanceCount": 1})
    rid = r.json()["id"]
    create = wait_job(w.t, r.header("Location"))
    assert create["status"] == "succeeded"
    solo = w.create("ev-solo")
    ok(w.a.post("/v1/admin/vmroles/%s/join" % rid, {"vmId": solo["id"]}), 200)
    r = w.t.delete(w.role_path(rid))
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"

    events, _ = since(w.a, cursor)
    for e in events:
        assert set(e) == {"id", "type", "occurredAt", "subscriptionId", "resourceId", "data"}, e
    created = one(events, "network.created", resourceId=net["id"])
    assert created["subscriptionId"] == sid
    assert created["data"] == {"name": "ev-net", "addressPrefix": "10.9.0.0/24"}
    deleted = one(events, "network.deleted", resourceId=net["id"])
    assert deleted["subscriptionId"] == sid and deleted["data"] == {"name": "ev-net"}
    att = one(events, "vm.disk.attached", resourceId=vm["id"])
    assert att["subscriptionId"] == sid and att["data"] == {"lun": 0, "sizeGB": 20}
    det = one(events, "vm.disk.detached", resourceId=vm["id"])
    assert det["subscriptionId"] == sid and det["data"] == {"lun": 0, "sizeGB": 20}
    rc = one(events, "vmrole.created", resourceId=rid)
    assert rc["subscriptionId"] == sid
    assert rc["data"] == {"name": "evr", "size": w.small, "galleryItemId": w.item["id"], "instanceCount": 1}
    joined = one(events, "vmrole.instanceJoined", resourceId=rid)
    assert joined["subscriptionId"] == sid and joined["data"] == {"vmId": solo["id"], "adopted": False}
    rd = one(events, "vmrole.deleted", resourceId=rid)
    assert rd["subscriptionId"] == sid and rd["data"] == {"name": "evr"}
    # Each in order: created before deleted, attached before detached.
    order = [e["id"] for e in events]
    assert order.index(created["id"]) < order.index(deleted["id"])
    assert order.index(att["id"]) < order.index(det["id"])
    assert order.index(rc["id"]) < order.index(joined["id"]) < order.index(rd["id"])
    # Every job that ended says so once, with its resource: the attach on the VM, the role's on the role.
    (end,) = job_ends(events, attach["id"])
    assert end["type"] == "job.succeeded" and end["resourceId"] == vm["id"] and end["subscriptionId"] == sid
    assert end["data"] == {"jobId": attach["id"], "kind": "vm.disk.attach"}
    (end,) = job_ends(events, create["id"])
    assert end["type"] == "job.succeeded" and end["resourceId"] == rid
    assert end["data"] == {"jobId": create["id"], "kind": "vmrole.create"}


def test_reassociate_and_adopt(d):
    w = RoleWorld(d)
    host_id = w.hosts[0]["id"]
    r = w.t.post(w.role_path(), {"name": "ra", "galleryItemId": w.item["id"], "instanceCount": 1})
    rid = r.json()["id"]
    wait_job(w.t, r.header("Location"))
    inst = w.instances(rid)[0]
    lost = w.create("ev-lost")
    res = ok(w.a.post("/v1/admin/hosts/%s/simulate" % host_id, {"regenerateIds": [inst["id"], lost["id"]]}),
             200)
    hyp = {e["vmId"]: e["newHypervisorId"] for e in res["regenerated"]}
    r = w.a.post("/v1/admin/hosts/%s/refresh" % host_id)
    assert wait_job(w.a, r.header("Location"))["status"] == "succeeded"
    _, cursor = feed(w.a)
    ok(w.a.post("/v1/admin/vms/%s/reassociate" % inst["id"], {"hostId": host_id,
                                                               "hypervisorId": hyp[inst["id"]]}), 200)
    ok(w.a.post("/v1/admin/vmroles/%s/join" % rid, {"hostId": host_id, "hypervisorId": hyp[lost["id"]]}), 200)
    events, _ = since(w.a, cursor)
    re = one(events, "vm.reassociated", resourceId=inst["id"])
    assert re["subscriptionId"] == w.sub["id"]
    assert re["data"] == {"fromHostId": host_id, "toHostId": host_id, "hypervisorId": hyp[inst["id"]]}
    joined = one(events, "vmrole.instanceJoined", resourceId=rid)
    assert joined["subscriptionId"] == w.sub["id"] and joined["data"]["adopted"] is True
    adopted = joined["data"]["vmId"]
    assert adopted in w.role(rid)["instances"] and adopted != lost["id"]
    made = one(events, "vm.created", resourceId=adopted)
    assert made["data"]["vmRoleId"] == rid


test_reassociate_and_adopt.sim_only = "POST /hosts/{id}/simulate (new hypervisor ids) is a sim host's own call"


def test_hosts_users_and_tokens(d):
    a = d.admin()
    _, cursor = feed(a)
    cloud = ok(a.post("/v1/admin/clouds", {"name": "evc-" + uid()[:6]}), 201)
    host = ok(a.post("/v1/admin/hosts", {"name": "evh", "cloudId": cloud["id"],
                                         "agent": {"kind": "sim", "uri": "sim://"},
                                         "capacity": {"cores": 8, "memoryMB": 16384, "storageGB": 500}}), 201)
    ok(a.patch("/v1/admin/hosts/" + host["id"], {"capacity": {"cores": 16}}), 200)
    ok(a.patch("/v1/admin/hosts/" + host["id"], {"name": "evh2"}), 200)
    assert a.delete("/v1/admin/hosts/" + host["id"]).status == 204
    user = ok(a.post("/v1/admin/users", {"email": uid()[:8] + "@example.com", "name": "Ev"}), 201)
    tok = ok(a.post("/v1/admin/users/%s/tokens" % user["id"]), 201)
    assert a.delete("/v1/admin/users/%s/tokens/%s" % (user["id"], tok["id"])).status == 204

    events, end = since(a, cursor)
    mine = [e for e in events if e["type"].split(".")[0] in ("host", "user", "token")]
    assert all(e["subscriptionId"] is None for e in mine), mine
    hc = one(events, "host.created", resourceId=host["id"])
    assert hc["data"] == {"name": "evh", "cloudId": cloud["id"]}
    updates = [e for e in events if e["type"] == "host.updated" and e["resourceId"] == host["id"]]
    assert [u["data"]["changed"] for u in updates] == [["capacity.cores"], ["name"]]
    assert updates[0]["data"]["capacity"] == {"cores": 16, "memoryMB": 16384, "storageGB": 500}
    assert updates[0]["data"]["state"] == "ok"
    one(events, "host.deleted", resourceId=host["id"])
    uc = one(events, "user.created", resourceId=user["id"])
    assert uc["data"] == {"email": user["email"], "name": "Ev"}
    tc = one(events, "token.created", resourceId=tok["id"])
    assert tc["data"] == {"userId": user["id"], "expiresAt": tok["expiresAt"]}
    tr = one(events, "token.revoked", resourceId=tok["id"])
    assert tr["data"] == {"userId": user["id"]}
    # The token itself is in no event.
    assert all(tok["token"] not in str(e) for e in events)
    # A refused change raises nothing: a revoke of a revoked token, a patch of a host that is gone.
    err(a.delete("/v1/admin/users/%s/tokens/%s" % (user["id"], tok["id"])), 404, "NotFound")
    err(a.patch("/v1/admin/hosts/" + host["id"], {"name": "x"}), 404, "NotFound")
    after, _ = since(a, end)
    assert [e for e in after if e["type"].startswith(("token.", "host."))] == []


def test_every_job_end_is_an_event(d):
    from test_vms import VmWorld
    w = VmWorld(d, hosts=("sim://?latencyMs=1500",))
    _, cursor = feed(w.a)
    vm = w.create("ev-jobs")
    r = w.t.post(w.base + "/vms", w.vm_body("ev-canceled"))
    other = ok(r, 202)
    _running(w.t, r.header("Location"))
    assert w.t.post(r.header("Location") + "/cancel").status == 202
    canceled = wait_job(w.t, r.header("Location"), 60)
    assert canceled["status"] == "canceled"
    events, _ = since(w.a, cursor)
    jobs = [ok(w.a.get("/v1/admin/jobs?resourceId=" + v), 200)["value"] for v in (vm["id"], other["id"])]
    assert [len(j) for j in jobs] == [1, 1]
    for (j,), rid in zip(jobs, (vm["id"], other["id"])):
        (end,) = job_ends(events, j["id"])
        assert end["type"] == "job." + j["status"], (end, j)
        assert end["resourceId"] == rid and end["subscriptionId"] == w.sub["id"]
        assert end["data"] == {"jobId": j["id"], "kind": "vm.create"}
    assert one(events, "job.canceled", data_jobId=canceled["id"])["resourceId"] == other["id"]
    assert one(events, "job.succeeded", resourceId=vm["id"])


def test_prefix_hooks_receive_exactly_what_they_select(d):
    a = d.admin()
    rcv = {p: Receiver(SECRET) for p in ("vm.*", "subscription.*", "job.*", "vm.disk.*")}
    try:
        _, cursor = feed(a)
        hooks = {p: add_hook(a, r.url, events=[p]) for p, r in rcv.items()}
        assert hooks["vm.*"]["events"] == ["vm.*"]
        w = RoleWorld(d)
        vm = w.create("ev-hook")
        r = w.t.post(w.base + "/vms/%s/disks" % vm["id"], {"sizeGB": 5})
        assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
        r = w.t.post(w.role_path(), {"name": "hk", "galleryItemId": w.item["id"], "instanceCount": 1})
        assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
        r = a.patch("/v1/admin/subscriptions/" + w.sub["id"], {"state": "suspended"})
        assert r.status in (200, 202)
        if r.status == 202:
            wait_job(a, r.header("Location"))
        events, _ = feed(a, cursor)
        for prefix, receiver in rcv.items():
            want = {e["id"] for e in events if e["type"].startswith(prefix[:-1])}
            assert want, prefix
            wait_for(lambda: receiver.ids() >= want, 60, "deliveries to " + prefix)
            got = receiver.requests()
            assert {g[0] for g in got} == want, prefix
            assert all(g[3] and g[1] == g[4] and g[1].startswith(prefix[:-1]) for g in got)
        # vm.* takes the disk events too, and nothing of vmrole.*.
        vm_types = {g[1] for g in rcv["vm.*"].requests()}
        assert {"vm.created", "vm.disk.attached"} <= vm_types
        assert not any(t.startswith("vmrole.") for t in vm_types)
        assert {g[1] for g in rcv["vm.disk.*"].requests()} == {"vm.disk.attached"}
        assert "vmrole.created" in {e["type"] for e in events}
        for h in hooks.values():
            assert a.delete("/v1/admin/hooks/" + h["id"]).status == 204
    finally:
        for r in rcv.values():
            r.close()


def test_filters_are_checked(d):
    a = d.admin()
    bad_filters = ((0, ""), (0, "vm*"), (0, ".*"), (1, "nothing.*"), (1, "vm.**"), (0, "VM.*"),
                   (1, "vm.cre.*"))
    for i, bad in bad_filters:
        events = [bad] if i == 0 else ["vm.created", bad]
        err(a.post("/v1/admin/hooks", {"url": "http://h/", "events": events, "secret": "s"}), 400,
            "InvalidRequest", "events[%d]" % i)
    h = add_hook(a, "http://127.0.0.1:9/x", events=["*"])
    err(a.patch("/v1/admin/hooks/" + h["id"], {"events": ["job.*", "vm*"]}), 400, "InvalidRequest",
        "events[1]")
    got = ok(a.patch("/v1/admin/hooks/" + h["id"], {"events": ["job.*", "vm.checkpoint.*", "*"]}), 200)
    assert got["events"] == ["job.*", "vm.checkpoint.*", "*"]
    assert a.delete("/v1/admin/hooks/" + h["id"]).status == 204
