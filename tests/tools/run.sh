#!/bin/sh
# Run the sockleak command's cmocka binaries and its end-to-end script; print
# one "tools: N passed, N failed" line last. CMOCKA_TEST_FILTER selects tests.
out=$(sh "$(dirname "$0")/../cmocka-run.sh" tools-unit "$@")
printf '%s\n' "$out"
summary=$(printf '%s\n' "$out" | tail -n 1)
passed=$(echo "$summary" | sed -E 's/^[^:]*: ([0-9]+) passed.*/\1/')
failed=$(echo "$summary" | sed -E 's/^.* ([0-9]+) failed.*/\1/')
out=$(sh "$(dirname "$0")/e2e_tools.sh" 2>&1)
printf '%s\n' "$out"
p=$(printf '%s\n' "$out" | grep -c '^ok ')
f=$(printf '%s\n' "$out" | grep -c '^not ok ')
passed=$((passed + p)); failed=$((failed + f))
[ "$p" -eq 0 ] && failed=$((failed + 1))   # the script did not run at all
echo "tools: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
