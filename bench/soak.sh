#!/usr/bin/env bash
# make soak: does wapd hold steady for an hour of tenant load? Memory, fds, database size and latency over
# time at half of the peak rate measured at the start.
#
# 1. starts build/wapd on a fresh state dir (ports 0) and seeds a world through the admin API: two
#    zero-latency sim hosts in a cloud, a plan, SOAK_TENANTS users each with a subscription and a token, and
#    SOAK_VMS running VMs per subscription (build/bench/loadgen create);
# 2. measures the peak: build/bench/soak flat out for SOAK_PEAK_SECONDS with SOAK_CONNECTIONS keep-alive
#    connections of the mixed tenant load (reads of VMs, VM lists, the subscription, jobs and sizes; stops,
#    starts, creates and deletes; see bench/soak.c);
#    then waits for the jobs the peak left to end;
# 3. runs the same load for SOAK_SECONDS at half of that rate, with a row every SOAK_INTERVAL seconds:
#    elapsed, RSS, open fds, database size (wapd.db and its WAL), requests, conflicts (409), errors, busy
#    answers, p50 and p99 latency of the interval; then the rows as a table, and the daemon's /healthz.
# The daemon closes usage periods of SOAK_USAGE_PERIOD seconds, so that closes (every VM's records written
# while the load goes on) happen within the run.
#
# What counts as a failure (the exit status is 1): any error, that is an answer other than 2xx, 409 (a VM
# busy with an earlier job: expected now and then, counted as a conflict) and 503 with Retry-After; any 5xx
# else (500, a 503 without Retry-After), any other 4xx, a request without an answer; busy answers (503 with
# Retry-After, the API's documented "retry later" when the database is busy or full) above 1 per 1,000
# requests of the run (a client retries one; a steady stream means the daemon does not keep up at half of
# its peak); the daemon dead, or /healthz not 200 at the end. Else the exit status is 0. The daemon is
# stopped however the script ends. Settings: SOAK_SECONDS (3600), SOAK_INTERVAL (300), SOAK_PEAK_SECONDS
# (30), SOAK_CONNECTIONS (16), SOAK_TENANTS (8), SOAK_VMS (250 per tenant), SOAK_RATE (a fixed rate instead
# of half of the peak), SOAK_USAGE_PERIOD (300), HTTP_THREADS (the daemon's --http-threads, 2), WAPD_BIN
# (build/wapd), SOAK_KEEP (1: keep the state dir and the daemon's log). A quick check: SOAK_SECONDS=120
# SOAK_INTERVAL=30.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TOTAL=${SOAK_SECONDS:-3600}
INTERVAL=${SOAK_INTERVAL:-300}
PEAK_SECONDS=${SOAK_PEAK_SECONDS:-30}
CONNS=${SOAK_CONNECTIONS:-16}
TENANTS=${SOAK_TENANTS:-8}
VMS=${SOAK_VMS:-250}
HTHREADS=${HTTP_THREADS:-2}
USAGE_PERIOD=${SOAK_USAGE_PERIOD:-300}
WAPD=${WAPD_BIN:-build/wapd}
LOADGEN=build/bench/loadgen
SOAK=build/bench/soak
ADMIN_TOKEN="soak-admin-token-0123456789abcdef"
AH="Authorization: Bearer $ADMIN_TOKEN"
OUT=$(mktemp -d /tmp/wapd-soak-XXXXXX)
WPID=
cleanup() {
    local rc=$?
    if [ -n "$WPID" ]; then
        kill "$WPID" 2>/dev/null || true
        wait "$WPID" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ -s "$OUT/wapd.log" ]; then
        echo "soak: the daemon's log ends with:" >&2
        tail -20 "$OUT/wapd.log" >&2
    fi
    if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "soak: kept $OUT" >&2; else rm -rf "$OUT"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

