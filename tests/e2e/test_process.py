"""The process: demo, ports.json, admin token rules, config file, logs, SIGTERM, kill -9."""
import json
import os
import re
import shlex
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import threading
import time

from harness import SLOW, Client, Daemon, ok, wait_for, wait_job


def test_demo_prints_curl_lines_that_work():
    d = Daemon(extra_args=["--demo"], admin_token=None).start()
    try:
        out = wait_for(lambda: "and as the admin" in d.stdout() and d.stdout(), 10, "demo output")
        lines = [l.strip() for l in out.splitlines() if l.strip().startswith("curl ")]
        assert len(lines) >= 6, out
        for line in lines:
            assert "Authorization: Bearer " in line
            # Run each line as a newcomer would paste it into a shell.
            res = subprocess.run(["sh", "-c", line + " -w '\\n%{http_code}'"], capture_output=True, text=True,
                                 timeout=30 * SLOW, cwd=os.getcwd())
            body, code = res.stdout.rsplit("\n", 1)
            assert code == "200", (line, res.stdout, res.stderr)
            assert "value" in json.loads(body) or "id" in json.loads(body)
        # The world the demo promises.
        a = d.admin(open(os.path.join(d.state_dir, "admin.token")).read().strip())
        assert len(ok(a.get("/v1/admin/hosts"), 200)["value"]) == 2
        plan = ok(a.get("/v1/admin/plans"), 200)["value"][0]
        assert plan["checkpointMode"] != "disabled"
        assert len(ok(a.get("/v1/admin/subscriptions"), 200)["value"]) == 1
        assert d.stop() == 0
        # Restarted with --demo on a state dir that holds data: nothing seeded twice.
        d.start()
        wait_for(lambda: "nothing was seeded" in d.stdout(), 10, "second demo notice")
        a = d.admin(a.token)
        assert len(ok(a.get("/v1/admin/subscriptions"), 200)["value"]) == 1
    finally:
        d.cleanup()


test_demo_prints_curl_lines_that_work.sim_only = "the demo seeds sim hosts; with --store it does not start"


def test_demo_with_a_store_stops_the_start():
    """The demo seeds sim hosts, which a store shared by several daemons refuses: --demo with --store ends the
    start at once (exit 2, before the store is opened or a port taken), saying why."""
    tmp = tempfile.mkdtemp(prefix="wapd-demo-store-")
    try:
        res = subprocess.run([os.environ.get("WAPD_BIN", "build/wapd"), "--state-dir", tmp, "--demo",
                              "--store", "postgresql://wapd@/nowhere?host=" + tmp, "--admin-token", "x" * 20,
                              "--admin-listen", "127.0.0.1:0", "--tenant-listen", "127.0.0.1:0"],
                             capture_output=True, text=True, timeout=30 * SLOW)
        assert res.returncode == 2, (res.returncode, res.stderr)
        assert "--demo" in res.stderr and "--store" in res.stderr and "sim hosts" in res.stderr, res.stderr
        assert "wapd-agent" in res.stderr and "libvirt" in res.stderr, res.stderr
        assert not os.path.exists(os.path.join(tmp, "ports.json")) and res.stdout == ""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_admin_token_generated_file():
    d = Daemon(admin_token=None).start()
    try:
        path = os.path.join(d.state_dir, "admin.token")
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, oct(mode)
        token = open(path).read().strip()
        assert len(token) >= 40
        ok(d.admin(token).get("/v1/admin/clouds"), 200)
        assert d.admin("wrong").get("/v1/admin/clouds").status == 401
        assert token not in d.stderr() and token not in d.stdout()
        # The same token after a restart.
        assert d.stop() == 0
        d.start()
        ok(d.admin(token).get("/v1/admin/clouds"), 200)
    finally:
        d.cleanup()


def test_admin_token_from_env_and_flag_writes_no_file():
    d = Daemon(admin_token=None, env={"WAPD_ADMIN_TOKEN": "env-token-0123456789abcdefgh"}).start()
    try:
        ok(d.admin("env-token-0123456789abcdefgh").get("/v1/admin/clouds"), 200)
        assert not os.path.exists(os.path.join(d.state_dir, "admin.token"))
        assert d.stop() == 0
        # The flag wins over the environment.
        d.admin_token = "flag-token-0123456789abcdefgh"
        d.start()
        ok(d.admin("flag-token-0123456789abcdefgh").get("/v1/admin/clouds"), 200)
        assert d.admin("env-token-0123456789abcdefgh").get("/v1/admin/clouds").status == 401
        assert not os.path.exists(os.path.join(d.state_dir, "admin.token"))
        assert "env-token" not in d.stderr() and "flag-token" not in d.stderr()
    finally:
        d.cleanup()


def test_ports_json_and_request_log(d):
    with open(os.path.join(d.state_dir, "ports.json")) as f:
        p = json.load(f)
    assert set(p) == {"admin", "tenant"} and p["admin"] == d.admin_port
    d.admin().get("/v1/admin/clouds", headers={"X-Request-Id": "log-check-1"})
    def logged():
        for line in d.stderr().splitlines():
            rec = json.loads(line)
            if rec.get("requestId") == "log-check-1":
                return rec
        return None
    rec = wait_for(logged, 10, "the request's log line")
    assert rec["method"] == "GET" and rec["path"] == "/v1/admin/clouds" and rec["status"] == 200
    assert isinstance(rec["durationMs"], (int, float))
    # Every stderr line is one JSON object.
    for line in d.stderr().splitlines():
        json.loads(line)


