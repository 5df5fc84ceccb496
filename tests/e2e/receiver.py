"""A local hook receiver for the e2e tests: records, checks the signature of, and validates the events a
daemon delivers."""
import json

import oas
from harness import OAS_MODE


class Receiver:
    """A local hook receiver on an ephemeral port, in a thread. It verifies each request's signature with
    secret and records (event id, type, body, signature ok). answer(n, event) gives the status for the nth
    request carrying that event id (1-based); the default is always 200. Events are validated against the
    spec's Event (the first CHECK_PER_TYPE of each type, so that a flood of one type costs no more), and
    close() fails on the first that does not satisfy it."""

    CHECK_PER_TYPE = 50

    def __init__(self, secret, answer=None, port=0, tls=None):
        import hashlib
        import hmac
        import http.server
        import threading

        self.secret = secret.encode()
        self.answer = answer or (lambda n, ev: 200)
        self.lock = threading.Lock()
        self.got = []        # every request: (id, type, body bytes, sig ok, header type)
        self.problems = []   # where a delivered event contradicts the spec's Event
        self.checked = {}    # event type -> requests seen
        self.seen = {}       # event id -> number of requests
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                want = "sha256=" + hmac.new(rcv.secret, body, hashlib.sha256).hexdigest()
                sig_ok = hmac.compare_digest(want, self.headers.get("X-Wapd-Signature", ""))
                try:
                    ev = json.loads(body)
                except ValueError:
                    ev = {}
                with rcv.lock:
                    rcv.checked[ev.get("type")] = n_type = rcv.checked.get(ev.get("type"), 0) + 1
                if OAS_MODE != "off" and n_type <= Receiver.CHECK_PER_TYPE:
                    problems = oas.check_schema("Event", ev)
                    if problems:
                        with rcv.lock:
                            rcv.problems.append(oas.describe("POST", "(hook delivery)", 0, problems))
                with rcv.lock:
                    k = rcv.seen.get(ev.get("id"), 0) + 1
                    rcv.seen[ev.get("id")] = k
                    rcv.got.append((ev.get("id"), ev.get("type"), body, sig_ok,
                                    self.headers.get("X-Wapd-Event")))
                status = rcv.answer(k, ev)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a sender killed mid-request resets its connections: expected here

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls is not None:  # https, with a certificate of that CA
            self.server.socket = tls.server_context().wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = "%s://127.0.0.1:%d/hook" % ("https" if tls else "http", self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ids(self):
        with self.lock:
            return set(self.seen)

    def requests(self):
        with self.lock:
            return list(self.got)

    def close(self):
        """Stops the receiver; fails if a delivered event did not satisfy schemas/openapi.yaml's Event."""
        self.server.shutdown()
        self.server.server_close()
        if self.problems and OAS_MODE != "collect":
            raise AssertionError(self.problems[0])
