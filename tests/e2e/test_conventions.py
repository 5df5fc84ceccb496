"""Conventions shared by both APIs: paging, ETags, Idempotency-Key, request ids, limits, errors."""
import urllib.parse

from harness import err, ok, uid


def follow(client, path):
    """Every item of a list, following nextLink."""
    items = []
    while True:
        page = ok(client.get(path), 200)
        items += page["value"]
        link = page.get("nextLink")
        if not link:
            return items
        u = urllib.parse.urlsplit(link)
        assert u.scheme == "http" and u.path
        path = u.path + "?" + u.query


def test_paging_is_complete_and_stable(d):
    a = d.admin()
    made = [ok(a.post("/v1/admin/clouds", {"name": "pg-%03d" % i}), 201)["id"] for i in range(25)]
    everything = [c["id"] for c in follow(a, "/v1/admin/clouds?limit=1000")]
    assert everything[-25:] == made
    paged = [c["id"] for c in follow(a, "/v1/admin/clouds?limit=7")]
    assert paged == everything
    # Deleting and creating while paging: no item that stays is skipped or repeated.
    page = ok(a.get("/v1/admin/clouds?limit=10"), 200)
    seen = [c["id"] for c in page["value"]]
    a.delete("/v1/admin/clouds/" + made[-1])
    a.delete("/v1/admin/clouds/" + seen[0])
    new = ok(a.post("/v1/admin/clouds", {"name": "late"}), 201)["id"]
    u = urllib.parse.urlsplit(page["nextLink"])
    seen += [c["id"] for c in follow(a, u.path + "?" + u.query)]
    assert len(seen) == len(set(seen))
    stayed = [x for x in everything if x != made[-1]]
    assert [x for x in seen if x in stayed] == stayed
    assert seen[-1] == new
    # The last page has no nextLink.
    assert "nextLink" not in ok(a.get("/v1/admin/clouds?limit=1000"), 200)


def test_limit_and_cursor_validation(d):
    a = d.admin()
    for bad in ("0", "1001", "", "1.5", "1e2", "-1", "ten", "+5", " 5"):
        err(a.get("/v1/admin/clouds?limit=" + urllib.parse.quote(bad)), 400, "InvalidRequest", "limit")
    err(a.get("/v1/admin/clouds?limit"), 400, "InvalidRequest", "limit")
    for bad in ("garbage", "cDEuMg==", "%00", "cDIuMQ"):
        err(a.get("/v1/admin/clouds?cursor=" + bad), 400, "InvalidRequest", "cursor")
    assert a.get("/v1/admin/clouds?limit=1000&unknown=1").status == 200


def test_etag_and_if_match(d):
    a = d.admin()
    c = ok(a.post("/v1/admin/clouds", {"name": "etag"}), 201)
    r = a.get("/v1/admin/clouds/" + c["id"])
    etag = r.header("ETag")
    assert etag == '"1"'
    r2 = a.patch("/v1/admin/clouds/" + c["id"], {"name": "etag2"}, headers={"If-Match": etag})
    assert r2.status == 200 and r2.header("ETag") == '"2"'
    err(a.patch("/v1/admin/clouds/" + c["id"], {"name": "etag3"}, headers={"If-Match": etag}),
        412, "PreconditionFailed")
    err(a.delete("/v1/admin/clouds/" + c["id"], headers={"If-Match": '"1"'}), 412, "PreconditionFailed")
    err(a.delete("/v1/admin/clouds/" + c["id"], headers={"If-Match": "garbage"}), 412, "PreconditionFailed")
    assert ok(a.get("/v1/admin/clouds/" + c["id"]), 200)["name"] == "etag2"
    assert a.delete("/v1/admin/clouds/" + c["id"], headers={"If-Match": '"2"'}).status == 204


def test_idempotency_key(d):
    a = d.admin()
    key = uid()
    r1 = a.post("/v1/admin/clouds", {"name": "idem"}, headers={"Idempotency-Key": key})
    c1 = ok(r1, 201)
    r2 = a.post("/v1/admin/clouds", {"name": "idem"}, headers={"Idempotency-Key": key})
    assert ok(r2, 201) == c1
    assert r2.header("Location") == r1.header("Location")
    assert r2.header("X-Request-Id") != r1.header("X-Request-Id")
    named = [c for c in ok(a.get("/v1/admin/clouds?limit=1000"), 200)["value"] if c["name"] == "idem"]
    assert len(named) == 1
    err(a.post("/v1/admin/clouds", {"name": "other"}, headers={"Idempotency-Key": key}), 409, "Conflict")
    # Scoped to method and path: the same key elsewhere is a new request.
    ok(a.post("/v1/admin/sizes", {"name": "Idem" + key[:6], "cores": 1, "memoryMB": 512},
              headers={"Idempotency-Key": key}), 201)
    # A failed request stores nothing: retrying it with a fixed body works.
    k2 = uid()
    err(a.post("/v1/admin/hosts", {"name": "h"}, headers={"Idempotency-Key": k2}), 400, "InvalidRequest")
    ok(a.post("/v1/admin/clouds", {"name": "after-failure"}, headers={"Idempotency-Key": k2}), 201)


