"""End-to-end harness: starts the real wapd binary on port 0 with a temporary state dir and talks HTTP to it.

Only the Python standard library (and the openssl command, for the https mode) is used. Every wait polls with a
generous deadline; nothing sleeps a fixed time and hopes.

The https mode: CA() makes a throwaway certificate authority with the openssl command; Daemon(tls=ca) starts
wapd with a certificate that CA issued, and its admin() and tenant() clients verify the listeners against that
CA (host name included). Every exchange is validated against the OpenAPI document as in plain HTTP.

On PostgreSQL: when WAPD_TEST_PG names a database of a test cluster whose role may create databases (make
e2e-pg starts one with tests/pg/cluster.sh), every Daemon keeps its state in a fresh database of its own,
wapd_t_<pid>_<n>, made from that one and given as --store; the database belongs to the state dir as its
wapd.db would (a daemon restarted on the dir finds it again) and is dropped with it. Tests that look into the
store itself go through Daemon.store_rows and Daemon.store_exec, which speak to either engine.

A store several daemons share refuses sim hosts (a simulator inside one daemon is one the others cannot see;
scale-out uses http and libvirt hosts). So that the modules `make e2e-pg` runs tell the same stories on
PostgreSQL, the admin client of a daemon on PostgreSQL serves each sim host a test asks for with a wapd-agent
of its own: the same simulator behind HTTP, given the test's sim uri as --sim-uri (see _sim_shim: the one
place that translates). sim_vms and sim_vm_put follow such a host to the agent's log. A test that needs what
only a sim host has (POST /hosts/{id}/simulate) carries `test_x.sim_only = "why"` and is skipped there.
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
# The test cluster's database this run makes its own databases from (see the module's docstring), or None.
PG_BASE = os.environ.get("WAPD_TEST_PG") or None
# port -> "A" (admin) or "T" (tenant), for every listener of every daemon started here.
LISTENERS = {}
OAS_STATS = {"exchanges": 0, "seconds": 0.0}


@atexit.register
def _oas_summary():
    if OAS_STATS["exchanges"]:
        print("oas: %d exchanges validated against schemas/openapi.yaml in %.1f s"
              % (OAS_STATS["exchanges"], OAS_STATS["seconds"]), file=sys.stderr)


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


class Client:
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

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---- PostgreSQL databases for daemons (WAPD_TEST_PG) ----

PG_DBS = {}  # real path of a state dir -> the URI of its database
_pg_seq = [0]
_pg_spare = []  # (name, psql process creating it): the next daemon's database, made while tests run
_pg_drops = []  # psql processes dropping databases in the background


def _psql_cmd(uri, *args):
    psql = shutil.which("psql") or os.path.join(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"), "psql")
    return [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", uri] + list(args)


def _psql(uri, sql):
    """Runs SQL text through psql on uri; its rows, one per line, unaligned."""
    r = subprocess.run(_psql_cmd(uri), input=sql, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("psql on %s failed: %s" % (uri, r.stderr.strip()))
    return r.stdout


def _psql_start(sql):
    """Starts one statement on the cluster's base database in the background (a CREATE or DROP DATABASE,
    which take a second or two each with fsync on)."""
    return subprocess.Popen(_psql_cmd(PG_BASE, "-c", sql), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _psql_wait(proc, sql):
    _, errs = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise AssertionError("psql %s failed: %s" % (sql, errs.strip()))


def pg_uri_with_db(uri, db):
    """uri with its database (the path after the authority) replaced by db."""
    scheme, sep, rest = uri.partition("://")
    assert sep, "WAPD_TEST_PG is not a URI: " + uri
    cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0] or [len(rest)])
    tail = rest[cut:]
    if tail.startswith("/"):
        q = tail.find("?")
        tail = tail[q:] if q >= 0 else ""
    return "%s://%s/%s%s" % (scheme, rest[:cut], db, tail)


def pg_db_name(uri):
    return uri.partition("://")[2].split("/", 1)[1].split("?", 1)[0]


def _pg_make():
    _pg_seq[0] += 1
    db = "wapd_t_%d_%d" % (os.getpid(), _pg_seq[0])
    return db, _psql_start("CREATE DATABASE %s" % db)


def pg_database(state_dir):
    """The database of a state dir on the test cluster, made on first use (a fresh, empty one)."""
    key = os.path.realpath(state_dir)
    if key not in PG_DBS:
        db, proc = _pg_spare.pop() if _pg_spare else _pg_make()
        _psql_wait(proc, "CREATE DATABASE %s" % db)
        PG_DBS[key] = pg_uri_with_db(PG_BASE, db)
        _pg_spare.append(_pg_make())
    return PG_DBS[key]


def _pg_drop_db(db):
    _pg_drops[:] = [p for p in _pg_drops if p.poll() is None]
    _pg_drops.append(_psql_start("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db))


def pg_drop(state_dir):
    """Drops a state dir's database (in the background: the daemon on it has stopped)."""
    uri = PG_DBS.pop(os.path.realpath(state_dir), None)
    if uri:
        _pg_drop_db(pg_db_name(uri))


