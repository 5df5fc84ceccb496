"""The HTTP protocol's edges, spoken over raw sockets so that nothing between the test and wapd tidies the
bytes: HEAD on every GET route, the body's framing (Content-Length and Transfer-Encoding), and the heads
libmicrohttpd 0.9.75 would refuse with its own HTML, which the listener's front answers in the envelope.

Each exchange reads the answer's head, then exactly the body its Content-Length gives (none for HEAD), and
then, where the connection is to stay open, a second request on it: its answer coming next proves that no
body followed the first. Where the connection must close, the test reads until the server closes it, within
a generous deadline (nothing here is timed otherwise)."""
import json
import socket

from harness import ADMIN_TOKEN, SLOW, ok, uid
from test_etags import routes, world
from test_openapi_live import fill

DEADLINE = 20 * SLOW  # seconds a read may wait: only a server that holds the connection reaches it


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (lower-case name, value), in order
        self.body = body

    def header(self, name):
        values = [v for n, v in self.headers if n == name.lower()]
        return values[0] if values else None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r %r>" % (self.status, self.headers, self.body[:300])


class Conn:
    """One raw connection to a listener."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buf += chunk

    def answer(self, head=False):
        """The next answer: its head, then its body by Content-Length (none when head, as for HEAD)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        top, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = top.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ")[:2]
        assert version == "HTTP/1.1", lines[0]
        headers = []
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers.append((name.strip().lower(), value.strip()))
        n = 0 if head else int(dict(headers).get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Answer(int(status), headers, body)

    def closed(self):
        """Whether the server closes the connection with nothing more sent (within the deadline)."""
        try:
            self._fill()
        except EOFError:
            return self.buf == b""
        except ConnectionResetError:
            return self.buf == b""
        return False

    def close(self):
        self.sock.close()


def request(method, path, token=None, headers=(), body=b""):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    if token:
        lines.append("Authorization: Bearer " + token)
    lines += ["%s: %s" % h for h in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def assert_envelope(a, status, code, target=None):
    """a is wapd's JSON error answer: the status, the envelope, its Content-Type and a request id."""
    assert a.status == status, a
    assert a.header("Content-Type") == "application/json", a
    assert a.header("X-Request-Id"), a
    e = a.json()["error"]
    assert e["code"] == code, a
    assert target is None or e["target"] == target, a


def assert_still_open(c, token=None):
    """The connection takes another request and answers it next: nothing was left of the first answer."""
    c.send(request("GET", "/healthz", token))
    a = c.answer()
    assert a.status == 200 and a.json() == {"status": "ok"}, a


# GET answers whose body changes from one request to the next by themselves: counters and a database copy.
VOLATILE = {("A", "/metrics"), ("A", "/v1/admin/backup")}


def test_head_answers_every_get_route_as_its_get(d):
    w, ids, _ = world(d)
    tokens = {"A": ADMIN_TOKEN, "T": w.t.token}
    ports = {"A": d.admin_port, "T": d.tenant_port}
    seen = 0
    for (listener, pattern), methods in sorted(routes().items()):
        if "GET" not in methods:
            continue
        path = fill(listener, pattern, ids)
        c = Conn(ports[listener])
        rid = "head-" + uid()[:8]
        c.send(request("GET", path, tokens[listener], [("X-Request-Id", rid)]))
        got = c.answer()
        c.send(request("HEAD", path, tokens[listener], [("X-Request-Id", rid)]))
        head = c.answer(head=True)
        assert got.status == 200 and head.status == 200, (pattern, got, head)
        assert int(head.header("Content-Length")) > 0, (pattern, head)
        names = lambda a: sorted(n for n, _ in a.headers if n != "date")
        assert names(head) == names(got), (pattern, got, head)
        for name, value in got.headers:
            if name == "date" or (name == "content-length" and (listener, pattern) in VOLATILE):
                continue
            assert head.header(name) == value, (pattern, name, got, head)
        assert head.header("X-Request-Id") == rid
        assert_still_open(c)  # no body came after HEAD's head
        c.close()
        seen += 1
    assert seen > 35, seen


def test_head_refusals_are_the_gets(d):
    a = d.admin()
    ro = ok(a.post("/v1/admin/tokens", {"name": "head-ro", "scope": "readOnly"}), 201)["token"]
    c = Conn(d.admin_port)
    # A readOnly admin token may HEAD what it may GET, and nothing else.
    c.send(request("HEAD", "/v1/admin/clouds", ro))
    assert c.answer(head=True).status == 200
    for path in ("/v1/admin/backup",):
        c.send(request("GET", path, ro))
        got = c.answer()
        assert_envelope(got, 403, "Forbidden")
        c.send(request("HEAD", path, ro))
        head = c.answer(head=True)
        assert head.status == 403 and head.header("Content-Length") == got.header("Content-Length"), head
    # No token, an unknown path, an unknown id: the GET's status and length, no body.
    for path, token, status in (("/v1/admin/clouds", None, 401), ("/v1/admin/nope", ADMIN_TOKEN, 404),
                                ("/v1/admin/clouds/" + uid(), ADMIN_TOKEN, 404)):
        c.send(request("GET", path, token))
        got = c.answer()
        assert got.status == status, got
        c.send(request("HEAD", path, token))
        head = c.answer(head=True)
        assert head.status == status and head.header("X-Request-Id"), head
        assert head.header("Content-Length") == got.header("Content-Length"), (got, head)
    # A path without a GET has no HEAD: 405 naming what it takes; where GET is, Allow names HEAD too.
    c.send(request("HEAD", "/v1/admin/checkpoints/prune", ADMIN_TOKEN))
    head = c.answer(head=True)
    assert head.status == 405 and head.header("Allow") == "POST", head
    c.send(request("PUT", "/v1/admin/clouds", ADMIN_TOKEN, [("Content-Length", "0")]))
    put = c.answer()
    assert_envelope(put, 405, "MethodNotAllowed")
    assert put.header("Allow") == "GET, HEAD, POST", put
    assert_still_open(c)
    c.close()


def count_clouds(d):
    return len(ok(d.admin().get("/v1/admin/clouds?limit=1000"), 200)["value"])


def refused_and_closed(port, data, status, code, target):
    c = Conn(port)
    c.send(data)
    a = c.answer()
    assert_envelope(a, status, code, target)
    assert a.header("Connection").lower() == "close", a
    assert c.closed(), "the connection stayed open, or more was sent: %r" % c.buf
    c.close()
    return a


def test_conflicting_content_length_is_refused_and_closes(d):
    before = count_clouds(d)
    body = b'{"name":"cl-a"}'
    smuggled = request("POST", "/v1/admin/clouds", ADMIN_TOKEN,
                       [("Content-Type", "application/json"), ("Content-Length", "15")], b'{"name":"cl-b"}')
    for port in (d.admin_port, d.tenant_port):
        for lengths in (("15", str(15 + len(smuggled))), (str(15 + len(smuggled)), "15"), ("15", "015")):
            data = request("POST", "/v1/admin/clouds", ADMIN_TOKEN,
                           [("Content-Type", "application/json")] + [("Content-Length", n) for n in lengths],
                           body + smuggled)
            refused_and_closed(port, data, 400, "InvalidRequest", "Content-Length")
    # Transfer-Encoding with Content-Length: the same refusal, whichever comes first.
    chunked = b"f\r\n" + body + b"\r\n0\r\n\r\n"
    for hs in ([("Transfer-Encoding", "chunked"), ("Content-Length", str(len(chunked)))],
               [("Content-Length", "15"), ("Transfer-Encoding", "chunked")]):
        data = request("POST", "/v1/admin/clouds", ADMIN_TOKEN, [("Content-Type", "application/json")] + hs,
                       chunked)
        refused_and_closed(d.admin_port, data, 400, "InvalidRequest", "Content-Length")
    assert count_clouds(d) == before  # neither the request nor the one hidden in its body made a cloud


def test_one_content_length_or_chunked_is_taken(d):
    before = count_clouds(d)
    c = Conn(d.admin_port)
    body = b'{"name":"cl-same"}'
    n = str(len(body))
    c.send(request("POST", "/v1/admin/clouds", ADMIN_TOKEN,
                   [("Content-Type", "application/json"), ("Content-Length", n), ("Content-Length", n)], body))
    assert c.answer().status == 201
    body = b'{"name":"chunked"}'
    c.send(request("POST", "/v1/admin/clouds", ADMIN_TOKEN,
                   [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
                   b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)))
    assert c.answer().status == 201
    assert_still_open(c)
    c.close()
    assert count_clouds(d) == before + 2


def test_unsupported_transfer_coding_is_501_at_once(d):
    before = count_clouds(d)
    for port in (d.admin_port, d.tenant_port):
        for coding in ("gzip", "gzip, chunked", "identity", "chunked, chunked"):
            # The body never ends for a server that waits for it: only an answer on the headers ends this.
            data = request("POST", "/v1/admin/clouds", ADMIN_TOKEN,
                           [("Content-Type", "application/json"), ("Transfer-Encoding", coding)], b"{}")
            refused_and_closed(port, data, 501, "NotImplemented", "Transfer-Encoding")
        data = request("POST", "/v1/admin/clouds", ADMIN_TOKEN,
                       [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked"),
                        ("Transfer-Encoding", "chunked")], b"2\r\n{}\r\n0\r\n\r\n")
        refused_and_closed(port, data, 501, "NotImplemented", "Transfer-Encoding")
    assert count_clouds(d) == before


# Heads libmicrohttpd 0.9.75 would answer with its own HTML (or not at all): the listener's front reads each
# new connection's first head before libmicrohttpd does and answers these in the envelope, then closes.
BIG = b"a" * 20000
MALFORMED = [
    (b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400, "InvalidRequest", None),
    (b"GET\r\nHost: x\r\n\r\n", 400, "InvalidRequest", None),  # one word: once dropped unanswered
    (b"GET healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "InvalidRequest", None),
    (b"GET /healthz HTTP/1.1\rHost: x\r\n\r\n", 400, "InvalidRequest", None),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "InvalidRequest", None),
    (b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400, "InvalidRequest", None),
    (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400, "InvalidRequest", None),  # TLS to plain HTTP
    (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HttpVersionNotSupported", None),
    (b"GET /healthz HTTP/1.3\r\nHost: x\r\n\r\n", 505, "HttpVersionNotSupported", None),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HttpVersionNotSupported", None),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + BIG + b"\r\n\r\n", 431, "RequestHeaderFieldsTooLarge", None),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
     431, "RequestHeaderFieldsTooLarge", None),  # once no answer at all
    (b"GET /" + BIG + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "UriTooLong", None),
    (b"POST /v1/admin/clouds HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\n{}", 400, "InvalidRequest",
     "Content-Length"),
    (b"POST /v1/admin/clouds HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}", 400, "InvalidRequest",
     "Content-Length"),
    (b"POST /v1/admin/clouds HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n", 413, "PayloadTooLarge",
     None),
]


def test_malformed_heads_get_the_envelope_and_a_lingering_close(d):
    before = count_clouds(d)
    for port in (d.admin_port, d.tenant_port):
        for data, status, code, target in MALFORMED:
            refused_and_closed(port, data, status, code, target)
    assert count_clouds(d) == before
    c = Conn(d.admin_port)  # the daemon is unharmed
    assert_still_open(c)
    c.close()


def test_a_refusal_echoes_the_clients_request_id(d):
    c = Conn(d.tenant_port)
    c.send(b"GET /healthz HTTP/1.3\r\nHost: x\r\nX-Request-Id: proto-echo-1\r\n\r\n")
    a = c.answer()
    assert_envelope(a, 505, "HttpVersionNotSupported")
    assert a.header("X-Request-Id") == "proto-echo-1", a
    assert c.closed()
    c.close()
    # Every refusal has an id of its own otherwise.
    ids = set()
    for _ in range(3):
        c = Conn(d.tenant_port)
        c.send(b"GET\r\n\r\n")
        ids.add(c.answer().header("X-Request-Id"))
        c.close()
    assert len(ids) == 3 and all(ids), ids


def test_a_client_that_goes_on_sending_still_reads_its_refusal(d):
    """The close lingers: the body the client sends after a refused head is read and dropped, so the answer
    is not lost to a reset (a server that closed with the bytes unread would reset the connection)."""
    for port in (d.admin_port, d.tenant_port):
        c = Conn(port)
        c.send(b"POST /v1/admin/clouds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 2000000\r\n\r\n")
        c.send(b"x" * 600000)  # blocks unless the server reads it
        a = c.answer()
        assert_envelope(a, 413, "PayloadTooLarge")
        c.close()
    # A head that ends early (the client shut its sending side) is answered, not dropped.
    c = Conn(d.admin_port)
    c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    assert_envelope(c.answer(), 400, "InvalidRequest")
    assert c.closed()
    c.close()


def test_a_head_at_the_limits_is_served(d):
    """Heads the front passes are never refused by libmicrohttpd: 8,192 bytes of head with 100 records
    (headers, query arguments, cookies) get wapd's own answer, on a GET and on a POST with a body."""
    base = "Host: x\r\nAuthorization: Bearer %s\r\n" % ADMIN_TOKEN

    def padded(line, headers, body=b""):
        head = line + base + headers + "X-Pad: "
        return (head + "p" * (8192 - len(head) - 4) + "\r\n\r\n").encode() + body

    hs = "".join("X-H%02d: v\r\n" % i for i in range(60))
    q = "&".join("a%d=1" % i for i in range(20))
    cookies = "Cookie: " + "; ".join("c%d=1" % i for i in range(16)) + "\r\n"
    cases = [padded("GET /v1/admin/clouds?%s HTTP/1.1\r\n" % q, hs + cookies)]
    body = b'{"name":"limits-cloud"}'
    cases.append(padded("POST /v1/admin/clouds HTTP/1.1\r\n",
                        hs + "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body), body))
    for data, status in zip(cases, (200, 201)):
        assert len(data.split(b"\r\n\r\n")[0]) + 4 == 8192
        c = Conn(d.admin_port)
        c.send(data)
        a = c.answer()
        assert a.status == status, a
        assert_still_open(c)
        c.close()
    # One byte more is 431, in the envelope.
    refused_and_closed(d.admin_port, cases[0].replace(b"X-Pad: p", b"X-Pad: pp", 1), 431,
                       "RequestHeaderFieldsTooLarge", None)


def test_framing_refusals_are_answered_before_the_body(d):
    """A refused framing is answered on the headers: the client gets it without sending any body (a server
    that waited for the body would hold the connection until the read's deadline, failing the test)."""
    for hs, status in (([("Transfer-Encoding", "gzip")], 501),
                       ([("Content-Length", "5"), ("Content-Length", "6")], 400)):
        c = Conn(d.admin_port)
        c.send(request("POST", "/v1/admin/clouds", ADMIN_TOKEN, [("Content-Type", "application/json")] + hs))
        assert c.answer().status == status
        assert c.closed()
        c.close()
