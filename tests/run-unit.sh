#!/bin/sh
# Runs each unit test binary given; cmocka prints each suite's summary. Exits non-zero when any failed,
# names each binary that failed (with its exit status: a crash shows as a signal), and ends with one line
# "N passed, N failed" over every test of every binary.
passed=0
broken=
failed=0
status=0
for t in "$@"; do
    out=$("$t" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$rc" -ne 0 ]; then
        status=1
        [ -z "$f" ] && failed=$((failed + 1))
        broken="$broken ${t##*/} (exit $rc)"
    fi
done
[ -n "$broken" ] && echo "unit: failed in$broken"
echo "unit: $passed passed, $failed failed"
exit $status
