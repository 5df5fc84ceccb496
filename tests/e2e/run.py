#!/usr/bin/env python3
"""Runs every test_* function of every tests/e2e/test_*.py against the real wapd binary (WAPD_BIN).

A module's tests share one daemon (passed as `d`) unless a test takes no argument, in which case it starts
its own. Ends with one line: "e2e: N passed, N failed". Optional arguments filter tests by substring.

    run.py [-j N] [FILTER...]

-j N (or WAPD_E2E_JOBS=N) runs up to N modules at once, each in a process forked from this one (its daemons
use port 0 and temporary directories of their own, so modules do not meet); a module's output is printed
whole when it ends. The default, 1, runs every module in this process, one after the other. Two markers change how a
test or a module runs:

- A module with `SERIAL = "why"` runs alone, before the others start: for tests that measure latency or
  hold thousands of sockets, whose figures another module's load would distort.
- A test function with the attribute `plain_only = "why"` (one line after its definition:
  `test_x.plain_only = "..."`) runs in the plain pass only; under the sanitizers (WAPD_SANITIZED=1, make
  e2e-asan) it is reported as SKIP with its reason. For long fault and soak runs whose paths shorter tests
  of the same module already take under the sanitizers.
- A test function with `test_x.sim_only = "why"` needs what only a sim host has (the daemon's own simulator):
  on PostgreSQL (WAPD_TEST_PG), where sim hosts are refused and the harness serves them with wapd-agents
  (http hosts), it is reported as SKIP with its reason.

A test that raises unittest.SkipTest("why") (one that needs what this run lacks, such as a PostgreSQL
cluster) is reported as SKIP with its reason, neither passed nor failed.

Each module's time is kept in build/e2e-times.json (WAPD_E2E_TIMES names another file): the next run starts
the longest modules first, so that two processes end together.
"""
import glob
import importlib.util
import inspect
import json
import os
import signal
import sys
import tempfile
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import oas  # noqa: E402

TIMES = os.environ.get("WAPD_E2E_TIMES") or os.path.join(HERE, "..", "..", "build", "e2e-times.json")
FLAVOUR = "sanitized" if harness.SANITIZED else "plain"
# A module still running after this long is stopped and counted failed (a hung test must not hold CI for
# ever; the longest module takes a few minutes, under the sanitizers several times that).
MODULE_TIMEOUT_S = 1800 * harness.SLOW


