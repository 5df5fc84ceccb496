"""Events and hooks: the events feed holds every change; hooks get signed deliveries, retried on failure,
logged, redeliverable, surviving kill -9; a hook that always fails never holds back the others."""
import json
import os
import random
import threading
import time

from harness import SLOW, Daemon, err, ok, uid, wait_for, wait_job
from receiver import Receiver
from simhosts import sim_vm_put, sim_vms
from test_vms import VmWorld

SECRET = "hook-secret-" + "x" * 20


def feed(a, cursor=None, limit=1000):
    """Every event after cursor: (events, cursor)."""
    out = []
    while True:
        page = ok(a.get("/v1/admin/events?limit=%d" % limit + ("&after=" + cursor if cursor else "")), 200)
        assert page["nextCursor"]
        out += page["value"]
        cursor = page["nextCursor"]
        if not page["value"]:
            return out, cursor


def add_hook(a, url, events=("*",), secret=SECRET, **kw):
    body = {"url": url, "events": list(events), "secret": secret}
    body.update(kw)
    return ok(a.post("/v1/admin/hooks", body), 201)


def new_user_plan(a):
    cloud = ok(a.post("/v1/admin/clouds", {"name": "hc-" + uid()[:6]}), 201)
    plan = ok(a.post("/v1/admin/plans", {"name": "hp", "cloudId": cloud["id"]}), 201)
    user = ok(a.post("/v1/admin/users", {"email": uid()[:8] + "@example.com"}), 201)
    return user, plan


def test_hook_crud_and_validation(d):
    a = d.admin()
    r = a.post("/v1/admin/hooks", {"url": "http://127.0.0.1:9/x", "events": ["vm.created"],
                                   "secret": "s", "description": "runbook"})
    hook = ok(r, 201)
    assert r.header("Location") == "/v1/admin/hooks/" + hook["id"]
    assert r.header("ETag")
    assert "secret" not in hook and hook["active"] is True and hook["description"] == "runbook"
    got = ok(a.get("/v1/admin/hooks/" + hook["id"]), 200)
    assert "secret" not in got and got["events"] == ["vm.created"]
    assert all("secret" not in h for h in ok(a.get("/v1/admin/hooks"), 200)["value"])
    patched = ok(a.patch("/v1/admin/hooks/" + hook["id"], {"active": False, "secret": "t",
                                                            "events": ["*"]}), 200)
    assert patched["active"] is False and patched["events"] == ["*"] and "secret" not in patched
    # Bad input: a clear 400 naming the field, nothing saved.
    before = len(ok(a.get("/v1/admin/hooks"), 200)["value"])
    err(a.post("/v1/admin/hooks", {"url": "ftp://x/y", "events": ["*"], "secret": "s"}), 400,
        "InvalidRequest", "url")
    err(a.post("/v1/admin/hooks", {"url": "not a url", "events": ["*"], "secret": "s"}), 400,
        "InvalidRequest", "url")
    err(a.post("/v1/admin/hooks", {"url": "http://h/", "events": ["vm.exploded"], "secret": "s"}), 400,
        "InvalidRequest", "events[0]")
    err(a.post("/v1/admin/hooks", {"url": "http://h/", "events": [], "secret": "s"}), 400,
        "InvalidRequest", "events")
    err(a.post("/v1/admin/hooks", {"url": "http://h/", "events": ["*"]}), 400, "InvalidRequest", "secret")
    err(a.post("/v1/admin/hooks", {"url": "http://h/", "events": ["*"], "secret": "s", "x": 1}), 400,
        "InvalidRequest", "x")
    err(a.patch("/v1/admin/hooks/" + hook["id"], {"url": "gopher://h"}), 400, "InvalidRequest", "url")
    assert len(ok(a.get("/v1/admin/hooks"), 200)["value"]) == before
    err(a.get("/v1/admin/hooks/" + uid()), 404, "NotFound")
    err(a.get("/v1/admin/hooks/%s/deliveries" % uid()), 404, "NotFound")
    err(a.post("/v1/admin/hooks/%s/deliveries/%s/redeliver" % (hook["id"], uid())), 404, "NotFound")
    err(a.get("/v1/admin/events?after=bogus"), 400, "InvalidRequest", "after")
    err(a.get("/v1/admin/events?limit=0"), 400, "InvalidRequest", "limit")
    assert a.request("DELETE", "/v1/admin/hooks/" + hook["id"]).status == 204
    err(a.get("/v1/admin/hooks/" + hook["id"]), 404, "NotFound")
    # Tenants have no such paths.
    w = VmWorld(d)
    assert w.t.get("/v1/admin/events").status in (401, 404)


