"""wapd under systemd: readiness, reload and stop on a notify socket, the admin token from a credential, one
daemon per state dir, and the installed units (systemd-analyze verify) with make install and uninstall."""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile

from harness import SLOW, WAPD_BIN, Client, Daemon, wait_for

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


class NotifySocket:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET; records each message with whether
    ports.json existed when it came."""

    def __init__(self, state_dir):
        self.dir = tempfile.mkdtemp(prefix="wapd-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.ports = os.path.join(state_dir, "ports.json")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(30 * SLOW)
        self.got = []

    def next(self):
        data = self.sock.recv(4096).decode()
        self.got.append((data, os.path.exists(self.ports)))
        return data

    def wait_for(self, text):
        while True:
            data = self.next()
            if text in data.split("\n"):
                return data

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_ready_reloading_and_stopping_are_notified():
    d = Daemon()
    n = NotifySocket(d.state_dir)
    d.env = {"NOTIFY_SOCKET": n.path}
    try:
        d.start(wait_ready=False)
        n.wait_for("READY=1")
        # READY=1 only once ports.json is written, and it is the first message.
        assert n.got[0][0].split("\n")[0] == "READY=1" and n.got[0][1], n.got
        d.start_ports = json.load(open(os.path.join(d.state_dir, "ports.json")))
        d.admin_port = d.start_ports["admin"]
        assert Client(d.admin_port, d.admin_token).get("/healthz").status == 200
        d.proc.send_signal(signal.SIGHUP)
        reloading = n.wait_for("RELOADING=1")
        assert "MONOTONIC_USEC=" in reloading, reloading
        n.wait_for("READY=1")
        d.proc.send_signal(signal.SIGTERM)
        n.wait_for("STOPPING=1")
        assert d.proc.wait(15 * SLOW) == 0
    finally:
        d.cleanup()
        n.close()


def test_admin_token_from_the_systemd_credential():
    creds = tempfile.mkdtemp(prefix="wapd-creds-")
    token = "wapdadm_credential-token-0123456789"
    with open(os.path.join(creds, "admin-token"), "w") as f:
        f.write(token + "\n")
    d = Daemon(admin_token=None, env={"CREDENTIALS_DIRECTORY": creds}).start()
    try:
        assert d.admin(token).get("/v1/admin/clouds").status == 200
        assert d.admin("wrong-token").get("/v1/admin/clouds", validate=False).status == 401
        # Not generated: the credential is the token.
        assert not os.path.exists(os.path.join(d.state_dir, "admin.token"))
        assert token not in d.stderr()
        assert d.stop() == 0
        # WAPD_ADMIN_TOKEN comes before the credential.
        d.env["WAPD_ADMIN_TOKEN"] = "from-the-environment-0123456789"
        d.start()
        assert d.admin("from-the-environment-0123456789").get("/v1/admin/clouds").status == 200
        assert d.admin(token).get("/v1/admin/clouds", validate=False).status == 401
        assert d.stop() == 0
        # An empty credential directory: DIR/admin.token as before.
        os.unlink(os.path.join(creds, "admin-token"))
        del d.env["WAPD_ADMIN_TOKEN"]
        d.start()
        generated = open(os.path.join(d.state_dir, "admin.token")).read().strip()
        assert d.admin(generated).get("/v1/admin/clouds").status == 200
    finally:
        d.cleanup()
        shutil.rmtree(creds, ignore_errors=True)


def test_second_daemon_on_the_same_state_dir_is_refused_at_once(d):
    ports = os.path.join(d.state_dir, "ports.json")
    before = open(ports).read()
    mtime = os.stat(ports).st_mtime_ns
    env = dict(os.environ)
    env.pop("WAPD_ADMIN_TOKEN", None)
    res = subprocess.run([WAPD_BIN, "--state-dir", d.state_dir, "--admin-listen", "127.0.0.1:0",
                          "--tenant-listen", "127.0.0.1:0"], capture_output=True, text=True,
                         timeout=30 * SLOW, env=env)
    assert res.returncode == 1, res
    want = "wapd: state dir %s is in use by another wapd (pid %d)" % (d.state_dir, d.proc.pid)
    assert want in res.stderr, res.stderr
    assert open(ports).read() == before and os.stat(ports).st_mtime_ns == mtime
    assert not os.path.exists(os.path.join(d.state_dir, "admin.token"))
    # The first one is unharmed.
    assert d.proc.poll() is None
    assert d.admin().get("/v1/admin/clouds").status == 200


def test_lock_is_let_go_when_the_daemon_dies():
    d = Daemon().start()
    try:
        d.kill9()
        d.start()
        assert d.admin().get("/v1/admin/clouds").status == 200
    finally:
        d.cleanup()


def make(*args, **env):
    e = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        e.pop(k, None)
    e.update(env)
    res = subprocess.run(["make", "--no-print-directory", "-s"] + list(args), cwd=ROOT, env=e,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def files_under(top):
    return sorted(os.path.relpath(os.path.join(dp, f), top) for dp, _, fs in os.walk(top) for f in fs)


LAYOUT = ["etc/wapd/wapd.conf",
          "usr/bin/wapctl", "usr/bin/wapd", "usr/bin/wapd-agent", "usr/bin/wapd-collect",
          "usr/lib/systemd/system/wapd-agent.service", "usr/lib/systemd/system/wapd-collect.service",
          "usr/lib/systemd/system/wapd.service",
          "usr/share/bash-completion/completions/wapctl",
          "usr/share/doc/wapd/README.md", "usr/share/doc/wapd/api-guide.md",
          "usr/share/man/man1/wapctl.1", "usr/share/man/man5/wapd.conf.5", "usr/share/man/man8/wapd.8",
          "usr/share/wapd/agent.yaml", "usr/share/wapd/openapi-admin.yaml",
          "usr/share/wapd/openapi-tenant.yaml", "usr/share/wapd/openapi.yaml"]


def test_install_layout_keeps_the_config_and_uninstall_leaves_only_it():
    dest = tempfile.mkdtemp(prefix="wapd-destdir-")
    try:
        make("install", "DESTDIR=" + dest, "PREFIX=/usr")
        got = files_under(dest)
        examples = [f for f in got if f.startswith("usr/share/doc/wapd/examples/")]
        assert examples and [f for f in got if f not in examples] == LAYOUT, got
        unit = open(os.path.join(dest, "usr/lib/systemd/system/wapd.service")).read()
        assert "ExecStart=/usr/bin/wapd --config /etc/wapd/wapd.conf" in unit
        assert re.search(r"@[A-Z]+@", unit) is None, unit
        for f in ("usr/bin/wapd", "usr/bin/wapctl"):
            assert os.access(os.path.join(dest, f), os.X_OK)
        # An operator's config is never overwritten, nor removed.
        conf = os.path.join(dest, "etc/wapd/wapd.conf")
        with open(conf, "a") as f:
            f.write("rate_limit = 7\n")
        make("install", "DESTDIR=" + dest, "PREFIX=/usr")
        assert open(conf).read().endswith("rate_limit = 7\n")
        make("uninstall", "DESTDIR=" + dest, "PREFIX=/usr")
        assert files_under(dest) == ["etc/wapd/wapd.conf"], files_under(dest)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_installed_units_verify_clean():
    # systemd-analyze verify checks that each ExecStart names an executable and each man: page exists, on
    # this machine: so the prefix is a temporary directory, and man looks there too.
    prefix = tempfile.mkdtemp(prefix="wapd-prefix-")
    try:
        make("install", "PREFIX=" + prefix, "SYSCONFDIR=" + prefix + "/etc", "DESTDIR=")
        units = [os.path.join(prefix, "lib/systemd/system", u) for u in
                 ("wapd.service", "wapd-agent.service", "wapd-collect.service")]
        assert all(os.path.exists(u) for u in units)
        assert "Type=notify" in open(units[0]).read()
        env = dict(os.environ, MANPATH=os.path.join(prefix, "share/man") + ":", SYSTEMD_LOG_LEVEL="notice")
        res = subprocess.run(["systemd-analyze", "verify"] + units, capture_output=True, text=True,
                             timeout=120, env=env, cwd=prefix)
        assert res.returncode == 0 and res.stdout.strip() == "" and res.stderr.strip() == "", res
        make("uninstall", "PREFIX=" + prefix, "SYSCONFDIR=" + prefix + "/etc", "DESTDIR=")
        assert files_under(prefix) == ["etc/wapd/wapd.conf"], files_under(prefix)
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def test_collector_unit_command_reaches_wapd_with_the_credential(d):
    # The unit's ExecStart is run as systemd would run it: $$ is a literal $, the credential and state
    # directories are in the environment, and the token travels in the environment, not argv.
    prefix = tempfile.mkdtemp(prefix="wapd-prefix-")
    try:
        make("units", "PREFIX=" + prefix)
        unit = open(os.path.join(ROOT, "build/systemd/wapd-collect.service")).read()
        line = [l for l in unit.splitlines() if l.startswith("ExecStart=")][0]
        argv = shlex.split(line[len("ExecStart="):].replace("$$", "$"))
        argv = [a.replace(prefix + "/bin/wapd-collect", os.path.abspath(
            os.environ.get("WAPD_COLLECT_BIN", "build/wapd-collect"))) for a in argv]
        creds, state = os.path.join(prefix, "creds"), os.path.join(prefix, "state")
        os.makedirs(creds)
        os.makedirs(state)
        with open(os.path.join(creds, "usage-token"), "w") as f:
            f.write(d.admin_token + "\n")
        env = dict(os.environ, CREDENTIALS_DIRECTORY=creds, STATE_DIRECTORY=state,
                   WAPD_COLLECT_URL="http://127.0.0.1:%d" % d.admin_port)
        env.pop("WAPD_ADMIN_TOKEN", None)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            def polled():
                return [l for l in d.stderr().splitlines() if '"path":"/v1/admin/usage' in l.replace(" ", "")
                        and '"status":200' in l.replace(" ", "")]
            wait_for(polled, 20, "the collector's first poll")
            assert d.admin_token not in " ".join(open("/proc/%d/cmdline" % proc.pid, "rb").read()
                                                 .decode().split("\0"))
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15 * SLOW) == 0, proc.stderr.read()
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
        make("units")  # the units of the default prefix again
