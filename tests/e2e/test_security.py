"""Authentication, listener separation and tenant isolation."""
import os

from harness import Daemon, World, err, ok, uid

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def test_tokens_work_only_on_their_listener(d):
    w = World(d)
    tenant, sub, user = w.tenant()
    # Admin token on the tenant listener: 401.
    err(d.tenant(d.admin_token).get("/v1/subscriptions"), 401, "Unauthorized")
    # Tenant token on the admin listener: 401.
    err(d.admin(tenant.token).get("/v1/admin/clouds"), 401, "Unauthorized")
    # No token, a bad token, a malformed header.
    for tok in ("", "nope", "wapd_" + "A" * 43):
        err(d.tenant(tok).get("/v1/subscriptions"), 401, "Unauthorized")
        err(d.admin(tok).get("/v1/admin/clouds"), 401, "Unauthorized")
    r = d.admin("").get("/v1/admin/clouds", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    err(r, 401, "Unauthorized")
    assert r.header("WWW-Authenticate") == "Bearer"
    # 401 comes before 404 and 405.
    err(d.admin("").get("/v1/admin/nowhere"), 401, "Unauthorized")
    err(d.tenant("").request("DELETE", "/v1/subscriptions/" + sub["id"]), 401, "Unauthorized")


def test_expired_token_is_refused(d):
    w = World(d)
    tenant, sub, user = w.tenant()
    ok(tenant.get("/v1/subscriptions"), 200)
    # A token with the shortest life still works now; expiry is checked on every request.
    t = ok(w.a.post("/v1/admin/users/%s/tokens" % user["id"], {"expiresInDays": 1}), 201)
    ok(d.tenant(t["token"]).get("/v1/subscriptions"), 200)
    err(w.a.post("/v1/admin/users/%s/tokens" % user["id"], {"expiresInDays": 0}), 400, "InvalidRequest",
        "expiresInDays")


def tenant_paths(sid, job_id):
    base = "/v1/subscriptions/" + sid
    return [base, base + "/images", base + "/sizes", base + "/galleryItems", base + "/jobs",
            base + "/jobs/" + job_id, base + "/jobs/" + job_id + "/cancel", base + "/jobs/" + job_id + "/restart",
            base + "/vms", base + "/vms/" + uid(), base + "/vms/" + uid() + "/start",
            base + "/vms/" + uid() + "/checkpoint", base + "/vmroles", base + "/networks", base + "/usage"]


def test_isolation_matrix(d):
    """A second tenant gets 404, with the same body as for a missing id, for every method on every
    tenant path that names the first tenant's subscription or resources."""
    w = World(d)
    t1, sub1, _ = w.tenant()
    t2, sub2, _ = w.tenant()
    # Give tenant 1 a job so that a real resource id of theirs exists.
    job = ok(w.a.patch("/v1/admin/subscriptions/" + sub1["id"], {"state": "suspended"}), 202)
    ok(w.a.patch("/v1/admin/subscriptions/" + sub1["id"], {"state": "active"}), 200)
    ok(t1.get("/v1/subscriptions/%s/jobs/%s" % (sub1["id"], job["id"])), 200)
    missing_sid = uid()
    checked = 0
    for foreign, missing in zip(tenant_paths(sub1["id"], job["id"]), tenant_paths(missing_sid, uid())):
        for m in METHODS:
            body = {"name": "x"} if m in ("POST", "PUT", "PATCH") else None
            rf = t2.request(m, foreign, body=body)
            rm = t2.request(m, missing, body=body)
            assert rf.status == 404, "%s %s: %r" % (m, foreign, rf)
            assert rf.json() == rm.json(), "%s %s: %r vs %r" % (m, foreign, rf.body, rm.body)
            assert rf.json()["error"]["code"] == "NotFound"
            checked += 1
    # Tenant 2's own job path does not reveal tenant 1's job either.
    r = t2.get("/v1/subscriptions/%s/jobs/%s" % (sub2["id"], job["id"]))
    r2 = t2.get("/v1/subscriptions/%s/jobs/%s" % (sub2["id"], uid()))
    assert r.status == 404 and r.json() == r2.json()
    # And its subscription list holds only its own.
    assert [s["id"] for s in ok(t2.get("/v1/subscriptions"), 200)["value"]] == [sub2["id"]]
    assert checked == len(METHODS) * 15


def test_admin_token_not_in_logs(d):
    a = d.admin()
    a.get("/v1/admin/clouds")
    w = World(d)
    tenant, _, _ = w.tenant()
    tenant.get("/v1/subscriptions")
    logs = d.stderr()
    assert d.admin_token not in logs
    assert tenant.token not in logs


def test_state_files_are_the_owners_alone():
    """The database, its WAL and shared-memory files, the generated admin token and the lock are 0600 (no
    bits for group or others), whatever the umask; a database left readable by a former version is
    narrowed at the next start."""
    import stat

    d = Daemon(admin_token=None).start()
    try:
        ok(d.admin(open(os.path.join(d.state_dir, "admin.token")).read().strip()).post(
            "/v1/admin/clouds", {"name": "c"}), 201)
        names = ("wapd.db", "wapd.db-wal", "wapd.db-shm", "admin.token", "wapd.lock")
        for name in names:
            mode = stat.S_IMODE(os.stat(os.path.join(d.state_dir, name)).st_mode)
            assert mode & 0o077 == 0, (name, oct(mode))
        assert d.stop() == 0
        os.chmod(os.path.join(d.state_dir, "wapd.db"), 0o644)
        d.start()
        mode = stat.S_IMODE(os.stat(os.path.join(d.state_dir, "wapd.db")).st_mode)
        assert mode & 0o077 == 0, oct(mode)
        assert d.stop() == 0
    finally:
        d.cleanup()