def test_idempotency_key_in_flight(d):
    """Requests racing with one key: each is the first answer (201, the same cloud) or 409 while the first
    is still running, and one cloud is made."""
    import threading

    key, name, answers = uid(), "race-" + uid()[:8], []

    def post():
        r = d.admin().post("/v1/admin/clouds", {"name": name}, headers={"Idempotency-Key": key})
        answers.append((r.status, r.json() if r.status in (201, 409) else None))

    threads = [threading.Thread(target=post) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 16
    made = {body["id"] for status, body in answers if status == 201}
    assert len(made) == 1, answers
    for status, body in answers:
        assert status in (201, 409), answers
        if status == 409:
            assert body["error"]["code"] == "Conflict" and body["error"]["target"] == "Idempotency-Key"
    named = [c for c in ok(d.admin().get("/v1/admin/clouds?limit=1000"), 200)["value"] if c["name"] == name]
    assert len(named) == 1
    # Once the first has ended, the key replays it.
    assert ok(d.admin().post("/v1/admin/clouds", {"name": name}, headers={"Idempotency-Key": key}),
              201)["id"] in made


def test_request_id(d):
    a = d.admin()
    r = a.get("/v1/admin/clouds", headers={"X-Request-Id": "abc-123"})
    assert r.header("X-Request-Id") == "abc-123"
    r = a.get("/v1/admin/nope")
    assert r.header("X-Request-Id")
    r = a.get("/healthz")
    assert r.header("X-Request-Id")


def test_method_not_allowed_has_allow(d):
    a = d.admin()
    r = a.request("PUT", "/v1/admin/clouds")
    err(r, 405, "MethodNotAllowed")
    assert r.header("Allow") == "GET, HEAD, POST"
    r = a.request("DELETE", "/v1/admin/sizes")
    assert r.status == 405 and r.header("Allow") == "GET, HEAD, POST"
    r = a.request("FROB", "/v1/admin/clouds")
    assert r.status in (400, 405, 501)


def test_unsupported_media_type_and_size(d):
    a = d.admin()
    err(a.post("/v1/admin/clouds", raw=b'{"name":"x"}', headers={"Content-Type": "text/plain"}),
        415, "UnsupportedMediaType")
    err(a.post("/v1/admin/clouds", raw=b'{"name":"x"}'), 415, "UnsupportedMediaType")
    ok(a.post("/v1/admin/clouds", raw=b'{"name":"x"}',
              headers={"Content-Type": "application/json; charset=utf-8"}), 201)
    # A body just over the description's limit but under 1 MiB is a 400 naming the field.
    err(a.post("/v1/admin/clouds", {"name": "x", "description": "y" * 2000}), 400, "InvalidRequest",
        "description")


def test_health_ready_metrics(d):
    a = d.admin()
    assert ok(a.get("/healthz", token=""), 200)["status"] == "ok"
    assert ok(a.get("/readyz", token=""), 200)["status"] == "ready"
    a.get("/v1/admin/clouds")
    m = a.get("/metrics", token="")
    assert m.status == 200 and m.header("Content-Type").startswith("text/plain")
    assert 'wapd_http_requests_total{listener="admin",route="/v1/admin/clouds",method="GET",status="200"}' in m.body
    assert "wapd_http_request_duration_seconds_bucket{" in m.body
    assert 'le="+Inf"' in m.body
    # The tenant listener answers /healthz only.
    t = d.tenant("")
    assert t.get("/healthz").status == 200
    assert t.get("/readyz").status in (401, 404)


def test_errors_have_one_shape(d):
    a = d.admin()
    for r in (a.get("/v1/admin/clouds/" + uid()), a.get("/nowhere"),
              a.post("/v1/admin/clouds", {"bogus": 1}), a.request("PUT", "/v1/admin/clouds"),
              a.get("/v1/admin/clouds", token="wrong")):
        body = r.json()
        assert set(body) == {"error"}
        # details[] only when a body failed its checks
        assert set(body["error"]) - {"details"} == {"code", "message", "target"}
        assert r.header("Content-Type") == "application/json"
