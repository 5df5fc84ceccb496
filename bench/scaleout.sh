#!/usr/bin/env bash
# Scale-out benchmark (part of make bench): VM creates per second with 1, 2 and 3 wapd daemons sharing one
# PostgreSQL database, beside one daemon on SQLite, measured in the same run.
#
# A throw-away PostgreSQL cluster (tests/pg/cluster.sh start/stop: a Unix socket, fsync on) serves the run.
# Each measurement ("run") starts from nothing: SCALEOUT_HOSTS fresh wapd-agent processes (the sim behind
# HTTP: sim hosts are refused with a shared store, and the SQLite figure uses the same agents so that both
# pay the same host calls), a fresh database (PostgreSQL) or state dir (SQLite), the daemons, each with its
# own state dir and ports from its ports.json (on PostgreSQL started one after the other on the same --store
# URI, the first one making the schema), and a world seeded through the first daemon's admin API: an image,
# a size, a cloud with the agents as hosts, a plan whose quotas never bind, a user, a subscription and a
# tenant token. Then build/bench/loadgen sends SCALEOUT_VMS creates from SCALEOUT_CLIENTS keep-alive
# connections, request i to daemon i mod n (round-robin), and polls the VM list until every VM accepted is
# running. Two figures per run:
#   creates/s    202s per second, from the first request to the last answer;
#   jobs done/s  VMs running per second, from the first request to the last create job's end (the job runs
#                on the daemon that accepted the create; with leases, on whichever daemon holds its lease).
# Then everything is stopped and the database dropped. SCALEOUT_ROUNDS rounds, each running every
# configuration once (SQLite, then PostgreSQL with 1, 2, 3 daemons), so that a slow spell of the machine
# falls on all configurations alike; the table shows each figure's median over the rounds, its spread
# (min-max), and the ratio of the medians to the SQLite ones.
#
# Settings: SCALEOUT_VMS (500 creates per run), SCALEOUT_CLIENTS (32), SCALEOUT_ROUNDS (3), SCALEOUT_HOSTS
# (3 wapd-agents), SCALEOUT_DAEMONS ("1 2 3": the PostgreSQL configurations), HTTP_THREADS (2 per listener),
# SCALEOUT_WORKERS (32 job workers per daemon), SCALEOUT_PG_SET (settings name=value, space-separated, given
# to each database with ALTER DATABASE ... SET: e.g. "synchronous_commit=off" shows how much of the
# PostgreSQL figure is the wait for each commit's flush), WAPD_BIN, WAPD_AGENT_BIN; KEEP=1 keeps the logs
# (the path is printed). Everything started is stopped at the end, on failure or interrupt too.
set -euo pipefail
cd "$(dirname "$0")/.."

VMS=${SCALEOUT_VMS:-500}
CLIENTS=${SCALEOUT_CLIENTS:-32}
ROUNDS=${SCALEOUT_ROUNDS:-3}
NHOSTS=${SCALEOUT_HOSTS:-3}
DAEMONS=${SCALEOUT_DAEMONS:-1 2 3}
HTHREADS=${HTTP_THREADS:-2}
WORKERS=${SCALEOUT_WORKERS:-32}
PG_SET=${SCALEOUT_PG_SET:-}
WAPD=${WAPD_BIN:-build/wapd}
AGENT=${WAPD_AGENT_BIN:-build/wapd-agent}
LOADGEN=build/bench/loadgen
CLUSTER=tests/pg/cluster.sh
ADMIN_TOKEN="bench-admin-token-0123456789abcdef"
AH="Authorization: Bearer $ADMIN_TOKEN"

for b in "$WAPD" "$AGENT" "$LOADGEN"; do
    [ -x "$b" ] || { echo "scaleout: $b is missing (make all build/bench/loadgen)" >&2; exit 1; }