def load(name):
    path = os.path.join(HERE, name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tests_of(mod, name, filters):
    """The module's tests (name, function) in source order that the filters select."""
    tests = [(n, f) for n, f in inspect.getmembers(mod, inspect.isfunction)
             if n.startswith("test_") and f.__module__ == name]
    tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
    return [t for t in tests if not filters or any(s in name + "." + t[0] for s in filters)]


def run_module(name, filters, mod, out=sys.stdout):
    """Runs the module's selected tests in this process; answers (passed, failed, failures, skipped,
    {test: seconds})."""
    passed = failed = 0
    failures, skipped, times = [], [], {}
    shared = None
    for tname, fn in tests_of(mod, name, filters):
        full = "%s.%s" % (name, tname)
        why = getattr(fn, "plain_only", None)
        if why and harness.SANITIZED:
            skipped.append(full)
            print("SKIP %s (plain pass only: %s)" % (full, why), file=out, flush=True)
            continue
        why = getattr(fn, "sim_only", None)
        if why and harness.PG_BASE:
            skipped.append(full)
            print("SKIP %s (sim hosts only, refused on PostgreSQL: %s)" % (full, why), file=out, flush=True)
            continue
        t0 = time.monotonic()
        try:
            if fn.__code__.co_argcount > 0:
                if shared is None:
                    shared = harness.Daemon().start()
                fn(shared)
            else:
                fn()
            passed += 1
            times[tname] = time.monotonic() - t0
            print("PASS %s (%.2fs)" % (full, times[tname]), file=out, flush=True)
        except unittest.SkipTest as why:
            skipped.append(full)
            print("SKIP %s (%s)" % (full, why), file=out, flush=True)
        except Exception:
            failed += 1
            failures.append(full)
            times[tname] = time.monotonic() - t0
            print("FAIL %s (%.2fs)\n%s" % (full, times[tname], traceback.format_exc()), file=out, flush=True)
            if shared is not None:
                print("--- daemon stderr (tail) ---\n" + shared.stderr()[-3000:], file=out, flush=True)
    if shared is not None:
        try:
            shared.cleanup()
        except Exception:
            failed += 1
            failures.append(name + ".<daemon exit>")
            print("FAIL %s.<daemon exit>\n%s" % (name, traceback.format_exc()), file=out, flush=True)
    return passed, failed, failures, skipped, times


def read_times():
    try:
        with open(TIMES) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def write_times(measured):
    """Keeps each module's per-test seconds of this flavour (only of modules run whole)."""
    if not measured:
        return
    known = read_times()
    known.setdefault(FLAVOUR, {}).update(measured)
    try:
        os.makedirs(os.path.dirname(TIMES), exist_ok=True)
        tmp = TIMES + ".tmp"
        with open(tmp, "w") as f:
            json.dump(known, f, indent=1, sort_keys=True)
        os.replace(tmp, TIMES)
    except OSError:
        pass


def expected_seconds(name, tests, known):
    """What the module is expected to take: its tests' last times in this flavour (else in the other one);
    a module never timed counts as long when it has a plain_only test, else as short."""
    for flavour in (FLAVOUR, "plain", "sanitized"):
        per_test = known.get(flavour, {}).get(name)
        if per_test:
            return sum(per_test.get(t, 1.0) for t, fn in tests
                       if not (harness.SANITIZED and getattr(fn, "plain_only", None)))
    return 1000.0 if any(getattr(fn, "plain_only", None) for _, fn in tests) else 1.0


class Child:
    """One module run in a process of its own, forked from this one (the test modules, the harness and the
    OpenAPI document already loaded), its output to a file, its result to another."""

    def __init__(self, name, mod, filters, alone=False):
        self.name = name
        self.alone = alone
        self.timed_out = False
        self.status = None
        self.out = tempfile.TemporaryFile()
        fd, self.result = tempfile.mkstemp(prefix="wapd-e2e-result-", suffix=".json")
        os.close(fd)
        self.t0 = time.monotonic()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                # Its own process group: a module that hangs is stopped with every daemon it started.
                os.setsid()
                harness.OAS_STATS.update(exchanges=0, seconds=0.0)
                os.dup2(self.out.fileno(), 1)
                os.dup2(self.out.fileno(), 2)
                passed, failed, failures, skipped, times = run_module(name, filters, mod)
                with open(self.result, "w") as f:
                    json.dump({"passed": passed, "failed": failed, "failures": failures, "skipped": skipped,
                               "times": times,
                               "oas": [harness.OAS_STATS["exchanges"], harness.OAS_STATS["seconds"]]}, f)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)

    def poll(self):
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid:
            self.status = os.waitstatus_to_exitcode(status)
            return True
        if time.monotonic() - self.t0 > MODULE_TIMEOUT_S:
            self.timed_out = True
            self.kill()
            return True
        return False

    def kill(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        if self.status is None:
            self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])

    def finish(self):
        """Prints the module's output; answers its result (a module whose process died counts one failure).
        Whatever the module left running in its process group (a daemon of a test that died) is stopped."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        print("== %s (%.1fs)" % (self.name, time.monotonic() - self.t0), flush=True)
        self.out.seek(0)
        sys.stdout.write(self.out.read().decode("utf-8", "replace"))
        self.out.close()
        try:
            with open(self.result) as f:
                res = json.load(f)
        except (OSError, ValueError):
            res = None
        os.unlink(self.result)
        if res is None or self.timed_out:
            why = ("still running after %ds" % MODULE_TIMEOUT_S if self.timed_out
                   else "its process exited %s without a result" % self.status)
            print("FAIL %s (%s)" % (self.name, why), flush=True)
            return {"passed": 0, "failed": 1, "failures": [self.name], "skipped": [], "times": {},
                    "oas": [0, 0.0]}
        return res


def main(argv):
    jobs = int(os.environ.get("WAPD_E2E_JOBS", "1") or 1)
    if argv[:1] == ["-j"]:
        jobs, argv = int(argv[1]), argv[2:]
    elif argv[:1] and argv[0].startswith("-j"):
        jobs, argv = int(argv[0][2:]), argv[1:]
    filters = argv
    if not os.path.exists(harness.WAPD_BIN):
        print("e2e: %s does not exist; build it first" % harness.WAPD_BIN)
        print("0 passed, 1 failed")
        return 1
    modules = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        mod = load(name)
        tests = tests_of(mod, name, filters)
        if tests:
            modules.append((name, mod, tests, getattr(mod, "SERIAL", None)))
    passed = failed = 0
    failures, skipped, measured = [], [], {}
    t_all = time.monotonic()
    if jobs <= 1:
        for name, mod, _, _ in modules:
            p, f, fl, sk, times = run_module(name, filters, mod)
            passed, failed = passed + p, failed + f
            failures += fl
            skipped += sk
            if not filters and not f:
                measured[name] = times
    else:
        known = read_times()
        mods = {name: mod for name, mod, _, _ in modules}
        serial = [(name, None) for name, _, _, why in modules if why]
        pool = sorted(((name, expected_seconds(name, tests, known)) for name, _, tests, why in modules
                       if not why), key=lambda m: -m[1])
        # Parsed once here, shared by every forked module.
        oas.spec()
        print("e2e: %d modules, %d at a time (%s alone first)" % (
            len(modules), jobs, ", ".join(n for n, _ in serial) or "none"), flush=True)
        running = []
        queue = serial + pool
        try:
            while queue or running:
                # A SERIAL module (expected time None) starts when nothing runs, and nothing joins it.
                while (queue and not any(c.alone for c in running)
                       and (not running if queue[0][1] is None else len(running) < jobs)):
                    name, expected = queue.pop(0)
                    running.append(Child(name, mods[name], filters, alone=expected is None))
                time.sleep(0.05)
                for c in [c for c in running if c.poll()]:
                    running.remove(c)
                    res = c.finish()
                    passed, failed = passed + res["passed"], failed + res["failed"]
                    failures += res["failures"]
                    skipped += res["skipped"]
                    harness.OAS_STATS["exchanges"] += res["oas"][0]
                    harness.OAS_STATS["seconds"] += res["oas"][1]
                    if not filters and not res["failed"]:
                        measured[c.name] = res["times"]
        finally:
            for c in running:
                c.kill()
    if not filters:
        write_times(measured)
    if skipped:
        print("skipped: " + ", ".join(skipped))
    if failures:
        print("failed: " + ", ".join(failures))
    print("e2e: %.0fs in all" % (time.monotonic() - t_all))
    print("e2e: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
