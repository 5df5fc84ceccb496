"""wapctl's core against a real daemon: exit statuses, every noun's list equal to the API's, JSON types of
the options, names standing for IDs, update with If-Match, a plan quota change with --wait, and tables that
fit 100 columns."""
import json
import os
import subprocess

import harness
from harness import ok, uid

# wapctl beside wapd; a sanitized run (build/asan/wapd) has no sanitized wapctl and uses build/wapctl.
WAPCTL = os.environ.get("WAPCTL_BIN", os.path.join(os.path.dirname(harness.WAPD_BIN) or ".", "wapctl"))
if "WAPCTL_BIN" not in os.environ and not os.path.exists(WAPCTL):
    WAPCTL = "build/wapctl"


def ctl(d, *args, env=None):
    """Runs wapctl against d's admin listener: (exit status, stdout, stderr)."""
    argv = [WAPCTL, "--url", "http://127.0.0.1:%d" % d.admin_port, "--token", d.admin_token] + list(args)
    e = dict(os.environ)
    e.pop("WAPD_URL", None)
    e.pop("WAPD_TOKEN", None)
    e.update(env or {})
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60 * harness.SLOW, env=e)
    return p.returncode, p.stdout, p.stderr


def ctl_json(d, *args):
    rc, out, errout = ctl(d, "-o", "json", *args)
    assert rc == 0, "wapctl %r: %d %s" % (args, rc, errout)
    return json.loads(out)


def api_all(client, path):
    """Every item of a list, following nextLink."""
    items, nxt = [], path
    while nxt:
        page = ok(client.get(nxt), 200)
        items += page["value"]
        nxt = page.get("nextLink")
        if nxt and "/v1/" in nxt:
            nxt = nxt[nxt.index("/v1/"):]
    return items


