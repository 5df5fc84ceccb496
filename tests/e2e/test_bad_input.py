"""A corpus of bad input: always a 4xx with the error shape or a closed connection, never a 5xx, and the
daemon still answers afterwards."""
import json
import re
from concurrent.futures import ThreadPoolExecutor

from harness import World, err, ok, raw_exchange

BAD_BODIES = [
    ("truncated", b'{"name": "x"'),
    ("trailing garbage", b'{"name": "x"} garbage'),
    ("two objects", b'{"name": "x"}{"name": "y"}'),
    ("deep nesting", b'[' * 10000 + b']' * 10000),
    ("deep object nesting", b'{"a":' * 10000 + b'1' + b'}' * 10000),
    ("invalid utf-8", b'{"name": "\xff\xfe"}'),
    ("overlong utf-8", b'{"name": "\xc0\xaf"}'),
    ("nul byte raw", b'{"name": "a\x00b"}'),
    ("nul escape", b'{"name": "a\\u0000b"}'),
    ("wrong type", b'{"name": 5}'),
    ("wrong type null", b'{"name": null}'),
    ("wrong type array", b'["name"]'),
    ("scalar", b'"name"'),
    ("unknown field", b'{"name": "x", "extra": true}'),
    ("duplicate keys", b'{"name": "x", "name": "y"}'),
    ("empty", b''),
    ("whitespace", b'   '),
    ("number overflow", b'{"name": "x", "description": 1e999}'),
    ("huge int", b'{"name": "x", "description": 123456789012345678901234567890}'),
    ("lone surrogate", b'{"name": "\\ud800"}'),
    ("control char", b'{"name": "a\x01b"}'),
    ("bom", b'\xef\xbb\xbf{"name": "x"}'),
]


def alive(d):
    assert d.admin().get("/healthz").status == 200


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


def test_bad_bodies(d):
    a = d.admin()
    for name, body in BAD_BODIES:
        for path, method in (("/v1/admin/clouds", "POST"), ("/v1/admin/users", "POST")):
            r = a.request(method, path, raw=body, headers={"Content-Type": "application/json"})
            assert 400 <= r.status < 500, "%s: %r" % (name, r)
            e = r.json()["error"]
            assert e["code"] in ("InvalidJson", "InvalidRequest"), (name, e)
    alive(d)


def test_field_errors_name_the_field(d):
    w = World(d)
    a = w.a
    err(a.post("/v1/admin/clouds", raw=b'{"name":"x","name":"y"}', headers={"Content-Type": "application/json"}),
        400, "InvalidRequest", "name")
    err(a.post("/v1/admin/clouds", {"name": "x", "extra": 1}), 400, "InvalidRequest", "extra")
    err(a.post("/v1/admin/clouds", {"name": 1}), 400, "InvalidRequest", "name")
    err(a.post("/v1/admin/hosts", {"name": "h", "cloudId": w.cloud["id"], "agent": {"kind": "sim", "x": 1},
                                   "capacity": {"cores": 1, "memoryMB": 1, "storageGB": 1}}),
        400, "InvalidRequest", "agent.x")
    err(a.post("/v1/admin/plans", {"name": "p", "cloudId": w.cloud["id"], "imageIds": ["a", 5]}),
        400, "InvalidRequest", "imageIds[0]")
    err(a.post("/v1/admin/plans", {"name": "p", "cloudId": w.cloud["id"], "imageIds": [w.image["id"], 5]}),
        400, "InvalidRequest", "imageIds[1]")
    err(a.post("/v1/admin/sizes", {"name": "n", "cores": 1.5, "memoryMB": 1}), 400, "InvalidRequest", "cores")
    err(a.post("/v1/admin/sizes", {"name": "n", "cores": True, "memoryMB": 1}), 400, "InvalidRequest", "cores")


