"""Jobs: long-running changes answer 202 with a job that runs to an end; cancel and restart rules."""
from harness import World, err, ok, uid, wait_for, wait_job
from simhosts import sim_vms


def test_jobs_end_and_keep_their_steps(d):
    w = World(d)
    a = w.a
    r = a.patch("/v1/admin/plans/" + w.plan["id"], {"name": "renamed"})
    job = ok(r, 202)
    assert set(job) >= {"id", "kind", "status", "resourceId", "progress", "steps", "error", "createdAt",
                        "startedAt", "endedAt"}
    assert not [k for k in job if k.startswith("_")]
    assert [s["name"] for s in job["steps"]] == ["updatePlan", "applyToSubscriptions"]
    done = wait_job(a, r.header("Location"))
    assert done["status"] == "succeeded" and done["error"] is None
    assert done["startedAt"] and done["endedAt"]
    assert all(s["status"] == "succeeded" for s in done["steps"])
    assert ok(a.get("/v1/admin/plans/" + w.plan["id"]), 200)["name"] == "renamed"
    listed = ok(a.get("/v1/admin/jobs?resourceId=" + w.plan["id"]), 200)["value"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert not [k for k in listed[0] if k.startswith("_")]


def test_cancel_and_restart_rules(d):
    w = World(d)
    a = w.a
    r = a.patch("/v1/admin/plans/" + w.plan["id"], {"state": "private"})
    wait_job(a, r.header("Location"))
    jid = r.json()["id"]
    # Only queued or running jobs cancel, only failed jobs restart.
    err(a.post("/v1/admin/jobs/%s/cancel" % jid), 409, "Conflict")
    err(a.post("/v1/admin/jobs/%s/restart" % jid, {"skipLastFailedStep": True}), 409, "Conflict")
    err(a.post("/v1/admin/jobs/%s/restart" % jid, {"skip": True}), 400, "InvalidRequest", "skip")
    err(a.post("/v1/admin/jobs/%s/cancel" % uid()), 404, "NotFound")
    err(a.get("/v1/admin/jobs/" + uid()), 404, "NotFound")
    # A tenant reaches its subscription's jobs only.
    tenant, sub, _ = w.tenant()
    r = a.patch("/v1/admin/subscriptions/" + sub["id"], {"state": "suspended"})
    sj = wait_job(a, r.header("Location"))
    err(tenant.post("/v1/subscriptions/%s/jobs/%s/cancel" % (sub["id"], sj["id"])), 409, "Conflict")
    err(tenant.post("/v1/subscriptions/%s/jobs/%s/cancel" % (sub["id"], jid)), 404, "NotFound")
    err(tenant.post("/v1/subscriptions/%s/jobs/%s/restart" % (sub["id"], jid)), 404, "NotFound")


def test_deleting_subscription_takes_no_changes(d):
    w = World(d)
    a = w.a
    tenant, sub, _ = w.tenant()
    r = a.delete("/v1/admin/subscriptions/" + sub["id"])
    job = ok(r, 202)
    # Either the job already removed it, or it shows deleting and refuses changes.
    g = a.get("/v1/admin/subscriptions/" + sub["id"])
    if g.status == 200:
        assert g.json()["state"] == "deleting"
        p = a.patch("/v1/admin/subscriptions/" + sub["id"], {"state": "suspended"})
        assert p.status in (404, 409)
    assert wait_job(a, "/v1/admin/jobs/" + job["id"])["status"] == "succeeded"
    err(a.get("/v1/admin/subscriptions/" + sub["id"]), 404, "NotFound")
    err(tenant.get("/v1/subscriptions/" + sub["id"]), 404, "NotFound")


def test_job_list_filters(d):
    w = World(d)
    a = w.a
    tenant, sub, _ = w.tenant()
    first = wait_job(a, a.patch("/v1/admin/plans/" + w.plan["id"], {"name": "f1"}).header("Location"))
    second = wait_job(a, a.patch("/v1/admin/plans/" + w.plan["id"], {"name": "f2"}).header("Location"))
    susp = wait_job(a, a.patch("/v1/admin/subscriptions/" + sub["id"], {"state": "suspended"})
                    .header("Location"))
    by_plan = ok(a.get("/v1/admin/jobs?resourceId=" + w.plan["id"]), 200)["value"]
    assert sorted(j["id"] for j in by_plan) == sorted([first["id"], second["id"]])
    both = ok(a.get("/v1/admin/jobs?resourceId=%s&status=succeeded&kind=%s" % (w.plan["id"], first["kind"])),
              200)["value"]
    assert sorted(j["id"] for j in both) == sorted([first["id"], second["id"]])
    assert ok(a.get("/v1/admin/jobs?resourceId=%s&status=failed,canceled" % w.plan["id"]), 200)["value"] == []
    assert ok(a.get("/v1/admin/jobs?resourceId=%s&kind=none" % w.plan["id"]), 200)["value"] == []
    err(a.get("/v1/admin/jobs?status=done"), 400, "InvalidRequest", "status")
    err(a.get("/v1/admin/jobs?status=succeeded,"), 400, "InvalidRequest", "status")
    # Paging over a filtered list sees every job once.
    seen, url = [], "/v1/admin/jobs?status=succeeded,running,queued&limit=1"
    while url:
        page = ok(a.get(url), 200)
        seen += [j["id"] for j in page["value"]]
        url = page.get("nextLink")
        url = url[url.index("/v1/"):] if url else None
    assert len(seen) == len(set(seen)) and {first["id"], second["id"], susp["id"]} <= set(seen)
    # A tenant's list takes the same filters, within its subscription.
    base = "/v1/subscriptions/%s/jobs" % sub["id"]
    mine = ok(tenant.get(base + "?status=succeeded&resourceId=" + sub["id"]), 200)["value"]
    assert [j["id"] for j in mine] == [susp["id"]]
    assert ok(tenant.get(base + "?resourceId=" + w.plan["id"]), 200)["value"] == []
    err(tenant.get(base + "?status=nope"), 400, "InvalidRequest", "status")


def _running(client, location):
    def running():
        j = ok(client.get(location), 200)
        assert j["status"] in ("queued", "running"), j
        return j if j["status"] == "running" else None
    return wait_for(running, 30, "job running")


def test_a_running_vm_create_canceled_leaves_host_and_record_agreeing(d):
    from test_vms import VmWorld
    w = VmWorld(d, hosts=("sim://?latencyMs=1500",))
    r = w.t.post(w.base + "/vms", w.vm_body("slow"))
    vm = ok(r, 202)
    _running(w.t, r.header("Location"))
    c = w.t.post(r.header("Location") + "/cancel")
    assert c.status == 202 and c.header("Location") == r.header("Location") and c.header("Retry-After"), c
    assert w.t.post(r.header("Location") + "/cancel").status in (200, 202, 409)
    job = wait_job(w.t, r.header("Location"), 60)
    assert job["status"] == "canceled", job
    assert all(s["status"] in ("succeeded", "skipped") for s in job["steps"])
    err(w.t.post(r.header("Location") + "/cancel"), 409, "Conflict")
    # Whatever is on the host has a record, and a record that names a hypervisor VM finds it there.
    g = w.a.get("/v1/admin/vms/" + vm["id"])
    host = sim_vms(d.state_dir, w.hosts[0]["id"])
    if g.status == 404:
        assert host == {}, host
    else:
        rec = ok(g, 200)
        assert rec["provisioningState"] == "failed", rec
        assert set(host) <= {rec.get("hypervisorId")}, (host, rec)
    assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}


def test_a_running_stop_canceled_leaves_a_true_power_state(d):
    from test_vms import VmWorld
    w = VmWorld(d, hosts=("sim://?latencyMs=800",))
    vm = w.create("stopme")
    r = w.t.post(w.base + "/vms/%s/stop" % vm["id"])
    ok(r, 202)
    _running(w.t, r.header("Location"))
    assert w.t.post(r.header("Location") + "/cancel").status == 202
    job = wait_job(w.t, r.header("Location"), 60)
    assert job["status"] in ("canceled", "succeeded"), job
    now = ok(w.a.get("/v1/admin/vms/" + vm["id"]), 200)
    host = sim_vms(d.state_dir, w.hosts[0]["id"])[now["hypervisorId"]]
    assert now["powerState"] == host["powerState"], (now, host)
    assert ok(w.a.post("/v1/admin/subscriptions/%s/reconcile" % w.sub["id"]), 200) == {"corrected": {}}
