"""TLS: with --tls-cert and --tls-key both listeners serve HTTPS only (TLS 1.2 or later) with a certificate
that clients verify against their CA; plain HTTP is never served; SIGHUP swaps in a new certificate without a
restart and a broken one keeps the old; wapd-collect (--cacert) collects over https; wapd (--cacert) delivers
hooks to an https receiver it verifies."""
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import warnings

from harness import CA, SLOW, Client, Daemon, World, ok, raw_exchange, uid, wait_for
from receiver import Receiver
from test_hooks import SECRET, add_hook
from test_usage import drain
from test_vms import VmWorld

COLLECT = os.environ.get("WAPD_COLLECT_BIN", "build/wapd-collect")


@contextlib.contextmanager
def tls_daemon(extra_args=None):
    """A daemon serving https with a certificate of a new CA: (ca, daemon), both cleaned up after."""
    ca = CA()
    try:
        d = Daemon(tls=ca, extra_args=extra_args).start()
        try:
            yield ca, d
        finally:
            d.cleanup()
    finally:
        ca.cleanup()


def presented_issuer(port, ca):
    """The CN of the issuer of the certificate a new connection to port presents, verified against ca; None
    when it does not verify."""
    ctx = ca.client_context()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return dict(x[0] for x in s.getpeercert()["issuer"])["commonName"]
    except ssl.SSLCertVerificationError:
        return None


def test_https_on_both_listeners_verified_with_the_ca():
    with tls_daemon() as (ca, d):
        a = d.admin()
        assert ok(a.get("/healthz"), 200)["status"] == "ok"
        w = World(d)
        t, sub, _ = w.tenant()
        assert ok(t.get("/v1/subscriptions"), 200)["value"][0]["id"] == sub["id"]
        assert a.conn.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert t.conn.sock.version() in ("TLSv1.2", "TLSv1.3")
        # A link to the next page leads back to this listener, and following it over https works.
        ok(a.post("/v1/admin/clouds", {"name": "c-" + uid()[:8]}), 201)
        page = ok(a.get("/v1/admin/clouds?limit=1"), 200)
        link = page["nextLink"]
        assert link.startswith("https://127.0.0.1:%d/v1/admin/clouds?" % d.admin_port), link
        nxt = ok(a.get(link.split("://", 1)[1][len("127.0.0.1:%d" % d.admin_port):]), 200)
        assert nxt["value"] and nxt["value"][0]["id"] != page["value"][0]["id"]
        # The log says where it listens, as https.
        assert "https://127.0.0.1:%d" % d.admin_port in d.stderr()
        # A client that trusts another CA refuses the listeners.
        other = CA("another CA")
        try:
            for port in (d.admin_port, d.tenant_port):
                c = Client(port, d.admin_token, ssl_context=other.client_context())
                try:
                    c.get("/healthz")
                    raise AssertionError("a certificate of an untrusted CA was accepted")
                except ssl.SSLCertVerificationError:
                    pass
                c.close()
        finally:
            other.cleanup()
        a.close()
        t.close()


def test_plain_http_is_never_served():
    with tls_daemon() as (ca, d):
        for port in (d.admin_port, d.tenant_port):
            got = raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            # Closed without an answer, or refused with 400 or 426: never served.
            assert got == b"" or got.startswith((b"HTTP/1.1 400", b"HTTP/1.1 426")), got[:200]
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10 * SLOW)
            try:
                c.request("GET", "/v1/admin/clouds", headers={"Authorization": "Bearer " + d.admin_token})
                status = c.getresponse().status
                assert status in (400, 426), status
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                pass
            finally:
                c.close()
        # The listeners still serve https after it.
        assert ok(d.admin().get("/healthz"), 200)["status"] == "ok"


def test_tls_1_1_is_refused():
    with tls_daemon() as (ca, d):
        ctx = ca.client_context()
        with warnings.catch_warnings():  # offering TLS 1.0 and 1.1 is deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 offers TLS 1.1 only at level 0
        except ssl.SSLError:
            pass
        for port in (d.admin_port, d.tenant_port):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as raw:
                    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                        raise AssertionError("a TLS 1.1 handshake succeeded: %s" % s.version())
            except ssl.SSLError as e:
                # When the local OpenSSL cannot offer TLS 1.1 at all, the server was never asked: nothing
                # to assert then (the refusal is the client's own).
                if "NO_PROTOCOLS_AVAILABLE" in str(e).upper():
                    return
            except (ConnectionResetError, BrokenPipeError):
                pass  # closed during the handshake: refused
        # And TLS 1.2 on its own is served.
        ctx12 = ca.client_context()
        ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
        c = Client(d.admin_port, d.admin_token, ssl_context=ctx12)
        assert ok(c.get("/healthz"), 200)["status"] == "ok"
        assert c.conn.sock.version() == "TLSv1.2"
        c.close()


