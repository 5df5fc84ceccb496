"""wapctl, the admin CLI, against the real daemon: every noun's `list -o json` and `show -o json` equal the API's
JSON (a list across pages too), tables fit 100 columns, a plan quota change waits for its job in one command,
`jobs wait` says by its exit status how the job ended, the exit statuses of bad usage, a closed port and an
error answer, --state-dir, `usage export` keeps every record exactly once across runs and kills, the backup
verb writes a database sqlite3 opens, and the bash completion and the man page cover every noun."""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import re
import tempfile

import yaml

from harness import ADMIN_TOKEN, SLOW, WAPD_BIN, Daemon, ok, uid, wait_for
from test_usage import drain
from test_vms import VmWorld

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
_beside = os.path.join(os.path.dirname(WAPD_BIN) or ".", "wapctl")
WAPCTL = os.environ.get("WAPCTL_BIN") or (_beside if os.path.exists(_beside) else "build/wapctl")
COMPLETION = os.path.join(ROOT, "deploy", "completion", "wapctl.bash")
MANPAGE = os.path.join(ROOT, "deploy", "man", "wapctl.1")
NOUNS = ("clouds hosts sizes images gallery plans users tokens subscriptions vms vmroles jobs hooks events "
         "usage checkpoints backup").split()
# Nouns the admin API lists, with their paths; tokens and backup are checked only once the contract
# document describes their paths.
LISTED = {"clouds": "/v1/admin/clouds", "hosts": "/v1/admin/hosts", "sizes": "/v1/admin/sizes",
          "images": "/v1/admin/images", "gallery": "/v1/admin/galleryItems", "plans": "/v1/admin/plans",
          "users": "/v1/admin/users", "tokens": "/v1/admin/tokens", "subscriptions": "/v1/admin/subscriptions",
          "vms": "/v1/admin/vms", "jobs": "/v1/admin/jobs", "hooks": "/v1/admin/hooks",
          "events": "/v1/admin/events", "usage": "/v1/admin/usage"}
FEEDS = ("events", "usage")


def documented(path):
    """True when schemas/openapi.yaml describes path (a path another part of the daemon adds)."""
    with open(os.path.join(ROOT, "schemas", "openapi.yaml")) as f:
        return path in yaml.safe_load(f)["paths"]


def ctl(d, *args, url=True, timeout=60):
    """Runs wapctl against d's admin listener; returns (exit status, stdout, stderr)."""
    pre = ["--url", "http://127.0.0.1:%d" % d.admin_port, "--token", ADMIN_TOKEN] if url else []
    p = subprocess.run([WAPCTL] + pre + list(args), capture_output=True, text=True, timeout=timeout * SLOW)
    return p.returncode, p.stdout, p.stderr


def ctl_json(d, *args):
    rc, out, errout = ctl(d, "-o", "json", *args)
    assert rc == 0, (args, rc, errout)
    return json.loads(out)


def api_all(a, path):
    """Every item of a list (following nextLink) or a feed (following nextCursor until a page is empty)."""
    items, cursor = [], None
    while True:
        if path.endswith(("/events", "/usage")):
            page = ok(a.get(path + ("?after=" + cursor if cursor else "")), 200)
            if not page["value"]:
                return items
            items += page["value"]
            cursor = page["nextCursor"]
            continue
        page = ok(a.get(path), 200)
        items += page["value"]
        if "nextLink" not in page:
            return items
        path = page["nextLink"][page["nextLink"].index("/v1/"):]


def stable_equal(d, a, noun, path):
    """wapctl's list equals the API's, read before and after it (a list that moved meanwhile is read again)."""
    for _ in range(5):
        before = api_all(a, path)
        got = ctl_json(d, noun, "list")
        after = api_all(a, path)
        if before == after:
            assert got == {"value": before}, noun
            return len(before)
    raise AssertionError("the %s list kept changing" % noun)


