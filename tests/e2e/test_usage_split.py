"""Usage split at every billed change, the WAP endpoint's limits and counters, and the native ack.

A Medium VM stopped and resized to Small about 41 s into a 60 s period gets, for that period, one
compute.hours record per size, prorated to the times the timeline recorded and summing to the time it held
capacity, and two WAP records. The WAP endpoint serves a batchSize above 1000 as 1000, refuses a lastID
above the highest EventId (acknowledging nothing), and carries Min <= Average <= Max counters. The native
ack refuses cursors wapd did not hand out, and records go only once acknowledged and past retention."""
import base64
import time

from harness import Daemon, err, ok, wait_for, wait_job
from test_usage import drain, iso_ms
from test_vms import VmWorld

PERIOD_MS = 60000
COUNTERS = ("CPUAllocationCount", "MemoryAllocated", "CrossDiskSizeAllocated")


def now_ms():
    return int(time.time() * 1000)


def wait_clock(t_ms):
    wait_for(lambda: now_ms() >= t_ms, (t_ms - now_ms()) / 1000.0 + 30, "the clock to reach %d" % t_ms)


def timeline(d, vm_id):
    return d.store_rows("SELECT at_ms, event, size, holds_compute, power_state FROM vm_timeline"
                        " WHERE vm_id = ? ORDER BY seq", (vm_id,))


def per_size(rows, p0, p1, running=False):
    """Hours each size held capacity (or ran) within [p0, p1), from the timeline rows."""
    out = {}
    for i, (at, event, size, hc, power) in enumerate(rows):
        if event == "deleted":
            break
        nxt = rows[i + 1][0] if i + 1 < len(rows) else p1
        lo, hi = max(at, p0), min(nxt, p1)
        if hi > lo:
            counts = power == "running" if running else hc
            out[size] = out.get(size, 0.0) + ((hi - lo) / 3600000.0 if counts else 0.0)
    return out


def check_counters(rec):
    res = rec["Resources"]
    assert all(isinstance(v, str) for v in res.values()), res
    for c in COUNTERS:
        assert float(res[c + "-Average"]) <= float(res[c + "-Max"]), res
    assert float(res["MemoryConsumed-Min"]) <= float(res["MemoryConsumed-Average"]) \
        <= float(res["MemoryConsumed-Max"]), res
    for v in res.values():
        assert "." not in v or (len(v.split(".")[1]) <= 3 and not v.endswith("0")), res


def test_resize_within_a_period_splits_the_records():
    d = Daemon(extra_args=["--usage-period-seconds", "60"]).start()
    try:
        w = VmWorld(d)
        vm = w.create("split", size=w.medium)
        vid = vm["id"]
        # The period in which the VM is stopped and resized about 41 s in (the next one when too late).
        p0 = now_ms() // PERIOD_MS * PERIOD_MS
        if now_ms() - p0 > 35000:
            p0 += PERIOD_MS
        wait_clock(p0 + 38000)
        w.act(vid, "stop")
        wait_clock(p0 + 41000)
        r = w.t.patch(w.base + "/vms/" + vid, {"size": w.small})
        job = wait_job(w.t, r.header("Location"))
        assert job["status"] == "succeeded", job
        w.act(vid, "start")
        rows = timeline(d, vid)
        resized = [at for at, _, size, _, _ in rows if size == w.small][0]
        assert p0 + 41000 <= resized < p0 + PERIOD_MS
        assert abs(iso_ms(job["endedAt"]) - resized) < 5000  # the change the job made, when it made it
        p1 = p0 + PERIOD_MS

        def period_records():
            return [x for x in drain(w.a)[0] if x["resourceId"] == vid and iso_ms(x["periodStart"]) == p0]
        recs = wait_for(lambda: [x for x in period_records() if x["meter"] == "storage.gbHours"]
                        and period_records(), 60, "the period to close")
        for meter, running in (("compute.hours", False), ("compute.runningHours", True)):
            mine = [x for x in recs if x["meter"] == meter]
            assert sorted(x["properties"]["size"] for x in mine) == sorted([w.medium, w.small]), mine
            want = per_size(rows, p0, p1, running)
            for x in mine:
                assert iso_ms(x["periodEnd"]) == p1
                assert abs(x["quantity"] - want[x["properties"]["size"]]) < 1e-9, (x, want)
            assert abs(sum(x["quantity"] for x in mine) - sum(want.values())) < 1e-9
        compute = {x["properties"]["size"]: x for x in recs if x["meter"] == "compute.hours"}
        assert compute[w.small]["properties"] == {"size": w.small, "cores": 1, "memoryMB": 1792}
        assert compute[w.medium]["properties"]["cores"] == 2
        # The VM existed all period or from its creation on: the two records sum to that, Medium about 41 s.
        held = (p1 - max(p0, rows[0][0])) / 3600000.0
        assert abs(compute[w.medium]["quantity"] + compute[w.small]["quantity"] - held) < 1e-9
        assert abs(compute[w.small]["quantity"] - (p1 - resized) / 3600000.0) < 1e-9
        assert len([x for x in recs if x["meter"] == "storage.gbHours"]) == 1
        # The WAP endpoint: two records for the VM and period, one per size.
        wap = [x for x in ok(w.a.get("/usage?lastID=0&batchSize=1000"), 200)
               if x["ResourceId"] == vid and iso_ms(x["StartTime"]) == p0]
        assert sorted(x["Resources"]["CPUAllocationCount-Max"] for x in wap) == ["1", "2"], wap
        for x in wap:
            check_counters(x)
        small = [x for x in wap if x["Resources"]["CPUAllocationCount-Max"] == "1"][0]["Resources"]
        assert small["MemoryAllocated-Max"] == "1792" and small["MemoryConsumed-Max"] == "1792"
        assert small["MemoryConsumed-Min"] == "0"  # stopped a while after the resize
    finally:
        d.cleanup()


