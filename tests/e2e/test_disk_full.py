"""A full disk: wapd's state dir is a small tmpfs of its own, mounted in a private mount namespace (so
nothing outside the test sees it), and filled up with a file while wapd runs. Writes then answer 503
InsufficientStorage with Retry-After (never 500), reads go on, /readyz answers 503 until a write succeeds
again, and comes back to 200 by itself once there is room (the daemon probes with a write of its own);
nothing acknowledged is lost, across a kill -9 too; a job caught by the full disk ends once there is room.

Needs root (CAP_SYS_ADMIN) for the mount namespace and the mount; skipped with the reason otherwise."""
import errno
import json
import os
import shutil
import subprocess
import tempfile

import harness
from harness import Daemon, err, ok, uid, wait_for, wait_job
from test_vms import VmWorld

TMPFS_MB = 48
WRITES_MAX = 20000


class FullDiskDaemon(Daemon):
    """A wapd whose state dir is a tmpfs of TMPFS_MB, mounted in a mount namespace that a holder process
    keeps alive (so that wapd can be killed and started again on the same files). The test reaches the
    files through /proc/<holder>/root."""

    def __init__(self, extra_args=None):
        self.dir = tempfile.mkdtemp(prefix="wapd-e2e-full-")
        super().__init__(state_dir=self.dir, extra_args=extra_args)
        self.holder = None
        self.skipped = None
        if os.geteuid() != 0:
            self.skipped = "a mount namespace and a tmpfs need root"
            return
        script = ('mount -t tmpfs -o size=%dm,mode=0700 wapd-e2e-full "$1" || exit 1; echo mounted; '
                  'exec sleep 100000' % TMPFS_MB)
        try:
            self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                            script, "sh", self.dir], stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE)
        except OSError as e:
            self.skipped = "unshare could not run: %s" % e
            return
        line = self.holder.stdout.readline()
        if line.strip() != b"mounted":
            self.holder.wait(10)
            self.skipped = "no private tmpfs could be mounted: %s" % self.holder.stderr.read().decode().strip()
            self.holder = None

    def view(self, *names):
        """A path of the state dir as the test (outside the namespace) reaches it."""
        return os.path.join("/proc/%d/root" % self.holder.pid + self.dir, *names)

    def start(self, wait_ready=True):
        ports = self.view("ports.json")
        if os.path.exists(ports):
            os.unlink(ports)
        args = ["nsenter", "--target", str(self.holder.pid), "--mount", "--wd=" + os.getcwd(), "--",
                os.path.abspath(harness.WAPD_BIN),
                "--state-dir", self.dir, "--admin-listen", "127.0.0.1:0", "--tenant-listen", "127.0.0.1:0",
                "--admin-token", self.admin_token] + self.extra_args
        env = dict(os.environ)
        env.pop("WAPD_ADMIN_TOKEN", None)
        self.out = open(self.stdout_path, "ab")
        self.err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=self.err, env=env)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("wapd exited with %s: %s" % (self.proc.returncode, self.stderr()[-2000:]))
            try:
                with open(ports) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return None
        p = wait_for(ready, 30, "ports.json")
        self.admin_port, self.tenant_port = p["admin"], p["tenant"]
        harness.LISTENERS[self.admin_port] = "A"
        harness.LISTENERS[self.tenant_port] = "T"
        return self

    def fill(self):
        """Fills the tmpfs up with a file, to the last byte it takes."""
        with open(self.view("filler"), "wb", buffering=0) as f:
            for chunk in (1 << 20, 4096, 1):
                block = b"\0" * chunk
                while True:
                    try:
                        f.write(block)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break

    def make_room(self):
        os.unlink(self.view("filler"))

    def cleanup(self):
        try:
            super().cleanup()
        finally:
            if self.holder is not None:
                self.holder.kill()  # the namespace and its tmpfs go with it
                self.holder.wait(10)
            shutil.rmtree(self.dir, ignore_errors=True)
            for p in (self.stdout_path, self.stderr_path):
                try:
                    os.unlink(p)
                except OSError:
                    pass