def test_events_describe_a_vm_life(d):
    """Every type the contract names shows up, written with its change, with the right resource."""
    w = VmWorld(d)
    a = w.a
    _, cursor = feed(a)
    vm = w.create("ev-vm")
    w.act(vm["id"], "stop")
    r = w.t.request("PUT", w.base + "/vms/%s/checkpoint" % vm["id"], body={"name": "cp1"})
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    r = w.t.post(w.base + "/vms/%s/checkpoint/restore" % vm["id"])
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    r = w.t.request("DELETE", w.base + "/vms/%s/checkpoint" % vm["id"])
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    r = w.t.patch(w.base + "/vms/" + vm["id"], {"size": w.medium})
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    r = w.t.request("DELETE", w.base + "/vms/" + vm["id"])
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    r = a.patch("/v1/admin/subscriptions/" + w.sub["id"], {"state": "suspended"})
    assert r.status in (200, 202)
    if r.status == 202:  # the suspend's job ends before the subscription is active again
        assert wait_job(a, r.header("Location"))["status"] == "succeeded"
    ok(a.patch("/v1/admin/subscriptions/" + w.sub["id"], {"state": "active"}), 200)
    # A job that fails: a start on a host that fails everything.
    vm2 = w.create("ev-vm2")
    host = "/v1/admin/hosts/" + w.hosts[0]["id"]
    ok(a.patch(host, {"agent": {"uri": "sim://?failRate=1"}}), 200)
    r = w.t.post(w.base + "/vms/%s/stop" % vm2["id"])
    job = wait_job(w.t, r.header("Location"), 120)
    assert job["status"] == "failed"
    ok(a.patch(host, {"agent": {"uri": "sim://"}}), 200)

    events, _ = feed(a, cursor)
    mine = [e for e in events if e["subscriptionId"] == w.sub["id"]]
    types = [e["type"] for e in mine]
    for t in ("vm.created", "vm.powerStateChanged", "vm.checkpoint.created", "vm.checkpoint.restored",
              "vm.checkpoint.deleted", "vm.resized", "vm.deleted", "subscription.suspended",
              "subscription.activated", "job.failed"):
        assert t in types, (t, types)
    for e in mine:
        assert set(e) == {"id", "type", "occurredAt", "subscriptionId", "resourceId", "data"}, e
        if e["type"].startswith("vm."):
            assert e["resourceId"] in (vm["id"], vm2["id"]), e
        if e["type"].startswith("subscription."):
            assert e["resourceId"] == w.sub["id"]
    stops = [e["data"] for e in mine if e["type"] == "vm.powerStateChanged" and e["resourceId"] == vm["id"]]
    assert {"from": "stopping", "to": "stopped"} in stops, stops
    failed = [e for e in mine if e["type"] == "job.failed"][-1]
    assert failed["resourceId"] == vm2["id"] and failed["data"]["jobId"] == job["id"]
    # Ids are unique and the feed is in order of occurrence.
    assert len({e["id"] for e in events}) == len(events)
    assert [e["occurredAt"] for e in events] == sorted(e["occurredAt"] for e in events)
    # Paging with a small limit gives the same events.
    small, _ = feed(a, cursor, limit=3)
    assert [e["id"] for e in small] == [e["id"] for e in events]


