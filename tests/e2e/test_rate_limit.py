"""The tenant rate limit (--rate-limit N): each tenant token has a bucket of 2N requests, full when first used
and refilled at N per second; beyond it 429 TooManyRequests with Retry-After. The admin listener, requests
without a valid token and /healthz are never limited; refusals are counted in /metrics."""
import re

from harness import Daemon, err, ok, uid, wait_for

N = 3


def tenant_token(a):
    user = ok(a.post("/v1/admin/users", {"email": uid()[:8] + "@example.com", "name": "rl"}), 201)
    return ok(a.post("/v1/admin/users/%s/tokens" % user["id"]), 201)["token"]


def refused_total(a):
    m = re.search(r"^wapd_http_rate_limited_total (\d+)$", a.get("/metrics", token="").body, re.M)
    assert m, "wapd_http_rate_limited_total missing from /metrics"
    return int(m.group(1))


def burst(client, count):
    """Sends count requests as fast as one connection allows; returns the responses."""
    return [client.get("/v1/subscriptions") for _ in range(count)]


def test_burst_is_refused_after_the_bucket_and_refills():
    d = Daemon(extra_args=["--rate-limit", str(N)]).start()
    try:
        a = d.admin()
        t = d.tenant(tenant_token(a))
        before = refused_total(a)
        answers = burst(t, 4 * N)
        # A full bucket holds 2N: those always pass, whatever the timing.
        assert [r.status for r in answers[:2 * N]] == [200] * (2 * N)
        refused = [r for r in answers if r.status == 429]
        assert refused, "no 429 in a burst of %d with --rate-limit %d" % (4 * N, N)
        for r in refused:
            err(r, 429, "TooManyRequests")
            assert int(r.header("Retry-After")) >= 1
            assert r.header("Content-Type") == "application/json"
        assert refused_total(a) - before == len(refused)
        # The bucket refills: a request goes through again.
        wait_for(lambda: t.get("/v1/subscriptions").status == 200, 10, "the bucket to refill")
    finally:
        d.cleanup()


def test_each_token_has_its_own_bucket_and_admin_is_never_limited():
    d = Daemon(extra_args=["--rate-limit", str(N)]).start()
    try:
        a = d.admin()
        one, two = d.tenant(tenant_token(a)), d.tenant(tenant_token(a))
        wait_for(lambda: one.get("/v1/subscriptions").status == 429, 10, "the first token to be limited")
        ok(two.get("/v1/subscriptions"), 200)
        # The admin listener answers every request of a burst, before and after tenants were limited.
        assert [a.get("/v1/admin/clouds").status for _ in range(8 * N)] == [200] * (8 * N)
        # Requests without a valid token are 401, never 429, and are not counted against any bucket.
        assert {one.get("/v1/subscriptions", token="not-a-token").status for _ in range(4 * N)} == {401}
        # /healthz on the tenant listener is not limited.
        assert {one.get("/healthz", token="").status for _ in range(4 * N)} == {200}
    finally:
        d.cleanup()


def test_no_limit_by_default(d):
    t = d.tenant(tenant_token(d.admin()))
    assert {r.status for r in burst(t, 40)} == {200}
