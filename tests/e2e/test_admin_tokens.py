"""Named admin tokens and their scopes: admin does everything, readOnly every GET but the backup, usage
only the usage feeds; a revoke holds at once; the bootstrap token keeps working; no listing shows a token
or its hash; the request log names the caller's token id and never a token; wapd-collect needs only a
usage token."""
import json
import os
import subprocess
import tempfile

from harness import ADMIN_TOKEN, SLOW, err, ok, uid, wait_for
from test_usage import drain

COLLECT = os.environ.get("WAPD_COLLECT_BIN", "build/wapd-collect")


def make_token(a, scope, **extra):
    body = dict({"name": scope + "-" + uid()[:8], "scope": scope}, **extra)
    r = a.post("/v1/admin/tokens", body)
    tok = ok(r, 201)
    assert tok["scope"] == scope and tok["token"].startswith("wapdadm_"), tok
    assert r.header("Location").endswith("/v1/admin/tokens/" + tok["id"]), r.headers
    return tok


def log_lines(d):
    out = []
    for line in d.stderr().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return [l for l in out if l.get("msg") == "request"]


def test_scopes(d):
    a = d.admin()
    admin = make_token(a, "admin", expiresInDays=30)
    ro = make_token(a, "readOnly")
    use = make_token(a, "usage")
    assert admin["expiresAt"] is not None and ro["expiresAt"] is None

    # admin: writes as the bootstrap token does.
    ca = d.admin(admin["token"])
    cloud = ok(ca.post("/v1/admin/clouds", {"name": "c-" + uid()[:8]}), 201)

    # readOnly: every GET, no write, no backup.
    cr = d.admin(ro["token"])
    for path in ("/v1/admin/clouds", "/v1/admin/clouds/" + cloud["id"], "/v1/admin/users",
                 "/v1/admin/tokens", "/v1/admin/usage", "/v1/admin/events", "/v1/admin/jobs"):
        ok(cr.get(path), 200)
    body = err(cr.post("/v1/admin/clouds", {"name": "x-" + uid()[:8]}), 403, "Forbidden")
    assert "admin" in body["error"]["message"], body
    err(cr.delete("/v1/admin/clouds/" + cloud["id"]), 403, "Forbidden")
    err(cr.post("/v1/admin/tokens", {"name": "n", "scope": "admin"}), 403, "Forbidden")
    err(cr.delete("/v1/admin/tokens/" + use["id"]), 403, "Forbidden")
    err(cr.get("/v1/admin/backup"), 403, "Forbidden")
    # The WAP feed reads for readOnly, but its lastID acknowledges (then purges): that is usage's to do.
    ok(cr.get("/usage"), 200)
    body = err(cr.get("/usage?lastID=1"), 403, "Forbidden")
    assert "usage" in body["error"]["message"], body

    # usage: the feeds and their ack only.
    cu = d.admin(use["token"])
    _, cursor = drain(cu)
    ok(cu.post("/v1/admin/usage/ack", {"cursor": cursor}), 200)
    ok(cu.get("/usage"), 200)
    ok(cu.get("/usage?lastID=0"), 200)
    body = err(cu.get("/v1/admin/clouds"), 403, "Forbidden")
    assert "readOnly" in body["error"]["message"] and "usage" in body["error"]["message"], body
    err(cu.post("/v1/admin/clouds", {"name": "y-" + uid()[:8]}), 403, "Forbidden")
    err(cu.get("/v1/admin/tokens"), 403, "Forbidden")

    # An admin token may manage admin tokens; the bootstrap token still works.
    extra = make_token(ca, "readOnly")
    ok(d.admin(extra["token"]).get("/v1/admin/clouds"), 200)
    ok(a.get("/v1/admin/clouds"), 200)

    # A token never authenticates on the tenant listener.
    err(d.tenant(admin["token"]).get("/v1/subscriptions"), 401, "Unauthorized")

    # The list and the record never show the token or its hash.
    listed = ok(a.get("/v1/admin/tokens?limit=1000"), 200)["value"]
    ids = {t["id"] for t in listed}
    assert {admin["id"], ro["id"], use["id"], extra["id"]} <= ids
    text = json.dumps(listed)
    for t in (admin, ro, use, extra):
        assert t["token"] not in text
    for t in listed:
        assert "token" not in t and "hash" not in t, t
    ok(a.get("/v1/admin/tokens?scope=usage"), 200)
    one = a.get("/v1/admin/tokens/" + use["id"])
    rec = ok(one, 200)
    assert rec["scope"] == "usage" and rec["revokedAt"] is None and "hash" not in rec, rec
    assert one.header("ETag")

    # Revoke: 204, and 401 on the very next request; the record stays, revoked.
    etag = a.get("/v1/admin/tokens/" + ro["id"]).header("ETag")
    err(a.delete("/v1/admin/tokens/" + ro["id"], headers={"If-Match": '"999"'}), 412,
        "PreconditionFailed")
    r = a.delete("/v1/admin/tokens/" + ro["id"], headers={"If-Match": etag})
    assert r.status == 204, r
    err(cr.get("/v1/admin/clouds"), 401, "Unauthorized")
    assert ok(a.get("/v1/admin/tokens/" + ro["id"]), 200)["revokedAt"] is not None
    err(a.delete("/v1/admin/tokens/" + ro["id"]), 404, "NotFound")

    # Events name the token, never its value.
    events = ok(a.get("/v1/admin/events?limit=1000"), 200)["value"]
    types = [(e["type"], e["resourceId"]) for e in events]
    assert ("adminToken.created", use["id"]) in types and ("adminToken.revoked", ro["id"]) in types
    assert ro["token"] not in json.dumps(events)

    # A tenant token's id is logged too.
    user = ok(a.post("/v1/admin/users", {"email": uid()[:8] + "@example.com"}), 201)
    tenant_tok = ok(a.post("/v1/admin/users/%s/tokens" % user["id"]), 201)
    ok(d.tenant(tenant_tok["token"]).get("/v1/subscriptions"), 200)

    # The request log: the caller's token id on every authenticated line, never a token.
    log = d.stderr()
    assert tenant_tok["token"] not in log
    for t in (admin, ro, use, extra):
        assert t["token"] not in log
    assert ADMIN_TOKEN not in log
    by_id = {l.get("tokenId") for l in log_lines(d)}
    assert {"bootstrap", admin["id"], ro["id"], use["id"], tenant_tok["id"]} <= by_id, by_id
    unauth = [l for l in log_lines(d) if l["status"] == 401]
    assert unauth and all(l.get("tokenId") is None for l in unauth), unauth[:3]


