"""Periodic work led by one daemon among several on one PostgreSQL database (PostgreSQL only: skipped
without WAPD_TEST_PG). Two daemons share a fresh database: exactly one says it leads (/metrics wapd_leader,
its log); only the leader sends hook deliveries and closes usage periods, while events are made through
both, and each delivery is sent once. kill -9 of the leader: the other leads within a few seconds, sends
what was pending, goes on closing the periods where the dead one stopped (one usage record per VM, meter
and period across the handover) and beats the hosts (a dead agent's host is marked unreachable, once). The
leader's database session ended by the server: a daemon leads again within seconds, and the one that lost
it says so.

Hosts are wapd-agents (sim hosts are the single-process kind)."""
import json
import time
import unittest

from harness import PG_BASE, Agent, Daemon, ok, uid, wait_for, wait_job
from pgdb import _psql
from receiver import Receiver
from test_metrics import scrape
from test_vms import VmWorld

SECRET = "leader-secret-" + "x" * 20
PERIOD_S = 2
# How long a daemon may take to lead once the leader is gone: it tries every second (the main loop's
# tick); the rest is margin for a loaded machine. The issue asks for a takeover "within a few seconds".
TAKEOVER_S = 10


def need_pg():
    if not PG_BASE:
        raise unittest.SkipTest("several daemons share a PostgreSQL database: WAPD_TEST_PG is unset "
                                "(make e2e-pg sets it)")


def samples(d):
    """The daemon's /metrics samples: {"name{labels}": value}."""
    return scrape(d.admin())[1]


def leading(d):
    return samples(d)["wapd_leader"] == 1


def leader_lines(d):
    """The daemon's log lines about the leadership, in order: [True (took it) / False (lost it)]."""
    out = []
    for line in d.stderr().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("msg") == "leader":
            out.append(rec.get("leader"))
    return out


def pair():
    """Two daemons on one fresh database, with short usage periods and heartbeats: (first, second)."""
    args = ["--usage-period-seconds", str(PERIOD_S), "--host-heartbeat-seconds", "1"]
    d1 = Daemon(extra_args=args).start()
    try:
        d2 = Daemon(extra_args=args + ["--store", d1.pg_uri]).start()
    except Exception:
        d1.cleanup()
        raise
    d2.pg_uri = d1.pg_uri  # its store_rows read the shared database; d1's cleanup drops it
    return d1, d2


def the_leader(d1, d2):
    """Polls until exactly one of the two says it leads and the other that it does not: (leader, other)."""
    def one():
        a, b = leading(d1), leading(d2)
        return (d1, d2) if a and not b else (d2, d1) if b and not a else None
    return wait_for(one, TAKEOVER_S, "exactly one leader")


def closed_until(d):
    rows = d.store_rows("SELECT value FROM meta WHERE key = ?", ("usage.closedUntilMs",))
    return int(rows[0][0]) if rows else 0


def usage_of(d, vm_id):
    """Every usage record of the VM, through d."""
    a, out, cursor = d.admin(), [], None
    while True:
        page = ok(a.get("/v1/admin/usage?limit=1000" + ("&after=" + cursor if cursor else "")), 200)
        out += [r for r in page["value"] if r["resourceId"] == vm_id]
        if not page["value"]:
            return out
        cursor = page["nextCursor"]


