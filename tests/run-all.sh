#!/usr/bin/env bash
# make test: every suite in order, each one's output shown as it runs, then one closing line that totals
# the "N passed, N failed" lines of the suites. Exits non-zero when any suite failed. Each suite ends with a
# line of its wall time ("== make unit: 312 s"), and one before the closing line totals them: where the
# time of a CI run goes.
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
log=$(mktemp)
npm_log=$(mktemp)
trap 'rm -f "$log" "$npm_log"' EXIT
status=0
start=$(date +%s)
# The linter's npm install waits on the network, not the CPU: it runs beside the first suites, and make
# lint (which would otherwise install it itself) waits for it and shows its output.
$MAKE --no-print-directory tools/node_modules/.bin/redocly >"$npm_log" 2>&1 &
npm_pid=$!
# unit-pg and e2e-pg: the store conformance suite and the store-heavy e2e modules on PostgreSQL, each on a
# throw-away cluster of its own (tests/pg/cluster.sh; Debian's postgresql package).
for target in unit e2e unit-pg e2e-pg unit-asan e2e-asan lint client walkthrough; do
    echo "== make $target"
    t0=$(date +%s)
    if [ "$target" = lint ]; then
        wait "$npm_pid"
        tee -a "$log" < "$npm_log"
    fi
    if ! $MAKE --no-print-directory "$target" 2>&1 | tee -a "$log"; then
        echo "== make $target FAILED"
        status=1
    fi
    echo "== make $target: $(($(date +%s) - t0)) s"
done
read -r passed failed < <(awk '/^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed$/ { p += $2; f += $4 }
                                END { print p + 0, f + 0 }' "$log")
if grep -q "Your API description is valid" "$log"; then
    passed=$((${passed:-0} + 1))
else
    failed=$((${failed:-0} + 1))
fi
[ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ] && failed=1
echo "== make test: $(($(date +%s) - start)) s"
echo "all: ${passed:-0} passed, ${failed:-0} failed"
exit $status
