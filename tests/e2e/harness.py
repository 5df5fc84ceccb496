"""End-to-end harness: starts the real wapd binary on port 0 with a temporary state dir and talks HTTP to it.

Only the Python standard library (and the openssl command, for the https mode) is used. Every wait polls with a
generous deadline; nothing sleeps a fixed time and hopes.

The https mode: CA() makes a throwaway certificate authority with the openssl command; Daemon(tls=ca) starts
wapd with a certificate that CA issued, and its admin() and tenant() clients verify the listeners against that
CA (host name included). Every exchange is validated against the OpenAPI document as in plain HTTP.

On PostgreSQL (WAPD_TEST_PG; see pgdb.py), every Daemon keeps its state in a fresh database of its own, given
as --store and dropped with its state dir. Tests that look into the store itself go through Daemon.store_rows
and Daemon.store_exec, which speak to either engine. There the admin client of a daemon serves each sim host
a test asks for with a wapd-agent of its own (see simhosts.py, which also reads and writes a sim host's log:
sim_vms, sim_vm_put).

Beside this module: cluster.py (several daemons on one PostgreSQL database) and receiver.py (a local hook
receiver).
"""
import http.client
import atexit
import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import uuid

import oas
from pgdb import PG_BASE, _pg_drop_all, _psql, _sql_bind, pg_database, pg_drop
from simhosts import _sim_agent_drop, _sim_agents_stop, _sim_shim

WAPD_BIN = os.environ.get("WAPD_BIN", "build/wapd")
AGENT_BIN = os.environ.get("WAPD_AGENT_BIN", os.path.join(os.path.dirname(WAPD_BIN) or ".", "wapd-agent"))
SANITIZED = os.environ.get("WAPD_SANITIZED") == "1"
# Sanitized builds run several times slower; deadlines scale with them.
SLOW = 4 if SANITIZED else 1
ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef"
# Every exchange with a wapd listener is validated against schemas/openapi.yaml (see oas.py): "on" fails the
# test that made a mismatch, "collect" only records it, "off" skips validation. Mismatches are appended to
# the file WAPD_OAS_LOG names, when it does (in collect mode, to oas-mismatches.log by default).
OAS_MODE = os.environ.get("WAPD_OAS", "on")
OAS_LOG = os.environ.get("WAPD_OAS_LOG")
# port -> "A" (admin) or "T" (tenant), for every listener of every daemon started here.
LISTENERS = {}
OAS_STATS = {"exchanges": 0, "seconds": 0.0}


@atexit.register
def _oas_summary():
    if OAS_STATS["exchanges"]:
        print("oas: %d exchanges validated against schemas/openapi.yaml in %.1f s"
              % (OAS_STATS["exchanges"], OAS_STATS["seconds"]), file=sys.stderr)


# At exit (last registered, first run): the wapd-agents serving sim hosts stop, the test databases are
# dropped, then the OpenAPI summary above is printed.
atexit.register(_pg_drop_all)
atexit.register(_sim_agents_stop)


def wait_for(pred, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout * SLOW
    delay = 0.01
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body) if self.body else None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


def _sent_json(raw, headers):
    """A raw body sent as JSON, parsed (for the OpenAPI check of an accepted request); None otherwise."""
    if not any(k.lower() == "content-type" and v.startswith("application/json") for k, v in headers.items()):
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


class CA:
    """A throwaway certificate authority in a temp dir, made with the openssl command. issue() makes a
    server certificate and key it signed (for 127.0.0.1 and localhost by default)."""

    def __init__(self, name="wapd e2e CA"):
        self.dir = tempfile.mkdtemp(prefix="wapd-ca-")
        self.cert = os.path.join(self.dir, "ca.crt")
        self.key = os.path.join(self.dir, "ca.key")
        self.issued = 0
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", "/CN=" + name)

    def issue(self, cn="localhost", sans=("IP:127.0.0.1", "DNS:localhost")):
        """A new certificate and key signed by this CA: (cert path, key path), both PEM."""
        self.issued += 1
        base = os.path.join(self.dir, "server%d" % self.issued)
        with open(base + ".ext", "w") as f:
            f.write("subjectAltName=%s\n" % ",".join(sans))
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", base + ".key", "-out", base + ".csr", "-subj", "/CN=" + cn)
        _openssl("x509", "-req", "-in", base + ".csr", "-CA", self.cert, "-CAkey", self.key,
                 "-CAcreateserial", "-out", base + ".crt", "-days", "2", "-extfile", base + ".ext")
        return base + ".crt", base + ".key"

    def client_context(self):
        """An ssl context that trusts this CA only and checks the host name."""
        return ssl.create_default_context(cafile=self.cert)

    def server_context(self):
        """An ssl context for a server presenting a new certificate of this CA."""
        cert, key = self.issue()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def _openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Verbs:
    """get, post, patch and delete over a class's request(method, path, **kw)."""

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


