#!/usr/bin/env bash
# Hook delivery benchmark (part of make bench).
#
# A bare libmicrohttpd server (bench/baseline.c, answering 200) is the receiver. Its own capacity for the
# same POSTs, measured with wrk in this run, is the baseline. wapd gets three hooks: two to that receiver
# and one to a closed port (every attempt fails and is retried). 50,000 events, each queued for the three
# hooks, are written into a stopped daemon's database (the project's own load setup); the daemon is started
# and the time until both good hooks have every delivery recorded as succeeded gives the delivery rate.
# A second phase measures live delivery: events raised through the API (subscription creates from wrk)
# while the sender runs, reporting how far deliveries lag behind.
set -euo pipefail
cd "$(dirname "$0")/.."
WAPD=${WAPD_BIN:-build/wapd}
N=${HOOK_EVENTS:-50000}
OUT=$(mktemp -d /tmp/wapd-hooks-bench-XXXXXX)
TOKEN="bench-admin-token-0123456789abcdef"
pid=""; spid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    [ -n "$spid" ] && kill "$spid" 2>/dev/null
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$OUT"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
start() {
    rm -f "$OUT/state/ports.json"
    "$WAPD" --state-dir "$OUT/state" --admin-listen 127.0.0.1:0 --tenant-listen 127.0.0.1:0 \
        --admin-token "$TOKEN" --no-request-log 2>> "$OUT/wapd.log" &
    pid=$!
    for _ in $(seq 1 600); do [ -f "$OUT/state/ports.json" ] && break; sleep 0.05; done
    APORT=$(python3 -c "import json;print(json.load(open('$OUT/state/ports.json'))['admin'])")
}
stop() { kill "$pid"; wait "$pid" || true; pid=""; }
succeeded() { # hook ids…
    local ids
    ids=$(printf "'%s'," "$@"); ids=${ids%,}
    sqlite3 "file:$OUT/state/wapd.db?mode=ro" \
        "SELECT count(*) FROM deliveries WHERE state = 'succeeded' AND hook_id IN ($ids);" 2>/dev/null || echo 0
}
now() { date +%s.%N; }

cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -o "$OUT/sink" bench/baseline.c \
    $(pkg-config --cflags --libs libmicrohttpd)
SPORT=$(free_port)
"$OUT/sink" "$SPORT" 2 & spid=$!
for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$SPORT/" && break; sleep 0.05; done

