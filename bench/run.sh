#!/usr/bin/env bash
# make bench: wapd's reads and writes against a bare libmicrohttpd server measured in the same run, and the
# same reads with a million VMs in the store.
#
# 1. starts build/bench/baseline (fixed JSON body) and a wapd on a fresh state dir with a zero-latency sim
#    host, a subscription holding READ_VMS running VMs (the reads' world) and one empty subscription per
#    write world (the in-process sim host, and one wapd-agent reached over http);
# 2. BENCH_ROUNDS interleaved rounds of: wrk on the baseline, on the tenant GET of one VM, of a list of 100
#    VMs (?limit=100) and of the subscription; then, in each write world, build/bench/loadgen creates
#    CREATE_VMS VMs (202 to running), stops them all (202 to stopped) and deletes them (so rounds start
#    equal). Each figure is the median of its rounds, each ratio a median over the baseline's median;
# 3. checkpoint replacements per second and the seconds to a 50-instance VM role;
# 4. the scale run: SCALE_VMS VMs seeded through the store (build/bench/seed) into a second state dir; the
#    daemon's start is timed (process start to ports.json and /readyz 200), its idle RSS read, the same
#    GET and list loads run (BENCH_ROUNDS rounds beside the baseline) and compared with the READ_VMS
#    world's; the loaded RSS is the high-water mark afterwards; then one host's inventory refresh (a
#    quarter of the VMs) with its duration and the RSS it peaked at.
#
# Settings: WRK_CONNECTIONS (32), WRK_DURATION (5s), WRK_THREADS (2), HTTP_THREADS (2), BENCH_ROUNDS (3),
# READ_VMS (1000), CREATE_VMS (1000 per round), CREATE_CLIENTS (32), SCALE_VMS (1000000; 0 skips the scale
# run), SCALE_REFRESH (1: measure the refresh of one host at scale; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${WRK_CONNECTIONS:-32}
DUR=${WRK_DURATION:-5s}
WTHREADS=${WRK_THREADS:-2}
HTHREADS=${HTTP_THREADS:-2}
ROUNDS=${BENCH_ROUNDS:-3}
READ_VMS=${READ_VMS:-1000}
CREATE_VMS=${CREATE_VMS:-1000}
CREATE_CLIENTS=${CREATE_CLIENTS:-32}
SCALE_VMS=${SCALE_VMS:-1000000}
SCALE_REFRESH=${SCALE_REFRESH:-1}
WAPD=${WAPD_BIN:-build/wapd}
AGENT=${WAPD_AGENT_BIN:-build/wapd-agent}
LOADGEN=build/bench/loadgen
SEED=build/bench/seed
BASELINE=build/bench/baseline
ADMIN_TOKEN="bench-admin-token-0123456789abcdef"
AH="Authorization: Bearer $ADMIN_TOKEN"
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
wait_http() { # url [seconds]
    local n=$(( ${2:-10} * 20 ))
    for _ in $(seq 1 "$n"); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
        sleep 0.05
    done
    echo "bench: $1 did not answer" >&2
    return 1
}
now_ms() { date +%s%3N; }
rss_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
jget() { python3 -c "import json,sys;print(json.load(sys.stdin)['$1'])"; }

# wrk: prints "req/s p99_ms"; a non-2xx answer or a socket error is reported.
run_wrk() { # name url [header]
    local name=$1 url=$2 hdr=${3:-} rps p99 errs
    if [ -n "$hdr" ]; then
        wrk -t"$WTHREADS" -c"$CONNS" -d"$DUR" --latency -H "$hdr" "$url" > "$OUT/$name.txt"
    else
        wrk -t"$WTHREADS" -c"$CONNS" -d"$DUR" --latency "$url" > "$OUT/$name.txt"
    fi
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$OUT/$name.txt")
    p99=$(awk '$1 == "99%" {v = $2
        if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v) }
        else if (v ~ /s$/) { sub(/s$/, "", v); v = v * 1000 }
        printf "%.2f", v }' "$OUT/$name.txt")
    errs=$(grep -E "Non-2xx|Socket errors" "$OUT/$name.txt" || true)
    [ -n "$errs" ] && echo "bench: $name: $errs" >&2
    echo "$rps $p99"
}

