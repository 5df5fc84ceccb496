"""Usage metering with a 2 s period: a VM's life (run, stop, deallocate, start, resize, delete) gives,
for each meter, exactly one record per period (the compute meters one per period and size), contiguous
from creation to deletion, matching the timeline within 2%; the cursor returns only newer records; the
tenant sees totals."""
import time

from harness import Daemon, err, ok, wait_for, wait_job
from test_vms import VmWorld

PERIOD_MS = 2000
METERS = ("compute.hours", "compute.runningHours", "storage.gbHours")


def iso_ms(s):
    t = time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")
    return int(time.mktime(t) - time.timezone) * 1000 + int(s[20:23])


def drain(a, cursor=None):
    out = []
    while True:
        page = ok(a.get("/v1/admin/usage?limit=1000" + ("&after=" + cursor if cursor else "")), 200)
        out += page["value"]
        assert page["nextCursor"]
        if not page["value"]:
            return out, page["nextCursor"]
        cursor = page["nextCursor"]


def expected(d, vm_id, p0, p1):
    rows = d.store_rows("SELECT at_ms, event, power_state, storage_gb, holds_compute, holds_storage"
                        " FROM vm_timeline WHERE vm_id = ? ORDER BY seq", (vm_id,))
    q = {m: 0.0 for m in METERS}
    for i, (at, event, power, gb, hc, hs) in enumerate(rows):
        if event == "deleted":
            break
        nxt = rows[i + 1][0] if i + 1 < len(rows) else p1
        lo, hi = max(at, p0), min(nxt, p1)
        if hi <= lo:
            continue
        h = (hi - lo) / 3600000.0
        q["compute.hours"] += h if hc else 0
        q["compute.runningHours"] += h if power == "running" else 0
        q["storage.gbHours"] += gb * h if hs else 0
    return q


def test_usage_follows_the_timeline():
    d = Daemon(extra_args=["--usage-period-seconds", "2"]).start()
    try:
        w = VmWorld(d)
        a = w.a
        _, cursor = drain(a)

        def periods_closed_after(t_ms):
            return lambda: any(iso_ms(r["periodEnd"]) > t_ms for r in drain(a)[0])

        vm = w.create("metered", dataDisks=[{"sizeGB": 10}])
        vid = vm["id"]
        for action in ("stop", "deallocate"):
            wait_for(periods_closed_after(int(time.time() * 1000)), 30, "a period to close")
            w.act(vid, action)
        r = w.t.patch(w.base + "/vms/" + vid, {"size": w.medium})
        wait_job(w.t, r.header("Location"))
        w.act(vid, "start")
        wait_for(periods_closed_after(int(time.time() * 1000)), 30, "a period to close")
        r = w.t.delete(w.base + "/vms/" + vid)
        wait_job(w.t, r.header("Location"))
        gone = int(time.time() * 1000)
        wait_for(periods_closed_after(gone), 30, "the last period to close")
        records, cursor2 = drain(a)
        mine = [r for r in records if r["resourceId"] == vid]
        assert mine, records
        # Exactly one record per meter and period (compute: per period and size), summing to what the
        # timeline says; contiguous from creation to deletion.
        for m in METERS:
            by_period = {}
            for rec in mine:
                if rec["meter"] == m:
                    by_period.setdefault((iso_ms(rec["periodStart"]), iso_ms(rec["periodEnd"])), []).append(rec)
            series = sorted(by_period)
            for recs in by_period.values():
                sizes = [rec["properties"]["size"] for rec in recs]
                assert len(sizes) == len(set(sizes)), (m, sizes)
                assert m.startswith("compute.") or len(recs) == 1, (m, recs)
            for (s0, e0), (s1, e1) in zip(series, series[1:]):
                assert e0 == s1 and e0 - s0 == PERIOD_MS
            assert all(s % PERIOD_MS == 0 for s, _ in series)
            assert series[-1][1] >= gone - PERIOD_MS
            for (s, e), recs in by_period.items():
                want = expected(d, vid, s, e)[m]
                got = sum(rec["quantity"] for rec in recs)
                assert abs(got - want) <= max(0.02 * want, 1e-9), (m, s, got, want)
                for rec in recs:
                    assert rec["unit"] == ("GB-hours" if m == "storage.gbHours" else "hours")
                    assert rec["subscriptionId"] == w.sub["id"] and rec["resourceType"] == "vm"
        # Stop keeps compute charges, deallocate ends them; storage runs from creation to deletion.
        compute = sum(r["quantity"] for r in mine if r["meter"] == "compute.hours")
        running = sum(r["quantity"] for r in mine if r["meter"] == "compute.runningHours")
        assert compute > running > 0
        # The cursor returns only newer records.
        assert drain(a, cursor2)[0] == []
        assert {r["id"] for r in drain(a, cursor)[0]} >= {r["id"] for r in mine}
        err(a.get("/v1/admin/usage?after=bogus"), 400, "InvalidRequest", "after")
        err(a.get("/v1/admin/usage?limit=0"), 400, "InvalidRequest", "limit")
        # The tenant's totals.
        tot = ok(w.t.get(w.base + "/usage"), 200)
        assert abs(tot["meters"]["compute.hours"] - compute) < 1e-9
        assert {x["resourceId"] for x in tot["resources"]} == {vid}
        err(w.t.get(w.base + "/usage?from=yesterday"), 400, "InvalidRequest", "from")
    finally:
        d.cleanup()


