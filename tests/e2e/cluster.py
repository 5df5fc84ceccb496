"""Several wapd daemons on one PostgreSQL database (scale-out), for the e2e tests: Cluster starts them and
RoundRobin spreads a test's requests over them. Needs WAPD_TEST_PG (see pgdb.py)."""
import json
import os

from harness import ADMIN_TOKEN, LISTENERS, Daemon, Verbs, wait_for
from pgdb import PG_BASE, pg_database


class RoundRobin(Verbs):
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
