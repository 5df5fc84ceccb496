#!/usr/bin/env bash
# Usage benchmarks (part of make bench):
# 1. drain 1,000,000 usage records through the native API (limit 1000): once with a client that only reads
#    (bench/usage_drain.py, its parsing time excluded), once with the reference collector;
# 2. close one metering period for 100,000 VMs while wrk GETs a tenant subscription and a trickle of admin
#    writes runs (bench/write_probe.py), and report the close's duration, the GETs' p99 and how long the
#    writes waited.
# The records and the timeline are written straight into the database of a stopped daemon (the project's
# own load setup); everything else goes through the API.
set -euo pipefail
cd "$(dirname "$0")/.."
WAPD=${WAPD_BIN:-build/wapd}
COLLECT=${COLLECT_BIN:-build/wapd-collect}
OUT=$(mktemp -d /tmp/wapd-usage-bench-XXXXXX)
TOKEN="bench-admin-token-0123456789abcdef"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$OUT"; }
trap cleanup EXIT
KEEP=${KEEP:-}

start() { # extra args…
    rm -f "$OUT/state/ports.json"
    "$WAPD" --state-dir "$OUT/state" --admin-listen 127.0.0.1:0 --tenant-listen 127.0.0.1:0 \
        --admin-token "$TOKEN" --no-request-log "$@" 2>> "$OUT/wapd.log" &
    pid=$!
    for _ in $(seq 1 600); do [ -f "$OUT/state/ports.json" ] && break; sleep 0.05; done
    APORT=$(python3 -c "import json;print(json.load(open('$OUT/state/ports.json'))['admin'])")
    TPORT=$(python3 -c "import json;print(json.load(open('$OUT/state/ports.json'))['tenant'])")
}
stop() { kill "$pid"; wait "$pid" || true; pid=""; }

echo "== usage: 1,000,000 records drained by wapd-collect"
start --usage-period-seconds 3600
stop
sqlite3 "$OUT/state/wapd.db" > /dev/null <<'SQL'
PRAGMA journal_mode=WAL;
INSERT OR REPLACE INTO meta(key, value) VALUES ('usage.closedUntilMs', 4102444800000);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999999)
INSERT INTO usage_records(id, subscription_id, resource_id, resource_type, meter, quantity, unit,
                          period_start_ms, period_end_ms, properties)
SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'bench-subscription', printf('vm-%06d', i / 3), 'vm',
       CASE i % 3 WHEN 0 THEN 'compute.hours' WHEN 1 THEN 'compute.runningHours' ELSE 'storage.gbHours' END,
       0.5, 'hours', 1700000000000, 1700003600000, '{"size":"Small","cores":1,"memoryMB":1792}'
FROM n;
SQL
start --usage-period-seconds 3600
read -r API_N API_S API_RATE < <(python3 bench/usage_drain.py "http://127.0.0.1:$APORT" "$TOKEN")
T0=$(date +%s.%N)
"$COLLECT" --url "http://127.0.0.1:$APORT" --token "$TOKEN" --out "$OUT/usage.jsonl" \
    --state "$OUT/cursor" --once
T1=$(date +%s.%N)
LINES=$(wc -l < "$OUT/usage.jsonl")
DRAIN_RATE=$(awk -v n="$LINES" -v a="$T0" -v b="$T1" 'BEGIN { printf "%.0f", n / (b - a) }')
DRAIN_S=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f", b - a }')
stop

echo "== usage: closing a period for 100,000 VMs under concurrent GETs"
rm -rf "$OUT/state" "$OUT/usage.jsonl" "$OUT/cursor"
PERIOD=15
start --usage-period-seconds "$PERIOD"
A="http://127.0.0.1:$APORT"; T="http://127.0.0.1:$TPORT"; AH="Authorization: Bearer $TOKEN"
post() { curl -sf -X POST -H "$AH" -H 'Content-Type: application/json' -d "$2" "$A$1"; }
jget() { python3 -c "import json,sys;print(json.load(sys.stdin)['$1'])"; }
CLOUD=$(post /v1/admin/clouds '{"name":"b"}' | jget id)
PLAN=$(post /v1/admin/plans "{\"name\":\"p\",\"cloudId\":\"$CLOUD\"}" | jget id)
USER_ID=$(post /v1/admin/users '{"email":"usage-bench@example.com"}' | jget id)
SUB=$(post /v1/admin/subscriptions "{\"userId\":\"$USER_ID\",\"planId\":\"$PLAN\"}" | jget id)
TTOKEN=$(post "/v1/admin/users/$USER_ID/tokens" '{}' | jget token)
stop
NOW_MS=$(($(date +%s) * 1000))
sqlite3 "$OUT/state/wapd.db" > /dev/null <<SQL
PRAGMA journal_mode=WAL;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
INSERT INTO vm_timeline(vm_id, subscription_id, at_ms, event, power_state, size, cores, memory_mb,
                        storage_gb, holds_compute, holds_storage, name)
SELECT printf('bench-vm-%06d', i), '$SUB', $NOW_MS - 7200000, 'created', 'running', 'Small', 1, 1792, 40,
       1, 1, printf('vm%d', i) FROM n;
INSERT OR IGNORE INTO vm_state(vm_id, gone_ms) SELECT DISTINCT vm_id, NULL FROM vm_timeline;
INSERT OR REPLACE INTO meta(key, value) VALUES ('usage.closedUntilMs', ($NOW_MS / ($PERIOD * 1000)) * ($PERIOD * 1000));
SQL
start --usage-period-seconds "$PERIOD"
T="http://127.0.0.1:$TPORT"
# GETs run across the next period boundary, when the 100,000 VMs' period closes.
# Meanwhile a trickle of admin writes measures how long writes wait for the closer.
python3 bench/write_probe.py "http://127.0.0.1:$APORT" "$TOKEN" $((PERIOD + 15)) > "$OUT/writes.txt" &
probe=$!
wrk -t2 -c16 -d$((PERIOD + 15))s --latency -H "Authorization: Bearer $TTOKEN" "$T/v1/subscriptions/$SUB" \
    > "$OUT/wrk.txt"
wait "$probe"
read -r W_N W_FAILED W_P99 W_MAX < "$OUT/writes.txt"
for _ in $(seq 1 600); do grep -q '"usage periods closed"' "$OUT/wapd.log" && break; sleep 0.1; done
CLOSE_MS=$(grep '"usage periods closed"' "$OUT/wapd.log" | head -n 1 | python3 -c "import json,sys;print(round(json.loads(sys.stdin.read())['durationMs']))" || echo "?")
P99=$(awk '$1 == "99%" {print $2}' "$OUT/wrk.txt")
# The first close is the one measured (the GETs may outlast it into the next one).
RECORDS=$(sqlite3 "$OUT/state/wapd.db" \
    "SELECT count(*) FROM usage_records WHERE period_start_ms = (SELECT min(period_start_ms) FROM usage_records);")
stop
echo
echo "usage drain, API (daemon's serving time, client parsing excluded): $API_N records in ${API_S}s = $API_RATE records/s (target >= 100,000/s)"
echo "usage drain, wapd-collect end to end (fsync per page): $LINES records in ${DRAIN_S}s = $DRAIN_RATE records/s"
echo "usage close: 100,000 VMs, $RECORDS records, ${CLOSE_MS} ms (target < 5000 ms); concurrent GET p99 $P99 (target < 20 ms)"
echo "usage close: admin writes meanwhile: $W_N, $W_FAILED failed, p99 ${W_P99} ms, longest ${W_MAX} ms"