def test_one_leader_delivers_and_closes_and_the_other_takes_over():
    need_pg()
    d1, d2 = pair()
    agent = Agent().start()
    rcv = None
    try:
        leader, other = the_leader(d1, d2)
        assert leader_lines(leader) == [True] and leader_lines(other) == []
        # A VM on a wapd-agent host, so that periods closed give usage records.
        w = VmWorld(d1, hosts=({"kind": "http", "uri": agent.uri, "token": agent.token},))
        vm = w.create("metered")
        created_ms = int(time.time() * 1000)
        wait_for(lambda: closed_until(d1) > created_ms, 30, "a usage period closed after the create")
        # Only the leader closes periods.
        assert samples(other).get("wapd_usage_close_duration_seconds_count", 0) == 0
        assert samples(leader)["wapd_usage_close_duration_seconds_count"] >= 1

        # Events made through both daemons reach the hook once each, all sent by the leader.
        blocked, accepted = [False], {}  # accepted: event id -> 200s answered

        def answer(n, ev):
            if blocked[0]:
                return 503
            accepted[ev["id"]] = accepted.get(ev["id"], 0) + 1
            return 200
        rcv = Receiver(SECRET, answer=answer)
        ok(d2.admin().post("/v1/admin/hooks", {"url": rcv.url, "events": ["user.*"], "secret": SECRET}), 201)
        users = [ok((d1, d2)[i % 2].admin().post("/v1/admin/users", {"email": uid()[:8] + "@example.com"}), 201)
                 for i in range(20)]
        events = [e for e in ok(d1.admin().get("/v1/admin/events?limit=1000"), 200)["value"]
                  if e["type"] == "user.created" and e["resourceId"] in {u["id"] for u in users}]
        assert len(events) == 20, events
        first = {e["id"] for e in events}
        wait_for(lambda: first <= rcv.ids(), 30, "the 20 deliveries")
        assert all(rcv.seen[i] == 1 for i in first), rcv.seen
        assert all(ok_sig for _, _, _, ok_sig, _ in rcv.requests())
        assert samples(leader)['wapd_hook_attempts_total{outcome="succeeded"}'] == 20
        assert samples(other)['wapd_hook_attempts_total{outcome="succeeded"}'] == 0
        assert samples(other)['wapd_hook_attempts_total{outcome="failed"}'] == 0

        # Deliveries left pending: the receiver refuses them, so each waits for its retry.
        blocked[0] = True
        more = [ok((d1, d2)[i % 2].admin().post("/v1/admin/users", {"email": uid()[:8] + "@example.com"}), 201)
                for i in range(6)]
        pending = {e["id"] for e in ok(d1.admin().get("/v1/admin/events?limit=1000"), 200)["value"]
                   if e["type"] == "user.created" and e["resourceId"] in {u["id"] for u in more}}
        assert len(pending) == 6
        wait_for(lambda: pending <= rcv.ids(), 30, "a refused attempt of each new delivery")
        assert samples(other)['wapd_hook_attempts_total{outcome="failed"}'] == 0

        # kill -9 of the leader: the other leads within a few seconds and sends what was pending.
        leader.kill9()
        killed_ms = int(time.time() * 1000)
        blocked[0] = False
        wait_for(lambda: leading(other), TAKEOVER_S, "the other daemon to lead")
        wait_for(lambda: leader_lines(other) == [True], 10, "the new leader's log line")
        wait_for(lambda: pending <= set(accepted) and samples(other)["wapd_hook_deliveries_pending"] == 0,
                 60, "the pending deliveries from the new leader")
        assert all(accepted[i] == 1 for i in pending), accepted
        assert samples(other)['wapd_hook_attempts_total{outcome="succeeded"}'] == 6
        # The first 20 were not sent again.
        assert all(rcv.seen[i] == 1 for i in first), rcv.seen

        # Periods go on closing from where the dead leader stopped: one record per meter and period.
        wait_for(lambda: closed_until(other) > killed_ms + PERIOD_S * 1000, 30, "periods closed after the kill")
        assert samples(other)["wapd_usage_close_duration_seconds_count"] >= 1
        records = usage_of(other, vm["id"])
        by = {}
        for r in records:
            by.setdefault((r["meter"], r["periodStart"]), []).append(r)
        assert by and all(len(v) == 1 for v in by.values()), [v for v in by.values() if len(v) > 1]
        for meter in {m for m, _ in by}:
            starts = sorted(s for m, s in by if m == meter)
            ends = {r["periodStart"]: r["periodEnd"] for r in records if r["meter"] == meter}
            assert all(ends[a] == b for a, b in zip(starts, starts[1:])), (meter, starts)
        last_end = max(r["periodEnd"] for r in records)
        assert last_end > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(killed_ms / 1000)), last_end
        # The survivor still serves the tenant, and the VM is there.
        t = other.tenant(w.token)
        assert ok(t.get(w.base + "/vms/" + vm["id"]), 200)["id"] == vm["id"]
        r = t.delete(w.base + "/vms/" + vm["id"])
        assert wait_job(t, r.header("Location"), 60)["status"] == "succeeded"
        # Heartbeats go on from the new leader: the host whose agent dies is marked unreachable, once.
        agent.kill9()
        host = "/v1/admin/hosts/" + w.hosts[0]["id"]
        wait_for(lambda: ok(other.admin().get(host), 200)["state"] == "unreachable", 30,
                 "the new leader's heartbeat to find the host gone")
        marks = [e for e in ok(other.admin().get("/v1/admin/events?limit=1000"), 200)["value"]
                 if e["type"] == "host.unreachable" and e["resourceId"] == w.hosts[0]["id"]]
        assert len(marks) == 1, marks
    finally:
        if rcv is not None:
            rcv.close()
        d2.cleanup()
        d1.cleanup()
        agent.cleanup()


def test_a_leader_whose_session_ends_lets_go_and_a_daemon_leads_again():
    need_pg()
    d1, d2 = pair()
    try:
        leader, other = the_leader(d1, d2)
        # The server ends the session that holds the leader lock ("wapdlead": PG_LEADER_LOCK) on this
        # database (an advisory lock is per database: other tests' daemons lead theirs), as a restart or an
        # operator would.
        rows = _psql(d1.pg_uri, "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_locks"
                                " WHERE locktype = 'advisory' AND granted AND classid = 2002874468"
                                " AND objid = 1818583396 AND objsubid = 1"
                                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        assert rows.strip() == "1", rows
        wait_for(lambda: leader_lines(leader)[-1:] == [False], TAKEOVER_S, "the leader to say it lost the lead")
        new, _ = the_leader(d1, d2)
        wait_for(lambda: leader_lines(new)[-1:] == [True], 10, "the new leader's log line")
        # Both still serve.
        for d in (d1, d2):
            ok(d.admin().post("/v1/admin/users", {"email": uid()[:8] + "@example.com"}), 201)
    finally:
        d2.cleanup()
        d1.cleanup()
