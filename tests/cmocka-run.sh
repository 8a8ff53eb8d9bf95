#!/bin/sh
# Run the cmocka test binaries given after NAME; print one
# "NAME: N passed, N failed" line last. CMOCKA_TEST_FILTER (cmocka's own)
# selects tests, e.g. CMOCKA_TEST_FILTER='test_fdtable_*' make test-unit
name=$1; shift
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
echo "$name: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
