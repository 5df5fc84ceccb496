"""Connection hygiene (--connection-limit, --per-address-limit, --request-timeout-seconds,
--idle-timeout-seconds): a flood of slow clients on the tenant listener does not shut other tenants out.

The main test opens 2,100 connections to the tenant listener, each sending one header line every 2 to 4 s
(never silent long enough for the idle timeout), from ten source addresses 127.0.0.10-19 (210 each, below
the default per-address limit of 256). While all of them are open, new tenant clients and admin clients are
served, each within 1 s (the figure issue 19 demands; the only timed assertion here, and it is generous: on
an idle machine such a request takes a few milliseconds, so the margin is printed). Then every trickler is
closed by the daemon at the request deadline (--request-timeout-seconds 20, measured from its connection),
however often it sent, and without an answer.

The sockets are non-blocking and driven by one selector in one thread, so 2,100 connections need no
2,100 threads; the test raises its own open-file limit to hold them.
"""
import http.client
import json
import os
import random
import resource
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from harness import ADMIN_TOKEN, SLOW, WAPD_BIN, Daemon, ok, uid, wait_for

TRICKLERS = 2100
SOURCES = ["127.0.0.%d" % i for i in range(10, 20)]  # 210 connections each
DEADLINE = 20  # --request-timeout-seconds of the main test
LINE_EVERY = (2.0, 4.0)  # seconds between a trickler's header lines (below the 15 s idle timeout)
SERVED_WITHIN = 1.0  # seconds: a new client during the trickle (issue 19)
# How late after the deadline a trickler may be closed: the sweep runs every 0.25 s; the rest is slack for
# a loaded machine (documented, not a performance figure).
CLOSE_SLACK = 5.0 * SLOW
SERIAL = "2,100 sockets and a served-within-1-s figure: run alone, not beside another module's load"


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < n:
        want = n if hard == resource.RLIM_INFINITY else min(n, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == resource.RLIM_INFINITY or soft >= n, \
        "this test needs %d open files; the hard limit allows %s" % (n, soft)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def tenant_token(a):
    user = ok(a.post("/v1/admin/users", {"email": uid()[:8] + "@example.com", "name": "sl"}), 201)
    return ok(a.post("/v1/admin/users/%s/tokens" % user["id"]), 201)["token"]


def timed_get(port, path, token, source="127.0.0.1"):
    """A new connection (from source) and one GET on it: (status, seconds)."""
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30 * SLOW, source_address=(source, 0))
    try:
        c.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
        r = c.getresponse()
        r.read()
        return r.status, time.monotonic() - t0
    finally:
        c.close()


class Trickle:
    """Connections that send a request's header lines slowly, forever; the daemon's closes are recorded."""

    def __init__(self, port, sources, count, seed=19):
        self.port = port
        self.rng = random.Random(seed)
        self.sel = selectors.DefaultSelector()
        self.conns = []
        self.stop = False
        self.lock = threading.Lock()
        for i in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.bind((sources[i % len(sources)], 0))
            c = {"sock": s, "started": None, "connected": None, "closed": None, "lines": 0, "answer": b"",
                 "next": 0.0}
            self.conns.append(c)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        for c in self.conns:
            c["started"] = time.monotonic()  # the daemon accepts it after this
            err = c["sock"].connect_ex(("127.0.0.1", self.port))
            assert err in (0, 115), "connect: %s" % os.strerror(err)  # 115: EINPROGRESS
            self.sel.register(c["sock"], selectors.EVENT_WRITE, c)
        self.thread.start()
        return self

    def counts(self):
        with self.lock:
            return (sum(1 for c in self.conns if c["connected"] is not None and c["closed"] is None),
                    sum(1 for c in self.conns if c["closed"] is not None))

    def _send(self, c, data, now):
        try:
            c["sock"].send(data)
            c["lines"] += 1
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._closed(c, now)
            return
        c["next"] = now + self.rng.uniform(*LINE_EVERY)

    def _closed(self, c, now):
        with self.lock:
            if c["closed"] is None:
                c["closed"] = now
        try:
            self.sel.unregister(c["sock"])
        except (KeyError, ValueError):
            pass
        c["sock"].close()

    def _run(self):
        while not self.stop:
            now = time.monotonic()
            for c in self.conns:
                if c["connected"] is not None and c["closed"] is None and c["next"] <= now:
                    self._send(c, b"X-Trickle-%d: %s\r\n" % (c["lines"], b"x" * 20), now)
            for key, events in self.sel.select(0.05):
                c = key.data
                now = time.monotonic()
                if c["closed"] is not None:
                    continue
                if c["connected"] is None and events & selectors.EVENT_WRITE:
                    err = c["sock"].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        self._closed(c, now)
                        continue
                    with self.lock:
                        c["connected"] = now
                    self.sel.modify(c["sock"], selectors.EVENT_READ, c)
                    self._send(c, b"GET /v1/subscriptions HTTP/1.1\r\nHost: wapd\r\n", now)
                elif events & selectors.EVENT_READ:
                    try:
                        data = c["sock"].recv(4096)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data = b""
                    if data:
                        c["answer"] += data
                    else:
                        self._closed(c, now)

    def close(self):
        self.stop = True
        self.thread.join(30)
        for c in self.conns:
            if c["closed"] is None:
                c["sock"].close()