def test_last_used_at_follows_use(d):
    """A token never used says lastUsedAt null; after a use it says when, once the daemon's next round has
    written it."""
    a = d.admin()
    used, idle = make_token(a, "readOnly"), make_token(a, "usage")
    assert ok(a.get("/v1/admin/tokens/" + used["id"]), 200)["lastUsedAt"] is None
    ok(d.admin(used["token"]).get("/v1/admin/clouds"), 200)
    seen = wait_for(lambda: ok(a.get("/v1/admin/tokens/" + used["id"]), 200)["lastUsedAt"], 20 * SLOW,
                    "lastUsedAt written")
    assert seen >= used["createdAt"][:16], (seen, used)
    # The token not used keeps null; its neighbour's use did not touch it.
    assert ok(a.get("/v1/admin/tokens/" + idle["id"]), 200)["lastUsedAt"] is None
    # Recording the use leaves the token's ETag alone: a revoke with the ETag read before the use holds.
    r = a.get("/v1/admin/tokens/" + idle["id"])
    etag = r.header("ETag")
    ok(d.admin(idle["token"]).get("/v1/admin/usage"), 200)
    wait_for(lambda: ok(a.get("/v1/admin/tokens/" + idle["id"]), 200)["lastUsedAt"], 20 * SLOW,
             "the second token's lastUsedAt written")
    assert a.get("/v1/admin/tokens/" + idle["id"]).header("ETag") == etag
    assert a.delete("/v1/admin/tokens/" + idle["id"], headers={"If-Match": etag}).status == 204


