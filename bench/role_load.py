#!/usr/bin/env python3
"""Seconds from the request for an N-instance VM role to every instance running.

    role_load.py TENANT_URL TOKEN SUBSCRIPTION GALLERY_ITEM_ID N
"""
import http.client
import json
import sys
import time
import urllib.parse


def main():
    url, token, sub, item, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    t0 = time.monotonic()
    c.request("POST", "/v1/subscriptions/%s/vmroles" % sub,
              body=json.dumps({"name": "bench", "galleryItemId": item, "instanceCount": n}), headers=h)
    r = c.getresponse()
    r.read()
    if r.status != 202:
        print("failed %d" % r.status)
        return 1
    loc = r.getheader("Location")
    while True:
        c.request("GET", loc, headers=h)
        job = json.loads(c.getresponse().read())
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.002)
    elapsed = time.monotonic() - t0
    c.request("GET", "/v1/subscriptions/%s/vms?limit=1000" % sub, headers=h)
    vms = json.loads(c.getresponse().read())["value"]
    running = sum(1 for v in vms if v["vmRoleId"] and v["powerState"] == "running")
    print("%s %d %.3f" % (job["status"], running, elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