# Per-round figures go to $OUT/fig/<name> as lines "value p99"; med answers the median of a column.
mkdir -p "$OUT/fig"
keep() { echo "$2 $3" >> "$OUT/fig/$1"; }
med() { # name column(1: value, 2: p99)
    [ -s "$OUT/fig/$1" ] || { echo 0; return; }
    sort -g -k"$2","$2" "$OUT/fig/$1" | awk -v c="$2" '{v[NR] = $c} END {
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
times() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f%%", 100 * a / b; else print "-" }'; }

start_wapd() { # state-dir log: starts wapd, sets WPID, A and T once ports.json is written and /readyz is 200
    rm -f "$1/ports.json"
    "$WAPD" --state-dir "$1" --admin-listen 127.0.0.1:0 --tenant-listen 127.0.0.1:0 \
        --admin-token "$ADMIN_TOKEN" --http-threads "$HTHREADS" --no-request-log 2> "$2" &
    WPID=$!
    pids+=($WPID)
    for _ in $(seq 1 1200); do [ -f "$1/ports.json" ] && break; sleep 0.05; done
    A="http://127.0.0.1:$(python3 -c "import json;print(json.load(open('$1/ports.json'))['admin'])")"
    T="http://127.0.0.1:$(python3 -c "import json;print(json.load(open('$1/ports.json'))['tenant'])")"
    wait_http "$A/readyz" 60
}
post() { curl -sf -X POST -H "$AH" -H 'Content-Type: application/json' -d "$2" "$A$1"; }

# A world: a cloud with NHOSTS hosts of agent json AGENT, a plan, a user, a subscription and a tenant token.
# Prints "subscription token cloud". The image and size are made once (IMAGE, "BenchSmall").
make_catalog() {
    IMAGE=$(post /v1/admin/images '{"name":"bench","osType":"linux","generation":2,"osDiskGB":10}' | jget id)
    post /v1/admin/sizes '{"name":"BenchSmall","cores":1,"memoryMB":512}' > /dev/null
}
make_world() { # name agent-json nhosts
    local cloud plan user sub tok i
    cloud=$(post /v1/admin/clouds "{\"name\":\"$1\"}" | jget id)
    for i in $(seq 1 "$3"); do
        post /v1/admin/hosts "{\"name\":\"$1-hv$i\",\"cloudId\":\"$cloud\",\"agent\":$2,\"capacity\":{\"cores\":1000000,\"memoryMB\":1000000000,\"storageGB\":100000000}}" > /dev/null
    done
    plan=$(post /v1/admin/plans "{\"name\":\"$1\",\"cloudId\":\"$cloud\",\"quotas\":{\"vms\":10000000},\"imageIds\":[\"$IMAGE\"],\"sizeNames\":[\"BenchSmall\"],\"checkpointMode\":\"createViewRestore\"}" | jget id)
    user=$(post /v1/admin/users "{\"email\":\"$1@example.com\"}" | jget id)
    sub=$(post /v1/admin/subscriptions "{\"userId\":\"$user\",\"planId\":\"$plan\"}" | jget id)
    tok=$(post "/v1/admin/users/$user/tokens" '{}' | jget token)
    echo "$sub $tok $cloud"
}

echo "== the baseline"
BPORT=$(free_port)
"$BASELINE" "$BPORT" "$HTHREADS" & pids+=($!)
wait_http "http://127.0.0.1:$BPORT/"

echo "== wapd: a world of $READ_VMS running VMs, and the write worlds"
start_wapd "$OUT/state" "$OUT/wapd.log"
MAIN_PID=$WPID
make_catalog
SIM='{"kind":"sim","uri":"sim://"}'
read -r RSUB RTOK RCLOUD < <(make_world reads "$SIM" 1)
"$LOADGEN" create "$T" "$RTOK" "$RSUB" "$IMAGE" BenchSmall "$READ_VMS" "$CREATE_CLIENTS" "$OUT/reads.ids" > /dev/null
VM=$(head -1 "$OUT/reads.ids")
"$AGENT" --listen 127.0.0.1:0 --state-dir "$OUT/agent" --sim-uri "sim://" 2> "$OUT/agent.log" & pids+=($!)
for _ in $(seq 1 200); do [ -f "$OUT/agent/agent.json" ] && break; sleep 0.05; done
AGENT_PORT=$(python3 -c "import json;print(json.load(open('$OUT/agent/agent.json'))['port'])")
AGENT_TOKEN=$(cat "$OUT/agent/agent.token")
read -r SSUB STOK _ < <(make_world writes-sim "$SIM" 1)
read -r GSUB GTOK _ < <(make_world writes-agent "{\"kind\":\"http\",\"uri\":\"http://127.0.0.1:$AGENT_PORT\",\"token\":\"$AGENT_TOKEN\"}" 1)
sleep 1 # let the process settle before reading its idle RSS
IDLE_RSS=$(rss_kb "$MAIN_PID" VmRSS)

# loadgen: create, stop, delete in one write world; keeps "<name>_create", "<name>_stop" figures.
write_round() { # name sub token
    local c s d
    c=$("$LOADGEN" create "$T" "$3" "$2" "$IMAGE" BenchSmall "$CREATE_VMS" "$CREATE_CLIENTS" "$OUT/$1.ids") || true
    s=$("$LOADGEN" stop "$T" "$3" "$2" "$OUT/$1.ids" "$CREATE_CLIENTS") || true
    d=$("$LOADGEN" delete "$T" "$3" "$2" "$OUT/$1.ids" "$CREATE_CLIENTS") || true
    read -r _ n _ done _ secs rate _ p99 _ <<< "$c"
    keep "$1_create" "$rate" "$p99"
    echo "  $1 creates: $done of $n running in ${secs}s = $rate/s, 202 p99 $p99 ms"
    read -r _ n _ done _ secs rate _ p99 _ <<< "$s"
    keep "$1_stop" "$rate" "$p99"
    echo "  $1 stops:   $done of $n stopped in ${secs}s = $rate/s, 202 p99 $p99 ms"
    read -r _ n _ done _ secs rate _ _ <<< "$d"
    echo "  $1 deletes: $done of $n gone in ${secs}s"
}

TH="Authorization: Bearer $RTOK"
echo "== $ROUNDS rounds: wrk $WTHREADS threads, $CONNS connections, $DUR each; $CREATE_VMS creates, stops and deletes from $CREATE_CLIENTS connections"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    read -r r p < <(run_wrk baseline "http://127.0.0.1:$BPORT/"); keep base "$r" "$p"
    echo "  baseline      $r req/s, p99 $p ms"
    read -r r p < <(run_wrk vm "$T/v1/subscriptions/$RSUB/vms/$VM" "$TH"); keep vm "$r" "$p"
    echo "  GET one VM    $r req/s, p99 $p ms"
    read -r r p < <(run_wrk list "$T/v1/subscriptions/$RSUB/vms?limit=100" "$TH"); keep list "$r" "$p"
    echo "  list of 100   $r pages/s, p99 $p ms"
    read -r r p < <(run_wrk sub "$T/v1/subscriptions/$RSUB" "$TH"); keep sub "$r" "$p"
    echo "  subscription  $r req/s, p99 $p ms"
    write_round sim "$SSUB" "$STOK"
    write_round agent "$GSUB" "$GTOK"
done
LOADED_RSS=$(rss_kb "$MAIN_PID" VmHWM)

# Checkpoint replacements in the reads' world; a 50-instance VM role where it is alone (role_load.py counts
# the instances on the first page of 1,000 VMs).
CP_CLIENTS=${CP_CLIENTS:-8}
CP_SECONDS=${CP_SECONDS:-10}
echo "== checkpoint replacements: $CP_CLIENTS VMs, ${CP_SECONDS}s"
mapfile -t CP_VMS < <(head -"$CP_CLIENTS" "$OUT/reads.ids")
read -r CP_DONE CP_FAILED CP_ELAPSED CP_RATE < <(python3 bench/checkpoint_load.py "$T" "$RTOK" "$RSUB" "$CP_SECONDS" "${CP_VMS[@]}")
ITEM=$(post /v1/admin/galleryItems "{\"name\":\"bench-role\",\"version\":\"1\",\"imageId\":\"$IMAGE\",\"defaultSize\":\"BenchSmall\",\"minInstances\":1,\"maxInstances\":50}" | jget id)
echo "== a 50-instance VM role (in the in-process sim's write world, empty again)"
read -r ROLE_STATUS ROLE_RUNNING ROLE_SECONDS < <(python3 bench/role_load.py "$T" "$STOK" "$SSUB" "$ITEM" 50)
kill "$MAIN_PID"; wait "$MAIN_PID" 2>/dev/null || true

# ---- the scale run ----
if [ "$SCALE_VMS" -gt 0 ]; then
    echo "== scale: $SCALE_VMS VMs seeded through the store"
    start_wapd "$OUT/scale" "$OUT/scale-build.log"
    make_catalog
    read -r XSUB XTOK _ < <(make_world scale "$SIM" 4)
    "$LOADGEN" create "$T" "$XTOK" "$XSUB" "$IMAGE" BenchSmall 1 1 "$OUT/scale.ids" > /dev/null
    XVM=$(head -1 "$OUT/scale.ids")
    kill "$WPID"; wait "$WPID" 2>/dev/null || true
    read -r SEEDED SEED_SECS SEED_RATE < <("$SEED" "$OUT/scale/wapd.db" "$XSUB" "$SCALE_VMS")
    echo "  seeded $SEEDED VMs in ${SEED_SECS}s ($SEED_RATE/s); database $(du -m "$OUT/scale/wapd.db" | cut -f1) MB"
    t0=$(now_ms)
    start_wapd "$OUT/scale" "$OUT/scale.log"
    START_MS=$(( $(now_ms) - t0 ))
    sleep 1
    SCALE_IDLE_RSS=$(rss_kb "$WPID" VmRSS)
    echo "  start to ports.json and /readyz 200: $START_MS ms; idle RSS $((SCALE_IDLE_RSS / 1024)) MB"
    XH="Authorization: Bearer $XTOK"
    for round in $(seq 1 "$ROUNDS"); do
        read -r r p < <(run_wrk baseline "http://127.0.0.1:$BPORT/"); keep xbase "$r" "$p"
        read -r r p < <(run_wrk xvm "$T/v1/subscriptions/$XSUB/vms/$XVM" "$XH"); keep xvm "$r" "$p"
        read -r r2 p2 < <(run_wrk xlist "$T/v1/subscriptions/$XSUB/vms?limit=100" "$XH"); keep xlist "$r2" "$p2"
        echo "  round $round: GET one VM $r req/s, p99 $p ms; list of 100 $r2 pages/s, p99 $p2 ms"
    done
    SCALE_LOADED_RSS=$(rss_kb "$WPID" VmHWM)
    if [ "$SCALE_REFRESH" = 1 ]; then
        # One host's inventory refresh: a quarter of the VMs, none of which the sim host has.
        HOST=$(curl -sf -H "$AH" "$A/v1/admin/hosts?limit=1" | python3 -c "import json,sys;print(json.load(sys.stdin)['value'][0]['id'])")
        JOB=$(post "/v1/admin/hosts/$HOST/refresh" '{}' | jget id)
        t0=$(now_ms); peak=0
        while :; do
            r=$(rss_kb "$WPID" VmRSS); [ "$r" -gt "$peak" ] && peak=$r
            st=$(curl -sf -H "$AH" "$A/v1/admin/jobs/$JOB" | jget status)
            case "$st" in queued|running) sleep 0.2;; *) break;; esac
        done
        REFRESH="$st in $(( ($(now_ms) - t0) / 1000 )) s, RSS peak $((peak / 1024)) MB"
        echo "  refresh of one host ($((SCALE_VMS / 4)) VMs): $REFRESH"
    fi
    kill "$WPID"; wait "$WPID" 2>/dev/null || true