def test_signed_deliveries_retried_after_500s(d):
    a = d.admin()
    # Each event's first two requests get 500, the third 200.
    rcv = Receiver(SECRET, answer=lambda n, ev: 500 if n <= 2 else 200)
    try:
        hook = add_hook(a, rcv.url, events=["subscription.created"])
        user, plan = new_user_plan(a)
        subs = [ok(a.post("/v1/admin/subscriptions", {"userId": user["id"], "planId": plan["id"]}), 201)
                for _ in range(3)]
        events, _ = feed(a)
        want = {e["id"] for e in events if e["type"] == "subscription.created"
                and e["resourceId"] in {s["id"] for s in subs}}
        assert len(want) == 3

        def done():
            return all(rcv.seen.get(i, 0) >= 3 for i in want)
        wait_for(done, 60, "three attempts of each event")
        reqs = [r for r in rcv.requests() if r[0] in want]
        assert all(r[3] for r in reqs), "every signature verifies"
        assert all(r[1] == r[4] == "subscription.created" for r in reqs)
        # Duplicates of one event carry the same body, byte for byte.
        for i in want:
            assert len({r[2] for r in reqs if r[0] == i}) == 1
        log = wait_for(lambda: [x for x in ok(a.get("/v1/admin/hooks/%s/deliveries" % hook["id"]), 200)
                                ["value"] if x["eventId"] in want and x["statusCode"] == 200] and
                       ok(a.get("/v1/admin/hooks/%s/deliveries" % hook["id"]), 200)["value"], 30,
                       "the log")
        by_event = {}
        for x in log:
            assert set(x) == {"id", "eventId", "eventType", "attempt", "statusCode", "error", "at"}
            by_event.setdefault(x["eventId"], []).append(x)
        for i in want:
            wait_for(lambda: len([x for x in ok(a.get("/v1/admin/hooks/%s/deliveries" % hook["id"]),
                                                200)["value"] if x["eventId"] == i]) == 3, 30, "log of 3")
        log = ok(a.get("/v1/admin/hooks/%s/deliveries" % hook["id"]), 200)["value"]
        for i in want:
            tries = [x for x in log if x["eventId"] == i]
            assert [x["attempt"] for x in tries] == [1, 2, 3]
            assert [x["statusCode"] for x in tries] == [500, 500, 200]
            assert tries[0]["error"] and tries[2]["error"] is None
        # Redeliver an attempt: the event is sent again, with the same id.
        target = next(iter(want))
        n0 = rcv.seen[target]
        first = [x for x in log if x["eventId"] == target][0]
        r = ok(a.post("/v1/admin/hooks/%s/deliveries/%s/redeliver" % (hook["id"], first["id"])), 200)
        assert r["redelivered"] == first["id"]
        wait_for(lambda: rcv.seen[target] > n0, 30, "the redelivery")
        # Paging the log.
        page = ok(a.get("/v1/admin/hooks/%s/deliveries?limit=2" % hook["id"]), 200)
        assert len(page["value"]) == 2 and page.get("nextLink")
        # A hook made now gets only what happens from now on.
        late = Receiver(SECRET)
        try:
            add_hook(a, late.url, events=["subscription.created"])
            s = ok(a.post("/v1/admin/subscriptions", {"userId": user["id"], "planId": plan["id"]}), 201)
            wait_for(lambda: late.ids(), 30, "the late hook's delivery")
            got = [r for r in late.requests()]
            assert {json.loads(r[2])["resourceId"] for r in got} == {s["id"]}
        finally:
            late.close()
    finally:
        rcv.close()


def test_receiver_down_during_kill9_still_gets_the_event():
    d = Daemon().start()
    rcv = None
    try:
        a = d.admin()
        # A port nobody listens on yet: the receiver comes up later on it.
        probe = Receiver(SECRET)
        port = probe.port
        probe.close()
        add_hook(a, "http://127.0.0.1:%d/hook" % port, events=["subscription.created"])
        user, plan = new_user_plan(a)
        sub = ok(a.post("/v1/admin/subscriptions", {"userId": user["id"], "planId": plan["id"]}), 201)
        # It has been tried (connection refused) at least once before the crash.
        wait_for(lambda: ok(a.get("/v1/admin/hooks"), 200)["value"] and
                 any(ok(a.get("/v1/admin/hooks/%s/deliveries" % h["id"]), 200)["value"]
                     for h in ok(a.get("/v1/admin/hooks"), 200)["value"]), 30, "a failed attempt")
        d.kill9()
        rcv = Receiver(SECRET, port=port)
        d.start()
        wait_for(lambda: any(json.loads(r[2])["resourceId"] == sub["id"] for r in rcv.requests()), 90,
                 "the event after the restart")
        assert all(r[3] for r in rcv.requests())
    finally:
        if rcv:
            rcv.close()
        d.cleanup()


