#!/usr/bin/env python3
"""Checkpoint replacements per second: each of N clients keeps replacing the checkpoint of its own VM (PUT,
then polls the job until it ends) for a fixed time; prints the count and the rate.

    checkpoint_load.py TENANT_URL TOKEN SUBSCRIPTION SECONDS VM_ID...
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

POLL_PAUSE_S = 0.001


def main():
    url, token, sub, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    vms = sys.argv[5:]
    u = urllib.parse.urlsplit(url)
    done, failed = [0], [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(vm):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        n = 0
        while time.monotonic() < deadline:
            n += 1
            c.request("PUT", "/v1/subscriptions/%s/vms/%s/checkpoint" % (sub, vm),
                      body=json.dumps({"name": "cp-%d" % n}), headers=h)
            r = c.getresponse()
            r.read()
            if r.status != 202:
                with lock:
                    failed[0] += 1
                continue
            loc = r.getheader("Location")
            while True:
                # A short pause between polls keeps the client from taking the CPU the daemon needs.
                time.sleep(POLL_PAUSE_S)
                c.request("GET", loc, headers=h)
                r = c.getresponse()
                status = json.loads(r.read())["status"]
                if status not in ("queued", "running"):
                    break
            with lock:
                if status == "succeeded":
                    done[0] += 1
                else:
                    failed[0] += 1

    threads = [threading.Thread(target=client, args=(vm,)) for vm in vms]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    print("%d %d %.2f %.1f" % (done[0], failed[0], elapsed, done[0] / elapsed))


if __name__ == "__main__":
    main()
