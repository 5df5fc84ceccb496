#!/usr/bin/env bash
# make fuzz-http: the black-box HTTP fuzzer (bench/httpfuzz.c) against a real daemon.
#
# 1. lists every route of both listeners from the router's table (api/router.c) with its methods;
# 2. starts WAPD_BIN (build/wapd; build/asan/wapd for the sanitized build) on a fresh state dir, ports 0,
#    its stderr kept, and seeds a world through the admin API: an image, a size, a cloud with a sim host, a
#    plan, a gallery item, a user with a subscription and a tenant token, three VMs, a network and their
#    jobs; the ids of all of them go to the fuzzer (the subscription, its user and token, the first VM and
#    what they stand on are never deleted by it);
# 3. runs build/bench/httpfuzz for FUZZ_HTTP_REQUESTS (1,000,000) requests from FUZZ_HTTP_CONNECTIONS (8)
#    threads, seed FUZZ_HTTP_SEED (1);
# 4. checks that the daemon is alive and /healthz answers 200 on both listeners, stops it (SIGTERM), and
#    looks for any sanitizer report (AddressSanitizer, LeakSanitizer, UndefinedBehaviorSanitizer, "runtime
#    error:") in its stderr.
# Exit status 0 only when the fuzzer passed and every check held. The daemon is stopped however the script
# ends; FUZZ_HTTP_KEEP=1 keeps the state dir and the daemon's log; HTTPFUZZ_BIN names another build of the
# fuzzer (a sanitized one, to check the fuzzer itself).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${FUZZ_HTTP_REQUESTS:-1000000}
CONNS=${FUZZ_HTTP_CONNECTIONS:-8}
SEED=${FUZZ_HTTP_SEED:-1}
WAPD=${WAPD_BIN:-build/wapd}
FUZZ=${HTTPFUZZ_BIN:-build/bench/httpfuzz}
LOADGEN=build/bench/loadgen
ADMIN_TOKEN="fuzz-admin-token-0123456789abcdef"
AH="Authorization: Bearer $ADMIN_TOKEN"
OUT=$(mktemp -d /tmp/wapd-httpfuzz-XXXXXX)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
WPID=
cleanup() {
    local rc=$?
    if [ -n "$WPID" ]; then
        kill "$WPID" 2>/dev/null || true
        wait "$WPID" 2>/dev/null || true
    fi
    if [ "${FUZZ_HTTP_KEEP:-0}" = 1 ]; then echo "fuzz-http: kept $OUT" >&2; else rm -rf "$OUT"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

jget() { python3 -c "import json,sys;print(json.load(sys.stdin)['$1'])"; }
post() { curl -sf -X POST -H "$AH" -H 'Content-Type: application/json' -d "$2" "$A$1"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$1"; }

# The routes: "A|T pattern METHOD,..." from the table's rows {A|T, "pattern", H(get, post, put, patch, delete)
python3 - api/router.c > "$OUT/routes" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
names = ["GET", "POST", "PUT", "PATCH", "DELETE"]
for m in re.finditer(r'\{\s*([AT])\s*,\s*"([^"]+)"\s*,\s*H\(([^)]*)\)', src):
    handlers = [h.strip() for h in m.group(3).split(",")]
    methods = [names[i] for i, h in enumerate(handlers) if h != "NULL"]
    print(m.group(1), m.group(2), ",".join(methods))
EOF
echo "fuzz-http: $(wc -l < "$OUT/routes") routes in api/router.c"
[ "$(wc -l < "$OUT/routes")" -gt 20 ] || { echo "fuzz-http: could not read the route table" >&2; exit 1; }

"$WAPD" --state-dir "$OUT/state" --admin-listen 127.0.0.1:0 --tenant-listen 127.0.0.1:0 \
    --admin-token "$ADMIN_TOKEN" --no-request-log 2> "$OUT/wapd.log" &
WPID=$!
for _ in $(seq 1 1200); do [ -f "$OUT/state/ports.json" ] && break; sleep 0.05; done
[ -f "$OUT/state/ports.json" ] || { echo "fuzz-http: wapd wrote no ports.json" >&2; exit 1; }
A="http://127.0.0.1:$(python3 -c "import json;print(json.load(open('$OUT/state/ports.json'))['admin'])")"
T="http://127.0.0.1:$(python3 -c "import json;print(json.load(open('$OUT/state/ports.json'))['tenant'])")"
for _ in $(seq 1 1200); do [ "$(code "$A/readyz")" = 200 ] && break; sleep 0.05; done
[ "$(code "$A/readyz")" = 200 ] || { echo "fuzz-http: /readyz is not 200" >&2; exit 1; }

# The world.
IMAGE=$(post /v1/admin/images '{"name":"fuzz","osType":"linux","generation":2,"osDiskGB":10}' | jget id)
SIZE=$(post /v1/admin/sizes '{"name":"FuzzSmall","cores":1,"memoryMB":512}' | jget id)
CLOUD=$(post /v1/admin/clouds '{"name":"fuzz"}' | jget id)
HOST=$(post /v1/admin/hosts "{\"name\":\"fuzz-hv1\",\"cloudId\":\"$CLOUD\",\"agent\":{\"kind\":\"sim\",\"uri\":\"sim://\"},\"capacity\":{\"cores\":100000,\"memoryMB\":100000000,\"storageGB\":10000000}}" | jget id)
ITEM=$(post /v1/admin/galleryItems "{\"name\":\"fuzz-role\",\"version\":\"1\",\"imageId\":\"$IMAGE\",\"defaultSize\":\"FuzzSmall\",\"minInstances\":1,\"maxInstances\":3}" | jget id)
PLAN=$(post /v1/admin/plans "{\"name\":\"fuzz\",\"cloudId\":\"$CLOUD\",\"quotas\":{\"vms\":200},\"checkpointMode\":\"createViewRestore\"}" | jget id)
USER_ID=$(post /v1/admin/users '{"email":"fuzz@example.com"}' | jget id)
SUB=$(post /v1/admin/subscriptions "{\"userId\":\"$USER_ID\",\"planId\":\"$PLAN\"}" | jget id)
post "/v1/admin/users/$USER_ID/tokens" '{}' > "$OUT/token.json"
TOKEN=$(jget token < "$OUT/token.json")
TOKEN_ID=$(jget id < "$OUT/token.json")
"$LOADGEN" create "$T" "$TOKEN" "$SUB" "$IMAGE" FuzzSmall 3 1 "$OUT/vms" > /dev/null
NET=$(curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"name":"fuzz-net","addressPrefix":"10.1.0.0/16"}' "$T/v1/subscriptions/$SUB/networks" | jget id)
{
    echo "admin_token $ADMIN_TOKEN"
    echo "tenant_token $TOKEN"
    echo "sub $SUB"
    # The backbone (never deleted), then what the fuzzer may delete.
    for id in "$IMAGE" "$CLOUD" "$HOST" "$PLAN" "$USER_ID" "$SUB" "$TOKEN_ID" "$(head -1 "$OUT/vms")"; do
        echo "keep $id"
    done
    for id in "$SIZE" "$ITEM" "$NET" FuzzSmall; do
        echo "id $id"
    done
    tail -n +2 "$OUT/vms" | sed 's/^/id /'
    curl -sf -H "$AH" "$A/v1/admin/jobs?limit=20" |
        python3 -c "import json,sys;[print('id', j['id']) for j in json.load(sys.stdin)['value']]"
} > "$OUT/world"
echo "fuzz-http: $N requests from $CONNS connections per listener against $WAPD (seed $SEED)"

rc=0
"$FUZZ" "$A" "$T" "$OUT/routes" "$OUT/world" "$N" "$CONNS" "$SEED" || rc=$?

fail=0
if ! kill -0 "$WPID" 2>/dev/null; then
    echo "fuzz-http: the daemon died" >&2
    fail=1
else
    ha=$(code "$A/healthz")
    ht=$(code "$T/healthz")
    echo "fuzz-http: /healthz at the end: admin $ha, tenant $ht"
    [ "$ha" = 200 ] && [ "$ht" = 200 ] || fail=1
    kill "$WPID"
    wrc=0
    wait "$WPID" || wrc=$?
    WPID=
    echo "fuzz-http: the daemon stopped with status $wrc"
    [ "$wrc" = 0 ] || fail=1
fi
if grep -nE "AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:" "$OUT/wapd.log" > "$OUT/san"; then
    echo "fuzz-http: sanitizer reports in the daemon's stderr:" >&2
    head -40 "$OUT/san" >&2
    fail=1
else
    echo "fuzz-http: no sanitizer report in the daemon's stderr"
fi
if [ "$rc" -ne 0 ] || [ "$fail" -ne 0 ]; then
    echo "fuzz-http: FAILED" >&2
    exit 1
fi
echo "fuzz-http: passed"
