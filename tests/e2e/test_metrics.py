"""/metrics after a workload: VM creates on a slow host (jobs queued and running), a create that fails, a
hook whose receiver is gone (deliveries pending), usage periods of 2 s closing. The page passes
`promtool check metrics` with no lint warning, and every family moves as it should: active jobs appear
and go, finished jobs are counted by status, the backlog and its age grow, the close is timed and its lag
stays small, the store and the process are sized, the build names its version, and the latency histogram
has no status label."""
import subprocess

from harness import WAPD_BIN, Daemon, ok, wait_for, wait_job
from test_vms import VmWorld


def scrape(a):
    """The page's text and its samples: {"name{labels}": value}."""
    r = a.get("/metrics", token="")
    assert r.status == 200, r
    text = r.body.decode() if isinstance(r.body, bytes) else r.body
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            samples[series] = float(value)
    return text, samples


def total(samples, family, **labels):
    """The sum of a family's samples whose labels include every one given."""
    want = ['%s="%s"' % kv for kv in labels.items()]
    return sum(v for k, v in samples.items()
               if k.split("{")[0] == family and all(w in k for w in want))


def promtool(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=60)
    return p.returncode, (p.stdout + p.stderr).decode()


def test_metrics_after_a_workload_pass_promtool_and_move():
    d = Daemon(extra_args=["--usage-period-seconds", "2"]).start()
    try:
        w = VmWorld(d, hosts=("sim://?latencyMs=300",))
        a = w.a
        ok(a.post("/v1/admin/hooks", {"url": "http://127.0.0.1:1/gone", "events": ["*"],
                                       "secret": "metrics-secret-" + "x" * 20}), 201)
        # A burst of creates on a slow host: while they run, the store shows them active.
        locations = []
        for i in range(4):
            r = w.t.post(w.base + "/vms", w.vm_body("m%d" % i))
            ok(r, 202)
            locations.append(r.header("Location"))
        _, m = scrape(a)
        active = total(m, "wapd_jobs_queued", kind="vm.create") + total(m, "wapd_jobs_running",
                                                                          kind="vm.create")
        assert active >= 1, m
        for loc in locations:
            assert wait_job(w.t, loc, 60)["status"] == "succeeded"
        # A create that fails: the host refuses everything.
        ok(a.patch("/v1/admin/hosts/" + w.hosts[0]["id"], {"agent": {"uri": "sim://?failRate=1"}}), 200)
        r = w.t.post(w.base + "/vms", w.vm_body("broken"))
        ok(r, 202)
        assert wait_job(w.t, r.header("Location"), 60)["status"] == "failed"

        def settled():
            _, m = scrape(a)
            return m if (m.get('wapd_jobs_finished_total{kind="vm.create",status="failed"}', 0) >= 1 and
                         m['wapd_jobs_finished_total{kind="vm.create",status="succeeded"}'] >= 4 and
                         m["wapd_hook_oldest_pending_age_seconds"] > 0.5 and
                         m.get("wapd_usage_close_duration_seconds_count", 0) >= 1) else None
        m = wait_for(settled, 30, "job ends, an aged backlog and a usage close")
        text, m = scrape(a)
        # The jobs ended: none active; each end counted once, its duration in the histogram.
        assert m['wapd_jobs_queued{kind="vm.create"}'] == 0 and m['wapd_jobs_running{kind="vm.create"}'] == 0
        assert m['wapd_jobs_finished_total{kind="vm.create",status="succeeded"}'] == 4
        assert m['wapd_job_duration_seconds_count{kind="vm.create",status="succeeded"}'] == 4
        assert m['wapd_job_duration_seconds_sum{kind="vm.create",status="succeeded"}'] > 0
        assert m['wapd_job_duration_seconds_bucket{kind="vm.create",status="failed",le="+Inf"}'] == \
            m['wapd_jobs_finished_total{kind="vm.create",status="failed"}']
        # The dead receiver's deliveries wait; none was given up.
        assert m["wapd_hook_deliveries_pending"] > 0
        assert m["wapd_hook_attempts_total{outcome=\"failed\"}"] >= 1
        # Periods of 2 s close as they end: the lag stays within a period and the main loop's tick.
        assert 0 <= m["wapd_usage_close_lag_seconds"] < 6
        assert m["wapd_store_size_bytes"] > 0
        assert m["wapd_leader"] == 1  # alone on its database, it leads
        assert m["process_open_fds"] > 0 and m["process_max_fds"] >= m["process_open_fds"]
        assert m["process_resident_memory_bytes"] > 0 and m["process_cpu_seconds_total"] >= 0
        assert m["process_start_time_seconds"] > 1.7e9
        version = subprocess.run([WAPD_BIN, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout.split()[-1]
        assert m['wapd_build_info{version="%s"}' % version] == 1
        # Latency by route and method; the status is the counter's only.
        latency = [k for k in m if k.startswith("wapd_http_request_duration_seconds")]
        assert latency and not any("status=" in k for k in latency)
        assert m['wapd_http_request_duration_seconds_count{listener="tenant",'
                 'route="/v1/subscriptions/{sid}/vms",method="POST"}'] == 5
        assert total(m, "wapd_http_requests_total", listener="tenant", method="POST", status="202") >= 5
        rc, out = promtool(text)
        assert rc == 0 and out.strip() == "", out
    finally:
        d.cleanup()