def test_config_file_and_flags():
    tmp = tempfile.mkdtemp(prefix="wapd-cfg-")
    try:
        cfg = os.path.join(tmp, "wapd.conf")
        with open(cfg, "w") as f:
            f.write("[wapd]\nworkers = 2\nhttp_threads = 3\nusage_period_seconds = 60\nlog_requests = false\n")
        d = Daemon(extra_args=["--config", cfg]).start()
        try:
            d.admin().get("/v1/admin/clouds", headers={"X-Request-Id": "quiet-1"})
            assert d.stop() == 0
            assert "quiet-1" not in d.stderr()
        finally:
            d.cleanup()
        with open(cfg, "w") as f:
            f.write("[wapd]\nno_such_setting = 1\n")
        res = subprocess.run([os.environ.get("WAPD_BIN", "build/wapd"), "--config", cfg, "--state-dir",
                              os.path.join(tmp, "s")], capture_output=True, text=True, timeout=30 * SLOW)
        assert res.returncode != 0 and "no_such_setting" in res.stderr
        res = subprocess.run([os.environ.get("WAPD_BIN", "build/wapd"), "--workers", "zero"],
                             capture_output=True, text=True, timeout=30 * SLOW)
        assert res.returncode != 0
        res = subprocess.run([os.environ.get("WAPD_BIN", "build/wapd"), "--help"], capture_output=True,
                             text=True, timeout=30 * SLOW)
        assert res.returncode == 0 and "--state-dir" in res.stdout
        # The shipped example config is what --print-config prints for the systemd unit's settings.
        res = subprocess.run([os.environ.get("WAPD_BIN", "build/wapd"), "--state-dir", "/var/lib/wapd",
                              "--tenant-listen", "0.0.0.0:30005", "--print-config"], capture_output=True,
                             text=True, timeout=30 * SLOW)
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "wapd.conf")
        with open(example) as f:
            assert res.returncode == 0 and res.stdout == f.read()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_sigterm_stops_within_10s_with_exit_0():
    d = Daemon().start()
    try:
        a = d.admin()
        ok(a.post("/v1/admin/clouds", {"name": "before-stop"}), 201)
        # An idle keep-alive connection must not hold the stop up.
        idle = d.admin()
        idle.get("/healthz")
        t0 = time.monotonic()
        assert d.stop(timeout=10) == 0
        assert time.monotonic() - t0 < 10 * SLOW
        lines = [json.loads(l) for l in d.stderr().splitlines()]
        assert any(l.get("msg") == "stopped" for l in lines)
    finally:
        d.cleanup()


def test_sigterm_with_jobs_running_then_they_resume():
    from test_vms import VmWorld
    d = Daemon().start()
    try:
        w = VmWorld(d, hosts=("sim://?latencyMs=300",))
        r = w.t.post(w.base + "/vms", w.vm_body("t"))
        assert r.status == 202
        t0 = time.monotonic()
        assert d.stop(timeout=10) == 0
        assert time.monotonic() - t0 < 10 * SLOW
        d.start()
        w.t = d.tenant(w.token)
        assert wait_job(w.t, r.header("Location"), 60)["status"] == "succeeded"
        assert w.get(r.json()["id"])["powerState"] == "running"
    finally:
        d.cleanup()


def test_kill9_during_admin_creates_loses_nothing_acknowledged():
    d = Daemon().start()
    try:
        acked = []
        lock = threading.Lock()
        stop = threading.Event()

        def writer(n):
            c = d.admin()
            i = 0
            while not stop.is_set():
                try:
                    r = c.post("/v1/admin/clouds", {"name": "k9-%d-%d" % (n, i)})
                except Exception:
                    return
                if r.status == 201:
                    with lock:
                        acked.append(r.json()["id"])
                i += 1

        for rnd in range(5):
            stop.clear()
            threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            wait_for(lambda: len(acked) >= 150 * (rnd + 1), 60, "creates before the kill")
            d.kill9()
            stop.set()
            for t in threads:
                t.join(60)
            db = sqlite3.connect(os.path.join(d.state_dir, "wapd.db"))
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            db.close()
            d.start()
            a = d.admin()
            have = set()
            path = "/v1/admin/clouds?limit=1000"
            while path:
                page = ok(a.get(path), 200)
                have |= {c["id"] for c in page["value"]}
                link = page.get("nextLink")
                path = link[link.index("/v1/"):] if link else None
            missing = [x for x in acked if x not in have]
            assert not missing, "%d acknowledged creates lost" % len(missing)
        assert len(acked) >= 750
    finally:
        d.cleanup()


def test_unusable_state_dir_fails_clearly():
    tmp = tempfile.mkdtemp(prefix="wapd-bad-")
    try:
        path = os.path.join(tmp, "file")
        open(path, "w").close()
        res = subprocess.run([os.environ.get("WAPD_BIN", "build/wapd"), "--state-dir", path,
                              "--admin-listen", "127.0.0.1:0", "--tenant-listen", "127.0.0.1:0"],
                             capture_output=True, text=True, timeout=30 * SLOW)
        assert res.returncode != 0 and "state dir" in res.stderr
        # A corrupt database is refused at start, not served.
        sd = os.path.join(tmp, "s")
        os.mkdir(sd)
        with open(os.path.join(sd, "wapd.db"), "wb") as f:
            f.write(b"this is not a database" * 100)
        res = subprocess.run([os.environ.get("WAPD_BIN", "build/wapd"), "--state-dir", sd,
                              "--admin-token", "x" * 20, "--admin-listen", "127.0.0.1:0",
                              "--tenant-listen", "127.0.0.1:0"],
                             capture_output=True, text=True, timeout=30 * SLOW)
        assert res.returncode != 0 and "store" in res.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