@atexit.register
def _pg_drop_all():
    try:
        for db, proc in _pg_spare:
            proc.wait(120)
            _pg_drop_db(db)
        for key in list(PG_DBS):
            pg_drop(key)
        for proc in _pg_drops:
            proc.communicate(timeout=120)
    except Exception as e:  # the cluster is thrown away whole after the run anyway
        print("e2e: could not drop the test databases: %s" % e, file=sys.stderr)


def _sql_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def _sql_bind(sql, params):
    """sql with each ? replaced by its parameter as an SQL literal (psql takes no bound parameters)."""
    parts = sql.split("?")
    assert len(parts) == len(params) + 1, "parameters do not match the ?s of " + sql
    out = [parts[0]]
    for v, part in zip(params, parts[1:]):
        out += [_sql_literal(v), part]
    return "".join(out)


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


# ---- sim hosts on PostgreSQL (see the module's docstring) ----

SIM_AGENTS = {}  # wapd host id -> the Agent serving that sim host of a daemon on PostgreSQL


def _sim_agent_try(agent):
    """Starts agent; False (and the agent stopped) when it does not come up, as when it refuses its uri."""
    try:
        agent.start(healthy=False)
        return True
    except AssertionError:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.proc.kill()
        if agent.proc is not None:
            agent.proc.wait(30)
            agent.err.close()
        return False


def _sim_agent_set_uri(agent, uri):
    args = agent.extra_args
    if "--sim-uri" in args:
        i = args.index("--sim-uri")
        del args[i:i + 2]
    agent.extra_args = args + ["--sim-uri", uri]


def _sim_agent_drop(agent):
    for hid in [h for h, a in SIM_AGENTS.items() if a is agent]:
        del SIM_AGENTS[hid]
    agent.cleanup()


@atexit.register
def _sim_agents_stop():
    for agent in list(SIM_AGENTS.values()):
        agent.cleanup()
    SIM_AGENTS.clear()