done
PSQL=$(command -v psql || find /usr/lib/postgresql -path "*/bin/psql" 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$PSQL" ] || { echo "scaleout: no psql (apt-get install postgresql)" >&2; exit 1; }

OUT=$(mktemp -d /tmp/wapd-scaleout-XXXXXX)
PGDIR= # the cluster's directory once started (its own mktemp: the server's user must own it)
live=() # processes running now: daemons and agents
cleanup() {
    local p
    for p in "${live[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${live[@]}"; do wait "$p" 2>/dev/null || true; done
    live=()
    [ -z "$PGDIR" ] || "$CLUSTER" stop "$PGDIR" || true
    if [ -n "${KEEP:-}" ]; then echo "scaleout: logs kept in $OUT"; else rm -rf "$OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() { # url seconds [header]
    local end=$((SECONDS + $2))
    while [ "$SECONDS" -le "$end" ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' ${3:+-H "$3"} "$1")" = 200 ] && return 0
        sleep 0.05
    done
    echo "scaleout: $1 did not answer within $2 s" >&2
    return 1
}
jget() { python3 -c "import json,sys;print(json.load(sys.stdin)['$1'])"; }
port_of() { python3 -c "import json;print(json.load(open('$1'))['$2'])"; }
post() { curl -sf -X POST -H "$AH" -H 'Content-Type: application/json' -d "$2" "$A$1"; }
psql_base() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$PG" -c "$1" > /dev/null; }
# User and system CPU ticks used so far by the processes given, all their threads (0 for one gone).
cpu_ticks() { # pid...
    local p t=0
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat")))
    done
    echo "$t"
}
# The PostgreSQL server's processes (the postmaster and its children: backends, walwriter, checkpointer...).
pg_pids() {
    local pm
    pm=$(head -n 1 "$PGDIR/data/postmaster.pid")
    echo "$pm $(ps -o pid= --ppid "$pm" | tr -s ' \n' '  ')"
}
# The cluster's WAL flushes (fsyncs) so far: only this run's database is busy on the cluster.
wal_syncs() { "$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -d "$PG" -c "SELECT wal_sync FROM pg_stat_wal"; }

# A wapd-agent on a fresh state dir; appends its agent json (as a host's "agent") to AGENTS_JSON.
start_agent() { # dir name
    local p
    "$AGENT" --listen 127.0.0.1:0 --state-dir "$1" --name "$2" --sim-uri "sim://" 2> "$1.log" &
    p=$!
    live+=("$p")
    for _ in $(seq 1 600); do
        [ -f "$1/agent.json" ] && break
        kill -0 "$p" 2> /dev/null || break
        sleep 0.05
    done
    [ -f "$1/agent.json" ] || { echo "scaleout: wapd-agent $2 did not start: $(tail -5 "$1.log")" >&2; return 1; }
    p=$(port_of "$1/agent.json" port)
    wait_http "http://127.0.0.1:$p/v1/host" 30 "Authorization: Bearer $(cat "$1/agent.token")"
    AGENTS_JSON+=("{\"kind\":\"http\",\"uri\":\"http://127.0.0.1:$p\",\"token\":\"$(cat "$1/agent.token")\"}")
}

# A daemon on a fresh state dir (and the store URI, when given); appends its URLs to ADMINS and TENANTS.
start_wapd() { # dir [store-uri]
    local p store=()
    [ -z "${2:-}" ] || store=(--store "$2")
    mkdir -p "$1"
    "$WAPD" --state-dir "$1" "${store[@]}" --admin-listen 127.0.0.1:0 --tenant-listen 127.0.0.1:0 \
        --admin-token "$ADMIN_TOKEN" --http-threads "$HTHREADS" --workers "$WORKERS" --no-request-log \
        2> "$1.log" &
    p=$!
    live+=("$p")
    WAPDS+=("$p")
    for _ in $(seq 1 1200); do
        [ -f "$1/ports.json" ] && break
        kill -0 "$p" 2> /dev/null || { echo "scaleout: wapd exited: $(tail -5 "$1.log")" >&2; return 1; }
        sleep 0.05
    done
    ADMINS+=("http://127.0.0.1:$(port_of "$1/ports.json" admin)")
    TENANTS+=("http://127.0.0.1:$(port_of "$1/ports.json" tenant)")
    wait_http "${ADMINS[-1]}/readyz" 60
}

forget() { # pid: no longer running (reaped)
    local p keep=()
    for p in "${live[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    live=("${keep[@]}")
}
stop_all() {
    local p
    for p in "${live[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${live[@]}"; do wait "$p" 2>/dev/null || true; done
    live=()
}

# The world, through the first daemon's admin API: prints "subscription token image".
seed_world() {
    local image cloud plan user sub tok i
    image=$(post /v1/admin/images '{"name":"bench","osType":"linux","generation":2,"osDiskGB":10}' | jget id)
    post /v1/admin/sizes '{"name":"BenchSmall","cores":1,"memoryMB":512}' > /dev/null
    cloud=$(post /v1/admin/clouds '{"name":"scaleout"}' | jget id)
    for i in "${!AGENTS_JSON[@]}"; do
        post /v1/admin/hosts "{\"name\":\"scaleout-hv$((i + 1))\",\"cloudId\":\"$cloud\",\"agent\":${AGENTS_JSON[$i]},\"capacity\":{\"cores\":1000000,\"memoryMB\":1000000000,\"storageGB\":100000000}}" > /dev/null
    done
    plan=$(post /v1/admin/plans "{\"name\":\"scaleout\",\"cloudId\":\"$cloud\",\"quotas\":{\"vms\":10000000},\"imageIds\":[\"$image\"],\"sizeNames\":[\"BenchSmall\"],\"checkpointMode\":\"createViewRestore\"}" | jget id)
    user=$(post /v1/admin/users '{"email":"scaleout@example.com"}' | jget id)
    sub=$(post /v1/admin/subscriptions "{\"userId\":\"$user\",\"planId\":\"$plan\"}" | jget id)
    tok=$(post "/v1/admin/users/$user/tokens" '{}' | jget token)
    echo "$sub $tok $image"
}

# Per-run figures go to $OUT/fig/<configuration> as lines "creates/s jobs/s p99 missing flushes wapd-cpu
# pg-cpu" (missing: creates not accepted, or accepted and not running when loadgen gave up, which the table
# adds over the rounds; flushes: on PostgreSQL, the cluster's WAL flushes from the first create to the
# daemons' stop per VM running; wapd-cpu, pg-cpu: the user and system CPU milliseconds per VM running that
# the daemons and the PostgreSQL server used from the first create to the last VM running; "-" where not
# measured: no PostgreSQL with SQLite).
mkdir -p "$OUT/fig"
# One run of a configuration: "sqlite" or "pgN" (N daemons). Prints its figures.
measure() { # configuration round
    local cfg=$1 run="$OUT/run-$1-$2" n=1 db="" uri="" i sub tok image urls line rc=0 syncs0=0 flushes=-
    local _m _n accepted ran _failed secs rate _p50 p99 asecs arate w0 g0=0 wms pms=-
    mkdir -p "$run"
    AGENTS_JSON=() ADMINS=() TENANTS=() WAPDS=()
    for i in $(seq 1 "$NHOSTS"); do start_agent "$run/agent$i" "scaleout-hv$i"; done
    if [ "$cfg" != sqlite ]; then
        n=${cfg#pg}
        db="wapd_bench_${cfg}_$2"
        psql_base "CREATE DATABASE $db"
        for i in $PG_SET; do psql_base "ALTER DATABASE $db SET ${i%%=*} = '${i#*=}'"; done
        uri=${PG/\/postgres\?/\/$db?}
    fi
    for i in $(seq 1 "$n"); do start_wapd "$run/wapd$i" "$uri"; done
    A=${ADMINS[0]}
    line=$(seed_world)
    read -r sub tok image <<< "$line"
    urls=$(IFS=,; echo "${TENANTS[*]}")
    [ -z "$db" ] || syncs0=$(wal_syncs)
    # shellcheck disable=SC2046 # pg_pids is a list of numbers
    [ -z "$db" ] || g0=$(cpu_ticks $(pg_pids))
    w0=$(cpu_ticks "${WAPDS[@]}")
    # In the background, so that a signal to this script ends the wait at once (then cleanup stops it).
    "$LOADGEN" create "$urls" "$tok" "$sub" "$image" BenchSmall "$VMS" "$CLIENTS" "$run/ids" \
        > "$run/loadgen.out" 2> "$run/loadgen.err" &
    i=$!
    live+=("$i")
    wait "$i" || rc=$?
    forget "$i"
    line=$(cat "$run/loadgen.out")
    read -r _m _n accepted ran _failed secs rate _p50 p99 asecs arate <<< "$line"
    wms=$(per_vm "$w0" "$(cpu_ticks "${WAPDS[@]}")" "$ran")
    # shellcheck disable=SC2046
    [ -z "$db" ] || pms=$(per_vm "$g0" "$(cpu_ticks $(pg_pids))" "$ran")
    [ "$rc" = 0 ] || echo "  scaleout: $cfg round $2: loadgen status $rc; $(sort "$run/loadgen.err" | uniq -c | sort -rn | head -3)" >&2
    stop_all # the daemons' sessions end, and with them their statistics are flushed
    [ -z "$db" ] || flushes=$(awk -v a="$syncs0" -v b="$(wal_syncs)" -v n="$ran" 'BEGIN {
        if (n > 0) printf "%.1f", (b - a) / n; else print "-" }')
    echo "$arate $rate $p99 $((VMS - ran)) $flushes $wms $pms" >> "$OUT/fig/$cfg"
    printf '  %-22s %5d of %d accepted in %6.2fs = %7.1f creates/s; %5d running in %6.2fs = %7.1f jobs/s; 202 p99 %s ms\n' \
        "$(label "$cfg")" "$accepted" "$VMS" "$asecs" "$arate" "$ran" "$secs" "$rate" "$p99"
    printf '  %-22s CPU per VM: wapd %s ms%s\n' "" "$wms" "${db:+, PostgreSQL $pms ms; $flushes WAL flushes per VM}"
    [ -z "$db" ] || psql_base "DROP DATABASE $db WITH (FORCE)"
    [ -n "${KEEP:-}" ] || rm -rf "$run"
}

per_vm() { # ticks-before ticks-after VMs: CPU milliseconds per VM
    awk -v a="$1" -v b="$2" -v n="$3" -v hz="$HZ" 'BEGIN {
        if (n > 0) printf "%.1f", (b - a) * 1000 / hz / n; else print "-" }'
}
HZ=$(getconf CLK_TCK)

label() {
    case $1 in
    sqlite) echo "SQLite, 1 daemon" ;;
    pg1) echo "PostgreSQL, 1 daemon" ;;
    *) echo "PostgreSQL, ${1#pg} daemons" ;;
    esac
}
med() { # configuration column: the median of that column over the rounds
    sort -g -k"$2","$2" "$OUT/fig/$1" | awk -v c="$2" '{v[NR] = $c} END {
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
spread() { # configuration column: "min-max"
    sort -g -k"$2","$2" "$OUT/fig/$1" | awk -v c="$2" 'NR == 1 {lo = $c} {hi = $c} END {printf "%s-%s", lo, hi}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }

echo "== scale-out: a PostgreSQL cluster for the run"
PGDIR=$(mktemp -d /tmp/wapd-pg-XXXXXX)
PG=$("$CLUSTER" start "$PGDIR")
CONFIGS=(sqlite)
for n in $DAEMONS; do CONFIGS+=("pg$n"); done
echo "== $ROUNDS rounds of ${CONFIGS[*]}: $VMS creates each from $CLIENTS connections (round-robin over the daemons), $NHOSTS wapd-agent hosts${PG_SET:+; PostgreSQL databases SET $PG_SET}"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    for cfg in "${CONFIGS[@]}"; do measure "$cfg" "$round"; done
done

echo
echo "VM creates, medians of $ROUNDS runs (spread: min-max); $VMS creates per run from $CLIENTS connections,"
echo "round-robin over the daemons; $NHOSTS wapd-agent hosts; $WORKERS job workers and $HTHREADS HTTP threads per listener per daemon"
FMT='%-22s %9s %-15s %9s %-15s %8s %9s %9s %7s %8s %8s %8s\n'
# shellcheck disable=SC2059 # the format is FMT, above
printf "$FMT" configuration "creates/s" "(spread)" "jobs/s" "(spread)" "p99 ms" "creates" "jobs" "missing" "WAL" \
    "CPU ms/VM" ""
# shellcheck disable=SC2059
printf "$FMT" "" "(202s)" "" "(running)" "" "(202)" "vs SQLite" "vs SQLite" "(all)" "flush/VM" "wapd" "postgres"
SC=$(med sqlite 1)
SJ=$(med sqlite 2)
for cfg in "${CONFIGS[@]}"; do
    c=$(med "$cfg" 1)
    j=$(med "$cfg" 2)
    f=- g=-
    [ "$cfg" = sqlite ] || { f=$(med "$cfg" 5); g=$(med "$cfg" 7); }
    # shellcheck disable=SC2059
    printf "$FMT" "$(label "$cfg")" "$c" "($(spread "$cfg" 1))" "$j" "($(spread "$cfg" 2))" "$(med "$cfg" 3)" \
        "$(ratio "$c" "$SC")" "$(ratio "$j" "$SJ")" "$(awk '{s += $4} END {print s}' "$OUT/fig/$cfg")" "$f" \
        "$(med "$cfg" 6)" "$g"
done
CORES=$(nproc)
echo
echo "note: this machine has $CORES core(s), shared by every daemon, PostgreSQL, the $NHOSTS agents and the load"
echo "  generator. More daemons add no CPU here, so the PostgreSQL rows measure the overhead of a shared"
echo "  database and of spreading the load over more processes, not scaling: scale-out gains need daemons on"
echo "  machines of their own. Other load on the machine shows up as spread; compare rows of the same run only."