def test_periods_closed_while_down_appear_on_start():
    d = Daemon(extra_args=["--usage-period-seconds", "2"]).start()
    try:
        w = VmWorld(d)
        vm = w.create("down")
        wait_for(lambda: any(r["resourceId"] == vm["id"] for r in drain(w.a)[0]), 30, "a first period")
        assert d.stop() == 0
        stopped = int(time.time() * 1000)
        # Down for three periods (the test waits on the clock, the daemon is not running).
        while int(time.time() * 1000) < stopped + 3 * PERIOD_MS + 200:
            time.sleep(0.1)
        d.start()
        w.a = d.admin()
        starts = sorted(iso_ms(r["periodStart"]) for r in drain(w.a)[0]
                        if r["resourceId"] == vm["id"] and r["meter"] == "compute.hours")
        assert starts[-1] >= stopped + PERIOD_MS  # the periods of the downtime are there, at once
        assert all(b - a == PERIOD_MS for a, b in zip(starts, starts[1:]))
    finally:
        d.cleanup()


def test_wap_usage_endpoint():
    d = Daemon(extra_args=["--usage-period-seconds", "2"]).start()
    try:
        w = VmWorld(d)
        w.create("wap-a", dataDisks=[{"sizeGB": 10}])
        w.create("wap-b")
        wait_for(lambda: len(ok(w.a.get("/usage?lastID=&batchSize=1000"), 200)) >= 6, 30, "three periods of 2 VMs")
        allrecs = ok(w.a.get("/usage?lastID=0&batchSize=1000"), 200)
        ids = [r["EventId"] for r in allrecs]
        assert ids == sorted(ids) and len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
        r = [x for x in allrecs if x["Properties"]["VMName"] == "wap-a"][0]
        assert r["ServiceType"] == "VirtualMachine" and r["SubscriptionId"] == w.sub["id"]
        assert r["Properties"]["Subscriber"] == w.user["email"]
        res = r["Resources"]
        assert all(isinstance(v, str) for v in res.values())
        assert res["CPUAllocationCount-Max"] == "1" and res["MemoryAllocated-Max"] == "1792"
        assert res["CrossDiskSizeAllocated-Max"] == str(40 * 1024 ** 3)
        # batchSize is respected; lastID returns only later records.
        two = ok(w.a.get("/usage?lastID=&batchSize=2"), 200)
        assert [x["EventId"] for x in two] == ids[:2]
        after = ok(w.a.get("/usage?lastID=%d&batchSize=1000" % ids[1]), 200)
        assert [x["EventId"] for x in after][: len(ids) - 2] == ids[2:]
        err(w.a.get("/usage?lastID=abc"), 400, "InvalidRequest", "lastID")
        err(w.a.get("/usage?batchSize=0"), 400, "InvalidRequest", "batchSize")
        err(w.a.get("/usage?batchSize=many"), 400, "InvalidRequest", "batchSize")
        assert d.tenant(w.token).get("/usage").status in (401, 404)
    finally:
        d.cleanup()


def test_reassociation_keeps_the_series():
    d = Daemon(extra_args=["--usage-period-seconds", "1"]).start()
    try:
        w = VmWorld(d)
        vm = w.create("series")
        host = w.hosts[0]["id"]
        wait_for(lambda: any(r["resourceId"] == vm["id"] for r in drain(w.a)[0]), 30, "a first period")
        res = ok(w.a.post("/v1/admin/hosts/%s/simulate" % host, {"regenerateIds": [vm["id"]]}), 200)
        r = w.a.post("/v1/admin/hosts/%s/refresh" % host)
        wait_job(w.a, r.header("Location"))
        ok(w.a.post("/v1/admin/vms/%s/reassociate" % vm["id"],
                    {"hostId": host, "hypervisorId": res["regenerated"][0]["newHypervisorId"]}), 200)
        t = int(time.time() * 1000)
        wait_for(lambda: any(r["resourceId"] == vm["id"] and iso_ms(r["periodStart"]) > t
                             for r in drain(w.a)[0]), 30, "a period after the re-association")
        starts = sorted(iso_ms(r["periodStart"]) for r in drain(w.a)[0]
                        if r["resourceId"] == vm["id"] and r["meter"] == "compute.hours")
        assert all(b - a == 1000 for a, b in zip(starts, starts[1:]))  # one series, no gap
    finally:
        d.cleanup()


test_reassociation_keeps_the_series.sim_only = "POST /hosts/{id}/simulate (new hypervisor ids) is a sim host's own call"


def test_purge_only_after_acknowledgement_and_retention():
    d = Daemon(extra_args=["--usage-period-seconds", "1", "--usage-retention-seconds", "2"]).start()
    try:
        w = VmWorld(d)
        w.create("p")
        wait_for(lambda: len(ok(w.a.get("/usage?batchSize=1000"), 200)) >= 3, 30, "three periods")
        first = ok(w.a.get("/usage?batchSize=1000"), 200)
        # Unacknowledged records stay, however old: wait past the retention and check.
        t = time.time()
        wait_for(lambda: time.time() - t > 3.5 and len(drain(w.a)[0]) > 0, 30, "retention to pass")
        assert ok(w.a.get("/usage?batchSize=1000"), 200)[: len(first)] == first
        native = {(r["resourceId"], r["periodStart"]) for r in drain(w.a)[0]}
        # Acknowledge the first two; once past retention they go, from both feeds; the rest stays.
        acked = first[1]["EventId"]
        ok(w.a.get("/usage?lastID=%d&batchSize=1" % acked), 200)
        gone = {(r["ResourceId"], r["StartTime"]) for r in first[:2]}
        wait_for(lambda: not gone & {(r["resourceId"], r["periodStart"]) for r in drain(w.a)[0]}, 30,
                 "the acknowledged records to be purged")
        left = ok(w.a.get("/usage?batchSize=1000"), 200)
        assert [r["EventId"] for r in left][: len(first) - 2] == [r["EventId"] for r in first[2:]]
        assert (native - gone) <= {(r["resourceId"], r["periodStart"]) for r in drain(w.a)[0]}
    finally:
        d.cleanup()