def test_sighup_swaps_the_certificate_and_a_broken_one_keeps_the_old():
    ca1, ca2 = CA("first CA"), CA("second CA")
    tmp = tempfile.mkdtemp(prefix="wapd-tls-")
    d = None
    try:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        c1, k1 = ca1.issue()
        shutil.copy(c1, cert)
        shutil.copy(k1, key)
        d = Daemon(tls=ca1)
        d.tls_cert, d.tls_key = cert, key
        d.start()
        kept = d.admin()  # a connection made before the swap
        assert ok(kept.get("/healthz"), 200)["status"] == "ok"
        for port in (d.admin_port, d.tenant_port):
            assert presented_issuer(port, ca1) == "first CA"
        # A new pair from another CA: new connections present it, without a restart.
        c2, k2 = ca2.issue()
        shutil.copy(c2, cert)
        shutil.copy(k2, key)
        d.proc.send_signal(signal.SIGHUP)
        for port in (d.admin_port, d.tenant_port):
            wait_for(lambda: presented_issuer(port, ca2) == "second CA", 20, "the new certificate")
            assert presented_issuer(port, ca1) is None
        wait_for(lambda: '"tls certificate reloaded"' in d.stderr(), 10, "the reload's log line")
        d.ssl_context = ca2.client_context()
        assert ok(d.admin().get("/healthz"), 200)["status"] == "ok"
        # A broken key: the error is logged and the second certificate stays in use.
        with open(key, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "tls certificate not reloaded" in d.stderr(), 10, "the error line")
        # A key of another certificate: refused as well, naming both files.
        shutil.copy(k1, key)
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "does not belong to the certificate" in d.stderr(), 10, "the mismatch line")
        for port in (d.admin_port, d.tenant_port):
            assert presented_issuer(port, ca2) == "second CA"
        assert d.proc.poll() is None
        kept.close()
    finally:
        if d is not None:
            d.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
        ca1.cleanup()
        ca2.cleanup()


def test_start_fails_on_a_missing_setting_or_a_bad_file():
    ca = CA()
    tmp = tempfile.mkdtemp(prefix="wapd-tls-")
    try:
        cert, key = ca.issue()
        bad = os.path.join(tmp, "bad.pem")
        with open(bad, "w") as f:
            f.write("not a certificate\n")
        cases = [
            (["--tls-cert", cert], "--tls-key"),
            (["--tls-key", key], "--tls-cert"),
            (["--tls-cert", os.path.join(tmp, "missing.pem"), "--tls-key", key], "missing.pem"),
            (["--tls-cert", bad, "--tls-key", key], "bad.pem"),
            (["--tls-cert", cert, "--tls-key", bad], "bad.pem"),
            (["--tls-cert", cert, "--tls-key", key, "--cacert", os.path.join(tmp, "nope.pem")], "nope.pem"),
        ]
        for args, named in cases:
            d = Daemon(extra_args=args)
            try:
                d.start(wait_ready=False)
                rc = d.proc.wait(30 * SLOW)
                assert rc != 0, args
                assert named in d.stderr(), (args, d.stderr()[-500:])
                assert not os.path.exists(os.path.join(d.state_dir, "ports.json"))
            finally:
                d.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        ca.cleanup()


def test_collect_over_https_with_cacert():
    with tls_daemon(extra_args=["--usage-period-seconds", "1"]) as (ca, d):
        tmp = tempfile.mkdtemp(prefix="wapd-collect-")
        try:
            w = VmWorld(d)
            w.create("tls0")
            wait_for(lambda: len(drain(w.a)[0]) > 0, 30, "usage records")
            served = {r["id"] for r in drain(w.a)[0]}
            out, state = os.path.join(tmp, "usage.jsonl"), os.path.join(tmp, "cursor")
            p = subprocess.run([COLLECT, "--url", "https://127.0.0.1:%d" % d.admin_port, "--out", out,
                                "--state", state, "--token", d.admin_token, "--cacert", ca.cert, "--once"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60 * SLOW)
            assert p.returncode == 0, p.stderr
            with open(out) as f:
                got = {json.loads(l)["id"] for l in f if l.strip()}
            assert served <= got
            # A CA file that cannot be read is refused at once.
            p = subprocess.run([COLLECT, "--url", "https://127.0.0.1:%d" % d.admin_port, "--out", out,
                                "--state", state, "--token", d.admin_token, "--cacert",
                                os.path.join(tmp, "none.pem"), "--once"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60 * SLOW)
            assert p.returncode == 2 and b"none.pem" in p.stderr
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def test_hook_delivered_to_an_https_receiver_with_cacert():
    ca, other = CA(), CA("untrusted CA")
    d = Daemon(extra_args=["--cacert", ca.cert]).start()
    good = Receiver(SECRET, tls=ca)
    bad = Receiver(SECRET, tls=other)
    try:
        a = d.admin()
        assert good.url.startswith("https://")
        hook_good = add_hook(a, good.url, events=["user.created"])
        hook_bad = add_hook(a, bad.url, events=["user.created"])
        user = ok(a.post("/v1/admin/users", {"email": uid()[:8] + "@example.com"}), 201)
        wait_for(lambda: any(t == "user.created" for _, t, _, _, _ in good.requests()), 30,
                 "the delivery over https")
        assert all(sig_ok for _, _, _, sig_ok, _ in good.requests())
        assert any(json.loads(b)["resourceId"] == user["id"] for _, _, b, _, _ in good.requests())

        # The receiver whose certificate wapd cannot verify gets nothing; the attempt is logged failed.
        def failed_attempt():
            log = ok(a.get("/v1/admin/hooks/%s/deliveries" % hook_bad["id"]), 200)["value"]
            return log if log and all(x["statusCode"] is None and x["error"] for x in log) else None
        wait_for(failed_attempt, 30, "a failed attempt to the untrusted receiver")
        assert not bad.requests()
        ok(a.delete("/v1/admin/hooks/" + hook_good["id"]), 204)
        ok(a.delete("/v1/admin/hooks/" + hook_bad["id"]), 204)
    finally:
        good.close()
        bad.close()
        d.cleanup()
        ca.cleanup()
        other.cleanup()
