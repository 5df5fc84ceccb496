"""Job retention: with a short --job-retention-seconds, jobs that ended (succeeded, failed, canceled) are
purged once their end is older than the retention (their GET is 404, and they are gone from the lists), while
queued and running jobs stay however old they are; those go too once they have ended."""
from harness import Daemon, err, ok, wait_for, wait_job
from test_vms import VmWorld

RETENTION_S = 2
# Each call to the slow host takes this long: its VM create runs for several of them (at least two calls),
# long past the retention and the purges that remove the ended jobs below.
SLOW_MS = 8000


def _gone(client, path):
    r = client.get(path)
    assert r.status in (200, 404), r
    return r.status == 404


def _listed(client, base):
    ids, path = set(), base + "/jobs?limit=1000"
    page = ok(client.get(path), 200)
    ids.update(j["id"] for j in page["value"])
    assert "nextLink" not in page
    return ids


def test_ended_jobs_go_after_the_retention_and_others_stay():
    # One worker: while the slow create runs, the next job waits queued.
    d = Daemon(extra_args=["--job-retention-seconds", str(RETENTION_S), "--workers", "1"]).start()
    try:
        fast = VmWorld(d)
        slow = VmWorld(d, hosts=("sim://?latencyMs=%d" % SLOW_MS,))
        # Jobs that end: two that succeed here, one canceled below (the store's conformance tests cover a
        # failed one the same way).
        ended = []
        for name in ("a", "b"):
            r = fast.t.post(fast.base + "/vms", fast.vm_body(name))
            ok(r, 202)
            job = wait_job(fast.t, r.header("Location"))
            assert job["status"] == "succeeded", job
            ended.append(r.header("Location"))
        admin_ended = ["/v1/admin/jobs/" + loc.rsplit("/", 1)[1] for loc in ended]
        # A running job (the slow create) and a queued one behind it (one worker).
        r = slow.t.post(slow.base + "/vms", slow.vm_body("slow"))
        ok(r, 202)
        running = r.header("Location")
        wait_for(lambda: ok(slow.t.get(running), 200)["status"] == "running", 30, "the slow job to run")
        r = fast.t.post(fast.base + "/vms", fast.vm_body("queued"))
        ok(r, 202)
        queued = r.header("Location")
        assert ok(fast.t.get(queued), 200)["status"] == "queued"
        # A canceled job, ended after the running one began: once it is purged, a purge ran when the
        # running and queued jobs were already older than the retention.
        r = fast.t.post(fast.base + "/vms", fast.vm_body("canceled"))
        ok(r, 202)
        canceled = r.header("Location")
        assert ok(fast.t.post(canceled + "/cancel"), 200)["status"] == "canceled"
        ended.append(canceled)

        wait_for(lambda: all(_gone(fast.t, loc) for loc in ended), 30, "the ended jobs to be purged")
        for loc in ended:
            err(fast.t.get(loc), 404, "NotFound")
        for path in admin_ended:
            err(d.admin().get(path), 404, "NotFound")
        listed = _listed(fast.t, fast.base)
        assert not listed & {loc.rsplit("/", 1)[1] for loc in ended}, listed
        # The jobs not ended are all still there, in their views and in the lists.
        assert ok(slow.t.get(running), 200)["status"] == "running", "the slow job ended too soon to show it"
        assert ok(fast.t.get(queued), 200)["status"] in ("queued", "running")
        assert queued.rsplit("/", 1)[1] in listed
        assert running.rsplit("/", 1)[1] in _listed(slow.t, slow.base)
        # The VMs the purged jobs made stay: only the jobs' records go.
        names = {v["name"] for v in ok(fast.t.get(fast.base + "/vms"), 200)["value"]}
        assert {"a", "b"} <= names, names

        # Once they end, they go too.
        for client, loc in ((slow.t, running), (fast.t, queued)):
            job = wait_job(client, loc, 120)
            assert job["status"] == "succeeded", job
        wait_for(lambda: _gone(slow.t, running) and _gone(fast.t, queued), 30, "the last jobs to be purged")
    finally:
        d.cleanup()
