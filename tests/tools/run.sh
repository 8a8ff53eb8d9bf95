#!/bin/sh
# Run the sockleak command's cmocka binaries and its end-to-end script; print
# one "tools: N passed, N failed" line last. CMOCKA_TEST_FILTER selects tests.
passed=0; failed=0
for bin in "$@"; do
    out=$("$bin" 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    # A binary that crashed or printed no result counts as one failure.
    if [ "$rc" -ne 0 ] && [ -z "$f" ]; then failed=$((failed + 1)); fi
done
out=$(sh "$(dirname "$0")/e2e_tools.sh" 2>&1)
printf '%s\n' "$out"
p=$(printf '%s\n' "$out" | grep -c '^ok ')
f=$(printf '%s\n' "$out" | grep -c '^not ok ')
passed=$((passed + p)); failed=$((failed + f))
[ "$p" -eq 0 ] && failed=$((failed + 1))   # the script did not run at all
echo "tools: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
