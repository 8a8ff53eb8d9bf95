#!/bin/sh
# Run each test suite target given (make test-unit, test-e2e, ...), then add up
# their "NAME: N passed, N failed" lines into the one summary line last.
passed=0; failed=0; bad=""
log=$(mktemp); trap 'rm -f "$log"' EXIT
for t in "$@"; do
    echo "=== $t"
    ${MAKE:-make} --no-print-directory -s "$t" 2>&1 | tee "$log"
    line=$(grep -E '^[a-z0-9_-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then bad="$bad $t"; failed=$((failed + 1)); continue; fi
    p=$(echo "$line" | sed -E 's/^[^:]*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^.* ([0-9]+) failed.*/\1/')
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" -ne 0 ] && bad="$bad $t"
done
echo
[ -n "$bad" ] && echo "failing suites:$bad"
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
