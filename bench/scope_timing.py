#!/usr/bin/env python3
"""How long a tenant waits for a 404 on another tenant's resource against a missing one.

    scope_timing.py [WAPD_BIN] [SAMPLES]

Starts wapd (default build/wapd) on port 0 in a temporary state directory with one sim host, makes two
tenants, and gives the first a VM, a VM role and a snapshot. The second tenant then asks, under its own
subscription, for each of those by the first tenant's id (foreign) and by a random id (missing), SAMPLES
times each (default 3000), the two interleaved in a shuffled order so that whatever else the machine does
falls on both alike. Every answer must be 404 with the same body for foreign and missing.

Printed per pair: the median and p90 of the time the daemon took (its request log's durationMs, which
leaves out the client and the network) and of the time the client saw, in microseconds, and the ratio
foreign/missing of the medians. A foreign id should cost what a missing one does: ratios near 1.
"""
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

ADMIN_TOKEN = "scope-timing-admin-token-0123456789"


def uid():
    return str(uuid.uuid4())


class Client:
    def __init__(self, port, token):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        """(status, json body, request id, client-side seconds)."""
        data = None if body is None else json.dumps(body)
        t0 = time.perf_counter()
        self.c.request(method, path, body=data, headers=self.h)
        r = self.c.getresponse()
        raw = r.read()
        took = time.perf_counter() - t0
        return r.status, json.loads(raw) if raw else None, r.getheader("X-Request-Id"), took


def expect(answer, status, what):
    if answer[0] != status:
        raise SystemExit("%s: expected %d, got %d %r" % (what, status, answer[0], answer[1]))
    return answer[1]


def wait_ready(proc, ports, deadline_s=60):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("wapd exited with %s" % proc.returncode)
        try:
            with open(ports) as f:
                return json.load(f)
        except (OSError, ValueError):
            time.sleep(0.05)
    raise SystemExit("wapd did not start")


def wait_job(client, location, deadline_s=60):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        job = expect(client.call("GET", location), 200, "job")
        if job["status"] not in ("queued", "running"):
            if job["status"] != "succeeded":
                raise SystemExit("job failed: %r" % job)
            return job
        time.sleep(0.02)
    raise SystemExit("job did not end: " + location)


