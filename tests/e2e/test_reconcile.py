"""The periodic reconcile (--reconcile-seconds): drift made in the database while the daemon is stopped (the
daemon keeps its counters cached, so the supported way to make drift is stop, edit wapd.db, start) is
corrected at the next round, logged as one JSON line per subscription or host (what, id, before, after) and
counted in /metrics; a normal workload (creates, resizes, deletes, power changes, with slow hosts so that
jobs are under way during rounds) counts no drift at all, and a reconcile of 0 never runs."""
import json
import os
import sqlite3

from harness import Daemon, ok, wait_for, wait_job
from test_vms import VmWorld


def metrics(d):
    body = d.admin().get("/metrics").body
    text = body.decode() if isinstance(body, bytes) else body
    out = {}
    for line in text.splitlines():
        if line.startswith("wapd_reconcile_"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def drift(d):
    m = metrics(d)
    return (m['wapd_reconcile_drift_total{kind="subscription"}'], m['wapd_reconcile_drift_total{kind="host"}'])


def runs_after(d, n):
    """Waits for n more reconcile rounds; returns the metrics then."""
    start = metrics(d)["wapd_reconcile_runs_total"]
    wait_for(lambda: metrics(d)["wapd_reconcile_runs_total"] >= start + n, 30, "%d reconcile rounds" % n)
    return metrics(d)


def reconnect(w, d):
    w.a, w.t = d.admin(), d.tenant(w.token)


def drift_lines(d):
    lines = []
    for line in d.stderr().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("what") in ("subscription", "host"):
            lines.append(rec)
    return lines


def test_drift_made_in_the_database_is_corrected_logged_and_counted():
    d = Daemon(extra_args=["--reconcile-seconds", "1"]).start()
    try:
        w = VmWorld(d)
        vms = [w.create("a"), w.create("b", size=w.medium)]
        usage, alloc = w.usage(), w.host()["allocated"]
        assert usage["cores"] == 3 and alloc["cores"] == 3
        m = runs_after(d, 2)
        assert m["wapd_reconcile_last_run_timestamp_seconds"] > 0
        assert drift(d) == (0, 0)

        assert d.stop() == 0
        db = sqlite3.connect(os.path.join(d.state_dir, "wapd.db"))
        try:
            db.execute("UPDATE subscriptions SET usage_cores = usage_cores + 5, usage_vms = 7 WHERE id = ?",
                       (w.sub["id"],))
            db.execute("UPDATE hosts SET alloc_cores = alloc_cores + 3, alloc_storage_gb = 0 WHERE id = ?",
                       (w.hosts[0]["id"],))
            db.commit()
        finally:
            db.close()
        d.start()
        reconnect(w, d)
        wait_for(lambda: drift(d) == (1, 1), 30, "the drift counted")
        assert w.usage() == usage
        assert w.host()["allocated"] == alloc
        lines = drift_lines(d)
        sub = [x for x in lines if x["what"] == "subscription"]
        host = [x for x in lines if x["what"] == "host"]
        assert len(sub) == 1 and len(host) == 1, lines
        assert sub[0]["id"] == w.sub["id"] and sub[0]["level"] == "warn"
        assert sub[0]["before"] == {"vms": 7, "cores": usage["cores"] + 5}
        assert sub[0]["after"] == {"vms": 2, "cores": usage["cores"]}
        assert host[0]["id"] == w.hosts[0]["id"]
        assert host[0]["before"] == dict(alloc, cores=alloc["cores"] + 3, storageGB=0)
        assert host[0]["after"] == alloc
        # Corrected once: later rounds find nothing.
        runs_after(d, 2)
        assert drift(d) == (1, 1) and len(drift_lines(d)) == 2
        assert len(vms) == w.usage()["vms"]
    finally:
        d.cleanup()


def test_a_normal_workload_counts_no_drift():
    d = Daemon(extra_args=["--reconcile-seconds", "1"]).start()
    try:
        # Slow hosts: every job is under way across several rounds.
        w = VmWorld(d, hosts=("sim://?latencyMs=400", "sim://?latencyMs=300"))
        idle = VmWorld(d)  # another cloud and subscription, reconciled meanwhile
        idle.create("idle")
        locs = [w.t.post(w.base + "/vms", w.vm_body("w%d" % i)).header("Location") for i in range(3)]
        ids = []
        for loc in locs:
            job = wait_job(w.t, loc, 60)
            assert job["status"] == "succeeded", job
            ids.append(job["resourceId"])
        assert w.act(ids[0], "stop")["powerState"] == "stopped"
        r = w.t.patch(w.base + "/vms/" + ids[0], {"size": w.medium})
        assert wait_job(w.t, r.header("Location"), 60)["status"] == "succeeded"
        assert w.act(ids[0], "start")["powerState"] == "running"
        assert w.act(ids[1], "deallocate")["powerState"] == "deallocated"
        r = w.t.patch(w.base + "/vms/" + ids[1], {"size": w.medium})
        assert wait_job(w.t, r.header("Location"), 60)["status"] == "succeeded"
        r = w.t.delete(w.base + "/vms/" + ids[2])
        assert wait_job(w.t, r.header("Location"), 60)["status"] == "succeeded"
        assert w.usage()["cores"] == 4 and w.usage()["vms"] == 2
        assert w.host(0)["allocated"]["cores"] + w.host(1)["allocated"]["cores"] == 2  # one deallocated
        for vid in ids[:2]:
            r = w.t.delete(w.base + "/vms/" + vid)
            assert wait_job(w.t, r.header("Location"), 60)["status"] == "succeeded"
        m = runs_after(d, 2)
        assert m["wapd_reconcile_runs_total"] >= 5
        assert drift(d) == (0, 0), drift_lines(d)
        assert w.usage()["cores"] == 0 and [w.host(i)["allocated"]["cores"] for i in (0, 1)] == [0, 0]
    finally:
        d.cleanup()


def test_zero_disables_it():
    d = Daemon(extra_args=["--reconcile-seconds", "0"]).start()
    try:
        w = VmWorld(d)
        w.create("a")
        # Other periodic work goes on (a request answered, a second passed), the reconcile never runs.
        wait_for(lambda: metrics(d)["wapd_reconcile_runs_total"] == 0 and w.usage()["vms"] == 1, 10, "idle")
        assert metrics(d)["wapd_reconcile_last_run_timestamp_seconds"] == 0
    finally:
        d.cleanup()
