"""The reference collector keeps every usage record exactly once while the daemon is killed (-9) five
times at random moments, VMs change state throughout, and the collector itself is killed once and stopped
once (SIGTERM: exit 0) and resumes from its saved cursor."""
import json
import os
import random
import signal
import socket
import subprocess
import tempfile

from harness import ADMIN_TOKEN, SLOW, Daemon, ok, wait_for
from test_usage import drain
from test_vms import VmWorld

COLLECT = os.environ.get("WAPD_COLLECT_BIN", "build/wapd-collect")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def test_collector_exactly_once_through_crashes():
    rng = random.Random(6)
    aport, tport = free_port(), free_port()
    d = Daemon(extra_args=["--usage-period-seconds", "1", "--admin-listen", "127.0.0.1:%d" % aport,
                           "--tenant-listen", "127.0.0.1:%d" % tport]).start()
    tmp = tempfile.mkdtemp(prefix="wapd-collect-")
    out, state = os.path.join(tmp, "usage.jsonl"), os.path.join(tmp, "cursor")
    collector = None

    def start_collector():
        return subprocess.Popen([COLLECT, "--url", "http://127.0.0.1:%d" % aport, "--out", out,
                                 "--state", state, "--token", ADMIN_TOKEN, "--interval-ms", "100"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    try:
        w = VmWorld(d)
        vms = [w.create("u%d" % i)["id"] for i in range(3)]
        collector = start_collector()
        for round_ in range(5):
            # Change states; then crash the daemon once the feed has grown by a random amount.
            vid = vms[round_ % 3]
            action = "stop" if w.get(vid)["powerState"] == "running" else "start"
            w.t.post(w.base + "/vms/%s/%s" % (vid, action))
            target = len(drain(w.a)[0]) + rng.randint(1, 9)
            wait_for(lambda: len(drain(w.a)[0]) >= target, 30, "the feed to grow")
            d.kill9()
            if round_ == 2:
                collector.send_signal(signal.SIGKILL)  # the collector dies too, once
                collector.wait(30)
                collector = start_collector()
            d.start()
            w.t, w.a = d.tenant(w.token), d.admin()
        def caught_up_then_stop():
            # Every record served so far is in the file (exactly once) when the collector stops.
            before = {r["id"] for r in drain(w.a)[0]}
            wait_for(lambda: {r["id"] for r in lines(out)} >= before, 60, "the collector to catch up")
            collector.send_signal(signal.SIGTERM)
            assert collector.wait(10 * SLOW) == 0
            after = {r["id"] for r in drain(w.a)[0]}
            ids = [r["id"] for r in lines(out)]
            assert len(ids) == len(set(ids)), "a record was written twice"
            assert before <= set(ids) <= after
            return after

        served = caught_up_then_stop()
        # Started again, it resumes from its cursor: the records closed since, and nothing twice.
        wait_for(lambda: len(drain(w.a)[0]) > len(served), 30, "a new period")
        collector = start_collector()
        caught_up_then_stop()
        got = lines(out)
        # Each resource, meter and period once (a compute meter once per size).
        keys = [(r["resourceId"], r["meter"], r["periodStart"],
                 r["properties"].get("size") if r["meter"].startswith("compute.") else "") for r in got]
        assert len(keys) == len(set(keys))
    finally:
        if collector and collector.poll() is None:
            collector.kill()
        d.cleanup()


def test_collector_acknowledges_what_it_stored():
    """What the collector stored it acknowledges, so wapd purges it once the retention time passes; what it has
    not stored yet stays."""
    aport, tport = free_port(), free_port()
    d = Daemon(extra_args=["--usage-period-seconds", "1", "--usage-retention-seconds", "2",
                           "--admin-listen", "127.0.0.1:%d" % aport,
                           "--tenant-listen", "127.0.0.1:%d" % tport]).start()
    tmp = tempfile.mkdtemp(prefix="wapd-collect-")
    out, state = os.path.join(tmp, "usage.jsonl"), os.path.join(tmp, "cursor")
    try:
        w = VmWorld(d)
        w.create("acked")
        wait_for(lambda: len(drain(w.a)[0]) >= 6, 30, "some periods closed")
        # Past the retention, nothing goes while nothing is acknowledged.
        stored_before = {r["id"] for r in drain(w.a)[0]}
        subprocess.run([COLLECT, "--url", "http://127.0.0.1:%d" % aport, "--out", out, "--state", state,
                        "--token", ADMIN_TOKEN, "--once"], check=True, timeout=60)
        collected = {r["id"] for r in lines(out)}
        assert stored_before <= collected
        # The collector acknowledged its cursor: what it stored goes once past the retention, from the
        # beginning of the feed too; the records closed since stay until acknowledged.
        wait_for(lambda: not collected & {r["id"] for r in drain(w.a)[0]}, 60,
                 "the collected records to be purged")
        assert drain(w.a)[0], "the records closed after the collector ran stay"
    finally:
        d.cleanup()