jget() { python3 -c "import json,sys;print(json.load(sys.stdin)['$1'])"; }
post() { curl -sf -X POST -H "$AH" -H 'Content-Type: application/json' -d "$2" "$A$1"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$1"; }

echo "== wapd on a fresh state dir"
"$WAPD" --state-dir "$OUT/state" --admin-listen 127.0.0.1:0 --tenant-listen 127.0.0.1:0 \
    --admin-token "$ADMIN_TOKEN" --http-threads "$HTHREADS" --usage-period-seconds "$USAGE_PERIOD" \
    --no-request-log 2> "$OUT/wapd.log" &
WPID=$!
for _ in $(seq 1 1200); do [ -f "$OUT/state/ports.json" ] && break; sleep 0.05; done
[ -f "$OUT/state/ports.json" ] || { echo "soak: wapd wrote no ports.json" >&2; exit 1; }
A="http://127.0.0.1:$(python3 -c "import json;print(json.load(open('$OUT/state/ports.json'))['admin'])")"
T="http://127.0.0.1:$(python3 -c "import json;print(json.load(open('$OUT/state/ports.json'))['tenant'])")"
for _ in $(seq 1 1200); do [ "$(code "$A/readyz")" = 200 ] && break; sleep 0.05; done
[ "$(code "$A/readyz")" = 200 ] || { echo "soak: /readyz is not 200" >&2; exit 1; }

echo "== the world: $TENANTS tenants with $VMS running VMs each on two sim hosts"
IMAGE=$(post /v1/admin/images '{"name":"soak","osType":"linux","generation":2,"osDiskGB":10}' | jget id)
post /v1/admin/sizes '{"name":"SoakSmall","cores":1,"memoryMB":512}' > /dev/null
CLOUD=$(post /v1/admin/clouds '{"name":"soak"}' | jget id)
for h in 1 2; do
    post /v1/admin/hosts "{\"name\":\"soak-hv$h\",\"cloudId\":\"$CLOUD\",\"agent\":{\"kind\":\"sim\",\"uri\":\"sim://\"},\"capacity\":{\"cores\":1000000,\"memoryMB\":1000000000,\"storageGB\":100000000}}" > /dev/null
done
PLAN=$(post /v1/admin/plans "{\"name\":\"soak\",\"cloudId\":\"$CLOUD\",\"quotas\":{\"vms\":10000000},\"imageIds\":[\"$IMAGE\"],\"sizeNames\":[\"SoakSmall\"]}" | jget id)
: > "$OUT/world"
for i in $(seq 1 "$TENANTS"); do
    user=$(post /v1/admin/users "{\"email\":\"soak$i@example.com\"}" | jget id)
    sub=$(post /v1/admin/subscriptions "{\"userId\":\"$user\",\"planId\":\"$PLAN\"}" | jget id)
    tok=$(post "/v1/admin/users/$user/tokens" '{}' | jget token)
    "$LOADGEN" create "$T" "$tok" "$sub" "$IMAGE" SoakSmall "$VMS" 8 "$OUT/ids$i" > /dev/null
    echo "$sub $tok $IMAGE SoakSmall $OUT/ids$i" >> "$OUT/world"
done

echo "== the peak: $CONNS connections flat out for ${PEAK_SECONDS}s"
"$SOAK" "$T" "$OUT/world" 0 "$PEAK_SECONDS" "$PEAK_SECONDS" "$CONNS" "$WPID" "$OUT/state" > "$OUT/peak.txt" || {
    cat "$OUT/peak.txt"
    echo "soak: the peak run had errors" >&2
    exit 1
}
read -r _ _ _ PEAK _ _ _ PEAK_P99 _ < <(grep '^total ' "$OUT/peak.txt")
# The peak leaves jobs behind (writes accepted faster than they run): let them end first (up to 5 minutes),
# so that the soak's first interval does not meet VMs still busy with them.
for _ in $(seq 1 600); do
    busy=$(curl -sf -H "$AH" "$A/v1/admin/jobs?status=queued,running&limit=1" |
        python3 -c "import json,sys;print(len(json.load(sys.stdin)['value']))") || busy=1
    [ "$busy" = 0 ] && break
    sleep 0.5
done
RATE=${SOAK_RATE:-$(awk -v p="$PEAK" 'BEGIN { printf "%.0f", p / 2 }')}
echo "  peak $PEAK req/s (p99 $PEAK_P99 ms); the soak runs at $RATE req/s"

echo "== the soak: ${SECONDS_TOTAL}s at $RATE req/s, a row per ${INTERVAL}s"
rc=0
"$SOAK" "$T" "$OUT/world" "$RATE" "$SECONDS_TOTAL" "$INTERVAL" "$CONNS" "$WPID" "$OUT/state" || rc=$?
health=$(code "$A/healthz")
closes=$(grep -c '"usage periods closed"' "$OUT/wapd.log" || true)
longest=$(grep '"usage periods closed"' "$OUT/wapd.log" |
    python3 -c "import json,sys;print(max([json.loads(l)['durationMs'] for l in sys.stdin] or [0]))" || echo "?")
echo "usage closes during the run: $closes (the longest took $longest ms)"
echo "peak $PEAK req/s; soak at $RATE req/s for ${SECONDS_TOTAL}s; /healthz at the end: $health"
if ! kill -0 "$WPID" 2>/dev/null; then
    echo "soak: FAILED: the daemon died" >&2
    exit 1
fi
if [ "$rc" -ne 0 ] || [ "$health" != 200 ]; then
    echo "soak: FAILED (errors, or too many busy answers, during the soak; or /healthz not 200)" >&2
    exit 1
fi
echo "soak: passed"
