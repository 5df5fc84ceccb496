"""Conventions for operators and clients: every field error of a body in error.details[], links on
--public-url, and /healthz on the tenant listener without a token."""
import urllib.parse

from harness import Daemon, World, err, ok, uid

PUBLIC = "https://wapd.example.test:8443"


def test_details_list_every_field_at_fault(d):
    a = d.admin()
    body = err(a.post("/v1/admin/sizes", {"name": 5, "cores": 0, "memoryMB": "lots", "colour": "red"}),
               400, "InvalidRequest", "name")
    details = body["error"]["details"]
    assert [x["target"] for x in details] == ["name", "cores", "memoryMB", "colour"]
    assert {x["code"] for x in details} == {"InvalidRequest"}
    assert all(x["message"] for x in details)
    # The error itself is the first of them.
    first = details[0]
    assert (first["code"], first["message"], first["target"]) == \
        (body["error"]["code"], body["error"]["message"], body["error"]["target"])
    # Missing required fields are listed too, after the body's own.
    body = err(a.post("/v1/admin/sizes", {"cores": 0}), 400, "InvalidRequest", "cores")
    assert [x["target"] for x in body["error"]["details"]] == ["cores", "name", "memoryMB"]
    # A tenant body the same way, nested fields by their JSON path.
    w = World(d)
    t, sub, _ = w.tenant()
    body = err(t.post("/v1/subscriptions/%s/vms" % sub["id"],
                      {"name": "", "imageId": w.image["id"], "size": w.size_name,
                       "dataDisks": [{"sizeGB": 0}, {"sizeGB": "big"}]}),
               400, "InvalidRequest", "name")
    assert [x["target"] for x in body["error"]["details"]] == \
        ["name", "dataDisks[0].sizeGB", "dataDisks[1].sizeGB"]
    # Errors that are not about fields carry no details.
    body = err(a.post("/v1/admin/sizes", raw=b"{", headers={"Content-Type": "application/json"}), 400,
               "InvalidJson")
    assert "details" not in body["error"]


def test_links_use_the_public_url():
    """--public-url is the tenant listener's: its Location and nextLink name it; the admin listener's links
    keep to the request (a path, and Host), so an admin token is never sent to the public address."""
    d = Daemon(extra_args=["--public-url", PUBLIC + "/"]).start()
    try:
        w = World(d)
        a = w.a
        ok(a.post("/v1/admin/hosts", {"name": "h", "cloudId": w.cloud["id"],
                                      "agent": {"kind": "sim", "uri": "sim://"},
                                      "capacity": {"cores": 16, "memoryMB": 65536, "storageGB": 1000}}), 201)
        t, sub, _ = w.tenant()
        base = "/v1/subscriptions/%s" % sub["id"]
        r = t.post(base + "/networks", {"name": "n1", "addressPrefix": "10.1.0.0/24"})
        net = ok(r, 201)
        assert r.header("Location") == PUBLIC + base + "/networks/" + net["id"], r.headers
        # An Idempotency-Key replay answers the same absolute Location.
        key = {"Idempotency-Key": uid()}
        body = {"name": "n2", "addressPrefix": "10.2.0.0/24"}
        first = t.post(base + "/networks", body, headers=key)
        again = t.post(base + "/networks", body, headers=key)
        assert first.header("Location") == again.header("Location")
        assert first.header("Location").startswith(PUBLIC + base + "/networks/")
        page = ok(t.get(base + "/networks?limit=1"), 200)
        link = urllib.parse.urlsplit(page["nextLink"])
        assert "%s://%s" % (link.scheme, link.netloc) == PUBLIC
        assert link.path == base + "/networks"
        nxt = ok(t.get(link.path + "?" + link.query), 200)
        assert nxt["value"] and nxt["value"][0]["id"] != page["value"][0]["id"]
        # A 202's Location names the job on the public URL.
        r = t.post(base + "/vms", {"name": "vm1", "imageId": w.image["id"], "size": w.size_name})
        vm = ok(r, 202)
        assert r.header("Location").startswith(PUBLIC + base + "/jobs/"), (r.headers, vm)
        # The admin listener: Location is the path, nextLink the request's Host.
        r = a.post("/v1/admin/clouds", {"name": "pub-" + uid()[:8]})
        cloud = ok(r, 201)
        assert r.header("Location") == "/v1/admin/clouds/" + cloud["id"]
        ok(a.post("/v1/admin/clouds", {"name": "pub-" + uid()[:8]}), 201)
        page = ok(a.get("/v1/admin/clouds?limit=1"), 200)
        assert page["nextLink"].startswith("http://127.0.0.1:%d/v1/admin/clouds?" % d.admin_port), page
    finally:
        d.cleanup()


def test_links_without_public_url_follow_the_request(d):
    a = d.admin()
    for _ in range(2):
        ok(a.post("/v1/admin/clouds", {"name": "host-" + uid()[:8]}), 201)
    page = ok(a.get("/v1/admin/clouds?limit=1", headers={"Host": "api.example.test:1234"}), 200)
    assert page["nextLink"].startswith("http://api.example.test:1234/v1/admin/clouds?")
    r = a.post("/v1/admin/clouds", {"name": "rel-" + uid()[:8]})
    assert r.header("Location") == "/v1/admin/clouds/" + ok(r, 201)["id"]


def test_tenant_healthz_needs_no_token(d):
    t = d.tenant(None)
    body = ok(t.get("/healthz"), 200)
    assert body == {"status": "ok"}
    ok(t.get("/healthz", token="not-a-token"), 200)
    # Only /healthz: readiness and metrics stay on the admin listener.
    err(t.get("/readyz"), 401, "Unauthorized")
    err(t.get("/metrics"), 401, "Unauthorized")


def test_a_bad_public_url_stops_the_start():
    import subprocess
    import tempfile
    from harness import WAPD_BIN
    with tempfile.TemporaryDirectory() as state:
        for bad in ("wapd.example.test", "ftp://wapd.example.test", "https://wapd.example.test/api",
                    "https://wapd.example.test?x=1"):
            p = subprocess.run([WAPD_BIN, "--state-dir", state, "--public-url", bad], capture_output=True,
                               text=True, timeout=30)
            assert p.returncode == 2, (bad, p.returncode, p.stderr)
            assert "--public-url" in p.stderr and "http:// or https://" in p.stderr
