"""SIGHUP: the config file and the command line are read again; the live settings that changed are applied and
logged one line each with their old and new values, a changed setting that is not live is a warning, and a
file that does not load changes nothing while the daemon goes on."""
import contextlib
import json
import os
import shutil
import signal
import tempfile

from harness import Daemon, ok, wait_for


def lines(d):
    """The daemon's stderr, as JSON objects (every line is one)."""
    return [json.loads(l) for l in d.stderr().splitlines() if l.strip()]


def changes(d, setting):
    return [l for l in lines(d) if l.get("msg") == "setting changed" and l.get("setting") == setting]


def hup_and_wait(d, pred, what):
    d.proc.send_signal(signal.SIGHUP)
    return wait_for(lambda: pred(lines(d)), 20, what)


def write_conf(path, text):
    # Written whole and renamed into place, as an editor or a config manager would.
    with open(path + ".tmp", "w") as f:
        f.write("[wapd]\n" + text)
    os.replace(path + ".tmp", path)


@contextlib.contextmanager
def daemon_with_config(text, extra_args=()):
    """A daemon started with --config FILE holding text; yields it and the file's path, stops it after."""
    tmp = tempfile.mkdtemp(prefix="wapd-reload-")
    cfg = os.path.join(tmp, "wapd.conf")
    write_conf(cfg, text)
    d = Daemon(extra_args=["--config", cfg] + list(extra_args)).start()
    try:
        yield d, cfg
        assert d.stop() == 0
    finally:
        d.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def test_live_settings_change_on_sighup_with_one_line_each():
    start = "rate_limit = 0\nevent_retention_seconds = 3600\n"
    with daemon_with_config(start, ["--reconcile-seconds", "60"]) as (d, cfg):
        write_conf(cfg, "rate_limit = 5\nevent_retention_seconds = 7200\nreconcile_seconds = 5\n")
        hup_and_wait(d, lambda ls: changes(d, "event-retention-seconds"), "the setting-changed lines")
        [rate] = changes(d, "rate-limit")
        assert rate["old"] == 0 and rate["new"] == 5 and rate["level"] == "info" and rate["applied"], rate
        [ret] = changes(d, "event-retention-seconds")
        assert ret["old"] == 3600 and ret["new"] == 7200, ret
        # The command line still wins over the file: reconcile-seconds stays 60, so nothing changes.
        assert changes(d, "reconcile-seconds") == []
        # Unchanged settings are not logged; the daemon serves on.
        assert changes(d, "workers") == []
        ok(d.admin().get("/v1/admin/clouds"), 200)
        # A second SIGHUP with the same file changes nothing more.
        n = len([l for l in lines(d) if l.get("msg") == "settings reloaded"])
        hup_and_wait(d, lambda ls: len([l for l in ls if l.get("msg") == "settings reloaded"]) > n,
                     "the second reload")
        assert len(changes(d, "rate-limit")) == 1


def test_sighup_changes_the_rate_limit_live():
    """Off at the start (a burst is all served); after SIGHUP with rate_limit = 1 a burst gets 429 with
    Retry-After; after SIGHUP with rate_limit = 0 again, bursts are served again."""
    from harness import World

    with daemon_with_config("rate_limit = 0\n") as (d, cfg):
        t, sub, _ = World(d).tenant()
        assert all(t.get("/v1/subscriptions").status == 200 for _ in range(20))
        write_conf(cfg, "rate_limit = 1\n")
        hup_and_wait(d, lambda ls: changes(d, "rate-limit"), "the rate-limit change")
        statuses = [t.get("/v1/subscriptions") for _ in range(10)]
        limited = [r for r in statuses if r.status == 429]
        assert limited, [r.status for r in statuses]
        assert int(limited[0].header("Retry-After")) >= 1
        assert limited[0].json()["error"]["code"] == "TooManyRequests"
        # The admin listener is never limited, whatever the setting.
        assert all(d.admin().get("/v1/admin/clouds").status == 200 for _ in range(20))
        write_conf(cfg, "rate_limit = 0\n")
        hup_and_wait(d, lambda ls: len(changes(d, "rate-limit")) == 2, "the rate limit turned off")
        assert all(t.get("/v1/subscriptions").status == 200 for _ in range(20))


def test_setting_that_is_not_live_is_a_warning_and_keeps_its_value():
    with daemon_with_config("workers = 4\n") as (d, cfg):
        write_conf(cfg, "workers = 6\nrate_limit = 2\n")
        hup_and_wait(d, lambda ls: changes(d, "workers") and changes(d, "rate-limit"), "the lines")
        [w] = changes(d, "workers")
        assert w["level"] == "warn" and w["old"] == 4 and w["new"] == 6 and w["applied"] is False, w
        assert "next start" in w["detail"], w
        # It is not applied: the next reload sees the same difference again, from the same old value.
        write_conf(cfg, "workers = 6\nrate_limit = 3\n")
        hup_and_wait(d, lambda ls: len(changes(d, "rate-limit")) == 2, "the second reload")
        ws = changes(d, "workers")
        assert len(ws) == 2 and ws[1]["old"] == 4, ws
        assert changes(d, "rate-limit")[1]["old"] == 2


def test_bad_file_keeps_every_setting_and_the_daemon_goes_on():
    with daemon_with_config("rate_limit = 5\n") as (d, cfg):
        write_conf(cfg, "rate_limit = 7\nlog_level = loud\n")
        err = hup_and_wait(d, lambda ls: [l for l in ls if l.get("level") == "error"], "the error line")
        assert "log_level" in err[0]["detail"] and "wapd.conf:3" in err[0]["detail"], err
        assert changes(d, "rate-limit") == []
        ok(d.admin().get("/v1/admin/clouds"), 200)
        # A missing file too.
        os.unlink(cfg)
        hup_and_wait(d, lambda ls: len([l for l in ls if l.get("level") == "error"]) == 2, "the second error")
        # Fixed: the change is from the value the daemon kept, not from the bad file's.
        write_conf(cfg, "rate-limit = 9\n")  # the key spelled as the flag is
        [rate] = hup_and_wait(d, lambda ls: changes(d, "rate-limit"), "the change")
        assert rate["old"] == 5 and rate["new"] == 9, rate


def test_log_level_change_silences_info_lines():
    with daemon_with_config("log_level = info\n") as (d, cfg):
        # ports.json is written before "ready" is logged: wait for the line, don't expect it at once.
        wait_for(lambda: [l for l in lines(d) if l.get("msg") == "ready"], 30, "the ready line")
        write_conf(cfg, "log_level = warn\n")
        [lvl] = hup_and_wait(d, lambda ls: changes(d, "log-level"), "the log-level line")
        # The change itself is seen, though it is an info line and the new level is warn.
        assert lvl["old"] == "info" and lvl["new"] == "warn", lvl
        # Then a warning comes through and the info lines around it do not: a second reload with a
        # setting that needs a restart writes a warning, and its "settings reloaded" line (info) is
        # dropped; so is every info line of the stop.
        write_conf(cfg, "log_level = warn\nworkers = 3\n")
        hup_and_wait(d, lambda ls: changes(d, "workers"), "the warning")
        ok(d.admin().get("/v1/admin/clouds"), 200)  # its request line is an info line too
        assert d.stop() == 0
        after = lines(d)[lines(d).index(lvl) + 1:]
        assert [l for l in after if l.get("level") == "info"] == [], after
        assert [l for l in after if l.get("msg") == "stopping"] == []
