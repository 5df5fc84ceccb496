"""Jobs: long-running changes answer 202 with a job that runs to an end; cancel and restart rules."""
from harness import World, err, ok, uid, wait_job


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
    # Only queued jobs cancel, only failed jobs restart.
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