class Client(Verbs):
    """One keep-alive connection to one listener, with a token; over https when given an ssl context."""

    def __init__(self, port, token=None, host="127.0.0.1", ssl_context=None, daemon=None):
        self.host = host
        self.port = port
        self.token = token
        self.ssl_context = ssl_context
        self.conn = None
        # The daemon whose admin listener this is: on PostgreSQL its sim hosts are served by wapd-agents.
        self.daemon = daemon

    def _connect(self):
        if self.ssl_context is not None:
            self.conn = http.client.HTTPSConnection(self.host, self.port, timeout=30 * SLOW,
                                                    context=self.ssl_context)
        else:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30 * SLOW)

    def request(self, method, path, body=None, headers=None, raw=None, token=None, validate=True):
        """One exchange. validate=False skips the OpenAPI check, for the few requests a test makes that the
        spec cannot describe (say why at the call)."""
        after, resp = None, None
        if self.daemon is not None and self.daemon.pg_uri and raw is None:
            body, after = _sim_shim(self.daemon, method, path, body)
        try:
            resp = self._exchange(method, path, body, headers, raw, token, validate)
            return resp
        finally:
            if after is not None:
                after(resp)

    def _exchange(self, method, path, body, headers, raw, token, validate):
        hdrs = {}
        tok = token if token is not None else self.token
        if tok:
            hdrs["Authorization"] = "Bearer " + tok
        data = None
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        for attempt in range(2):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                payload = r.read()
                resp = Response(r.status, r.getheaders(), payload.decode("utf-8", "replace"))
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                if validate:
                    sent = body if raw is None else _sent_json(raw, hdrs) if 200 <= resp.status < 300 else None
                    self._validate(method, path, resp, sent)
                return resp
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def _validate(self, method, path, resp, body):
        listener = LISTENERS.get(self.port)
        if OAS_MODE == "off" or listener is None:
            return
        t0 = time.monotonic()
        problems = oas.check(listener, method, path, resp.status, resp.headers, resp.body, body)
        OAS_STATS["exchanges"] += 1
        OAS_STATS["seconds"] += time.monotonic() - t0
        if not problems:
            return
        text = oas.describe(method, path, resp.status, problems)
        if OAS_MODE == "collect" or OAS_LOG:
            with open(OAS_LOG or "oas-mismatches.log", "a") as f:
                f.write(json.dumps({"listener": listener, "method": method, "path": path,
                                    "template": oas.match(listener, path), "status": resp.status,
                                    "problems": problems}) + "\n")
        if OAS_MODE != "collect":
            raise AssertionError(text)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Daemon:
    """A wapd process with its own state dir; with tls (a CA), both listeners serve https with a certificate
    that CA issued (tls_cert, tls_key: its files, which a test may replace before a SIGHUP)."""

    def __init__(self, state_dir=None, extra_args=None, admin_token=ADMIN_TOKEN, env=None, tls=None):
        self.tls = tls
        self.tls_cert = self.tls_key = None
        self.ssl_context = tls.client_context() if tls else None
        self.own_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="wapd-e2e-")
        self.extra_args = extra_args or []
        self.admin_token = admin_token
        self.env = env
        self.proc = None
        self.stdout_path = os.path.join(self.state_dir, "..", os.path.basename(self.state_dir) + ".out")
        self.stderr_path = os.path.join(self.state_dir, "..", os.path.basename(self.state_dir) + ".err")
        # On PostgreSQL: the URI of this state dir's database (made at the first start), else None.
        self.pg_uri = None
        # On PostgreSQL: the wapd-agents serving this daemon's sim hosts (stopped by cleanup).
        self.sim_agents = []

    def start(self, wait_ready=True):
        ports = os.path.join(self.state_dir, "ports.json")
        if os.path.exists(ports):
            os.unlink(ports)
        args = [WAPD_BIN, "--state-dir", self.state_dir, "--admin-listen", "127.0.0.1:0",
                "--tenant-listen", "127.0.0.1:0"]
        if self.admin_token:
            args += ["--admin-token", self.admin_token]
        if self.tls and self.tls_cert is None:
            self.tls_cert, self.tls_key = self.tls.issue()
        if self.tls:
            args += ["--tls-cert", self.tls_cert, "--tls-key", self.tls_key]
        if PG_BASE and "--store" not in self.extra_args:
            self.pg_uri = pg_database(self.state_dir)
            args += ["--store", self.pg_uri]
        args += self.extra_args
        env = dict(os.environ)
        env.pop("WAPD_ADMIN_TOKEN", None)
        if self.env:
            env.update(self.env)
        self.out = open(self.stdout_path, "ab")
        self.err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=self.err, env=env)
        if wait_ready:
            def ready():
                if self.proc.poll() is not None:
                    raise AssertionError("wapd exited with %s: %s" % (self.proc.returncode, self.stderr()[-2000:]))
                try:
                    with open(ports) as f:
                        return json.load(f)
                except (OSError, ValueError):
                    return None
            p = wait_for(ready, 30, "ports.json")
            self.admin_port = p["admin"]
            self.tenant_port = p["tenant"]
            LISTENERS[self.admin_port] = "A"
            LISTENERS[self.tenant_port] = "T"
        return self

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    def admin(self, token=None):
        return Client(self.admin_port, token if token is not None else self.admin_token,
                      ssl_context=self.ssl_context, daemon=self)

    def tenant(self, token):
        return Client(self.tenant_port, token, ssl_context=self.ssl_context)

    def stdout(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._close_logs()

    def store_rows(self, sql, params=()):
        """The rows (tuples) of a query on this daemon's store, SQLite's or PostgreSQL's; ? marks a parameter."""
        if self.pg_uri is None:
            db = sqlite3.connect(os.path.join(self.state_dir, "wapd.db"), timeout=30)
            try:
                return db.execute(sql, params).fetchall()
            finally:
                db.close()
        out = _psql(self.pg_uri, "SELECT row_to_json(q) FROM (%s) q" % _sql_bind(sql, params))
        return [tuple(json.loads(line, object_pairs_hook=lambda kv: [v for _, v in kv]))
                for line in out.splitlines() if line]

    def store_exec(self, sql, rows):
        """Runs a statement once for each parameter tuple of rows, in one transaction."""
        if self.pg_uri is None:
            db = sqlite3.connect(os.path.join(self.state_dir, "wapd.db"), timeout=30)
            try:
                with db:
                    db.executemany(sql, rows)
            finally:
                db.close()
            return
        _psql(self.pg_uri, "BEGIN;\n" + "".join(_sql_bind(sql, r) + ";\n" for r in rows) + "COMMIT;\n")

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            self._close_logs()
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("wapd did not stop within %ss of SIGTERM" % timeout)
        self._close_logs()
        return rc

    def _close_logs(self):
        # The ports are free again once the process is gone; another process may take them.
        for port in (getattr(self, "admin_port", None), getattr(self, "tenant_port", None)):
            LISTENERS.pop(port, None)
        for f in (getattr(self, "out", None), getattr(self, "err", None)):
            if f:
                f.close()

    def cleanup(self):
        try:
            if self.proc and self.proc.poll() is None:
                rc = self.stop()
                if SANITIZED and rc != 0:
                    raise AssertionError("sanitized wapd exited %s: %s" % (rc, self.stderr()[-4000:]))
        finally:
            while self.sim_agents:
                _sim_agent_drop(self.sim_agents.pop())
            if self.own_dir:
                if self.pg_uri:
                    pg_drop(self.state_dir)
                shutil.rmtree(self.state_dir, ignore_errors=True)
                for p in (self.stdout_path, self.stderr_path):
                    try:
                        os.unlink(p)
                    except OSError:
                        pass


class Agent:
    """A wapd-agent process on a state dir (its own temporary one unless given)."""

    def __init__(self, state_dir=None, extra_args=None, token_file=None, name="e2e-host", sim_uri=None,
                 backend=None, libvirt_uri=None):
        self.own_dir = state_dir is None
        self.name = name
        extra_args = list(extra_args or [])
        for opt, val in (("--sim-uri", sim_uri), ("--backend", backend), ("--libvirt-uri", libvirt_uri)):
            if val:
                extra_args += [opt, val]
        self.token_file = token_file
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="wapd-agent-e2e-")
        self.extra_args = extra_args or []
        self.proc = None
        self.err_path = self.state_dir.rstrip("/") + ".err"

    def start(self, healthy=True):
        """Starts the agent and waits until it answers GET /v1/host: with 200 (healthy), or with any answer (a
        simulator whose every call fails answers 503)."""
        conf = os.path.join(self.state_dir, "agent.json")
        before = os.stat(conf).st_mtime_ns if os.path.exists(conf) else None
        args = [AGENT_BIN, "--listen", "127.0.0.1:0", "--state-dir", self.state_dir,
                "--name", self.name] + self.extra_args
        if self.token_file:
            args += ["--token-file", self.token_file]
        self.err = open(self.err_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.err)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("wapd-agent exited %s: %s" % (self.proc.returncode, self.stderr()[-2000:]))
            try:
                if before is not None and os.stat(conf).st_mtime_ns == before:
                    return None
                with open(conf) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return None
        self.port = wait_for(ready, 30, "agent.json")["port"]
        with open(self.token_file or os.path.join(self.state_dir, "agent.token")) as f:
            self.token = f.read().strip()
        # agent.json is written before the agent answers; wait until it does.
        wait_for(lambda: self.client().get("/v1/host").status == 200 or not healthy, 30, "the agent to answer")
        return self

    def client(self, token=None):
        return Client(self.port, token if token is not None else self.token)

    @property
    def uri(self):
        return "http://127.0.0.1:%d" % self.port

    def vms(self):
        """What the agent says it has: {wapd VM id (or, for a VM wapd did not make, its hypervisorId): vm}."""
        r = self.client().get("/v1/vms")
        assert r.status == 200, r
        return {v["id"] or v["hypervisorId"]: v for v in r.json()["value"]}

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.err.close()

    def stop(self):
        """SIGTERM; the exit code (the agent must end within 10 s)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(10 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("wapd-agent did not stop within 10 s of SIGTERM")
        self.err.close()
        return rc

    def cleanup(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(30)
                self.err.close()
        finally:
            if self.own_dir:
                shutil.rmtree(self.state_dir, ignore_errors=True)
                try:
                    os.unlink(self.err_path)
                except OSError:
                    pass


def raw_exchange(port, data, timeout=10.0):
    """Sends raw bytes and returns whatever comes back before the server closes or the timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    finally:
        s.close()