class World:
    """One of every listed thing, on the shared daemon: a VM world, a gallery item and a hook."""

    def __init__(self, d):
        self.w = VmWorld(d)
        self.a = self.w.a
        self.vm = self.w.create("ctl-vm")
        self.gallery = ok(self.a.post("/v1/admin/galleryItems", {
            "name": "ctl-role-" + uid()[:6], "version": "1.0.0", "imageId": self.w.image["id"],
            "defaultSize": self.w.small, "minInstances": 1, "maxInstances": 3}), 201)
        self.hook = ok(self.a.post("/v1/admin/hooks", {"url": "http://127.0.0.1:9/ctl", "events": ["vm.*"],
                                                       "secret": "s3cret-" + uid()[:6]}), 201)
        self.token = None
        if documented(LISTED["tokens"]):
            self.token = ok(self.a.post(LISTED["tokens"], {"name": "ctl-ro-" + uid()[:6], "scope": "readOnly"}),
                            201)

    def shown(self):
        """{noun: an item of it} for every noun with a show verb."""
        items = {"clouds": self.w.cloud, "hosts": self.w.hosts[0], "images": self.w.image,
                 "gallery": self.gallery, "plans": self.w.plan, "users": self.w.user, "subscriptions": self.w.sub,
                 "vms": self.vm, "hooks": self.hook}
        items["sizes"] = next(s for s in ok(self.a.get("/v1/admin/sizes?limit=1000"), 200)["value"]
                              if s["name"] == self.w.small)
        items["jobs"] = ok(self.a.get("/v1/admin/jobs?resourceId=" + self.vm["id"]), 200)["value"][0]
        if self.token is not None:
            items["tokens"] = self.token
        return items


_world = {}


def world(d):
    if id(d) not in _world:
        _world.clear()
        _world[id(d)] = World(d)
    return _world[id(d)]


def test_list_json_equals_the_api_across_pages(d):
    a = world(d).a
    # More clouds than one page (100 by default): wapctl follows nextLink.
    for i in range(120):
        ok(a.post("/v1/admin/clouds", {"name": "ctl-cloud-%03d-%s" % (i, uid()[:4])}), 201)
    assert "nextLink" in ok(a.get("/v1/admin/clouds"), 200)
    assert stable_equal(d, a, "clouds", "/v1/admin/clouds") > 120
    for noun, path in LISTED.items():
        if noun == "clouds" or (noun == "tokens" and not documented(path)):
            continue
        n = stable_equal(d, a, noun, path)
        assert n > 0 or noun in ("tokens", "usage"), noun


def test_show_json_equals_the_api_and_takes_a_name(d):
    wd = world(d)
    a = wd.a
    items = wd.shown()
    for noun, item in items.items():
        path = LISTED[noun] + "/" + item["id"]
        assert ctl_json(d, noun, "show", item["id"]) == ok(a.get(path), 200), noun
    # An ID may be the unique name.
    assert ctl_json(d, "clouds", "show", wd.w.cloud["name"]) == ok(a.get("/v1/admin/clouds/" + wd.w.cloud["id"]), 200)
    assert ctl_json(d, "sizes", "show", wd.w.small)["id"] == items["sizes"]["id"]
    assert ctl_json(d, "users", "show", wd.w.user["email"])["id"] == wd.w.user["id"]


def test_tables_fit_100_columns(d):
    wd = world(d)
    a = wd.a
    ok(a.post("/v1/admin/clouds", {"name": "wide-" + "x" * 120, "description": "y" * 300}), 201)
    runs = [(noun, "list") for noun in LISTED if noun != "tokens" or documented(LISTED[noun])]
    runs += [(noun, "show", item["id"]) for noun, item in wd.shown().items()]
    for args in runs:
        rc, out, errout = ctl(d, *args)
        assert rc == 0, (args, errout)
        assert out.strip(), args
        for line in out.splitlines():
            assert len(line) <= 100, (args, len(line), line)


def test_plan_quota_update_waits_for_its_job(d):
    wd = world(d)
    a = wd.a
    name = "ctl-plan-" + uid()[:6]
    plan = ok(a.post("/v1/admin/plans", {"name": name, "cloudId": wd.w.cloud["id"], "quotas": {"cores": 8}}), 201)
    sub = ok(a.post("/v1/admin/subscriptions", {"userId": wd.w.user["id"], "planId": plan["id"],
                                               "displayName": "ctl-sub"}), 201)
    rc, out, errout = ctl(d, "plans", "update", name, "--quota", "cores=40", "--wait")
    assert rc == 0, errout
    # The job has succeeded when wapctl exits: the plan and its subscription have the new quota.
    assert ok(a.get("/v1/admin/plans/" + plan["id"]), 200)["quotas"]["cores"] == 40
    assert ok(wd.w.t.get("/v1/subscriptions/" + sub["id"]), 200)["quotas"]["cores"] == 40
    jobs = ok(a.get("/v1/admin/jobs?resourceId=" + plan["id"]), 200)["value"]
    assert jobs and all(j["status"] == "succeeded" for j in jobs)
    # With -o json, --wait prints the finished job.
    job = ctl_json(d, "plans", "update", name, "--quota", "cores=41", "--wait")
    assert job["status"] == "succeeded" and job["resourceId"] == plan["id"], job