def world(admin_port, tenant_port):
    """Two tenants' clients and sids, and the first tenant's VM, VM role and snapshot ids."""
    a = Client(admin_port, ADMIN_TOKEN)
    cloud = expect(a.call("POST", "/v1/admin/clouds", {"name": "timing"}), 201, "cloud")
    expect(a.call("POST", "/v1/admin/hosts", {
        "name": "hv", "cloudId": cloud["id"], "agent": {"kind": "sim", "uri": "sim://"},
        "capacity": {"cores": 64, "memoryMB": 262144, "storageGB": 10000}}), 201, "host")
    image = expect(a.call("POST", "/v1/admin/images", {"name": "img", "osType": "linux", "generation": 2,
                                                      "osDiskGB": 30}), 201, "image")
    expect(a.call("POST", "/v1/admin/sizes", {"name": "S1", "cores": 1, "memoryMB": 1792}), 201, "size")
    item = expect(a.call("POST", "/v1/admin/galleryItems", {
        "name": "web", "version": "1.0", "imageId": image["id"], "defaultSize": "S1",
        "minInstances": 1, "maxInstances": 3}), 201, "gallery item")
    plan = expect(a.call("POST", "/v1/admin/plans", {
        "name": "p", "cloudId": cloud["id"], "state": "public", "quotas": {},
        "imageIds": [image["id"]], "sizeNames": ["S1"], "galleryItemIds": [item["id"]],
        "checkpointMode": "createViewRestore"}), 201, "plan")
    tenants = []
    for n in range(2):
        user = expect(a.call("POST", "/v1/admin/users", {"email": "t%d-%s@example.com" % (n, uid()[:6]),
                                                         "name": "t"}), 201, "user")
        sub = expect(a.call("POST", "/v1/admin/subscriptions", {"userId": user["id"],
                                                                "planId": plan["id"]}), 201, "sub")
        tok = expect(a.call("POST", "/v1/admin/users/%s/tokens" % user["id"]), 201, "token")
        tenants.append((Client(tenant_port, tok["token"]), "/v1/subscriptions/" + sub["id"]))
    t1, base1 = tenants[0]

    def create(path, body, what):
        t1.c.request("POST", base1 + path, body=json.dumps(body), headers=t1.h)
        r = t1.c.getresponse()
        rec = json.loads(r.read())
        if r.status != 202:
            raise SystemExit("%s: %d %r" % (what, r.status, rec))
        wait_job(t1, r.getheader("Location"))
        return rec["id"]

    vm = create("/vms", {"name": "vm", "imageId": image["id"], "size": "S1"}, "vm")
    role = create("/vmroles", {"name": "role", "galleryItemId": item["id"], "size": "S1",
                               "instanceCount": 1}, "vm role")
    snap = create("/snapshots", {"name": "snap", "vmId": vm}, "snapshot")
    return tenants[1], {"vm": vm, "vmrole": role, "snapshot": snap}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/wapd"
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    state = tempfile.mkdtemp(prefix="wapd-scope-timing-")
    log_path = os.path.join(state, "wapd.err")
    log = open(log_path, "wb")
    proc = subprocess.Popen([binary, "--state-dir", state, "--admin-listen", "127.0.0.1:0",
                             "--tenant-listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN],
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        ports = wait_ready(proc, os.path.join(state, "ports.json"))
        (t2, base2), ids = world(ports["admin"], ports["tenant"])
        pairs = [("GET vm", "GET", "/vms/%s", ids["vm"]),
                 ("POST vm stop", "POST", "/vms/%s/stop", ids["vm"]),
                 ("GET vmrole", "GET", "/vmroles/%s", ids["vmrole"]),
                 ("GET snapshot", "GET", "/snapshots/%s", ids["snapshot"])]
        order = [(i, side) for i in range(len(pairs)) for side in ("foreign", "missing")] * samples
        random.shuffle(order)
        # A warm-up round so that both sides start with prepared statements and warm caches.
        for i, side in order[:200]:
            name, method, path, foreign = pairs[i]
            t2.call(method, base2 + path % (foreign if side == "foreign" else uid()))
        client = {}
        rid = {}
        first = {}
        for i, side in order:
            name, method, path, foreign = pairs[i]
            status, body, request_id, took = t2.call(method, base2 + path % (foreign if side == "foreign"
                                                                            else uid()))
            if status != 404:
                raise SystemExit("%s %s: expected 404, got %d %r" % (name, side, status, body))
            # The same answer for both, the message included.
            if first.setdefault(name, body) != body:
                raise SystemExit("%s: %r differs from %r" % (name, body, first[name]))
            client.setdefault((name, side), []).append(took * 1e6)
            rid[request_id] = (name, side)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    server = {}
    with open(log_path) as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            key = rid.get(rec.get("requestId"))
            if key is not None and "durationMs" in rec:
                server.setdefault(key, []).append(rec["durationMs"] * 1000.0)
    shutil.rmtree(state, ignore_errors=True)
    print("%d samples each, microseconds (server: wapd's durationMs; client: round trip)" % samples)
    print("%-14s %-7s %9s %9s %9s %9s" % ("pair", "side", "srv p50", "srv p90", "cli p50", "cli p90"))
    for name, _, _, _ in pairs:
        for side in ("foreign", "missing"):
            s, c = server.get((name, side), [0]), client[(name, side)]
            print("%-14s %-7s %9.1f %9.1f %9.1f %9.1f" % (name, side, pct(s, .5), pct(s, .9), pct(c, .5),
                                                          pct(c, .9)))
        sf, sm = server.get((name, "foreign"), [0]), server.get((name, "missing"), [1])
        cf, cm = client[(name, "foreign")], client[(name, "missing")]
        print("%-14s ratio foreign/missing of medians: server %.2f, client %.2f" %
              (name, pct(sf, .5) / pct(sm, .5), pct(cf, .5) / pct(cm, .5)))


if __name__ == "__main__":
    main()
