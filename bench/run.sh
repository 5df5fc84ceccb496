#!/usr/bin/env bash
# make bench: wapd's read throughput and latency against a bare libmicrohttpd server, in the same run.
#
# 1. builds and starts bench/baseline (fixed JSON body) and loads it with wrk;
# 2. starts wapd on a fresh state dir, creates a plan, a user, a subscription and a token, and loads the
#    tenant GET of the subscription and the admin GET of the plan with the same wrk settings;
# 3. prints req/s, p99 and each ratio to the baseline (best of interleaved rounds), and wapd's idle RSS;
# 4. measures checkpoint replacements per second on a zero-latency sim host (bench/checkpoint_load.py),
#    and the seconds until a 50-instance VM role runs there (bench/role_load.py);
# 5. measures VM creates per second, request to running (bench/create_load.py), on the in-process sim
#    host and through one wapd-agent (sim backend, zero latency) over http, interleaved over the rounds.
#
# Settings: WRK_CONNECTIONS (64), WRK_DURATION (10s), WRK_THREADS (2), HTTP_THREADS (2), BENCH_ROUNDS (2),
# CREATE_VMS (1000 per round), CREATE_CLIENTS (16).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${WRK_CONNECTIONS:-64}
DUR=${WRK_DURATION:-10s}
WTHREADS=${WRK_THREADS:-2}
HTHREADS=${HTTP_THREADS:-2}
WAPD=${WAPD_BIN:-build/wapd}
AGENT=${WAPD_AGENT_BIN:-build/wapd-agent}
OUT=$(mktemp -d /tmp/wapd-bench-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$OUT"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # url
    for _ in $(seq 1 200); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.05
    done
    echo "bench: $1 did not answer" >&2
    return 1
}

run_wrk() { # name url [header]
    local name=$1 url=$2 hdr=${3:-}
    if [ -n "$hdr" ]; then
        wrk -t"$WTHREADS" -c"$CONNS" -d"$DUR" --latency -H "$hdr" "$url" > "$OUT/$name.txt"
    else
        wrk -t"$WTHREADS" -c"$CONNS" -d"$DUR" --latency "$url" > "$OUT/$name.txt"
    fi
    local rps p99 errs
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$OUT/$name.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$OUT/$name.txt")
    errs=$(grep -E "Non-2xx|Socket errors" "$OUT/$name.txt" || true)
    [ -n "$errs" ] && echo "bench: $name: $errs" >&2
    echo "$rps $p99"
}

to_ms() { # wrk latency like 1.23ms, 850.00us, 1.02s
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else print v }'
}

echo "== building the baseline"
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -o "$OUT/baseline" bench/baseline.c \
    $(pkg-config --cflags --libs libmicrohttpd)

BPORT=$(free_port)
"$OUT/baseline" "$BPORT" "$HTHREADS" & pids+=($!)
wait_http "http://127.0.0.1:$BPORT/"

echo "== starting wapd"
ADMIN_TOKEN="bench-admin-token-0123456789abcdef"
"$WAPD" --state-dir "$OUT/state" --admin-listen 127.0.0.1:0 --tenant-listen 127.0.0.1:0 \
    --admin-token "$ADMIN_TOKEN" --http-threads "$HTHREADS" --no-request-log 2> "$OUT/wapd.log" &
WPID=$!
pids+=($WPID)
for _ in $(seq 1 200); do [ -f "$OUT/state/ports.json" ] && break; sleep 0.05; done
APORT=$(python3 -c "import json;print(json.load(open('$OUT/state/ports.json'))['admin'])")
TPORT=$(python3 -c "import json;print(json.load(open('$OUT/state/ports.json'))['tenant'])")
A="http://127.0.0.1:$APORT"
T="http://127.0.0.1:$TPORT"
AH="Authorization: Bearer $ADMIN_TOKEN"
post() { curl -sf -X POST -H "$AH" -H 'Content-Type: application/json' -d "$2" "$A$1"; }
jget() { python3 -c "import json,sys;print(json.load(sys.stdin)['$1'])"; }
CLOUD=$(post /v1/admin/clouds '{"name":"bench"}' | jget id)
PLAN=$(post /v1/admin/plans "{\"name\":\"gold\",\"cloudId\":\"$CLOUD\",\"quotas\":{\"vms\":200},\"checkpointMode\":\"createViewRestore\"}" | jget id)
USER_ID=$(post /v1/admin/users '{"email":"bench@example.com"}' | jget id)
SUB=$(post /v1/admin/subscriptions "{\"userId\":\"$USER_ID\",\"planId\":\"$PLAN\"}" | jget id)
TOKEN=$(post "/v1/admin/users/$USER_ID/tokens" '{}' | jget token)
curl -sf -H "Authorization: Bearer $TOKEN" "$T/v1/subscriptions/$SUB" > /dev/null

