#!/usr/bin/env python3
"""Runs every test_* function of every tests/e2e/test_*.py against the real wapd binary (WAPD_BIN).

A module's tests share one daemon (passed as `d`) unless a test takes no argument, in which case it starts
its own. Ends with one line: "e2e: N passed, N failed". Optional arguments filter tests by substring.
"""
import glob
import importlib.util
import inspect
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402


def main():
    filters = sys.argv[1:]
    if not os.path.exists(harness.WAPD_BIN):
        print("e2e: %s does not exist; build it first" % harness.WAPD_BIN)
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    failures = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        tests = [(n, f) for n, f in inspect.getmembers(mod, inspect.isfunction)
                 if n.startswith("test_") and f.__module__ == name]
        tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
        tests = [t for t in tests if not filters or any(s in name + "." + t[0] for s in filters)]
        if not tests:
            continue
        shared = None
        for tname, fn in tests:
            full = "%s.%s" % (name, tname)
            t0 = time.monotonic()
            try:
                if fn.__code__.co_argcount > 0:
                    if shared is None:
                        shared = harness.Daemon().start()
                    fn(shared)
                else:
                    fn()
                passed += 1
                print("PASS %s (%.2fs)" % (full, time.monotonic() - t0), flush=True)
            except Exception:
                failed += 1
                failures.append(full)
                print("FAIL %s (%.2fs)\n%s" % (full, time.monotonic() - t0, traceback.format_exc()),
                      flush=True)
                if shared is not None:
                    print("--- daemon stderr (tail) ---\n" + shared.stderr()[-3000:], flush=True)
        if shared is not None:
            try:
                shared.cleanup()
            except Exception:
                failed += 1
                failures.append(name + ".<daemon exit>")
                print("FAIL %s.<daemon exit>\n%s" % (name, traceback.format_exc()), flush=True)
    if failures:
        print("failed: " + ", ".join(failures))
    print("e2e: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
