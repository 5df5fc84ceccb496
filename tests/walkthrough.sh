#!/usr/bin/env bash
# make walkthrough (part of make test): the ```sh blocks of README.md's section "A walk-through with curl",
# in order, run as one script with bash -euo pipefail against the daemon named by WAPD (default
# build/wapd). The walk-through starts its own daemon on free ports in a temporary state dir and stops it;
# this script only extracts, runs with a deadline, and prints one "walkthrough: N passed, N failed" line.
# WALKTHROUGH_PRINT=1 prints the extracted script instead of running it.
set -uo pipefail
cd "$(dirname "$0")/.."
export WAPD=${WAPD:-build/wapd}
script=$(mktemp)
curl_home=$(mktemp -d)
trap 'rm -rf "$script" "$curl_home"' EXIT
# No curl of the walk-through waits forever on a daemon that hangs: it fails, and the walk-through's own
# trap stops its daemon.
printf 'max-time = 20\nconnect-timeout = 5\n' >"$curl_home/.curlrc"
export CURL_HOME=$curl_home

awk '
    /^## / { in_section = ($0 == "## A walk-through with curl"); next }
    in_section && /^```sh$/ { in_block = 1; blocks++; next }
    in_section && in_block && /^```$/ { in_block = 0; print ""; next }
    in_section && in_block { print }
    END { if (blocks == 0) exit 1 }
' README.md >"$script" || { echo "walkthrough: no sh block in README.md's walk-through" >&2; exit 1; }

if [ "${WALKTHROUGH_PRINT:-0}" = 1 ]; then
    cat "$script"
    exit 0
fi
if [ ! -x "$WAPD" ]; then
    echo "walkthrough: $WAPD is not an executable (make builds build/wapd)" >&2
    echo "walkthrough: 0 passed, 1 failed"
    exit 1
fi

# The script's daemon is its child; timeout's SIGTERM reaches bash, whose EXIT trap stops it.
if timeout --kill-after=10 120 bash -euo pipefail "$script"; then
    echo "walkthrough: 1 passed, 0 failed"
else
    echo "walkthrough: the README walk-through failed (status $?)" >&2
    echo "walkthrough: 0 passed, 1 failed"
    exit 1
fi