def test_bad_creates(d):
    a = d.admin()
    err(a.post("/v1/admin/tokens", {"name": "n", "scope": "root"}), 400, "InvalidRequest", "scope")
    err(a.post("/v1/admin/tokens", {"name": "", "scope": "admin"}), 400, "InvalidRequest", "name")
    err(a.post("/v1/admin/tokens", {"name": "x" * 101, "scope": "admin"}), 400, "InvalidRequest", "name")
    err(a.post("/v1/admin/tokens", {"scope": "admin"}), 400, "InvalidRequest", "name")
    err(a.post("/v1/admin/tokens", {"name": "n", "scope": "admin", "expiresInDays": 0}), 400,
        "InvalidRequest", "expiresInDays")
    err(a.post("/v1/admin/tokens", {"name": "n", "scope": "admin", "expiresInDays": 3651}), 400,
        "InvalidRequest", "expiresInDays")
    err(a.get("/v1/admin/tokens/" + uid()), 404, "NotFound")


def test_idempotency_key_keeps_no_token(d):
    a = d.admin()
    key = {"Idempotency-Key": "tok-" + uid()}
    body = {"name": "idem", "scope": "usage"}
    first = ok(a.post("/v1/admin/tokens", body, headers=key), 201)
    again = err(a.post("/v1/admin/tokens", body, headers=key), 409, "Conflict", "Idempotency-Key")
    assert first["id"] in again["error"]["message"] and first["token"] not in json.dumps(again)
    # The first answer's token is nowhere in the database.
    db = open(os.path.join(d.state_dir, "wapd.db"), "rb").read()
    wal = os.path.join(d.state_dir, "wapd.db-wal")
    if os.path.exists(wal):
        db += open(wal, "rb").read()
    assert first["token"].encode() not in db
    ok(d.admin(first["token"]).get("/v1/admin/usage"), 200)


def test_idempotency_key_keeps_no_tenant_token(d):
    """The same for a user's (tenant) token: a replay names the token made, and its value is not at rest."""
    a = d.admin()
    user = ok(a.post("/v1/admin/users", {"email": uid()[:8] + "@example.com", "name": "Idem"}), 201)
    key = {"Idempotency-Key": "utok-" + uid()}
    path = "/v1/admin/users/%s/tokens" % user["id"]
    first = ok(a.post(path, {"expiresInDays": 5}, headers=key), 201)
    again = err(a.post(path, {"expiresInDays": 5}, headers=key), 409, "Conflict", "Idempotency-Key")
    assert first["id"] in again["error"]["message"] and first["token"] not in json.dumps(again)
    blobs = b""
    for name in ("wapd.db", "wapd.db-wal"):
        if os.path.exists(os.path.join(d.state_dir, name)):
            blobs += open(os.path.join(d.state_dir, name), "rb").read()
    assert first["token"].encode() not in blobs
    # One token was made, and it works.
    ok(d.tenant(first["token"]).get("/v1/subscriptions"), 200)


def test_collector_with_usage_token(d):
    tok = make_token(d.admin(), "usage")
    tmp = tempfile.mkdtemp(prefix="wapd-collect-", dir=os.path.dirname(d.state_dir))
    out, state = os.path.join(tmp, "usage.jsonl"), os.path.join(tmp, "cursor")
    r = subprocess.run([COLLECT, "--url", "http://127.0.0.1:%d" % d.admin_port, "--out", out,
                        "--state", state, "--token", tok["token"], "--once"],
                       capture_output=True, timeout=60 * SLOW)
    assert r.returncode == 0, r
    wait_for(lambda: os.path.exists(state), 10, "the collector's cursor")
    lines = [l for l in d.stderr().splitlines() if '"/v1/admin/usage' in l]
    assert any(tok["id"] in l for l in lines), lines[-5:]