def test_exit_statuses(d):
    assert subprocess.run([WAPCTL], capture_output=True).returncode == 2
    assert ctl(d, "nosuchnoun", "list")[0] == 2
    assert ctl(d, "clouds")[0] == 2
    assert ctl(d, "clouds", "frobnicate")[0] == 2
    assert ctl(d, "clouds", "list", "--no-such-option", "x")[0] == 2
    assert ctl(d, "-o", "yaml", "clouds", "list")[0] == 2
    assert ctl(d, "clouds", "show")[0] == 2
    assert ctl(d, "sizes", "create", "--name", "x", "--cores", "two")[0] == 2
    assert ctl(d, "vms", "create")[0] == 2
    rc, _, errout = ctl(d, "clouds", "show", uid())
    assert rc == 1 and errout.startswith("NotFound:"), (rc, errout)
    rc, _, errout = ctl(d, "clouds", "create", "--description", "no name")
    assert rc == 1 and "InvalidRequest" in errout, (rc, errout)
    rc, _, errout = ctl(d, "--token", "wrong", "clouds", "list")
    assert rc == 1 and "Unauthorized" in errout, (rc, errout)
    p = subprocess.run([WAPCTL, "--url", "http://127.0.0.1:1", "--token", "t", "clouds", "list"],
                       capture_output=True, text=True)
    assert p.returncode == 3, p
    p = subprocess.run([WAPCTL, "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "nouns:" in p.stdout
    p = subprocess.run([WAPCTL, "plans", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "--quota KEY=N" in p.stdout


def test_state_dir_and_environment(d):
    ok(d.admin().post("/v1/admin/clouds", {"name": "env-" + uid()[:8]}), 201)
    want = api_all(d.admin(), "/v1/admin/clouds")
    env = dict(os.environ, WAPD_URL="http://127.0.0.1:%d/" % d.admin_port, WAPD_TOKEN=d.admin_token)
    p = subprocess.run([WAPCTL, "-o", "json", "clouds", "list"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p
    assert json.loads(p.stdout) == {"value": want}
    # --state-dir reads ports.json; the token was given on the command line, so admin.token is absent.
    env.pop("WAPD_URL")
    p = subprocess.run([WAPCTL, "--state-dir", d.state_dir, "-o", "json", "clouds", "list"],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p
    assert json.loads(p.stdout) == {"value": want}


def test_every_list_equals_the_api(d):
    w = harness.World(d)
    a = w.a
    for i in range(105):  # more than one page of the default limit
        ok(a.post("/v1/admin/clouds", {"name": "page-%03d-%s" % (i, uid()[:6])}), 201)
    client, sub, user = w.tenant()
    ok(a.post("/v1/admin/hooks", {"url": "http://127.0.0.1:9/h", "events": ["vm.*"], "secret": "s"}), 201)
    nouns = {"clouds": "/v1/admin/clouds", "hosts": "/v1/admin/hosts", "sizes": "/v1/admin/sizes",
             "images": "/v1/admin/images", "gallery": "/v1/admin/galleryItems", "plans": "/v1/admin/plans",
             "users": "/v1/admin/users", "subscriptions": "/v1/admin/subscriptions", "vms": "/v1/admin/vms",
             "jobs": "/v1/admin/jobs", "hooks": "/v1/admin/hooks"}
    for noun, path in nouns.items():
        assert ctl_json(d, noun, "list") == {"value": api_all(a, path)}, noun
    assert len(ctl_json(d, "clouds", "list")["value"]) > 100
    tokens = ctl_json(d, "tokens", "list", "--user-id", user["email"])
    assert tokens == {"value": api_all(a, "/v1/admin/users/%s/tokens" % user["id"])}
    assert len(tokens["value"]) == 1
    events = ctl_json(d, "events", "list")["value"]
    assert [e["id"] for e in events][:3] == [e["id"] for e in ok(a.get("/v1/admin/events?limit=3"), 200)["value"]]
    # A filter is a query parameter.
    assert ctl_json(d, "jobs", "list", "--status", "failed") == {"value": api_all(a, "/v1/admin/jobs?status=failed")}


def test_create_types_and_names(d):
    name = "S" + uid()[:8]
    size = ctl_json(d, "sizes", "create", "--name", name, "--cores", "2", "--memory-mb", "2048",
                    "--dynamic-memory-enabled", "true", "--dynamic-memory-minimum-mb", "512",
                    "--dynamic-memory-maximum-mb", "4096")
    assert size["cores"] == 2 and size["memoryMB"] == 2048
    assert size["dynamicMemory"] == {"enabled": True, "minimumMB": 512, "maximumMB": 4096}
    assert ctl_json(d, "sizes", "show", name) == ok(d.admin().get("/v1/admin/sizes/" + size["id"]), 200)
    cloud = ctl_json(d, "clouds", "create", "--name", "c-" + uid()[:8])
    img = ok(d.admin().post("/v1/admin/images", {"name": "i-" + uid()[:6], "osType": "linux",
                                                 "generation": 1, "osDiskGB": 20}), 201)
    img2 = ok(d.admin().post("/v1/admin/images", {"name": "i-" + uid()[:6], "osType": "linux",
                                                  "generation": 1, "osDiskGB": 20}), 201)
    other_size = ctl_json(d, "sizes", "create", "--name", name + "x", "--cores", "1", "--memory-mb", "512")
    plan = ctl_json(d, "plans", "create", "--name", "p-" + uid()[:8], "--cloud-id", cloud["name"],
                    "--quota", "vms=3", "--quota", "cores=null", "--image-id", img["id"],
                    "--image-id", img2["id"], "--size-names", "%s,%s" % (name, other_size["name"]),
                    "--checkpoint-retention-hours", "null")
    assert plan["quotas"]["vms"] == 3 and plan["quotas"].get("cores") is None
    assert plan["imageIds"] == [img["id"], img2["id"]] and plan["sizeNames"] == [name, other_size["name"]]
    assert plan["checkpointRetentionHours"] is None and plan["cloudId"] == cloud["id"]
    # An id-valued field naming nothing is refused before anything is sent.
    rc, _, errout = ctl(d, "plans", "create", "--name", "p-" + uid()[:8], "--cloud-id", "no-such-cloud")
    assert rc == 1 and "no-such-cloud" in errout, (rc, errout)
    # A name two items share is ambiguous.
    ctl_json(d, "clouds", "create", "--name", "twin")
    ctl_json(d, "clouds", "create", "--name", "twin")
    rc, _, errout = ctl(d, "clouds", "show", "twin")
    assert rc == 1 and "twin" in errout
    rc, _, errout = ctl(d, "clouds", "show", "no-such-cloud-" + uid()[:6])
    assert rc == 1 and "NotFound" in errout
    # update sends If-Match from a GET; delete too.
    upd = ctl_json(d, "clouds", "update", cloud["id"], "--description", "changed")
    assert upd["description"] == "changed"
    assert ctl(d, "clouds", "delete", cloud["name"])[0] == 1  # the plan uses it: 409
    assert ctl(d, "sizes", "delete", name)[0] == 1  # the plan names it
    other = ctl_json(d, "clouds", "create", "--name", "gone-" + uid()[:6])
    rc, out, _ = ctl(d, "clouds", "delete", other["name"])
    assert rc == 0 and out == ""
    assert d.admin().get("/v1/admin/clouds/" + other["id"]).status == 404


def test_plan_quota_update_waits(d):
    w = harness.World(d)
    name = w.plan["name"] + "-" + uid()[:6]
    rc, _, errout = ctl(d, "plans", "update", w.plan["id"], "--name", name, "--wait")
    assert rc == 0, errout
    job = ctl_json(d, "plans", "update", name, "--quota", "vms=7", "--wait")
    assert job["status"] == "succeeded" and job["resourceId"] == w.plan["id"], job
    assert ok(d.admin().get("/v1/admin/plans/" + w.plan["id"]), 200)["quotas"]["vms"] == 7
    rc, out, errout = ctl(d, "plans", "update", w.plan["id"], "--quota", "vms=8", "--wait")
    assert rc == 0, errout
    assert any(line.startswith("quotas ") and '"vms":8' in line for line in out.splitlines()), out
    assert ok(d.admin().get("/v1/admin/plans/" + w.plan["id"]), 200)["quotas"]["vms"] == 8
    jobs = ok(d.admin().get("/v1/admin/jobs?resourceId=" + w.plan["id"]), 200)["value"]
    rc, out, _ = ctl(d, "jobs", "wait", jobs[0]["id"])
    assert rc == 0 and "succeeded" in out


def test_tables_fit_100_columns(d):
    a = d.admin()
    ok(a.post("/v1/admin/clouds", {"name": "long-" + "x" * 120, "description": "d" * 300}), 201)
    ok(a.post("/v1/admin/clouds", {"name": "ünïcödé-" + "é" * 50}), 201)
    rc, out, _ = ctl(d, "clouds", "list")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["id", "name"]
    assert len(lines) == 1 + len(api_all(a, "/v1/admin/clouds"))
    assert all(len(line) <= 100 for line in lines), max(len(line) for line in lines)
    assert any("…" in line for line in lines)
    cloud = api_all(a, "/v1/admin/clouds")[-1]
    rc, out, _ = ctl(d, "clouds", "show", cloud["id"])
    assert rc == 0 and all(len(line) <= 100 for line in out.splitlines())
    assert any(line.startswith("id ") and cloud["id"] in line for line in out.splitlines())


def test_jobs_wait_exits_1_when_the_job_failed(d):
    tag = uid()[:6]
    ctl_json(d, "clouds", "create", "--name", "fail-" + tag)
    ctl_json(d, "hosts", "create", "--name", "failing-" + tag, "--cloud-id", "fail-" + tag, "--agent-kind",
             "sim", "--agent-uri", "sim://?failRate=1", "--capacity-cores", "8", "--capacity-memory-mb",
             "16384", "--capacity-storage-gb", "500")
    img = ctl_json(d, "images", "create", "--name", "img-" + tag, "--os-type", "linux", "--generation", "1",
                   "--os-disk-gb", "20")
    ctl_json(d, "sizes", "create", "--name", "sz-" + tag, "--cores", "1", "--memory-mb", "512")
    ctl_json(d, "plans", "create", "--name", "plan-" + tag, "--cloud-id", "fail-" + tag, "--state", "public")
    user = ctl_json(d, "users", "create", "--email", tag + "@example.com")
    sub = ctl_json(d, "subscriptions", "create", "--user-id", user["email"], "--plan-id", "plan-" + tag,
                   "--display-name", "sub-" + tag)
    tok = ctl_json(d, "tokens", "create", "--user-id", user["id"])
    r = d.tenant(tok["token"]).post("/v1/subscriptions/%s/vms" % sub["id"], {
        "name": "doomed", "imageId": img["id"], "size": "sz-" + tag, "dataDisks": []})
    assert r.status == 202, r
    job_id = r.header("Location").rsplit("/", 1)[1]
    rc, out, errout = ctl(d, "-o", "json", "jobs", "wait", job_id)
    assert rc == 1, (rc, errout)
    job = json.loads(out)
    assert job["status"] == "failed" and errout.startswith(job["error"]["code"] + ": "), (job, errout)
    assert job == ok(d.admin().get("/v1/admin/jobs/" + job_id), 200)
    # Restarting it fails again: --wait says so the same way; canceling an ended job is 409.
    rc, _, errout = ctl(d, "jobs", "restart", job_id, "--wait")
    assert rc == 1 and errout.startswith(job["error"]["code"]), (rc, errout)
    rc, _, errout = ctl(d, "jobs", "cancel", job_id)
    assert rc == 1 and errout.startswith("Conflict:"), (rc, errout)