def test_new_clients_are_served_during_a_slowloris_and_tricklers_close_at_the_deadline():
    raise_nofile(TRICKLERS + 256)
    d = Daemon(extra_args=["--request-timeout-seconds", str(DEADLINE)]).start()
    trickle = None
    try:
        a = d.admin()
        token = tenant_token(a)
        base_fds = open_fds(d.proc.pid)
        t_open = time.monotonic()
        trickle = Trickle(d.tenant_port, SOURCES, TRICKLERS).start()
        # Every trickler connected, and the daemon holds all of them (its own fds, not the kernel's backlog).
        wait_for(lambda: trickle.counts()[0] == TRICKLERS, 15 * SLOW, "all tricklers to connect")
        wait_for(lambda: open_fds(d.proc.pid) >= base_fds + TRICKLERS, 15 * SLOW,
                 "the daemon to accept all tricklers")
        opened_in = time.monotonic() - t_open
        assert trickle.counts() == (TRICKLERS, 0), "a trickler was closed before the deadline: %r" % (
            trickle.counts(),)

        tenant_times, admin_times = [], []
        sample_until = time.monotonic() + 8
        while time.monotonic() < sample_until:
            status, took = timed_get(d.tenant_port, "/v1/subscriptions", token, source=SOURCES[0])
            assert status == 200, "a new tenant client got %d during the trickle" % status
            tenant_times.append(took)
            status, took = timed_get(d.admin_port, "/v1/admin/clouds", d.admin_token)
            assert status == 200, "an admin client got %d during the trickle" % status
            admin_times.append(took)
            # All 2,100 were still open (none closed yet, the daemon still holds them) during this sample.
            assert trickle.counts() == (TRICKLERS, 0), trickle.counts()
            assert open_fds(d.proc.pid) >= base_fds + TRICKLERS
            time.sleep(0.25)
        print("slowloris: %d tricklers open in %.2fs; new tenant clients (%d): max %.1f ms, median %.1f ms; "
              "admin clients (%d): max %.1f ms; limit %.0f ms" % (
                  TRICKLERS, opened_in, len(tenant_times), 1000 * max(tenant_times),
                  1000 * sorted(tenant_times)[len(tenant_times) // 2], len(admin_times),
                  1000 * max(admin_times), 1000 * SERVED_WITHIN))
        assert len(tenant_times) >= 10
        assert max(tenant_times) < SERVED_WITHIN, "a new tenant client took %.3f s" % max(tenant_times)
        assert max(admin_times) < SERVED_WITHIN, "an admin client took %.3f s" % max(admin_times)

        # The deadline: every trickler is closed by the daemon, however often it sent, without an answer.
        wait_for(lambda: trickle.counts()[1] == TRICKLERS, DEADLINE + 30 * SLOW,
                 "every trickler to be closed")
        trickle.close()
        # From the connect call (the daemon's accept is later) to the moment this test saw the close.
        lifetimes = [c["closed"] - c["started"] for c in trickle.conns]
        print("slowloris: tricklers closed after %.2f to %.2f s (deadline %d s); lines sent: %d to %d" % (
            min(lifetimes), max(lifetimes), DEADLINE, min(c["lines"] for c in trickle.conns),
            max(c["lines"] for c in trickle.conns)))
        assert min(lifetimes) >= DEADLINE - 0.1, "closed before the deadline: %.2f s" % min(lifetimes)
        assert max(lifetimes) <= DEADLINE + CLOSE_SLACK, "closed late: %.2f s" % max(lifetimes)
        # They kept sending: more lines than the deadline allows silences of the idle timeout.
        assert min(c["lines"] for c in trickle.conns) >= DEADLINE // int(LINE_EVERY[1])
        assert all(c["answer"] == b"" for c in trickle.conns), "a trickler got an answer"
        wait_for(lambda: open_fds(d.proc.pid) < base_fds + 50, 30 * SLOW, "the daemon to free the sockets")
        assert timed_get(d.tenant_port, "/v1/subscriptions", token)[0] == 200
        assert "connections closed at the request deadline" in d.stderr()
    finally:
        if trickle is not None:
            trickle.close()
        d.cleanup()


def test_the_per_address_limit_refuses_the_connection_beyond_it():
    d = Daemon(extra_args=["--per-address-limit", "4"]).start()
    held = []
    try:
        # Four keep-alive connections from one address are served and stay open.
        for _ in range(4):
            c = http.client.HTTPConnection("127.0.0.1", d.tenant_port, timeout=10 * SLOW,
                                           source_address=("127.0.0.2", 0))
            c.request("GET", "/healthz")
            r = c.getresponse()
            r.read()
            assert r.status == 200
            held.append(c)
        # The fifth from that address is answered 503 in the error envelope, and closed.
        c = http.client.HTTPConnection("127.0.0.1", d.tenant_port, timeout=10 * SLOW,
                                       source_address=("127.0.0.2", 0))
        try:
            c.request("GET", "/healthz")
            r = c.getresponse()
            body = json.loads(r.read())
            assert r.status == 503, r.status
            assert body["error"]["code"] == "ServiceUnavailable", body
            assert r.getheader("Retry-After") == "1"
            assert r.getheader("Connection") == "close"
        finally:
            c.close()
        # Another address is served, and so are the four held connections.
        assert timed_get(d.tenant_port, "/healthz", None, source="127.0.0.3")[0] == 200
        for c in held:
            c.request("GET", "/healthz")
            r = c.getresponse()
            r.read()
            assert r.status == 200
        # The admin listener counts its own connections.
        assert timed_get(d.admin_port, "/healthz", None, source="127.0.0.2")[0] == 200
        # One of the four closes: the address may connect again.
        held.pop().close()
        wait_for(lambda: _healthz_from(d.tenant_port, "127.0.0.2"), 10 * SLOW, "a connection to be allowed")
    finally:
        for c in held:
            c.close()
        d.cleanup()


def _healthz_from(port, source):
    try:
        return timed_get(port, "/healthz", None, source=source)[0] == 200
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        return False


def test_the_deadline_holds_slow_bodies_and_spares_busy_keep_alive_clients():
    deadline = 3
    d = Daemon(extra_args=["--request-timeout-seconds", str(deadline)]).start()
    try:
        token = tenant_token(d.admin())
        # A body sent one byte every 0.5 s is cut at the deadline, without an answer.
        s = socket.create_connection(("127.0.0.1", d.tenant_port), timeout=30 * SLOW)
        t0 = time.monotonic()
        s.sendall(b"POST /v1/subscriptions/x/vms HTTP/1.1\r\nHost: wapd\r\nAuthorization: Bearer %s\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n" % token.encode())
        answer = b""
        try:
            for _ in range(100):
                s.sendall(b" ")
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = s.recv(4096)
        except ConnectionResetError:
            pass
        took = time.monotonic() - t0
        s.close()
        assert answer == b"", answer
        assert deadline - 0.1 <= took <= deadline + 5 * SLOW, took
        # A keep-alive client asking every 0.5 s for three deadlines is never cut: each answer restarts it.
        c = http.client.HTTPConnection("127.0.0.1", d.tenant_port, timeout=30 * SLOW)
        sock_ids = set()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3 * deadline:
            c.request("GET", "/v1/subscriptions", headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            r.read()
            assert r.status == 200
            sock_ids.add(c.sock.getsockname())
            time.sleep(0.5)
        c.close()
        assert len(sock_ids) == 1, "the keep-alive connection was closed and made again"
    finally:
        d.cleanup()


def test_idle_keep_alive_connections_wait_for_the_idle_timeout_and_a_request_has_the_deadline_from_its_first_byte():
    """Between requests only the idle timeout applies: a keep-alive connection idle for twice the request
    deadline (and less than the idle timeout) still serves its next request. A request then trickled on it
    has the whole deadline from its first byte, not from the answer before it: it is cut about one deadline
    after that byte, without an answer."""
    deadline, idle = 2, 8
    d = Daemon(extra_args=["--request-timeout-seconds", str(deadline),
                           "--idle-timeout-seconds", str(idle)]).start()
    try:
        token = tenant_token(d.admin())
        head = b"GET /v1/subscriptions HTTP/1.1\r\nHost: wapd\r\nAuthorization: Bearer %s\r\n" % token.encode()
        s = socket.create_connection(("127.0.0.1", d.tenant_port), timeout=30 * SLOW)
        f = s.makefile("rb")

        def answer_status():
            status = f.readline()
            length = 0
            while True:
                line = f.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            f.read(length)
            return status

        s.sendall(head + b"\r\n")
        assert answer_status().startswith(b"HTTP/1.1 200"), "the first request was not answered"
        time.sleep(2 * deadline)  # idle: past the deadline, within the idle timeout
        s.sendall(head + b"\r\n")
        assert answer_status().startswith(b"HTTP/1.1 200"), "the idle keep-alive connection was closed"
        time.sleep(deadline + 0.5)  # idle again, then a request trickled a header line at a time
        t0 = time.monotonic()
        cut = None
        try:
            s.sendall(head)
            for i in range(int(4 * deadline / 0.25)):
                time.sleep(0.25)
                s.sendall(b"X-Slow-%d: 1\r\n" % i)
        except (BrokenPipeError, ConnectionResetError):
            cut = time.monotonic() - t0
        try:
            rest = s.recv(4096)
        except ConnectionResetError:
            rest = b""
        if cut is None:
            cut = time.monotonic() - t0
        s.close()
        assert rest == b"", rest
        # The deadline counts from the first byte (seen within a sweep, 0.25 s), not from the answer.
        assert deadline - 0.1 <= cut <= deadline + 5 * SLOW, cut
    finally:
        d.cleanup()


def nofile_limits(pid):
    """The (soft, hard) open-file limit of a process, from /proc."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return soft, hard
    raise AssertionError("no open-file limit in /proc/%d/limits" % pid)


def test_the_daemon_raises_its_open_file_limit_to_fit_the_connection_limits():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * 3000 + 1024  # both listeners at --connection-limit 3000, and the reserve
    d = Daemon(extra_args=["--connection-limit", "3000"]).start()
    try:
        got_soft, _ = nofile_limits(d.proc.pid)
        if hard == resource.RLIM_INFINITY or hard >= need:
            assert got_soft == "unlimited" or int(got_soft) >= need, got_soft
        else:
            assert "the open file limit is below what the connection limits need" in d.stderr()
    finally:
        d.cleanup()


def test_a_hard_limit_too_low_for_the_connection_limits_is_logged():
    """Started with a hard open-file limit of 512 (below 2 x 4096 + 1024) the daemon serves and says so."""
    state = tempfile.mkdtemp(prefix="wapd-e2e-")
    err_path = state + ".err"

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 512))

    with open(err_path, "wb") as err:
        p = subprocess.Popen([WAPD_BIN, "--state-dir", state, "--admin-listen", "127.0.0.1:0",
                              "--tenant-listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN],
                             stdout=subprocess.DEVNULL, stderr=err, preexec_fn=low_limit)
    try:
        def ports():
            assert p.poll() is None, "wapd exited with %s" % p.returncode
            try:
                with open(os.path.join(state, "ports.json")) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return None
        port = wait_for(ports, 30 * SLOW, "ports.json")["tenant"]
        assert timed_get(port, "/healthz", None)[0] == 200
        soft = nofile_limits(p.pid)[0]
        with open(err_path) as f:
            lines = [json.loads(l) for l in f if l.startswith("{")]
        msgs = {l.get("msg"): l for l in lines}
        need = 2 * 4096 + 1024
        if soft == "512":  # raised to the hard limit, no further: said so
            warn = msgs.get("the open file limit is below what the connection limits need")
            assert warn, lines
            assert warn["limit"] == 512 and warn["needed"] == need, warn
        else:  # a process allowed to raise its hard limit (CAP_SYS_RESOURCE) raised it
            assert int(soft) >= need, soft
            assert msgs["open file limit raised"]["to"] >= need, lines
    finally:
        p.terminate()
        p.wait(30)
        shutil.rmtree(state, ignore_errors=True)
        os.unlink(err_path)