def _sim_shim(d, method, path, body):
    """The one place where a sim host becomes an http host on PostgreSQL: (the body to send, a function of the
    response to call after it, or None). POST /v1/admin/hosts of a sim host starts a wapd-agent with the
    host's sim uri and asks for an http host at it; a PATCH of such a host's agent.uri to a sim uri restarts
    its agent with that uri (the agent keeps its port, token and VMs); its DELETE stops the agent. A sim uri
    the agent refuses goes to the daemon as the http host's uri, which it refuses as it would the sim uri (400
    naming agent.uri)."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts[:3] != ["v1", "admin", "hosts"] or len(parts) > 4:
        return body, None
    hid = parts[3] if len(parts) == 4 else None
    spec = body.get("agent") if isinstance(body, dict) else None
    if method == "POST" and hid is None and isinstance(spec, dict) and spec.get("kind") == "sim":
        uri = spec.get("uri") or "sim://"
        agent = Agent(name="e2e-sim", sim_uri=uri)
        if not _sim_agent_try(agent):
            agent.cleanup()
            return dict(body, agent=dict(spec, kind="http", uri=uri)), None

        def made(resp):
            if resp is not None and resp.status == 201:
                SIM_AGENTS[resp.json()["id"]] = agent
                d.sim_agents.append(agent)
            else:
                agent.cleanup()
        return dict(body, agent={"kind": "http", "uri": agent.uri, "token": agent.token}), made
    agent = SIM_AGENTS.get(hid)
    if agent is None:
        return body, None
    if method == "PATCH" and isinstance(spec, dict) and "uri" in spec and (spec["uri"] or "sim://").startswith(
            "sim://"):
        uri, old = spec["uri"] or "sim://", agent.extra_args[agent.extra_args.index("--sim-uri") + 1]
        agent.stop()
        _sim_agent_set_uri(agent, uri)
        if _sim_agent_try(agent):
            return dict(body, agent=dict(spec, uri=agent.uri)), None
        _sim_agent_set_uri(agent, old)
        agent.start(healthy=False)
        return body, None
    if method == "DELETE":
        def deleted(resp):
            if resp is not None and resp.status == 204:
                d.sim_agents.remove(agent)
                _sim_agent_drop(agent)
        return body, deleted
    return body, None


def _sim_log(state_dir, host_id):
    """A sim host's log and the agent that serves it (None: the daemon's own simulator, whose log is in its
    state dir). A wapd-agent's simulator is its host "agent"."""
    agent = SIM_AGENTS.get(host_id)
    if agent is not None:
        return os.path.join(agent.state_dir, "sim", "agent.log"), agent
    return os.path.join(state_dir, "sim", host_id + ".log"), None


def sim_vms(state_dir, host_id):
    """What a simulated host has, read from its log: {hypervisorId: vm} (the last line of an id wins; a
    deletion removes it; a torn last line is ignored)."""
    out = {}
    path, _ = _sim_log(state_dir, host_id)
    with open(path) if os.path.exists(path) else open(os.devnull) as f:
        for line in f:
            if not line.endswith("\n"):
                break
            vm = json.loads(line)
            if vm.get("deleted"):
                out.pop(vm["hypervisorId"], None)
            else:
                out[vm["hypervisorId"]] = vm
    return out


def sim_vm_put(state_dir, host_id, vm):
    """Changes a VM on a simulated host behind wapd's back (as someone on the host would): appends its
    record to the host's log. Only while nothing has the host open: a wapd-agent serving it (on PostgreSQL)
    is stopped for the write and started again."""
    path, agent = _sim_log(state_dir, host_id)
    if agent is not None:
        agent.stop()
    with open(path, "a") as f:
        f.write(json.dumps(vm, separators=(",", ":")) + "\n")
    if agent is not None:
        agent.start(healthy=False)


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


# ---- several daemons on one PostgreSQL database (scale-out) ----