def cursor_of(pos):
    return base64.urlsafe_b64encode(("u1.%d" % pos).encode()).decode().rstrip("=")


def test_wap_limits_counters_and_acks():
    d = Daemon(extra_args=["--usage-period-seconds", "1", "--usage-retention-seconds", "2"]).start()
    try:
        w = VmWorld(d)
        vid = w.create("acked")["id"]
        wait_for(lambda: len(ok(w.a.get("/usage?batchSize=1000"), 200)) >= 3, 30, "three periods")
        # A batchSize above the maximum is served as the maximum: 1100 more records (of periods far ahead,
        # so that no purge takes them) give 1000.
        far = now_ms() + 10 * 365 * 86400000
        d.store_exec("INSERT INTO wap_usage(resource_id, subscription_id, period_start_ms, period_end_ms,"
                     " cpu_max, memory_max, disk_bytes_max) VALUES (?, ?, ?, ?, 1, 1, 1)",
                     [("bulk-%d" % i, w.sub["id"], far, far + 1000) for i in range(1100)])
        assert len(ok(w.a.get("/usage?lastID=0&batchSize=5000"), 200)) == 1000
        err(w.a.get("/usage?batchSize=-1"), 400, "InvalidRequest", "batchSize")
        # Counters on every record of the VM.
        everything = ok(w.a.get("/usage?lastID=0&batchSize=1000"), 200)
        mine = [x for x in everything if x["ResourceId"] == vid]
        assert len(mine) >= 3
        for x in mine:
            check_counters(x)
            assert x["Resources"]["CPUAllocationCount-Average"] == "1"
        # A lastID above the highest EventId is refused and acknowledges nothing: past the retention,
        # every record is still there.
        top = d.store_rows("SELECT max(event_id) FROM wap_usage")[0][0]
        err(w.a.get("/usage?lastID=%d" % (top + 1000)), 400, "InvalidRequest", "lastID")
        first = mine[0]["EventId"]
        t = time.time()
        wait_for(lambda: time.time() - t > 3.5, 30, "the retention to pass")
        again = ok(w.a.get("/usage?lastID=0&batchSize=1000"), 200)
        assert again[0]["EventId"] == everything[0]["EventId"] and first in [x["EventId"] for x in again]
        records, _ = drain(w.a)
        assert min(iso_ms(x["periodStart"]) for x in records if x["resourceId"] == vid) \
            == min(iso_ms(x["StartTime"]) for x in mine)
        # The native ack: a cursor it did not hand out is refused, naming cursor.
        a = w.a
        err(a.post("/v1/admin/usage/ack", {}), 400, "InvalidRequest", "cursor")
        err(a.post("/v1/admin/usage/ack", {"cursor": 7}), 400, "InvalidRequest", "cursor")
        err(a.post("/v1/admin/usage/ack", {"cursor": "bogus"}), 400, "InvalidRequest", "cursor")
        err(a.post("/v1/admin/usage/ack", {"cursor": cursor_of(10 ** 9)}), 400, "InvalidRequest", "cursor")
        # Acknowledge the first page: those records go once past the retention; later ones stay, and a
        # read from the start returns what is left.
        page = ok(a.get("/v1/admin/usage?limit=6"), 200)
        assert len(page["value"]) == 6
        assert ok(a.post("/v1/admin/usage/ack", {"cursor": page["nextCursor"]}), 200) == \
            {"acknowledged": page["nextCursor"]}
        ok(a.post("/v1/admin/usage/ack", {"cursor": cursor_of(0)}), 200)  # older: moves nothing back
        acked = {x["id"] for x in page["value"]}
        wait_for(lambda: not acked & {x["id"] for x in drain(a)[0]}, 30, "the acknowledged records to go")
        left, _ = drain(a)
        assert left and all(x["id"] not in acked for x in left)
        assert {x["id"] for x in left} <= {x["id"] for x in drain(a, page["nextCursor"])[0]}
        # The WAP records of the periods whose records all went went with them; the bulk ones (not past
        # retention) stay.
        wap_left = ok(w.a.get("/usage?lastID=0&batchSize=1000"), 200)
        gone = {(x["resourceId"], x["periodStart"]) for x in page["value"]}
        gone -= {(x["resourceId"], x["periodStart"]) for x in left}
        assert gone
        assert not gone & {(x["ResourceId"], x["StartTime"]) for x in wap_left}
        assert any(x["ResourceId"].startswith("bulk-") for x in wap_left)
    finally:
        d.cleanup()