def test_jobs_wait_exit_status_says_how_the_job_ended(d):
    good = world(d).w
    r = good.t.post(good.base + "/vms", good.vm_body("ctl-ok"))
    assert r.status == 202, r
    job_id = r.header("Location").rsplit("/", 1)[1]
    rc, out, errout = ctl(d, "-o", "json", "jobs", "wait", job_id)
    assert rc == 0, errout
    assert json.loads(out)["status"] == "succeeded"
    # A host that refuses every operation: the job fails, and wapctl says so with status 1 and the code.
    bad = VmWorld(d, hosts=("sim://?failRate=1",))
    r = bad.t.post(bad.base + "/vms", bad.vm_body("ctl-fail"))
    assert r.status == 202, r
    job_id = r.header("Location").rsplit("/", 1)[1]
    rc, out, errout = ctl(d, "jobs", "wait", job_id)
    assert rc == 1, (rc, out, errout)
    job = ok(bad.a.get("/v1/admin/jobs/" + job_id), 200)
    assert job["status"] == "failed" and job["error"]["code"] in errout, (job, errout)


def test_exit_statuses(d):
    for args in ([], ["nouns"], ["clouds", "frobnicate"], ["clouds", "list", "--no-such-option", "1"],
                 ["-o", "yaml", "clouds", "list"], ["clouds"], ["clouds", "show"], ["--bogus", "clouds", "list"]):
        rc, out, errout = ctl(d, *args)
        assert rc == 2, (args, rc, out, errout)
        assert errout.strip(), args
    rc, out, errout = ctl(d, "clouds", "show", "00000000-0000-4000-8000-000000000000")
    assert rc == 1 and "NotFound" in errout, (rc, errout)
    rc, out, errout = ctl(d, "clouds", "show", "no-cloud-has-this-name-" + uid())
    assert rc == 1 and errout.strip(), (rc, errout)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    p = subprocess.run([WAPCTL, "--url", "http://127.0.0.1:%d" % port, "--token", "t", "clouds", "list"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert p.returncode == 3 and p.stderr.strip(), p


def test_state_dir_finds_port_and_token():
    d = Daemon(admin_token=None).start()  # the token is generated into DIR/admin.token
    try:
        p = subprocess.run([WAPCTL, "--state-dir", d.state_dir, "-o", "json", "clouds", "list"],
                           capture_output=True, text=True, timeout=60 * SLOW, env=dict(os.environ, WAPD_TOKEN=""))
        assert p.returncode == 0, p.stderr
        with open(os.path.join(d.state_dir, "admin.token")) as f:
            token = f.read().strip()
        assert json.loads(p.stdout) == {"value": ok(d.admin(token).get("/v1/admin/clouds"), 200)["value"]}
        assert token not in p.stdout + p.stderr
    finally:
        d.cleanup()


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def key(r):
    """A record's identity: resource, meter, period and (for compute meters) size."""
    return (r["resourceId"], r["meter"], r["periodStart"],
            r["properties"].get("size") if r["meter"].startswith("compute.") else "")


def assert_exactly_once(path, served_before, served_after=None):
    """path holds each record once, every record served before the export, and (given what the API served
    after it) each exactly as the API returns it."""
    got = records(path)
    keys = [key(r) for r in got]
    assert len(keys) == len(set(keys)), "a record was written twice"
    ids = [r["id"] for r in got]
    assert len(ids) == len(set(ids))
    if served_after is not None:
        by_id = {r["id"]: r for r in served_after}
        for r in got:
            assert r == by_id[r["id"]], "not as the API returns it: %r" % r
    assert {r["id"] for r in served_before} <= set(ids), "a record is missing"
    return got


def test_usage_export_keeps_every_record_exactly_once():
    d = Daemon(extra_args=["--usage-period-seconds", "2", "--usage-retention-seconds", "2"]).start()
    tmp = tempfile.mkdtemp(prefix="wapctl-export-")
    out = os.path.join(tmp, "usage.jsonl")
    mark = out + ".cursor"
    try:
        w = VmWorld(d)
        w.create("metered")
        wait_for(lambda: len(drain(w.a)[0]) >= 3, 30, "some periods closed")

        def export(*extra):
            before = drain(w.a)[0]
            rc, stdout, errout = ctl(d, "usage", "export", "--out", out, *extra)
            assert rc == 0, errout
            return assert_exactly_once(out, before, drain(w.a)[0])

        first = export()
        assert first
        with open(mark) as f:
            old_mark = f.read()
        # Run again after more periods: only newer records are appended.
        wait_for(lambda: len(drain(w.a)[0]) > len(first) + 3, 30, "more periods closed")
        second = export()
        assert second[:len(first)] == first and len(second) > len(first)

        # A kill after the records were written and before the cursor was saved leaves the old cursor file
        # beside the longer file (the cursor file is replaced by a rename: it is old or new, never torn);
        # a kill in the middle of a write leaves a torn last line. The next run makes it right.
        with open(mark, "w") as f:
            f.write(old_mark)
        with open(out, "a") as f:
            f.write('{"id": "torn')
        wait_for(lambda: len(drain(w.a)[0]) > len(second), 30, "another period closed")
        third = export()
        assert third[:len(first)] == first and len(third) > len(second)

        # A real SIGKILL while it exports one record per request, then a run that completes it.
        wait_for(lambda: len(drain(w.a)[0]) > len(third) + 5, 30, "more periods closed")
        size = os.path.getsize(out)
        p = subprocess.Popen([WAPCTL, "--url", "http://127.0.0.1:%d" % d.admin_port, "--token", ADMIN_TOKEN,
                              "usage", "export", "--out", out, "--limit", "1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: p.poll() is not None or os.path.getsize(out) > size, 30, "the export to write")
        p.send_signal(signal.SIGKILL)
        p.wait(30)
        fourth = export()
        assert fourth[:len(first)] == first and len(fourth) > len(third)

        # A token of scope usage is all an export needs.
        use = ok(w.a.post(LISTED["tokens"], {"name": "ctl-usage-" + uid()[:6], "scope": "usage"}), 201)
        out2 = out + ".usage-token"
        rc, stdout, errout = ctl(d, "--url", "http://127.0.0.1:%d" % d.admin_port, "--token", use["token"],
                                 "usage", "export", "--out", out2, url=False)
        assert rc == 0, errout
        with open(out2) as f:
            exported = [json.loads(line)["id"] for line in f]
        assert exported and set(exported) <= {r["id"] for r in drain(w.a)[0]}

        # Nothing was acknowledged so far, so nothing was purged. With --ack, what the file holds is
        # acknowledged: wapd purges it once the retention time has passed.
        assert {r["id"] for r in fourth} <= {r["id"] for r in drain(w.a)[0]}
        before = drain(w.a)[0]
        rc, stdout, errout = ctl(d, "usage", "export", "--out", out, "--ack")
        assert rc == 0 and "acknowledged" in stdout, errout
        fifth = assert_exactly_once(out, before)
        assert fifth[:len(fourth)] == fourth
        stored = {r["id"] for r in fifth}
        wait_for(lambda: not stored & {r["id"] for r in drain(w.a)[0]}, 60, "the exported records to be purged")

        # -o json says what the run did.
        rc, stdout, errout = ctl(d, "-o", "json", "usage", "export", "--out", out)
        assert rc == 0, errout
        report = json.loads(stdout)
        assert report["file"] == out and report["records"] >= 0 and report["acknowledged"] is False
        # Bad usage of the verb.
        for bad in (["usage", "export"], ["usage", "export", "--out", out, "--limit", "0"],
                    ["usage", "export", "--out", out, "--bogus"]):
            rc, stdout, errout = ctl(d, *bad)
            assert rc == 2 and errout.strip(), (bad, rc, errout)
    finally:
        d.cleanup()
        subprocess.run(["rm", "-rf", tmp], check=False)


def test_backup_writes_a_database_sqlite_opens(d):
    tmp = tempfile.mkdtemp(prefix="wapctl-backup-")
    out = os.path.join(tmp, "wapd-backup.db")
    try:
        name = "ctl-backup-" + uid()[:6]
        cloud = ok(d.admin().post("/v1/admin/clouds", {"name": name}), 201)
        rc, stdout, errout = ctl(d, "backup", "--out", out)
        if not documented("/v1/admin/backup"):
            # The daemon does not serve backups: an error answer, and no file.
            assert rc == 1 and errout.strip() and not os.path.exists(out), (rc, errout)
            return
        assert rc == 0, errout
        assert not os.path.exists(out + ".tmp")
        db = sqlite3.connect(out)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            dump = "\n".join(db.iterdump())
        finally:
            db.close()
        assert cloud["id"] in dump
        rc, stdout, errout = ctl(d, "backup")
        assert rc == 2 and errout.strip()
        # An error answer (a token whose scope does not reach backups): exit 1, the code on stderr, the
        # earlier backup left as it was.
        before = os.path.getsize(out)
        ro = ok(d.admin().post(LISTED["tokens"], {"name": "ctl-nobackup-" + uid()[:6], "scope": "readOnly"}),
                201)["token"]
        rc, stdout, errout = ctl(d, "--token", ro, "backup", "--out", out)
        assert rc == 1 and "Forbidden" in errout, (rc, errout)
        assert os.path.getsize(out) == before and not os.path.exists(out + ".tmp")
    finally:
        subprocess.run(["rm", "-rf", tmp], check=False)


def complete(words):
    """What the bash completion offers for the command line words (the last one being typed)."""
    script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _wapctl; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    p = subprocess.run(["bash", "-c", script, "bash", COMPLETION] + words, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    return set(p.stdout.split())


def test_bash_completion_knows_every_noun_verb_and_option():
    assert complete(["wapctl", ""]) == set(NOUNS)
    assert complete(["wapctl", "--state-dir", "/tmp", "pl"]) == {"plans"}
    assert {"--url", "--token", "--state-dir", "--cacert", "-o", "--wait"} <= complete(["wapctl", "-"])
    assert complete(["wapctl", "-o", ""]) == {"table", "json"}
    assert {"list", "show", "create", "update", "delete"} <= complete(["wapctl", "plans", ""])
    assert {"suspend", "activate", "reconcile"} <= complete(["wapctl", "subscriptions", ""])
    assert {"wait", "cancel", "restart"} <= complete(["wapctl", "jobs", ""])
    assert {"export", "list"} <= complete(["wapctl", "usage", ""])
    assert {"--quota", "--cloud-id", "--checkpoint-mode"} <= complete(["wapctl", "plans", "update", "p", "--"])
    assert complete(["wapctl", "plans", "update", "p", "--checkpoint-mode", ""]) == {
        "disabled", "viewRestore", "createViewRestore"}
    assert {"--out", "--ack", "--limit"} <= complete(["wapctl", "usage", "export", "--"])
    assert "--out" in complete(["wapctl", "backup", "--"])
    # It offers exactly the verbs and options wapctl takes: those each noun's --help names.
    for noun in NOUNS:
        p = subprocess.run([WAPCTL, noun, "--help"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, (noun, p.stderr)
        offered = complete(["wapctl", noun, "x", "--"]) - complete(["wapctl", "--"])
        taken = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", p.stdout)) - complete(["wapctl", "--"])
        if noun == "usage":
            taken |= {"--out", "--ack", "--limit"}
        assert offered == taken, (noun, offered ^ taken)
        verbs = set(re.findall(r"^  %s (\S+)" % noun, p.stdout, re.M))
        assert complete(["wapctl", noun, ""]) == verbs, (noun, verbs)


def test_man_page_is_clean_and_names_every_noun():
    p = subprocess.run(["groff", "-ww", "-man", "-z", MANPAGE], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and not p.stderr, p.stderr
    p = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", MANPAGE], capture_output=True, text=True,
                       timeout=30)
    text = p.stdout
    for noun in NOUNS:
        assert "\n       %s" % noun in text, noun
    for section in ("EXIT STATUS", "EXAMPLES", "USAGE EXPORT", "BACKUP", "--quota cores=40 --wait"):
        assert section in text, section