class RoundRobin:
    """A client over several daemons' listeners of one kind ("admin" or "tenant"): each request goes to the
    next daemon still running, in turn, with its own keep-alive connection to each. last is the index (in
    the cluster) of the daemon that answered the last request. One thread at a time: threads each make
    their own."""

    def __init__(self, cluster, kind, token):
        self.cluster = cluster
        self.kind = kind
        self.token = token
        self.clients = {}
        self.turn = 0
        self.last = None

    def client_of(self, i):
        """The connection to daemon i (whether it runs or not)."""
        if i not in self.clients:
            d = self.cluster.daemons[i]
            self.clients[i] = d.admin(self.token) if self.kind == "admin" else d.tenant(self.token)
        return self.clients[i]

    def next_index(self):
        live = self.cluster.live()
        assert live, "no daemon of the cluster is running"
        i = live[self.turn % len(live)]
        self.turn += 1
        return i

    def request(self, method, path, **kw):
        i = self.next_index()
        self.last = i
        return self.client_of(i).request(method, path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def close(self):
        for c in self.clients.values():
            c.close()


class Cluster:
    """n wapd daemons on one fresh PostgreSQL database (WAPD_TEST_PG), each with a state dir of its own,
    started together. admin() and tenant(token) answer RoundRobin clients, so that a test written for one
    Daemon (VmWorld(d), wait_job…) runs its requests through every daemon in turn; daemons[i] is each one.
    cleanup() (or leaving a with block) stops every daemon still running, even when a test failed, then
    drops the database."""

    def __init__(self, n=3, extra_args=None, admin_token=ADMIN_TOKEN, env=None):
        assert PG_BASE, "a Cluster needs WAPD_TEST_PG"
        self.daemons = [Daemon(extra_args=list(extra_args or []), admin_token=admin_token, env=env)
                        for _ in range(n)]
        self.admin_token = admin_token
        self.pg_uri = None

    def start(self):
        try:
            # The first daemon's state dir owns the database (dropped with it); every daemon is given it.
            self.pg_uri = pg_database(self.daemons[0].state_dir)
            for d in self.daemons:
                d.extra_args = ["--store", self.pg_uri] + d.extra_args
                d.pg_uri = self.pg_uri
                d.start(wait_ready=False)
            for d in self.daemons:
                self._wait_ready(d)
        except BaseException:
            self.cleanup()
            raise
        return self

    @staticmethod
    def _wait_ready(d):
        """What Daemon.start waits for (its ports.json), for a daemon started with wait_ready=False."""
        ports = os.path.join(d.state_dir, "ports.json")

        def ready():
            if d.proc.poll() is not None:
                raise AssertionError("wapd exited with %s: %s" % (d.proc.returncode, d.stderr()[-2000:]))
            try:
                with open(ports) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return None
        p = wait_for(ready, 60, "ports.json of " + d.state_dir)
        d.admin_port, d.tenant_port = p["admin"], p["tenant"]
        LISTENERS[d.admin_port] = "A"
        LISTENERS[d.tenant_port] = "T"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def live(self):
        """The indexes of the daemons still running."""
        return [i for i, d in enumerate(self.daemons) if d.proc is not None and d.proc.poll() is None]

    def admin(self, token=None):
        return RoundRobin(self, "admin", token if token is not None else self.admin_token)

    def tenant(self, token):
        return RoundRobin(self, "tenant", token)

    def store_rows(self, sql, params=()):
        return self.daemons[0].store_rows(sql, params)

    def store_exec(self, sql, rows):
        self.daemons[0].store_exec(sql, rows)

    def instance(self, i):
        """Daemon i's instance id, from its "ready" log line (None when the line names none)."""
        for text in (self.daemons[i].stderr(), self.daemons[i].stdout()):
            for line in text.splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and rec.get("msg", rec.get("message")) == "ready":
                    return rec.get("instance")
        return None

    def logs(self, tail=1500):
        """The tail of every daemon's log, each under its index: for a failing test's message."""
        out = []
        for i, d in enumerate(self.daemons):
            try:
                out.append("--- daemon %d stderr (tail) ---\n%s" % (i, d.stderr()[-tail:]))
            except OSError:
                pass
        return "\n".join(out)

    def cleanup(self):
        """Stops every daemon (SIGTERM, then SIGKILL for one that does not stop), then removes their state
        dirs and the database; the first failure is raised once all is done."""
        first = None
        for d in self.daemons:
            try:
                if d.proc is not None and d.proc.poll() is None:
                    d.stop()
            except Exception as e:  # keep stopping the others
                first = first or e
        for d in reversed(self.daemons):  # daemons[0], whose dir owns the database, last
            try:
                d.cleanup()
            except Exception as e:
                first = first or e
        if first is not None:
            raise first