sleep 1 # let the process settle before reading its idle RSS
RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$WPID/status")

# The machine is shared: targets are interleaved over ROUNDS rounds and each keeps its best round.
ROUNDS=${BENCH_ROUNDS:-2}
best() { # name rps p99: keep the round with the most req/s
    local n=$1
    eval "local cur=\${${n}_RPS:-0}"
    if awk -v a="$2" -v b="$cur" 'BEGIN { exit !(a > b) }'; then
        eval "${n}_RPS=$2; ${n}_P99=$3"
    fi
}
echo "== wrk: $WTHREADS threads, $CONNS connections, $DUR each, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
    read -r rps p99 < <(run_wrk baseline "http://127.0.0.1:$BPORT/"); best B "$rps" "$p99"
    echo "round $round: baseline $rps req/s, p99 $p99"
    read -r rps p99 < <(run_wrk tenant "$T/v1/subscriptions/$SUB" "Authorization: Bearer $TOKEN"); best T "$rps" "$p99"
    echo "round $round: tenant   $rps req/s, p99 $p99"
    read -r rps p99 < <(run_wrk admin "$A/v1/admin/plans/$PLAN" "$AH"); best A "$rps" "$p99"
    echo "round $round: admin    $rps req/s, p99 $p99"
done

# Checkpoint replacements: a zero-latency sim host, VMs each replaced in a loop by its own client.
CP_CLIENTS=${CP_CLIENTS:-8}
CP_SECONDS=${CP_SECONDS:-10}
HOST_ID=$(post /v1/admin/hosts "{\"name\":\"bench-hv\",\"cloudId\":\"$CLOUD\",\"agent\":{\"kind\":\"sim\",\"uri\":\"sim://\"},\"capacity\":{\"cores\":1000,\"memoryMB\":10000000,\"storageGB\":1000000}}" | jget id)
IMAGE=$(post /v1/admin/images '{"name":"bench","osType":"linux","generation":2,"osDiskGB":10}' | jget id)
post /v1/admin/sizes '{"name":"BenchSmall","cores":1,"memoryMB":512}' > /dev/null
TH="Authorization: Bearer $TOKEN"
VMS=()
for i in $(seq 1 "$CP_CLIENTS"); do
    VMS+=("$(curl -sf -X POST -H "$TH" -H 'Content-Type: application/json' \
        -d "{\"name\":\"cp$i\",\"imageId\":\"$IMAGE\",\"size\":\"BenchSmall\"}" \
        "$T/v1/subscriptions/$SUB/vms" | jget id)")
done
for vm in "${VMS[@]}"; do
    for _ in $(seq 1 200); do
        [ "$(curl -sf -H "$TH" "$T/v1/subscriptions/$SUB/vms/$vm" | jget powerState)" = running ] && break
        sleep 0.05
    done
done
echo "== checkpoint replacements: $CP_CLIENTS VMs, ${CP_SECONDS}s, host $HOST_ID (zero latency)"
read -r CP_DONE CP_FAILED CP_ELAPSED CP_RATE < <(python3 bench/checkpoint_load.py "$T" "$TOKEN" "$SUB" "$CP_SECONDS" "${VMS[@]}")

# A 50-instance VM role on the same zero-latency host: seconds until every instance runs.
ITEM=$(post /v1/admin/galleryItems "{\"name\":\"bench-role\",\"version\":\"1\",\"imageId\":\"$IMAGE\",\"defaultSize\":\"BenchSmall\",\"minInstances\":1,\"maxInstances\":50}" | jget id)
echo "== a 50-instance VM role"
read -r ROLE_STATUS ROLE_RUNNING ROLE_SECONDS < <(python3 bench/role_load.py "$T" "$TOKEN" "$SUB" "$ITEM" 50)

# VM creates, request to running: the in-process sim host against one wapd-agent (sim backend, zero
# latency) reached over http, each in a cloud of its own, interleaved over the rounds.
CREATE_VMS=${CREATE_VMS:-1000}
CREATE_CLIENTS=${CREATE_CLIENTS:-16}
"$AGENT" --listen 127.0.0.1:0 --state-dir "$OUT/agent" --sim-uri "sim://" 2> "$OUT/agent.log" & pids+=($!)
for _ in $(seq 1 200); do [ -f "$OUT/agent/agent.json" ] && break; sleep 0.05; done
AGENT_PORT=$(python3 -c "import json;print(json.load(open('$OUT/agent/agent.json'))['port'])")
AGENT_TOKEN=$(cat "$OUT/agent/agent.token")
create_world() { # name agent-json: prints "subscription token"
    local cloud plan user sub tok
    cloud=$(post /v1/admin/clouds "{\"name\":\"$1\"}" | jget id)
    post /v1/admin/hosts "{\"name\":\"$1-hv\",\"cloudId\":\"$cloud\",\"agent\":$2,\"capacity\":{\"cores\":100000,\"memoryMB\":100000000,\"storageGB\":100000000}}" > /dev/null
    plan=$(post /v1/admin/plans "{\"name\":\"$1\",\"cloudId\":\"$cloud\",\"quotas\":{\"vms\":100000},\"imageIds\":[\"$IMAGE\"],\"sizeNames\":[\"BenchSmall\"]}" | jget id)
    user=$(post /v1/admin/users "{\"email\":\"$1@example.com\"}" | jget id)
    sub=$(post /v1/admin/subscriptions "{\"userId\":\"$user\",\"planId\":\"$plan\"}" | jget id)
    tok=$(post "/v1/admin/users/$user/tokens" '{}' | jget token)
    echo "$sub $tok"
}
read -r SIM_SUB SIM_TOK < <(create_world create-sim '{"kind":"sim","uri":"sim://"}')
read -r AG_SUB AG_TOK < <(create_world create-agent "{\"kind\":\"http\",\"uri\":\"http://127.0.0.1:$AGENT_PORT\",\"token\":\"$AGENT_TOKEN\"}")
echo "== VM creates: $CREATE_VMS per round, $CREATE_CLIENTS clients, $ROUNDS rounds"
best_rate() { awk -v a="$1" -v b="${2:-0}" 'BEGIN { print (a > b ? a : b) }'; }
for round in $(seq 1 "$ROUNDS"); do
    read -r ok_n failed_n secs rate < <(python3 bench/create_load.py "$T" "$SIM_TOK" "$SIM_SUB" "$IMAGE" BenchSmall "$CREATE_VMS" "$CREATE_CLIENTS")
    echo "round $round: in-process sim  $ok_n running, $failed_n failed in ${secs}s = $rate/s"
    SIM_RATE=$(best_rate "$rate" "${SIM_RATE:-0}")
    read -r ok_n failed_n secs rate < <(python3 bench/create_load.py "$T" "$AG_TOK" "$AG_SUB" "$IMAGE" BenchSmall "$CREATE_VMS" "$CREATE_CLIENTS")
    echo "round $round: wapd-agent      $ok_n running, $failed_n failed in ${secs}s = $rate/s"
    AG_RATE=$(best_rate "$rate" "${AG_RATE:-0}")
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", 100 * a / b }'; }
echo
printf '%-34s %12s %10s %10s\n' "target" "req/s" "p99 ms" "vs base"
printf '%-34s %12s %10s %10s\n' "baseline (fixed JSON, MHD)" "$B_RPS" "$(to_ms "$B_P99")" "100%"
printf '%-34s %12s %10s %10s\n' "wapd tenant GET subscription" "$T_RPS" "$(to_ms "$T_P99")" "$(ratio "$T_RPS" "$B_RPS")"
printf '%-34s %12s %10s %10s\n' "wapd admin GET plan" "$A_RPS" "$(to_ms "$A_P99")" "$(ratio "$A_RPS" "$B_RPS")"
echo
echo "wapd idle RSS: $((RSS_KB / 1024)) MB ($RSS_KB kB)"
echo "checkpoint replacements: $CP_DONE in ${CP_ELAPSED}s = $CP_RATE/s ($CP_FAILED failed)"
echo "50-instance VM role: $ROLE_STATUS, $ROLE_RUNNING running after ${ROLE_SECONDS}s"
echo "VM creates to running: in-process sim $SIM_RATE/s, through one wapd-agent $AG_RATE/s ($(ratio "$AG_RATE" "$SIM_RATE") of the in-process sim)"
echo "targets: >= 25% of the baseline, p99 < 10 ms, idle RSS < 20 MB, >= 300 replacements/s, role < 1 s"
