#!/usr/bin/env python3
"""Admin writes, one at a time, for a while: prints how many, their p99 and the longest, in ms.

    write_probe.py ADMIN_URL TOKEN SECONDS

Run beside something that might hold the database's write lock (a usage period's close) to see how long
API writes wait for it.
"""
import http.client
import json
import sys
import time
import urllib.parse


def main():
    url, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    lat, failed = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        c.request("POST", "/v1/admin/clouds", body=json.dumps({"name": "probe"}), headers=h)
        r = c.getresponse()
        r.read()
        lat.append((time.monotonic() - t0) * 1000)
        failed += r.status != 201
        time.sleep(0.005)  # a steady trickle, not a load
    lat.sort()
    print(len(lat), failed, "%.1f" % lat[int(len(lat) * 0.99) - 1], "%.1f" % lat[-1])


if __name__ == "__main__":
    main()
