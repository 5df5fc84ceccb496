"""GET /v1/admin/backup: a consistent copy of the database taken while writes go on. Every write
acknowledged before the backup request began is in the copy; the copy passes PRAGMA integrity_check and
serves as the database of a second daemon (the documented restore: the file as wapd.db of a new state
dir); the answer is the file as it is (no content coding), with its media type and file name."""
import http.client
import os
import shutil
import sqlite3
import tempfile
import threading
import time

import oas
from harness import SLOW, Daemon, err, ok, uid


def fetch_backup(d, token=None):
    """(status, headers, bytes) of GET /v1/admin/backup, read whole and checked against the spec."""
    conn = http.client.HTTPConnection("127.0.0.1", d.admin_port, timeout=60 * SLOW)
    try:
        conn.request("GET", "/v1/admin/backup",
                     headers={"Authorization": "Bearer " + (token or d.admin_token),
                              "Accept-Encoding": "gzip, deflate"})
        r = conn.getresponse()
        data = r.read()
        headers = r.getheaders()
    finally:
        conn.close()
    problems = oas.check("A", "GET", "/v1/admin/backup", r.status, headers,
                         "" if r.status == 200 else data.decode())
    assert not problems, problems
    return r.status, headers, data


def header(headers, name):
    return next((v for k, v in headers if k.lower() == name.lower()), None)


def list_all(a, path):
    out, url = [], path + "?limit=1000"
    while url:
        page = ok(a.get(url), 200)
        out += page["value"]
        nxt = page.get("nextLink")
        url = nxt[nxt.index("/v1/"):] if nxt else None
    return out


def test_backup_while_writing():
    d = Daemon().start()
    d2 = None
    tmp = tempfile.mkdtemp(prefix="wapd-backup-", dir=os.path.dirname(d.state_dir))
    acked = []  # (sent, answered, id), monotonic times
    stop = threading.Event()
    failures = []

    def writer():
        a = d.admin()
        try:
            while not stop.is_set():
                sent = time.monotonic()
                cloud = ok(a.post("/v1/admin/clouds", {"name": "w-" + uid()[:12]}), 201)
                acked.append((sent, time.monotonic(), cloud["id"]))
        except Exception as e:  # noqa: BLE001 - reported by the test below
            failures.append(e)
        finally:
            a.close()

    try:
        threads = [threading.Thread(target=writer) for _ in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30 * SLOW
        while len(acked) < 60 and time.monotonic() < deadline and not failures:
            time.sleep(0.01)
        began = time.monotonic()
        status, headers, data = fetch_backup(d)
        answered = time.monotonic()
        # Writes go on after the backup: the copy must not need them.
        more = len(acked) + 20
        while len(acked) < more and time.monotonic() < deadline and not failures:
            time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join(60 * SLOW)
        assert not failures, failures
        assert status == 200, (status, data[:300])
        assert header(headers, "Content-Type") == "application/vnd.sqlite3", headers
        assert header(headers, "Content-Disposition") == 'attachment; filename="wapd-backup.db"', headers
        assert header(headers, "Content-Encoding") is None, headers
        assert data[:16] == b"SQLite format 3\x00", data[:16]
        assert int(header(headers, "Content-Length")) == len(data)
        # Nothing of the copy is left in the state dir.
        assert not [f for f in os.listdir(d.state_dir) if "backup" in f], os.listdir(d.state_dir)

        path = os.path.join(tmp, "copy.db")
        with open(path, "wb") as f:
            f.write(data)
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()

        before = {i for sent, done, i in acked if done < began}
        after = {i for sent, done, i in acked if sent > answered}
        assert len(before) >= 60 and after, (len(before), len(after))

        state2 = os.path.join(tmp, "state")
        os.mkdir(state2)
        shutil.copy(path, os.path.join(state2, "wapd.db"))
        d2 = Daemon(state_dir=state2).start()
        ids = {c["id"] for c in list_all(d2.admin(), "/v1/admin/clouds")}
        missing = before - ids
        assert not missing, "acknowledged before the backup, missing from it: %s" % sorted(missing)[:5]
        assert not after & ids, "written after the backup was answered, yet in it"
        ok(d2.admin().post("/v1/admin/clouds", {"name": "after-restore"}), 201)
    finally:
        stop.set()
        if d2 is not None:
            d2.cleanup()
        d.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def test_backup_needs_scope_admin(d):
    a = d.admin()
    ro = ok(a.post("/v1/admin/tokens", {"name": "ro", "scope": "readOnly"}), 201)
    admin = ok(a.post("/v1/admin/tokens", {"name": "adm", "scope": "admin"}), 201)
    err(d.admin(ro["token"]).get("/v1/admin/backup"), 403, "Forbidden")
    err(d.admin("").get("/v1/admin/backup", token=""), 401, "Unauthorized")
    status, _, data = fetch_backup(d, admin["token"])
    assert status == 200 and data[:6] == b"SQLite"