def _ready(d):
    r = d.admin().get("/readyz", token="")
    assert r.status in (200, 503), r
    return r


def test_full_disk_answers_503_and_loses_nothing():
    d = FullDiskDaemon()
    if d.skipped:
        print("skipped: " + d.skipped)
        d.cleanup()
        return
    try:
        d.start()
        a = d.admin()
        w = VmWorld(d)
        slow = VmWorld(d, hosts=("sim://?latencyMs=1500",))
        assert _ready(d).status == 200
        acked = [ok(a.post("/v1/admin/clouds", {"name": "before-%d" % i}), 201)["id"] for i in range(30)]
        # A job at work when the disk fills: its steps' records cannot be written for a while.
        r = slow.t.post(slow.base + "/vms", slow.vm_body("caught"))
        ok(r, 202)
        caught = r.header("Location")
        wait_for(lambda: ok(slow.t.get(caught), 200)["status"] == "running", 30, "the slow job to run")
        d.fill()
        # Writes until the first that finds no room: each one before it is acknowledged (201), the one that
        # finds no room is 503 InsufficientStorage with Retry-After, never a 500. A full disk may still take
        # a write where the database reuses room it already has (its log, once copied out, is written again
        # from its start): the daemon's own probe write (every second while full) may then succeed and
        # /readyz say ready, truthfully. So the writes go on until /readyz too says there is no room.
        def write_until_refused(tag):
            for i in range(WRITES_MAX):
                r = a.post("/v1/admin/clouds", {"name": "%s-%d-%s" % (tag, i, uid()[:8]),
                                                "description": "x" * 1000})
                if r.status != 201:
                    return r
                acked.append(r.json()["id"])
            raise AssertionError("%d writes fitted on a full disk" % WRITES_MAX)

        ready = None
        for round_ in range(50):
            refused = write_until_refused("full%d" % round_)
            err(refused, 503, "InsufficientStorage")
            assert int(refused.header("Retry-After")) >= 1, refused
            ready = _ready(d)
            if ready.status == 503:
                break
        assert ready.status == 503, "/readyz kept finding room on a full disk: %r" % ready
        body = ready.json()
        assert body["status"] == "notReady" and body["checks"]["storage"] is False, body
        assert body["checks"]["database"] is True, body
        assert int(ready.header("Retry-After")) >= 1, ready
        # Still full: a tenant's write is refused the same way (or, fitting in room the database reuses,
        # makes a job that must end below), and reads go on.
        r = w.t.post(w.base + "/vms", w.vm_body("during"))
        if r.status == 503:
            err(r, 503, "InsufficientStorage")
            during = None
        else:
            during = ok(r, 202) and r.header("Location")
        assert ok(a.get("/v1/admin/clouds/" + acked[-1]), 200)["id"] == acked[-1]
        # Room again: /readyz comes back by itself (the daemon's probe write), with no client write.
        d.make_room()
        wait_for(lambda: _ready(d).status == 200, 30, "/readyz to answer 200 once there is room")
        assert _ready(d).json() == {"status": "ready"}
        extra = ok(a.post("/v1/admin/clouds", {"name": "after-" + uid()[:8]}), 201)["id"]
        vm = w.create("after")
        assert vm["provisioningState"] == "succeeded", vm
        # Jobs caught by the full disk end (their steps were tried again, or they failed with what they met).
        for loc in [caught] + ([during] if during else []):
            job = wait_job(w.t if loc == during else slow.t, loc, 180)
            assert job["status"] in ("succeeded", "failed"), job
            if job["status"] == "failed":
                assert job["error"]["code"] != "InternalError", job
        # Nothing acknowledged is lost, across a kill -9 and a start on the same files.
        d.kill9()
        d.start()
        for cid in acked + [extra]:
            ok(d.admin().get("/v1/admin/clouds/" + cid), 200)
        assert _ready(d).status == 200
        # No request was answered 500, and SQLite's "full" was never reported as a plain database error.
        for line in d.stderr().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            assert not (entry.get("msg") == "request" and entry.get("status") == 500), line
            assert entry.get("msg") != "database error" or entry.get("code") & 0xff != 13, line
    finally:
        d.cleanup()
