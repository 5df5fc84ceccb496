#!/usr/bin/env python3
"""VM creates per second: N VMs asked for by C concurrent clients, from the first request to the last
VM running, then all deleted (and waited for) so that the next round starts from the same state.

    create_load.py TENANT_URL TOKEN SUBSCRIPTION IMAGE_ID SIZE N C

Prints: "<running> <failed> <seconds> <VMs per second>".
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse


def client(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120)


def call(c, method, path, headers, body=None):
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None), r.getheader("Location")


def wait_job(c, loc, headers):
    while True:
        status, job, _ = call(c, "GET", loc, headers)
        if status == 200 and job["status"] not in ("queued", "running"):
            return job["status"]
        time.sleep(0.005)


def main():
    url, token, sub, image, size, n, conc = sys.argv[1:8]
    n, conc = int(n), int(conc)
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    base = "/v1/subscriptions/%s/vms" % sub
    lock = threading.Lock()
    todo = list(range(n))
    ids, outcome = [], {"succeeded": 0, "failed": 0}

    def worker():
        c = client(url)
        while True:
            with lock:
                if not todo:
                    break
                i = todo.pop()
            status, vm, loc = call(c, "POST", base, h, {"name": "load%d" % i, "imageId": image, "size": size})
            result = wait_job(c, loc, h) if status == 202 else "failed"
            with lock:
                outcome[result if result in outcome else "failed"] += 1
                if status == 202:
                    ids.append(vm["id"])
        c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0

    # Clean up: every VM deleted and gone before the next round.
    c = client(url)
    locs = []
    for vm_id in ids:
        status, _, loc = call(c, "DELETE", base + "/" + vm_id, h)
        if status == 202:
            locs.append(loc)
    for loc in locs:
        wait_job(c, loc, h)
    print("%d %d %.3f %.1f" % (outcome["succeeded"], outcome["failed"], elapsed, outcome["succeeded"] / elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