fi

# ---- the summary ----
B=$(med base 1)
row() { # label figure unit
    printf '%-44s %10s %-7s %9s %9s\n' "$1" "$(med "$2" 1)" "$3" "$(med "$2" 2)" "$(ratio "$(med "$2" 1)" "$B")"
}
echo
echo "medians of $ROUNDS rounds; wrk -t$WTHREADS -c$CONNS -d$DUR; $CREATE_VMS VMs per write round"
printf '%-44s %10s %-7s %9s %9s\n' "operation" "rate" "" "p99 ms" "vs base"
row "baseline (fixed JSON, bare MHD)" base "req/s"
row "GET one VM ($READ_VMS VMs)" vm "req/s"
row "GET a list of 100 VMs ($READ_VMS VMs)" list "pages/s"
row "GET the subscription" sub "req/s"
row "creates, 202 to running (in-process sim)" sim_create "VMs/s"
row "stops, 202 to stopped (in-process sim)" sim_stop "VMs/s"
row "creates, 202 to running (one wapd-agent)" agent_create "VMs/s"
row "stops, 202 to stopped (one wapd-agent)" agent_stop "VMs/s"
if [ "$SCALE_VMS" -gt 0 ]; then
    XB=$(med xbase 1)
    xrow() { # label figure unit at-READ_VMS-figure
        printf '%-44s %10s %-7s %9s %9s  rate %sx, p99 %sx the %s-VM figures\n' "$1" "$(med "$2" 1)" "$3" \
            "$(med "$2" 2)" "$(ratio "$(med "$2" 1)" "$XB")" "$(times "$(med "$2" 1)" "$(med "$4" 1)")" \
            "$(times "$(med "$2" 2)" "$(med "$4" 2)")" "$READ_VMS"
    }
    xrow "GET one VM ($SCALE_VMS VMs)" xvm "req/s" vm
    xrow "GET a list of 100 VMs ($SCALE_VMS VMs)" xlist "pages/s" list
fi
echo
echo "wapd RSS: idle $((IDLE_RSS / 1024)) MB, loaded (high-water mark) $((LOADED_RSS / 1024)) MB"
if [ "$SCALE_VMS" -gt 0 ]; then
    echo "scale ($SCALE_VMS VMs): start $START_MS ms; RSS idle $((SCALE_IDLE_RSS / 1024)) MB, loaded $((SCALE_LOADED_RSS / 1024)) MB${REFRESH:+; refresh of one host: $REFRESH}"
fi
echo "checkpoint replacements: $CP_DONE in ${CP_ELAPSED}s = $CP_RATE/s ($CP_FAILED failed)"
echo "50-instance VM role: $ROLE_STATUS, $ROLE_RUNNING running after ${ROLE_SECONDS}s"
echo "targets: GET one VM >= 40% of the baseline, p99 < 5 ms; list of 100 >= 5,000 pages/s, p99 < 10 ms;"
echo "  >= 1,000 creates/s and >= 2,000 stops/s; at scale: p99 within 1.5x, RSS < 150 MB, start < 5 s"