def uid():
    return str(uuid.uuid4())


class World:
    """An admin-made world: cloud, images, sizes, gallery item, plan, and tenants with tokens."""

    def __init__(self, daemon):
        self.d = daemon
        self.a = daemon.admin()
        a = self.a
        self.cloud = ok(a.post("/v1/admin/clouds", {"name": "c-" + uid()[:8]}), 201)
        self.image = ok(a.post("/v1/admin/images", {"name": "win", "osType": "windows",
                                                     "generation": 2, "osDiskGB": 40}), 201)
        self.image2 = ok(a.post("/v1/admin/images", {"name": "lin", "osType": "linux",
                                                      "generation": 1, "osDiskGB": 20}), 201)
        self.size_name = "S" + uid()[:8]
        self.size = ok(a.post("/v1/admin/sizes", {"name": self.size_name, "cores": 1,
                                                   "memoryMB": 1792}), 201)
        self.gallery = ok(a.post("/v1/admin/galleryItems", {
            "name": "web", "version": "1.0", "imageId": self.image["id"],
            "defaultSize": self.size_name, "minInstances": 1, "maxInstances": 5}), 201)
        self.plan = ok(a.post("/v1/admin/plans", {
            "name": "gold", "cloudId": self.cloud["id"], "state": "public",
            "quotas": {"vms": 5, "cores": 10}, "imageIds": [self.image["id"]],
            "sizeNames": [self.size_name], "checkpointMode": "createViewRestore"}), 201)

    def tenant(self, plan=None):
        """A new user with a subscription and a token: (client, subscription, user)."""
        a = self.a
        user = ok(a.post("/v1/admin/users", {"email": uid()[:8] + "@example.com", "name": "t"}), 201)
        sub = ok(a.post("/v1/admin/subscriptions", {"userId": user["id"],
                                                     "planId": (plan or self.plan)["id"],
                                                     "displayName": "sub"}), 201)
        tok = ok(a.post("/v1/admin/users/%s/tokens" % user["id"]), 201)
        return self.d.tenant(tok["token"]), sub, user


def wait_job(client, location, timeout=30.0):
    """Polls a job (by its Location) until it ends; returns the final job."""
    def ended():
        j = ok(client.get(location), 200)
        return j if j["status"] not in ("queued", "running") else None
    return wait_for(ended, timeout, "job " + location)


def ok(resp, status):
    assert resp.status == status, "expected %d, got %r" % (status, resp)
    return resp.json()


def err(resp, status, code, target=None):
    assert resp.status == status, "expected %d %s, got %r" % (status, code, resp)
    body = resp.json()
    assert body["error"]["code"] == code, "expected %s, got %r" % (code, body)
    if target is not None:
        assert body["error"]["target"] == target, "expected target %s, got %r" % (target, body)
    return body
