#!/bin/sh
# Runs each unit test binary given; cmocka prints each suite's summary. Exits non-zero when any failed,
# names each binary that failed (with its exit status: a crash shows as a signal), and ends with one line
# "N passed, N failed" over every test of every binary.
#
# UNIT_JOBS=N runs up to N binaries at once (each makes its own temporary directories); a binary's output
# is printed whole when it ends, never mixed with another's. The default, 1, runs them one after the other.
if [ "$1" = "--one" ]; then
    # One binary ($3), its output printed under the lock, its counts kept in DIR ($2) for the summary.
    dir=$2
    t=$3
    out=$("$t" 2>&1)
    rc=$?
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    flock "$dir/lock" printf '%s\n' "$out"
    echo "${p:-0} ${f:--} $rc" > "$dir/$(printf '%s' "$t" | tr / _).res"
    exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
: > "$dir/lock"
printf '%s\n' "$@" | xargs -P "${UNIT_JOBS:-1}" -I{} "$0" --one "$dir" {}
passed=0
broken=
failed=0
status=0
for t in "$@"; do
    res="$dir/$(printf '%s' "$t" | tr / _).res"
    if [ -r "$res" ]; then
        read -r p f rc < "$res"
    else
        p=0 f=- rc=127
    fi
    passed=$((passed + p))
    [ "$f" != "-" ] && failed=$((failed + f))
    if [ "$rc" -ne 0 ]; then
        status=1
        [ "$f" = "-" ] && failed=$((failed + 1))
        broken="$broken ${t##*/} (exit $rc)"
    fi
done
[ -n "$broken" ] && echo "unit: failed in$broken"
echo "unit: $passed passed, $failed failed"
exit $status