def make_subscriptions(a_port, token, user, plan, n, threads=4):
    """Creates n subscriptions from several clients; returns their ids."""
    from harness import Client
    ids, lock = [], threading.Lock()

    def work(k):
        c = Client(a_port, token)
        mine = []
        for _ in range(k):
            mine.append(ok(c.post("/v1/admin/subscriptions", {"userId": user["id"], "planId": plan["id"]}),
                           201)["id"])
        c.close()
        with lock:
            ids.extend(mine)
    ts = [threading.Thread(target=work, args=(n // threads + (1 if i < n % threads else 0),))
          for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return ids


def test_ten_thousand_events_to_three_hooks_one_always_failing():
    n = 10000 if SLOW == 1 else 2000
    d = Daemon(extra_args=["--no-request-log"]).start()
    good1, good2 = Receiver(SECRET), Receiver(SECRET)
    bad = Receiver(SECRET, answer=lambda k, ev: 500)
    try:
        a = d.admin()
        for r in (good1, bad, good2):
            add_hook(a, r.url, events=["subscription.created"])
        user, plan = new_user_plan(a)
        t0 = time.monotonic()
        ids = set(make_subscriptions(d.admin_port, d.admin_token, user, plan, n))
        t_made = time.monotonic()
        events, _ = feed(a)
        want = {e["id"] for e in events if e["type"] == "subscription.created" and e["resourceId"] in ids}
        assert len(want) == n

        def all_in():
            return want <= good1.ids() and want <= good2.ids()
        # On PostgreSQL every delivery record is a commit of its own (no group commit yet): the same
        # promise, with a longer wait on a loaded machine.
        wait_for(all_in, 120 if os.environ.get("WAPD_TEST_PG") else 30, "every event at both good hooks")
        t_all = time.monotonic()
        print("  %d events made in %.1fs; both good hooks had all %.1fs after the first, %.1fs after "
              "the last; the failing hook got %d requests" % (n, t_made - t0, t_all - t0, t_all - t_made,
                                                              len(bad.requests())))
        assert all(r[3] for r in good1.requests() + good2.requests())
        assert len(bad.requests()) > 0
    finally:
        for r in (good1, good2, bad):
            r.close()
        d.cleanup()


def test_kill9_during_an_event_stream_loses_nothing():
    """Three kill -9 while subscriptions are being made: every acknowledged create has its event in the
    feed, and every event in the feed reaches the hook at least once; duplicates carry the same id and
    body."""
    d = Daemon(extra_args=["--no-request-log"]).start()
    rcv = Receiver(SECRET)
    acked = []
    try:
        a = d.admin()
        add_hook(a, rcv.url, events=["subscription.created"])
        user, plan = new_user_plan(a)
        from harness import Client
        for round_ in range(3):
            stop = threading.Event()

            def stream(port):
                c = Client(port, d.admin_token)
                while not stop.is_set():
                    try:
                        r = c.post("/v1/admin/subscriptions", {"userId": user["id"], "planId": plan["id"]})
                    except Exception:
                        return  # the daemon died mid-request: not acknowledged
                    if r.status == 201:
                        acked.append(r.json()["id"])
            ts = [threading.Thread(target=stream, args=(d.admin_port,)) for _ in range(3)]
            for t in ts:
                t.start()
            time.sleep(random.uniform(0.3, 1.5))  # a random moment to crash at, not a wait
            d.kill9()
            stop.set()
            for t in ts:
                t.join()
            d.start()
        a = d.admin()
        events, _ = feed(a)
        created = {e["resourceId"]: e["id"] for e in events if e["type"] == "subscription.created"}
        missing = [s for s in acked if s not in created]
        assert not missing, "%d acknowledged creates have no event" % len(missing)
        want = set(created.values())
        wait_for(lambda: want <= rcv.ids(), 60, "every event delivered")
        bodies = {}
        for r in rcv.requests():
            bodies.setdefault(r[0], set()).add(r[2])
        assert all(len(b) == 1 for b in bodies.values()), "a duplicate differs from its first delivery"
        dups = sum(1 for i in want if rcv.seen.get(i, 0) > 1)
        print("  %d acknowledged creates, %d events, %d delivered more than once" % (len(acked), len(want),
                                                                                      dups))
    finally:
        rcv.close()
        d.cleanup()


def test_automation_example_prunes_on_checkpoint_created(d):
    """deploy/examples/prune_checkpoints.py as a hook: a new checkpoint triggers a prune of the plan's old
    ones; a request with a bad signature is refused."""
    import os
    import subprocess
    import urllib.request
    w = VmWorld(d)
    a = w.a
    vm = w.create("auto")
    example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "examples",
                           "prune_checkpoints.py")
    env = dict(os.environ, WAPD_HOOK_SECRET=SECRET, WAPD_ADMIN_TOKEN=d.admin_token)
    proc = subprocess.Popen([sys_python(), example, "--listen", "127.0.0.1:0", "--admin-url",
                             "http://127.0.0.1:%d" % d.admin_port, "--older-than-hours", "0"],
                            stdout=subprocess.PIPE, env=env)
    try:
        port = json.loads(proc.stdout.readline())["port"]
        # A forged request: 401.
        req = urllib.request.Request("http://127.0.0.1:%d/" % port, data=b'{"type":"vm.checkpoint.created"}',
                                     headers={"X-Wapd-Signature": "sha256=00"}, method="POST")
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("a bad signature was accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 401
        hook = add_hook(a, "http://127.0.0.1:%d/" % port, events=["vm.checkpoint.created"])
        r = w.t.request("PUT", w.base + "/vms/%s/checkpoint" % vm["id"], body={"name": "nightly"})
        assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
        # The receiver started a prune of this plan's checkpoints older than 0 h: the new one goes too.
        line = json.loads(proc.stdout.readline())
        assert line["msg"] == "prune started" and line["vm"] == vm["id"] and line["planId"] == w.plan["id"]
        done = wait_job(a, "/v1/admin/jobs/" + line["job"])
        assert done["kind"] == "checkpoint.prune" and done["status"] == "succeeded"
        err(w.t.get(w.base + "/vms/%s/checkpoint" % vm["id"]), 404, "NoCheckpoint")
        log = ok(a.get("/v1/admin/hooks/%s/deliveries" % hook["id"]), 200)["value"]
        assert [x["statusCode"] for x in log] == [204]
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def sys_python():
    import sys
    return sys.executable


def metric(a, name):
    body = a.get("/metrics").body
    text = body.decode() if isinstance(body, bytes) else body
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError("no metric " + name)


def test_hanging_hook_does_not_hold_back_others_and_old_deliveries_give_up():
    """A receiver that never answers (timeout 1 s) and one that refuses everything, beside a good one: the
    good one gets every event at once; after --hook-max-age-seconds the bad deliveries are marked failed
    and are tried no more."""
    d = Daemon(extra_args=["--hook-timeout-seconds", "1", "--hook-max-age-seconds", "3"]).start()
    release = threading.Event()
    hang = Receiver(SECRET, answer=lambda n, ev: (release.wait(60), 200)[1])
    good = Receiver(SECRET)
    try:
        a = d.admin()
        hanging = add_hook(a, hang.url, events=["subscription.created"])
        refused = add_hook(a, "http://127.0.0.1:1/closed", events=["subscription.created"])
        add_hook(a, good.url, events=["subscription.created"])
        user, plan = new_user_plan(a)
        subs = {ok(a.post("/v1/admin/subscriptions", {"userId": user["id"], "planId": plan["id"]}), 201)["id"]
                for _ in range(40)}
        wait_for(lambda: {json.loads(r[2])["resourceId"] for r in good.requests()} >= subs, 30,
                 "every event at the good hook while the other hangs")
        # After the maximum age, every delivery to the two bad hooks is given up: 80 of them.
        wait_for(lambda: metric(a, "wapd_hook_deliveries_given_up_total") >= 80, 60, "deliveries given up")
        log = ok(a.get("/v1/admin/hooks/%s/deliveries?limit=1000" % refused["id"]), 200)["value"]
        assert log and all(x["statusCode"] is None and x["error"] for x in log)
        timeouts = ok(a.get("/v1/admin/hooks/%s/deliveries?limit=1000" % hanging["id"]), 200)["value"]
        assert timeouts and all(x["statusCode"] is None for x in timeouts)
        n = len(ok(a.get("/v1/admin/hooks/%s/deliveries?limit=1000" % refused["id"]), 200)["value"])
        # Nothing is tried any more: a new page of the log stays the same while an event for the good hook
        # goes through (a full sender round).
        ok(a.post("/v1/admin/subscriptions", {"userId": user["id"], "planId": plan["id"]}), 201)
        wait_for(lambda: len(good.ids()) >= 41, 30, "one more event")
        extra = len(ok(a.get("/v1/admin/hooks/%s/deliveries?limit=1000" % refused["id"]), 200)["value"])
        assert extra <= n + 1  # at most the new event's own first attempt
    finally:
        release.set()
        hang.close()
        good.close()
        d.cleanup()


def test_inventory_changes_are_events():
    """Out-of-band changes that inventory sync finds are events: a VM gone from its host (vm.missing, and
    its power state unknown), and a power state changed on the host while wapd was down."""
    d = Daemon().start()
    try:
        w = VmWorld(d)
        a = w.a
        gone = w.create("gone")
        moved = w.create("moved")
        host = w.hosts[0]["id"]
        _, cursor = feed(a)
        ok(a.post("/v1/admin/hosts/%s/simulate" % host, {"regenerateIds": [gone["id"]]}), 200)
        d.stop()
        # While wapd is down, someone stops a VM on the host itself.
        hyp = None
        for vm in sim_vms(d.state_dir, host).values():
            if vm.get("name") == "moved":
                vm["powerState"] = "stopped"
                sim_vm_put(d.state_dir, host, vm)
                hyp = vm["hypervisorId"]
        assert hyp, "the sim record of the VM was found"
        d.start()
        a = d.admin()
        r = a.post("/v1/admin/hosts/%s/refresh" % host)
        assert wait_job(a, r.header("Location"))["status"] == "succeeded"
        events, _ = feed(a, cursor)
        missing = [e for e in events if e["type"] == "vm.missing"]
        assert [e["resourceId"] for e in missing] == [gone["id"]]
        assert missing[0]["data"]["hostId"] == host and missing[0]["data"]["lastPowerState"] == "running"
        changes = {(e["resourceId"], e["data"]["from"], e["data"]["to"])
                   for e in events if e["type"] == "vm.powerStateChanged"}
        assert (gone["id"], "running", "unknown") in changes
        assert (moved["id"], "running", "stopped") in changes, changes
    finally:
        d.cleanup()


test_inventory_changes_are_events.sim_only = "POST /hosts/{id}/simulate (new hypervisor ids) is a sim host's own call"


def test_events_expire_after_retention_unless_a_delivery_needs_them():
    d = Daemon(extra_args=["--event-retention-seconds", "2"]).start()
    try:
        a = d.admin()
        add_hook(a, "http://127.0.0.1:1/closed", events=["subscription.suspended"])
        user, plan = new_user_plan(a)
        sub = ok(a.post("/v1/admin/subscriptions", {"userId": user["id"], "planId": plan["id"]}), 201)
        r = a.patch("/v1/admin/subscriptions/" + sub["id"], {"state": "suspended"})
        assert r.status in (200, 202)
        # The subscription's own events (its suspend job's end names it too, as job.succeeded).
        types = lambda: [e["type"] for e in feed(a)[0]  # noqa: E731
                         if e["resourceId"] == sub["id"] and e["type"].startswith("subscription.")]
        assert types() == ["subscription.created", "subscription.suspended"]
        # The created event goes after 2 s; the suspended one stays while its delivery is pending.
        wait_for(lambda: types() == ["subscription.suspended"], 30, "the old event purged")
    finally:
        d.cleanup()


def test_billing_and_role_events(d):
    """What billing and automation need beyond VMs: plan changes, a subscription's deletion, and a role's
    scaling, each with its resource."""
    from test_vmroles import RoleWorld
    w = RoleWorld(d)
    a = w.a
    _, cursor = feed(a)
    r = w.t.post(w.role_path(), {"name": "web", "galleryItemId": w.item["id"], "instanceCount": 1})
    rid = r.json()["id"]
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    r = w.t.post(w.role_path(rid) + "/scale", {"instanceCount": 3})
    assert wait_job(w.t, r.header("Location"))["status"] == "succeeded"
    r = a.patch("/v1/admin/plans/" + w.plan["id"], {"quotas": {"vms": 50}})
    assert wait_job(a, r.header("Location"))["status"] == "succeeded"
    r = a.request("DELETE", "/v1/admin/subscriptions/" + w.sub["id"])
    assert wait_job(a, r.header("Location"), 60)["status"] == "succeeded"
    events, _ = feed(a, cursor)
    scaled = [e for e in events if e["type"] == "vmrole.scaled"]
    assert [(e["resourceId"], e["data"]["from"], e["data"]["to"]) for e in scaled] == [(rid, 1, 3)]
    assert scaled[0]["subscriptionId"] == w.sub["id"]
    plan = [e for e in events if e["type"] == "plan.updated"]
    assert len(plan) == 1 and plan[0]["resourceId"] == w.plan["id"] and plan[0]["subscriptionId"] is None
    assert plan[0]["data"]["changes"] == {"quotas": {"vms": 50}}
    assert plan[0]["data"]["plan"]["quotas"]["vms"] == 50
    deleted = [e for e in events if e["type"] == "subscription.deleted"]
    assert [e["resourceId"] for e in deleted] == [w.sub["id"]]
    # Its role went with it, and says so.
    assert [(e["resourceId"], e["data"]) for e in events if e["type"] == "vmrole.deleted"] == [
        (rid, {"name": "web"})]
    # The role's VMs were deleted with the subscription, each announced once.
    gone = [e["resourceId"] for e in events if e["type"] == "vm.deleted"]
    assert len(gone) == 3 and len(set(gone)) == 3
    # The last event about the subscription is its deletion, followed only by the end of the job that
    # deleted it.
    last = [e for e in events if e["subscriptionId"] == w.sub["id"]][-2:]
    assert [e["type"] for e in last] == ["subscription.deleted", "job.succeeded"], last
    assert last[1]["data"]["kind"] == "subscription.delete" and last[1]["resourceId"] == w.sub["id"]


def test_tls_certificates_are_verified(d):
    """An https hook whose receiver shows a self-signed certificate is not delivered to: every attempt
    fails on the certificate, and the log says so."""
    import os
    import ssl
    import subprocess
    import tempfile
    tmp = tempfile.mkdtemp(prefix="wapd-tls-")
    key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    rcv = Receiver(SECRET)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    rcv.server.socket = ctx.wrap_socket(rcv.server.socket, server_side=True)
    try:
        a = d.admin()
        hook = add_hook(a, "https://127.0.0.1:%d/hook" % rcv.port, events=["subscription.created"])
        user, plan = new_user_plan(a)
        ok(a.post("/v1/admin/subscriptions", {"userId": user["id"], "planId": plan["id"]}), 201)
        log = wait_for(lambda: ok(a.get("/v1/admin/hooks/%s/deliveries" % hook["id"]), 200)["value"], 30,
                       "an attempt")
        assert log[0]["statusCode"] is None and "certificate" in log[0]["error"].lower(), log[0]
        assert rcv.requests() == []  # nothing was sent to a receiver that could not be verified
        ok(a.patch("/v1/admin/hooks/" + hook["id"], {"active": False}), 200)
    finally:
        rcv.close()
        subprocess.run(["rm", "-rf", tmp])