echo "== hooks: the receiver's own capacity for the same POSTs (wrk, 8 connections, 5 s)"
cat > "$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"id":"01a20284-6535-76c6-a64b-e97a3f4e8dd8","type":"subscription.created","occurredAt":"2026-11-22T09:09:20.821Z","subscriptionId":"c7881d5b-e169-4f8b-aeb8-830e06371e34","resourceId":"c7881d5b-e169-4f8b-aeb8-830e06371e34","data":{}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Wapd-Signature"] = "sha256=0000000000000000000000000000000000000000000000000000000000000000"
LUA
SINK_RPS=$(wrk -t2 -c8 -d5s -s "$OUT/post.lua" "http://127.0.0.1:$SPORT/" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
echo "receiver: $SINK_RPS POST/s"

echo "== hooks: $N events queued for 3 hooks (one always failing), delivered from a cold start"
start
A="http://127.0.0.1:$APORT"; AH="Authorization: Bearer $TOKEN"
hook() { curl -sf -X POST "$A/v1/admin/hooks" -H "$AH" -H 'Content-Type: application/json' \
    -d "{\"url\": \"$1\", \"events\": [\"*\"], \"secret\": \"bench-secret\"}" | jq -r .id; }
H1=$(hook "http://127.0.0.1:$SPORT/a")
H2=$(hook "http://127.0.0.1:$SPORT/b")
H3=$(hook "http://127.0.0.1:1/closed")
stop
sqlite3 "$OUT/state/wapd.db" > /dev/null <<SQL
PRAGMA journal_mode=WAL;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO events(id, type, occurred_ms, subscription_id, resource_id, body)
SELECT printf('%08x-0000-7000-8000-%012x', i, i), 'vm.powerStateChanged', 1700000000000,
       'bench-subscription', printf('vm-%06d', i),
       json_object('id', printf('%08x-0000-7000-8000-%012x', i, i), 'type', 'vm.powerStateChanged',
                   'occurredAt', '2023-11-14T22:13:20.000Z', 'subscriptionId', 'bench-subscription',
                   'resourceId', printf('vm-%06d', i), 'data', json_object('from', 'stopping', 'to', 'stopped'))
FROM n;
INSERT INTO deliveries(hook_id, event_seq, state, attempts, next_ms, queued_ms)
SELECT h.id, e.seq, 'pending', 0, 0, CAST(strftime('%s','now') AS INTEGER) * 1000
FROM events e CROSS JOIN hooks h ORDER BY e.seq, h.seq;
SQL
T0=$(now)
start
WANT=$((2 * N))
while :; do
    GOT=$(succeeded "$H1" "$H2")
    [ "$GOT" -ge "$WANT" ] && break
    sleep 0.1
done
T1=$(now)
FAILED_ATTEMPTS=$(sqlite3 "file:$OUT/state/wapd.db?mode=ro" \
    "SELECT count(*) FROM delivery_attempts WHERE hook_id = '$H3';")
RATE=$(awk -v n="$WANT" -v a="$T0" -v b="$T1" 'BEGIN { printf "%.0f", n / (b - a) }')
SECS=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f", b - a }')
RATIO=$(awk -v r="$RATE" -v s="$SINK_RPS" 'BEGIN { printf "%.1f%%", 100 * r / s }')

echo "== hooks: live events (subscription creates from wrk, 4 connections, 5 s) delivered while raised"
A="http://127.0.0.1:$APORT" # this start's port
U=$(curl -sf -X POST "$A/v1/admin/users" -H "$AH" -H 'Content-Type: application/json' \
    -d '{"email": "hookbench@example.com"}' | jq -r .id)
C=$(curl -sf -X POST "$A/v1/admin/clouds" -H "$AH" -H 'Content-Type: application/json' -d '{"name": "hb"}' | jq -r .id)
P=$(curl -sf -X POST "$A/v1/admin/plans" -H "$AH" -H 'Content-Type: application/json' \
    -d "{\"name\": \"hb\", \"cloudId\": \"$C\"}" | jq -r .id)
cat > "$OUT/subs.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"userId": "$U", "planId": "$P"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
BEFORE=$(succeeded "$H1" "$H2")
L0=$(now)
wrk -t2 -c4 -d5s -s "$OUT/subs.lua" "$A/v1/admin/subscriptions" > "$OUT/subs.txt"
L1=$(now)
MADE=$(sqlite3 "file:$OUT/state/wapd.db?mode=ro" "SELECT count(*) FROM events WHERE type = 'subscription.created';")
while :; do
    GOT=$(( $(succeeded "$H1" "$H2") - BEFORE ))
    [ "$GOT" -ge $((2 * MADE)) ] && break
    sleep 0.05
done
L2=$(now)
stop
LIVE_RATE=$(awk -v n="$MADE" -v a="$L0" -v b="$L1" 'BEGIN { printf "%.0f", n / (b - a) }')
LAG=$(awk -v a="$L1" -v b="$L2" 'BEGIN { printf "%.2f", b - a }')

echo
printf '%-58s %s\n' "receiver baseline (wrk POST, 8 connections)" "$SINK_RPS/s"
printf '%-58s %s\n' "backlog: deliveries to the 2 good hooks" "$WANT in ${SECS}s = $RATE/s ($RATIO of the baseline)"
printf '%-58s %s\n' "backlog: attempts at the failing hook meanwhile" "$FAILED_ATTEMPTS (retried with backoff)"
printf '%-58s %s\n' "live: events raised through the API" "$MADE in 5 s = $LIVE_RATE/s, each to 2 good hooks + 1 failing"
printf '%-58s %s\n' "live: every delivery recorded after the last event" "${LAG}s later"
echo "target: >= 2,000 events delivered per second"
