#!/usr/bin/env python3
"""A wapd automation hook receiver: prune old checkpoints whenever a new one is taken.

This is the runbook WAP administrators used to attach to the "checkpoint created" event. wapd POSTs each
event to this receiver; the receiver

  1. verifies X-Wapd-Signature (HMAC-SHA256 of the body with the hook's secret) and refuses anything else
     with 401;
  2. ignores events it has already handled (wapd delivers at least once; the event id de-duplicates);
  3. on vm.checkpoint.created, looks up the VM's subscription to find its plan, and asks the admin API to
     prune every checkpoint of that plan older than --older-than-hours (a checkpoint.prune job);
  4. answers 204 when done, or 502 when the admin API could not be reached, so that wapd retries later.

Only the Python standard library is used. Register it with:

  curl -X POST http://127.0.0.1:30004/v1/admin/hooks -H "Authorization: Bearer $WAPD_ADMIN_TOKEN" \\
       -H 'Content-Type: application/json' \\
       -d '{"url": "http://127.0.0.1:8090/", "events": ["vm.checkpoint.created"], "secret": "'$SECRET'"}'
"""
import argparse
import collections
import hashlib
import hmac
import http.client
import http.server
import json
import os
import sys
import threading
import urllib.parse


class Pruner:
    def __init__(self, admin_url, admin_token, older_than_hours):
        u = urllib.parse.urlsplit(admin_url)
        self.host, self.port = u.hostname, u.port or 80
        self.token = admin_token
        self.hours = older_than_hours
        self.lock = threading.Lock()
        self.done = collections.OrderedDict()  # event ids handled, oldest first (bounded)

    def admin(self, method, path, body=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            headers = {"Authorization": "Bearer " + self.token}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"null")
        finally:
            conn.close()

    def seen(self, event_id):
        with self.lock:
            return event_id in self.done

    def remember(self, event_id):
        with self.lock:
            self.done[event_id] = True
            while len(self.done) > 10000:
                self.done.popitem(last=False)

    def handle(self, event):
        """True when the event is handled (or needs nothing); False to have wapd retry."""
        if event.get("type") != "vm.checkpoint.created" or self.seen(event.get("id")):
            return True
        status, sub = self.admin("GET", "/v1/admin/subscriptions/" + event["subscriptionId"])
        if status == 404:
            self.remember(event["id"])  # the subscription is gone: nothing to prune
            return True
        if status != 200:
            return False
        status, job = self.admin("POST", "/v1/admin/checkpoints/prune",
                                 {"planId": sub["planId"], "olderThanHours": self.hours})
        if status != 202:
            return False
        print(json.dumps({"msg": "prune started", "event": event["id"], "vm": event["resourceId"],
                          "planId": sub["planId"], "job": job["id"]}), flush=True)
        self.remember(event["id"])
        return True


def make_handler(secret, pruner):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, self.headers.get("X-Wapd-Signature", "")):
                return self.reply(401)
            try:
                event = json.loads(body)
            except ValueError:
                return self.reply(400)
            try:
                ok = pruner.handle(event)
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                ok = False
            self.reply(204 if ok else 502)

        def log_message(self, *args):
            pass

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", default="127.0.0.1:8090", help="HOST:PORT (port 0 picks one)")
    p.add_argument("--admin-url", default="http://127.0.0.1:30004")
    p.add_argument("--older-than-hours", type=int, default=168)
    args = p.parse_args()
    secret = os.environ.get("WAPD_HOOK_SECRET")
    token = os.environ.get("WAPD_ADMIN_TOKEN")
    if not secret or not token:
        sys.exit("set WAPD_HOOK_SECRET (the hook's secret) and WAPD_ADMIN_TOKEN")
    host, port = args.listen.rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)),
                                             make_handler(secret.encode(), Pruner(args.admin_url, token,
                                                                                  args.older_than_hours)))
    print(json.dumps({"msg": "listening", "port": server.server_address[1]}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