def test_paths(d):
    a = d.admin()
    for path in ("/v1/admin/../admin/clouds", "/v1/admin/%2e%2e/clouds", "/v1/admin/clouds/..",
                 "/v1/admin/clouds/%2F", "/v1/admin/clouds/%00", "/v1/admin//clouds", "/v1/admin/clouds/",
                 "/%76%31/admin/clouds/x", "/v1/admin/clouds/" + "a" * 300, "/v1/admin/clouds/%zz"):
        r = a.get(path)
        assert 400 <= r.status < 500, "%s: %r" % (path, r)
    # A 100 KB path: a 4xx or a closed connection, never a 5xx.
    raw = raw_exchange(d.admin_port, b"GET /v1/admin/clouds/" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n"
                       b"Authorization: Bearer " + d.admin_token.encode() + b"\r\n\r\n")
    s = status_of(raw)
    assert s is None or 400 <= s < 500, raw[:200]
    alive(d)


def check_raw(raw, what):
    """A 4xx (ours carry the error shape), 501/505 for what is not HTTP/1.x, or a closed connection."""
    s = status_of(raw)
    assert s is None or 400 <= s < 500 or s in (501, 505), (what, raw[:200])
    if s is not None and b"X-Request-Id" in raw:
        body = raw.split(b"\r\n\r\n", 1)[1]
        assert set(json.loads(body)["error"]) == {"code", "message", "target"}, (what, raw[:300])


def test_raw_bytes(d):
    corpus = [
        b"\x00\x01\x02\x03" * 100,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200,  # a TLS ClientHello
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /v1/admin/clouds\r\n\r\n",
        b"GET /v1/admin/clouds HTTP/1.1\r\n" + b"X-Long: " + b"a" * 200000 + b"\r\n\r\n",
        b"POST /v1/admin/clouds HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/admin/clouds HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST /v1/admin/clouds HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /v1/admin/clouds HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"na",
        b"\r\n\r\n\r\n",
    ]
    # Incomplete requests are answered or closed within the idle timeout (15 s): run them side by side.
    jobs = [(port, data) for data in corpus for port in (d.admin_port, d.tenant_port)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(lambda j: raw_exchange(j[0], j[1], timeout=60), jobs))
    for (port, data), raw in zip(jobs, results):
        check_raw(raw, data[:40])
    alive(d)


def test_chunked_body_over_limit(d):
    chunk = b"a" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(40)) + b"0\r\n\r\n"
    req = (b"POST /v1/admin/clouds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + d.admin_token.encode() +
           b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    raw = raw_exchange(d.admin_port, req)
    s = status_of(raw)
    assert s is None or s == 413, raw[:300]
    alive(d)


def test_body_over_limit(d):
    auth = b"Authorization: Bearer " + d.admin_token.encode() + b"\r\n"
    # Refused on the headers: the 413 comes before any of the body is sent.
    raw = raw_exchange(d.admin_port, b"POST /v1/admin/clouds HTTP/1.1\r\nHost: x\r\n" + auth +
                       b"Content-Type: application/json\r\nContent-Length: 2097152\r\n\r\n")
    assert status_of(raw) == 413, raw[:300]
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["error"]["code"] == "PayloadTooLarge"
    # With the whole 2 MiB body sent: a 413 or, when the server closed while the body was still coming,
    # a closed connection.
    big = json.dumps({"name": "x", "description": "y" * (2 * 1024 * 1024)}).encode()
    raw = raw_exchange(d.admin_port, b"POST /v1/admin/clouds HTTP/1.1\r\nHost: x\r\n" + auth +
                       b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
    assert status_of(raw) in (None, 413), raw[:300]
    alive(d)


def test_tenant_listener_bad_input(d):
    w = World(d)
    tenant, sub, _ = w.tenant()
    for name, body in BAD_BODIES:
        r = tenant.request("POST", "/v1/subscriptions/%s/images" % sub["id"], raw=body,
                           headers={"Content-Type": "application/json"})
        assert 400 <= r.status < 500, (name, r)
    for q in ("limit=abc", "limit=0", "cursor=%ff%fe", "limit=1&limit=2"):
        r = tenant.get("/v1/subscriptions/%s/images?%s" % (sub["id"], q))
        assert r.status in (200, 400), (q, r)
    alive(d)
    assert json.loads(d.admin().get("/readyz").body)["status"] == "ready"
