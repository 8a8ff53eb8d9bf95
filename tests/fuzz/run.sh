#!/bin/sh
# Run each fuzz target for FUZZ_SECONDS from its seed corpus in the tree
# (tests/fuzz/corpus/NAME, the reader's from tests/tools/fixtures); a crash,
# sanitizer report or leak fails it. Prints "fuzz: N passed, N failed" last.
dir=$1 passed=0 failed=0
cd "$(dirname "$0")/../.." || exit 1
for t in options suppress reader; do
    seeds=tests/fuzz/corpus/$t
    [ $t = reader ] && seeds=tests/tools/fixtures
    work=$dir/corpus-$t
    rm -rf "$work"; mkdir -p "$work"
    log=$dir/fuzz_$t.log
    if "$dir/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 \
         -rss_limit_mb=1024 -artifact_prefix="$dir/crash-$t-" "$work" "$seeds" >"$log" 2>&1; then
        runs=$(grep -E '^Done [0-9]+ runs' "$log" | sed -E 's/^Done ([0-9]+) runs.*/\1/')
        echo "ok - fuzz_$t: ${runs:-?} runs in ${FUZZ_SECONDS} s, no crash, leak or undefined behaviour"
        passed=$((passed + 1))
    else
        echo "not ok - fuzz_$t: see $log"; tail -n 30 "$log" | sed 's/^/#   /'
        failed=$((failed + 1))
    fi
    [ -n "$FUZZ_KEEP" ] || rm -rf "$work"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
